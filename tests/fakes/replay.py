"""Replays recorded Google exchanges (../shared/cassettes) against the fake and reports where it differs."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

# Request kinds the fake serves; anything else in a recording is out of scope.
BATCH_KINDS = {"addSheet", "deleteSheet", "updateSheetProperties", "appendDimension", "insertDimension",
               "deleteDimension", "updateCells", "appendCells", "repeatCell", "addConditionalFormatRule",
               "updateDimensionProperties", "updateSpreadsheetProperties", "updateConditionalFormatRule",
               "deleteConditionalFormatRule", "sortRange", "moveDimension"}
# addProtectedRange/deleteProtectedRange are served (the base tab's guard) and shaped after the recordings
# (WorksheetTest.test_add_protected_range_*), but their replay would need protectedRangeId and editor e-mails
# mapped like sheet ids: out of scope here until the replay learns those.
IGNORED_KEYS = {"createdTime", "modifiedTime", "defaultFormat", "spreadsheetTheme"}
ID_KEYS = {"spreadsheetId", "id", "sheetId"}


def cassette_dir() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "cassettes"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("../shared/cassettes not found beside the checkout")


def kind_of(method: str, uri: str, body: Any) -> str:
    parts = urlsplit(uri)
    path = parts.path
    query = parse_qs(parts.query)
    if "drive" in parts.netloc or path.startswith("/drive") or path.startswith("/upload"):
        if path.startswith("/upload"):
            return "drive.upload"
        m = re.match(r"^/drive/v3/files(?:/[^/]+)?(/\w+)?$", path)
        sub = m.group(1) if m else "?"
        if sub:
            return f"drive.files{sub.replace('/', '.')}"
        if path == "/drive/v3/files":
            if method == "GET":
                q = query.get("q", [""])[0]
                return "drive.files.list(name)" if "name" in q else "drive.files.list(all)"
            return "drive.files.create"
        return {"GET": "drive.files.get", "DELETE": "drive.files.delete"}.get(method, "drive.?")
    if path.endswith(":batchUpdate") and "/values" not in path:
        kinds = sorted({next(iter(r)) for r in (body or {}).get("requests", [])})
        return "batchUpdate[" + ",".join(kinds) + "]"
    if re.fullmatch(r"/v4/spreadsheets/[^/:]+", path):
        return "spreadsheets.get"
    for suffix, name in ((":append", "values.append"), (":clear", "values.clear"),
                         ("values:batchGet", "values.batchGet"),
                         ("values:batchUpdate", "values.batchUpdate"), ("values:batchClear", "values.batchClear")):
        if path.endswith(suffix):
            return name
    if "/values/" in path:
        return {"GET": "values.get", "PUT": "values.update"}.get(method, "values.?")
    return f"{method} {path}"


def in_scope(kind: str) -> bool:
    if kind.startswith("batchUpdate["):
        return all(k in BATCH_KINDS for k in kind[12:-1].split(",") if k)
    return kind in {"spreadsheets.get", "values.get", "values.batchGet", "values.update", "values.append",
                    "values.clear", "values.batchUpdate", "values.batchClear", "drive.files.list(name)",
                    "drive.files.create", "drive.files.get", "drive.files.delete"}


def mutates(kind: str) -> bool:
    return kind.startswith("batchUpdate") or kind in {"drive.files.copy", "drive.upload", "values.update",
                                                     "values.append", "values.clear"}


@dataclass
class Report:
    total: int = 0
    replayed: int = 0
    differ: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    violations: list[str] = field(default_factory=list)  # schema problems in requests Google accepted
    crashes: list[str] = field(default_factory=list)
    rejected_as_recorded: int = 0

    def line(self) -> str:
        return f"replayed {self.replayed} of {self.total} exchanges, {len(self.differ)} differ"


class Replayer:
    """One cassette against a fresh fake. Ids the recording saw are mapped to the fake's as they appear."""

    def __init__(self, base_url: str, token: str, world, http: requests.Session):
        self.base_url, self.token, self.world, self.http = base_url, token, world, http
        self.ids: dict[Any, Any] = {}
        self.tainted: set[str] = set()  # spreadsheets changed by an out-of-scope request

    def run(self, interactions: list[dict], name: str, report: Report) -> None:
        for n, it in enumerate(interactions):
            req, resp = it["request"], it["response"]
            report.total += 1
            body = _json(req["body"]) if isinstance(req["body"], str) else None
            kind = kind_of(req["method"], req["uri"], body)
            sid = _spreadsheet_in(req["uri"])
            if not in_scope(kind):
                report.skipped[f"out of scope: {kind}"] += 1
                if mutates(kind) and sid:
                    self.tainted.add(sid)
                continue
            if sid in self.tainted:
                report.skipped[f"depends on an earlier out-of-scope change: {kind}"] += 1
                continue
            if sid and sid not in self.ids and kind != "drive.files.create":
                if resp["status"]["code"] == 200:
                    # Made by an out-of-scope request (a copy) or before the recording began.
                    report.skipped[f"depends on a spreadsheet made outside the replayed requests: {kind}"] += 1
                    continue
                self._seed(sid, resp["status"]["code"])
            seen = len(self.world.violations)
            status, got = self._send(req, body)
            if resp["status"]["code"] >= 400:
                # Google rejected this request too: its schema problems are the point of the exchange.
                report.rejected_as_recorded += len(self.world.violations) - seen
                del self.world.violations[seen:]
            expected = _json(resp["body"].get("string", ""))
            problems = []
            if status != resp["status"]["code"]:
                problems.append(f"status {status} != recorded {resp['status']['code']}")
            self._learn_ids(expected, got)
            diff = _compare(self._map_recorded(expected), got, "$")
            problems += diff
            report.replayed += 1
            if problems:
                report.differ.append(f"{name} #{n} {kind} {req['method']} {unquote(req['uri'])[:140]}: "
                                     + "; ".join(problems[:4]))
            if kind == "drive.files.delete" and sid:
                self.tainted.discard(sid)

    def _seed(self, sid: str, recorded_status: int) -> None:
        """A spreadsheet the recording did not create: only a 403 tells us it existed, shared with nobody."""
        if recorded_status == 403:
            ss = self.world.add_spreadsheet("someone else's sheet", owners={"owner@example.com"})
            self.ids[sid] = ss.spreadsheet_id

    def _send(self, req: dict, body: Any) -> tuple[int, Any]:
        parts = urlsplit(req["uri"])
        path = parts.path
        query = parts.query
        for old, new in self.ids.items():
            if isinstance(old, str):
                path = path.replace(old, new)
                query = query.replace(old, new)
        url = self.base_url + path + ("?" + query if query else "")
        data = None
        if body is not None:
            data = json.dumps(self._map_request_body(body)).encode()
        headers = {"Authorization": f"Bearer {self.token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        r = self.http.request(req["method"], url, data=data, headers=headers, timeout=30)
        return r.status_code, _json(r.text)

    def _map_request_body(self, body: Any) -> Any:
        if isinstance(body, dict):
            return {k: (self.ids.get(("sheet", v), v) if k == "sheetId" else self._map_request_body(v))
                    for k, v in body.items()}
        if isinstance(body, list):
            return [self._map_request_body(v) for v in body]
        if isinstance(body, str):
            for old, new in self.ids.items():
                if isinstance(old, str):
                    body = body.replace(old, new)
        return body

    def _learn_ids(self, expected: Any, got: Any) -> None:
        if isinstance(expected, dict) and isinstance(got, dict):
            for k, v in expected.items():
                if k in ID_KEYS and k in got and v != got[k]:
                    key = ("sheet", v) if k == "sheetId" else v
                    self.ids.setdefault(key, got[k])
                elif k in got:
                    self._learn_ids(v, got[k])
        elif isinstance(expected, list) and isinstance(got, list):
            for a, b in zip(expected, got):
                self._learn_ids(a, b)

    def _map_recorded(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self._map_recorded(v, k) for k, v in value.items() if k not in IGNORED_KEYS}
        if isinstance(value, list):
            return [self._map_recorded(v, key) for v in value]
        if key == "sheetId":
            return self.ids.get(("sheet", value), value)
        if isinstance(value, str):
            for old, new in self.ids.items():
                if isinstance(old, str):
                    value = value.replace(old, new)
        return value


def _spreadsheet_in(uri: str) -> str | None:
    m = re.search(r"/(?:v4/spreadsheets|drive/v3/files|upload/drive/v2/files)/([^/?:]+)", uri)
    return unquote(m.group(1)) if m else None


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _compare(expected: Any, got: Any, where: str) -> list[str]:
    if isinstance(expected, dict) and isinstance(got, dict):
        out = []
        got = {k: v for k, v in got.items() if k not in IGNORED_KEYS}
        for k in expected.keys() | got.keys():
            if k not in got:
                out.append(f"{where}.{k} missing")
            elif k not in expected:
                out.append(f"{where}.{k} unexpected ({json.dumps(got[k])[:80]})")
            else:
                out += _compare(expected[k], got[k], f"{where}.{k}")
        return out
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{where}: {len(got)} items, recorded {len(expected)}: {json.dumps(got)[:120]} vs "
                    f"{json.dumps(expected)[:120]}"]
        return [p for i, (a, b) in enumerate(zip(expected, got)) for p in _compare(a, b, f"{where}[{i}]")]
    if expected != got or type(expected) is not type(got) and not (
            isinstance(expected, (int, float)) and isinstance(got, (int, float)) and not isinstance(got, bool)):
        return [f"{where}: got {json.dumps(got)[:100]}, recorded {json.dumps(expected)[:100]}"]
    return []


def replay_all(server, token: str) -> Report:
    """Every cassette against one running fake; each recording makes its own spreadsheets."""
    report = Report()
    # The recordings were made at the pace of a test suite over the real API; back to back they fit
    # thousands of requests into seconds, so they replay as for a project whose quota was raised.
    server.world.raise_quota(per_user=1_000_000)
    with requests.Session() as http:
        for path in sorted(cassette_dir().glob("*.json")):
            interactions = json.loads(path.read_text())["interactions"]
            Replayer(server.url, token, server.world, http).run(interactions, path.stem, report)
            report.violations += [f"{path.stem}: {v}" for v in server.world.violations]
            report.crashes += server.world.crashes
            server.world.violations.clear()
            server.world.crashes.clear()
    return report
