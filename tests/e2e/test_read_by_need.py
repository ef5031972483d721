"""Issue 24: a sync reads what it needs of the sheet, and a first sync streams.

The real sink and source against the fake Google and W&B; every assertion is a count (requests, ranges, cells),
never a time. The reads of a sync, in order (sinks/google_read.py): the head (header row and the base's row 0),
then only if W&B brought something, the places (key column, the base's run ids), then the rows of the runs it
merges; the whole grid, in pieces, only when a sync merges most of the rows.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest

from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink
from wandb_sheet_sync.sources.wandb_api import WandbSource
from wandb_sheet_sync.sync import SyncMemory, sync


def _clients(e2e, **settings):
    settings = e2e.settings(**settings)
    sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, 5, threading.Event(),
                            retry_base=settings.retry_base_seconds)
    return settings, sink


def _once(e2e, settings, sink):
    """A sync as a --once makes it: a fresh source and no memory (what was read lives in the sheet's base)."""
    return sync(WandbSource(settings), sink, settings, SyncMemory())


def _values_reads(e2e):
    return [r for r in e2e.google.world.sheets_requests() if r.is_sheets_read and "values" in r.path]


def _ranges(request) -> list[str]:
    if "ranges" in request.query:
        return request.query["ranges"]
    return [f.get("a1Range") for f in (request.body or {}).get("dataFilters", [])]


def _change(e2e, indexes, loss):
    runs = e2e.wandb.world.project("alice", "proj")
    latest = max(r.heartbeat_at for r in runs)
    for i in indexes:
        runs[i].summary["loss"] = loss
        runs[i].heartbeat_at = latest + dt.timedelta(minutes=5)


def test_a_sync_with_nothing_to_write_reads_the_head_alone(e2e):
    e2e.wandb.world.generate(300)
    settings, sink = _clients(e2e)
    _once(e2e, settings, sink)
    _once(e2e, settings, sink)  # the state settles (the runs read last time are no longer "fresh")
    e2e.google.world.clear_log()
    quiet = _once(e2e, settings, sink)
    reads = _values_reads(e2e)
    assert [_ranges(r) for r in reads] == [["'runs'!1:1", "'_sync_base runs'!1:1"]]
    assert quiet.sheets_writes == 0 and quiet.total("updated") == 0


def test_a_changed_sync_reads_the_places_and_only_the_rows_it_merges(e2e):
    e2e.wandb.world.generate(600)
    settings, sink = _clients(e2e)
    _once(e2e, settings, sink)
    _once(e2e, settings, sink)
    _change(e2e, [10, 11, 400], 0.125)
    e2e.google.world.clear_log()
    changed = _once(e2e, settings, sink)
    assert changed.total("updated") == 3
    reads = [_ranges(r) for r in _values_reads(e2e)]
    # head; places; the rows (two spans: 10-11 and 400, under the header) and their base rows, and the rows under
    # the table (none: the grid ends at the last run); then the check (header, the grid's last row, the same spans)
    assert reads[0] == ["'runs'!1:1", "'_sync_base runs'!1:1"]
    assert reads[1] == ["'runs'!A:A", "'_sync_base runs'!A2:A"]
    assert reads[2] == ["'runs'!12:13", "'runs'!402:402", "'_sync_base runs'!12:13", "'_sync_base runs'!402:402"]
    assert reads[3] == ["'runs'!1:1", "'runs'!A601:A", "'runs'!12:13", "'runs'!402:402"]
    assert len(reads) == 4
    rows = e2e.rows()
    assert [rows[r.name]["loss"] for r in e2e.wandb.world.project("alice", "proj")[9:12]] != [0.125] * 3
    assert sum(1 for row in rows.values() if row["loss"] == 0.125) == 3


def test_a_full_read_arrives_in_pieces_none_over_the_cells_it_may_carry(e2e):
    """A sheet with no base to read by (a person deleted the hidden tab) is read whole, in pieces: with a budget of
    500 cells a read, a 200-run sheet arrives in several reads, each asking for at most 500 cells."""
    e2e.wandb.world.generate(200)
    settings, sink = _clients(e2e)
    _once(e2e, settings, sink)
    grid = e2e.sheet()
    ss = e2e.google.world.spreadsheets[e2e.spreadsheet_id]
    ss.sheets = [s for s in ss.sheets if s.title != "_sync_base runs"]  # a person deletes the hidden base
    sink = _clients(e2e)[1]
    sink.read_cells = 500
    e2e.google.world.clear_log()
    adopted = _once(e2e, settings, sink)
    width = len(grid[0])
    rows = re.compile(r"^'runs'!(\d+):(\d+)$")
    log = e2e.google.world.sheets_requests()
    first_write = next(i for i, r in enumerate(log) if r.is_sheets_write)
    before = [r for r in log[:first_write] if r.is_sheets_read and "values" in r.path][1:]  # past the head
    pieces = [[rows.match(a) for a in _ranges(r)] for r in before]
    pieces = [[(int(m.group(1)), int(m.group(2))) for m in p if m] for p in pieces if any(p)]
    assert len(pieces) >= len(grid) * width // 500 and pieces[0][0][0] == 1
    covered = sorted(r for p in pieces for a, b in p for r in range(a, b + 1))
    assert covered == list(range(1, len(grid) + 1))  # every row once
    for p in pieces:
        assert sum(b - a + 1 for a, b in p) * width <= 500 or len(p) == 1
    assert adopted.total("new") == 0 and e2e.sheet() == grid  # adopted as it was: nothing written twice


def test_a_first_sync_streams_writing_each_page_as_it_arrives_and_the_read_state_last(e2e):
    e2e.wandb.world.generate(450)
    settings, sink = _clients(e2e, PER_PAGE=100)
    e2e.google.world.clear_log()
    first = _once(e2e, settings, sink)
    assert first.total("new") == 450 and first.targets[0].pages >= 5
    writes = [r for r in e2e.google.world.sheets_requests() if r.is_sheets_write]
    data = [w for w in writes if "_sync_lease" not in str(w.body)[:4000] or "appendCells" in str(w.body)]
    assert len(data) >= 5  # a write a page (each with its rows' base rows), not one write after the last page
    rows = e2e.rows()
    assert len(rows) == 450 and sorted(rows) == sorted(r.name for r in e2e.wandb.world.project("alice", "proj"))
    e2e.google.world.clear_log()
    again = _once(e2e, settings, sink)
    assert again.total("new") == again.total("updated") == 0


def test_a_column_moved_before_the_key_column_between_the_head_and_the_places_moves_no_run(e2e):
    """The head said where the run ids are; a person then moves a column in front of them. The places read must not
    take that column for the run ids: the sync reads again, and every run lands once, in its own row."""
    e2e.wandb.world.generate(3)
    settings, sink = _clients(e2e)
    _once(e2e, settings, sink)
    e2e.wandb.world.generate(3, seed=2)
    header = e2e.sheet()[0]
    e2e.google.world.arm_person(e2e.spreadsheet_id, "move_column", after="values:batchGet", sheet="runs",
                                column=header[-1], to=0)
    _once(e2e, settings, sink)
    rows = e2e.rows()
    assert sorted(rows) == sorted(r.name for r in e2e.wandb.world.project("alice", "proj"))
    assert len(e2e.sheet()) == 7


@pytest.mark.slow
def test_many_scattered_rows_are_read_by_data_filter_in_one_request(e2e):
    """Rows of 445 runs spread over 4,000 make a URL too long for values.batchGet (the fake, like Google's front
    end, refuses one over 8 KB): they go in one values:batchGetByDataFilter, and every run lands in its row."""
    e2e.wandb.world.generate(4000)
    settings, sink = _clients(e2e, PER_PAGE=1000, REQUEST_TIMEOUT=60)
    _once(e2e, settings, sink)
    _once(e2e, settings, sink)
    changed = list(range(0, 4000, 9))
    _change(e2e, changed, 0.0625)
    e2e.google.world.clear_log()
    report = _once(e2e, settings, sink)
    assert report.total("updated") == len(changed)
    posts = [r for r in e2e.google.world.sheets_requests() if r.path.endswith("values:batchGetByDataFilter")]
    assert len(posts) >= 1 and all(len(r.body["dataFilters"]) > 400 for r in posts)
    assert not [r for r in e2e.google.world.sheets_requests() if r.status >= 400]
    rows = e2e.rows()
    runs = e2e.wandb.world.project("alice", "proj")
    assert [rows[runs[i].name]["loss"] for i in changed] == [0.0625] * len(changed)
    assert sum(1 for row in rows.values() if row["loss"] == 0.0625) == len(changed)
