"""The sweeps and groups tabs on Google Sheets (the real gspread and wandb clients against the fakes): right rows
and links, one GetSweep per sweep and none for a finished one, the tabs riding in the sync's read and write, and a
person's edits, columns, rows, sorting and deletions kept in both tabs."""

from __future__ import annotations

import datetime as dt
import statistics
import threading

from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink
from wandb_sheet_sync.sources.wandb_api import WandbSource
from wandb_sheet_sync.sync import SyncMemory, sync
from tests.fakes.cells import parse_input

MIN_SWEEP = {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
             "parameters": {"lr": {"values": [0.1, 0.01]}, "seed": {"values": [1, 2]}}}
MAX_SWEEP = {"method": "bayes", "metric": {"name": "val_acc", "goal": "maximize"},
             "parameters": {"dropout": {"min": 0.0, "max": 0.5}}}
LOSSES = {"m0": 0.40, "m1": 0.22, "m2": 0.31, "x0": 0.50, "x1": 0.45}
ACCS = {"m0": 0.80, "m1": 0.84, "m2": 0.83, "x0": 0.91, "x1": 0.70}


def world_with_sweeps(w) -> None:
    w.add_sweep(name="mnsweep", config=MIN_SWEEP, display_name="lr x seed", state="FINISHED")
    w.add_sweep(name="mxsweep", config=MAX_SWEEP, state="RUNNING")
    for i, (name, cfg, group, sweep) in enumerate([
            ("m0", {"lr": 0.1, "seed": 1}, "lr0.1", "mnsweep"), ("m1", {"lr": 0.01, "seed": 1}, "lr0.01", "mnsweep"),
            ("m2", {"lr": 0.1, "seed": 2}, "lr0.1", "mnsweep"), ("x0", {"dropout": 0.2}, "drop", "mxsweep"),
            ("x1", {"dropout": 0.4}, "drop", "mxsweep")]):
        # the running sweep's runs are old
        when = dt.datetime(2026, 1, 1) if sweep == "mnsweep" else dt.datetime(2025, 12, 1)
        w.add_run(name=name, sweep=sweep, group=group, config=cfg, state="finished",
                  summary={"val_loss": LOSSES[name], "val_acc": ACCS[name]},
                  created_at=when + dt.timedelta(minutes=i), heartbeat_at=when + dt.timedelta(minutes=i + 5))


def clients(e2e):
    settings = e2e.settings(SUMMARIES=["sweeps", "groups"], GROUP_METRICS=["val_loss"], HIGHLIGHT={"val_loss": "min"})
    source = WandbSource(settings)
    sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, 5, threading.Event(),
                            retry_base=settings.retry_base_seconds)
    return settings, source, sink


def keyed(e2e, title: str, key: str) -> dict[str, dict]:
    grid = e2e.sheet(title)
    header = grid[0]
    k = header.index(key)
    return {row[k]: {h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h}
            for row in grid[1:] if k < len(row) and row[k]}


def sheet_of(e2e, title: str):
    return next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == title)


def replace(e2e, title: str, grid: list[list]) -> None:
    """A person rewrites the tab (edits, sorts, adds and deletes rows and columns)."""
    sheet = sheet_of(e2e, title)
    sheet.cells.clear()
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if v not in (None, ""):
                sheet.put(r, c, parse_input(v, False, None))
    sheet.cols = max(sheet.cols, max(len(r) for r in grid))
    sheet.rows = max(sheet.rows, len(grid))  # a person's row below the table grows the grid, as in the UI


def test_tabs_name_the_best_runs_and_group_statistics_with_links(e2e):
    world_with_sweeps(e2e.wandb.world)
    settings, source, sink = clients(e2e)
    report = sync(source, sink, settings, SyncMemory())
    assert e2e.wandb.world.operations().count("GetSweep") == 2  # one per sweep
    sweeps = keyed(e2e, "runs sweeps", "sweep_id")
    mn, mx = sweeps["mnsweep"], sweeps["mxsweep"]
    assert (mn["best_run"], mn["best_value"], mn["lr"], mn["seed"]) == ("m1", 0.22, 0.01, 1)
    assert (mn["sweep_name"], mn["method"], mn["state"], mn["goal"]) == ("lr x seed", "grid", "FINISHED", "minimize")
    assert (mx["best_run"], mx["best_value"], mx["dropout"], mx["goal"]) == ("x0", 0.91, 0.2, "maximize")
    assert (mn["runs"], mn["finished"], mn["failed"], mn["running"]) == (3, 3, 0, 0)
    groups = keyed(e2e, "runs groups", "group")
    assert groups["lr0.1"]["val_loss mean"] == 0.355 and groups["lr0.1"]["val_loss std"] == \
        float(f"{statistics.stdev([0.40, 0.31]):.15g}")
    assert groups["lr0.01"]["val_loss std"] == "" and groups["drop"]["val_loss min"] == 0.45
    tab = sheet_of(e2e, "runs sweeps")
    header = e2e.sheet("runs sweeps")[0]
    row = next(r for r, cells in enumerate(e2e.sheet("runs sweeps")) if cells and cells[0] == "mnsweep")

    def link(col: str) -> str:
        return tab.get(row, header.index(col)).extra["textFormatRuns"][0]["format"]["link"]["uri"]

    assert link("sweep_id").endswith("/alice/proj/sweeps/mnsweep") and link("best_run").endswith("/alice/proj/runs/m1")
    assert tab.frozen_rows == 1 and sheet_of(e2e, "runs groups").frozen_rows == 1
    assert "summary tabs: 5 new rows" in report.line()


def test_tabs_ride_in_the_syncs_read_and_write_and_finished_sweeps_are_not_asked_again(e2e):
    world_with_sweeps(e2e.wandb.world)
    settings, source, sink = clients(e2e)
    history = SyncMemory()
    sync(source, sink, settings, history)  # first-time set-up
    e2e.google.world.clear_log()
    e2e.wandb.world.clear_log()
    quiet = sync(source, sink, settings, history)
    assert [r.method for r in e2e.google.world.sheets_requests()] == ["GET"]  # all three tabs and bases: one read
    assert quiet.sheets_reads == 1 and quiet.sheets_writes == 0
    # the incremental read brought back the finished sweep's runs (they are within its safety margin): a sweep
    # that is done is not asked about again
    assert "Runs" in e2e.wandb.world.operations() and e2e.wandb.world.operations().count("GetSweep") == 0

    w = e2e.wandb.world
    later = dt.datetime(2026, 2, 1)
    for name, loss in (("m2", 0.10), ("x1", 0.40)):  # a new best in the finished sweep, a change in the running one
        run = w.find("alice", "proj", name)
        run.summary["val_loss"], run.heartbeat_at = loss, later
    run = w.find("alice", "proj", "x1")
    run.summary["val_acc"] = 0.95
    e2e.google.world.clear_log()
    w.clear_log()
    changed = sync(source, sink, settings, history)
    # one read of the runs tab's head and the summary tabs whole, the runs tab's places and the rows of the two runs
    # (issue 24), the write lease (issue 23), one check that nobody moved what the plans name, one write for the
    # three tabs, the lease given back
    assert [r.method for r in e2e.google.world.sheets_requests()] == ["GET"] * 3 + ["POST", "GET", "POST", "POST"]
    assert changed.sheets_reads == 4 and changed.sheets_writes == 2
    assert w.operations().count("GetSweep") == 1  # only the running sweep is asked again
    assert changed.total("updated") == 2 and all(p.counts.updated >= 1 for p in changed.targets[0].tabs.values())
    assert keyed(e2e, "runs sweeps", "sweep_id")["mnsweep"]["best_run"] == "m2"
    assert keyed(e2e, "runs sweeps", "sweep_id")["mxsweep"]["best_run"] == "x1"
    assert keyed(e2e, "runs groups", "group")["lr0.1"]["val_loss min"] == 0.1


def test_hand_edits_own_columns_and_rows_sorting_and_deleted_rows_survive_in_both_tabs(e2e):
    world_with_sweeps(e2e.wandb.world)
    settings, source, sink = clients(e2e)
    sync(source, sink, settings, SyncMemory())
    grid = e2e.sheet("runs sweeps")
    header = list(grid[0])
    grid = [list(r) + [None] * (len(header) - len(r)) for r in grid]
    mn = next(r for r in grid if r[0] == "mnsweep")
    mn[header.index("sweep_name")] = "the lr sweep"  # a person's name for it
    grid[0].append("verdict")
    next(r for r in grid if r[0] == "mxsweep").append("keep going")
    grid.append([None, "all sweeps", None, None, None, None, 5])
    grid[1:] = sorted(grid[1:], key=lambda r: str(r[1]), reverse=True)
    replace(e2e, "runs sweeps", grid)
    grid = e2e.sheet("runs groups")
    header_g = grid[0]
    next(r for r in grid if r[0] == "lr0.1")[header_g.index("val_loss max")] = "outlier removed"
    replace(e2e, "runs groups", [r for r in grid if r[0] != "drop"])

    w = e2e.wandb.world
    w.add_run(name="m3", sweep="mnsweep", group="lr0.1", config={"lr": 0.1, "seed": 2}, state="finished",
              summary={"val_loss": 0.05}, created_at=dt.datetime(2026, 3, 1), heartbeat_at=dt.datetime(2026, 3, 1))
    w.add_run(name="x2", sweep="mxsweep", group="drop", config={"dropout": 0.1}, state="finished",
              summary={"val_acc": 0.5, "val_loss": 0.9}, created_at=dt.datetime(2026, 3, 2),
              heartbeat_at=dt.datetime(2026, 3, 2))
    report = sync(source, sink, settings, SyncMemory())
    assert report.total("new") == 2
    sweeps = keyed(e2e, "runs sweeps", "sweep_id")
    assert sweeps["mnsweep"]["sweep_name"] == "the lr sweep" and sweeps["mnsweep"]["best_run"] == "m3"
    assert sweeps["mnsweep"]["runs"] == 4 and sweeps["mxsweep"]["verdict"] == "keep going"
    assert any(r and r[0] in ("", None) and r[1] == "all sweeps" for r in e2e.sheet("runs sweeps"))
    groups = keyed(e2e, "runs groups", "group")
    assert "drop" not in groups  # deleted by a person: stays deleted though a run joined it
    assert groups["lr0.1"]["val_loss max"] == "outlier removed" and groups["lr0.1"]["val_loss min"] == 0.05
    assert groups["lr0.1"]["runs"] == 3
    tabs = report.targets[0].tabs
    assert tabs["runs sweeps"].counts.kept_edits >= 1 and tabs["runs groups"].counts.deleted_respected == 1


def test_a_write_of_all_three_tabs_whose_answer_is_lost_lands_once(e2e):
    """The tabs' bodies are sent together: when Google applies that write and the answer is lost, the sync reads
    again and finds it landed, so no tab gets a row (or an appended grid row) twice."""
    world_with_sweeps(e2e.wandb.world)
    settings, source, sink = clients(e2e)
    sync(source, sink, settings, SyncMemory())
    w = e2e.wandb.world
    w.add_sweep(name="newsweep", config=MIN_SWEEP, state="RUNNING")
    w.add_run(name="n0", sweep="newsweep", group="fresh", config={"lr": 0.1, "seed": 1}, state="finished",
              summary={"val_loss": 0.3}, created_at=dt.datetime(2026, 4, 1), heartbeat_at=dt.datetime(2026, 4, 1))
    sizes = {s.title: s.rows for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets}
    e2e.google.world.clear_log()
    e2e.google.world.arm("drop_after", path=":batchUpdate")
    report = sync(source, sink, settings, SyncMemory())
    writes = [r for r in e2e.google.world.log if r.is_sheets_write]
    assert writes[0].fault == "drop_after" and report.total("new") in (0, 1)
    for title, key, new in (("runs", "run_id", "n0"), ("runs sweeps", "sweep_id", "newsweep"),
                            ("runs groups", "group", "fresh")):
        grid = e2e.sheet(title)
        ids = [row[grid[0].index(key)] for row in grid[1:]]
        assert ids.count(new) == 1 and len(ids) == len(set(ids)), (title, ids)
        assert sheet_of(e2e, title).rows == sizes[title] + 1  # grown once
    e2e.google.world.clear_log()
    quiet = sync(source, sink, settings, SyncMemory())
    assert quiet.sheets_writes == 0


def test_a_sweep_w_and_b_does_not_know_is_said_in_its_row_not_a_failed_sync(e2e):
    e2e.wandb.world.add_run(name="o0", sweep="gone1234", state="finished", summary={"val_loss": 0.2})
    settings, source, sink = clients(e2e)
    report = sync(source, sink, settings, SyncMemory())
    row = keyed(e2e, "runs sweeps", "sweep_id")["gone1234"]
    assert "W&B has no sweep 'gone1234'" in row["note"] and row["runs"] == 1 and row["best_run"] == ""
    assert report.total("new") == 1 and e2e.wandb.world.operations().count("GetSweep") == 1


def test_running_sweep_runs_read_with_selected_keys_keep_their_metric_and_parameters_in_the_tabs(e2e):
    """DYNAMIC_HEADERS with globs reads a running run with the keys the sheet needs: those of the tabs included
    (the sweep's metric and swept parameters, GROUP_METRICS), though no column of the runs tab shows them."""
    world = e2e.wandb.world
    world_with_sweeps(world)
    for name in ("x0", "x1"):
        world.edit(name, state="running")
    settings = e2e.settings(SUMMARIES=["sweeps", "groups"], GROUP_METRICS=["val_loss"],
                            DYNAMIC_HEADERS={"include": ["other/*"]})
    source = WandbSource(settings)
    sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, 5, threading.Event(),
                            retry_base=settings.retry_base_seconds)
    history = SyncMemory()
    sync(source, sink, settings, history)
    world.heartbeat(["x1"], val_acc=0.95)
    world.clear_log()
    assert not sync(source, sink, settings, history).targets[0].full
    (page,) = [r for r in world.log if "summaryMetrics(keys:" in (r.body or {}).get("query", "")]
    assert {"val_acc", "val_loss"} <= set(page.body["variables"]["summaryKeys"])
    assert "dropout" in page.body["variables"]["configKeys"]
    assert "val_acc" not in e2e.sheet()[0] and "dropout" not in e2e.sheet()[0]
    mx = keyed(e2e, "runs sweeps", "sweep_id")["mxsweep"]
    assert (mx["best_run"], mx["best_value"], mx["dropout"], mx["running"]) == ("x1", 0.95, 0.4, 2)
