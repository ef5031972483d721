"""Issue 24, the W&B side in proportion: between scans (LISTING_SCAN_MINUTES) a sync lists only the runs whose stamps
moved (a `filters` on updatedAt/heartbeatAt), against the fake W&B and the fake Google, counting Runs pages."""

from __future__ import annotations

import itertools
import logging
import threading

import pytest

from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink
from wandb_sheet_sync.sources import Need
from wandb_sheet_sync.sources.wandb_api import WandbSource
from wandb_sheet_sync.sync import SyncMemory, sync
from tests.fakes.wandb_api import FakeClock

FIXED = ["run_id", "run_name", "user", "state", "tags", "notes", "created_at"]


def runs_pages(e2e) -> int:
    return e2e.wandb.world.operations().count("Runs")


def ticks(e2e, **config):
    """The loop's ticks a minute apart on the test's clock, one process (source, sink, memory)."""
    settings = e2e.settings(**{"FIXED_HEADERS": FIXED, **config})
    source = WandbSource(settings)
    sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, 5, threading.Event(),
                            retry_base=settings.retry_base_seconds)
    history, minutes = SyncMemory(), itertools.count()

    def tick():
        e2e.wandb.world.clear_log()
        at = 2e9 + 60.0 * next(minutes)
        return sync(source, sink, settings, history, clock=lambda: at)
    return tick


def test_a_quiet_sync_between_scans_reads_the_changed_runs_listing_and_its_newest_second(e2e):
    e2e.wandb.world.clock = FakeClock()
    e2e.wandb.world.generate(2_500)  # more than a listing page (LIST_PAGE 1,000): a scan is 3 pages
    tick = ticks(e2e, PER_PAGE=1000)
    assert tick().targets[0].full and runs_pages(e2e) == 3
    report = tick()
    assert not report.targets[0].full and report.total("updated") == 0
    # one page of the runs changed since the last read (none but its newest second), and that second read again
    assert runs_pages(e2e) == 2
    filters = [r.body["variables"]["filters"] for r in e2e.wandb.world.log if r.body and "Runs" in r.body["query"]]
    assert "updatedAt" in filters[0] and "heartbeatAt" in filters[0]


def test_changed_runs_are_read_between_scans_and_a_new_run_is_appended(e2e):
    world = e2e.wandb.world
    world.clock = FakeClock()
    world.generate(40)
    tick = ticks(e2e)
    tick()
    world.edit("r00000007", summary={"loss": 0.01}, tags=["best"])
    world.add_run(name="newrun", created_at=world.clock(), heartbeat_at=world.clock())
    report = tick()
    assert not report.targets[0].full and report.total("updated") == 1 and report.total("new") == 1
    assert e2e.rows()["r00000007"]["tags"] == "best" and "newrun" in e2e.rows()
    assert runs_pages(e2e) == 2  # the changed runs' listing, and their reads in full


def test_a_deletion_shows_at_the_first_sync_after_listing_scan_minutes(e2e):
    world = e2e.wandb.world
    world.clock = FakeClock()
    world.generate(20)
    tick = ticks(e2e, LISTING_SCAN_MINUTES=3)
    tick()  # minute 0: a full read, which counts as a scan
    world.delete("r00000004")
    tick(), tick()  # minutes 1 and 2: only changed runs are listed
    assert e2e.rows()["r00000004"]["state"] != "deleted"
    tick()  # minute 3: the scan
    assert e2e.rows()["r00000004"]["state"] == "deleted"


def test_a_ui_edit_that_moves_no_stamp_shows_at_the_next_scan(e2e):
    world = e2e.wandb.world
    world.clock = FakeClock()
    world.updated_moves = False  # an edit moves no stamp
    world.generate(20)
    tick = ticks(e2e, LISTING_SCAN_MINUTES=2)
    tick()
    world.edit("r00000003", display_name="renamed")
    tick()
    assert e2e.rows()["r00000003"]["run_name"] == "run-3"  # between scans nothing says it changed
    tick()
    assert e2e.rows()["r00000003"]["run_name"] == "renamed"


def test_a_scan_merges_only_the_runs_whose_ui_fields_may_have_moved(e2e):
    """A scan lists every run, but merges (and so reads the sheet rows of) only the runs of the UI-field buckets
    whose hash moved since the last scan (increments.UiHashes): a quiet scan reads the sheet's head alone, and a
    stamp-less edit costs its bucket's rows, not the sheet."""
    world = e2e.wandb.world
    world.clock = FakeClock()
    world.updated_moves = False  # an edit moves no stamp
    world.generate(3_000)
    tick = ticks(e2e, LISTING_SCAN_MINUTES=1)
    tick()  # the full read: it records the UI fields' hashes
    e2e.google.world.clear_log()
    quiet = tick()  # a scan, nothing changed
    values = [r for r in e2e.google.world.sheets_requests() if r.is_sheets_read and "values" in r.path]
    # the head, and the base's run ids (a scan finds the runs gone); no run's row was needed
    assert len(values) == 2 and quiet.total("updated") == 0 and quiet.sheets_writes <= 3
    world.edit("r00000003", display_name="renamed", notes="typed in the W&B UI")
    e2e.google.world.clear_log()
    scan = tick()
    assert e2e.rows()["r00000003"]["run_name"] == "renamed" and scan.total("updated") == 1
    rows_read = [r for r in e2e.google.world.sheets_requests() if r.is_sheets_read and "values" in r.path][2]
    asked = rows_read.query.get("ranges") or [f["a1Range"] for f in rows_read.body["dataFilters"]]
    spans = [a.rsplit("!", 1)[1].split(":") for a in asked if a.startswith("'runs'")]
    assert 1 <= sum(int(b) - int(a) + 1 for a, b in spans) <= 20  # the edited run's bucket (~3 of 3,000 runs)


def test_a_run_that_changes_mid_listing_is_read_by_the_next_sync(e2e):
    world = e2e.wandb.world
    world.clock = FakeClock()
    world.generate(30)
    tick = ticks(e2e)
    tick()
    world.heartbeat(["r00000001"], loss=0.5)
    world.after_page(1, lambda w: w.heartbeat(["r00000002"], loss=0.25))  # after the changed runs' listing page
    tick()
    tick()
    rows = e2e.rows()
    assert rows["r00000002"].get("loss") == 0.25 and rows["r00000001"].get("loss") == 0.5


def test_a_server_that_ignores_the_filter_is_seen_and_every_sync_lists_every_run(e2e, caplog):
    world = e2e.wandb.world
    world.clock = FakeClock()
    world.stamp_filters = "ignore"
    world.generate(30)
    tick = ticks(e2e)
    tick()
    with caplog.at_level(logging.WARNING, logger="wandb_spreadsheet_sync"):
        world.delete("r00000005")
        tick()
        assert e2e.rows()["r00000005"]["state"] == "deleted"  # the fallback lists every run: deletions show
        tick()
    said = [r for r in caplog.records if "did not honour the filter" in r.getMessage()]
    assert len(said) == 1
    assert not any("updatedAt" in (r.body.get("variables") or {}).get("filters", "")
                   for r in world.log if r.body)  # the last sync did not try the filter again


@pytest.mark.parametrize("page", [1000, 7])
def test_a_streamed_full_read_comes_page_by_page_and_ends_in_the_same_state(e2e, page):
    world = e2e.wandb.world
    world.clock = FakeClock()
    world.generate(45)
    settings = e2e.settings(FIXED_HEADERS=FIXED, PER_PAGE=page, DYNAMIC_HEADERS=False)
    target = settings.targets[0]
    known = frozenset(f"r00{i:06d}" for i in range(45)) | {"gone1"}
    whole = WandbSource(settings).fetch(target, Need(known=known, headers=tuple(FIXED) + ("loss",), now=5e3))
    streamed = WandbSource(settings).fetch(target, Need(known=known, headers=tuple(FIXED) + ("loss",), now=5e3,
                                                        stream=True))
    assert streamed.runs == [] and streamed.read_state is None
    chunks = list(streamed.pages_of_runs)
    assert len(chunks) == -(-45 // page) and [len(c.runs) for c in chunks][0] == min(45, page)
    assert sorted(r.id for c in chunks for r in c.runs) == sorted(r.id for r in whole.runs)
    assert {r.id: r for c in chunks for r in c.runs} == {r.id: r for r in whole.runs}
    assert streamed.deleted == whole.deleted == ["gone1"]
    assert streamed.read_state.to_json() == whole.read_state.to_json()
    assert streamed.pages == whole.pages
