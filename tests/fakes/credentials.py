"""Service-account credentials made at run time: a fresh RSA key, a token_uri pointing at the fake."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def make_service_account(token_uri: str, email: str | None = None) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    email = email or f"sync-{secrets.token_hex(3)}@test-project.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": token_uri.rsplit("/", 1)[0] + "/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": token_uri.rsplit("/", 1)[0] + "/certs",
        "client_x509_cert_url": token_uri.rsplit("/", 1)[0] + "/certs/" + email,
    }


def write_service_account(path: str | os.PathLike, token_uri: str, email: str | None = None) -> dict:
    """Writes the key file readable by its owner only, as a careful user would keep it."""
    info = make_service_account(token_uri, email)
    path = Path(path)
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return info


# What gcloud's ADC file holds for a person (`gcloud auth application-default login`): no token_uri, so google-auth
# uses Google's own token endpoint, which GOOGLE_API_ENDPOINT sends to the fake.
GCLOUD_DEFAULT_SCOPES = ["openid", "https://www.googleapis.com/auth/userinfo.email",
                         "https://www.googleapis.com/auth/cloud-platform",
                         "https://www.googleapis.com/auth/sqlservice.login"]


def write_authorized_user(path: str | os.PathLike, auth, email: str, scopes: list[str]) -> dict:
    """An authorized_user file as gcloud writes it, for a person the fake knows, with a refresh token it honours."""
    client_id, secret = auth.add_client()
    info = {"account": "", "client_id": client_id, "client_secret": secret, "quota_project_id": "test-project",
            "refresh_token": auth.add_grant(client_id, email, scopes), "type": "authorized_user",
            "universe_domain": "googleapis.com"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return info


def write_oauth_client(path: str | os.PathLike, auth, base_url: str, testing: bool = False) -> dict:
    """A "Desktop app" OAuth client file, as the Cloud console downloads it, whose endpoints are the fake's."""
    client_id, secret = auth.add_client(testing=testing)
    info = {"installed": {"client_id": client_id, "project_id": "test-project", "auth_uri": base_url + "/auth",
                          "token_uri": base_url + "/token", "client_secret": secret,
                          "auth_provider_x509_cert_url": base_url + "/certs", "redirect_uris": ["http://localhost"]}}
    Path(path).write_text(json.dumps(info, indent=2))
    return info
