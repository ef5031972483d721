"""--login end to end: the real google-auth-oauthlib flow against the fake, the test playing the person at a browser
on another machine (it opens the printed address, lands on a localhost page that does not load, and pastes that
address back), then syncs that use, refresh and write back the stored token."""

from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import sys
import threading

import pytest
import requests

from tests.e2e.conftest import ENTRY
from tests.fakes.credentials import write_oauth_client

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process, or soaks

PERSON = "person@example.com"


def log_in(e2e, client, consent: str | set = "allow", paste=None, umask: int = 0o022):
    """Runs `--login CLIENT` as a person would over SSH; returns the finished process and the address shown."""
    e2e.google.world.auth.consent = consent
    env = e2e.env(GCP_JSON="", OAUTHLIB_INSECURE_TRANSPORT="1")  # oauthlib refuses http:// (the fake) without it
    proc = subprocess.Popen([sys.executable, str(ENTRY), "--login", str(client)], cwd=e2e.tmp, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            umask=umask)
    timer = threading.Timer(60, proc.kill)
    timer.start()
    try:
        shown = ""
        for line in proc.stderr:
            shown += line
            if line.strip().startswith("http"):
                url = line.strip()
                break
        else:
            raise AssertionError(shown)
        landed = requests.get(url, allow_redirects=False, timeout=10)  # the person signs in and allows
        assert landed.status_code == 302, landed.text
        location = landed.headers["Location"]
        assert location.startswith("http://localhost:8085/?")  # a page that does not load: they copy its address
        out, err = proc.communicate((paste(location) if paste else location) + "\n", timeout=60)
    finally:
        timer.cancel()
    return proc.returncode, shown + err, url


def token_file(e2e):
    return e2e.tmp / "config-home" / "wandb-spreadsheet-sync" / "google-token.json"


def setup(e2e, testing: bool = False):
    client = e2e.tmp / "client_secret.json"
    write_oauth_client(client, e2e.google.world.auth, e2e.google.url, testing=testing)
    ss = e2e.google.world.add_spreadsheet("Team runs", {"Sheet1": []}, owners={PERSON})
    e2e.spreadsheet_id = ss.spreadsheet_id
    e2e.config(SPREADSHEET=ss.spreadsheet_id)
    return client


def test_login_over_ssh_stores_a_private_token_and_syncs_with_it(e2e, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e2e.tmp / "config-home"))
    client = setup(e2e)
    code, text, url = log_in(e2e, client, umask=0)  # even with umask 0 the token is never readable by others
    assert code == 0, text
    assert "access_type=offline" in url and "code_challenge=" in url and "userinfo.email" in url
    assert f"Signed in to Google as {PERSON}" in text
    path = token_file(e2e)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert saved["type"] == "authorized_user" and saved["account"] == PERSON and saved["refresh_token"]
    assert [p.name for p in path.parent.iterdir()] == ["google-token.json"]  # no temp file left behind
    exchanges = [r.body for r in e2e.google.world.log if r.path == "/token"]
    assert [b["grant_type"] for b in exchanges] == ["authorization_code"] and exchanges[0]["code_verifier"]

    e2e.wandb.world.generate(3)
    e2e.google.world.clear_log()
    result = e2e.cli("--once", GCP_JSON="")
    assert result.returncode == 0, result.stderr
    assert len(e2e.rows()) == 3
    assert [r for r in e2e.google.world.log if r.path == "/token"] == []  # the stored access token is still good


def test_a_refreshed_token_is_written_back_and_stays_private(e2e, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e2e.tmp / "config-home"))
    client = setup(e2e)
    assert log_in(e2e, client)[0] == 0
    path = token_file(e2e)
    saved = json.loads(path.read_text())
    path.write_text(json.dumps(saved | {"expiry": "2020-01-01T00:00:00Z"}))  # the hour is over
    e2e.wandb.world.generate(2)
    result = e2e.cli("--once", GCP_JSON="")
    assert result.returncode == 0, result.stderr
    assert [r.body["grant_type"] for r in e2e.google.world.log if r.path == "/token"] == \
        ["authorization_code", "refresh_token"]
    again = json.loads(path.read_text())
    assert again["token"] != saved["token"] and again["token"] in e2e.google.world.tokens
    assert again["expiry"] > "2020" and again["account"] == PERSON and again["logged_in_at"] == saved["logged_in_at"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_login_from_an_app_in_testing_expires_after_7_days_and_says_how_to_avoid_it(e2e, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e2e.tmp / "config-home"))
    client = setup(e2e, testing=True)
    assert log_in(e2e, client)[0] == 0
    path = token_file(e2e)
    saved = json.loads(path.read_text())
    eight_days_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8)
    grant = e2e.google.world.auth.grants[saved["refresh_token"]]
    grant.expires = eight_days_ago.timestamp() + 7 * 86400  # Google ended it a day ago
    path.write_text(json.dumps(saved | {"expiry": "2020-01-01T00:00:00Z", "logged_in_at": eight_days_ago.isoformat()}))
    e2e.wandb.world.generate(2)
    result = e2e.cli("--once", GCP_JSON="")
    assert result.returncode == 2
    assert f"Your Google sign-in stored in {path} has expired or was revoked (Token has been expired or " \
           "revoked.)." in result.stderr
    assert "You signed in 8 days ago: Google expires the sign-in of an OAuth app whose publishing status is " \
           "'Testing' after 7 days." in result.stderr
    assert "Run `wandb-spreadsheet-sync --login CLIENT_FILE` again" in result.stderr
    assert "publish the app" in result.stderr and "gcloud auth application-default login --scopes=" in result.stderr


def test_login_then_a_sheet_not_shared_names_the_person_from_the_id_token(e2e, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e2e.tmp / "config-home"))
    client = setup(e2e)
    assert log_in(e2e, client)[0] == 0
    other = e2e.google.world.add_spreadsheet("Not yours", {"Sheet1": []}, owners={"boss@example.com"})
    e2e.wandb.world.generate(2)
    result = e2e.cli("--once", "--sheet_name", other.spreadsheet_id, GCP_JSON="")
    assert result.returncode == 2
    assert f"with {PERSON} as an Editor" in result.stderr
    assert not any(r.path == "/tokeninfo" for r in e2e.google.world.log)  # the id_token told it


def test_login_with_just_the_code_pasted(e2e, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e2e.tmp / "config-home"))
    client = setup(e2e)
    code, text, _ = log_in(e2e, client, paste=lambda loc: loc.split("code=", 1)[1].split("&", 1)[0])
    assert code == 0, text
    assert token_file(e2e).is_file()


def test_login_refused_at_the_consent_page_says_so_and_stores_nothing(e2e, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e2e.tmp / "config-home"))
    client = setup(e2e)
    code, text, _ = log_in(e2e, client, consent="deny")
    assert code == 2
    assert "Google did not sign you in (access_denied)." in text and "choose Allow" in text
    assert not token_file(e2e).exists()


def test_login_with_the_sheets_permission_unticked_says_to_tick_it(e2e, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e2e.tmp / "config-home"))
    client = setup(e2e)
    code, text, _ = log_in(e2e, client, consent={"openid", "https://www.googleapis.com/auth/userinfo.email",
                                                 "https://www.googleapis.com/auth/drive.readonly"})
    assert code == 2
    assert "Google signed you in without https://www.googleapis.com/auth/spreadsheets." in text
    assert "tick every permission" in text
    assert not token_file(e2e).exists()


def test_login_with_a_web_client_file_names_the_right_kind(e2e, monkeypatch, tmp_path):
    client = tmp_path / "web.json"
    client.write_text(json.dumps({"web": {"client_id": "x", "client_secret": "y"}}))
    result = e2e.cli("--login", str(client))
    assert result.returncode == 2
    assert "is an OAuth client of type 'Web application'; --login needs a 'Desktop app' client" in result.stderr


def test_login_without_a_client_file_says_where_to_get_one(e2e):
    result = e2e.cli("--login")
    assert result.returncode == 2
    assert "--login: needs the OAuth client file: `--login client_secret.json` (or OAUTH_CLIENT_FILE)" in result.stderr
    assert "Desktop app" in result.stderr


def test_login_when_google_cannot_be_reached_says_so_in_one_clean_error(e2e, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e2e.tmp / "config-home"))
    client = tmp_path / "client_secret.json"
    info = write_oauth_client(client, e2e.google.world.auth, e2e.google.url)
    info["installed"]["token_uri"] = "http://127.0.0.1:9/token"  # a closed port: the token endpoint is unreachable
    client.write_text(json.dumps(info))
    proc = subprocess.run([sys.executable, str(ENTRY), "--login", str(client)], cwd=e2e.tmp, input="4/0Abc-code\n",
                          env=e2e.env(GCP_JSON="", OAUTHLIB_INSECURE_TRANSPORT="1"), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Could not reach Google's token endpoint (127.0.0.1:9) to finish the sign-in" in proc.stderr
    assert "nothing was stored" in proc.stderr and not token_file(e2e).exists()
