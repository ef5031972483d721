"""The real sync against a sink written from wandb_sheet_sync/sinks/__init__.py alone (tests/fakes/memory_sink.py)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import pytest

from wandb_sheet_sync.errors import OutcomeUnknown, SyncError
from wandb_sheet_sync.merge import MergeSettings, apply, merge
from wandb_sheet_sync.run import Run
from wandb_sheet_sync.sources.increments import ReadState
from wandb_sheet_sync.sync import sync
from tests.settings import settings_for
from tests.fakes.memory_sink import MemorySink
from tests.fakes.memory_source import MemorySource

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
SHEET = "runs"


def run(i: int, loss: float, **fields) -> Run:
    return Run(id=f"r{i}", name=f"name-{i}", state="finished", created_at=T0 + dt.timedelta(hours=i),
               summary={"loss": loss}, config={"lr": 0.1}, **fields)


def rows_by_id(grid):
    header = grid[0]
    key = header.index("run_id")
    return {row[key]: dict(zip(header, row)) for row in grid[1:]}


def col(grid, name):
    return grid[0].index(name)


def test_first_sync_adds_every_run_and_second_writes_nothing(tmp_path):
    settings = settings_for(tmp_path / "x.xlsx", tmp_path)
    source, sink = MemorySource([run(i, 1.0 / (i + 1)) for i in range(3)]), MemorySink()

    first = sync(source, sink, settings)
    assert first.total("new") == 3 and first.total("updated") == 0
    grid = copy.deepcopy(sink.sheets[SHEET])
    assert set(rows_by_id(grid)) == {"r0", "r1", "r2"}
    assert rows_by_id(grid)["r1"]["loss"] == 0.5
    base = copy.deepcopy(sink.bases)
    applies = sink.applies

    second = sync(source, sink, settings)
    assert second.total("new") == 0 and second.total("updated") == 0
    assert sink.sheets[SHEET] == grid
    assert sink.bases == base
    assert sink.applies == applies  # nothing was applied at all


def test_person_edit_in_synced_cell_survives_metric_update(tmp_path):
    settings = settings_for(tmp_path / "x.xlsx", tmp_path)
    source, sink = MemorySource([run(0, 0.9), run(1, 0.8)]), MemorySink()
    sync(source, sink, settings)

    grid = sink.sheets[SHEET]
    r0 = next(r for r, row in enumerate(grid) if row[col(grid, "run_id")] == "r0")
    grid[r0][col(grid, "run_name")] = "renamed by a person"  # a cell the tool wrote

    source.runs[0] = run(0, 0.1)  # the run logs a new loss; its name is unchanged at W&B
    report = sync(source, sink, settings)

    assert report.total("updated") == 1
    rows = rows_by_id(sink.sheets[SHEET])
    assert rows["r0"]["run_name"] == "renamed by a person"
    assert rows["r0"]["loss"] == 0.1
    assert rows["r1"]["loss"] == 0.8 and rows["r1"]["run_name"] == "name-1"


def test_sorted_sheet_still_matches_rows_by_run_id(tmp_path):
    settings = settings_for(tmp_path / "x.xlsx", tmp_path)
    source, sink = MemorySource([run(i, 0.5 + i / 10) for i in range(4)]), MemorySink()
    sync(source, sink, settings)

    grid = sink.sheets[SHEET]
    loss = col(grid, "loss")
    grid[1:] = sorted(grid[1:], key=lambda row: row[loss], reverse=True)  # a person sorts by loss, descending
    assert [row[col(grid, "run_id")] for row in grid[1:]] == ["r3", "r2", "r1", "r0"]
    before = copy.deepcopy(grid)

    source.runs[1] = run(1, 0.01)
    report = sync(source, sink, settings)

    assert report.total("new") == 0 and report.total("updated") == 1
    after = sink.sheets[SHEET]
    assert [row[col(after, "run_id")] for row in after[1:]] == ["r3", "r2", "r1", "r0"]  # order kept
    assert after[3][loss] == 0.01  # r1's row, where the person moved it
    changed = [(r, c) for r, row in enumerate(after) for c, v in enumerate(row) if before[r][c] != v]
    assert changed == [(3, loss)]


def test_duplicate_run_id_is_refused_naming_both_rows_and_nothing_written(tmp_path):
    settings = settings_for(tmp_path / "x.xlsx", tmp_path)
    source, sink = MemorySource([run(0, 0.9), run(1, 0.8), run(2, 0.7)]), MemorySink()
    sync(source, sink, settings)

    grid = sink.sheets[SHEET]
    grid[4 - 1][col(grid, "run_id")] = "r0"  # sheet row 4 (r2's) now also says r0, like sheet row 2
    source.runs = [run(0, 0.1), run(1, 0.2), run(2, 0.3), run(3, 0.4)]
    sheets, bases, applies = copy.deepcopy(sink.sheets), copy.deepcopy(sink.bases), sink.applies

    with pytest.raises(SyncError) as caught:
        sync(source, sink, settings)

    message = str(caught.value)
    assert "r0" in message and "2" in message and "4" in message, message
    assert "rows 2 and 4" in message, message
    assert sink.sheets == sheets and sink.bases == bases and sink.applies == applies


def test_newest_first_update_and_new_row_land_in_their_rows(tmp_path):
    """Not asked for: checks a point the contract leaves open (are update rows counted before the insert?)."""
    settings = settings_for(tmp_path / "x.xlsx", tmp_path, order="newest_first")
    source, sink = MemorySource([run(0, 0.9), run(1, 0.8)]), MemorySink()
    sync(source, sink, settings)

    source.runs = [run(0, 0.1), run(1, 0.8), run(2, 0.7)]
    report = sync(source, sink, settings)

    assert report.total("new") == 1 and report.total("updated") == 1
    grid = sink.sheets[SHEET]
    assert grid[1][col(grid, "run_id")] == "r2"  # the new run right under the header
    rows = rows_by_id(grid)
    assert rows["r0"]["loss"] == 0.1 and rows["r1"]["loss"] == 0.8 and rows["r2"]["loss"] == 0.7
    assert len(grid) == 4


def test_summary_tabs_through_a_sink_written_from_the_contract(tmp_path):
    from wandb_sheet_sync.run import Sweep
    from wandb_sheet_sync.sync import SyncMemory

    config_ = {"metric": {"name": "loss", "goal": "maximize"}, "parameters": {"bs": {"values": [16, 32]}}}
    runs = [dataclasses.replace(run(i, loss, sweep="sw", group="g"), config={"bs": 16 * (i + 1)})
            for i, loss in enumerate([0.5, 0.9])]
    source = MemorySource(runs, [Sweep("sw", "my sweep", "grid", "FINISHED", config_)])
    sink = MemorySink()
    settings = settings_for(tmp_path / "x.xlsx", tmp_path, summaries=("sweeps", "groups"), group_metrics=("loss",))
    history = SyncMemory()
    sync(source, sink, settings, history)
    sweeps = {r[0]: dict(zip(sink.sheets["runs sweeps"][0], r)) for r in sink.sheets["runs sweeps"][1:]}
    assert (sweeps["sw"]["best_run"], sweeps["sw"]["best_value"], sweeps["sw"]["bs"]) == ("r1", 0.9, 32)
    groups = sink.sheets["runs groups"]
    assert dict(zip(groups[0], groups[1]))["loss mean"] == 0.7
    assert set(sink.bases) == {sink.base_title(t) for t in ("runs", "runs sweeps", "runs groups")}
    groups[1][groups[0].index("loss mean")] = "see notes"  # a person's edit
    applies = sink.applies
    again = sync(source, sink, settings, history)
    assert sink.applies == applies and again.targets[0].tabs["runs groups"].counts.kept_edits == 1
    assert source.sweep_requests == 1  # a finished sweep is asked about once in a process (summaries.Remembered)


def _plan(sink: MemorySink, runs: dict[str, float], since: str):
    """A plan for the runs tab on the sink's worksheet as it stands, holding a read state that says `since`."""
    (snap,) = sink.read([SHEET])
    rows = [{"run_id": run_id, "loss": loss} for run_id, loss in runs.items()]
    return snap, merge(snap.grid, snap.base, rows, MergeSettings(headers=("run_id", "loss")),
                       read_state=ReadState(since=since, seen=since, full_at=1.0))


@pytest.mark.parametrize("cut", range(4))
@pytest.mark.parametrize("sink_of", [lambda: MemorySink(split=True), MemorySink], ids=["split", "whole"])
def test_the_read_state_lands_only_after_the_cells_it_speaks_of(sink_of, cut):
    """The contract's clause 3: a write cut at any step never leaves a stored read state newer than the cells, or
    the next sync would take the runs for read and never write them."""
    sink = sink_of()
    sink.apply([_plan(sink, {"r0": 0.5, "r1": 0.4}, "2026-01-01T00:00:00")])
    snap, plan = _plan(sink, {"r0": 0.1, "r1": 0.4, "r2": 0.3}, "2026-02-01T00:00:00")
    assert plan.writes_cells and plan.base_changed
    sink.cut_after = sink.steps + cut
    try:
        sink.apply([(snap, plan)])
    except OutcomeUnknown:
        pass
    (after,) = sink.read([SHEET])
    state = ReadState.from_json(after.base.read_state)
    landed = rows_by_id(after.grid)
    if state.since == "2026-02-01T00:00:00":
        assert landed == rows_by_id(apply(snap.grid, plan)), "the read state landed before the cells it speaks of"
        assert dict(after.base.runs) == dict(plan.base.runs)
    else:
        assert state.since == "2026-01-01T00:00:00"  # the old state: the next sync reads these runs again
