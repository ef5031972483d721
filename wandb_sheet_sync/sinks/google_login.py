"""`--login`: a person signs in with their own Google account through Google's installed-app flow (an OAuth client
of type "Desktop app" that they create), and the token is kept 0600 under their config folder.

It works where no browser runs (SSH, a container): the sign-in address is shown, the person opens it in any
browser, and Google then sends that browser to http://localhost:8085/?code=... - a page that does not load on
their machine. They copy that address (or just its code) back. Google retired the old out-of-band "copy this code"
page in 2022; this loopback copy-and-paste is what gcloud's --no-browser also relies on. PKCE protects the code.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from ..errors import CredentialsError, TransientError
from .google_auth import LOGIN_SCOPES, SCOPES, TOOL, email_from_id_token, save_login

REDIRECT_URI = "http://localhost:8085/"
CLIENT_HINT = ("Create one in the Google Cloud console: Google Auth Platform > Clients > Create client > "
               "Application type 'Desktop app', then download its JSON")


def login(client_file: Path, token_file: Path, ask: Callable[[str], str]) -> str | None:
    """Signs a person in and stores the token; returns their e-mail when Google tells it. `ask` shows the sign-in
    address and returns what the person pasted back."""
    from google_auth_oauthlib.flow import InstalledAppFlow
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    flow = InstalledAppFlow.from_client_config(_client_config(client_file), scopes=LOGIN_SCOPES,
                                               redirect_uri=REDIRECT_URI)
    url, state = flow.authorization_url(access_type="offline", prompt="consent")
    code = _code_from(ask(url), state)
    try:
        flow.fetch_token(code=code)
    except Warning as narrowed:  # oauthlib's "Scope has changed": the person unticked a permission
        granted = set(getattr(narrowed, "new_scope", None) or [])
        missing = [s for s in SCOPES if s not in granted]
        if missing:
            raise CredentialsError(f"Google signed you in without {' and '.join(missing)}.",
                                   f"Run `{TOOL} --login` again and tick every permission it asks for: the tool "
                                   "cannot read or write the spreadsheet without them.") from None
        flow.oauth2session.token = narrowed.token
    except OAuth2Error as exc:
        raise CredentialsError(f"Google did not accept the sign-in code ({exc.error}: {exc.description}).",
                               f"Run `{TOOL} --login` again and paste the address soon after signing in: a code "
                               "works once, for a few minutes.") from None
    except (requests.RequestException, OSError) as exc:
        host = urlsplit(flow.client_config.get("token_uri", "")).netloc or "Google"
        raise TransientError(f"Could not reach Google's token endpoint ({host}) to finish the sign-in "
                             f"({type(exc).__name__}); nothing was stored.",
                             f"Check the network (a proxy: HTTPS_PROXY), then run `{TOOL} --login` again.") from None
    creds = flow.credentials
    if not creds.refresh_token:
        raise CredentialsError("Google gave no refresh token, so the sign-in would end within the hour.",
                               f"Remove the app's access at https://myaccount.google.com/permissions and run "
                               f"`{TOOL} --login` again.")
    email = email_from_id_token(getattr(creds, "id_token", None))
    save_login(creds, token_file, email, dt.datetime.now(dt.timezone.utc))
    return email


def _client_config(path: Path) -> dict:
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"The OAuth client file {str(path)!r} could not be read ({type(exc).__name__}).",
                               CLIENT_HINT + ".") from None
    if isinstance(config, dict) and "web" in config:
        raise CredentialsError(f"{path} is an OAuth client of type 'Web application'; --login needs a 'Desktop "
                               "app' client (its redirect to localhost is allowed without registering it).",
                               CLIENT_HINT + ".")
    if not isinstance(config, dict) or not isinstance(config.get("installed"), dict) or \
            not {"client_id", "client_secret", "auth_uri", "token_uri"} <= set(config["installed"]):
        raise CredentialsError(f"{path} is not an OAuth client file (a JSON with an \"installed\" section).",
                               CLIENT_HINT + ".")
    return config


def _code_from(answer: str, state: str) -> str:
    """The code from what the person pasted: the whole address the browser landed on, or the code alone."""
    answer = (answer or "").strip()
    if not answer:
        raise CredentialsError("No sign-in code was given.", f"Run `{TOOL} --login` again and paste the address "
                                                            "your browser landed on.")
    if "://" not in answer and "code=" not in answer:
        return unquote(answer)  # copied out of the address bar, "4/0Ab..." may read "4%2F0Ab..."
    query = parse_qs(urlsplit(answer).query if "://" in answer else answer.lstrip("?"))
    if "error" in query:
        raise CredentialsError(f"Google did not sign you in ({query['error'][0]}).",
                               f"Run `{TOOL} --login` again and choose Allow.")
    if query.get("state", [state])[0] != state:
        raise CredentialsError("The pasted address belongs to another sign-in (its state does not match).",
                               f"Paste the address from the sign-in this `{TOOL} --login` showed.")
    if not query.get("code"):
        raise CredentialsError("The pasted address holds no sign-in code.",
                               "Paste the whole address your browser landed on after you chose Allow.")
    return query["code"][0]
