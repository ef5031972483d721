"""Faults and bad input: every failure says what happened and what to do, and the sheet loses nothing."""

from __future__ import annotations

import json
import signal
import socket
import time

import pytest

from wandb_sheet_sync.sinks.google_lease import PREFIX as LEASE  # the lease's own writes are not the ones aimed at

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process, or soaks


def _data_writes(e2e) -> int:
    """batchUpdates that carry cells, not the write lease's own (taken, rotated, given back: issue 23)."""
    return sum(1 for r in e2e.google.world.log if ":batchUpdate" in r.path and LEASE not in str(r.body)
               and list(((r.body or {}).get("requests") or [{}])[0]) != ["deleteSheet"])


def _ids(e2e) -> list[str]:
    grid = e2e.sheet()
    key = grid[0].index("run_id")
    return [row[key] for row in grid[1:] if key < len(row) and row[key]]


# ---- faults ----------------------------------------------------------------------------------------

def test_429_then_success_completes_the_sync(e2e):
    e2e.wandb.world.generate(5)
    assert e2e.cli("--once").returncode == 0
    e2e.wandb.world.generate(5, seed=1)
    e2e.google.world.arm("status", status=429, retry_after=1, path="/values:batchGet")
    e2e.google.world.arm("status", status=429, path=":batchUpdate", body_lacks=LEASE)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert len(_ids(e2e)) == 10
    assert [r.status for r in e2e.google.world.log if r.fault] == [429, 429]


def test_500s_during_the_write_leave_the_sheet_as_it_was_and_the_next_sync_completes(e2e):
    e2e.wandb.world.generate(10)
    assert e2e.cli("--once").returncode == 0
    before = e2e.sheet()
    e2e.wandb.world.generate(5, seed=1)
    for run in e2e.wandb.world.project("alice", "proj")[:2]:
        run.summary["loss"] = 123.0
    # a write that grows the grid is not re-sent blind after a 5xx: this sync reads again once, meets the
    # second 500, and stops; the next sync completes it
    e2e.google.world.arm("status", status=500, count=2, path=":batchUpdate", body_lacks=LEASE)
    failed = e2e.cli("--once")
    assert failed.returncode == 1
    assert "Google answered 500" in failed.stderr and "next sync" in failed.stderr
    assert e2e.sheet() == before
    assert e2e.cli("--once").returncode == 0
    ids = _ids(e2e)
    assert len(ids) == 15 == len(set(ids))
    assert sum(1 for r in e2e.rows().values() if r["loss"] == 123.0) == 2


def test_a_first_write_whose_answer_is_lost_is_looked_for_not_sent_again(e2e):
    e2e.wandb.world.generate(4)
    # Google applied it; the answer never came
    e2e.google.world.arm("drop_after", path=":batchUpdate", body_lacks=LEASE)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    ids = _ids(e2e)
    assert len(ids) == 4 == len(set(ids))
    assert _data_writes(e2e) == 1  # found landed: not re-sent


def test_a_first_write_lost_before_it_landed_is_sent_once_more(e2e):
    e2e.wandb.world.generate(4)
    # the connection closed before Google did anything
    e2e.google.world.arm("drop", path=":batchUpdate", body_lacks=LEASE)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    ids = _ids(e2e)
    assert len(ids) == 4 == len(set(ids))
    assert _data_writes(e2e) == 2  # not found: sent again


def test_dead_wandb_server_fails_the_sync_clearly_and_the_loop_goes_on(e2e):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens here once the socket closes
    running = e2e.start("--schedule_time", "1", WANDB_BASE_URL=dead)
    try:
        assert running.wait_for("sync failed, will try again in 1 min", timeout=120), running.text
        assert running.proc.poll() is None, "the loop died"
    finally:
        code, seconds = running.stop()
    assert code == 0 and seconds < 10  # stopped between syncs: nothing was cut short (a cut sync: 130, below)
    assert "W&B could not be reached" in running.text


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_during_a_google_write_exits_130_within_10_s_says_so_and_nothing_is_half_written(e2e, sig):
    e2e.wandb.world.generate(8)
    assert e2e.cli("--once").returncode == 0
    before = e2e.sheet()
    e2e.wandb.world.generate(3, seed=2)
    e2e.google.world.arm("slow", delay=60, path=":batchUpdate", body_lacks=LEASE)
    e2e.google.world.clear_log()
    running = e2e.start("--once")
    deadline = time.time() + 60
    while time.time() < deadline and not any(r.fault == "slow" for r in e2e.google.world.log):
        time.sleep(0.1)
    code, seconds = running.stop(sig)
    print(f"\n{sig.name} to exit: {seconds:.1f} s")
    assert code == 130 and seconds < 10, running.text
    (said,) = [x for x in running.text.splitlines() if x.startswith("Interrupted by")]
    assert said.startswith(f"Interrupted by {sig.name}: ") and "the next sync writes the rest" in said
    assert e2e.sheet() == before  # the write was in flight: it lands whole or not at all
    e2e.google.world.disarm()
    assert e2e.cli("--once").returncode == 0
    assert len(_ids(e2e)) == 11 == len(set(_ids(e2e)))


# ---- bad input -------------------------------------------------------------------------------------

def test_malformed_config_names_line_and_column(e2e):
    bad = e2e.tmp / "config.json"
    bad.write_text('{\n  "SPREADSHEET": "x",\n  "WORKSHEET": "runs"\n  "SCHEDULE_TIME": 5\n}\n')
    result = e2e.cli("--once", config=bad)
    assert result.returncode == 2
    assert f"{bad}:4:3: not valid JSON: Expecting ',' delimiter" in result.stderr


def test_every_config_problem_is_reported_at_once_with_a_suggestion(e2e):
    cfg = e2e.config(SCHEDULE_TIM=5, MAX_COLUMNS=0, TIMEZONE="Mars/Olympus")
    result = e2e.cli("--once", config=cfg)
    assert result.returncode == 2
    assert "3 configuration problems" in result.stderr
    assert "unknown key 'SCHEDULE_TIM'. Did you mean 'SCHEDULE_TIME'?" in result.stderr
    assert "MAX_COLUMNS must be a whole number from 1 to 18278, got 0" in result.stderr
    assert "TIMEZONE must be an IANA time zone" in result.stderr
    assert e2e.google.world.log == [] and e2e.wandb.world.log == []  # nothing was contacted


def test_bad_look_settings_name_the_valid_form(e2e):
    cfg = e2e.config(HIGHLIGHT={"loss": "lowest"}, HIGHLIGHT_SCALE="yes", NUMBER_FORMATS={"acc": 0, "lr": ""})
    result = e2e.cli("--once", config=cfg)
    assert result.returncode == 2 and "3 configuration problems" in result.stderr
    assert 'HIGHLIGHT must be a map of header to "min" or "max"' in result.stderr
    assert "HIGHLIGHT_SCALE must be true or false" in result.stderr
    assert "NUMBER_FORMATS must be a map of header (or glob) to a number-format pattern or a count of " \
           "significant digits from 1 to 15" in result.stderr


def test_missing_key_file(e2e):
    result = e2e.cli("--once", GCP_JSON=str(e2e.tmp / "nope.json"))
    assert result.returncode == 2
    assert "nope.json' does not exist" in result.stderr and "Service accounts > Keys" in result.stderr


def test_spreadsheet_not_shared_names_the_service_account(e2e):
    private = e2e.google.world.add_spreadsheet("secret", owners={"someone@example.com"})
    e2e.wandb.world.generate(2)
    result = e2e.cli("--once", config=e2e.config(SPREADSHEET=private.spreadsheet_id))
    email = json.loads(e2e.key_file.read_text())["client_email"]
    assert result.returncode == 2
    assert email in result.stderr and "Share the spreadsheet" in result.stderr
    assert private.sheets[0].cells == {}


def test_spreadsheet_by_title_that_nobody_shared(e2e):
    e2e.wandb.world.generate(1)
    result = e2e.cli("--once", "--sheet_name", "No Such Sheet")
    assert result.returncode == 2 and "No spreadsheet 'No Such Sheet' is shared with" in result.stderr


def test_unknown_wandb_project(e2e):
    result = e2e.cli("--once", "--project", "alice/nope")
    assert result.returncode == 2
    assert "W&B has no project 'alice/nope'" in result.stderr


def test_duplicate_run_ids_in_the_sheet_stop_the_sync_and_say_what_to_fix(e2e):
    e2e.wandb.world.generate(3)
    assert e2e.cli("--once").returncode == 0
    sheet = next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == "runs")
    sheet.put(3, 0, sheet.get(1, 0))  # a person pasted a run id twice
    before = e2e.sheet()
    e2e.wandb.world.project("alice", "proj")[0].summary["loss"] = 7.0
    result = e2e.cli("--once")
    assert result.returncode == 1
    assert "appears twice, in rows 2 and 4" in result.stderr and "nothing was written" in result.stderr
    assert e2e.sheet() == before


def test_dry_run_prints_changes_and_writes_nothing(e2e):
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", "--dry-run")
    assert result.returncode == 0
    assert "would write" in result.stdout and "add a row for run r00000002" in result.stdout
    assert not any(r.is_sheets_write for r in e2e.google.world.log)


def test_sheet_near_the_ten_million_cell_limit_is_refused_before_writing(e2e):
    e2e.google.world.add_spreadsheet("x")  # keep ids distinct
    ss = e2e.google.world.spreadsheets[e2e.spreadsheet_id]
    ss.sheets[0].rows, ss.sheets[0].cols = 384_600, 26  # 9,999,600 cells used by a person's data
    e2e.wandb.world.generate(50)
    result = e2e.cli("--once")
    assert result.returncode == 1
    # 398: the write lease's sheet (1 x 2 cells, issue 23) counts at Google while it is held
    assert "needs 1,326 more cells, but the spreadsheet has only 398 of Google's 10,000,000 left" in result.stderr
    assert [s.title for s in ss.sheets] == ["Sheet1"]


# What a sync prints differs by how it ends, not by log level: DEBUG prints the most (every other level prints
# a subset of the same lines), so each ending runs at DEBUG. A failure prints W&B's or Google's own answer; the
# W&B key the run was given is a secret even when W&B refuses it (it may be a typo of the real one).
@pytest.mark.parametrize("google_status, env, code, said", [
    pytest.param(None, {}, 0, "synced alice/proj", id="synced"),
    pytest.param(None, {"WANDB_API_KEY": "local-" + "7" * 40}, 2, "W&B refused the API key",
                 id="wandb refuses the key"),
    pytest.param(403, {}, 2, "Google answered 403 while writing the sync", id="google refuses the write"),
])
def test_secrets_never_reach_the_output(e2e, google_status, env, code, said):
    e2e.wandb.world.generate(2)
    if google_status:
        e2e.google.world.arm("status", status=google_status, path=":batchUpdate", body_lacks=LEASE)
    result = e2e.cli("--once", "--log_level", "DEBUG", **env)
    text = result.stdout + result.stderr
    assert result.returncode == code and said in text, text
    key = json.loads(e2e.key_file.read_text())
    tokens = [t for t in e2e.google.world.tokens]
    private_lines = [line for line in key["private_key"].splitlines() if len(line) > 20]
    for secret in [e2e.env(**env)["WANDB_API_KEY"], *tokens, *private_lines]:
        assert secret not in text, f"a secret reached the output: {secret[:12]}..."
