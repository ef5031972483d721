"""A person in the spreadsheet between the tool's read and its next write, doing what the Sheets UI does."""

from __future__ import annotations

import inspect
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from . import a1
from .sheets_model import Sheet, Spreadsheet


@dataclass
class PersonAction:
    """Armed with World.arm_person; carried out right after the next read of its spreadsheet is answered."""

    spreadsheet_id: str
    action: str
    kw: dict = field(default_factory=dict)
    after: str = ""  # only a read whose path holds this counts (e.g. "values:batchGet"); "" any read
    skip: int = 0  # reads that count and still pass before it acts
    done: bool = False
    error: str = ""  # why it could not be done (a mistake in the test, reported as a crash of the fake)


def due(p: PersonAction, spreadsheet_id: str, path: str) -> bool:
    """Whether this read of spreadsheet_id (its path) is the one p waits for; a read it lets pass is counted."""
    if p.done or p.spreadsheet_id != spreadsheet_id or p.after not in path:
        return False
    if p.skip:
        p.skip -= 1
        return False
    return True


def check(action: str, kw: dict) -> None:
    """Refuses an unknown action or arguments it does not take when it is armed, not later mid-request."""
    if action not in ACTIONS:
        raise ValueError(f"unknown person action {action!r}; valid: {', '.join(sorted(ACTIONS))}")
    inspect.signature(ACTIONS[action]).bind(None, None, None, **{k: v for k, v in kw.items() if k != "sheet"})


def act(ss: Spreadsheet, action: str, rng: random.Random, sheet: str | None = None, **kw: Any) -> None:
    """Does it to the worksheet titled `sheet` (the first one if None)."""
    ACTIONS[action](ss, ss.sheet_by_title(sheet), rng, **kw)


def _sort(ss: Spreadsheet, ws: Sheet, rng: random.Random, column: int | str, ascending: bool = True) -> None:
    """Data > Sort range with 'Data has header row': every column, from row 2 to the last row with data."""
    rows = {"sheetId": ws.sheet_id, "startRowIndex": 1, "endRowIndex": max(ws.last_data_row() + 1, 1)}
    spec = {"dimensionIndex": _column(ws, column), "sortOrder": "ASCENDING" if ascending else "DESCENDING"}
    ss.batch_update([{"sortRange": {"range": rows, "sortSpecs": [spec]}}], rng)


def _insert_rows(ss: Spreadsheet, ws: Sheet, rng: random.Random, index: int, count: int = 1) -> None:
    """Insert rows at `index` (0-based); below the header they take the formats of the row above (assumed UI)."""
    span = {"sheetId": ws.sheet_id, "dimension": "ROWS", "startIndex": index, "endIndex": index + count}
    ss.batch_update([{"insertDimension": {"range": span, "inheritFromBefore": index > 0}}], rng)


def _delete_rows(ss: Spreadsheet, ws: Sheet, rng: random.Random, start: int, end: int) -> None:
    """Delete rows [start, end), 0-based."""
    span = {"sheetId": ws.sheet_id, "dimension": "ROWS", "startIndex": start, "endIndex": end}
    ss.batch_update([{"deleteDimension": {"range": span}}], rng)


def _move_column(ss: Spreadsheet, ws: Sheet, rng: random.Random, column: int | str, to: int) -> None:
    """Drags one column so that it ends up at index `to` (moveDimension counts from before it is taken out)."""
    source = _column(ws, column)
    span = {"sheetId": ws.sheet_id, "dimension": "COLUMNS", "startIndex": source, "endIndex": source + 1}
    ss.batch_update([{"moveDimension": {"source": span, "destinationIndex": to + 1 if to > source else to}}], rng)


def _edit(ss: Spreadsheet, ws: Sheet, rng: random.Random, cell: str, value: Any) -> None:
    """Types `value` into `cell` (A1 notation)."""
    ss.values_update(f"{a1.quote_title(ws.title)}!{cell}", {"values": [[value]]}, "USER_ENTERED")


def _type_row_below(ss: Spreadsheet, ws: Sheet, rng: random.Random, values: list) -> None:
    """Types a row right under the last row with data, adding a row at the bottom first if there is none."""
    row = ws.last_data_row() + 1
    if row >= ws.rows:
        ss.batch_update([{"appendDimension": {"sheetId": ws.sheet_id, "dimension": "ROWS", "length": 1}}], rng)
    ss.values_update(f"{a1.quote_title(ws.title)}!A{row + 1}", {"values": [values]}, "USER_ENTERED")


def _column(ws: Sheet, column: int | str) -> int:
    """A column by index, or by the header a person sees in row 1."""
    if isinstance(column, int):
        return column
    header = ws.values(a1.GridRange(0, 1, 0, ws.cols), "FORMATTED_VALUE", "SERIAL_NUMBER")
    if not header or column not in header[0]:
        raise ValueError(f"no column headed {column!r} in {ws.title!r}")
    return header[0].index(column)


ACTIONS: dict[str, Callable[..., None]] = {
    "sort": _sort, "insert_rows": _insert_rows, "delete_rows": _delete_rows, "move_column": _move_column,
    "edit": _edit, "type_row_below": _type_row_below,
}
