"""Google Sheets: open a spreadsheet, read a worksheet and its base in one request, apply a Plan in one.

Every write of a sync goes into one spreadsheets.batchUpdate, which Google applies atomically, and names
absolute cells, so a retried request cannot duplicate a row. Strings are sent as stringValue, which Google
never reads as a formula. The base lives in a hidden worksheet beside each synced one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL

from ..base import Base, serial_days
from ..errors import AccessError, CredentialsError, SinkError, TransientError
from ..look import (BEST_FILL, DATE_TIME, SCALE_BEST, SCALE_WORST, Highlight, Look, best_formula, hex_color,
                    kind_of, rule_changes, rule_kind)
from ..merge import KEY, MAX_CELLS, Plan, header_after
from . import Snapshot
from .google_http import GoogleSession, Interrupted

log = logging.getLogger("wandb_spreadsheet_sync")
SCOPES = ["https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive.readonly"]
_DATE_FORMAT = {"numberFormat": {"type": "DATE_TIME", "pattern": DATE_TIME}}
_URL_KEY = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]{25,}$")
_NOT_REPEATABLE = {"insertDimension", "addConditionalFormatRule", "deleteConditionalFormatRule"}
_RANGE = re.compile(r"!([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$")


def base_title(worksheet: str) -> str:
    return f"_sync_base {worksheet}"[:100]


def quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def spreadsheet_key(spec: str) -> str | None:
    """A URL or a bare key gives the key; anything else is a title to look up."""
    m = _URL_KEY.search(spec)
    if m:
        return m.group(1)
    return spec if _BARE_KEY.match(spec) and " " not in spec else None


def load_credentials(key: str):
    """A service-account key from a file path, or the JSON itself (handy for secrets in the environment)."""
    from google.oauth2.service_account import Credentials

    try:
        if key.lstrip().startswith("{"):
            info = json.loads(key)
        else:
            info = json.loads(Path(key).read_text(encoding="utf-8"))
        _warn_if_world_readable(key)
        return Credentials.from_service_account_info(info, scopes=SCOPES)
    except (OSError, ValueError, KeyError) as exc:
        raise CredentialsError(f"The Google service-account key could not be read ({type(exc).__name__}: "
                               f"{str(exc)[:120]}).",
                               "GCP_JSON must name the JSON key file downloaded from the Google Cloud console "
                               "(IAM > Service accounts > Keys > Add key > JSON).") from None


def _warn_if_world_readable(key: str) -> None:
    path = Path(key)
    try:
        if path.exists() and path.stat().st_mode & 0o004:
            log.warning("the key file %s can be read by every user of this machine; chmod 600 it", path)
    except OSError:
        pass


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


@dataclass
class _Ids:
    sheet_id: int | None
    base_id: int | None
    rows: int = 0
    cols: int = 0
    base_rows: int = 0


class GoogleSheetsSink:
    cell_form = None  # Sheets keeps typed values as they are
    styles = True

    def __init__(self, spreadsheet: str, key: str, endpoint: str | None = None, timeout: float = 60.0,
                 stop: threading.Event | None = None):
        import gspread  # imported only when a sync runs, never for --help

        self.creds = load_credentials(key)
        self.email = getattr(self.creds, "service_account_email", "the service account")
        self.session = GoogleSession(self.creds, endpoint, timeout=timeout, stop=stop)
        self.counts = self.session.counts  # every request the session sends, retries included
        self.client = gspread.Client(auth=self.creds, session=self.session)
        self.http = self.client.http_client
        self.spec = spreadsheet
        self.id: str | None = None
        self.sheets: dict[str, dict] = {}  # title -> properties, from the last metadata read
        self._fresh = False
        self.rng = random.Random()

    # -- opening -----------------------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kw):
        """Runs a gspread call, turning its errors into ours with what to do."""
        import gspread
        from google.auth.exceptions import RefreshError, TransportError
        import requests

        try:
            return fn(*args, **kw)
        except Interrupted:
            raise
        except RefreshError as exc:
            raise CredentialsError(f"Google refused the service-account key ({str(exc)[:200]}).",
                                   "Check that the key file is current (keys can be deleted in the Cloud "
                                   "console) and that this machine's clock is right.") from exc
        except gspread.exceptions.SpreadsheetNotFound as exc:
            raise AccessError(f"No spreadsheet {self.spec!r} is shared with {self.email}.",
                            f"Open the spreadsheet, click Share, and add {self.email} as an Editor "
                            "(or check SPREADSHEET / --sheet_name).") from exc
        except PermissionError as exc:  # gspread's own translation of a 403
            raise AccessError(f"The service account {self.email} may not open spreadsheet {self.spec!r}.",
                            f"Share the spreadsheet with {self.email} as an Editor.") from exc
        except gspread.exceptions.APIError as exc:
            raise self._api_error(what, exc) from exc
        except (requests.ConnectionError, requests.Timeout, TransportError) as exc:
            raise TransientError(f"Google Sheets could not be reached while {what} ({type(exc).__name__}).",
                                 "The next sync will try again.") from exc

    def _api_error(self, what: str, exc) -> Exception:
        status = exc.response.status_code
        try:
            message = exc.response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.response.text[:200]
        if status in (403, 404):
            return AccessError(f"Google answered {status} while {what}: {message}",
                             f"Share the spreadsheet {self.spec!r} with {self.email} as an Editor, and check "
                             "the URL or key.")
        if status == 401:
            return CredentialsError(f"Google rejected the credentials while {what}: {message}",
                                    "Check the service-account key file.")
        if status in (429,) or status >= 500:
            return TransientError(f"Google answered {status} while {what}, after retries: {message}",
                                  "The next sync will try again.")
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

    def _ids(self, worksheet: str) -> _Ids:
        main, base = self.sheets.get(worksheet), self.sheets.get(base_title(worksheet))
        return _Ids(main["sheetId"] if main else None, base["sheetId"] if base else None,
                    main["gridProperties"]["rowCount"] if main else 0,
                    main["gridProperties"]["columnCount"] if main else 0,
                    base["gridProperties"]["rowCount"] if base else 0)

    # -- reading -----------------------------------------------------------------------------
    def read(self, worksheet: str, _again: bool = True) -> Snapshot:
        import gspread

        if self.id is None:
            self.open()
        ids = self._ids(worksheet)
        if (ids.sheet_id is None or ids.base_id is None) and not self._fresh:
            self._load_metadata()  # someone may have made or deleted a sheet since
            ids = self._ids(worksheet)
        self._fresh = False
        ranges = [quote(t) for t, known in ((worksheet, ids.sheet_id), (base_title(worksheet), ids.base_id))
                  if known is not None]

        def fetch():
            try:
                return self.http.values_batch_get(self.id, ranges, params={
                    "valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
            except gspread.exceptions.APIError as exc:
                if _again and exc.response.status_code == 400 and "Unable to parse range" in exc.response.text:
                    return None  # a sheet was renamed or deleted since the metadata was read
                raise

        grid, base_rows = [], []
        if ranges:
            got = self._call("reading the worksheet", fetch)
            if got is None:
                self._load_metadata()
                return self.read(worksheet, _again=False)
            value_ranges = got.get("valueRanges", [])
            if ids.sheet_id is not None:
                main = value_ranges.pop(0)
                grid = main.get("values", [])
                ids.rows, ids.cols = _size(main.get("range", ""), ids.rows, ids.cols)
            if ids.base_id is not None and value_ranges:
                base_rows = value_ranges[0].get("values", [])
                ids.base_rows = _size(value_ranges[0].get("range", ""), ids.base_rows, 3)[0]
        # A base without its worksheet (the sheet was deleted) describes rows that are gone: start afresh.
        base = Base.decode(base_rows) if ids.sheet_id is not None else Base()
        return Snapshot(worksheet, grid, base, base_rows, ids)

    # -- writing -----------------------------------------------------------------------------
    def apply(self, snap: Snapshot, plan: Plan, links: dict[str, str] | None = None,
              look: Look | None = None) -> None:
        ids: _Ids = snap.state
        look = look or Look()
        new_sheet = ids.sheet_id is None
        requests: list[dict] = []
        taken = {p["sheetId"] for p in self.sheets.values()}
        rows_needed = max(plan.rows_after(len(snap.grid)), 1)
        cols_needed = max(plan.width, 1)
        base_rows = plan.base.encode() if plan.base_changed else []
        self._check_cells(max(rows_needed, ids.rows) * max(cols_needed, ids.cols) - ids.rows * ids.cols
                          + max(len(base_rows) - ids.base_rows, 0) * 3)
        if ids.sheet_id is None:
            ids.sheet_id = self._new_id(taken)
            requests.append({"addSheet": {"properties": {
                "sheetId": ids.sheet_id, "title": snap.worksheet,
                "gridProperties": {"rowCount": rows_needed, "columnCount": cols_needed, "frozenRowCount": 1}}}})
            requests.append({"repeatCell": {"range": {"sheetId": ids.sheet_id, "startRowIndex": 0, "endRowIndex": 1},
                                            "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                                            "fields": "userEnteredFormat.textFormat.bold"}})
            ids.rows, ids.cols = rows_needed, cols_needed
        if ids.base_id is None and base_rows:
            ids.base_id = self._new_id(taken | {ids.sheet_id})
            requests.append({"addSheet": {"properties": {
                "sheetId": ids.base_id, "title": base_title(snap.worksheet), "hidden": True,
                "gridProperties": {"rowCount": len(base_rows), "columnCount": 3}}}})
            ids.base_rows = len(base_rows)
        grow_rows, grow_cols = rows_needed - ids.rows, cols_needed - ids.cols
        grow_base = len(base_rows) - ids.base_rows
        inserting = bool(plan.new_rows) and plan.insert_at < max(len(snap.grid), 1)
        if inserting:
            ids.rows += len(plan.new_rows)  # insertDimension grows the grid by itself
        elif grow_rows > 0:
            requests.append({"appendDimension": {"sheetId": ids.sheet_id, "dimension": "ROWS", "length": grow_rows}})
            ids.rows = rows_needed
        if grow_cols > 0:
            requests.append({"appendDimension": {"sheetId": ids.sheet_id, "dimension": "COLUMNS", "length": grow_cols}})
            ids.cols = cols_needed
        if grow_base > 0:
            requests.append({"appendDimension": {"sheetId": ids.base_id, "dimension": "ROWS", "length": grow_base}})
            ids.base_rows = len(base_rows)
        for c, header in plan.new_headers:
            requests.append(_update(ids.sheet_id, 0, c, [[{"userEnteredValue": {"stringValue": header},
                                                          "userEnteredFormat": {"textFormat": {"bold": True}}}]],
                                    "userEnteredValue,userEnteredFormat.textFormat.bold"))
        requests += _updates(ids.sheet_id, plan.updates, look.owned)
        if plan.new_rows:
            at = plan.insert_at
            if inserting:  # newest_first: make room under the header
                requests.append({"insertDimension": {"range": {"sheetId": ids.sheet_id, "dimension": "ROWS",
                                                               "startIndex": at, "endIndex": at + len(plan.new_rows)},
                                                     "inheritFromBefore": False}})
            key_col = next((c for c, h in enumerate(header_after(snap.grid, plan)) if h == KEY), None)
            requests.append(_new_rows_json(ids.sheet_id, at, plan.new_rows, key_col, links or {}))
            set_up = {s.col for s in look.setup}
            requests += [_repeat(ids.sheet_id, c, pattern, at, at + len(plan.new_rows))
                         for c, pattern in sorted(look.new_row_formats.items()) if c not in set_up]
        requests += self._look_requests(ids.sheet_id, look, new_sheet)
        if base_rows:
            requests += _base_updates(ids.base_id, snap.base_rows, base_rows)
        if not requests:
            return
        # An insert or a rule added or deleted by index would land twice if a write whose answer was lost were
        # sent again: such a write is not retried; the next sync reads what landed.
        self.session.idempotent_writes = not any(isinstance(r, dict) and r.keys() & _NOT_REPEATABLE for r in requests)
        self.session.unknown_outcome = False
        # The body is assembled as text, new rows serialised one at a time: a first sync of a million cells
        # would otherwise hold a million CellData dicts at once (about 1 GB for 10,000 runs x 100 columns).
        body = ('{"requests":[' + ",".join(r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))
                                           for r in requests) + "]}").encode()
        del requests
        try:
            self._call("writing the sync", self.http.request, "post", SPREADSHEET_BATCH_UPDATE_URL % self.id,
                       data=body, headers={"Content-Type": "application/json"})
        except SinkError as exc:
            # A retry after a lost answer that Google refuses because its sheet "already exists": the first
            # attempt landed, and a batchUpdate lands whole, so the write is done.
            if not (self.session.unknown_outcome and "already exists" in exc.message):
                raise
            log.debug("the first attempt of the write landed; its answer was lost on the way back")
        finally:
            self.session.idempotent_writes = True
        self._load_sizes(snap.worksheet, ids)

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
            found = [] if new_sheet else self._our_rules(sheet_id)
            out += rule_requests(sheet_id, look.highlights, found)
        return out

    def _our_rules(self, sheet_id: int) -> list[tuple[int, int, str]]:
        """(index, column, kind) of the rules this tool made on a sheet: one read, made only when highlight
        rules must change on a sheet that existed before this sync (a column moved, HIGHLIGHT changed, rules
        to add where a lost base may have left some)."""
        meta = self._call("reading the conditional formats", self.http.fetch_sheet_metadata, self.id,
                          params={"fields": "sheets(properties(sheetId),conditionalFormats)"})
        for sheet in meta.get("sheets", []):
            if sheet.get("properties", {}).get("sheetId") == sheet_id:
                return [(i, *ours) for i, rule in enumerate(sheet.get("conditionalFormats", []))
                        if (ours := _ours(rule)) is not None]
        return []

    def _load_sizes(self, worksheet: str, ids: _Ids) -> None:
        """Keeps the cached metadata in step with what this write did, without another read."""
        for title, sid, rows, cols in ((worksheet, ids.sheet_id, ids.rows, ids.cols),
                                       (base_title(worksheet), ids.base_id, ids.base_rows, 3)):
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


def _new_rows_json(sheet_id: int, at: int, rows: list[list], key_col: int | None, links: dict[str, str]) -> str:
    parts = []
    for row in rows:
        cells = [_cell_json(v, links.get(v) if c == key_col else None) for c, v in enumerate(row)]
        parts.append('{"values":[' + ",".join(cells) + "]}")
    return ('{"updateCells":{"start":{"sheetId":%d,"rowIndex":%d,"columnIndex":0},"rows":[%s],'
            '"fields":"userEnteredValue,textFormatRuns"}}'
            % (sheet_id, at, ",".join(parts)))


def _update(sheet_id: int, r: int, c: int, rows: list[list[dict]], fields: str) -> dict:
    return {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": r, "columnIndex": c},
                            "rows": [{"values": row} for row in rows], "fields": fields}}


def _updates(sheet_id: int, updates: list[tuple[int, int, Any]], owned: set[int] = frozenset()) -> list[dict]:
    """Changed cells as few updateCells as possible: neighbours in a row that are alike go together. A
    date-time brings its own format only into a column the tool did not format as a whole (a text date
    rewritten typed would otherwise show as a serial number); elsewhere a cell keeps the format it has."""
    out: list[dict] = []
    run: list[tuple[int, int, Any]] = []
    dated = False

    def flush() -> None:
        if run:
            cells = [_cell(v) | ({"userEnteredFormat": _DATE_FORMAT} if dated else {}) for _, _, v in run]
            fields = "userEnteredValue,userEnteredFormat.numberFormat" if dated else "userEnteredValue"
            out.append(_update(sheet_id, run[0][0], run[0][1], [cells], fields))
            run.clear()

    for r, c, v in sorted(updates, key=lambda u: (u[0], u[1])):
        needs_format = isinstance(v, dt.datetime) and c not in owned
        if run and (r != run[-1][0] or c != run[-1][1] + 1 or needs_format != dated):
            flush()
        dated = needs_format
        run.append((r, c, v))
    flush()
    return out


def _base_updates(base_id: int, old: list[list], new: list[list]) -> list[dict]:
    """Only the base rows that changed, in contiguous blocks."""
    out: list[dict] = []
    start, block = None, []
    for i, row in enumerate(new + [None]):
        changed = row is not None and (i >= len(old) or [str(x) for x in old[i]] != row)
        if changed:
            if start is None:
                start = i
            block.append([{"userEnteredValue": {"stringValue": v}} for v in row] + [{}] * (3 - len(row)))
        elif start is not None:
            out.append(_update(base_id, start, 0, block, "userEnteredValue"))
            start, block = None, []
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


def _ours(found: dict) -> tuple[int, str] | None:
    """(column, kind) of a rule this tool made, as Google gives it back (colours normalised, range closed)."""
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
    return (col, kind) if kind else None


def rule_requests(sheet_id: int, highlights: list[Highlight], found: list[tuple[int, int, str]]) -> list[dict]:
    """The rule changes as requests: rewrites in place first (indexes as read), then deletions from the
    highest index down, then additions at the top of the list, ahead of a person's own rules."""
    updates, deletes, adds = rule_changes(highlights, found)
    out = [{"updateConditionalFormatRule": {"sheetId": sheet_id, "index": index,
                                            "rule": rule(sheet_id, h.col, h.goal, kind)}} for index, h, kind in updates]
    out += [{"deleteConditionalFormatRule": {"sheetId": sheet_id, "index": i}} for i in sorted(deletes, reverse=True)]
    out += [{"addConditionalFormatRule": {"index": i, "rule": rule(sheet_id, h.col, h.goal, kind)}}
            for i, (h, kind) in enumerate(adds)]
    return out
