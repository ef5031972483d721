"""What a person sees in the .xlsx: number formats, frozen bold header, widths, run links and the best-run
rules, set up once, kept right when a column moves, and never written over a person's own formatting."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import openpyxl
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill

from wandb_sheet_sync.run import Run
from wandb_sheet_sync.sinks.local import XlsxSink
from wandb_sheet_sync.sync import sync
from tests.fakes.memory_source import MemorySource as Runs
from tests.settings import settings_for

UTC = dt.timezone.utc


def run(i: int, **summary) -> Run:
    return Run(id=f"run{i}", name=f"run-{i}", user="alice", state="finished",
               created_at=dt.datetime(2026, 5, 1, 12, i, tzinfo=UTC), url=f"https://wandb.ai/lab/proj/runs/run{i}",
               config={"lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2][i % 5], "batch_size": 32},
               summary={"val_loss": 0.5 - 0.03 * i, "accuracy": 0.80 + 0.02 * i, "epoch": 10} | summary)


def settings(path: Path, **extra):
    return dataclasses.replace(settings_for(path, path.parent), highlight={"val_loss": "min", "accuracy": "max"},
                               **extra)


def sheet(path: Path):
    ws = openpyxl.load_workbook(path)["runs"]
    return ws, {c.value: c.column_letter for c in ws[1]}


def rules(ws) -> list[tuple[str, str, str]]:
    """(range, type, formula or colours) of every conditional-format rule, in priority order."""
    out = []
    for cf in ws.conditional_formatting:
        for r in cf.rules:
            what = ",".join(c.rgb[-6:] for c in r.colorScale.color) if r.type == "colorScale" else r.formula[0]
            out.append((r.priority, str(cf.sqref), r.type, what))
    return [x[1:] for x in sorted(out)]


def test_xlsx_first_sync_formats_links_and_highlights(tmp_path):
    path = tmp_path / "runs.xlsx"
    sync(Runs([run(i) for i in range(5)]), XlsxSink(path), settings(path, highlight_scale=True))
    ws, col = sheet(path)
    assert ws.freeze_panes == "A2" and all(c.font.bold for c in ws[1])
    for r in range(2, 7):
        assert ws[f"{col['created_at']}{r}"].number_format == "yyyy-mm-dd hh:mm:ss"
        assert ws[f"{col['accuracy']}{r}"].number_format == "0.0000"
        assert ws[f"{col['val_loss']}{r}"].number_format == "0.0000"
        assert ws[f"{col['lr']}{r}"].number_format == "0.000E+00"  # a learning-rate sweep: scientific
        assert ws[f"{col['epoch']}{r}"].number_format == "General"  # whole numbers as they are
        assert ws[f"{col['run_id']}{r}"].hyperlink.target == f"https://wandb.ai/lab/proj/runs/run{r - 2}"
    assert ws.column_dimensions[col["created_at"]].width == 21
    assert ws.column_dimensions[col["val_loss"]].width >= len("val_loss") + 2
    a, v = col["accuracy"], col["val_loss"]
    assert rules(ws) == [
        (f"{v}2:{v}1048576", "expression", f"AND(ISNUMBER({v}2),{v}2=MIN(${v}$2:${v}$1048576))"),
        (f"{v}2:{v}1048576", "colorScale", "57BB8A,FFFFFF"),
        (f"{a}2:{a}1048576", "expression", f"AND(ISNUMBER({a}2),{a}2=MAX(${a}$2:${a}$1048576))"),
        (f"{a}2:{a}1048576", "colorScale", "FFFFFF,57BB8A")]
    best = next(r for cf in ws.conditional_formatting for r in cf.rules if r.type == "expression")
    assert best.dxf.font.b and best.dxf.fill.fgColor.rgb.endswith("B7E1CD")


def test_xlsx_a_persons_formats_and_rules_survive_and_new_rows_are_formatted(tmp_path):
    path = tmp_path / "runs.xlsx"
    cfg = settings(path)
    sync(Runs([run(0), run(1)]), XlsxSink(path), cfg)
    book = openpyxl.load_workbook(path)
    ws = book["runs"]
    col = {c.value: c.column_letter for c in ws[1]}
    ws[f"{col['accuracy']}2"].number_format = "0.0%"
    ws[f"{col['accuracy']}2"].font = Font(italic=True)
    ws[f"{col['run_name']}3"].fill = PatternFill("solid", fgColor="FFFF00")
    ws.column_dimensions[col["notes"]].width = 50
    ws.conditional_formatting.add(f"{col['state']}2:{col['state']}100",
                                  CellIsRule(operator="equal", formula=['"failed"'], font=Font(color="FF0000")))
    book.save(path)
    rules_before = rules(ws)
    # the accuracy of run0 changes, two runs arrive
    sync(Runs([run(0, accuracy=0.95), run(1), run(2), run(3)]), XlsxSink(path), cfg)
    ws, col = sheet(path)
    cell = ws[f"{col['accuracy']}2"]
    assert cell.value == 0.95 and cell.number_format == "0.0%" and cell.font.i
    assert ws[f"{col['run_name']}3"].fill.fgColor.rgb.endswith("FFFF00")
    assert ws.column_dimensions[col["notes"]].width == 50
    assert rules(ws) == rules_before  # the person's rule kept, ours not added twice
    for r in (4, 5):
        assert ws[f"{col['accuracy']}{r}"].number_format == "0.0000"
        assert ws[f"{col['created_at']}{r}"].number_format == "yyyy-mm-dd hh:mm:ss"
        assert ws[f"{col['run_id']}{r}"].hyperlink.target.endswith(f"run{r - 2}")


def test_xlsx_highlight_moves_with_its_column(tmp_path):
    path = tmp_path / "runs.xlsx"
    cfg = settings(path)
    sync(Runs([run(0), run(1), run(2)]), XlsxSink(path), cfg)
    book = openpyxl.load_workbook(path)
    ws = book["runs"]
    grid = [[c.value for c in row] for row in ws.iter_rows()]
    loss = grid[0].index("val_loss")
    moved = [[row[loss]] + row[:loss] + row[loss + 1:] for row in grid]  # val_loss cut and pasted first
    for r, row in enumerate(moved, start=1):
        for c, v in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=v)
    book.save(path)
    sync(Runs([run(0), run(1), run(2)]), XlsxSink(path), cfg)
    ws, col = sheet(path)
    assert col["val_loss"] == "A"
    a = col["accuracy"]
    assert a == "I"  # shifted right by one: both rules had to move
    assert sorted(rules(ws)) == [
        ("A2:A1048576", "expression", "AND(ISNUMBER(A2),A2=MIN($A$2:$A$1048576))"),
        (f"{a}2:{a}1048576", "expression", f"AND(ISNUMBER({a}2),{a}2=MAX(${a}$2:${a}$1048576))")]


def test_xlsx_newest_first_new_rows_on_top_with_formats(tmp_path):
    path = tmp_path / "runs.xlsx"
    cfg = settings(path, order="newest_first")
    sync(Runs([run(0), run(1)]), XlsxSink(path), cfg)
    sync(Runs([run(0), run(1), run(2), run(3)]), XlsxSink(path), cfg)
    ws, col = sheet(path)
    assert [ws[f"A{r}"].value for r in range(2, 6)] == ["run3", "run2", "run1", "run0"]
    for r in range(2, 6):
        assert ws[f"{col['val_loss']}{r}"].number_format == "0.0000"
        assert ws[f"{col['created_at']}{r}"].is_date
        assert ws[f"A{r}"].hyperlink.target.endswith(ws[f"A{r}"].value)
