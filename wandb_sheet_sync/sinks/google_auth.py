"""Google credentials: which identity the tool acts as, found in the order Google's own libraries look, and what to
tell a person when Google refuses it.

The order, first found wins:
  1. GCP_JSON (config or environment), else GOOGLE_APPLICATION_CREDENTIALS: a file or the JSON itself, of any type
     google-auth loads (service_account, authorized_user, external_account, impersonated_service_account).
  2. The token `--login` stored (a person's own Google account), under the user's config folder.
  3. gcloud's ADC file (`gcloud auth application-default login`; CLOUDSDK_CONFIG moves it).
  4. The metadata server, on Compute Engine, GKE, Cloud Run and Cloud Functions.
IMPERSONATE_SERVICE_ACCOUNT then turns whichever was found into that service account's short-lived token
(generateAccessToken), so no key is ever needed.

Choices where Google leaves room:
- User credentials (authorized_user) are refreshed without a scope parameter: a refresh token cannot widen its
  grant, so the token carries what was granted, and a missing Sheets scope shows as Google's 403
  ACCESS_TOKEN_SCOPE_INSUFFICIENT, which names the gcloud line that fixes it.
- The metadata server is asked only where there is a sign of Google Cloud (GCE_METADATA_HOST set, the machine's
  DMI product name "Google ...", Cloud Run / Cloud Functions / App Engine variables). google-auth would otherwise
  ping 169.254.169.254 three times with a 3 s timeout on every machine that has no other credentials.
What to tell a person when Google refuses these credentials lives in google_refusals.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.oauth2.credentials import Credentials as UserCredentials

from ..secrets import read_credentials
from ..errors import CredentialsError

log = logging.getLogger("wandb_spreadsheet_sync")
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
DRIVE_READONLY_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
SCOPES = [SHEETS_SCOPE, DRIVE_READONLY_SCOPE]  # drive.readonly: opening a spreadsheet by its title
EMAIL_SCOPES = ["openid", "https://www.googleapis.com/auth/userinfo.email"]  # who signed in, for the share hint
LOGIN_SCOPES = [*SCOPES, *EMAIL_SCOPES]
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"  # gcloud insists on it for ADC
GCLOUD_LOGIN = ("gcloud auth application-default login --scopes="
                + ",".join([*EMAIL_SCOPES, CLOUD_PLATFORM, *SCOPES]))
TOOL = "wandb-spreadsheet-sync"
TESTING_DAYS = 7  # Google expires refresh tokens of an OAuth app in "Testing" publishing status after 7 days
ALL_PATHS = (f"sign in with your own Google account: `{TOOL} --login CLIENT_FILE` (an OAuth client of type "
             f"'Desktop app'); or on a machine with gcloud: `{GCLOUD_LOGIN}`; or on a server: GCP_JSON=<key file>, "
             "IMPERSONATE_SERVICE_ACCOUNT, workload identity federation, or the metadata server on Google Cloud "
             "(README: Setting up Google Sheets)")


@dataclass
class Identity:
    """Credentials and what they are, so a refusal can be explained in their own terms."""

    credentials: Any
    kind: str  # service_account | user | login | metadata | external_account | impersonated
    source: str  # where they were found, for messages
    email: str | None = None  # known without asking Google
    token_file: Path | None = None  # the --login token, written back after each refresh
    logged_in_at: dt.datetime | None = None
    via: Identity | None = None  # for impersonation: the identity that asks for the service account's token

    @property
    def person(self) -> bool:
        return self.kind in ("user", "login")


def find(key: str | None, impersonate: str | None = None, login_token: Path | None = None,
         env: Any = os.environ) -> Identity:
    """The identity the tool will act as (see the module docstring for the order). Reads files, asks no one."""
    if key:
        from_adc_variable = key == env.get("GOOGLE_APPLICATION_CREDENTIALS") and not env.get("GCP_JSON")
        found = _from_key(key, "GOOGLE_APPLICATION_CREDENTIALS" if from_adc_variable else "GCP_JSON")
    elif login_token is not None and login_token.is_file():
        found = _from_login_token(login_token)
    elif _gcloud_adc_path().is_file():
        found = _from_key(str(_gcloud_adc_path()), "gcloud's ADC file")
    elif on_google_cloud(env):
        from google.auth import compute_engine

        found = Identity(compute_engine.Credentials(scopes=SCOPES), "metadata", "the metadata server")
    else:
        raise CredentialsError("No Google credentials were found: no GCP_JSON or GOOGLE_APPLICATION_CREDENTIALS, "
                               f"no `--login` token, no gcloud ADC file ({_gcloud_adc_path()}), and this machine "
                               "shows no sign of Google Cloud's metadata server.",
                               "Get some, shortest first: " + ALL_PATHS + ".")
    return _impersonating(found, impersonate) if impersonate else found


def _gcloud_adc_path() -> Path:
    from google.auth import _cloud_sdk  # where gcloud writes ADC on this OS, honouring CLOUDSDK_CONFIG

    return Path(_cloud_sdk.get_application_default_credentials_path())


def on_google_cloud(env: Any = os.environ) -> bool:
    """Whether a metadata server is worth asking: set explicitly, or a sign of Google Cloud on this machine."""
    if env.get("GCE_METADATA_HOST") or env.get("GCE_METADATA_ROOT"):
        return True
    if any(env.get(name) for name in ("K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET", "GAE_SERVICE")):
        return True
    try:
        return Path("/sys/class/dmi/id/product_name").read_text().strip().startswith("Google")
    except OSError:
        return False


def _read_json(key: str, where: str) -> dict:
    """The credentials object, from a file or the value itself in any form secrets.py reads; never shown."""
    info, path = read_credentials(key, where)
    if path is not None:
        _warn_if_world_readable(path)
    return info


def _from_key(key: str, where: str) -> Identity:
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

    info = _read_json(key, where)
    kind = info.get("type")
    loader = _LOADERS.get(kind)
    if loader is None:
        raise CredentialsError(f"The Google credentials in {where} are of type {kind!r}, which the tool cannot use.",
                               f"Use one of {', '.join(sorted(_LOADERS))}: a service-account key, gcloud's ADC "
                               "file, or a workload identity federation config.")
    try:
        creds = loader(info)
    except (DefaultCredentialsError, GoogleAuthError, ValueError, KeyError, TypeError) as exc:
        # The library's message may quote the key it could not parse: only a missing field's name is said.
        detail = f": missing {exc}" if isinstance(exc, KeyError) else ""
        raise CredentialsError(f"The Google credentials in {where} could not be loaded ({type(exc).__name__}"
                               f"{detail}).", "Use the file as Google made it: a service-account key "
                               "(IAM > Service accounts > Keys), gcloud's ADC file, or the output of `gcloud iam "
                               "workload-identity-pools create-cred-config`.") from None
    source = f"{where} ({kind})"
    if kind == "service_account":
        return Identity(creds, kind, source, email=info.get("client_email"))
    if kind == "authorized_user":
        return Identity(creds, "user", source, email=info.get("account") or None)
    email = _target_of(info.get("service_account_impersonation_url"))
    return Identity(creds, "impersonated" if kind == "impersonated_service_account" else kind, source, email=email)


def _external_account(info: dict):
    """The three kinds google-auth tells apart the same way (google.auth._default), built without its generic
    loader, which asks Cloud Resource Manager for a project id at load time (a request outside the endpoint)."""
    if info.get("subject_token_type") == "urn:ietf:params:aws:token-type:aws4_request":
        from google.auth import aws as kind
    elif (info.get("credential_source") or {}).get("executable") is not None:
        from google.auth import pluggable as kind
    else:
        from google.auth import identity_pool as kind
    return kind.Credentials.from_info(info, scopes=SCOPES)


def _external_authorized_user(info: dict):
    from google.auth import external_account_authorized_user

    return external_account_authorized_user.Credentials.from_info(info)


def _service_account(info: dict):
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)


def _impersonated(info: dict):
    from google.auth import impersonated_credentials

    return impersonated_credentials.Credentials.from_impersonated_service_account_info(info, scopes=SCOPES)


_LOADERS = {
    "service_account": _service_account,
    # No scope parameter on refresh: the token carries what was granted (see the module docstring).
    "authorized_user": UserCredentials.from_authorized_user_info,
    "external_account": _external_account,
    "external_account_authorized_user": _external_authorized_user,
    "impersonated_service_account": _impersonated,
}


def _target_of(url: str | None) -> str | None:
    """The service account in a generateAccessToken URL (.../serviceAccounts/EMAIL:generateAccessToken)."""
    if not url or "/serviceAccounts/" not in url:
        return None
    return url.rsplit("/serviceAccounts/", 1)[1].split(":", 1)[0] or None


def _impersonating(found: Identity, target: str) -> Identity:
    from google.auth import impersonated_credentials

    creds = impersonated_credentials.Credentials(source_credentials=found.credentials, target_principal=target,
                                                 target_scopes=SCOPES, lifetime=3600)
    return Identity(creds, "impersonated", f"IMPERSONATE_SERVICE_ACCOUNT, acting through {found.source}",
                    email=target, via=found)


def _warn_if_world_readable(path: Path) -> None:
    try:
        if path.exists() and path.stat().st_mode & 0o004:
            log.warning("the key file %s can be read by every user of this machine; chmod 600 it", path)
    except OSError:
        pass


# -- the --login token ---------------------------------------------------------------------------

def _from_login_token(path: Path) -> Identity:
    info = _read_json(str(path), str(path))
    try:
        creds = StoredLogin.from_authorized_user_info(info)
    except (ValueError, KeyError) as exc:
        raise CredentialsError(f"The sign-in stored in {path} could not be read ({exc}).",
                               f"Sign in again: `{TOOL} --login CLIENT_FILE`.") from None
    creds.path, creds.logged_in_at = path, _parse_time(info.get("logged_in_at"))
    return Identity(creds, "login", f"the --login token ({path})", email=info.get("account") or None,
                    token_file=path, logged_in_at=creds.logged_in_at)


def _parse_time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


class StoredLogin(UserCredentials):
    """A person's credentials from --login that write a refreshed token back to their file (0600), so a restart
    within the hour sends no token request and a rotated refresh token is never lost."""

    path: Path | None = None
    logged_in_at: dt.datetime | None = None

    def refresh(self, request) -> None:
        super().refresh(request)
        if self.path is not None:
            save_login(self, self.path, self.account, self.logged_in_at)


def save_login(creds, path: Path, email: str | None, logged_in_at: dt.datetime | None) -> None:
    """The token file as google-auth reads it (authorized_user), plus who signed in and when."""
    info = json.loads(creds.to_json())
    info |= {"type": "authorized_user", "account": email or "",
             "logged_in_at": (logged_in_at or dt.datetime.now(dt.timezone.utc)).isoformat()}
    write_private(path, json.dumps(info, indent=2) + "\n")


def write_private(path: Path, text: str) -> None:
    """Writes a secret readable by its owner only, from its creation on: a new file made with mode 0600 beside the
    old one, then renamed over it, so there is never a moment when it is readable by others or half written."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask, and whatever a leftover file had
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def email_from_id_token(id_token: str | None) -> str | None:
    """The e-mail claim of an id_token that came straight from Google's token endpoint over TLS (OpenID Connect
    lets such a token be used without checking its signature)."""
    try:
        payload = id_token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("email")
    except (AttributeError, IndexError, ValueError):
        return None
