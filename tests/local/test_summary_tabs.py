"""The sweeps and groups tabs in .xlsx and .csv, from real offline runs (wandb.init(mode="offline") with a sweep id):
the right best run for a minimize and a maximize sweep, group means and sample standard deviations, an offline
sweep without its config said in the tab, and hand edits, a person's column and row, sorting and deleted rows kept
as on the runs tab."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import openpyxl
import pytest

from wandb_sheet_sync.sinks.local import CsvSink, XlsxSink, base_title
from wandb_sheet_sync.sources.local import LocalSource
from wandb_sheet_sync.sync import SyncMemory, sync
from tests.settings import settings_for
from tests.fakes.offline_runs import RunSpec, make_runs
from tests.local.test_files import write_grid

MIN_SWEEP = {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
             "parameters": {"lr": {"values": [0.1, 0.01]}, "seed": {"values": [1, 2, 3]}}}
MAX_SWEEP = {"method": "random", "metric": {"name": "val_acc", "goal": "maximize"},
             "parameters": {"lr": {"values": [0.1, 0.01]}, "seed": {"values": [1, 2, 3]}}}


def spec(name, sweep, group, lr, seed, val_loss, val_acc=0.5, exit_code=0):
    # the best value is not the last one logged: the tab reads the summary, which the run sets at the end
    return RunSpec(project="tabs", name=name, sweep=sweep, group=group, config={"lr": lr, "seed": seed},
                   log=[{"val_loss": val_loss + 1.0, "val_acc": val_acc / 2},
                        {"val_loss": val_loss, "val_acc": val_acc}],
                   exit_code=exit_code)


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """Six offline runs in three sweeps and three groups; sweep configs beside them for two of the sweeps."""
    root = tmp_path_factory.mktemp("tab-runs")
    make_runs(root, [spec("a", "mnsweep", "lr0.1", 0.1, 1, 0.40, 0.80),
                     spec("b", "mnsweep", "lr0.1", 0.1, 2, 0.30, 0.82),
                     spec("c", "mnsweep", "lr0.01", 0.01, 1, 0.25, 0.85),
                     spec("d", "mxsweep", "lr0.01", 0.01, 2, 0.50, 0.70),
                     spec("e", "mxsweep", "solo", 0.1, 3, 0.45, 0.90),
                     spec("f", "offsweep", "solo", 0.1, 1, 0.10, 0.99, exit_code=1)])
    (root / "sweep-mnsweep.yaml").write_text(json.dumps(MIN_SWEEP))  # JSON is YAML too
    import yaml

    (root / "sweep-mxsweep.yaml").write_text(yaml.safe_dump(MAX_SWEEP))
    return root


TABS_CONFIG = {"SUMMARIES": ["sweeps", "groups"], "GROUP_METRICS": ["val_loss", "val_acc"],
               "HIGHLIGHT": {"val_loss": "min"}, "TIMEZONE": "UTC",
               "FIXED_HEADERS": ["run_id", "run_name", "state", "sweep", "group"]}


def copy_runs(root: Path, tmp: Path, only: set[str] | None = None) -> Path:
    """A --source folder holding some of the module's runs (a new run can then appear between syncs)."""
    import shutil

    dest = tmp / "source"
    dest.mkdir(exist_ok=True)
    for item in root.iterdir():
        if item.is_file():
            shutil.copy(item, dest / item.name)
    wandb_dir = dest / "wandb"
    wandb_dir.mkdir(exist_ok=True)
    for folder in (root / "wandb").glob("offline-run-*"):
        if (wandb_dir / folder.name).exists():
            continue
        names = {json_name(f) for f in folder.glob("run-*.wandb")}
        if only is None or names & only:
            shutil.copytree(folder, wandb_dir / folder.name)
    return dest


def json_name(wandb_file: Path) -> str:
    from wandb_sheet_sync.sources.local import parse_run

    run, _ = parse_run(wandb_file)
    return run.name if run else ""


def tab_path(output: Path, tab: str) -> Path:
    return output.with_name(f"{output.stem}.{tab}.csv")


def read_tab(output: Path, title: str) -> list[list]:
    if output.suffix == ".xlsx":
        return [list(r) for r in openpyxl.load_workbook(output)[title].iter_rows(values_only=True)]
    path = output if title == "runs" else tab_path(output, title.split(" ", 1)[1])
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [[v if v != "" else None for v in row] for row in csv.reader(fh)]


def write_tab(output: Path, title: str, grid: list[list]) -> None:
    """A person edits a tab in their spreadsheet program."""
    write_grid(output if output.suffix == ".xlsx" else tab_path(output, title.split(" ", 1)[1]), grid, title)


def keyed(grid: list[list], key: str) -> dict:
    header = [h for h in grid[0]]
    k = header.index(key)
    return {row[k]: dict(zip(header, row)) for row in grid[1:] if k < len(row) and row[k] not in (None, "")}


def num(value) -> float | None:
    return None if value in (None, "") else float(value)


@pytest.fixture(params=["xlsx", "csv"])
def output(request, tmp_path) -> Path:
    return tmp_path / f"runs.{request.param}"


def test_sweeps_and_groups_tabs_from_offline_runs(runs_root, output, tmp_path):
    source = copy_runs(runs_root, tmp_path)
    settings = settings_for(output, tmp_path, source, TABS_CONFIG)
    sink = XlsxSink(output) if output.suffix == ".xlsx" else CsvSink(output)
    report = sync(LocalSource(settings), sink, settings, SyncMemory())
    assert report.total("new") == 6 and "summary tabs: 6 new rows" in report.line()

    sweeps = keyed(read_tab(output, "runs sweeps"), "sweep_id")
    ids = {row["run_name"]: run_id for run_id, row in keyed(read_tab(output, "runs"), "run_id").items()}
    mn, mx, off = sweeps["mnsweep"], sweeps["mxsweep"], sweeps["offsweep"]
    assert (mn["best_run"], num(mn["best_value"]), num(mn["lr"]), num(mn["seed"])) == (ids["c"], 0.25, 0.01, 1)
    assert (mn["metric"], mn["goal"], mn["method"]) == ("val_loss", "minimize", "grid")
    assert (num(mn["runs"]), num(mn["finished"]), num(mn["failed"])) == (3, 3, 0)
    assert (mx["best_run"], num(mx["best_value"]), num(mx["lr"]), num(mx["seed"])) == (ids["e"], 0.9, 0.1, 3)
    assert mx["goal"] == "maximize"
    # an offline sweep whose config nobody saved: said in the tab, not a failed sync
    assert "sweep-offsweep.yaml" in off["note"] and off["best_run"] is None and num(off["failed"]) == 1

    groups = keyed(read_tab(output, "runs groups"), "group")
    assert set(groups) == {"lr0.1", "lr0.01", "solo"}
    g = groups["lr0.1"]
    assert math.isclose(num(g["val_loss mean"]), 0.35) and math.isclose(num(g["val_loss std"]),
                                                                       statistics.stdev([0.40, 0.30]))
    assert (num(g["val_loss min"]), num(g["val_loss max"])) == (0.3, 0.4)
    assert math.isclose(num(groups["lr0.01"]["val_acc mean"]), (0.85 + 0.70) / 2)
    solo = groups["solo"]  # its failed run is counted but not averaged
    assert (num(solo["runs"]), num(solo["finished"]), num(solo["val_loss mean"]), solo["val_loss std"]) == \
        (2, 1, 0.45, None)

    if output.suffix == ".xlsx":
        book = openpyxl.load_workbook(output)
        assert {"runs", "runs sweeps", "runs groups"} <= set(book.sheetnames)
        for title in ("runs sweeps", "runs groups"):
            assert book[title].freeze_panes == "A2" and book[base_title(title)].sheet_state == "hidden"
        ws = book["runs groups"]
        col = {c.value: c.column_letter for c in ws[1]}
        rules = {str(cf.sqref): r.formula[0] for cf in ws.conditional_formatting for r in cf.rules}
        m = col["val_loss mean"]
        assert rules == {f"{m}2:{m}1048576": f"AND(ISNUMBER({m}2),{m}2=MIN(${m}$2:${m}$1048576))"}
    else:
        for tab in ("sweeps", "groups"):
            assert tab_path(output, tab).exists()
            assert tab_path(output, tab).with_name(tab_path(output, tab).name + ".sync-base").exists()

    before = {p.name: p.read_bytes() for p in output.parent.glob("runs*")}
    again = sync(LocalSource(settings), sink, settings, SyncMemory())
    assert again.total("new") == 0 and "summary tabs: 0 new rows, 0 updated" in again.line()
    assert {p.name: p.read_bytes() for p in output.parent.glob("runs*")} == before  # nothing written


def test_hand_edits_own_columns_rows_sorting_and_deleted_rows_in_both_tabs(runs_root, output, tmp_path):
    source = copy_runs(runs_root, tmp_path, only={"a", "b", "c", "d", "e"})
    settings = settings_for(output, tmp_path, source, TABS_CONFIG)
    sink = XlsxSink(output) if output.suffix == ".xlsx" else CsvSink(output)
    sync(LocalSource(settings), sink, settings, SyncMemory())

    grid = read_tab(output, "runs sweeps")
    header = grid[0]
    mn = next(r for r in grid if r[0] == "mnsweep")
    mn[header.index("finished")] = "2 + 1 checked"  # a person's value where the tool will write 4
    grid[0] = list(header) + ["comment"]
    next(r for r in grid if r[0] == "mxsweep").extend([None] * (len(header) - len(mn)) + ["look at e"])
    grid.append([None, "Total", None, None, None, None, 5])  # a person's own row, no sweep id
    grid[1:] = grid[1:][::-1]  # sorted
    write_tab(output, "runs sweeps", grid)
    grid = read_tab(output, "runs groups")
    header = grid[0]
    next(r for r in grid if r[0] == "lr0.1")[header.index("val_loss mean")] = "n/a"
    grid = [r for r in grid if r[0] != "solo"]  # deleted by a person
    write_tab(output, "runs groups", grid)

    copy_runs(runs_root, tmp_path)  # run f (offsweep, group solo) appears
    make_runs(source, [spec("g", "mnsweep", "lr0.1", 0.1, 3, 0.20, 0.95)])  # a new best run of mnsweep
    second = sync(LocalSource(settings), sink, settings, SyncMemory())
    assert second.total("new") == 2

    sweeps = keyed(read_tab(output, "runs sweeps"), "sweep_id")
    ids = {row["run_name"]: run_id for run_id, row in keyed(read_tab(output, "runs"), "run_id").items()}
    mn = sweeps["mnsweep"]
    assert (mn["best_run"], num(mn["best_value"]), num(mn["seed"])) == (ids["g"], 0.2, 3)  # moved on
    assert mn["finished"] == "2 + 1 checked" and num(mn["runs"]) == 4  # the edit kept, its neighbour updated
    assert sweeps["mxsweep"]["comment"] == "look at e" and "offsweep" in sweeps
    grid = read_tab(output, "runs sweeps")
    assert any(r[1] == "Total" and r[0] is None for r in grid)  # the person's row, untouched
    assert grid[1][0] == "offsweep" or grid[-1][0] == "offsweep"

    groups = keyed(read_tab(output, "runs groups"), "group")
    assert "solo" not in groups  # deleted rows stay deleted, although run f joined that group
    g = groups["lr0.1"]
    assert g["val_loss mean"] == "n/a" and math.isclose(num(g["val_loss std"]), 0.1)
    assert num(g["runs"]) == 3 and math.isclose(num(g["val_loss min"]), 0.2)
