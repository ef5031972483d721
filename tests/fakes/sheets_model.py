"""The state of the fake Sheets: spreadsheets, worksheets, grids, and the operations Google applies to them."""

from __future__ import annotations

import random
import string
from functools import cmp_to_key
from dataclasses import dataclass, field
from typing import Any, Callable

from . import a1
from .cells import ApiError, Cell, cell_data, extended_to_cell, parse_input, render

MAX_CELLS = 10_000_000
DEFAULT_ROWS, DEFAULT_COLS = 1000, 26
FAR = 1 << 40  # beyond any grid: an unbounded side of a range stays unbounded however indices move
BOUNDS = {"ROWS": ("startRowIndex", "endRowIndex"), "COLUMNS": ("startColumnIndex", "endColumnIndex")}


def new_id(rng: random.Random, n: int = 44) -> str:
    return "1" + "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(n - 1))


@dataclass
class Sheet:
    sheet_id: int
    title: str
    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLS
    hidden: bool = False
    frozen_rows: int = 0
    frozen_cols: int = 0
    extra_props: dict = field(default_factory=dict)  # tabColor, rightToLeft...
    extra_grid: dict = field(default_factory=dict)  # hideGridlines...
    cells: dict[int, dict[int, Cell]] = field(default_factory=dict)
    conditional_formats: list = field(default_factory=list)
    protected_ranges: list = field(default_factory=list)  # ProtectedRange dicts, as spreadsheets.get shows them
    dimension_props: dict = field(default_factory=dict)  # ("ROWS"|"COLUMNS", index) -> props

    # -- grid access -----------------------------------------------------------------------
    def get(self, r: int, c: int) -> Cell | None:
        row = self.cells.get(r)
        return row.get(c) if row else None

    def put(self, r: int, c: int, cell: Cell | None) -> None:
        if cell is None or (cell.is_empty() and not cell.fmt and not cell.note and not cell.extra):
            row = self.cells.get(r)
            if row is not None:
                row.pop(c, None)
                if not row:
                    del self.cells[r]
            return
        self.cells.setdefault(r, {})[c] = cell

    def length(self, dim: str) -> int:
        return self.rows if dim == "ROWS" else self.cols

    def extend(self, dim: str, n: int) -> None:
        """Adds n rows or columns at the end (fewer for a negative n)."""
        if dim == "ROWS":
            self.rows += n
        else:
            self.cols += n

    def last_data_row(self) -> int:
        """The last row holding a value (formats alone do not count); -1 for a sheet without data."""
        return max((r for r, row in self.cells.items() if any(not c.is_empty() for c in row.values())), default=-1)

    def snapshot(self) -> dict:
        return {"cells": {r: dict(row) for r, row in self.cells.items()},
                "cf": list(self.conditional_formats), "pr": list(self.protected_ranges),
                "dp": dict(self.dimension_props),
                "scalars": (self.title, self.rows, self.cols, self.hidden, self.frozen_rows, self.frozen_cols,
                            dict(self.extra_props), dict(self.extra_grid))}

    def restore(self, snap: dict) -> None:
        self.cells, self.conditional_formats, self.dimension_props = snap["cells"], snap["cf"], snap["dp"]
        self.protected_ranges = snap["pr"]
        (self.title, self.rows, self.cols, self.hidden, self.frozen_rows, self.frozen_cols,
         self.extra_props, self.extra_grid) = snap["scalars"]

    def reindex(self, dim: str, pieces: list[tuple[int, int, int]], inserted: tuple[int, int] | None = None) -> None:
        """Moves what sits on rows or columns as Google moves it when they are inserted, deleted or moved: cells
        (with their formats), row/column properties and conditional-format ranges. `pieces` are (start, end,
        delta): an index in [start, end) moves by delta, one in no piece is deleted. A range that spans the
        `inserted` indices grows over them; one whose indices land apart is split; one with none left goes."""
        if dim == "ROWS":
            self.cells = _remap(self.cells, pieces)
        else:
            self.cells = {r: kept for r, row in self.cells.items() if (kept := _remap(row, pieces))}
        along = {i: props for (d, i), props in self.dimension_props.items() if d == dim}
        self.dimension_props = ({key: props for key, props in self.dimension_props.items() if key[0] != dim}
                                | {(dim, i): props for i, props in _remap(along, pieces).items()})
        lo, hi = BOUNDS[dim]
        rules = []
        for rule in self.conditional_formats:
            ranges = []
            for gr in rule.get("ranges") or []:
                for start, end in _moved_span(pieces, gr.get(lo, -FAR), gr.get(hi, FAR), inserted):
                    new = dict(gr)  # a new dict: a rolled-back batch keeps the old one
                    if lo in gr:
                        new[lo] = start
                    if hi in gr:
                        new[hi] = end
                    ranges.append(new)
            if ranges:
                rules.append(rule | {"ranges": ranges})
        self.conditional_formats = rules

    def properties(self, index: int) -> dict:
        grid: dict[str, Any] = {"rowCount": self.rows, "columnCount": self.cols}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_cols:
            grid["frozenColumnCount"] = self.frozen_cols
        grid.update(self.extra_grid)
        props: dict[str, Any] = {"sheetId": self.sheet_id, "title": self.title, "index": index,
                                 "sheetType": "GRID", "gridProperties": grid}
        if self.hidden:
            props["hidden"] = True
        props.update(self.extra_props)
        return props

    def check_bounds(self, r: a1.GridRange, what: str) -> None:
        if r.end_row > self.rows or r.end_col > self.cols:
            raise ApiError(400, f"Range ({a1.quote_title(self.title)}!{a1.format_range(self.title, r).split('!')[1]})"
                                f" exceeds grid limits. Max rows: {self.rows}, max columns: {self.cols}")

    def values(self, r: a1.GridRange, value_render: str, dt_render: str, major: str = "ROWS") -> list[list]:
        """Rendered values of a range, trailing empty cells and rows trimmed as Google does."""
        out: list[list] = []
        for ri in range(r.start_row, r.end_row):
            row = self.cells.get(ri)
            vals: list = []
            if row:
                last = -1
                for ci in range(r.start_col, r.end_col):
                    cell = row.get(ci)
                    if cell is not None and not cell.is_empty():
                        last = ci
                if last >= 0:
                    vals = [render(row[ci], value_render, dt_render) if ci in row else ""
                            for ci in range(r.start_col, last + 1)]
            out.append(vals)
        while out and not out[-1]:
            out.pop()
        if major == "COLUMNS":
            width = max((len(v) for v in out), default=0)
            out = [[row[i] if i < len(row) else "" for row in out] for i in range(width)]
            for col in out:
                while col and col[-1] == "":
                    col.pop()
        return out


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    sheets: list[Sheet]
    owners: set[str] | None = None  # None: everyone may open it
    locale: str = "en_US"
    time_zone: str = "Etc/GMT"
    named_ranges: list = field(default_factory=list)
    created: str = "2024-01-01T00:00:00.000Z"
    modified: str = "2024-01-01T00:00:00.000Z"

    def cell_count(self) -> int:
        return sum(s.rows * s.cols for s in self.sheets)

    def sheet_by_id(self, sheet_id: int) -> Sheet:
        for s in self.sheets:
            if s.sheet_id == sheet_id:
                return s
        raise ApiError(400, f"No grid with id: {sheet_id}")

    def sheet_by_title(self, title: str | None) -> Sheet:
        if title is None:
            return self.sheets[0]
        for s in self.sheets:
            if s.title == title:
                return s
        raise ApiError(400, f"Unable to parse range: {a1.quote_title(title)}")

    def resolve(self, range_a1: str) -> tuple[Sheet, a1.GridRange]:
        try:
            if any(s.title == range_a1 for s in self.sheets):  # a sheet's name wins over a cell reference
                return self.sheet_by_title(range_a1), a1.parse_cells("")
            title, cells = a1.split_sheet(range_a1)
            if title is None and cells and not any(ch.isdigit() for ch in cells) and ":" not in cells:
                title, cells = cells, ""  # a bare sheet name
            elif title is None and cells:
                try:
                    return self.sheets[0], a1.parse_cells(cells)
                except a1.RangeError:
                    title, cells = cells, ""
            sheet = self.sheet_by_title(title)
            return sheet, a1.parse_cells(cells)
        except a1.RangeError:
            raise ApiError(400, f"Unable to parse range: {range_a1}") from None

    def metadata(self) -> dict:
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {"title": self.title, "locale": self.locale, "autoRecalc": "ON_CHANGE",
                           "timeZone": self.time_zone, "defaultFormat": DEFAULT_FORMAT,
                           "spreadsheetTheme": DEFAULT_THEME},
            "sheets": [self._sheet_json(s, i) for i, s in enumerate(self.sheets)],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        } | ({"namedRanges": self.named_ranges} if self.named_ranges else {})

    def _sheet_json(self, s: Sheet, index: int) -> dict:
        out: dict[str, Any] = {"properties": s.properties(index)}
        if s.protected_ranges:
            out["protectedRanges"] = s.protected_ranges
        if s.conditional_formats:
            out["conditionalFormats"] = s.conditional_formats
        return out

    def grid_data(self, ranges: list[str]) -> dict:
        """spreadsheets.get with includeGridData: rowData for the asked ranges (whole sheets if none)."""
        meta = self.metadata()
        wanted: dict[int, list[a1.GridRange]] = {}
        if ranges:
            for rng in ranges:
                sheet, r = self.resolve(rng)
                wanted.setdefault(sheet.sheet_id, []).append(r.clip(sheet.rows, sheet.cols))
        else:
            for s in self.sheets:
                wanted[s.sheet_id] = [a1.GridRange(0, s.rows, 0, s.cols)]
        if ranges:  # Google returns only the sheets the ranges name
            meta["sheets"] = [js for s, js in zip(self.sheets, meta["sheets"]) if s.sheet_id in wanted]
        for js in meta["sheets"]:
            s = self.sheet_by_id(js["properties"]["sheetId"])
            data = []
            for r in wanted[s.sheet_id]:
                rows = []
                for ri in range(r.start_row, r.end_row):
                    row = s.cells.get(ri) or {}
                    vals = [cell_data(row[ci]) if ci in row else {} for ci in range(r.start_col, r.end_col)]
                    while vals and not vals[-1]:
                        vals.pop()
                    rows.append({"values": vals} if vals else {})
                while rows and not rows[-1]:
                    rows.pop()
                block: dict[str, Any] = {}
                if r.start_row:
                    block["startRow"] = r.start_row
                if r.start_col:
                    block["startColumn"] = r.start_col
                if rows:
                    block["rowData"] = rows
                block["rowMetadata"] = [self._dim_meta(s, "ROWS", i) for i in range(r.start_row, r.end_row)]
                block["columnMetadata"] = [self._dim_meta(s, "COLUMNS", i) for i in range(r.start_col, r.end_col)]
                data.append(block)
            js["data"] = data
        return meta

    @staticmethod
    def _dim_meta(s: Sheet, dim: str, i: int) -> dict:
        return {"pixelSize": 21 if dim == "ROWS" else 100} | s.dimension_props.get((dim, i), {})

    # -- values API ----------------------------------------------------------------------------
    def values_get(self, range_a1: str, value_render: str, dt_render: str, major: str = "ROWS") -> dict:
        sheet, r = self.resolve(range_a1)
        r = r.clip(sheet.rows, sheet.cols)
        sheet.check_bounds(r, "read")
        out: dict[str, Any] = {"range": a1.format_range(sheet.title, r), "majorDimension": major}
        vals = sheet.values(r, value_render, dt_render, major)
        if vals:
            out["values"] = vals
        return out

    def values_get_grid(self, gr: dict, value_render: str, dt_render: str, major: str = "ROWS") -> dict:
        """values.get of a GridRange (a data filter's): its missing bounds run to the grid's edge."""
        sheet, r = self._grid_range(gr)
        out: dict[str, Any] = {"range": a1.format_range(sheet.title, r), "majorDimension": major}
        vals = sheet.values(r, value_render, dt_render, major)
        if vals:
            out["values"] = vals
        return out

    def values_update(self, range_a1: str, body: dict, input_option: str) -> dict:
        values = _rows_of(body)
        sheet, r = self.resolve(range_a1)
        height = len(values)
        width = max((len(v) for v in values), default=0)
        start_row, start_col = r.start_row or 0, r.start_col or 0
        target = a1.GridRange(start_row, start_row + max(height, 1), start_col, start_col + max(width, 1))
        sheet.check_bounds(target, "write")
        single_cell = r.end_row == start_row + 1 and r.end_col == start_col + 1
        if not single_cell:  # a single cell only anchors the data; a larger range must hold all of it
            if r.end_row is not None and start_row + height > r.end_row:
                raise ApiError(400, f"Requested writing within range [{range_a1}], but tried writing to row "
                                    f"[{start_row + height}]")
            if r.end_col is not None and start_col + width > r.end_col:
                raise ApiError(400, f"Requested writing within range [{range_a1}], but tried writing to column "
                                    f"[{a1.index_to_col(start_col + width - 1)}]")
        written = self._write(sheet, start_row, start_col, values, input_option)
        out = {"spreadsheetId": self.spreadsheet_id, "updatedRange": a1.format_range(sheet.title, target)}
        return out | _counts(written)

    def _write(self, sheet: Sheet, start_row: int, start_col: int, values: list[list],
               input_option: str) -> list[tuple[int, int]]:
        """Writes every non-null value; returns the positions written (Google counts only those)."""
        user_entered = input_option == "USER_ENTERED"
        staged = []
        for i, row in enumerate(values):
            for j, raw in enumerate(row):
                new = parse_input(raw, user_entered, sheet.get(start_row + i, start_col + j))
                if new is not None:
                    staged.append((start_row + i, start_col + j, new))
        for ri, ci, cell in staged:
            sheet.put(ri, ci, cell)
        return [(ri, ci) for ri, ci, _ in staged]

    def values_append(self, range_a1: str, body: dict, input_option: str, insert_option: str) -> dict:
        values = _rows_of(body)
        sheet, r = self.resolve(range_a1)
        r = r.clip(sheet.rows, sheet.cols)
        table = self._find_table(sheet, r)
        if table is None:
            start_row, start_col = r.start_row, r.start_col
        else:
            start_row, start_col = table.end_row, table.start_col
        height = len(values)
        width = max((len(v) for v in values), default=0)
        if insert_option == "INSERT_ROWS":
            self._insert(sheet, "ROWS", start_row, start_row + height)
        elif start_row + height > sheet.rows:
            self._grow(sheet, start_row + height - sheet.rows, 0)
        if start_col + width > sheet.cols:
            self._grow(sheet, 0, start_col + width - sheet.cols)
        written = self._write(sheet, start_row, start_col, values, input_option)
        target = a1.GridRange(start_row, start_row + height, start_col, start_col + width)
        out: dict[str, Any] = {"spreadsheetId": self.spreadsheet_id}
        if table is not None:
            out["tableRange"] = a1.format_range(sheet.title, table)
        out["updates"] = {"spreadsheetId": self.spreadsheet_id,
                          "updatedRange": a1.format_range(sheet.title, target)} | _counts(written)
        return out

    @staticmethod
    def _find_table(sheet: Sheet, r: a1.GridRange) -> a1.GridRange | None:
        """Google appends after the 'table' holding the last data cell of the range: the block of
        cells connected to it (side by side or one above the other), within the range."""
        def filled(ri: int, ci: int) -> bool:
            cell = sheet.get(ri, ci)
            return (cell is not None and not cell.is_empty()
                    and r.start_row <= ri < r.end_row and r.start_col <= ci < r.end_col)

        last = None
        for ri in sorted((ri for ri in sheet.cells if r.start_row <= ri < r.end_row), reverse=True):
            cols = [ci for ci in sheet.cells[ri] if filled(ri, ci)]
            if cols:
                last = (ri, max(cols))
                break
        if last is None:
            return None
        seen, todo = {last}, [last]
        while todo:
            ri, ci = todo.pop()
            for nxt in ((ri + 1, ci), (ri - 1, ci), (ri, ci + 1), (ri, ci - 1)):
                if nxt not in seen and filled(*nxt):
                    seen.add(nxt)
                    todo.append(nxt)
        rows = [p[0] for p in seen]
        cols = [p[1] for p in seen]
        return a1.GridRange(min(rows), max(rows) + 1, min(cols), max(cols) + 1)

    def values_clear(self, range_a1: str) -> str:
        sheet, r = self.resolve(range_a1)
        r = r.clip(sheet.rows, sheet.cols)
        for ri in list(sheet.cells):
            if r.start_row <= ri < r.end_row:
                for ci in list(sheet.cells[ri]):
                    if r.start_col <= ci < r.end_col:
                        old = sheet.cells[ri][ci]
                        sheet.put(ri, ci, old.with_(value=None, formula=None))
        return a1.format_range(sheet.title, r)

    # -- batchUpdate -----------------------------------------------------------------------------
    def batch_update(self, requests: list[dict], rng: random.Random) -> list[dict]:
        """All or nothing, as at Google: any failing request rolls back the whole batch."""
        snaps = {id(s): (s, s.snapshot()) for s in self.sheets}
        sheets_before = list(self.sheets)
        props_before = (self.title, self.locale, self.time_zone, list(self.named_ranges))
        replies = []
        try:
            for i, req in enumerate(requests):
                if not isinstance(req, dict) or len(req) != 1:
                    raise ApiError(400, f"Invalid requests[{i}]: exactly one kind of request must be set.")
                (kind, args), = req.items()
                handler: Callable | None = getattr(self, "_req_" + kind, None)
                if handler is None:
                    raise ApiError(400, f"Invalid requests[{i}]: unsupported request kind {kind!r} in this fake.")
                try:
                    replies.append(handler(args or {}, rng) or {})
                except ApiError as exc:
                    if exc.message.startswith("Invalid requests["):
                        raise
                    raise ApiError(exc.code, f"Invalid requests[{i}].{kind}: {exc.message}") from None
            if self.cell_count() > MAX_CELLS:
                raise ApiError(400, f"This action would increase the number of cells in the workbook above the "
                                    f"limit of {MAX_CELLS} cells.")
        except ApiError:
            self.sheets = sheets_before
            for s, snap in snaps.values():
                s.restore(snap)
            self.title, self.locale, self.time_zone, self.named_ranges = props_before
            raise
        return replies

    def _grid_range(self, gr: dict) -> tuple[Sheet, a1.GridRange]:
        sheet = self.sheet_by_id(gr.get("sheetId", 0))
        r = a1.GridRange(gr.get("startRowIndex", 0), gr.get("endRowIndex", sheet.rows),
                         gr.get("startColumnIndex", 0), gr.get("endColumnIndex", sheet.cols))
        if r.start_row < 0 or r.start_col < 0 or r.end_row < r.start_row or r.end_col < r.start_col:
            raise ApiError(400, "Invalid range: start index must not exceed end index.")
        sheet.check_bounds(r, "range")
        return sheet, r

    def _grow(self, sheet: Sheet, rows: int, cols: int) -> None:
        sheet.rows += rows
        sheet.cols += cols

    def _req_addSheet(self, args: dict, rng: random.Random) -> dict:
        props = dict(args.get("properties") or {})
        title = props.get("title") or f"Sheet{len(self.sheets) + 1}"
        if any(s.title.lower() == title.lower() for s in self.sheets):
            raise ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
        sheet_id = props.get("sheetId")
        if sheet_id is None:
            sheet_id = rng.randrange(1, 2**31 - 1)
        elif any(s.sheet_id == sheet_id for s in self.sheets):
            raise ApiError(400, f"A sheet with id {sheet_id} already exists.")
        grid = props.get("gridProperties") or {}
        sheet = Sheet(sheet_id=sheet_id, title=title, rows=grid.get("rowCount", DEFAULT_ROWS),
                      cols=grid.get("columnCount", DEFAULT_COLS), hidden=bool(props.get("hidden")),
                      frozen_rows=grid.get("frozenRowCount", 0), frozen_cols=grid.get("frozenColumnCount", 0))
        for key in ("tabColor", "tabColorStyle", "rightToLeft"):
            if key in props:
                sheet.extra_props[key] = props[key]
        index = props.get("index", len(self.sheets))
        self.sheets.insert(index, sheet)
        if sheet.hidden and all(s.hidden for s in self.sheets):
            raise ApiError(400, "You can't hide all the sheets in a document.")
        return {"addSheet": {"properties": sheet.properties(self.sheets.index(sheet))}}

    def _req_deleteSheet(self, args: dict, rng: random.Random) -> None:
        sheet = self.sheet_by_id(args.get("sheetId"))
        if len(self.sheets) == 1:
            raise ApiError(400, "You can't remove all the sheets in a document.")
        self.sheets.remove(sheet)
        if all(s.hidden for s in self.sheets):
            raise ApiError(400, "You can't remove all the visible sheets in a document.")

    def _req_addProtectedRange(self, args: dict, rng: random.Random) -> dict:
        """A protected range; warningOnly asks a person to confirm an edit instead of refusing it. Google leaves
        out a sheetId of 0 and a null description, and answers editors {} (spreadsheets.get then lists the
        requesting user as the editor)."""
        given = dict(args.get("protectedRange") or {})
        gr = dict(given.get("range") or {})
        sheet, _ = self._grid_range(gr)
        if given.get("warningOnly") and (given.get("editors") or {}).get("users"):
            raise ApiError(400, "Protected ranges that only show warnings cannot have editors.")
        pid = given.get("protectedRangeId") or rng.randrange(1, 2**31 - 1)
        if any(p["protectedRangeId"] == pid for s in self.sheets for p in s.protected_ranges):
            raise ApiError(400, f"A protected range with ID {pid} already exists.")
        if not gr.get("sheetId"):
            gr.pop("sheetId", None)
        made: dict[str, Any] = {"protectedRangeId": pid, "range": gr}
        if given.get("description"):
            made["description"] = given["description"]
        if given.get("warningOnly"):
            made["warningOnly"] = True
        made |= {"requestingUserCanEdit": True, "editors": {}}
        sheet.protected_ranges = sheet.protected_ranges + [made]
        return {"addProtectedRange": {"protectedRange": made}}

    def _req_deleteProtectedRange(self, args: dict, rng: random.Random) -> None:
        pid = args.get("protectedRangeId")
        for sheet in self.sheets:
            kept = [p for p in sheet.protected_ranges if p["protectedRangeId"] != pid]
            if len(kept) != len(sheet.protected_ranges):
                sheet.protected_ranges = kept
                return
        raise ApiError(400, f"No protected range with id: {pid}")

    def _req_updateSheetProperties(self, args: dict, rng: random.Random) -> None:
        props = args.get("properties") or {}
        fields = _split_fields(args.get("fields"), props)
        sheet = self.sheet_by_id(props.get("sheetId", 0))
        grid = props.get("gridProperties") or {}
        for f in fields:
            if f == "title":
                title = props.get("title", "")
                if any(s is not sheet and s.title.lower() == title.lower() for s in self.sheets):
                    raise ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
                sheet.title = title
            elif f == "hidden":
                sheet.hidden = bool(props.get("hidden"))
                if all(s.hidden for s in self.sheets):
                    raise ApiError(400, "You can't hide all the sheets in a document.")
            elif f == "index":
                self.sheets.remove(sheet)
                self.sheets.insert(min(props.get("index", 0), len(self.sheets)), sheet)
            elif f in ("gridProperties", "gridProperties.*"):
                self._set_grid(sheet, grid, list(grid))
            elif f.startswith("gridProperties."):
                self._set_grid(sheet, grid, [f.split(".", 1)[1]])
            elif f in ("tabColor", "tabColorStyle", "rightToLeft"):
                value = normalise_colors(props.get(f))
                if value in (None, {}, {"rgbColor": None}, {"rgbColor": {}}):
                    sheet.extra_props.pop(f, None)
                else:
                    sheet.extra_props[f] = value
            elif f != "sheetId":
                raise ApiError(400, f"Unsupported field in this fake: {f}")

    def _set_grid(self, sheet: Sheet, grid: dict, keys: list[str]) -> None:
        for key in keys:
            value = grid.get(key, 0)
            if key == "rowCount":
                if value < 1:
                    raise ApiError(400, "Sheet must have at least one row.")
                self._truncate(sheet, rows=value)
                sheet.rows = value
            elif key == "columnCount":
                if value < 1:
                    raise ApiError(400, "Sheet must have at least one column.")
                self._truncate(sheet, cols=value)
                sheet.cols = value
            elif key == "frozenRowCount":
                sheet.frozen_rows = value
            elif key == "frozenColumnCount":
                sheet.frozen_cols = value
            elif key in ("hideGridlines", "rowGroupControlAfter", "columnGroupControlAfter"):
                if grid.get(key):
                    sheet.extra_grid[key] = grid[key]
                else:
                    sheet.extra_grid.pop(key, None)
            else:
                raise ApiError(400, f"Unsupported gridProperties field in this fake: {key}")

    @staticmethod
    def _truncate(sheet: Sheet, rows: int | None = None, cols: int | None = None) -> None:
        for ri in list(sheet.cells):
            if rows is not None and ri >= rows:
                del sheet.cells[ri]
            elif cols is not None:
                for ci in [c for c in sheet.cells[ri] if c >= cols]:
                    del sheet.cells[ri][ci]
                if not sheet.cells[ri]:
                    del sheet.cells[ri]

    def _req_appendDimension(self, args: dict, rng: random.Random) -> None:
        sheet = self.sheet_by_id(args.get("sheetId", 0))
        length = args.get("length", 0)
        if length < 1:
            raise ApiError(400, "length must be greater than 0")
        if args.get("dimension") == "ROWS":
            self._grow(sheet, length, 0)
        elif args.get("dimension") == "COLUMNS":
            self._grow(sheet, 0, length)
        else:
            raise ApiError(400, "dimension must be ROWS or COLUMNS")

    def _req_insertDimension(self, args: dict, rng: random.Random) -> None:
        rng_ = args.get("range") or {}
        sheet = self.sheet_by_id(rng_.get("sheetId", 0))
        dim = rng_.get("dimension")
        start, end = rng_.get("startIndex", 0), rng_.get("endIndex", 0)
        limit = sheet.length(dim)
        if not 0 <= start < end or start > limit:
            raise ApiError(400, f"Invalid insert range [{start}, {end}) for a grid of {limit}")
        before = bool(args.get("inheritFromBefore"))
        if before and start == 0:
            raise ApiError(400, "Cannot inherit from before the first row or column.")
        self._insert(sheet, dim, start, end)
        # Google's documented example: new rows take the background of the row before or after them.
        neighbour = start - 1 if before else end
        if neighbour < sheet.length(dim):
            _inherit(sheet, dim, neighbour, start, end)

    def _insert(self, sheet: Sheet, dim: str, start: int, end: int) -> None:
        sheet.reindex(dim, [(-FAR, start, 0), (start, FAR, end - start)], inserted=(start, end))
        sheet.extend(dim, end - start)

    def _span(self, dr: dict) -> tuple[Sheet, str, int, int]:
        """A DimensionRange's sheet, dimension and [start, end); no end means the end of the grid."""
        sheet = self.sheet_by_id(dr.get("sheetId", 0))
        dim = dr.get("dimension")
        return sheet, dim, dr.get("startIndex", 0), dr.get("endIndex", sheet.length(dim))

    def _req_deleteDimension(self, args: dict, rng: random.Random) -> None:
        sheet, dim, start, end = self._span(args.get("range") or {})
        limit = sheet.length(dim)
        if not 0 <= start < end <= limit:
            raise ApiError(400, f"Invalid delete range [{start}, {end}) for a grid of {limit}")
        if end - start >= limit:
            raise ApiError(400, "You can't delete all the rows on the sheet." if dim == "ROWS"
                           else "You can't delete all the columns on the sheet.")
        sheet.reindex(dim, [(-FAR, start, 0), (end, FAR, start - end)])
        sheet.extend(dim, start - end)

    def _req_moveDimension(self, args: dict, rng: random.Random) -> None:
        sheet, dim, start, end = self._span(args.get("source") or {})
        limit, dest = sheet.length(dim), args.get("destinationIndex", 0)
        if not 0 <= start < end <= limit or not 0 <= dest <= limit:
            raise ApiError(400, f"Invalid move of [{start}, {end}) to {dest} for a grid of {limit}")
        # destinationIndex counts from before the source is taken out (Google's own example: rows [1, 3) to 4
        # turns 0 1 2 3 4 into 0 3 1 2 4); a destination inside the source moves nothing.
        if dest > end:
            sheet.reindex(dim, [(-FAR, start, 0), (start, end, dest - end), (end, dest, start - end), (dest, FAR, 0)])
        elif dest < start:
            sheet.reindex(dim, [(-FAR, dest, 0), (dest, start, end - start), (start, end, dest - start),
                                (end, FAR, 0)])

    def _req_sortRange(self, args: dict, rng: random.Random) -> None:
        """Whole rows of the range move, formats and all; what lies outside the range stays put."""
        sheet, r = self._grid_range(args.get("range") or {})
        specs = args.get("sortSpecs") or []
        if not all("dimensionIndex" in spec for spec in specs):
            raise ApiError(400, "Unsupported sortSpecs in this fake: only dimensionIndex")
        inside = range(r.start_col, r.end_col)
        lines = [{c: cell for c, cell in (sheet.cells.get(ri) or {}).items() if c in inside}
                 for ri in range(r.start_row, r.end_row)]
        lines.sort(key=cmp_to_key(lambda a, b: _compare_lines(a, b, specs)))
        for ri, line in zip(range(r.start_row, r.end_row), lines):
            row = {c: cell for c, cell in (sheet.cells.get(ri) or {}).items() if c not in inside} | line
            if row:
                sheet.cells[ri] = row
            else:
                sheet.cells.pop(ri, None)

    def _req_updateDimensionProperties(self, args: dict, rng: random.Random) -> None:
        sheet, dim, start, end = self._span(args.get("range") or {})
        props = args.get("properties") or {}
        fields = _split_fields(args.get("fields"), props)
        for i in range(start, end):
            cur = dict(sheet.dimension_props.get((dim, i), {}))
            for f in fields:
                if f in props:
                    cur[f] = props[f]
                else:
                    cur.pop(f, None)
            sheet.dimension_props[(dim, i)] = cur

    def _apply_cell(self, old: Cell | None, data: dict, fields: list[str]) -> Cell:
        cell = old or Cell()
        for f in fields:
            top, _, rest = f.partition(".")
            if top == "userEnteredValue":
                cell = extended_to_cell(data.get("userEnteredValue") or {}, cell)
            elif top == "userEnteredFormat":
                fmt = dict(cell.fmt or {})
                src = data.get("userEnteredFormat") or {}
                if rest:
                    _set_path(fmt, rest.split("."), _get_path(src, rest.split(".")))
                else:
                    fmt = dict(src)
                cell = cell.with_(fmt=_mirror_color_styles(normalise_colors(fmt)) or None)
            elif top == "note":
                cell = cell.with_(note=data.get("note") or None)
            elif top in ("textFormatRuns", "dataValidation", "hyperlink"):
                extra = dict(cell.extra)
                if data.get(top) is None:
                    extra.pop(top, None)
                else:
                    extra[top] = data[top]
                cell = cell.with_(extra=extra)
            elif top not in ("effectiveValue", "formattedValue", "effectiveFormat"):
                raise ApiError(400, f"Unsupported CellData field in this fake: {f}")
        return cell

    def _req_updateCells(self, args: dict, rng: random.Random) -> None:
        rows = args.get("rows") or []
        fields = _cell_fields(args.get("fields"), rows)
        if "start" in args:
            st = args["start"]
            sheet = self.sheet_by_id(st.get("sheetId", 0))
            r0, c0 = st.get("rowIndex", 0), st.get("columnIndex", 0)
            height, width = len(rows), max((len(r.get("values") or []) for r in rows), default=0)
            sheet.check_bounds(a1.GridRange(r0, r0 + max(height, 1), c0, c0 + max(width, 1)), "write")
            for i, row in enumerate(rows):
                for j, data in enumerate(row.get("values") or []):
                    sheet.put(r0 + i, c0 + j, self._apply_cell(sheet.get(r0 + i, c0 + j), data, fields))
            return
        sheet, r = self._grid_range(args.get("range") or {})
        for i, ri in enumerate(range(r.start_row, r.end_row)):
            vals = (rows[i].get("values") or []) if i < len(rows) else []
            for j, ci in enumerate(range(r.start_col, r.end_col)):
                data = vals[j] if j < len(vals) else {}
                sheet.put(ri, ci, self._apply_cell(sheet.get(ri, ci), data, fields))

    def _req_appendCells(self, args: dict, rng: random.Random) -> None:
        sheet = self.sheet_by_id(args.get("sheetId", 0))
        rows = args.get("rows") or []
        fields = _cell_fields(args.get("fields"), rows)
        start = sheet.last_data_row() + 1  # at write time: a row a person typed since the tool's read counts
        width = max((len(r.get("values") or []) for r in rows), default=0)
        if start + len(rows) > sheet.rows:
            self._grow(sheet, start + len(rows) - sheet.rows, 0)
        if width > sheet.cols:
            self._grow(sheet, 0, width - sheet.cols)
        for i, row in enumerate(rows):
            for j, data in enumerate(row.get("values") or []):
                sheet.put(start + i, j, self._apply_cell(sheet.get(start + i, j), data, fields))

    def _req_repeatCell(self, args: dict, rng: random.Random) -> None:
        sheet, r = self._grid_range(args.get("range") or {})
        data = args.get("cell") or {}
        fields = _cell_fields(args.get("fields"), [{"values": [data]}])
        for ri in range(r.start_row, r.end_row):
            for ci in range(r.start_col, r.end_col):
                sheet.put(ri, ci, self._apply_cell(sheet.get(ri, ci), data, fields))

    def _req_addConditionalFormatRule(self, args: dict, rng: random.Random) -> None:
        rule = args.get("rule") or {}
        ranges = rule.get("ranges") or []
        if not ranges:
            raise ApiError(400, "A conditional format rule must have at least one range.")
        sheet = self.sheet_by_id(ranges[0].get("sheetId", 0))
        sheet.conditional_formats.insert(args.get("index", 0), rule)  # an absent index is 0, the top

    def _req_updateConditionalFormatRule(self, args: dict, rng: random.Random) -> None:
        sheet = self.sheet_by_id(args.get("sheetId", 0))
        i = args.get("index", 0)
        if not 0 <= i < len(sheet.conditional_formats):
            raise ApiError(400, f"No conditional format on sheet {sheet.sheet_id} at index {i}")
        sheet.conditional_formats[i] = args.get("rule") or sheet.conditional_formats[i]

    def _req_deleteConditionalFormatRule(self, args: dict, rng: random.Random) -> dict:
        sheet = self.sheet_by_id(args.get("sheetId", 0))
        i = args.get("index", 0)
        if not 0 <= i < len(sheet.conditional_formats):
            raise ApiError(400, f"No conditional format on sheet {sheet.sheet_id} at index {i}")
        return {"deleteConditionalFormatRule": {"rule": sheet.conditional_formats.pop(i)}}

    def _req_updateSpreadsheetProperties(self, args: dict, rng: random.Random) -> None:
        props = args.get("properties") or {}
        for f in _split_fields(args.get("fields"), props):
            if f == "title":
                self.title = props.get("title", "")
            elif f == "locale":
                self.locale = props.get("locale", "en_US")
            elif f == "timeZone":
                self.time_zone = props.get("timeZone", "Etc/GMT")
            else:
                raise ApiError(400, f"Unsupported field in this fake: {f}")


def _inherit(sheet: Sheet, dim: str, source: int, start: int, end: int) -> None:
    """Inserted rows or columns take the formats and the properties of their neighbour `source`."""
    for r, row in list(sheet.cells.items()):
        if dim == "ROWS" and r == source:
            for c, cell in row.items():
                for new in range(start, end):
                    sheet.put(new, c, Cell(fmt=cell.fmt))
        elif dim == "COLUMNS" and source in row:
            for new in range(start, end):
                sheet.put(r, new, Cell(fmt=row[source].fmt))
    props = sheet.dimension_props.get((dim, source))
    for new in range(start, end) if props else ():
        sheet.dimension_props[(dim, new)] = dict(props)


def _sort_key(cell: Cell | None) -> tuple | None:
    """Numbers, then text (case ignored), then booleans, then errors; None for a blank."""
    v = cell.value if cell is not None else None
    if v is None:
        return None
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, float):
        return (0, v)
    if isinstance(v, str):
        return (1, v.casefold())
    return (3, 0)


def _compare_lines(a: dict, b: dict, specs: list[dict]) -> int:
    """Blanks sort last whichever the order, as in Sheets; equal rows keep their order (the sort is stable)."""
    for spec in specs:
        ka, kb = _sort_key(a.get(spec["dimensionIndex"])), _sort_key(b.get(spec["dimensionIndex"]))
        if ka == kb:
            continue
        if ka is None or kb is None:
            return 1 if ka is None else -1
        order = -1 if ka < kb else 1
        return -order if spec.get("sortOrder") == "DESCENDING" else order
    return 0


def _moved(pieces: list[tuple[int, int, int]], i: int) -> int | None:
    for start, end, delta in pieces:
        if start <= i < end:
            return i + delta
    return None


def _remap(items: dict[int, Any], pieces: list[tuple[int, int, int]]) -> dict[int, Any]:
    out = {}
    for i, value in items.items():
        n = _moved(pieces, i)
        if n is not None:
            out[n] = value
    return out


def _moved_span(pieces: list[tuple[int, int, int]], start: int, end: int,
                inserted: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Where the indices [start, end) land, as runs; runs that touch (or meet across `inserted`) are one."""
    runs = sorted((max(start, lo) + d, min(end, hi) + d) for lo, hi, d in pieces if max(start, lo) < min(end, hi))
    out: list[tuple[int, int]] = []
    for s, e in runs:
        if out and (out[-1][1] == s or (out[-1][1], s) == inserted):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def normalise_colors(value: Any) -> Any:
    """Google keeps colour channels as 8-bit values in float32 and leaves out zero channels."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("red", "green", "blue", "alpha") and isinstance(v, (int, float)):
                q = int(v * 255 + 1e-6) / 255  # Google truncates to 8 bits
                if q:
                    out[k] = 1 if q == 1 else float(f"{q:.8g}")
            else:
                out[k] = normalise_colors(v)
        return out
    return value


def _mirror_color_styles(fmt: dict) -> dict:
    """Google answers every legacy colour with its *Style twin as well."""
    if "backgroundColor" in fmt:
        fmt["backgroundColorStyle"] = {"rgbColor": fmt["backgroundColor"]}
    text = fmt.get("textFormat")
    if isinstance(text, dict) and "foregroundColor" in text:
        fmt["textFormat"] = dict(text, foregroundColorStyle={"rgbColor": text["foregroundColor"]})
    return fmt


def _rows_of(body: dict) -> list[list]:
    """A ValueRange's values as rows, whatever its majorDimension."""
    values = body.get("values")
    if values is not None and (not isinstance(values, list) or not all(isinstance(v, list) for v in values)):
        raise _list_value_error(values)
    values = values or []
    if body.get("majorDimension") == "COLUMNS":
        height = max((len(v) for v in values), default=0)
        values = [[col[i] if i < len(col) else None for col in values] for i in range(height)]
    return values


def _counts(written: list[tuple[int, int]]) -> dict:
    if not written:
        return {}
    return {"updatedRows": len({r for r, _ in written}), "updatedColumns": len({c for _, c in written}),
            "updatedCells": len(written)}


def _list_value_error(values: Any) -> ApiError:
    shown = values if isinstance(values, str) else repr(values)
    msg = f"Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), \"{shown}\""
    return ApiError(400, msg, details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                        "fieldViolations": [{"field": "data.values", "description": msg}]}])


def _split_fields(fields: str | None, obj: dict) -> list[str]:
    if not fields:
        raise ApiError(400, "At least one field must be updated, but none was specified.")
    if fields.strip() == "*":
        return [k for k in obj if k != "sheetId"] + [f"gridProperties.{k}" for k in obj.get("gridProperties") or {}]
    return [f.strip().replace("/", ".") for f in fields.split(",") if f.strip()]


def _cell_fields(fields: str | None, rows: list[dict]) -> list[str]:
    if fields and fields.strip() == "*":
        keys = {"userEnteredValue", "userEnteredFormat", "note", "textFormatRuns", "dataValidation"}
        return sorted(keys)
    if not fields:
        raise ApiError(400, "At least one field must be updated, but none was specified.")
    from .fieldmask import parse

    def flatten(tree: dict, prefix: str) -> list[str]:
        out = []
        for k, sub in tree.items():
            out += [prefix + k] if sub is True else flatten(sub, prefix + k + ".")
        return out

    try:
        return flatten(parse(fields), "")
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _get_path(obj: dict, path: list[str]) -> Any:
    for p in path:
        if not isinstance(obj, dict) or p not in obj:
            return None
        obj = obj[p]
    return obj


def _set_path(obj: dict, path: list[str], value: Any) -> None:
    for p in path[:-1]:
        obj = obj.setdefault(p, {})
    if value is None:
        obj.pop(path[-1], None)
    else:
        obj[path[-1]] = value


DEFAULT_FORMAT = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM", "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {"foregroundColor": {}, "fontFamily": "arial,sans,sans-serif", "fontSize": 10, "bold": False,
                   "italic": False, "strikethrough": False, "underline": False,
                   "foregroundColorStyle": {"rgbColor": {}}},
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}
DEFAULT_THEME = {"primaryFontFamily": "Arial", "themeColors": [
    {"colorType": "TEXT", "color": {"rgbColor": {}}},
    {"colorType": "BACKGROUND", "color": {"rgbColor": {"red": 1, "green": 1, "blue": 1}}},
]}
