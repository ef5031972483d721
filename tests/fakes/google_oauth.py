"""The fake Google's sign-in side: the OAuth token endpoint's grants (JWT bearer, refresh token, authorization code
with PKCE), the consent page, tokeninfo, IAM's generateAccessToken (impersonation), the metadata server of Compute
Engine / Cloud Run, STS for workload identity federation, and scopes enforced per token with Google's 403 body.

Paths are those of Google's hosts with the host cut off (oauth2.googleapis.com/token -> /token,
iamcredentials.googleapis.com/v1/... -> /v1/...), so the tool reaches them through GOOGLE_API_ENDPOINT; the metadata
paths are served on the same port (GCE_METADATA_HOST=127.0.0.1:PORT).

Assumptions about the real service (tests/live checks what it can):
- A refresh that names scopes gets a token for those of them the grant holds; a refresh naming none gets the whole
  grant (RFC 6749 section 6; google-auth logs "Not all requested scopes were granted" for the first case).
- A refresh token of an app in "Testing" publishing status stops working 7 days after consent, with
  invalid_grant "Token has been expired or revoked.".
- Compute Engine's metadata server ignores the scopes a token request names (the VM's access scopes decide);
  Cloud Run's honours them (google-auth's compute_engine docstring says the same).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

from .cells import ApiError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STS_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
_AUTH = "https://www.googleapis.com/auth/"
SHEETS_READ = {_AUTH + s for s in ("spreadsheets", "spreadsheets.readonly", "drive", "drive.readonly", "drive.file")}
SHEETS_WRITE = {_AUTH + s for s in ("spreadsheets", "drive", "drive.file")}
DRIVE_READ = {_AUTH + s for s in ("drive", "drive.readonly", "drive.file", "drive.metadata", "drive.metadata.readonly")}
DRIVE_WRITE = {_AUTH + s for s in ("drive", "drive.file")}
# What a Compute Engine VM created with "Allow default access" may ask for: no Sheets, no Drive.
GCE_DEFAULT_SCOPES = [_AUTH + s for s in ("devstorage.read_only", "logging.write", "monitoring.write",
                                          "servicecontrol", "service.management.readonly", "trace.append")]
TESTING_SECONDS = 7 * 24 * 3600
EXPIRED = "Token has been expired or revoked."


class OAuthError(Exception):
    """The token endpoint answers in OAuth's shape, not Google's API envelope."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.status = status
        self.payload = {"error": error, "error_description": description}


@dataclass
class Grant:
    """What a person allowed an OAuth client: a refresh token's meaning."""

    client_id: str
    email: str
    scopes: frozenset
    issued: float = field(default_factory=time.time)
    expires: float | None = None  # apps in "Testing": 7 days after consent
    revoked: bool = False


@dataclass
class Metadata:
    """The metadata server of the machine the tool runs on."""

    email: str | None = None  # the attached service account; None: no service account attached
    scopes: list[str] = field(default_factory=lambda: list(GCE_DEFAULT_SCOPES))
    honours_scopes: bool = False  # False: Compute Engine (the VM's scopes); True: Cloud Run
    project_id: str = "test-project"


@dataclass
class Auth:
    """Everything the sign-in side knows; tests read and change it directly (world.auth)."""

    clients: dict[str, dict] = field(default_factory=dict)  # client_id -> {"secret", "testing"}
    grants: dict[str, Grant] = field(default_factory=dict)  # refresh token -> grant
    codes: dict[str, dict] = field(default_factory=dict)  # authorization code -> what it stands for
    token_scopes: dict[str, frozenset] = field(default_factory=dict)  # access token -> its scopes
    token_creators: dict[str, set] = field(default_factory=dict)  # service account -> who may impersonate it
    person: str = "person@example.com"  # who signs in at the consent page
    consent: str | set = "allow"  # "allow", "deny", or the scopes the person leaves ticked
    metadata: Metadata = field(default_factory=Metadata)
    pools: dict[str, dict[str, str]] = field(default_factory=dict)  # provider audience -> {subject token: principal}

    def add_client(self, testing: bool = False) -> tuple[str, str]:
        client_id = f"{secrets.randbelow(10**12)}-{secrets.token_hex(8)}.apps.googleusercontent.com"
        secret = "GOCSPX-" + secrets.token_urlsafe(20)
        self.clients[client_id] = {"secret": secret, "testing": testing}
        return client_id, secret

    def add_grant(self, client_id: str, email: str, scopes, testing: bool | None = None) -> str:
        """A refresh token as if the person had consented (what gcloud's ADC file or a token file holds)."""
        token = "1//fake-" + secrets.token_urlsafe(32)
        testing = self.clients.get(client_id, {}).get("testing") if testing is None else testing
        grant = Grant(client_id, email, frozenset(scopes))
        grant.expires = grant.issued + TESTING_SECONDS if testing else None
        self.grants[token] = grant
        return token


def token_request(world, form: dict, token_uri: str, verify_jwt, authorization: str = "") -> dict:
    """POST /token: the grants google-auth and google-auth-oauthlib send. A client authenticates in the form
    (google-auth) or with HTTP Basic (requests-oauthlib), as Google accepts both."""
    if authorization.lower().startswith("basic "):
        client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        form = {"client_id": unquote_plus(client_id), "client_secret": unquote_plus(secret)} | form
    grant = form.get("grant_type")
    if grant == JWT_GRANT:
        email, scopes = verify_jwt(form.get("assertion", ""), world.service_accounts, token_uri)
        return issue(world, email, scopes)
    if grant == "refresh_token":
        return _refresh(world, form)
    if grant == "authorization_code":
        return _exchange_code(world, form)
    raise OAuthError("unsupported_grant_type", "Invalid grant_type: " + str(grant))


def issue(world, email: str, scopes, extra: dict | None = None) -> dict:
    token = "ya29.fake-" + secrets.token_urlsafe(24)
    world.tokens[token] = (email, time.time() + world.token_lifetime)
    world.auth.token_scopes[token] = frozenset(scopes)
    return {"access_token": token, "expires_in": world.token_lifetime, "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer"} | (extra or {})


def _client(auth: Auth, form: dict) -> str:
    client_id = form.get("client_id", "")
    known = auth.clients.get(client_id)
    if known is None or known["secret"] != form.get("client_secret"):
        raise OAuthError("invalid_client", "The OAuth client was not found." if known is None else "Unauthorized",
                         status=401)
    return client_id


def _refresh(world, form: dict) -> dict:
    auth = world.auth
    client_id = _client(auth, form)
    grant = auth.grants.get(form.get("refresh_token", ""))
    if grant is None or grant.revoked or grant.client_id != client_id or \
            (grant.expires is not None and time.time() >= grant.expires):
        raise OAuthError("invalid_grant", EXPIRED)
    scopes = grant.scopes
    if form.get("scope"):
        asked = set(form["scope"].split())
        scopes = frozenset(asked & grant.scopes)
        if not scopes:
            raise OAuthError("invalid_scope", "Some requested scopes were invalid. {invalid=[%s]}"
                             % ", ".join(sorted(asked)))
    return issue(world, grant.email, scopes, _id_token(grant.email, client_id) if "openid" in scopes else None)


def _exchange_code(world, form: dict) -> dict:
    auth = world.auth
    client_id = _client(auth, form)
    code = auth.codes.pop(form.get("code", ""), None)
    if code is None or code["client_id"] != client_id:
        raise OAuthError("invalid_grant", "Malformed auth code.")
    if code["redirect_uri"] != form.get("redirect_uri"):
        raise OAuthError("redirect_uri_mismatch", "Bad Request")
    if code.get("challenge"):
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != code["challenge"]:
            raise OAuthError("invalid_grant", "Invalid code verifier.")
    refresh = auth.add_grant(client_id, code["email"], code["scopes"])
    extra = {"refresh_token": refresh} | (_id_token(code["email"], client_id) if "openid" in code["scopes"] else {})
    return issue(world, code["email"], code["scopes"], extra)


def _id_token(email: str, client_id: str) -> dict:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": "https://accounts.google.com", "azp": client_id, "aud": client_id,
              "sub": str(abs(hash(email)) % 10**21), "email": email, "email_verified": True, "iat": now,
              "exp": now + 3600}
    return {"id_token": ".".join([part({"alg": "RS256", "kid": "fake", "typ": "JWT"}), part(claims),
                                  base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()])}


def sts_exchange(world, form: dict) -> dict:
    """POST /v1/token (sts.googleapis.com): workload identity federation trades a token of another issuer (GitHub
    Actions, AWS, any OIDC) for a federated Google token, as a workload identity pool provider allows."""
    if form.get("grant_type") != STS_GRANT:
        raise OAuthError("invalid_request", "Invalid value for \"grant_type\".")
    trusted = world.auth.pools.get(form.get("audience", ""))
    if trusted is None:
        raise OAuthError("invalid_target", "The target service indicated by the \"audience\" parameters is invalid. "
                                           "This might either be because the pool or provider is disabled or deleted "
                                           "or because it doesn't exist.")
    principal = trusted.get(form.get("subject_token", ""))
    if principal is None:
        raise OAuthError("invalid_grant", "The audience in ID Token does not match the expected audience.")
    answer = issue(world, principal, form.get("scope", "").split())
    return {"access_token": answer["access_token"],
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer",
            "expires_in": world.token_lifetime}


def consent_page(auth: Auth, query: dict) -> tuple[int, Any, dict]:
    """GET /auth (accounts.google.com/o/oauth2/auth): the person signs in and is sent back to the loopback
    redirect with a code, as Google does for a Desktop app client."""
    q = {k: v[-1] for k, v in query.items()}
    client_id, redirect = q.get("client_id", ""), q.get("redirect_uri", "")
    if client_id not in auth.clients:
        return 400, b"<html><body>Error 401: invalid_client. The OAuth client was not found.</body></html>", {}
    host = urlsplit(redirect).hostname
    if urlsplit(redirect).scheme != "http" or host not in ("localhost", "127.0.0.1", "::1"):
        return 400, b"<html><body>Error 400: redirect_uri_mismatch</body></html>", {}
    back = {"state": q.get("state", "")}
    asked = frozenset(q.get("scope", "").split())
    if auth.consent == "deny":
        back["error"] = "access_denied"
    else:
        granted = asked if auth.consent == "allow" else frozenset(asked & set(auth.consent))
        code = "4/fake-" + secrets.token_urlsafe(24)
        auth.codes[code] = {"client_id": client_id, "redirect_uri": redirect, "scopes": granted,
                            "email": auth.person, "challenge": q.get("code_challenge")}
        back |= {"code": code, "scope": " ".join(sorted(granted))}
    return 302, b"", {"Location": redirect + ("&" if "?" in redirect else "?") + urlencode(back)}


def tokeninfo(world, query: dict) -> dict:
    """GET /tokeninfo?access_token=...: what a token is; the e-mail only with the userinfo.email scope."""
    token = (query.get("access_token") or [""])[-1]
    known = world.tokens.get(token)
    if not known or known[1] < time.time():
        raise OAuthError("invalid_token", "Invalid Value")
    scopes = world.auth.token_scopes.get(token, frozenset())
    info = {"scope": " ".join(sorted(scopes)), "exp": str(int(known[1])),
            "expires_in": str(int(known[1] - time.time())), "access_type": "offline"}
    if EMAIL_SCOPE in scopes or "email" in scopes:
        info |= {"email": known[0], "email_verified": "true"}
    return info


def generate_access_token(world, caller_token: str, target: str, body: dict) -> dict:
    """POST /v1/projects/-/serviceAccounts/TARGET:generateAccessToken (IAM Service Account Credentials API)."""
    email, _ = world.tokens[caller_token]
    have = world.auth.token_scopes.get(caller_token, frozenset())
    if not have & {CLOUD_PLATFORM, IAM_SCOPE}:
        raise insufficient_scopes("iamcredentials.googleapis.com",
                                  "google.iam.credentials.v1.IAMCredentials.GenerateAccessToken", {CLOUD_PLATFORM})
    if email not in world.auth.token_creators.get(target, set()):
        raise ApiError(403, "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not "
                            "exist).", details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                                 "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
                                                 "metadata": {"permission": "iam.serviceAccounts.getAccessToken"}}])
    scopes = body.get("scope") or []
    if not scopes:
        raise ApiError(400, "Scope required.")
    lifetime = int(str(body.get("lifetime") or "3600s").rstrip("s"))
    answer = issue(world, target, scopes)
    world.tokens[answer["access_token"]] = (target, time.time() + lifetime)
    expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))
    return {"accessToken": answer["access_token"], "expireTime": expire}


def metadata(world, method: str, path: str, query: dict, headers) -> tuple[int, Any, dict]:
    """The metadata server: GET / answers the ping; /computeMetadata/v1/... the service account and its tokens.
    Every request must carry Metadata-Flavor: Google, and every answer does."""
    flavor = {"Metadata-Flavor": "Google"}
    if headers.get("Metadata-Flavor") != "Google":
        return 403, b"Missing Metadata-Flavor:Google header.", flavor
    if path == "/":
        return 200, b"computeMetadata/\n", flavor
    md: Metadata = world.auth.metadata
    rest = path[len("/computeMetadata/v1/"):]
    text = {"universe/universe-domain": "googleapis.com", "project/project-id": md.project_id}
    if rest in text:
        return 200, text[rest].encode(), flavor | {"Content-Type": "application/text"}
    account = "instance/service-accounts/default/"
    if rest.startswith(account) and md.email is None:
        return 404, b"Not Found", flavor
    if rest == account:
        return 200, {"aliases": ["default"], "email": md.email, "scopes": md.scopes}, flavor
    if rest == account + "email":
        return 200, md.email.encode(), flavor | {"Content-Type": "application/text"}
    if rest == account + "token":
        asked = ",".join(query.get("scopes", [])).replace(",", " ").split()
        scopes = asked if (md.honours_scopes and asked) else md.scopes
        answer = issue(world, md.email, scopes)
        return 200, {k: answer[k] for k in ("access_token", "expires_in", "token_type")}, flavor
    return 404, b"Not Found", flavor


def require_scopes(world, token: str, method: str, path: str) -> None:
    """Google checks the token's scopes before anything else about the request."""
    have = world.auth.token_scopes.get(token)
    if have is None:  # a token the test made by hand: all scopes
        return
    if path.startswith("/v4/"):
        service, needed = "sheets.googleapis.com", SHEETS_READ if method == "GET" else SHEETS_WRITE
        name = "google.apps.sheets.v4.SpreadsheetsService." + _sheets_method(method, path)
    else:
        service, needed = "drive.googleapis.com", DRIVE_READ if method == "GET" else DRIVE_WRITE
        name = "google.apps.drive.v3.DriveFiles." + {"GET": "List", "POST": "Create", "DELETE": "Delete"}.get(
            method, "Update")
    if not have & needed:
        raise insufficient_scopes(service, name, needed)


def _sheets_method(method: str, path: str) -> str:
    for marker, name in (("values:batchGet", "BatchGetValues"), ("values:batchUpdate", "BatchUpdateValues"),
                         ("values:batchClear", "BatchClearValues"), (":batchUpdate", "BatchUpdateSpreadsheet"),
                         (":append", "AppendValues"), (":clear", "ClearValues")):
        if marker in path:
            return name
    if "/values/" in path:
        return "GetValues" if method == "GET" else "UpdateValues"
    return "GetSpreadsheet" if method == "GET" else "CreateSpreadsheet"


def insufficient_scopes(service: str, method: str, accepted) -> ApiError:
    """Google's 403 for a token without the scope a method needs, with its WWW-Authenticate header."""
    err = ApiError(403, "Request had insufficient authentication scopes.",
                   errors=[{"message": "Insufficient Permission", "domain": "global",
                            "reason": "insufficientPermissions"}],
                   details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                             "metadata": {"service": service, "method": method}}])
    err.headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope", '
                                       f'scope="{" ".join(sorted(accepted))}"'}
    return err
