"""No secret is ever printed: a credential in every form secret stores hand it over is read or refused by name, and a
private key, a refresh token, an access token and the W&B API key put into every input and error path, at every log
level, appear in none of stdout, stderr or the health file."""

from __future__ import annotations

import base64
import json
import secrets as random

import pytest

from tests.fakes.credentials import write_authorized_user
from tests.fakes.wandb_api import DEFAULT_KEY

ALICE = "alice@example.com"
SHEETS = ["https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive.readonly"]


def forms(text: str) -> dict[str, str]:
    """The key JSON as secret stores, CI systems and editors hand it over."""
    one_line = json.dumps(json.loads(text))
    b64 = base64.b64encode(text.encode()).decode()
    return {
        "json": text, "one-line json": one_line, "trailing newline": text + "\n", "bom": "\ufeff" + text,
        "single-quoted": f"'{one_line}'", "double-quoted": f'"{one_line}"'.replace('"{', '"{', 1),
        "json string": json.dumps(one_line), "base64": b64, "base64 wrapped at 76": "\n".join(
            b64[i:i + 76] for i in range(0, len(b64), 76)) + "\n",
        "urlsafe base64 unpadded": base64.urlsafe_b64encode(text.encode()).decode().rstrip("="),
        "base64 of bom json": base64.b64encode(("\ufeff" + text).encode()).decode(),
    }


def fragments(text: str) -> list[str]:
    """Pieces of a secret that must never be seen: the whole, and slices of 24 characters through it."""
    text = text.strip()
    return [text] + [text[i:i + 24] for i in range(0, max(1, len(text) - 24), 24)]


class Secrets:
    def __init__(self, e2e):
        info = json.loads(e2e.key_file.read_text())
        body = "".join(info["private_key"].split("-----")[2].split())  # the PEM's base64, without its armour
        self.values = {"private key": body, "W&B API key": DEFAULT_KEY,
                       "key as base64": base64.b64encode(e2e.key_file.read_bytes()).decode()}

    def add(self, name: str, value: str) -> None:
        self.values[name] = value

    def assert_none_in(self, *texts: str) -> None:
        seen = "\n".join(texts)
        for name, value in self.values.items():
            for piece in fragments(value):
                assert piece not in seen, f"the {name} was printed: ...{piece}..."


@pytest.fixture
def secret(e2e):
    e2e.wandb.world.generate(2)
    return Secrets(e2e)


@pytest.mark.parametrize("variable", ["GCP_JSON", "GOOGLE_APPLICATION_CREDENTIALS"])
def test_every_form_of_the_key_is_read_and_none_is_printed(e2e, secret, variable):
    text = e2e.key_file.read_text()
    quoted_path = {"path": str(e2e.key_file), "quoted path": f'"{e2e.key_file}"', "path and newline":
                   f"{e2e.key_file}\n"}
    every = {**forms(text), **quoted_path}
    if variable != "GCP_JSON":  # the same reader serves both: a few forms show the second variable is read by it
        every = {k: every[k] for k in ("base64 wrapped at 76", "json string", "quoted path")}
    for name, value in every.items():
        env = {variable: value} | ({"GCP_JSON": ""} if variable != "GCP_JSON" else {})
        result = e2e.cli("--once", "--log_level", "DEBUG", **env)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert "Traceback" not in result.stderr
        secret.assert_none_in(result.stdout, result.stderr)


def _broken(text: str) -> dict[str, str]:
    info = json.loads(text)
    pem = info["private_key"]
    cut = text[: len(text) // 2]
    bad_key = json.dumps(info | {"private_key": pem.replace("A", "B", 40)})
    return {"the pem alone": pem, "half the json": cut, "base64 of half": base64.b64encode(cut.encode()).decode(),
            "quoted half": f"'{cut}'", "a broken private key": bad_key, "a json list": json.dumps([info]),
            "an unknown type": json.dumps(info | {"type": "x" + random.token_hex(4)}),
            "base64 of the pem": base64.b64encode(pem.encode()).decode(), "a long non-path": "Z" * 5000}


@pytest.mark.parametrize("variable", ["GCP_JSON", "GOOGLE_APPLICATION_CREDENTIALS"])
def test_every_form_a_key_cannot_be_read_in_is_refused_by_name_showing_none_of_it(e2e, secret, variable):
    for name, value in _broken(e2e.key_file.read_text()).items():
        secret.add(f"{name} form", value)
        env = {variable: value} | ({"GCP_JSON": ""} if variable != "GCP_JSON" else {})
        result = e2e.cli("--once", "--log_level", "DEBUG", **env)
        assert result.returncode == 2, f"{name}: {result.returncode} {result.stderr}"
        assert variable in result.stderr and "Traceback" not in result.stderr, f"{name}: {result.stderr}"
        secret.assert_none_in(result.stdout, result.stderr)
        secret.values.pop(f"{name} form")


def test_tokens_and_keys_in_every_other_input_and_error_path_are_never_printed(e2e, secret):
    adc = e2e.tmp / "adc.json"
    info = write_authorized_user(adc, e2e.google.world.auth, ALICE, SHEETS)
    access = "ya29.fake-" + random.token_urlsafe(40)
    secret.add("refresh token", info["refresh_token"])
    secret.add("client secret", info["client_secret"])
    secret.add("access token", access)
    revoked = dict(info, token=access)
    e2e.google.world.auth.grants.pop(info["refresh_token"])  # revoked: google-auth's refresh fails
    outputs = []
    for level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        # a revoked person's sign-in, inline, as JSON and as base64 (the error path of a refresh)
        for value in (json.dumps(revoked), base64.b64encode(json.dumps(revoked).encode()).decode()):
            result = e2e.cli("--once", "--log_level", level, GCP_JSON=value)
            assert result.returncode == 2, result.stderr
            outputs += [result.stdout, result.stderr]
        # a --login token file holding both tokens, revoked
        token_dir = e2e.tmp / "xdg" / "wandb-spreadsheet-sync"
        token_dir.mkdir(parents=True, exist_ok=True)
        (token_dir / "google-token.json").write_text(json.dumps(revoked))
        result = e2e.cli("--once", "--log_level", level, GCP_JSON="", XDG_CONFIG_HOME=str(e2e.tmp / "xdg"))
        assert result.returncode == 2, result.stderr
        outputs += [result.stdout, result.stderr]
        # W&B refuses the API key
        wrong = "local-" + random.token_hex(20)
        secret.add("wrong W&B key", wrong)
        result = e2e.cli("--once", "--log_level", level, WANDB_API_KEY=wrong)
        assert result.returncode != 0
        outputs += [result.stdout, result.stderr]
        # the key put in config.json where it does not belong: an object for GCP_JSON, an unknown key
        cfg = e2e.config(GCP_JSON=json.loads(e2e.key_file.read_text()), GCP_KEY=e2e.key_file.read_text(),
                         WANDB_API_KEY=DEFAULT_KEY)
        result = e2e.cli("--once", "--log_level", level, config=cfg)
        assert result.returncode == 2 and "GCP_JSON" in result.stderr, result.stderr
        outputs += [result.stdout, result.stderr]
        e2e.config()
    secret.assert_none_in(*outputs)


def test_a_running_loop_prints_no_secret_and_its_health_file_holds_none(e2e, secret):
    running = e2e.start("--log_level", "DEBUG", GCP_JSON=base64.b64encode(e2e.key_file.read_bytes()).decode())
    assert running.wait_for("synced", timeout=60), running.text
    code, _ = running.stop()
    health = (e2e.tmp / "health.json").read_text()
    secret.assert_none_in(running.text, health)
