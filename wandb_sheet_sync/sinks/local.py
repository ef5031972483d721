"""Files instead of Google Sheets: an .xlsx workbook (the base in a hidden sheet) or a .csv (the base in a
sidecar file). Same snapshot-and-plan contract, same merge, same guarantees.

A file is written as files.py says (a temporary file renamed over it, the umask's mode, lock files of
spreadsheet programs honoured), so a crash never leaves half a workbook; a sync with nothing to change does not
touch the file at all. For .xlsx the workbook is edited
in place (cells, not the whole sheet), so a person's formatting, widths and other sheets survive. Excel's
lock file (~$name.xlsx) or LibreOffice's (.~lock.name.xlsx#) means the workbook is open: the sync stops and says so
rather than fight over it.
For .csv the data file is renamed into place before its base, so a crash between the two leaves a base
that is older than the data, which the merge reads as edits already in step, never as deleted rows.
CSV has no types: cells are compared as the text the file holds, and a CSV cannot mark '=...' as text,
so use .xlsx where people open the file in a spreadsheet program. A summary tab '<WORKSHEET> sweeps' is its own
file, NAME.sweeps.csv beside NAME.csv, with its own base NAME.sweeps.csv.sync-base.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..base import Base
from ..columns import CUT_MARKER
from ..files import WRITING, exclusive, replace
from ..errors import Interrupted, SinkError
from ..look import (BEST_FILL, DATE_TIME, SCALE_BEST, SCALE_WORST, Look, best_formula, hex_color, rule_changes,
                    rule_kind)
from ..merge import Plan, apply
from . import Capabilities, Snapshot

if TYPE_CHECKING:
    from openpyxl import Workbook

EXCEL_ROWS = "1048576"
LINK_BLUE = "0563C1"  # Excel's own hyperlink colour
EXCEL_CELL_CHARS = 32_767


def xlsx_value(value: Any) -> Any:
    """What a workbook keeps of a value: a text over Excel's 32,767 characters is cut with the visible marker
    (openpyxl would cut it silently on reading, and the next sync would take the cut text for a person's edit);
    a carriage return is a line break, as XML reads it back (\r\n and a bare \r become \n)."""
    if not isinstance(value, str):
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if len(value) > EXCEL_CELL_CHARS:
        return value[: EXCEL_CELL_CHARS - len(CUT_MARKER)] + CUT_MARKER
    return value


# Excel: 16,384 columns (XFD), sheet names of 31 characters, 32,767 characters in a cell
XLSX = Capabilities(cell_form=xlsx_value, styles=True, max_columns=16_384, base_title_length=31,
                    own_cell_chars=EXCEL_CELL_CHARS)


def base_title(worksheet: str) -> str:
    return XLSX.base_title(worksheet)


def _stop_point(stop: threading.Event | None, path: Path, written: list[Path]) -> None:
    """A safe point before a file is written: a stop asked for ends the sync here, saying what was written."""
    if stop is not None and stop.is_set():
        done = f"{', '.join(str(p) for p in written)} written, " if written else "nothing was written: "
        raise Interrupted(f"Stopped before writing {path}; {done}every file is whole (its old or its new content).")


class XlsxSink:
    capabilities = XLSX

    def __init__(self, path: Path, stop: threading.Event | None = None):
        self.path = path
        self.stop = stop  # SIGTERM / Ctrl-C: the workbook is not written once it is set

    def _workbook(self):
        import openpyxl

        if not self.path.exists():
            book = openpyxl.Workbook()
            book.remove(book.active)
            return book
        try:
            return openpyxl.load_workbook(self.path)
        except Exception as exc:  # openpyxl raises many kinds for a broken or foreign file
            raise SinkError(f"{self.path} is not a readable .xlsx workbook ({type(exc).__name__}: {exc}).",
                            "Move it away (the sync will create a new one) or give another --output.") from exc

    def read(self, worksheets: Sequence[str]) -> list[Snapshot[Workbook]]:
        book = self._workbook()  # one workbook for all: apply saves them in one file replace
        return [self._read(book, w) for w in worksheets]

    @staticmethod
    def _read(book, worksheet: str) -> Snapshot[Workbook]:
        grid = _rows(book[worksheet]) if worksheet in book.sheetnames else []
        base_rows = _rows(book[base_title(worksheet)]) if base_title(worksheet) in book.sheetnames else []
        base = Base.decode(base_rows) if worksheet in book.sheetnames else Base()
        return Snapshot(worksheet, grid, base, base_rows, sink_state=book)

    def apply(self, changes: Sequence[tuple[Snapshot[Workbook], Plan]]) -> Counter:
        """Every worksheet's plan into the one workbook they were read from, saved once: all land or none."""
        for snap, plan in changes:
            self._apply(snap, plan)
        with exclusive(self.path):
            _stop_point(self.stop, self.path, [])
            replace(self.path, changes[0][0].sink_state.save)
        return Counter()  # a file sends no requests

    def _apply(self, snap: Snapshot[Workbook], plan: Plan) -> None:
        from openpyxl.styles import Font

        look = plan.look or Look()
        book = snap.sink_state
        new_sheet = snap.worksheet not in book.sheetnames
        ws = book[snap.worksheet] if not new_sheet else book.create_sheet(snap.worksheet)
        if new_sheet or look.freeze_header:
            ws.freeze_panes = "A2"
        for c, header in plan.new_headers:
            cell = ws.cell(row=1, column=c + 1)
            _put(cell, header)
            cell.font = Font(name=cell.font.name, size=cell.font.size, bold=True)  # bold, in the sheet's font
        for r, c, value in plan.updates:
            _put(ws.cell(row=r + 1, column=c + 1), value)
            if c in plan.link_cols:  # a sweep's best run changed: its link goes with it
                _link(ws.cell(row=r + 1, column=c + 1), plan.links.get(value))
        if plan.new_rows:
            at = plan.insert_at
            if at < max(len(snap.grid), 1):
                ws.insert_rows(at + 1, amount=len(plan.new_rows))
                _relink(ws, at + 1 + len(plan.new_rows))
            for i, row in enumerate(plan.new_rows):
                for c, value in enumerate(row):
                    if value is None:
                        continue
                    cell = ws.cell(row=at + i + 1, column=c + 1)
                    if c in look.new_row_formats:
                        cell.number_format = look.new_row_formats[c]
                    _put(cell, value)
                    if c in plan.link_cols:
                        _link(cell, plan.links.get(value))
        for r in plan.deleted_after_inserts():
            ws.delete_rows(r + 1)
            _relink(ws, r + 1)
        _style(ws, look)
        if plan.base_changed:
            title = base_title(snap.worksheet)
            if title in book.sheetnames:
                del book[title]
            base_ws = book.create_sheet(title)
            base_ws.sheet_state = "hidden"
            for row in self.capabilities.encode_base(plan, snap.base).rows:  # one save, after the cells
                base_ws.append(row)


def _link(cell, url: str | None) -> None:
    """A cell linked to a W&B page in Excel's link style; None takes a link away (the value changed)."""
    from openpyxl.styles import Font

    if url:
        cell.hyperlink = url
        cell.font = Font(name=cell.font.name, size=cell.font.size, color=LINK_BLUE, underline="single")
    elif cell.hyperlink is not None:
        cell.hyperlink = None
        cell.font = Font(name=cell.font.name, size=cell.font.size)


def _relink(ws, from_row: int) -> None:
    """openpyxl moves a link with its cell when rows are inserted or deleted, but not the cell name the link
    is saved under: name it again from this row down."""
    for row in ws.iter_rows(min_row=from_row):
        for cell in row:
            if cell.hyperlink is not None:
                cell.hyperlink.ref = cell.coordinate


def _put(cell, value: Any) -> None:
    """Typed cells; text is marked as text, so '=...' is never a formula. A date-time in a cell no one
    formatted is shown as one (a bare serial number would read 46000.5); a cell's own format is kept."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
    elif isinstance(value, dt.datetime) and cell.number_format == "General":
        cell.number_format = DATE_TIME


def _style(ws, look: Look) -> None:
    """First set-up formats and widths, and the highlight rules, as look.py decided them."""
    from openpyxl.utils import get_column_letter

    for setup in look.setup:
        letter = get_column_letter(setup.col + 1)
        if setup.number_format:
            for (cell,) in ws.iter_rows(min_row=2, min_col=setup.col + 1, max_col=setup.col + 1):
                cell.number_format = setup.number_format
        if setup.width:
            ws.column_dimensions[letter].width = setup.width + 1
    if not look.highlights:
        return
    found = []  # (index, column, kind, goal) of this tool's rules, and where each lives
    places = []
    for cf in ws.conditional_formatting:
        for r in cf.rules:
            made = _tool_rule(cf, r)
            if made is not None:
                found.append((len(places), *made))
            places.append((cf, r))
    updates, deletes, adds = rule_changes(look.highlights, found)
    for index in [i for i, _, _ in updates] + deletes:
        cf, r = places[index]
        cf.rules.remove(r)  # the list the workbook keeps for that range
        if not cf.rules:
            del ws.conditional_formatting[str(cf.sqref)]
    for h, kind in [(h, kind) for _, h, kind in updates] + adds:
        letter = get_column_letter(h.col + 1)
        ws.conditional_formatting.add(f"{letter}2:{letter}{EXCEL_ROWS}", _rule(h.col, h.goal, kind))


def _rule(col: int, goal: str, kind: str):
    from openpyxl.formatting.rule import ColorScaleRule, FormulaRule
    from openpyxl.styles import Font, PatternFill

    if kind == "best":
        green = hex_color(BEST_FILL)
        return FormulaRule(formula=[best_formula(col, goal, EXCEL_ROWS)], font=Font(bold=True),
                           fill=PatternFill(start_color=green, end_color=green, fill_type="solid"))
    low, high = (SCALE_BEST, SCALE_WORST) if goal == "min" else (SCALE_WORST, SCALE_BEST)
    return ColorScaleRule(start_type="min", start_color=hex_color(low), end_type="max", end_color=hex_color(high))


def _tool_rule(cf, r) -> tuple[int, str, str] | None:
    """(column, kind, goal) of a rule this tool made, over one column; None for anyone else's."""
    ranges = list(cf.sqref.ranges)
    if len(ranges) != 1 or ranges[0].min_col != ranges[0].max_col:
        return None
    col = ranges[0].min_col - 1
    formula = r.formula[0] if r.type == "expression" and r.formula else None
    scale = [str(c.rgb)[-6:].upper() for c in r.colorScale.color] if r.type == "colorScale" and r.colorScale else None
    kind = rule_kind(formula, scale)
    return (col, *kind) if kind else None


def _rows(ws) -> list[list[Any]]:
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    for row in rows:
        while row and row[-1] in (None, ""):
            row.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def csv_text(value: Any) -> Any:
    """What a CSV keeps of a value: text, exactly as it will be read back."""
    if value is None:
        return None
    if value is True or value is False:
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return repr(value)
    return str(value)


class CsvSink:
    """A .csv file and its base beside it in NAME.csv.sync-base."""

    capabilities = Capabilities(cell_form=csv_text, styles=False)  # a CSV holds text only

    def __init__(self, path: Path, stop: threading.Event | None = None):
        self.path = path
        self.stop = stop  # SIGTERM / Ctrl-C: no further file is written once it is set
        self.base_path = _base_path(path)
        self.main: str | None = None  # the target's worksheet, the first read: NAME.csv; a tab "<it> x": NAME.x.csv

    def path_of(self, worksheet: str) -> Path:
        """NAME.csv for the target's worksheet; NAME.sweeps.csv for its tab "<WORKSHEET> sweeps"."""
        if self.main is None or worksheet == self.main:
            return self.path
        suffix = worksheet[len(self.main) + 1:] if worksheet.startswith(self.main + " ") else worksheet
        return self.path.with_name(f"{self.path.stem}.{suffix.replace(' ', '_').replace('/', '_')}{self.path.suffix}")

    def _load(self, path: Path) -> list[list[Any]]:
        if not path.exists():
            return []
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                rows = [[(v if v != "" else None) for v in row] for row in csv.reader(fh)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise SinkError(f"{path} cannot be read as UTF-8 CSV ({exc}).",
                            "Save it as CSV UTF-8, or give another --output.") from exc
        for row in rows:
            while row and row[-1] is None:
                row.pop()
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def read(self, worksheets: Sequence[str]) -> list[Snapshot[Path]]:
        self.main = worksheets[0]
        out = []
        for worksheet in worksheets:
            path = self.path_of(worksheet)
            grid = self._load(path)
            base_rows = self._load(_base_path(path))
            out.append(Snapshot(worksheet, grid, Base.decode(base_rows) if grid else Base(), base_rows, path))
        return out

    def apply(self, changes: Sequence[tuple[Snapshot[Path], Plan]]) -> Counter:
        """Each file and then its base, as the module docstring says; a file is one rename, so each lands whole."""
        written: list[Path] = []
        with exclusive(self.path):
            for snap, plan in changes:
                path = snap.sink_state
                _stop_point(self.stop, path, written)  # a file and its base go together: the stop is before both
                with WRITING:  # and so does a hard exit: it waits for the pair, not for the first file alone
                    if plan.writes_cells:
                        replace(path, lambda fh: fh.write(_csv_bytes(apply(snap.grid, plan))))
                        written.append(path)
                    if plan.base_changed:
                        rows = self.capabilities.encode_base(plan, snap.base).rows  # after the cells' file
                        replace(_base_path(path), lambda fh: fh.write(_csv_bytes(rows)))
                        written.append(_base_path(path))
        return Counter()  # a file sends no requests


def _base_path(path: Path) -> Path:
    return path.with_name(path.name + ".sync-base")


def _csv_bytes(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Python quotes a field only for the characters of its line terminator: a bare \r would end the row for
    # every reader. A row holding one is written with every field quoted.
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        cells = ["" if v is None else v for v in row]
        (quoted if any(isinstance(v, str) and "\r" in v for v in cells) else writer).writerow(cells)
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8 correctly


def local_sink(path: Path, stop: threading.Event | None = None):
    if path.suffix.lower() == ".xlsx":
        return XlsxSink(path, stop)
    if path.suffix.lower() == ".csv":
        return CsvSink(path, stop)
    raise SinkError(f"{path} is neither .xlsx nor .csv.", "Give --output a name ending in .xlsx or .csv.")
