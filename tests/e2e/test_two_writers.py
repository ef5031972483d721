"""Two syncs of one worksheet at once (a cron that overlaps itself, a rolling update's two pods): two real CLI
processes against one fake spreadsheet, with Google applying their writes late and in the order each case
chooses. Whatever the interleaving, in every ORDER: no run twice, no value in another run's row, no run lost,
no header twice, and the next sync accepts the sheet and writes nothing.

The fake holds a write until what the case waits for has been seen (a "gate": both checks read, the other
process's write landed), never for a time; a gate's bound (GATE seconds) is reached only when the other process
never gets there, which is what the lease makes of these cases: the second sync waits for the first.
WSS_TWO_WRITER_TRIALS=N runs each interleaving N times (1 in `make test`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections import Counter

import pytest

from wandb_sheet_sync.sinks import google_lease
from tests.e2e.test_google_edges import _writes

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process

GATE = 6.0  # seconds a held write waits at most for what its case waits for
NEWER = dt.datetime(2026, 2, 1)
ORDERS = ["append", "newest_first"]
TRIALS = range(int(os.environ.get("WSS_TWO_WRITER_TRIALS", "1")))


def _data_write(r) -> bool:
    return r.path.endswith(":batchUpdate") and google_lease.PREFIX not in json.dumps(r.body or {}) \
        and not _release(r)


def _release(r) -> bool:
    reqs = (r.body or {}).get("requests") or [] if isinstance(r.body, dict) else []
    return len(reqs) == 1 and "deleteSheet" in reqs[0]


def _checks_seen(n: int):
    return lambda world: sum(1 for r in world.log if r.path.endswith("/values:batchGet")) >= n


def _opened(n: int):
    """n spreadsheets.get of the metadata seen: both syncs have looked for the worksheet (a first sync reads no
    values: there are none)."""
    return lambda world: sum(1 for r in world.log if r.method == "GET" and r.path.count("/") == 3
                             and r.path.startswith("/v4/spreadsheets/")) >= n


def _a_write_landed(world) -> bool:
    return any(_data_write(r) and r.status == 200 for r in world.log)


def _gate(e2e, until, count: int = 1) -> None:
    e2e.google.world.arm("gate", count=count, path=":batchUpdate", body_contains="updateCells",
                         body_lacks=google_lease.PREFIX, gate=until,
                         delay=GATE)


def _setup(e2e, order: str, **config) -> None:
    e2e.wandb.world.generate(10)
    e2e.config(ORDER=order, **config)
    first = e2e.cli("--once")
    assert first.returncode == 0, first.stderr
    e2e.wandb.world.generate(30, seed=1, start=NEWER)
    later = NEWER + dt.timedelta(days=30)
    for i, run in enumerate(e2e.wandb.world.project("alice", "proj")[:5]):
        run.summary["loss"] = 100.0 + i
        run.heartbeat_at = later
    e2e.google.world.clear_log()


def _both(e2e, *args: str, stagger=None) -> list[int]:
    """Two processes of the same command; `stagger` (a callable) runs between the first's start and the second's."""
    first = e2e.start("--once", *args)
    if stagger is not None:
        stagger(first)
    second = e2e.start("--once", *args)
    codes = []
    for p in (first, second):
        try:
            codes.append(p.proc.wait(timeout=180))
        finally:
            p.stop()
    for p in (first, second):
        print(p.text[-600:])
    return codes


def left(e2e) -> Counter:
    """What the sheet shows, counted: rows beyond a run's first, runs missing, rows holding another run's value or
    a wrong one, headers twice; and `refused` when the next sync will not take the sheet (or wrote something)."""
    grid = e2e.sheet()
    header = grid[0]
    out = Counter(headers_twice=len(header) - len({h for h in header if h}) - header.count(""))
    key = header.index("run_id")
    ids = [row[key] for row in grid[1:] if key < len(row) and row[key]]
    out["duplicates"] = len(ids) - len(set(ids))
    runs = e2e.wandb.world.project("alice", "proj")
    out["lost"] = len({r.name for r in runs} - set(ids))
    col = {h: i for i, h in enumerate(header) if header.count(h) == 1}
    for row in grid[1:]:
        if key >= len(row) or not row[key]:
            continue
        run = next((r for r in runs if r.name == row[key]), None)
        if run is None:
            out["misplaced"] += 1
            continue
        want = {"run_name": run.display_name, "state": run.state, "loss": run.summary.get("loss"),
                "lr": run.config.get("lr"), **{k: v for k, v in run.summary.items() if k.endswith("_new0")},
                **{k: v for k, v in run.config.items() if k.endswith("_new0")}}
        for h, v in want.items():
            got = row[col[h]] if h in col and col[h] < len(row) else None
            v = float(f"{v:.15g}") if isinstance(v, float) else v
            if got != v and not (got in ("", None) and v is None):
                out["misplaced"] += 1
                break
    e2e.google.world.disarm()
    e2e.google.world.clear_log()
    after = e2e.cli("--once")
    if after.returncode != 0 or [w for w in _writes(e2e)]:
        out["refused"] += 1
        print("next sync:", after.returncode, after.stdout[-300:], after.stderr[-300:], len(_writes(e2e)))
    return +out


def _report(case: str, order: str, codes: list[int], found: Counter) -> None:
    print(f"\n{case} [{order}]: exit codes {codes}; left {dict(found) or 'nothing wrong'}")


def _both_clean(e2e, case: str, order: str, codes: list[int]) -> None:
    """What the two syncs left, printed for the closing note's table: both exit 0, nothing duplicated, misplaced,
    lost or refused."""
    found = left(e2e)
    _report(case, order, codes, found)
    assert codes == [0, 0] and found == Counter()


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("order", ORDERS)
def test_check_check_write_write_leaves_one_row_a_run(e2e, order, trial):
    _setup(e2e, order)
    _gate(e2e, _checks_seen(4), count=2)  # each write waits for both syncs' checks (a read and a check each)
    codes = _both(e2e)
    _both_clean(e2e, "check, check, write, write", order, codes)


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("order", ORDERS)
def test_writes_applied_in_reverse_order_leave_one_row_a_run(e2e, order, trial):
    _setup(e2e, order)
    _gate(e2e, _a_write_landed)  # the first write to arrive lands only after the other one
    _gate(e2e, _checks_seen(4))
    codes = _both(e2e)
    _both_clean(e2e, "writes in reverse order", order, codes)


def _new_keys_meanwhile(e2e):
    """Once the first sync's write is on its way (it read W&B), W&B gains keys: the second sync sees them."""
    def between(first) -> None:
        deadline = time.monotonic() + 60
        while not any(r.fault == "gate" for r in e2e.google.world.log):
            assert first.proc.poll() is None and time.monotonic() < deadline, first.text
            time.sleep(0.02)
        runs = e2e.wandb.world.project("alice", "proj")
        with e2e.wandb.world.lock:
            runs[0].summary["z_new0"] = 7.5
            runs[1].config["a_new0"] = 3
            for run in runs[:2]:
                run.heartbeat_at = NEWER + dt.timedelta(days=60)
    return between


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("order", ORDERS)
def test_two_syncs_that_saw_different_wandb_data_write_each_header_once(e2e, order, trial):
    _setup(e2e, order)
    _gate(e2e, _a_write_landed)  # the first sync's write (older W&B data) lands after the second's
    codes = _both(e2e, stagger=_new_keys_meanwhile(e2e))
    _both_clean(e2e, "different W&B data, writes reversed", order, codes)


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("order", ORDERS)
def test_two_syncs_repairing_the_same_duplicates_delete_no_real_row(e2e, order, trial):
    _setup(e2e, order)
    ss = e2e.google.world.spreadsheets[e2e.spreadsheet_id]
    sheet = next(s for s in ss.sheets if s.title == "runs")
    with e2e.google.world.lock:  # three rows the tool wrote twice (a write that landed twice, before)
        last = sheet.last_data_row()
        for i, r in enumerate((1, 3, 5)):
            for c, cell in list((sheet.cells.get(r) or {}).items()):
                sheet.put(last + 1 + i, c, cell)
        sheet.rows = max(sheet.rows, last + 4)
    _gate(e2e, _checks_seen(4), count=2)
    codes = _both(e2e)
    _both_clean(e2e, "both repairing duplicates", order, codes)


def test_first_syncs_into_a_missing_worksheet_at_once_make_it_once(e2e):
    e2e.wandb.world.generate(20)
    e2e.config()
    _gate(e2e, _opened(2), count=2)
    codes = _both(e2e)
    found = left(e2e)
    titles = [s.title for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets]
    _report("two first syncs", "append", codes, found)
    assert codes == [0, 0] and found == Counter()
    assert titles.count("runs") == 1 and not [t for t in titles if t.startswith(google_lease.PREFIX)]


def test_two_loops_side_by_side(e2e):
    """Two loops started together (a rolling update): both first syncs meet as check, check, write, write."""
    _setup(e2e, "append", SCHEDULE_TIME=60)
    _gate(e2e, _checks_seen(4), count=2)
    loops = [e2e.start(), e2e.start()]
    try:
        for loop in loops:
            assert loop.wait_for("synced", 120) or loop.wait_for("skipped", 1), loop.text
    finally:
        codes = [loop.stop()[0] for loop in loops]
    _both_clean(e2e, "two loops", "append", codes)


# ---- the lease's own edges ----------------------------------------------------------------------------------

def _plant(e2e, holder: str, expires: float) -> None:
    """A lease another process holds (or held, before it was killed), as the tool writes one."""
    ss = e2e.google.world.spreadsheets[e2e.spreadsheet_id]
    with e2e.google.world.lock:
        ss.batch_update(google_lease.take(google_lease.lease_title("runs"), 4242, holder, expires),
                        e2e.google.world.rng)


def test_a_live_lease_makes_a_sync_wait_then_skip_with_one_line_and_exit_0(e2e):
    _setup(e2e, "append", LEASE_WAIT_SECONDS=1)
    _plant(e2e, "other-host:1234:abcdef", 4102444800)  # in 2100: alive
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    skipped = [line for line in (result.stdout + result.stderr).splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "other-host:1234:abcdef" in skipped[0], result.stdout + result.stderr
    assert [w for w in _writes(e2e) if _data_write(w)] == []  # only its tries at the lease


def test_an_expired_lease_of_a_killed_sync_is_taken_over(e2e):
    _setup(e2e, "append")
    _plant(e2e, "killed-host:99:000000", 1.0)  # ended long ago
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert "30 new" in result.stdout + result.stderr
    titles = [s.title for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets]
    assert not [t for t in titles if t.startswith(google_lease.PREFIX)]  # taken over, then given back


def test_a_killed_holder_blocks_no_longer_than_its_lease(e2e):
    _setup(e2e, "append", LEASE_SECONDS=5, LEASE_WAIT_SECONDS=60)
    e2e.google.world.arm("hold", delay=60, path=":batchUpdate", body_lacks=google_lease.PREFIX)
    killed = e2e.start("--once")
    deadline = time.monotonic() + 60
    while not any(r.fault == "hold" for r in e2e.google.world.log):
        assert killed.proc.poll() is None and time.monotonic() < deadline, killed.text
        time.sleep(0.02)
    killed.stop(signal.SIGKILL)
    e2e.google.world.disarm()
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert left(e2e) == Counter()


@pytest.mark.parametrize("order", ORDERS)
def test_one_sync_repairing_duplicates_while_adding_rows_deletes_after_its_new_rows(e2e, order):
    """Found by the case above with one writer alone: the deletions of repeated rows went before the new rows of
    the same request, so they named rows that were not there yet (400, and the sheet refused for good)."""
    _setup(e2e, order)
    ss = e2e.google.world.spreadsheets[e2e.spreadsheet_id]
    sheet = next(s for s in ss.sheets if s.title == "runs")
    with e2e.google.world.lock:
        last = sheet.last_data_row()
        for c, cell in list((sheet.cells.get(2) or {}).items()):
            sheet.put(last + 1, c, cell)
        sheet.rows = max(sheet.rows, last + 2)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert left(e2e) == Counter()
