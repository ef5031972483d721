"""Google Sheets: open a spreadsheet, read a worksheet and its base in one request, apply a Plan in one.

Every write of a sync goes into one spreadsheets.batchUpdate, which Google applies atomically, and names
absolute cells, so a retried request cannot duplicate a row. Strings are sent as stringValue, which Google
never reads as a formula. The base lives in a hidden worksheet beside each synced one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL

from ..base import Base, serial_days
from ..columns import SHEETS_MAX_COLUMNS, column_letters
from ..config import KEYS
from ..errors import (AccessError, CredentialsError, Kind, SheetMoved, SinkError, SyncError, TransientError,
                      kind_of_status)
from ..look import (BEST_FILL, DATE_TIME, SCALE_BEST, SCALE_WORST, Highlight, Look, best_formula, hex_color,
                    kind_of, rule_changes, rule_kind)
from ..merge import MAX_CELLS, Plan
from . import Capabilities, Snapshot
from . import google_auth, google_refusals
from .google_batches import Batch, NewRows, batches, together
from .google_http import GoogleSession

log = logging.getLogger("wandb_spreadsheet_sync")
MAX_REQUEST_BYTES = 10_485_760  # Google refuses a larger body with 400 "Request payload size exceeds the limit"
CAPABILITIES = Capabilities(styles=True, max_columns=SHEETS_MAX_COLUMNS, max_cells=MAX_CELLS, base_title_length=100,
                            request_bytes=MAX_REQUEST_BYTES)
_DATE_FORMAT = {"numberFormat": {"type": "DATE_TIME", "pattern": DATE_TIME}}
_URL_KEY = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]{25,}$")
CHECKED_ROWS = 200  # rows to rewrite read one by one before a write (more: one span from the first to the last)
BASE_MARK = "wandb_spreadsheet_sync base"  # how the base's own header rows begin (base.MAGIC)
_RANGE = re.compile(r"!([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$")


def base_title(worksheet: str) -> str:
    return CAPABILITIES.base_title(worksheet)


def quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def spreadsheet_key(spec: str) -> str | None:
    """A URL or a bare key gives the key; anything else is a title to look up."""
    m = _URL_KEY.search(spec)
    if m:
        return m.group(1)
    return spec if _BARE_KEY.match(spec) and " " not in spec else None


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


@dataclass
class SheetGrid:
    """The sheet ids of a worksheet and of its hidden base, and their grid sizes: what a write must know."""

    sheet_id: int | None
    base_id: int | None
    rows: int = 0
    cols: int = 0
    base_rows: int = 0
    base_cols: int = 0


class GoogleSheetsSink:

    def __init__(self, spreadsheet: str, key: str, endpoint: str | None = None, timeout: float = 60.0,
                 stop: threading.Event | None = None, request_bytes: int = KEYS["REQUEST_BYTES"].default,
                 progress: Callable[[int], None] | None = None, per_minute: int = 60,
                 impersonate: str | None = None, login_token: Path | None = None, retry_base_seconds: float = 1.0):
        import gspread  # imported only when a sync runs, never for --help

        self.capabilities = dataclasses.replace(CAPABILITIES, request_bytes=request_bytes)
        self.progress = progress  # runs written so far, after each request of a write that takes several

        self.identity = google_auth.find(key, impersonate, login_token)
        self.creds = self.identity.credentials
        self.session = GoogleSession(self.creds, endpoint, timeout=timeout, stop=stop, per_minute=per_minute,
                                     base_delay=retry_base_seconds)
        self.client = gspread.Client(auth=self.creds, session=self.session)
        self.http = self.client.http_client
        self.spec = spreadsheet
        self.id: str | None = None
        self.sheets: dict[str, dict] = {}  # title -> properties, from the last metadata read
        self._fresh = False
        self.rng = random.Random()

    @property
    def email(self) -> str:
        """Who to share the spreadsheet with (asks Google only for a person whose credentials do not say)."""
        return google_refusals.share_with(self.identity, self.session)

    def _sent_since(self, before: Counter) -> Counter:
        return self.session.counts - before

    # -- opening -----------------------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kw):
        """Runs a gspread call, turning its errors into ours with what to do."""
        import gspread
        from google.auth.exceptions import RefreshError, TransportError
        import requests

        try:
            return fn(*args, **kw)
        except SyncError:
            raise
        except RefreshError as exc:
            raise google_refusals.refused(self.identity, exc) from exc
        except gspread.exceptions.SpreadsheetNotFound as exc:
            raise AccessError(f"No spreadsheet {self.spec!r} is shared with {self.email}.",
                              f"Open the spreadsheet, click Share, and add {self.email} as an Editor "
                              "(or check SPREADSHEET / --sheet_name).") from exc
        except gspread.exceptions.APIError as exc:
            raise self._api_error(what, exc.response) from exc
        except PermissionError as exc:  # gspread's own translation of a 403
            cause = getattr(exc.__context__, "response", None)
            if cause is not None and google_refusals.scope_insufficient(cause):
                raise google_refusals.scope_error(self.identity, what) from exc
            raise AccessError(f"{self.email} may not open spreadsheet {self.spec!r}.",
                              f"Share the spreadsheet with {self.email} as an Editor.") from exc
        except (requests.ConnectionError, requests.Timeout, TransportError) as exc:
            raise TransientError(f"Google Sheets could not be reached while {what} ({type(exc).__name__}).",
                                 "The next sync will try again.") from exc

    def _api_error(self, what: str, response) -> SyncError:
        """An error answer as our error, chosen by its status."""
        status = response.status_code
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        kind = kind_of_status(status)
        if kind is Kind.TRANSIENT:
            return TransientError(f"Google answered {status} while {what}, after retries: {message}",
                                  "The next sync will try again.")
        if status == 401:
            return CredentialsError(f"Google rejected the credentials from {self.identity.source} while {what}: "
                                    f"{message}", "Check the credentials (GCP_JSON, --login, gcloud's ADC file).")
        if status == 403 and google_refusals.scope_insufficient(response):
            return google_refusals.scope_error(self.identity, what)
        if kind is Kind.SETUP:
            return AccessError(f"Google answered {status} while {what}: {message}",
                               f"Share the spreadsheet {self.spec!r} with {self.email} as an Editor, and check "
                               "the URL or key.")
        return SinkError(f"Google answered {status} while {what}: {message}",
                         "Nothing was written by this request; see the message for what to fix.")

    def open(self) -> None:
        if self.id is None:
            key = spreadsheet_key(self.spec)
            self.id = key if key else self._call("looking up the spreadsheet by title",
                                                 lambda: self.client.open(self.spec).id)
        self._load_metadata()

    def _load_metadata(self) -> None:
        meta = self._call("reading the spreadsheet's sheets", self.http.fetch_sheet_metadata, self.id,
                          params={"fields": "sheets.properties"})
        self.sheets = {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}
        self._fresh = True  # just read: no need to look again before this sync's data read

    def _grid(self, worksheet: str) -> SheetGrid:
        main, base = self.sheets.get(worksheet), self.sheets.get(base_title(worksheet))
        return SheetGrid(main["sheetId"] if main else None, base["sheetId"] if base else None,
                         main["gridProperties"]["rowCount"] if main else 0,
                         main["gridProperties"]["columnCount"] if main else 0,
                         base["gridProperties"]["rowCount"] if base else 0,
                         base["gridProperties"]["columnCount"] if base else 0)

    # -- reading -----------------------------------------------------------------------------
    def read(self, worksheets: Sequence[str]) -> list[Snapshot[SheetGrid]]:
        """Every worksheet and its base in one values.batchGet (the runs tab and its summary tabs)."""
        before = Counter(self.session.counts)
        if self.id is None:
            self.open()
        stale = not self._fresh
        self._fresh = False
        found = [self._grid(w) for w in worksheets]
        if any(f.sheet_id is None or f.base_id is None for f in found) and stale:
            self._load_metadata()  # someone may have made a sheet since
            found, stale = [self._grid(w) for w in worksheets], False
        try:
            got = self._read_values(worksheets, found)
        except SinkError:
            if not stale:
                raise
            # A 400 on metadata read in an earlier sync: a sheet was renamed or deleted since. Look again, once.
            self._load_metadata()
            self._fresh = False
            found = [self._grid(w) for w in worksheets]
            got = self._read_values(worksheets, found)
        value_ranges = got.get("valueRanges", [])
        snaps = []
        for worksheet, grid_of in zip(worksheets, found):
            grid, base_rows = [], []
            if grid_of.sheet_id is not None:
                main = value_ranges.pop(0)
                grid = main.get("values", [])
                grid_of.rows, grid_of.cols = _size(main.get("range", ""), grid_of.rows, grid_of.cols)
            if grid_of.base_id is not None and value_ranges:
                stored = value_ranges.pop(0)
                base_rows = stored.get("values", [])
                grid_of.base_rows, grid_of.base_cols = _size(stored.get("range", ""), grid_of.base_rows,
                                                             grid_of.base_cols)
            # A base without its worksheet (the sheet was deleted) describes rows that are gone: start afresh.
            base = Base.decode(base_rows) if grid_of.sheet_id is not None else Base()
            snaps.append(Snapshot(worksheet, grid, base, base_rows, grid_of, Counter()))
        snaps[0].requests = self._sent_since(before)
        return snaps

    def _read_values(self, worksheets: Sequence[str], found: list[SheetGrid]) -> dict:
        """The worksheets' and their bases' values in one request; a SinkError (a 400) for a range that is gone."""
        ranges = [quote(t) for w, f in zip(worksheets, found)
                  for t, known in ((w, f.sheet_id), (base_title(w), f.base_id)) if known is not None]
        if not ranges:
            return {}
        return self._call("reading the worksheet", self.http.values_batch_get, self.id, ranges, params={
            "valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})

    # -- writing -----------------------------------------------------------------------------
    def apply(self, changes: Sequence[tuple[Snapshot[SheetGrid], Plan]]) -> Counter:
        """Every worksheet's plan: one check that nobody moved what the plans name, then the bodies of all the
        worksheets, small ones sent together in one batchUpdate (each body stays whole and self-contained)."""
        before = Counter(self.session.counts)
        taken = {p["sheetId"] for p in self.sheets.values()}
        writes = [self._prepare(snap, plan, taken) for snap, plan in changes]
        checks = [w.check for w in writes if w.check is not None]
        if checks:
            self._check_unmoved(checks)
        sent, total = 0, sum(w.runs for w in writes)
        for batch in together([w.batches for w in writes], self.capabilities.request_bytes):
            self._send(batch)
            for w in writes:
                self._load_sizes(w.worksheet, w.grid)
            sent += batch.runs
            if self.progress and total > batch.runs:
                self.progress(sent)
        return self._sent_since(before)

    def _prepare(self, snap: Snapshot[SheetGrid], plan: Plan, taken: set) -> "_Write":
        """One worksheet's write: its bodies (built lazily) and what to check before sending them."""
        grid: SheetGrid = snap.sink_state
        as_read = dataclasses.replace(grid)  # grid is kept in step with each request; the check needs the read
        look = plan.look or Look()
        new_sheet = grid.sheet_id is None
        first: list[dict] = []
        rows_needed = max(plan.rows_after(len(snap.grid)), 1)
        cols_needed = max(plan.width, 1)
        encoded = self.capabilities.encode_base(plan, snap.base) if plan.base_changed else None
        base_rows = encoded.rows if encoded is not None else []
        base_cols = max([3, *map(len, base_rows)])
        self._check_cells(max(rows_needed, grid.rows) * max(cols_needed, grid.cols) - grid.rows * grid.cols
                          + max(len(base_rows), grid.base_rows) * max(base_cols, grid.base_cols)
                          - grid.base_rows * grid.base_cols)
        if grid.sheet_id is None:
            grid.sheet_id = self._new_id(taken)
            taken.add(grid.sheet_id)
            first.append({"addSheet": {"properties": {
                "sheetId": grid.sheet_id, "title": snap.worksheet,
                "gridProperties": {"rowCount": rows_needed, "columnCount": cols_needed, "frozenRowCount": 1}}}})
            first.append({"repeatCell": {"range": {"sheetId": grid.sheet_id, "startRowIndex": 0, "endRowIndex": 1},
                                         "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                                         "fields": "userEnteredFormat.textFormat.bold"}})
            grid.rows, grid.cols = rows_needed, cols_needed
        if grid.base_id is None and base_rows:
            grid.base_id = self._new_id(taken)
            taken.add(grid.base_id)
            first.append({"addSheet": {"properties": {
                "sheetId": grid.base_id, "title": base_title(snap.worksheet), "hidden": True,
                "gridProperties": {"rowCount": len(base_rows), "columnCount": base_cols}}}})
            grid.base_rows, grid.base_cols = len(base_rows), base_cols
        inserting = bool(plan.new_rows) and plan.insert_at < max(len(snap.grid), 1)
        if inserting:
            grid.rows += len(plan.new_rows)  # insertDimension grows the grid by itself
        elif rows_needed > grid.rows:
            first.append(_grow(grid.sheet_id, "ROWS", rows_needed - grid.rows))
            grid.rows = rows_needed
        if cols_needed > grid.cols:
            first.append(_grow(grid.sheet_id, "COLUMNS", cols_needed - grid.cols))
            grid.cols = cols_needed
        if len(base_rows) > grid.base_rows:
            first.append(_grow(grid.base_id, "ROWS", len(base_rows) - grid.base_rows))
            grid.base_rows = len(base_rows)
        if base_cols > grid.base_cols:
            first.append(_grow(grid.base_id, "COLUMNS", base_cols - grid.base_cols))
            grid.base_cols = base_cols
        for c, header in plan.new_headers:
            first.append(_update(grid.sheet_id, 0, c, [[{"userEnteredValue": {"stringValue": header},
                                                        "userEnteredFormat": {"textFormat": {"bold": True}}}]],
                                 "userEnteredValue,userEnteredFormat.textFormat.bold"))
        first += self._look_requests(grid.sheet_id, look, new_sheet)
        changed_base = _changed_rows(snap.base_rows, base_rows, base_cols)
        final_base = {}
        if 0 in changed_base and encoded is not None and encoded.closing is not None:
            # the new slots go first (runs' base rows name them), the new read state last (see batches)
            final_base[0] = changed_base[0]
            early = encoded.body[0]
            changed_base[0] = early + [None] * (base_cols - len(early))
        owner = _owners(base_rows, changed_base)
        ids_of_rows = {r: run_id for run_id, r in plan.run_rows.items()}
        by_row: dict[int, list] = {}
        for update in plan.updates:
            by_row.setdefault(update[0], []).append(update)
        updates = ((ids_of_rows.get(r, ""), _updates(grid.sheet_id, cells, look.owned, plan.link_cols, plan.links))
                   for r, cells in sorted(by_row.items()))
        placing = NewRows(grid.sheet_id, plan.insert_at, inserting,
                          lambda row: _row_json(row, plan.link_cols, plan.links),
                          lambda start, end: [_repeat(grid.sheet_id, c, pattern, start, end)
                                              for c, pattern in sorted(look.new_row_formats.items())])
        check = None
        if not new_sheet and snap.grid and plan.writes_cells:
            check = _check_ranges(snap, as_read, plan, sorted(by_row), inserting)
        deletes = [{"deleteDimension": {"range": {"sheetId": grid.sheet_id, "dimension": "ROWS", "startIndex": r,
                                                  "endIndex": r + 1}}} for r in plan.deleted_after_inserts()]
        grid.rows -= len(deletes)
        return _Write(snap.worksheet, grid, batches(first, updates, plan.new_rows, plan.new_run_ids, placing,
                                                    grid.base_id, changed_base, owner,
                                                    self.capabilities.request_bytes, deletes, final_base),
                      check, len(plan.new_rows) + len(by_row))

    def _check_unmoved(self, checks: list["_Check"]) -> None:
        """Optimistic concurrency, in one small read just before the write, for every worksheet written: the
        header row, the key column and the rows about to be rewritten must be as the sync read them, and the
        rows and columns about to be filled must still be empty. If a person sorted, moved, inserted, deleted or
        edited any of them, or typed a row below the table, the positions the plan names are stale: SheetMoved,
        and the sync reads again and plans again."""
        moved = SheetMoved("The sheet changed while this sync was planning its write (a person sorted, moved, "
                           "edited, added or deleted rows or columns).",
                           "The sync reads it again and plans again; nothing was written.")
        try:
            got = self._call("checking the sheet before writing", self.http.values_batch_get, self.id,
                             [r for c in checks for r in c.ranges],
                             params={"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
        except SinkError as exc:  # every range fitted the grid as read: rows or columns were deleted since
            raise moved from exc
        found = got.get("valueRanges", [])
        for check in checks:
            mine, found = found[:len(check.ranges)], found[len(check.ranges):]
            # Google echoes a whole row or column clipped to the grid: rows or columns added at the bottom or the
            # right since the read (where a person may have typed) lie past what the plan checked.
            if len(mine) < 2 or (_size(mine[0].get("range", ""), 0, 0)[1], _size(mine[1].get("range", ""), 0, 0)[0]) \
                    != (check.size.cols, check.size.rows):
                raise moved
            if [_trimmed(v.get("values", [])) for v in mine] != check.expected:
                raise moved

    def _send(self, batch: Batch) -> None:
        """One atomic batchUpdate. One that would act twice if sent twice and whose answer is lost (or is a
        5xx) raises OutcomeUnknown: the sync then reads what landed and plans again."""
        if len(batch.body) > MAX_REQUEST_BYTES:  # one run's row alone: no split can help
            raise SinkError(f"A single run's row is {len(batch.body):,} bytes; Google refuses requests over "
                            f"{MAX_REQUEST_BYTES:,}. Nothing more was sent.",
                            "Sync fewer columns (MAX_COLUMNS, DYNAMIC_HEADERS include/exclude).")
        log.debug("writing %d runs in %d bytes", batch.runs, len(batch.body))
        response = self._call("writing the sync", self.session.request, "post",
                              SPREADSHEET_BATCH_UPDATE_URL % self.id, data=batch.body,
                              headers={"Content-Type": "application/json"}, repeatable=batch.repeatable)
        if not response.ok:
            raise self._api_error("writing the sync", response)

    def _look_requests(self, sheet_id: int, look: Look, new_sheet: bool) -> list[dict]:
        """First set-up formats, then the highlight rules: added, or found and moved with their column."""
        out: list[dict] = []
        if look.freeze_header and not new_sheet:  # a new sheet is made frozen
            out.append({"updateSheetProperties": {"properties": {"sheetId": sheet_id,
                                                                 "gridProperties": {"frozenRowCount": 1}},
                                                  "fields": "gridProperties.frozenRowCount"}})
        for setup in look.setup:
            if setup.number_format:
                out.append(_repeat(sheet_id, setup.col, setup.number_format, 1))
            if setup.width:
                out.append({"updateDimensionProperties": {
                    "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": setup.col,
                              "endIndex": setup.col + 1},
                    "properties": {"pixelSize": pixels(setup.width)}, "fields": "pixelSize"}})
        if look.highlights:
            found = [] if new_sheet else self._tool_rules(sheet_id)
            out += rule_requests(sheet_id, look.highlights, found)
        return out

    def _tool_rules(self, sheet_id: int) -> list[tuple[int, int, str, str]]:
        """(index, column, kind, goal) of the rules this tool made on a sheet: one read, made only when highlight
        rules must change on a sheet that existed before this sync (a column moved, HIGHLIGHT changed, rules
        to add where a lost base may have left some)."""
        meta = self._call("reading the conditional formats", self.http.fetch_sheet_metadata, self.id,
                          params={"fields": "sheets(properties(sheetId),conditionalFormats)"})
        for sheet in meta.get("sheets", []):
            if sheet.get("properties", {}).get("sheetId") == sheet_id:
                return [(i, *made) for i, rule in enumerate(sheet.get("conditionalFormats", []))
                        if (made := _tool_rule(rule)) is not None]
        return []

    def _load_sizes(self, worksheet: str, grid: SheetGrid) -> None:
        """Keeps the cached metadata in step with what this write did, without another read."""
        for title, sid, rows, cols in ((worksheet, grid.sheet_id, grid.rows, grid.cols),
                                       (base_title(worksheet), grid.base_id, grid.base_rows, grid.base_cols)):
            if sid is not None:
                self.sheets[title] = {"sheetId": sid, "title": title,
                                      "gridProperties": {"rowCount": rows, "columnCount": cols}}

    def _new_id(self, taken: set) -> int:
        while True:
            candidate = self.rng.randrange(1, 2**31 - 1)
            if candidate not in taken:
                return candidate

    def _check_cells(self, extra: int) -> None:
        used = sum(p["gridProperties"]["rowCount"] * p["gridProperties"]["columnCount"]
                   for p in self.sheets.values() if "gridProperties" in p)
        if extra > 0 and used + extra > MAX_CELLS:
            raise SinkError(f"This sync needs {extra:,} more cells, but the spreadsheet has only "
                            f"{max(MAX_CELLS - used, 0):,} of Google's 10,000,000 left.",
                            "Delete unused sheets or empty rows and columns, lower MAX_COLUMNS, or sync into "
                            "a new spreadsheet.")


@dataclass
class _Check:
    ranges: list[str]
    expected: list[list]
    size: SheetGrid  # the grid as read


@dataclass
class _Write:
    worksheet: str
    grid: SheetGrid  # kept in step with what the bodies do
    batches: Iterator[Batch]
    check: _Check | None
    runs: int


def _check_ranges(snap: Snapshot[SheetGrid], size: SheetGrid, plan: Plan, rows: list[int], inserting: bool) -> _Check:
    """What GoogleSheetsSink._check_unmoved reads of one worksheet, and what it must find there."""
    key_col = plan.layout.key_col
    title = quote(snap.worksheet)
    letters = column_letters(key_col if key_col is not None else 0)
    checked = rows if len(rows) <= CHECKED_ROWS else []
    ranges = [f"{title}!1:1", f"{title}!{letters}:{letters}"] + [f"{title}!{r + 1}:{r + 1}" for r in checked]
    expected = [_trimmed(snap.grid[:1]),
                _trimmed([[row[key_col]] if key_col is not None and key_col < len(row) else []
                          for row in snap.grid])] + [_trimmed([snap.grid[r]]) for r in checked]
    if rows and not checked:  # many rows: one span from the first to the last, as read
        ranges.append(f"{title}!{rows[0] + 1}:{rows[-1] + 1}")
        expected.append(_trimmed(snap.grid[rows[0]:rows[-1] + 1]))
    # rows and columns past the grid as read exist only once this write adds them: nobody typed there
    last_row = min(plan.insert_at + len(plan.new_rows), size.rows)
    if plan.new_rows and not inserting and plan.insert_at < last_row:  # new rows go into rows that were empty
        ranges.append(f"{title}!{plan.insert_at + 1}:{last_row}")
        expected.append([])
    last_col = min(plan.new_headers[-1][0] + 1, size.cols) if plan.new_headers else 0
    if plan.new_headers and plan.new_headers[0][0] < last_col:  # new columns go where no row had a value
        ranges.append(f"{title}!{column_letters(plan.new_headers[0][0])}:{column_letters(last_col - 1)}")
        expected.append([])
    return _Check(ranges, expected, size)


def _size(a1: str, rows: int, cols: int) -> tuple[int, int]:
    """The grid size from a whole-sheet read's echoed range ('runs!A1:Z1000')."""
    m = _RANGE.search(a1)
    if not m or not m.group(3):
        return rows, cols
    return int(m.group(4)), _column(m.group(3))


def _cell(value: Any, link: str | None = None) -> dict:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, (int, float)):
        return {"userEnteredValue": {"numberValue": value}}
    if isinstance(value, dt.datetime):  # its format comes from its column (or _updates)
        return {"userEnteredValue": {"numberValue": serial_days(value)}}
    cell: dict = {"userEnteredValue": {"stringValue": str(value)}}  # never a formula, whatever it starts with
    if link:
        cell["textFormatRuns"] = [{"startIndex": 0, "format": {"link": {"uri": link}}}]
    return cell


def _cell_json(value: Any, link: str | None = None) -> str:
    """_cell as JSON text, with a fast path for the numbers and plain text most cells hold."""
    kind = type(value)
    if value is None:
        return "{}"
    if kind is int:
        return '{"userEnteredValue":{"numberValue":%d}}' % value
    if kind is float:
        return '{"userEnteredValue":{"numberValue":%r}}' % value
    if kind is str and not link:
        return '{"userEnteredValue":{"stringValue":%s}}' % json.dumps(value, ensure_ascii=False)
    return json.dumps(_cell(value, link), separators=(",", ":"), ensure_ascii=False)


def _trimmed(rows: list[list]) -> list[list]:
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


def _grow(sheet_id: int, dimension: str, length: int) -> dict:
    return {"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": length}}


def _row_json(row: list, link_cols: frozenset[int], links: dict[str, str]) -> str:
    return '{"values":[' + ",".join(_cell_json(v, links.get(v) if c in link_cols else None)
                                    for c, v in enumerate(row)) + "]}"


def _changed_rows(old: list[list], new: list[list], width: int) -> dict[int, list]:
    """The base rows that differ from what was read, padded to the base's width (None clears a cell)."""
    out = {}
    for i, row in enumerate(new):
        if i >= len(old) or [str(x) for x in old[i]] != row:
            out[i] = list(row) + [None] * (width - len(row))
    return out


def _owners(rows: list[list], changed: dict[int, list]) -> dict[str, list[int]]:
    """run id -> the changed base rows that belong to it: a row naming a run, and the rows after it that name
    none (continuations); the base's own header rows, before the first run's, belong to no run."""
    owner: dict[str, list[int]] = {}
    current = None
    for i, row in enumerate(rows):
        first_cell = row[0] if row else None
        if isinstance(first_cell, str) and first_cell and not first_cell.startswith(BASE_MARK):
            current = first_cell
        if current is not None and i in changed:
            owner.setdefault(current, []).append(i)
    return owner


def _update(sheet_id: int, r: int, c: int, rows: list[list[dict]], fields: str) -> dict:
    return {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": r, "columnIndex": c},
                            "rows": [{"values": row} for row in rows], "fields": fields}}


def _updates(sheet_id: int, updates: list[tuple[int, int, Any]], owned: set[int] = frozenset(),
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
            cells = [_cell(v, links.get(v) if linked and isinstance(v, str) else None)
                     | ({"userEnteredFormat": _DATE_FORMAT} if dated else {}) for _, _, v in run]
            fields = "userEnteredValue,userEnteredFormat.numberFormat" if dated else "userEnteredValue"
            if linked:  # the link goes (or a stale one is cleared) with the value: a sweep's best run changed
                fields += ",textFormatRuns"
            out.append(_update(sheet_id, run[0][0], run[0][1], [cells], fields))
            run.clear()

    for r, c, v in sorted(updates, key=lambda u: (u[0], u[1])):
        needs_format = isinstance(v, dt.datetime) and c not in owned
        links_here = c in link_cols
        if run and (r != run[-1][0] or c != run[-1][1] + 1 or needs_format != dated or links_here != linked):
            flush()
        dated, linked = needs_format, links_here
        run.append((r, c, v))
    flush()
    return out


def pixels(chars: int) -> int:
    """A width in characters as Sheets pixels (Arial 10, bold header), with the cell's padding."""
    return 7 * chars + 10


def _color(rgb: tuple[float, float, float]) -> dict:
    return {"red": rgb[0], "green": rgb[1], "blue": rgb[2]}


def _repeat(sheet_id: int, col: int, pattern: str, start: int, end: int | None = None) -> dict:
    """A number format over one column from row `start` (to the end of the grid when no end)."""
    grid = {"sheetId": sheet_id, "startRowIndex": start, "startColumnIndex": col, "endColumnIndex": col + 1}
    if end is not None:
        grid["endRowIndex"] = end
    return {"repeatCell": {"range": grid,
                           "cell": {"userEnteredFormat": {"numberFormat": {"type": kind_of(pattern),
                                                                           "pattern": pattern}}},
                           "fields": "userEnteredFormat.numberFormat"}}


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


def _tool_rule(found: dict) -> tuple[int, str, str] | None:
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


def rule_requests(sheet_id: int, highlights: list[Highlight], found: list[tuple[int, int, str, str]]
                  ) -> list[dict]:
    """The rule changes as requests: rewrites in place first (indexes as read), then deletions from the
    highest index down, then additions at the top of the list, ahead of a person's own rules."""
    updates, deletes, adds = rule_changes(highlights, found)
    out = [{"updateConditionalFormatRule": {"sheetId": sheet_id, "index": index,
                                            "rule": rule(sheet_id, h.col, h.goal, kind)}} for index, h, kind in updates]
    out += [{"deleteConditionalFormatRule": {"sheetId": sheet_id, "index": i}} for i in sorted(deletes, reverse=True)]
    out += [{"addConditionalFormatRule": {"index": i, "rule": rule(sheet_id, h.col, h.goal, kind)}}
            for i, (h, kind) in enumerate(adds)]
    return out
