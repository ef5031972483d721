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
