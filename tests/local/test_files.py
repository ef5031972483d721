"""The .xlsx and .csv outputs: typed cells, hand edits kept, nothing rewritten when nothing changed."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import PatternFill

from wandb_sheet_sync.run import Run
from wandb_sheet_sync.sinks.local import CsvSink, XlsxSink, base_title
from wandb_sheet_sync.sync import sync
from tests.settings import settings_for
from tests.fakes.memory_source import MemorySource as Runs

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc


def run(i: int, **kw) -> Run:
    base = dict(id=f"run{i}", name=f"run-{i}", user="alice", state="finished",
                created_at=dt.datetime(2026, 5, 1, 12, i, tzinfo=UTC), config={"lr": 0.1 * (i + 1), "bs": 32},
                summary={"loss": 1.0 / (i + 1), "flag": i % 2 == 0})
    return Run(**(base | kw))


@pytest.fixture(params=["xlsx", "csv"])
def out(request, tmp_path):
    path = tmp_path / f"runs.{request.param}"
    sink = XlsxSink(path) if request.param == "xlsx" else CsvSink(path)
    return path, sink, settings_for(path, tmp_path)


def read(path: Path) -> list[list]:
    if path.suffix == ".xlsx":
        ws = openpyxl.load_workbook(path)["runs"]
        return [[c for c in row] for row in ws.iter_rows(values_only=True)]
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [row for row in csv.reader(fh)]


def by_id(grid: list[list]) -> dict:
    header = list(grid[0])
    key = header.index("run_id")
    return {row[key]: dict(zip(header, row)) for row in grid[1:] if row[key] not in (None, "")}


def write_grid(path: Path, grid: list[list], sheet: str = "runs") -> None:
    """A person edits the file (in an .xlsx, this sheet) in their spreadsheet program."""
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        ws = book[sheet]
        ws.delete_rows(1, ws.max_row)
        for r, row in enumerate(grid, start=1):
            for c, v in enumerate(row, start=1):
                ws.cell(row=r, column=c, value=v)
        book.save(path)
    else:
        with open(path, "w", newline="", encoding="utf-8-sig") as fh:
            csv.writer(fh).writerows([["" if v is None else v for v in row] for row in grid])


def test_first_sync_then_a_second_sync_leaves_the_file_untouched(out):
    path, sink, settings = out
    source = Runs([run(0), run(1), run(2)])
    report = sync(source, sink, settings)
    assert report.total("new") == 3
    rows = by_id(read(path))
    assert set(rows) == {"run0", "run1", "run2"}
    before = path.read_bytes()
    stamp = path.stat().st_mtime_ns
    again = sync(source, sink, settings)
    assert again.total("new") == 0 and again.total("updated") == 0
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stamp


def test_hand_edits_manual_columns_sorting_and_deleted_rows(out):
    path, sink, settings = out
    runs = [run(i) for i in range(4)]
    sync(Runs(runs), sink, settings)
    grid = [list(r) for r in read(path)]
    header = grid[0]
    loss, notes = header.index("loss"), header.index("notes")
    grid[1][loss] = "ignore this run"  # run0: a person's value
    grid[2][notes] = "promising"  # run1: a manual column
    grid[0].append("keep?")
    grid[3].append("yes")  # run2
    del grid[4]  # run3 deleted by a person
    grid[1:] = grid[1:][::-1]  # sorted, descending
    write_grid(path, grid)
    runs = [dataclasses.replace(r, summary=dict(r.summary, loss=42.0)) for r in runs]
    sync(Runs(runs), sink, settings)
    rows = by_id(read(path))
    assert set(rows) == {"run0", "run1", "run2"}
    assert rows["run0"]["loss"] == "ignore this run"
    assert rows["run1"]["notes"] == "promising" and rows["run2"]["keep?"] == "yes"
    assert str(rows["run1"]["loss"]) in ("42", "42.0") and str(rows["run2"]["loss"]) in ("42", "42.0")


def test_a_header_with_a_stray_space_is_the_same_column(out):
    """People retype headers: ' lr ' is the column lr, not a reason to add a second lr (which the next sync
    would refuse as a header that appears twice)."""
    path, sink, settings = out
    if path.suffix == ".xlsx":
        openpyxl.Workbook().save(path)
        book = openpyxl.load_workbook(path)
        book.active.title = "runs"
        book.save(path)
    write_grid(path, [["run_id", " lr "], ["run0", 0.1]])
    source = Runs([run(0), run(1)])
    first = sync(source, sink, settings)
    header = [h for h in read(path)[0] if h]
    assert header.count(" lr ") == 1 and "lr" not in header
    assert [h.strip() for h in header] == list(dict.fromkeys(h.strip() for h in header))  # no header twice
    again = sync(source, sink, settings)  # would raise "The header 'lr' appears twice" before
    assert first.total("new") == 1 and again.total("new") == 0 and again.total("updated") == 0
    assert float(by_id(read(path))["run1"][" lr "]) == 0.2


def test_xlsx_cells_are_typed_and_text_is_never_a_formula(tmp_path):
    path = tmp_path / "runs.xlsx"
    sync(Runs([run(0, name='=IMPORTDATA("http://x")')]), XlsxSink(path), settings_for(path, tmp_path))
    book = openpyxl.load_workbook(path)
    ws = book["runs"]
    header = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(header, ws[2])}
    assert row["run_name"].value == '=IMPORTDATA("http://x")' and row["run_name"].data_type == "s"
    assert isinstance(row["lr"].value, float) and row["bs"].value == 32 and row["flag"].value is True
    assert row["created_at"].value == dt.datetime(2026, 5, 1, 12, 0) and row["created_at"].is_date
    assert ws.freeze_panes == "A2" and all(c.font.bold for c in ws[1])
    assert book[base_title("runs")].sheet_state == "hidden"


def test_xlsx_a_persons_formatting_survives_later_syncs(tmp_path):
    path = tmp_path / "runs.xlsx"
    settings = settings_for(path, tmp_path)
    sync(Runs([run(0)]), XlsxSink(path), settings)
    book = openpyxl.load_workbook(path)
    book["runs"]["A2"].fill = PatternFill("solid", fgColor="FFFF00")
    book["runs"].column_dimensions["B"].width = 40
    book.save(path)
    sync(Runs([run(0, summary={"loss": 0.001, "flag": False})]), XlsxSink(path), settings)
    ws = openpyxl.load_workbook(path)["runs"]
    assert ws["A2"].fill.fgColor.rgb.endswith("FFFF00") and ws.column_dimensions["B"].width == 40
    assert 0.001 in [c.value for c in ws[2]]


def test_csv_keeps_its_base_beside_it(tmp_path):
    path = tmp_path / "runs.csv"
    sync(Runs([run(0)]), CsvSink(path), settings_for(path, tmp_path))
    assert (tmp_path / "runs.csv.sync-base").read_text(encoding="utf-8-sig").startswith("wandb_spreadsheet_sync base")


@pytest.mark.slow
def test_workbook_open_in_excel_gives_a_clear_error_and_is_not_touched(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    path = tmp_path / "runs.xlsx"
    sync(Runs([run(0)]), XlsxSink(path), settings_for(path, tmp_path))
    before = path.read_bytes()
    (tmp_path / "~$runs.xlsx").write_bytes(b"locked")
    with pytest.raises(Exception, match="is open in a spreadsheet program"):
        sync(Runs([run(0), run(1)]), XlsxSink(path), settings_for(path, tmp_path))
    assert path.read_bytes() == before
    result = subprocess.run([sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--source",
                             str(root), "--output", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1 and "Close the file; the next sync will write it." in result.stderr


def test_newest_first_puts_new_runs_on_top_of_the_workbook(tmp_path):
    path = tmp_path / "runs.xlsx"
    settings = dataclasses.replace(settings_for(path, tmp_path), order="newest_first")
    sync(Runs([run(0), run(1)]), XlsxSink(path), settings)
    grid = [list(r) for r in read(path)]
    grid[2][grid[0].index("notes")] = "first run, keep"
    write_grid(path, grid)
    sync(Runs([run(0, summary={"loss": 0.25, "flag": True}), run(1), run(2), run(3)]), XlsxSink(path), settings)
    rows = read(path)
    assert [r[0] for r in rows[1:]] == ["run3", "run2", "run1", "run0"]
    assert by_id(rows)["run0"]["notes"] == "first run, keep" and by_id(rows)["run0"]["loss"] == 0.25
