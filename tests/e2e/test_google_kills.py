"""A sync killed between its write requests, and writes whose outcome the tool never learns: the next sync
completes the sheet with nothing lost and nothing written twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
import time

import pytest

from wandb_sheet_sync.sinks import google_lease
from wandb_sheet_sync.sinks.google_sheets import base_title
from tests.e2e.test_failures import _ids
from tests.e2e.test_google_edges import BUDGET, _writes
from tests.e2e.test_look import _best, _rules

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process, or soaks


def _as_in_wandb(e2e) -> None:
    """Every W&B run in the sheet exactly once, with W&B's values (numbers to the 15 digits Sheets keeps)."""
    ids = _ids(e2e)
    runs = e2e.wandb.world.project("alice", "proj")
    assert len(ids) == len(set(ids)), [i for i in set(ids) if ids.count(i) > 1][:10]
    assert sorted(ids) == sorted(r.name for r in runs)
    rows = e2e.rows()
    for run in runs:
        row = rows[run.name]
        assert (row["run_name"], row["state"], row["epoch"], row["loss"], row["lr"]) == (
            run.display_name, run.state, run.summary["epoch"], float(f"{run.summary['loss']:.15g}"),
            float(f"{run.config['lr']:.15g}")), run.name


def _data_writes(e2e) -> list:
    """The writes that carry cells: not the write lease's own (taken, given back; issue 23)."""
    return [w for w in _writes(e2e) if google_lease.PREFIX not in str(w.body)
            and list((w.body or {}).get("requests", [{}])[0]) != ["deleteSheet"]]


def _writes_nothing(e2e) -> None:
    e2e.google.world.clear_log()
    again = e2e.cli("--once")
    assert again.returncode == 0, again.stderr
    assert "0 new, 0 updated" in again.stdout and _writes(e2e) == [], (again.stdout, len(_writes(e2e)))


# ---- a kill between the requests of a first sync ----------------------------------------------------------

def test_a_kill_after_any_request_of_a_first_sync_loses_and_duplicates_nothing(e2e, request):
    """Killed with each write request of a first sync on its way (--soak: every one; make test: the first two, the
    last two and every fourth between, each a process started, killed and completed: ~4 s a kill)."""
    started = time.monotonic()
    e2e.google.world.raise_quota(per_user=10_000)  # some 80 writes in a minute: this test is not about quotas
    e2e.wandb.world.generate(400, config_keys=12, summary_keys=12)
    e2e.config(REQUEST_BYTES=BUDGET)
    assert e2e.cli("--once").returncode == 0
    requests = len(_data_writes(e2e))
    assert requests >= 5, requests
    print(f"\nundisturbed first sync: {requests} write requests")
    every = range(1, requests)
    kills = every if request.config.getoption("--soak") else \
        sorted({1, 2, requests - 2, requests - 1, *every[2:-2:4]} & set(every))
    for k in kills:
        at = time.monotonic()
        ss = e2e.google.world.add_spreadsheet(f"killed after {k}", {"Sheet1": []})
        view = dataclasses.replace(e2e, spreadsheet_id=ss.spreadsheet_id)
        view.config(REQUEST_BYTES=BUDGET, LEASE_SECONDS=5)  # the killed sync's lease ends soon (issue 23)
        e2e.google.world.clear_log()
        e2e.google.world.arm("hold", skip=k, delay=60, path=":batchUpdate", body_lacks=google_lease.PREFIX)
        running = view.start("--once")
        deadline = time.monotonic() + 60
        while not any(r.fault == "hold" for r in e2e.google.world.log):
            assert running.proc.poll() is None and time.monotonic() < deadline, running.text
            time.sleep(0.02)
        code, _ = running.stop(signal.SIGKILL)
        e2e.google.world.disarm()
        assert code == -signal.SIGKILL
        assert len(_data_writes(view)) == k + 1  # k answered, the next one held and never applied
        partial = _ids(view)
        assert 0 < len(partial) == len(set(partial)) < 400  # what landed is whole requests' runs, once each
        e2e.google.world.clear_log()
        completed = view.cli("--once")
        assert completed.returncode == 0, completed.stderr
        completing = len(_data_writes(view))
        _as_in_wandb(view)
        _writes_nothing(view)
        print(f"k={k}: killed with request {k + 1} of {requests} on its way; the next sync wrote "
              f"{completing} requests; {time.monotonic() - at:.1f} s")
    print(f"total {time.monotonic() - started:.1f} s")


# ---- writes whose answer is lost, late or a 5xx -------------------------------------------------------------

FAULTS = {"drop_after": {}, "slow_after": {"delay": 6}, "status_after 503": {"status": 503}}
NEWER = dt.datetime(2026, 2, 1)


def _appended(e2e, config: dict) -> dict:
    e2e.wandb.world.generate(10)
    e2e.config(**config)
    assert e2e.cli("--once").returncode == 0
    e2e.wandb.world.generate(5, seed=1, start=NEWER)
    return config


def _inserted(e2e, config: dict) -> dict:
    return _appended(e2e, config | {"ORDER": "newest_first"})


def _highlighted(e2e, config: dict) -> dict:
    _appended(e2e, config)
    run = e2e.wandb.world.project("alice", "proj")[3]
    run.summary["loss"] = 0.0123
    run.heartbeat_at += dt.timedelta(hours=1)
    config = config | {"HIGHLIGHT": {"loss": "min"}}
    e2e.config(**config)
    return config


WRITES = {"appended rows": _appended, "inserted rows": _inserted, "highlight rules": _highlighted}


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_unknown_outcomes_on_each_kind_of_write(e2e, fault, write):
    config = {"REQUEST_TIMEOUT": 2} if fault == "slow_after" else {}
    config = WRITES[write](e2e, config)
    e2e.google.world.clear_log()
    e2e.google.world.arm(fault.split()[0], path=":batchUpdate", body_lacks=google_lease.PREFIX, **FAULTS[fault])
    started = time.monotonic()
    first = e2e.cli("--once")
    codes, writes = [first.returncode], [len(_writes(e2e))]
    assert _data_writes(e2e)[0].fault == fault.split()[0]
    assert first.returncode in (0, 1), first.stderr
    if first.returncode == 1:
        assert "next sync" in first.stderr, first.stderr
        e2e.google.world.clear_log()
        second = e2e.cli("--once")
        codes.append(second.returncode)
        writes.append(len(_writes(e2e)))
        assert second.returncode == 0, second.stderr
    print(f"\n{fault} on {write}: exit codes {codes}, batchUpdates {writes}, "
          f"{time.monotonic() - started:.1f} s")
    _as_in_wandb(e2e)
    loss = e2e.sheet()[0].index("loss")
    sheet = next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == "runs")
    expected = [("best", loss, _best(loss, "MIN"))] if "HIGHLIGHT" in config else []
    assert _rules(sheet) == expected
    _writes_nothing(e2e)


def test_a_write_that_grows_the_grid_and_loses_its_answer_grows_it_once(e2e):
    _appended(e2e, {})  # the tool sized both grids to their rows: 11 each; the 5 new runs need 5 more
    e2e.google.world.clear_log()
    e2e.google.world.arm("drop_after", path=":batchUpdate", body_lacks=google_lease.PREFIX)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    _as_in_wandb(e2e)
    sheets = e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets
    grown = {s.title: s.rows for s in sheets if s.title != "Sheet1"}
    assert grown == {"runs": 16, base_title("runs"): 16}, f"{len(_writes(e2e))} batchUpdates"
