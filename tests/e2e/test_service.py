"""The service (--listen) as users run it: the CLI in a subprocess, real HTTP requests to it, the fake Google and W&B
behind it. Every wait is a bounded poll of a state (the fake sheet, /metrics, /readyz), never a measured time."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import json
import re
import signal
import socket
import threading
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from wandb_sheet_sync.server import MAX_CONNECTIONS

SECRET = "webhook-secret-for-tests-0123456789"
MARKER = "BODY-MARKER-NEVER-LOGGED"
pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process
PATIENCE = 60.0  # seconds any poll may wait: generous, so a loaded machine passes; nothing asserts on speed
PREFIX = "wandb_spreadsheet_sync_"


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def event(entity: str = "alice", project: str = "proj", kind: str = "RUN_STATE", **more) -> bytes:
    return json.dumps({"event_type": kind, "entity_name": entity, "project_name": project, **more}).encode()


def until(condition, what: str, timeout: float = PATIENCE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


class Service:
    """The CLI started with --listen 127.0.0.1:0, once it has said where it listens and synced once."""

    def __init__(self, e2e, *args: str, secret: str | None = SECRET, **env):
        if secret is not None:
            env["WEBHOOK_SECRET"] = secret
        self.e2e = e2e
        self.running = e2e.start("--listen", "127.0.0.1:0", "--schedule_time", "600", *args, **env)
        until(lambda: re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.running.text) or
              self.running.proc.poll() is not None, "the service says where it listens")
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.running.text)
        assert found, self.running.text
        self.url = f"http://127.0.0.1:{found.group(1)}"
        self.port = int(found.group(1))

    def post(self, body: bytes, signature: str | None = "sign", **headers) -> requests.Response:
        if signature == "sign":
            signature = sign(body)
        if signature is not None:
            headers["X-Wandb-Signature"] = signature
        return requests.post(self.url + "/webhook", data=body, headers=headers, timeout=PATIENCE)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=PATIENCE)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """Every sample of /metrics, parsed by prometheus_client's own parser: (name, sorted labels) -> value."""
        text = self.get("/metrics").text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def value(self, name: str, **labels) -> float:
        """The sum of a metric's samples whose labels include these."""
        return sum(v for (n, ls), v in self.metrics().items()
                   if n == PREFIX + name and set(labels.items()) <= set(ls))

    def syncs(self, trigger: str, outcome: str = "ok") -> float:
        return self.value("syncs_total", trigger=trigger, outcome=outcome)

    def idle(self) -> bool:
        """No event waits for its sync and none runs."""
        return self.value("sync_queued") == 0 and self.value("sync_running") == 0

    def first_sync(self) -> None:
        until(lambda: self.syncs("schedule") >= 1 or self.running.proc.poll() is not None, "the first sync")
        assert self.running.proc.poll() is None, self.running.text

    def stop(self) -> int:
        code, _ = self.running.stop(signal.SIGTERM, timeout=30)
        return code


@pytest.fixture
def service(e2e):
    started: list[Service] = []

    def start(*args: str, **env) -> Service:
        e2e.wandb.world.project("alice", "proj")  # the project exists, if empty: a first sync without it fails
        s = Service(e2e, *args, **env)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.running.proc.poll() is None:
            s.stop()


def _finish_a_run(e2e, name: str) -> None:
    now = e2e.wandb.world.now()
    e2e.wandb.world.add_run(name=name, display_name=name, state="finished", created_at=now, heartbeat_at=now,
                            summary={"loss": 0.125})


def _sheet_writes(e2e) -> int:
    return sum(1 for r in e2e.google.world.log if r.is_sheets_write)


# ---- a signed event --------------------------------------------------------------------------------

def test_signed_event_brings_a_just_finished_run_into_the_sheet(e2e, service):
    e2e.wandb.world.generate(3)
    now = e2e.wandb.world.now()
    e2e.wandb.world.add_run(name="live0001", state="running", created_at=now, heartbeat_at=now, summary={"loss": 2.0})
    svc = service("--log_level", "DEBUG")
    svc.first_sync()
    assert len(e2e.rows()) == 4 and e2e.rows()["live0001"]["state"] == "running"
    # one run finishes that the sheet shows running, one that started and finished between two syncs
    e2e.wandb.world.edit("live0001", state="finished", summary={"loss": 0.5})
    _finish_a_run(e2e, "justdone1")
    answer = svc.post(event())
    assert answer.status_code == 202 and answer.json()["syncing"] == ["alice/proj -> runs"]
    until(lambda: "justdone1" in e2e.rows() and e2e.rows()["live0001"]["state"] == "finished",
          "the finished runs in the sheet")
    assert e2e.rows()["justdone1"]["state"] == "finished" and e2e.rows()["live0001"]["loss"] == 0.5
    until(svc.idle, "the webhook's sync to end")
    assert svc.syncs("webhook") == 1 and svc.syncs("schedule") == 1  # the event's sync, not a wait for the schedule
    assert "(asked for by W&B)" in svc.running.text
    # incrementally: the runs whose stamps moved (issue 24), then only the two that changed
    assert re.search(r"read 2 runs of alice/proj in full, 0 from the listing, 0 deleted, in \d+ pages "
                     r"\(incremental, changed runs only", svc.running.text), svc.running.text
    assert svc.stop() == 0


def test_unknown_project_is_accepted_logged_and_not_synced(e2e, service):
    e2e.wandb.world.generate(2)
    svc = service()
    svc.first_sync()
    reads = len(e2e.google.world.sheets_requests())
    answer = svc.post(event("someone", "elsewhere"))
    assert answer.status_code == 202 and answer.json()["syncing"] == []
    until(lambda: "someone/elsewhere, which is not a configured project" in svc.running.text, "the log line")
    assert svc.value("webhook_requests_total", result="unknown_project") == 1
    assert svc.idle() and svc.syncs("webhook") == 0
    assert len(e2e.google.world.sheets_requests()) == reads  # Google was not asked anything


# ---- bad requests ----------------------------------------------------------------------------------

def test_wrong_missing_and_replayed_signatures_get_401_and_sync_nothing(e2e, service):
    e2e.wandb.world.generate(2)
    svc = service()
    svc.first_sync()
    _finish_a_run(e2e, "notyet01")
    before = (e2e.sheet(), _sheet_writes(e2e))
    body = event(note=MARKER)
    wrong = svc.post(body, signature=sign(body, "not-the-secret"))
    missing = svc.post(body, signature=None)
    empty = svc.post(body, signature="")
    garbage = svc.post(body, signature="\u00e9t\u00e9 not base64 at all")
    # A body W&B signed, replayed with another body's signature (or the signature of a changed body)
    signed_elsewhere = sign(event("alice", "proj", kind="RUN_METRIC"))
    replayed = svc.post(body, signature=signed_elsewhere)
    tampered = svc.post(body.replace(b"RUN_STATE", b"RUN_STATX"), signature=sign(body))
    assert [r.status_code for r in (wrong, missing, empty, garbage, replayed, tampered)] == [401] * 6
    assert svc.value("webhook_requests_total", result="bad_signature") == 4
    assert svc.value("webhook_requests_total", result="no_signature") == 2
    assert svc.idle() and svc.syncs("webhook") == 0
    assert (e2e.sheet(), _sheet_writes(e2e)) == before and "notyet01" not in e2e.rows()
    assert MARKER not in svc.running.text  # a refused body is never logged
    assert "wrong X-Wandb-Signature" in svc.running.text and "no X-Wandb-Signature" in svc.running.text


def test_oversized_body_gets_413_before_it_is_read(e2e, service):
    svc = service()
    svc.first_sync()
    big = event(padding="x" * 100_000)
    answer = svc.post(big)
    assert answer.status_code == 413
    assert svc.value("webhook_requests_total", result="too_large") == 1
    assert svc.syncs("webhook") == 0
    # a Content-Length that lies about a huge body is refused from the header alone
    with socket.create_connection(("127.0.0.1", svc.port), timeout=PATIENCE) as s:
        s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.0 413")


def test_slow_and_idle_clients_are_cut_off_while_others_are_served(e2e, service):
    svc = service()
    svc.first_sync()
    idle = socket.create_connection(("127.0.0.1", svc.port), timeout=PATIENCE)
    slow = socket.create_connection(("127.0.0.1", svc.port), timeout=PATIENCE)
    dripped = threading.Event()

    def drip() -> None:  # a byte a second: never idle long enough for the socket timeout
        try:
            for ch in b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Wandb-Signature: " + b"a" * 200:
                slow.sendall(bytes([ch]))
                time.sleep(1.0)
        except OSError:
            dripped.set()  # the server closed the connection on it

    threading.Thread(target=drip, daemon=True).start()
    assert svc.get("/healthz").status_code == 200  # served meanwhile
    try:
        assert idle.recv(100) == b""  # closed by the server, not our timeout (that would raise)
    except ConnectionResetError:
        pass
    assert until(dripped.is_set, "the dripping client cut off", timeout=PATIENCE)
    idle.close()
    slow.close()
    assert svc.get("/healthz").status_code == 200
    assert svc.syncs("webhook") == 0


def test_only_post_on_webhook_and_only_get_on_the_others(e2e, service):
    svc = service()
    svc.first_sync()
    assert svc.get("/webhook").status_code == 405
    assert requests.put(svc.url + "/webhook", data=b"{}", timeout=PATIENCE).status_code == 405
    assert requests.post(svc.url + "/healthz", data=b"{}", timeout=PATIENCE).status_code == 405
    assert requests.delete(svc.url + "/metrics", timeout=PATIENCE).status_code == 405
    assert svc.get("/nothing-here").status_code == 404
    assert svc.get("/healthz").json() == {"ok": True, "status": "alive"}
    unsigned_json = svc.post(b"not json", signature=sign(b"not json"))
    assert unsigned_json.status_code == 400


def test_no_secret_turns_the_webhook_off_and_says_so_at_start(e2e, service):
    svc = service(secret=None)
    until(lambda: "POST /webhook is off: WEBHOOK_SECRET is not set" in svc.running.text, "the start line")
    svc.first_sync()
    body = event()
    assert svc.post(body, signature=sign(body, "")).status_code == 404
    assert svc.get("/healthz").status_code == 200
    assert svc.syncs("webhook") == 0


# ---- folding and the schedule ----------------------------------------------------------------------

def test_a_burst_of_50_events_folds_into_one_or_two_syncs(e2e, service):
    e2e.wandb.world.generate(3)
    e2e.config(REQUEST_TIMEOUT=60)
    svc = service()
    svc.first_sync()
    for i in range(5):
        _finish_a_run(e2e, f"burst{i:03d}")
    # The first event's sync is held at its sheet read until the other 49 have been answered (so the count does
    # not depend on how fast this machine is): they must fold into one more sync, not 49.
    gate = threading.Event()
    e2e.google.world.arm("slow", delay=50, path="values:batchGet", gate=gate)
    assert svc.post(event()).status_code == 202
    until(lambda: any(r.fault == "slow" for r in e2e.google.world.log), "the first sync at its read")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: svc.post(event()).status_code, range(49)))
    gate.set()
    assert answers == [202] * 49
    until(lambda: svc.syncs("webhook") >= 1 and svc.idle(), "the burst's syncs to end")
    assert 1 <= svc.syncs("webhook") <= 2, svc.running.text
    assert svc.value("webhook_requests_total", result="accepted") == 50
    assert all(f"burst{i:03d}" in e2e.rows() for i in range(5))


def test_connections_beyond_the_cap_get_503_and_the_server_recovers(e2e, service):
    svc = service()
    svc.first_sync()
    def past_the_cap() -> bool:
        """Every slot taken by a silent client (fresh ones each try: the server drops them when idle), then one
        more asks: it is told at once."""
        held = [socket.create_connection(("127.0.0.1", svc.port), timeout=PATIENCE) for _ in range(MAX_CONNECTIONS)]
        try:
            time.sleep(0.2)  # the server accepts them
            return _raw_get(svc.port).startswith(b"HTTP/1.0 503")
        finally:
            for s in held:
                s.close()

    until(past_the_cap, "a 503 past the cap")
    until(lambda: _raw_get(svc.port).startswith(b"HTTP/1.0 200"), "the slots freed")


def _raw_get(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            return s.recv(100)
    except OSError:
        return b""


# ---- what an operator sees -------------------------------------------------------------------------

def test_metrics_parse_and_agree_with_what_the_fakes_saw(e2e, service):
    e2e.wandb.world.generate(4)
    svc = service()
    svc.first_sync()
    _finish_a_run(e2e, "counted01")
    for run in e2e.wandb.world.project("alice", "proj")[:2]:
        run.summary["loss"] = 9.5
    assert svc.post(event()).status_code == 202
    until(lambda: svc.syncs("webhook") == 1 and svc.idle(), "the webhook's sync")
    label = {"target": "alice/proj -> runs"}
    assert svc.value("syncs_total", outcome="ok", **label) == 2
    assert svc.value("syncs_total", outcome="failed") == 0
    assert svc.value("runs_total", change="new", **label) == 5 == len(e2e.rows())
    assert svc.value("runs_total", change="updated", **label) >= 2
    assert svc.value("last_success_timestamp_seconds", **label) > 0
    assert svc.value("sync_duration_seconds_count", **label) == 2
    google = e2e.google.world.sheets_requests()
    assert svc.value("requests_total", service="sheets", kind="read") == sum(1 for r in google if r.method == "GET")
    assert svc.value("requests_total", service="sheets", kind="write") == sum(1 for r in google if r.method != "GET")
    graphql = [r for r in e2e.wandb.world.log if r.path == "/graphql"]
    assert svc.value("requests_total", service="wandb") == len(graphql)
    assert svc.value("errors_total") == 0
    assert svc.value("quota_wait_seconds_total", service="sheets") == 0  # far inside Google's quota
    assert svc.value("webhook_requests_total", result="accepted") == 1


def test_waits_for_quota_are_counted_as_the_fakes_asked(e2e, service):
    e2e.wandb.world.generate(2)
    svc = service(WSS_WANDB_GRAPHQL="http")  # wandb-core waits out W&B's 429s inside itself, unseen by the tool
    svc.first_sync()
    _finish_a_run(e2e, "quota001")
    e2e.google.world.arm("status", status=429, retry_after=1, path="values:batchGet")
    e2e.wandb.world.rate_limit(reset=1, retry_after=True)
    assert svc.post(event()).status_code == 202
    until(lambda: svc.syncs("webhook") == 1 and svc.idle(), "the webhook's sync")
    assert [r.status for r in e2e.google.world.log if r.fault] == [429]
    assert svc.value("quota_wait_seconds_total", service="sheets") == 1.0  # Google's Retry-After: 1
    limited = [r for r in e2e.wandb.world.log if r.status == 429]
    assert len(limited) >= 1 and svc.value("quota_wait_seconds_total", service="wandb") >= 1.0
    assert "quota001" in e2e.rows()


def test_readyz_turns_unready_when_google_refuses_and_ready_again_after(e2e, service):
    e2e.wandb.world.generate(2)
    svc = service()
    svc.first_sync()
    assert svc.get("/readyz").status_code == 200
    e2e.google.world.arm("status", status=403, count=1000, path="/v4/spreadsheets")
    assert svc.post(event()).status_code == 202
    until(lambda: svc.get("/readyz").status_code == 503, "/readyz unready")
    ready = svc.get("/readyz").json()
    assert ready["ok"] is False and "last sync failed" in ready["targets"]["alice/proj -> runs"]
    assert svc.get("/healthz").status_code == 200  # Google refusing is not ill health: a restart would not help
    assert svc.value("errors_total", kind="setup") == 1
    e2e.google.world.disarm()
    _finish_a_run(e2e, "afterfix1")
    assert svc.post(event()).status_code == 202
    until(lambda: svc.get("/readyz").status_code == 200, "/readyz ready again")
    assert "afterfix1" in e2e.rows()


def test_sigterm_stops_the_server_and_the_loop_with_exit_0(e2e, service):
    svc = service()
    svc.first_sync()
    assert svc.stop() == 0
    assert "the HTTP server and the loop have stopped" in svc.running.text
    with pytest.raises(requests.ConnectionError):
        requests.get(svc.url + "/healthz", timeout=PATIENCE)


def test_a_taken_port_is_a_configuration_error_before_any_sync(e2e):
    e2e.wandb.world.generate(1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = e2e.cli("--listen", f"127.0.0.1:{port}", WEBHOOK_SECRET=SECRET)
    assert result.returncode == 2
    assert f"LISTEN: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not any(r.is_sheets for r in e2e.google.world.log)


def test_healthcheck_flag_asks_healthz(e2e, service):
    svc = service()
    svc.first_sync()
    result = e2e.cli("--healthcheck", "--listen", f"127.0.0.1:{svc.port}")
    assert result.returncode == 0 and "/healthz" in result.stdout and "alive" in result.stdout
    svc.stop()
    result = e2e.cli("--healthcheck", LISTEN=f"127.0.0.1:{svc.port}")
    assert result.returncode == 1 and "not running" in result.stdout


def test_json_logs_are_one_object_a_line_without_secrets(e2e, service):
    e2e.wandb.world.generate(2)
    svc = service(LOG_FORMAT="json")
    svc.first_sync()
    body = event()
    assert svc.post(body, signature=sign(body, "wrong")).status_code == 401
    assert svc.post(body).status_code == 202
    until(lambda: svc.syncs("webhook") == 1 and svc.idle(), "the webhook's sync")
    svc.stop()
    lines = [json.loads(line) for line in svc.running.output if line.strip()]
    assert all({"time", "level", "event", "message"} <= set(line) for line in lines)
    syncs = [line for line in lines if line["event"] == "sync"]
    assert len(syncs) == 2 and syncs[0]["target"] == "alice/proj -> runs" and syncs[0]["counts"]["new"] == 2
    text = svc.running.text
    assert SECRET not in text and e2e.env()["WANDB_API_KEY"] not in text
    assert any(line["event"] == "webhook_refused" for line in lines)


# ---- --check ---------------------------------------------------------------------------------------

def test_check_passes_on_a_good_set_up_and_writes_nothing(e2e):
    e2e.wandb.world.generate(2)
    before = e2e.google.world.dump()
    result = e2e.cli("--check", "--listen", "127.0.0.1:0", WEBHOOK_SECRET=SECRET)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "FAIL" not in out and "all checks passed" in out
    for what in ("config:", "Google credentials:", "spreadsheet:", "worksheet 'runs':", "W&B key: belongs to alice",
                 "W&B project alice/proj: found", "webhook secret: set"):
        assert f"ok   {what}" in out, out
    assert e2e.google.world.dump() == before
    assert not any(r.is_sheets_write for r in e2e.google.world.log)
    assert SECRET not in out


def test_check_names_the_account_to_share_an_unshared_sheet_with(e2e):
    e2e.wandb.world.generate(1)
    hidden = e2e.google.world.add_spreadsheet("Not shared", owners={"someone@example.com"})
    result = e2e.cli("--check", config=e2e.config(SPREADSHEET=hidden.spreadsheet_id))
    assert result.returncode == 1
    email = json.loads(e2e.key_file.read_text())["client_email"]
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("FAIL spreadsheet"))
    assert "403" in lines[at] and email in lines[at + 1] and "Share the spreadsheet" in lines[at + 1], result.stdout
    assert "ok   W&B project alice/proj" in result.stdout  # the other checks still ran


def test_check_says_the_wandb_key_is_wrong(e2e):
    e2e.wandb.world.generate(1)
    result = e2e.cli("--check", WANDB_API_KEY="wrong-" + "1" * 40)
    assert result.returncode == 1
    assert "FAIL W&B key: W&B refused the API key" in result.stdout, result.stdout
    assert "wandb.ai/authorize" in result.stdout
    assert "wrong-" + "1" * 40 not in result.stdout


def test_check_says_the_project_is_unknown(e2e):
    e2e.wandb.world.generate(1)
    result = e2e.cli("--check", config=e2e.config(WANDB_PROJECT="nosuchproject"))
    assert result.returncode == 1
    assert "FAIL W&B project alice/nosuchproject: no such project that alice can see" in result.stdout
    assert "ok   W&B key" in result.stdout


def test_check_fails_without_a_webhook_secret_when_listening(e2e):
    e2e.wandb.world.generate(1)
    result = e2e.cli("--check", "--listen", "127.0.0.1:0")
    assert result.returncode == 1
    assert "FAIL webhook secret" in result.stdout and "Set WEBHOOK_SECRET" in result.stdout


def test_check_reports_a_bad_config_and_exits_2(e2e):
    result = e2e.cli("--check", config=e2e.config(LISTEN="nowhere", SCHEDULE_TIME=0))
    assert result.returncode == 2
    assert "FAIL config" in result.stdout and "LISTEN must be HOST:PORT" in result.stdout


def test_check_in_local_mode_needs_no_accounts_and_writes_no_file(e2e):
    (e2e.tmp / "runs").mkdir()
    out = e2e.tmp / "out.xlsx"
    result = e2e.cli("--check", "--source", str(e2e.tmp / "runs"), "--output", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   output: writes" in result.stdout and "ok   source: reads run folders" in result.stdout
    assert not out.exists()
