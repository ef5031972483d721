"""Google's refusals, in words that say what to do next: an error answer or a failed request as our error
(`Refusals`), a refused token, and the identity a person must share a spreadsheet with.

An answer is classified by its status (errors.kind_of_status), never by its text; only the words come from here.

The e-mail to share with: a service account's own; the impersonated one; the metadata server's; for a person, the
id_token of `--login` (kept in the token file), else Google's tokeninfo answer for the current access token (it
names the e-mail when the token has the userinfo.email scope, which the gcloud line asks for): one request, made
only when a sheet turned out not to be shared.
"""

from __future__ import annotations

import datetime as dt
import json

from ..errors import AccessError, CredentialsError, Kind, SinkError, SyncError, TransientError, kind_of_status
from .google_auth import ALL_PATHS, CLOUD_PLATFORM, GCLOUD_LOGIN, SCOPES, TESTING_DAYS, TOOL, Identity


class Refusals:
    """Words Google's refusals for one spreadsheet and identity; asks who to share with only when a refusal
    needs it (google_http.SheetsApi raises what these return)."""

    def __init__(self, identity: Identity, spec: str, session):
        self.identity, self.spec, self.session = identity, spec, session

    @property
    def email(self) -> str:
        return share_with(self.identity, self.session)

    def not_shared(self) -> AccessError:
        """No spreadsheet of this title is shared with the credentials."""
        return AccessError(f"No spreadsheet {self.spec!r} is shared with {self.email}.",
                           f"Open the spreadsheet, click Share, and add {self.email} as an Editor "
                           "(or check SPREADSHEET / --sheet_name).")

    def answer(self, what: str, response) -> SyncError:
        """An error answer (after the transport's retries) as our error, chosen by its status."""
        status = response.status_code
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        kind = kind_of_status(status)
        if kind is Kind.TRANSIENT:
            return TransientError(f"Google answered {status} while {what}, after retries: {message}",
                                  "The next sync will try again.")
        if status == 401:
            return CredentialsError(f"Google rejected the credentials from {self.identity.source} while {what}: "
                                    f"{message}", "Check the credentials (GCP_JSON, --login, gcloud's ADC file).")
        if status == 403 and scope_insufficient(response):
            return scope_error(self.identity, what)
        if kind is Kind.SETUP:
            return AccessError(f"Google answered {status} while {what}: {message}",
                               f"Share the spreadsheet {self.spec!r} with {self.email} as an Editor, and check "
                               "the URL or key.")
        return SinkError(f"Google answered {status} while {what}: {message}",
                         "Nothing was written by this request; see the message for what to fix.")

    def failure(self, what: str, exc: BaseException) -> SyncError | None:
        """A request that got no answer (a refused token, the network) as our error; None for one to raise as is."""
        import requests
        from google.auth.exceptions import RefreshError, TransportError

        if isinstance(exc, RefreshError):
            return refused(self.identity, exc)
        if isinstance(exc, (requests.ConnectionError, requests.Timeout, TransportError)):
            return TransientError(f"Google Sheets could not be reached while {what} ({type(exc).__name__}).",
                                  "The next sync will try again.")
        return None


def share_with(identity: Identity, session) -> str:
    """The e-mail a person must share the spreadsheet with, asking Google only when the credentials do not say."""
    creds = identity.credentials
    email = identity.email or getattr(creds, "service_account_email", None)
    if email and email != "default":
        return email
    if identity.person and getattr(creds, "token", None):
        try:
            # The token goes in the body, never the URL: a URL lands in error texts, proxies' logs and DEBUG lines.
            answer = session.post("https://oauth2.googleapis.com/tokeninfo", data={"access_token": creds.token},
                                  timeout=10)
            email = answer.json().get("email") if answer.status_code == 200 else None
        except Exception:  # only a hint: the error it belongs to matters more  # noqa: BLE001
            email = None
        if email:
            identity.email = email
            return email
        return "the Google account you signed in with (`gcloud auth list` shows it)"
    if identity.kind.startswith("external_account"):
        return ("a service account (a federated identity cannot be given a spreadsheet: set IMPERSONATE_SERVICE_"
                "ACCOUNT, or --service-account in `gcloud iam workload-identity-pools create-cred-config`)")
    return "the service account these credentials act as"


def scope_insufficient(response) -> bool:
    """Google's 403 for a token without the scope a method needs (ErrorInfo reason ACCESS_TOKEN_SCOPE_INSUFFICIENT)."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    details = error.get("details") or []
    return any(isinstance(d, dict) and d.get("reason") == "ACCESS_TOKEN_SCOPE_INSUFFICIENT" for d in details)


def scope_error(identity: Identity, what: str) -> CredentialsError:
    hint = f"Sign in again with the scopes the tool needs: `{GCLOUD_LOGIN}`"
    if identity.kind == "metadata":
        hint = ("On Compute Engine the VM's access scopes decide: stop the VM and add the scopes "
                f"(`gcloud compute instances set-service-account VM --scopes={','.join([CLOUD_PLATFORM, *SCOPES])}`), "
                "or set IMPERSONATE_SERVICE_ACCOUNT (its token carries the scopes the tool asks for). On a laptop: "
                f"`{GCLOUD_LOGIN}`")
    elif identity.kind == "login":
        hint = f"Run `{TOOL} --login CLIENT_FILE` again and allow every permission it asks for"
    return CredentialsError(f"Google refused the credentials from {identity.source} while {what}: Request had "
                            "insufficient authentication scopes (ACCESS_TOKEN_SCOPE_INSUFFICIENT). The token lacks "
                            f"{' and '.join(SCOPES)}.", hint + ".")


def refused(identity: Identity, exc: Exception) -> CredentialsError:
    """A token request Google refused (google-auth's RefreshError), as what to do next."""
    data = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    data = data if isinstance(data, dict) else {}
    error = data.get("error")
    said = (data.get("error_description") or (error.get("message") if isinstance(error, dict) else None)
            or str(exc.args[0] if exc.args else exc))[:200]
    if error == "invalid_grant" and identity.kind == "login":
        age = _days_since(identity.logged_in_at)
        why = ""
        if age is not None and age >= TESTING_DAYS - 0.5:
            why = (f" You signed in {age:.0f} days ago: Google expires the sign-in of an OAuth app whose publishing "
                   f"status is 'Testing' after {TESTING_DAYS} days.")
        return CredentialsError(f"Your Google sign-in stored in {identity.token_file} has expired or was revoked "
                                f"({said}).{why}",
                                f"Run `{TOOL} --login CLIENT_FILE` again. To stop it expiring every {TESTING_DAYS} "
                                "days, publish the app (Google Cloud console > Google Auth Platform > Audience > "
                                f"Publish app), or use gcloud instead: `{GCLOUD_LOGIN}`.")
    if error == "invalid_grant" and identity.person:
        return CredentialsError(f"Google refused the stored sign-in from {identity.source} ({said}).",
                                f"Log in again: `{GCLOUD_LOGIN}`, or `{TOOL} --login CLIENT_FILE`.")
    if error == "invalid_scope":
        return scope_error(identity, "getting a token")
    if identity.kind == "impersonated" and isinstance(error, dict):
        asker = identity.via.source if identity.via else "the credentials"
        return CredentialsError(f"Google would not let {asker} act as {identity.email} ({said}).",
                                "Grant the role 'Service Account Token Creator' "
                                f"(roles/iam.serviceAccountTokenCreator) "
                                f"on {identity.email} to the identity the tool signs in as, enable the IAM "
                                "Service Account Credentials API, and check IMPERSONATE_SERVICE_ACCOUNT.")
    if identity.kind == "metadata":
        return CredentialsError(f"The metadata server gave no token ({said}).",
                                "Check that the VM, pod or service has a service account attached, or use another "
                                "way: " + ALL_PATHS + ".")
    return CredentialsError(f"Google refused the credentials from {identity.source} ({said}).",
                            "Check that the key or credentials file is current (keys can be deleted in the Cloud "
                            "console) and that this machine's clock is right.")


def _days_since(when: dt.datetime | None) -> float | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (dt.datetime.now(dt.timezone.utc) - when).total_seconds() / 86400
