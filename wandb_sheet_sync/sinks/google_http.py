"""The one client that speaks HTTP to Google: the Sheets and Drive calls the sink makes, reads and writes alike,
sent with the real google-auth credentials through the one transport (transport.py, `GOOGLE`).

What may be sent again is decided by errors.may_resend: a 429 always; a 5xx or a lost answer only for a
request that is harmless twice (reads, and writes to absolute cells). A write the caller marks not repeatable
that meets a 5xx or a lost answer raises OutcomeUnknown: it may have landed, and only a fresh read can tell.
Every request has a timeout, so a sync never hangs. Every answer that is not a success leaves here as our own
error (google_refusals.Refusals words it), so nothing above sees requests' or google-auth's exceptions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections import Counter
from typing import Callable
from urllib.parse import quote_plus

import requests
from google.auth.transport.requests import AuthorizedSession, Request

from ..errors import RETRY_STATUS, OutcomeUnknown, SyncError, may_resend
from ..transport import GOOGLE, Again, Transport, asked_wait

GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
# Where google-auth gets tokens: the OAuth token endpoint, tokeninfo, generateAccessToken (impersonation) and
# STS (workload identity federation). With GOOGLE_API_ENDPOINT set they go there too, like every Sheets call.
AUTH_HOSTS = ("https://oauth2.googleapis.com", "https://iamcredentials.googleapis.com", "https://sts.googleapis.com")
URL_RANGES = 6_000  # characters of ranges a values.batchGet URL may carry; more go in a POST body (values.values)
PER_MINUTE = 60  # Google's default Sheets quota: read and write requests per minute per user, each
SHEETS = "https://sheets.googleapis.com/v4/spreadsheets"
DRIVE_FILES = "https://www.googleapis.com/drive/v3/files"
SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
# Typed values as they are stored, dates as serial numbers: the grid the merge compares is the one Google keeps.
VALUES = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}


class GoogleSession(AuthorizedSession):
    """An AuthorizedSession that can send every Sheets and Drive call to another base URL (GOOGLE_API_ENDPOINT:
    an emulator, a proxy, or the test world's fake), each request through the transport. It stays a requests
    Session, so a library (gspread, in the tests) can be pointed at the fake the way the product is."""

    def __init__(self, credentials, endpoint: str | None = None, timeout: float = 60.0, attempts: int = 8,
                 stop: threading.Event | None = None, per_minute: int = PER_MINUTE, retry_base: float = 1.0):
        endpoint = endpoint.rstrip("/") if endpoint else None
        super().__init__(credentials, auth_request=Request(_Redirected(endpoint)) if endpoint else None)
        self.endpoint = endpoint
        self.default_timeout = timeout
        self.transport = Transport(dataclasses.replace(GOOGLE, attempts=attempts, per_window=per_minute), stop,
                                   retry_base)
        if self.endpoint:
            _no_regional_boundary_lookup(credentials)

    @property
    def counts(self) -> Counter:
        """"read" / "write" / "retry", for the sync report."""
        return self.transport.counts

    @property
    def quota_wait(self) -> float:
        """Seconds waited for Google's per-minute quota (pacing under it, its 429s), for /metrics."""
        return self.transport.quota_wait

    def rewrite(self, url: str) -> str:
        return _redirect(url, self.endpoint, GOOGLE_HOSTS + AUTH_HOSTS)

    def request(self, method, url, data=None, headers=None, max_allowed_time=None, timeout=None,
                repeatable: bool = True, kind: str | None = None, **kwargs):
        """kind: "read" or "write" for the quota and the counts (None: a GET reads, anything else writes)."""
        url = self.rewrite(url)

        def once():
            try:
                response = super(GoogleSession, self).request(
                    method, url, data=data, headers=headers, max_allowed_time=max_allowed_time,
                    timeout=timeout if timeout is not None else self.default_timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not may_resend(None, repeatable):
                    raise OutcomeUnknown(f"Google did not answer a write ({type(exc).__name__}); it may have "
                                         "landed.", "The next sync reads the sheet before it writes again, so "
                                         "nothing lands twice.") from exc
                raise Again(exc) from exc
            if response.status_code not in RETRY_STATUS:
                return response
            if not may_resend(response.status_code, repeatable):
                raise OutcomeUnknown(f"Google answered {response.status_code} to a write; it may have landed "
                                     "all the same.", "The next sync reads the sheet before it writes again, "
                                     "so nothing lands twice.")
            raise Again(wait=asked_wait(response.headers), answer=response,  # the last one goes to the caller
                        quota=response.status_code == 429)

        return self.transport.send(once, kind or ("read" if method.upper() == "GET" else "write"))

    def request_now(self, method, url, timeout: float = 3.0, **kwargs):
        """One try, past the transport (no pacing, no retry, no stop): for what must still go out while
        stopping (giving back a write lease, issue 23)."""
        kwargs.pop("repeatable", None)
        self.transport.counts["write" if method.upper() != "GET" else "read"] += 1
        return super().request(method, self.rewrite(url), timeout=timeout, **kwargs)


class SheetsApi:
    """The calls the sink makes, each answering JSON or raising our error worded by `refusals`
    (google_refusals.Refusals: it knows who to share with)."""

    def __init__(self, session: GoogleSession, refusals):
        self.session, self.refusals = session, refusals

    def find(self, title: str) -> str | None:
        """The id of a spreadsheet of this title shared with the credentials (Drive's search), or None."""
        query = f"mimeType='{SPREADSHEET_MIME}' and name = '{_quoted(title)}'"
        files = self._json("looking up the spreadsheet by title", "GET", DRIVE_FILES, params={
            "q": query, "pageSize": 1000, "supportsAllDrives": True, "includeItemsFromAllDrives": True,
            "fields": "files(id,name)"}).get("files", [])
        return next((f["id"] for f in files if f.get("name") == title), None)

    def can_edit(self, spreadsheet: str) -> bool | None:
        """Drive's word on whether the credentials may edit the spreadsheet (None: Drive does not say)."""
        found = self._json("asking Drive who may edit the spreadsheet", "GET", f"{DRIVE_FILES}/{spreadsheet}",
                           params={"fields": "capabilities/canEdit", "supportsAllDrives": True})
        return (found.get("capabilities") or {}).get("canEdit")

    def metadata(self, spreadsheet: str, fields: str, what: str, **params) -> dict:
        """spreadsheets.get of `fields` (more query parameters, e.g. ranges and includeGridData, in `params`)."""
        return self._json(what, "GET", f"{SHEETS}/{spreadsheet}", params={"fields": fields, **params})

    def values(self, spreadsheet: str, ranges: list[str], what: str, major: str = "ROWS") -> dict:
        """The ranges' values in one values.batchGet, typed (VALUES). Ranges that would make the URL longer than
        URL_RANGES characters (a read by need names many rows) go in the body of a values:batchGetByDataFilter
        instead, whose answer is given back in batchGet's shape, in the order asked. major="COLUMNS": each range's
        values a column at a time (a column of 100,000 run ids as one list, not 100,000 lists of one)."""
        if sum(len(quote_plus(r)) + 8 for r in ranges) <= URL_RANGES:
            return self._json(what, "GET", f"{SHEETS}/{spreadsheet}/values:batchGet",
                              params={**VALUES, "ranges": ranges, "majorDimension": major})
        body = json.dumps({"dataFilters": [{"a1Range": r} for r in ranges], "majorDimension": major, **VALUES})
        got = self._json(what, "POST", f"{SHEETS}/{spreadsheet}/values:batchGetByDataFilter", data=body,
                         headers={"Content-Type": "application/json"}, kind="read")
        by_filter: dict[str, dict] = {}
        for matched in got.get("valueRanges", []):
            for f in matched.get("dataFilters", []):
                by_filter.setdefault(f.get("a1Range"), matched.get("valueRange", {}))
        return {"valueRanges": [by_filter.get(r, {}) for r in ranges]}

    def batch_update(self, spreadsheet: str, body: bytes, repeatable: bool, what: str,
                     refused: Callable[[requests.Response], SyncError | None] | None = None,
                     now: bool = False) -> None:
        """One atomic spreadsheets.batchUpdate of a body already encoded (google_batches sizes it). `refused`
        may name an error answer itself (None: Refusals words it); `now`: one short try past the transport."""
        self._send(what, "POST", f"{SHEETS}/{spreadsheet}:batchUpdate", data=body,
                   headers={"Content-Type": "application/json"}, repeatable=repeatable, refused=refused, now=now)

    def _json(self, what: str, method: str, url: str, **kw) -> dict:
        response = self._send(what, method, url, **kw)
        try:
            return response.json()
        except ValueError as exc:
            raise self.refusals.answer(what, response) from exc

    def _send(self, what: str, method: str, url: str,
              refused: Callable[[requests.Response], SyncError | None] | None = None, now: bool = False,
              **kw) -> requests.Response:
        # compact JSON (Google's standard prettyPrint parameter, true by default): a read's answer is about a third
        # smaller (issue 24: the bytes a sync receives are what it reads, and no more)
        kw["params"] = {**(kw.get("params") or {}), "prettyPrint": "false"}
        try:
            response = self.session.request_now(method, url, **kw) if now else self.session.request(method, url, **kw)
        except SyncError:
            raise
        except Exception as exc:  # requests' and google-auth's own: worded by what they mean, or raised as they are
            error = self.refusals.failure(what, exc)
            if error is None:
                raise
            raise error from exc
        if not response.ok:
            raise (refused(response) if refused is not None else None) or self.refusals.answer(what, response)
        return response


def _quoted(text: str) -> str:
    """A string inside single quotes in Drive's query language."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _redirect(url: str, endpoint: str | None, hosts: tuple[str, ...]) -> str:
    if endpoint:
        for host in hosts:
            if url.startswith(host):
                return endpoint + url[len(host):]
    return url


class _Redirected(requests.Session):
    """The session google-auth gets its tokens through: Google's token hosts go to GOOGLE_API_ENDPOINT."""

    def __init__(self, endpoint: str):
        super().__init__()
        self.endpoint = endpoint

    def request(self, method, url, *args, **kwargs):
        return super().request(method, _redirect(url, self.endpoint, GOOGLE_HOSTS + AUTH_HOSTS), *args, **kwargs)


def _no_regional_boundary_lookup(credentials) -> None:
    """google-auth >= 2.45 looks up a 'regional access boundary' at iamcredentials.googleapis.com in a
    background thread after each token refresh. With the endpoint redirected (an emulator, a proxy, a
    closed network) that call must not leave the machine, so the boundary is set to Google's no-op value."""
    setter = getattr(credentials, "_set_regional_access_boundary", None)
    if setter is not None:
        far = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=3650)
        setter({"encodedLocations": "0x0", "expiry": far})
