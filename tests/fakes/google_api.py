"""A fake of Google's OAuth token endpoint, Sheets v4 and Drive v3 on one loopback URL, with fault injection.

Google's edges are on by default: the 10 MiB request cap, a read answer over 10 MiB refused, a URL over 8 KiB
refused by the front end, per-minute quotas, and (when armed) a person acting between a read and the next write.
Run standalone:
python -m tests.fakes.google_api --port 0 [--state FILE] [--write-credentials FILE] [--quota-per-user N]

What the fake assumes about Google where Google does not document it (each is a World setting a test can change):
- Read size (`max_read_bytes`, default 10,485,760 bytes of JSON answer, as the fake sends it: pretty-printed, as
  Google sends it by default). Google documents no cap on an answer, but says it answers 503 "when the complexity
  of the request or spreadsheet is high" and advises large spreadsheets to "retrieve only the necessary values"
  (developers.google.com/workspace/sheets/api/troubleshoot-api-errors, "503 Service Unavailable"); users report
  whole-sheet reads that fail: gspread #724 (get_all_values of ~4,000 rows: 503 "The service is currently
  unavailable."), gspread #375 (a 1,000 x 60 range: connection aborted; chunks of 100 rows worked), airbyte #35274
  (reads must finish within Google's 180 s). So a read whose answer would pass the cap gets Google's 503 envelope
  (status UNAVAILABLE), the same as a 503 Google sends for any other reason: a client cannot tell them apart, and
  retrying the same read gets the same answer. The cap is the fake's choice of where "too complex" starts (10 MiB,
  the same as Google's documented request cap): a single answer of a 10,000 x 100 sheet is about 35 MB.
- Read time (`ms_per_1000_cells_read`, default 0): per 1,000 cells in the answer, as `ms_per_1000_cells` is per
  1,000 cells a write sends. Each logged request keeps `cells_read` (the cells of its answer: values, blanks inside
  a row included, or CellData of grid data) and `processing` (seconds held), refused or not.
- URL length (`max_url_bytes`, default 8,192 bytes of request target: path and query as sent, percent-encoded):
  Google's front end refuses a longer one with 414 and its HTML error page ("The requested URL is too large to
  process."), before authentication and quotas: no JSON envelope. Google documents no number; 8,192 is what users
  measured (google-api-nodejs-client #972: Drive files.list "limited to 8192 symbols"). Google's own Python
  client turns any GET over 2,048 characters into a POST with `X-HTTP-Method-Override: GET` and the query as a
  form body (googleapiclient/http.py MAX_URI_LENGTH); the fake serves that as the GET (a read, for quotas and
  for the log). values:batchGetByDataFilter is the documented way to ask for ranges that do not fit a URL.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from . import a1, discovery, fieldmask, google_oauth, person, quota
from .cells import ApiError
from .google_oauth import Auth, OAuthError
from .httpfake import BaseHandler, BaseWorld, Fault, FakeServer, LoggedRequest, html_error
from .sheets_model import Sheet, Spreadsheet, new_id

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
FAULT_MESSAGES = {
    500: "Internal error encountered.", 502: "Bad Gateway", 503: "The service is currently unavailable.",
}


@dataclass
class World(BaseWorld):
    """Everything the fake knows; tests read and change it directly."""

    spreadsheets: dict[str, Spreadsheet] = field(default_factory=dict)
    service_accounts: dict[str, Any] = field(default_factory=dict)  # e-mail -> RSA public key
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (e-mail, expiry)
    # Sheets' default per-minute quotas; a long soak raises them as for a project whose quota was raised.
    read_requests_per_user: int = 60
    write_requests_per_user: int = 60
    read_requests_per_project: int = 300
    write_requests_per_project: int = 300
    quota_window: float = 60.0  # seconds
    project_number: int = 123456789012
    max_request_bytes: int = 10_485_760  # Google refuses bodies over 10 MiB; tests lower it to exercise chunking
    largest_request_bytes: int = 0  # the largest body seen, refused or not
    ms_per_1000_cells: float = 0  # processing time a write takes before its answer, per 1,000 cells it sends
    ms_per_1000_cells_read: float = 0  # processing time a read takes before its answer, per 1,000 cells in it
    max_read_bytes: int = 10_485_760  # a read answer over this many bytes gets Google's 503 (module docstring)
    largest_read_bytes: int = 0  # the largest read answer built, refused or not
    max_url_bytes: int = 8192  # Google's front end answers 414 to a longer request target (module docstring)
    token_lifetime: int = 3600
    validate: bool = True
    violations: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(1234))
    meter: quota.Meter = field(default_factory=quota.Meter)
    people: list[person.PersonAction] = field(default_factory=list)
    auth: Auth = field(default_factory=Auth)  # OAuth clients, grants, impersonation rights, the metadata server

    # -- helpers for tests -------------------------------------------------------------------
    def add_spreadsheet(self, title: str, sheets: dict[str, list[list]] | None = None,
                        owners: set[str] | None = None, spreadsheet_id: str | None = None,
                        rows: int = 1000, cols: int = 26) -> Spreadsheet:
        """A spreadsheet as if a person made it; owners None means every service account may open it."""
        from .cells import parse_input

        with self.lock:
            ss = Spreadsheet(spreadsheet_id or new_id(self.rng), title, [], owners=owners)
            for i, (name, grid) in enumerate((sheets or {"Sheet1": []}).items()):
                sheet = Sheet(sheet_id=0 if i == 0 else self.rng.randrange(1, 2**31 - 1), title=name,
                              rows=max(rows, len(grid)), cols=max(cols, max((len(r) for r in grid), default=0)))
                for ri, row in enumerate(grid):
                    for ci, v in enumerate(row):
                        sheet.put(ri, ci, parse_input(v, True, None) if v is not None else None)
                ss.sheets.append(sheet)
            self.spreadsheets[ss.spreadsheet_id] = ss
            return ss

    def grid(self, spreadsheet_id: str, title: str, render: str = "UNFORMATTED_VALUE") -> list[list]:
        """A worksheet's values as a list of rows, as values.get would render them."""
        with self.lock:
            ss = self.spreadsheets[spreadsheet_id]
            return ss.values_get(a1.quote_title(ss.sheet_by_title(title).title), render,
                                 "SERIAL_NUMBER").get("values", [])

    def arm_person(self, spreadsheet_id: str, action: str, after: str = "", skip: int = 0,
                   **kw) -> person.PersonAction:
        """Right after the fake answers the next read of the spreadsheet (values.get, values.batchGet or
        spreadsheets.get), and before any later request, a person does `action` to it (see person.ACTIONS):
        sort(column, ascending=True), insert_rows(index, count=1), delete_rows(start, end), move_column(column,
        to), edit(cell, value), type_row_below(values); each takes sheet=title (default: the first worksheet).
        Every action armed for the spreadsheet is done after that one read, in the order armed.
        `after` counts only reads whose path holds it: a sync opens a spreadsheet with spreadsheets.get before
        its data read, so after="values:batchGet" is what puts the person between that read and the write;
        `skip` lets that many of those reads pass first (skip=1: after the check a sync reads before writing)."""
        person.check(action, kw)
        armed = person.PersonAction(spreadsheet_id, action, kw, after, skip)
        with self.lock:
            self.people.append(armed)
        return armed

    def raise_quota(self, per_user: int, per_project: int | None = None) -> None:
        """Every read and write limit per minute, as for a project whose quota Google raised."""
        self.read_requests_per_user = self.write_requests_per_user = per_user
        self.read_requests_per_project = self.write_requests_per_project = per_project or 5 * per_user

    def quota_limits(self) -> dict[quota.Limit, int]:
        return {quota.Limit("read", True): self.read_requests_per_user,
                quota.Limit("write", True): self.write_requests_per_user,
                quota.Limit("read", False): self.read_requests_per_project,
                quota.Limit("write", False): self.write_requests_per_project}

    def sheets_requests(self) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.log if r.is_sheets]

    def dump(self) -> dict:
        with self.lock:
            return {"spreadsheets": [
                {"id": ss.spreadsheet_id, "title": ss.title,
                 "owners": sorted(ss.owners) if ss.owners is not None else None,
                 "sheets": [{"title": s.title, "sheetId": s.sheet_id, "rows": s.rows, "cols": s.cols,
                             "hidden": s.hidden, "frozenRows": s.frozen_rows,
                             "values": self.grid(ss.spreadsheet_id, s.title)} for s in ss.sheets]}
                for ss in self.spreadsheets.values()]}

    def load(self, state: dict) -> None:
        for ss in state.get("spreadsheets", []):
            owners = set(ss["owners"]) if ss.get("owners") is not None else None
            self.add_spreadsheet(ss["title"], {s["title"]: s.get("values", []) for s in ss["sheets"]},
                                 owners=owners, spreadsheet_id=ss.get("id"))


class FakeGoogle(FakeServer):
    """Token endpoint, Sheets v4 and Drive v3 under one base URL."""

    world: World

    def __init__(self, world: World | None = None, host: str = "127.0.0.1", port: int = 0):
        super().__init__(world or World(), host, port)

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def register_service_account(self, info: dict) -> None:
        """Trust the public half of a service-account JSON (as Google knows its accounts' keys)."""
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        self.world.service_accounts[info["client_email"]] = key.public_key()


class _Handler(BaseHandler):
    world: World

    def fault_response(self, fault: Fault) -> tuple[int, Any, dict]:
        if fault.html:
            return fault.status, html_error(fault.status), {}
        if fault.status == 429:
            limit = quota.Limit(quota.kind_of(self.command, self.path.split("?")[0]), per_user=True)
            value = self.world.quota_limits()[limit]
            return 429, quota.exceeded(limit, value, self.world.project_number).envelope(), {}
        return fault.status, ApiError(fault.status, FAULT_MESSAGES.get(fault.status, "Error")).envelope(), {}

    def respond(self, method: str, raw_path: str, query: dict, raw_body: bytes,
                entry: LoggedRequest) -> tuple[int, Any, dict]:
        with self.world.lock:
            self.world.largest_request_bytes = max(self.world.largest_request_bytes, len(raw_body))
            cap = self.world.max_request_bytes
        if len(raw_body) > cap and raw_path != "/token":  # refused at the API front door: nothing applied
            return 400, _payload_too_large(cap).envelope(), {}
        if method == "POST" and self.headers.get("X-HTTP-Method-Override", "").upper() == "GET" \
                and raw_path.startswith("/v4/"):  # a GET whose query did not fit a URL, as Google's clients send it
            query = {**query, **parse_qs(raw_body.decode(), keep_blank_values=True)}
            method, raw_body = "GET", b""
            entry.method, entry.query = method, query
        # Google's standard parameter: pretty-printed JSON unless the request says prettyPrint=false (then compact)
        self.json_indent = None if query.get("prettyPrint", ["true"])[-1].lower() == "false" else 2
        headers: dict = {}
        is_read = raw_path.startswith("/v4/spreadsheets/") and quota.kind_of(method, raw_path) == "read"
        try:
            body = self._parse_body(raw_body, entry)
            with self.world.lock:
                status, payload, *more = self._route(method, raw_path, query, body)
                headers = more[0] if more else {}
                if status == 200 and is_read:
                    status, payload, headers = self._read_answer(raw_path, payload, headers, entry)
        except ApiError as exc:
            status, payload, headers = exc.code, exc.envelope(), getattr(exc, "headers", {})
        except OAuthError as exc:
            status, payload = exc.status, exc.payload
        if status == 200 and self.world.ms_per_1000_cells and raw_path.startswith("/v4/") and not is_read:
            entry.processing = _cells_sent(entry.body) * self.world.ms_per_1000_cells / 1e6
        if entry.processing:  # outside the lock: other requests go on while this one is processed
            self.stopping.wait(entry.processing)
        return status, payload, headers

    def front_door(self, method: str) -> tuple[int, Any, dict] | None:
        if len(self.path.encode()) > self.world.max_url_bytes:
            return 414, _url_too_large_page(), {}
        return None

    def _read_answer(self, raw_path: str, payload: Any, headers: dict,
                     entry: LoggedRequest) -> tuple[int, Any, dict]:
        """A read's answer, costed: its cells counted and charged, its bytes fixed now (what the person below
        does later cannot show in it) and refused over the cap. Google did the work before it gave up, so a
        refused read is charged too; a refused read is no read, so people armed to act after one wait on."""
        w = self.world
        entry.cells_read = _cells_in(payload)
        entry.processing = entry.cells_read * w.ms_per_1000_cells_read / 1e6
        data = self.encode(payload)
        w.largest_read_bytes = max(w.largest_read_bytes, len(data))
        if len(data) > w.max_read_bytes:
            return 503, ApiError(503, FAULT_MESSAGES[503]).envelope(), {}
        self._people_act(raw_path)
        return 200, data, {**headers, "Content-Type": "application/json; charset=UTF-8"}

    def _people_act(self, raw_path: str) -> None:
        """Armed people act now, under the lock: the answer is already bytes showing the sheet as read, and no
        later request can come between."""
        sid = unquote(re.match(r"^/v4/spreadsheets/([^/:]+)", raw_path).group(1))
        due = [p for p in self.world.people if person.due(p, sid, raw_path)]
        for p in due:
            p.done = True
            try:
                person.act(self.world.spreadsheets[sid], p.action, self.world.rng, **p.kw)
            except (ApiError, ValueError) as exc:
                p.error = str(exc)
                self.world.crashes.append(f"a person could not {p.action} {p.kw}: {exc}")

    def _parse_body(self, raw: bytes, entry: LoggedRequest) -> Any:
        if not raw:
            return None
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            entry.body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            return entry.body

        def reject_constant(name: str) -> None:
            raise ApiError(400, "Invalid JSON payload received. Unexpected token.\n"
                                f"{raw[:80].decode(errors='replace')}")

        try:
            entry.body = json.loads(raw, parse_constant=reject_constant)
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received. Unexpected token.") from None
        return entry.body

    # -- routing -----------------------------------------------------------------------------
    def _route(self, method: str, raw_path: str, query: dict, body: Any) -> tuple[int, Any]:
        if raw_path == "/token" and method == "POST":
            return 200, google_oauth.token_request(self.world, body or {}, self._token_uri(), _verify_jwt,
                                                       self.headers.get("Authorization", ""))
        if raw_path == "/v1/token" and method == "POST":
            return 200, google_oauth.sts_exchange(self.world, body or {})
        if raw_path == "/auth" and method == "GET":
            return google_oauth.consent_page(self.world.auth, query)
        if raw_path == "/tokeninfo":
            return 200, google_oauth.tokeninfo(self.world, query if method == "GET" else
                                               {k: [v] for k, v in (body or {}).items()})
        if raw_path == "/" or raw_path.startswith("/computeMetadata/"):
            return google_oauth.metadata(self.world, method, raw_path, query, self.headers)
        if raw_path == "/_fake/state" and method == "GET":
            return 200, self.world.dump()
        caller = self._caller()
        m = re.match(r"^/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken$", raw_path)
        if m and method == "POST":
            return 200, google_oauth.generate_access_token(self.world, self._bearer(), unquote(m.group(1)),
                                                           body or {})
        if raw_path.startswith("/v4/") or raw_path.startswith("/drive/"):
            google_oauth.require_scopes(self.world, self._bearer(), method, raw_path)
        if raw_path.startswith("/v4/"):
            self._admit(method, raw_path, caller)
            if self.world.validate:
                problems = discovery.validate(method, raw_path, query, body)
                if problems:
                    self.world.violations.extend(problems)
                    raise _invalid_payload(problems, body)
            return self._sheets(method, raw_path, query, body, caller)
        if raw_path.startswith("/drive/v3/files"):
            return self._drive(method, raw_path, query, body, caller)
        raise ApiError(404, f"Not found: {method} {raw_path}")

    def _admit(self, method: str, raw_path: str, caller: str) -> None:
        """Sheets' quotas, checked after authentication (they are the caller's) and before the body is checked."""
        w = self.world
        over = w.meter.admit(quota.kind_of(method, raw_path), caller, w.quota_limits(), w.quota_window)
        if over is not None:
            raise quota.exceeded(*over, w.project_number)

    def _token_uri(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/token"

    def _bearer(self) -> str:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else ""

    def _caller(self) -> str:
        known = self.world.tokens.get(self._bearer())
        if not known or known[1] < time.time():
            raise ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                "login cookie or other valid authentication credential.")
        return known[0]

    def _spreadsheet(self, sid: str, caller: str) -> Spreadsheet:
        ss = self.world.spreadsheets.get(sid)
        if ss is None:
            raise ApiError(404, "Requested entity was not found.")
        if ss.owners is not None and caller not in ss.owners:
            raise ApiError(403, "The caller does not have permission")
        return ss

    def _sheets(self, method: str, raw_path: str, query: dict, body: Any, caller: str) -> tuple[int, Any]:
        q = {k: v[-1] for k, v in query.items()}
        if raw_path == "/v4/spreadsheets" and method == "POST":
            return 200, self._create(body or {}, caller)
        m = re.match(r"^/v4/spreadsheets/([^/:]+)(.*)$", raw_path)
        if not m:
            raise ApiError(404, "Requested entity was not found.")
        ss = self._spreadsheet(unquote(m.group(1)), caller)
        rest = m.group(2)
        value_render = q.get("valueRenderOption", "FORMATTED_VALUE")
        dt_render = q.get("dateTimeRenderOption", "SERIAL_NUMBER")
        if rest == "" and method == "GET":
            grid = q.get("includeGridData", "false").lower() == "true"
            return 200, _mask(_spreadsheet(ss, query.get("ranges", []), grid, q.get("fields")), q.get("fields"))
        if rest == ":batchUpdate" and method == "POST":
            body = body or {}
            replies = ss.batch_update(body.get("requests") or [], self.world.rng)
            out: dict[str, Any] = {"spreadsheetId": ss.spreadsheet_id, "replies": replies}
            if body.get("includeSpreadsheetInResponse"):  # the spreadsheet after the write, as a get shows it
                out["updatedSpreadsheet"] = _spreadsheet(ss, body.get("responseRanges") or [],
                                                         bool(body.get("responseIncludeGridData")), q.get("fields"))
            return 200, _mask(out, q.get("fields"))
        if rest == "/values:batchGet" and method == "GET":
            major = q.get("majorDimension", "ROWS")
            return 200, {"spreadsheetId": ss.spreadsheet_id,
                         "valueRanges": [ss.values_get(r, value_render, dt_render, major)
                                         for r in query.get("ranges", [])]}
        if rest == "/values:batchGetByDataFilter" and method == "POST":
            return 200, _batch_get_by_data_filter(ss, body or {})
        if rest == "/values:batchUpdate" and method == "POST":
            return 200, self._values_batch_update(ss, body or {})
        if rest == "/values:batchClear" and method == "POST":
            cleared = [ss.values_clear(r) for r in (body or {}).get("ranges") or []]
            return 200, {"spreadsheetId": ss.spreadsheet_id, "clearedRanges": cleared}
        vm = re.match(r"^/values/(.+?)(:append|:clear)?$", rest)
        if vm:
            range_a1, action = unquote(vm.group(1)), vm.group(2)
            if action is None and method == "GET":
                return 200, ss.values_get(range_a1, value_render, dt_render, q.get("majorDimension", "ROWS"))
            if action is None and method == "PUT":
                return 200, self._single_update(ss, range_a1, body or {}, q)
            if action == ":append" and method == "POST":
                return 200, self._append(ss, range_a1, body or {}, q)
            if action == ":clear" and method == "POST":
                return 200, {"spreadsheetId": ss.spreadsheet_id, "clearedRange": ss.values_clear(range_a1)}
        raise ApiError(404, f"Not found: {method} {raw_path}")

    def _input_option(self, q: dict) -> str:
        option = q.get("valueInputOption")
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "'valueInputOption' is required but not specified")
        return option

    def _single_update(self, ss: Spreadsheet, range_a1: str, body: dict, q: dict) -> dict:
        option = self._input_option(q)
        snapshot = [(s, s.snapshot()) for s in ss.sheets]
        try:
            return ss.values_update(range_a1, body, option)
        except ApiError:
            for s, snap in snapshot:
                s.restore(snap)
            raise

    def _append(self, ss: Spreadsheet, range_a1: str, body: dict, q: dict) -> dict:
        option = self._input_option(q)
        return ss.values_append(range_a1, body, option, q.get("insertDataOption", "OVERWRITE"))

    def _values_batch_update(self, ss: Spreadsheet, body: dict) -> dict:
        option = body.get("valueInputOption")
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "'valueInputOption' is required but not specified")
        snapshot = [(s, s.snapshot()) for s in ss.sheets]
        try:
            responses = [ss.values_update(vr.get("range", ""), vr, option) for vr in body.get("data") or []]
        except ApiError:
            for s, snap in snapshot:
                s.restore(snap)
            raise
        # Google's totals: rows and columns counted once across ranges, cells summed.
        rows, cols = set(), set()
        for vr, _ in zip(body.get("data") or [], responses):
            sheet, r = ss.resolve(vr.get("range", ""))
            for i, row in enumerate(vr.get("values") or []):
                for j, v in enumerate(row):
                    if v is not None:
                        rows.add((sheet.sheet_id, (r.start_row or 0) + i))
                        cols.add((sheet.sheet_id, (r.start_col or 0) + j))
        out = {"spreadsheetId": ss.spreadsheet_id}
        if rows:
            out |= {"totalUpdatedRows": len(rows), "totalUpdatedColumns": len(cols),
                    "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                    "totalUpdatedSheets": len({sid for sid, _ in rows})}
        return out | {"responses": responses}

    def _create(self, body: dict, caller: str) -> dict:
        title = (body.get("properties") or {}).get("title") or "Untitled spreadsheet"
        ss = self.world.add_spreadsheet(title, owners={caller})
        return ss.metadata()

    # -- Drive ---------------------------------------------------------------------------------
    def _drive(self, method: str, raw_path: str, query: dict, body: Any, caller: str) -> tuple[int, Any]:
        q = {k: v[-1] for k, v in query.items()}
        m = re.match(r"^/drive/v3/files(?:/([^/]+))?$", raw_path)
        if not m:
            raise ApiError(404, f"Not found: {method} {raw_path}")
        fid = unquote(m.group(1)) if m.group(1) else None
        if fid is None and method == "GET":
            files = [self._file(ss) for ss in self.world.spreadsheets.values()
                     if (ss.owners is None or caller in ss.owners) and _drive_query(q.get("q", ""), ss)]
            return 200, _mask({"kind": "drive#fileList", "incompleteSearch": False, "files": files}, q.get("fields"))
        if fid is None and method == "POST":
            if (body or {}).get("mimeType") != SPREADSHEET_MIME:
                raise ApiError(400, "This fake Drive only creates spreadsheets.")
            ss = self.world.add_spreadsheet(body.get("name") or "Untitled spreadsheet", owners={caller})
            return 200, {"kind": "drive#file", "id": ss.spreadsheet_id, "name": ss.title, "mimeType": SPREADSHEET_MIME}
        if fid is not None:
            ss = self.world.spreadsheets.get(fid)
            if ss is None or (ss.owners is not None and caller not in ss.owners):
                raise ApiError(404, f"File not found: {fid}.")
            if method == "GET":
                return 200, _mask(self._file(ss), q.get("fields") or "kind,id,name,mimeType")
            if method == "DELETE":
                del self.world.spreadsheets[fid]
                return 204, None
        raise ApiError(404, f"Not found: {method} {raw_path}")

    @staticmethod
    def _file(ss: Spreadsheet) -> dict:
        return {"kind": "drive#file", "id": ss.spreadsheet_id, "name": ss.title, "mimeType": SPREADSHEET_MIME,
                "createdTime": ss.created, "modifiedTime": ss.modified,
                "capabilities": {"canEdit": True}}  # whoever may open it here is an owner


def _payload_too_large(cap: int) -> ApiError:
    msg = f"Request payload size exceeds the limit: {cap} bytes."
    return ApiError(400, msg, errors=[{"message": msg, "domain": "global", "reason": "badRequest"}])


def _url_too_large_page() -> bytes:
    """The HTML page Google's front end sends with a 414 (its usual error page, not the API's JSON envelope)."""
    return (b"<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 414 (Request-URI Too Large)!!1"
            b"</title>\n  <p><b>414.</b> <ins>That\xe2\x80\x99s an error.</ins>\n  <p>The requested URL is too large "
            b"to process.  <ins>That\xe2\x80\x99s all we know.</ins>\n")


def _batch_get_by_data_filter(ss: Spreadsheet, body: dict) -> dict:
    """values:batchGetByDataFilter with a1Range and gridRange filters: one MatchedValueRange per filter, in the
    order asked, each naming the filter that matched it (Google's reference: BatchGetValuesByDataFilterResponse).
    A gridRange's missing bounds run to the grid's edge, as everywhere in the API. developerMetadataLookup
    filters are not in this fake: a 400 says so rather than an answer Google would not give."""
    filters = body.get("dataFilters") or []
    if not filters:
        raise ApiError(400, "Invalid dataFilters: at least one data filter is required.")
    major = body.get("majorDimension") or "ROWS"
    render = body.get("valueRenderOption") or "FORMATTED_VALUE"
    dt_render = body.get("dateTimeRenderOption") or "SERIAL_NUMBER"
    matched = []
    for i, f in enumerate(filters):
        kinds = [k for k in ("a1Range", "gridRange", "developerMetadataLookup") if k in (f or {})]
        if len(kinds) != 1:
            raise ApiError(400, f"Invalid dataFilters[{i}]: exactly one of a1Range, gridRange or "
                                f"developerMetadataLookup must be set.")
        if kinds[0] == "developerMetadataLookup":
            raise ApiError(400, f"Invalid dataFilters[{i}]: developerMetadataLookup is not in this fake.")
        if kinds[0] == "a1Range":
            value_range = ss.values_get(f["a1Range"], render, dt_render, major)
        else:
            value_range = ss.values_get_grid(f["gridRange"] or {}, render, dt_render, major)
        matched.append({"valueRange": value_range, "dataFilters": [f]})
    return {"spreadsheetId": ss.spreadsheet_id, "valueRanges": matched}


def _cells_in(payload: Any) -> int:
    """Cells a read answers with: the values of ValueRanges (values.get, values:batchGet, MatchedValueRanges of
    values:batchGetByDataFilter) and the CellData of grid data (spreadsheets.get)."""
    if not isinstance(payload, dict):
        return 0
    cells = sum(len(row) for row in payload.get("values") or [] if isinstance(row, list))
    for vr in payload.get("valueRanges") or []:
        cells += _cells_in(vr.get("valueRange", vr))
    for sheet in payload.get("sheets") or []:
        for block in sheet.get("data") or []:
            cells += sum(len(row.get("values") or []) for row in block.get("rowData") or [])
    return cells


def _cells_sent(body: Any) -> int:
    """Cells a write carries: values of a values write, CellData of updateCells/appendCells."""
    if not isinstance(body, dict):
        return 0
    ranges = body.get("data") if isinstance(body.get("data"), list) else [body]
    cells = sum(len(row) for vr in ranges if isinstance(vr, dict) for row in vr.get("values") or []
                if isinstance(row, list))
    for req in body.get("requests") or []:
        for args in (req.get("updateCells"), req.get("appendCells")):
            cells += sum(len(row.get("values") or []) for row in (args or {}).get("rows") or [])
    return cells


def _invalid_payload(problems: list[str], body: Any) -> ApiError:
    """Google's wording for a body that breaks the schema."""
    m = re.search(r"\.values: expected a list, got", problems[0])
    if m and isinstance(body, dict):
        msg = (f"Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), "
               f"{json.dumps(body.get('values'))}")
        return ApiError(400, msg, details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                            "fieldViolations": [{"field": "data.values", "description": msg}]}])
    m = re.search(r"^(\S+): unknown field '([^']+)'", problems[0])
    if m:
        where = m.group(1).split(".", 3)[-1] if m.group(1).count(".") >= 3 else ""
        return ApiError(400, f'Invalid JSON payload received. Unknown name "{m.group(2)}" at \'{where}\': '
                             f"Cannot find field.")
    return ApiError(400, "Invalid JSON payload received. " + "; ".join(problems[:3]))


def _spreadsheet(ss: Spreadsheet, ranges: list[str], grid: bool, fields: str | None) -> dict:
    """A Spreadsheet resource; a field mask that names grid data asks for it, whatever `grid` says."""
    if fields and "data" in fields:
        grid = True
    return ss.grid_data(ranges) if grid else ss.metadata()


def _mask(payload: Any, fields: str | None) -> Any:
    if not fields:
        return payload
    try:
        return fieldmask.apply(payload, fieldmask.parse(fields))
    except ValueError as exc:
        raise ApiError(400, f"Request contains an invalid argument. {exc}") from None


_CLAUSE = re.compile(r"""^\s*(name|mimeType)\s*(=|contains)\s*(['"])((?:\\.|(?!\3).)*)\3\s*$""")


def _drive_query(q: str, ss: Spreadsheet) -> bool:
    """Drive's q language, the part gspread uses: clauses joined by 'and' on name and mimeType."""
    if not q.strip():
        return True
    for clause in re.split(r"\s+and\s+", q.strip()):
        m = _CLAUSE.match(clause)
        if not m:
            raise ApiError(400, f"Invalid Value: q ({clause})")
        key, op, value = m.group(1), m.group(2), re.sub(r"\\(.)", r"\1", m.group(4))
        actual = ss.title if key == "name" else SPREADSHEET_MIME
        if (op == "=" and actual != value) or (op == "contains" and value not in actual):
            return False
    return True


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify_jwt(assertion: str, accounts: dict, audience: str) -> tuple[str, list[str]]:
    """Checks the RS256 signature and claims google-auth puts in its JWT-bearer grant; the account and scopes."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def invalid(why: str) -> OAuthError:
        return OAuthError("invalid_grant", why)

    try:
        header_b64, payload_b64, sig_b64 = assertion.split(".")
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(payload_b64))
    except ValueError:
        raise invalid("Invalid JWT.") from None
    if header.get("alg") != "RS256":
        raise invalid("Invalid JWT algorithm.")
    key = accounts.get(claims.get("iss"))
    if key is None:
        raise invalid("Invalid JWT Signature (unknown service account).")
    try:
        key.verify(_b64decode(sig_b64), f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise invalid("Invalid JWT Signature.") from None
    now = time.time()
    # google-auth always names Google's own token endpoint as the audience, whatever token_uri says.
    if claims.get("aud") not in (audience, "https://oauth2.googleapis.com/token"):
        raise invalid(f"Invalid JWT: aud must be {audience}")
    if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300):
        raise invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
    return claims["iss"], str(claims.get("scope", "")).split()


FakeGoogle.handler = _Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state", help="JSON file with initial spreadsheets")
    parser.add_argument("--service-account", action="append", default=[], help="trust this key file")
    parser.add_argument("--write-credentials", help="write a fresh service-account JSON for this server here")
    parser.add_argument("--quota-per-user", type=int, default=60,
                        help="read and write requests a minute per user (Google's default 60; per project 5x)")
    args = parser.parse_args(argv)
    server = FakeGoogle(host=args.host, port=args.port)
    server.world.raise_quota(per_user=args.quota_per_user)
    if args.state:
        with open(args.state) as fh:
            server.world.load(json.load(fh))
    for path in args.service_account:
        with open(path) as fh:
            server.register_service_account(json.load(fh))
    if args.write_credentials:
        from .credentials import write_service_account

        info = write_service_account(args.write_credentials, server.token_uri)
        server.register_service_account(info)
    server.serve_until_killed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
