"""Owns reading a credential value in the forms secret stores hand it over, without ever showing the value.

GCP_JSON and GOOGLE_APPLICATION_CREDENTIALS arrive as a path, as the JSON itself, as base64 of the JSON (Kubernetes
secrets, GitHub secrets pasted from `base64 key.json`), wrapped in quotes (.env files, YAML), with a byte-order
mark or a trailing newline (Windows editors, `echo`), or as a one-line JSON string ("{\"type\": ...}", what
`json.dumps` of the file's text gives). Each is read the same way; anything else is refused with a message that
names the variable and its length, never a character of it: base64 is no cover, and a CI job keeps its logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from .errors import CredentialsError

_QUOTES = ("'", '"')
_BASE64 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")  # standard and URL-safe
MAX_PATH = 4096  # longer is no path a system takes (PATH_MAX); checking one would raise "File name too long"


def _unwrap(text: str, depth: int = 0) -> str | None:
    """The credentials JSON object's text that `text` holds in one of the forms above, else None."""
    text = text.lstrip("\ufeff").strip()
    if depth > 3 or not text:
        return None
    if text.startswith("{"):
        return text
    if text[0] in _QUOTES and text[-1] == text[0] and len(text) >= 2:
        if text[0] == '"':
            try:
                inner = json.loads(text)  # a one-line JSON string: its escapes undone
            except ValueError:
                inner = text[1:-1]
            if isinstance(inner, str):
                return _unwrap(inner, depth + 1)
        return _unwrap(text[1:-1], depth + 1)
    compact = "".join(text.split())
    if compact and set(compact) <= _BASE64:
        try:
            raw = base64.b64decode(compact.replace("-", "+").replace("_", "/") + "=" * (-len(compact) % 4),
                                   validate=True)
            return _unwrap(raw.decode("utf-8"), depth + 1)
        except (binascii.Error, ValueError):
            return None
    return None



def is_file(value: str) -> bool:
    """Whether a value names an existing file, without the OSError a long or odd value raises."""
    if not value or len(value) > MAX_PATH or "\x00" in value or "\n" in value:
        return False
    try:
        return Path(value).is_file()
    except (OSError, ValueError):
        return False


def inline(value: str) -> str | None:
    """The credentials JSON a value holds itself (not a path), in any of the forms above, else None."""
    if is_file(value.strip().strip("".join(_QUOTES))):
        return None
    return _unwrap(value)


def path_of(value: str) -> str | None:
    """The file a value names, allowing for quotes, a BOM and a trailing newline around the path."""
    for candidate in (value, value.lstrip("\ufeff").strip(), value.lstrip("\ufeff").strip().strip("".join(_QUOTES))):
        if is_file(candidate):
            return candidate
    return None


def described(value: str) -> str:
    """What may be said of a value in a message: its length and nothing of its content."""
    return f"its value ({len(value)} characters) is not shown"


def refusal(variable: str, value: str) -> str:
    """The one message for a credential value that is neither an existing file nor credentials JSON in a known
    form. A path-like value is shown (a path is no secret and a person needs to see the typo); anything else is not."""
    shown = (f"the file {value!r} does not exist" if _path_like(value)
             else f"it is neither an existing file nor credentials JSON; {described(value)}")
    return (f"{variable}: {shown}. Give the path of a credentials file (a service-account key from IAM > Service "
            "accounts > Keys, gcloud's ADC file, a workload identity federation config), or its JSON as it is, "
            "base64-encoded, quoted or as a JSON string; or leave it unset to use `--login` or Application Default "
            "Credentials")


def _path_like(value: str) -> bool:
    """A short one-line value with no JSON or key material in it that ends in .json, or whose folder exists: a
    path with a typo. Base64 and tokens hold "/" too (a refresh token starts "1//"), but never name a real folder."""
    v = value.strip()
    if not (0 < len(v) <= 512 and "\n" not in v and "{" not in v and "PRIVATE KEY" not in v):
        return False
    if v.lower().endswith(".json"):
        return True
    try:
        return os.sep in v and Path(v).expanduser().parent.is_dir() and Path(v).parent != Path(".")
    except (OSError, ValueError):
        return False


def read_credentials(value: str, variable: str) -> tuple[dict, Path | None]:
    """The credentials object a value gives (from its file or from itself) and the file it came from, if any.
    Raises CredentialsError naming the variable, never showing the value or the file's content."""
    path = path_of(value)
    if path is not None:
        try:
            text = Path(path).read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"The Google credentials file named by {variable} ({path}) could not be read "
                                   f"({type(exc).__name__}).", "Check the file and its permissions.") from None
        found = _unwrap(text)
        where = f"the file {path} named by {variable}"
    else:
        found = _unwrap(value)
        where = variable
    if found is None:
        given = value if path is None else text
        raise CredentialsError(f"The Google credentials in {where} are not a JSON object ({described(given)}).",
                               "Give a credentials JSON file (a service-account key, gcloud's ADC file, a workload "
                               "identity federation config) or its JSON, plain, base64-encoded or quoted.")
    try:
        info = json.loads(found)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise CredentialsError(f"The Google credentials in {where} are not valid JSON"
                               f"{f' (line {line})' if line else ''}; the content is not shown.",
                               "Give the credentials JSON as Google made it.") from None
    if not isinstance(info, dict):
        raise CredentialsError(f"The Google credentials in {where} are not a JSON object.",
                               "Give the credentials JSON as Google made it.")
    return info, Path(path) if path is not None else None
