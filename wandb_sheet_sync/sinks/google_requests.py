"""The Sheets v4 request bodies the tool sends, built from plain values: pure, never sends (google_sheets.py does).

Each builder returns one request of a spreadsheets.batchUpdate (or, for the hot paths of a large write, its JSON
text). They follow Google's discovery document (tests/fakes/discovery.py holds every request to it), and the
choices in them are the tool's promises: strings go as stringValue, which Google never reads as a formula;
updates name absolute cells, so a request sent twice lands once; a date-time is a serial number with its format.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from ..base import serial_days
from ..look import (BEST_FILL, DATE_TIME, SCALE_BEST, SCALE_WORST, Highlight, Look, best_formula, hex_color,
                    kind_of, rule_changes, rule_kind)

BASE_MARK = "wandb_spreadsheet_sync base"  # how the base's own header rows begin (base.MAGIC)
_DATE_FORMAT = {"numberFormat": {"type": "DATE_TIME", "pattern": DATE_TIME}}
_RANGE = re.compile(r"!([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$")
Rule = tuple[int, int, str, str]  # (index, column, kind, goal) of a highlight rule this tool made


def quote(title: str) -> str:
    """A sheet title as A1 notation wants it."""
    return "'" + title.replace("'", "''") + "'"


def column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def grid_size(a1: str, rows: int, cols: int) -> tuple[int, int]:
    """The grid size from a whole-sheet read's echoed range ('runs!A1:Z1000'); (rows, cols) when it says none."""
    m = _RANGE.search(a1)
    if not m or not m.group(3):
        return rows, cols
    return int(m.group(4)), column_number(m.group(3))


def echo_end(a1: str, rows: int, cols: int) -> tuple[int, int]:
    """Where a row's or a column's echoed range ends, clipped to the grid: its last row and column ('runs!A1:W1',
    'runs!C2:C500', and a one-cell echo, 'runs!C500', for a range that is one cell of the grid); (rows, cols) when
    it says none."""
    m = _RANGE.search(a1)
    if not m:
        return rows, cols
    if not m.group(3):
        return int(m.group(2)), column_number(m.group(1))
    return int(m.group(4)), column_number(m.group(3))


def trimmed(rows: list[list]) -> list[list]:
    """Rows as the values API gives them: no trailing empty cells, no trailing empty rows."""
    out = []
    for row in rows:
        row = list(row)
        while row and row[-1] in (None, ""):
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    return out


# -- cells ------------------------------------------------------------------------------------------------------
def cell(value: Any, link: str | None = None) -> dict:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, (int, float)):
        return {"userEnteredValue": {"numberValue": value}}
    if isinstance(value, dt.datetime):  # its format comes from its column (or updates)
        return {"userEnteredValue": {"numberValue": serial_days(value)}}
    out: dict = {"userEnteredValue": {"stringValue": str(value)}}  # never a formula, whatever it starts with
    if link:
        out["textFormatRuns"] = [{"startIndex": 0, "format": {"link": {"uri": link}}}]
    return out


def cell_json(value: Any, link: str | None = None) -> str:
    """`cell` as JSON text, with a fast path for the numbers and plain text most cells hold."""
    kind = type(value)
    if value is None:
        return "{}"
    if kind is int:
        return '{"userEnteredValue":{"numberValue":%d}}' % value
    if kind is float:
        return '{"userEnteredValue":{"numberValue":%r}}' % value
    if kind is str and not link:
        return '{"userEnteredValue":{"stringValue":%s}}' % json.dumps(value, ensure_ascii=False)
    return json.dumps(cell(value, link), separators=(",", ":"), ensure_ascii=False)


def row_json(row: list, link_cols: frozenset[int], links: dict[str, str]) -> str:
    """A new row as RowData text; a value in a link column that names a page links to it."""
    return '{"values":[' + ",".join(cell_json(v, links.get(v) if c in link_cols else None)
                                    for c, v in enumerate(row)) + "]}"


def update(sheet_id: int, r: int, c: int, rows: list[list[dict]], fields: str) -> dict:
    return {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": r, "columnIndex": c},
                            "rows": [{"values": row} for row in rows], "fields": fields}}


def updates(sheet_id: int, changed: list[tuple[int, int, Any]], owned: set[int] = frozenset(),
            link_cols: frozenset[int] = frozenset(), links: dict[str, str] | None = None) -> list[dict]:
    """Changed cells as few updateCells as possible: neighbours in a row that are alike go together. A
    date-time brings its own format only into a column the tool did not format as a whole (a text date
    rewritten typed would otherwise show as a serial number); elsewhere a cell keeps the format it has."""
    out: list[dict] = []
    run: list[tuple[int, int, Any]] = []
    dated = linked = False
    links = links or {}

    def flush() -> None:
        if run:
            cells = [cell(v, links.get(v) if linked and isinstance(v, str) else None)
                     | ({"userEnteredFormat": _DATE_FORMAT} if dated else {}) for _, _, v in run]
            fields = "userEnteredValue,userEnteredFormat.numberFormat" if dated else "userEnteredValue"
            if linked:  # the link goes (or a stale one is cleared) with the value: a sweep's best run changed
                fields += ",textFormatRuns"
            out.append(update(sheet_id, run[0][0], run[0][1], [cells], fields))
            run.clear()

    for r, c, v in sorted(changed, key=lambda u: (u[0], u[1])):
        needs_format = isinstance(v, dt.datetime) and c not in owned
        links_here = c in link_cols
        if run and (r != run[-1][0] or c != run[-1][1] + 1 or needs_format != dated or links_here != linked):
            flush()
        dated, linked = needs_format, links_here
        run.append((r, c, v))
    flush()
    return out


def header(sheet_id: int, col: int, title: str) -> dict:
    """A new column's header cell, bold like the rest of the header row."""
    return update(sheet_id, 0, col, [[{"userEnteredValue": {"stringValue": title},
                                       "userEnteredFormat": {"textFormat": {"bold": True}}}]],
                  "userEnteredValue,userEnteredFormat.textFormat.bold")


# -- sheets and their grids -----------------------------------------------------------------------------------
def add_sheet(sheet_id: int, title: str, rows: int, cols: int) -> dict:
    """A new worksheet, its header row frozen."""
    return {"addSheet": {"properties": {"sheetId": sheet_id, "title": title, "gridProperties": {
        "rowCount": rows, "columnCount": cols, "frozenRowCount": 1}}}}


def add_hidden_sheet(sheet_id: int, title: str, rows: int, cols: int) -> dict:
    """A new base sheet: hidden, so a person sees only the worksheet."""
    return {"addSheet": {"properties": {"sheetId": sheet_id, "title": title, "hidden": True,
                                        "gridProperties": {"rowCount": rows, "columnCount": cols}}}}


def bold_header_row(sheet_id: int) -> dict:
    return {"repeatCell": {"range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1},
                           "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                           "fields": "userEnteredFormat.textFormat.bold"}}


def grow(sheet_id: int, dimension: str, length: int) -> dict:
    """`length` more ROWS or COLUMNS at the end of the grid (acts twice if sent twice: google_batches knows)."""
    return {"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": length}}


def delete_row(sheet_id: int, row: int) -> dict:
    return {"deleteDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": row,
                                          "endIndex": row + 1}}}


# -- the base -------------------------------------------------------------------------------------------------
def changed_rows(old: list[list], new: list[list], width: int) -> dict[int, list]:
    """The base rows that differ from what was read, padded to the base's width, and over every cell the row held
    (None clears a cell: a row that got shorter, say a read state split over fewer cells, leaves nothing behind). A
    new row that is None was not read and stays as stored (base.py, read by need)."""
    out = {}
    for i, row in enumerate(new):
        if row is None:
            continue
        was = old[i] if i < len(old) else None
        if was is None or [str(x) for x in was] != row:
            out[i] = list(row) + [None] * (max(width, len(was or ())) - len(row))
    return out


def owners(rows: list[list], changed: dict[int, list]) -> dict[str, list[int]]:
    """run id -> the changed base rows that belong to it: a row naming a run, and the rows after it that name
    none (continuations); the base's own header rows, before the first run's, belong to no run. Walks from each
    changed row up to the row naming its run (itself, in a v3 base), not the whole base: a base read by need has
    100,000 rows of which a sync changes a few."""
    owner: dict[str, list[int]] = {}
    for i in sorted(changed):
        j = i
        while j >= 0:
            row = rows[j] if j < len(rows) else None
            first_cell = row[0] if row else None
            if isinstance(first_cell, str) and first_cell:
                if not first_cell.startswith(BASE_MARK):
                    owner.setdefault(first_cell, []).append(i)
                break
            j -= 1
    return owner


# -- formats and highlight rules ------------------------------------------------------------------------------
def pixels(chars: int) -> int:
    """A width in characters as Sheets pixels (Arial 10, bold header), with the cell's padding."""
    return 7 * chars + 10


def _color(rgb: tuple[float, float, float]) -> dict:
    return {"red": rgb[0], "green": rgb[1], "blue": rgb[2]}


def number_format(sheet_id: int, col: int, pattern: str, start: int, end: int | None = None) -> dict:
    """A number format over one column from row `start` (to the end of the grid when no end)."""
    grid = {"sheetId": sheet_id, "startRowIndex": start, "startColumnIndex": col, "endColumnIndex": col + 1}
    if end is not None:
        grid["endRowIndex"] = end
    return {"repeatCell": {"range": grid,
                           "cell": {"userEnteredFormat": {"numberFormat": {"type": kind_of(pattern),
                                                                           "pattern": pattern}}},
                           "fields": "userEnteredFormat.numberFormat"}}


def freeze_header(sheet_id: int) -> dict:
    return {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": 1}},
                                      "fields": "gridProperties.frozenRowCount"}}


def column_width(sheet_id: int, col: int, chars: int) -> dict:
    return {"updateDimensionProperties": {
        "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": col, "endIndex": col + 1},
        "properties": {"pixelSize": pixels(chars)}, "fields": "pixelSize"}}


def look_requests(sheet_id: int, look: Look, new_sheet: bool, found: list[Rule]) -> list[dict]:
    """First set-up formats, then the highlight rules: added, or (`found`, as read) moved with their column."""
    out: list[dict] = []
    if look.freeze_header and not new_sheet:  # a new sheet is made frozen
        out.append(freeze_header(sheet_id))
    for setup in look.setup:
        if setup.number_format:
            out.append(number_format(sheet_id, setup.col, setup.number_format, 1))
        if setup.width:
            out.append(column_width(sheet_id, setup.col, setup.width))
    if look.highlights:
        out += rule_requests(sheet_id, look.highlights, found)
    return out


def rule(sheet_id: int, col: int, goal: str, kind: str) -> dict:
    """A highlight rule over a column's data rows: the best value, or a colour scale from worst to best."""
    ranges = [{"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": col, "endColumnIndex": col + 1}]
    if kind == "best":
        return {"ranges": ranges, "booleanRule": {
            "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": "=" + best_formula(col, goal)}]},
            "format": {"backgroundColor": _color(BEST_FILL), "textFormat": {"bold": True}}}}
    low, high = (SCALE_BEST, SCALE_WORST) if goal == "min" else (SCALE_WORST, SCALE_BEST)
    return {"ranges": ranges, "gradientRule": {"minpoint": {"color": _color(low), "type": "MIN"},
                                               "maxpoint": {"color": _color(high), "type": "MAX"}}}


def tool_rules(metadata: dict, sheet_id: int) -> list[Rule]:
    """The rules this tool made on a sheet, from a read of `sheets(properties(sheetId),conditionalFormats)`."""
    for sheet in metadata.get("sheets", []):
        if sheet.get("properties", {}).get("sheetId") == sheet_id:
            return [(i, *made) for i, found in enumerate(sheet.get("conditionalFormats", []))
                    if (made := tool_rule(found)) is not None]
    return []


def tool_rule(found: dict) -> tuple[int, str, str] | None:
    """(column, kind, goal) of a rule this tool made, as Google gives it back (colours normalised, range closed)."""
    ranges = found.get("ranges") or []
    if len(ranges) != 1:
        return None
    col = ranges[0].get("startColumnIndex", 0)
    if ranges[0].get("endColumnIndex", col + 1) != col + 1:
        return None
    values = ((found.get("booleanRule") or {}).get("condition") or {}).get("values") or [{}]
    gradient = found.get("gradientRule") or {}
    scale = None
    if set(gradient) == {"minpoint", "maxpoint"}:  # Google leaves out a colour channel that is 0
        scale = [hex_color(tuple(float((gradient[p].get("color") or {}).get(k, 0)) for k in ("red", "green", "blue")))
                 for p in ("minpoint", "maxpoint")]
    kind = rule_kind(str(values[0].get("userEnteredValue", "")), scale)
    return (col, *kind) if kind else None


def rule_requests(sheet_id: int, highlights: list[Highlight], found: list[Rule]) -> list[dict]:
    """The rule changes as requests: rewrites in place first (indexes as read), then deletions from the
    highest index down, then additions at the top of the list, ahead of a person's own rules."""
    rewrites, deletes, adds = rule_changes(highlights, found)
    out = [{"updateConditionalFormatRule": {"sheetId": sheet_id, "index": index,
                                            "rule": rule(sheet_id, h.col, h.goal, kind)}}
           for index, h, kind in rewrites]
    out += [{"deleteConditionalFormatRule": {"sheetId": sheet_id, "index": i}} for i in sorted(deletes, reverse=True)]
    out += [{"addConditionalFormatRule": {"index": i, "rule": rule(sheet_id, h.col, h.goal, kind)}}
            for i, (h, kind) in enumerate(adds)]
    return out
