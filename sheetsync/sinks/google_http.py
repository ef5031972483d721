"""The one place that sends HTTP to Google: endpoint redirection, timeouts and bounded retries.

gspread's BackOffHTTPClient retries forever; this session retries a bounded number of times with exponential
backoff that honours Retry-After, and every request has a timeout, so a sync never hangs. What may be sent
again is decided by errors.may_resend: a 429 always; a 5xx or a lost answer only for a request that is
harmless twice (reads, and writes to absolute cells). A write the caller marks not repeatable that meets a
5xx or a lost answer raises OutcomeUnknown: it may have landed, and only a fresh read can tell.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections import Counter, deque

import requests
from google.auth.transport.requests import AuthorizedSession, Request

from ..errors import RETRY_STATUS, Interrupted, OutcomeUnknown, may_resend

GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
# Where google-auth gets tokens: the OAuth token endpoint, tokeninfo, generateAccessToken (impersonation) and
# STS (workload identity federation). With GOOGLE_API_ENDPOINT set they go there too, like every Sheets call.
AUTH_HOSTS = ("https://oauth2.googleapis.com", "https://iamcredentials.googleapis.com", "https://sts.googleapis.com")
PER_MINUTE = 60  # Google's default Sheets quota: read and write requests per minute per user, each
log = logging.getLogger("wandb_spreadsheet_sync")


class GoogleSession(AuthorizedSession):
    """An AuthorizedSession that can send every Sheets and Drive call to another base URL
    (GOOGLE_API_ENDPOINT: an emulator, a proxy, or the test world's fake), with timeouts and retries."""

    def __init__(self, credentials, endpoint: str | None = None, timeout: float = 60.0, attempts: int = 8,
                 stop: threading.Event | None = None, per_minute: int = PER_MINUTE, base_delay: float = 1.0):
        endpoint = endpoint.rstrip("/") if endpoint else None
        super().__init__(credentials, auth_request=Request(_Redirected(endpoint)) if endpoint else None)
        self.endpoint = endpoint
        self.default_timeout = timeout
        self.attempts = attempts
        self.stop = stop or threading.Event()
        self.base_delay = base_delay  # the first backoff wait (Settings.retry_base_seconds)
        self.max_delay = 64.0  # the backoff's last waits outlast Google's one-minute quota window
        self.counts: Counter = Counter()  # "read" / "write" / "retry", for the sync report
        self.per_minute, self.window = per_minute, 60.0
        self.sent: dict[str, deque] = {"read": deque(), "write": deque()}  # when each was sent, last minute
        self.quota_wait = 0.0  # seconds waited for Google's per-minute quota (pacing, 429s): for /metrics
        if self.endpoint:
            _no_regional_boundary_lookup(credentials)

    def rewrite(self, url: str) -> str:
        return _redirect(url, self.endpoint, GOOGLE_HOSTS + AUTH_HOSTS)

    def request(self, method, url, data=None, headers=None, max_allowed_time=None, timeout=None,
                repeatable: bool = True, **kwargs):
        url = self.rewrite(url)
        kind = "read" if method.upper() == "GET" else "write"
        for attempt in range(1, self.attempts + 1):
            if self.stop.is_set():
                raise Interrupted("Stopped before sending a request to Google.")
            self._pace(kind)
            self.counts[kind] += 1
            try:
                response = super().request(method, url, data=data, headers=headers,
                                           max_allowed_time=max_allowed_time,
                                           timeout=timeout if timeout is not None else self.default_timeout,
                                           **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.sent[kind].append(time.monotonic())
                if not may_resend(None, repeatable):
                    raise OutcomeUnknown(f"Google did not answer a write ({type(exc).__name__}); it may have "
                                         "landed.", "The next sync reads the sheet before it writes again, so "
                                         "nothing lands twice.") from exc
                if attempt == self.attempts:
                    raise
                self._wait(self._backoff(attempt))
                continue
            self.sent[kind].append(time.monotonic())  # when the answer came: Google has counted it by then
            if response.status_code not in RETRY_STATUS:
                return response
            if not may_resend(response.status_code, repeatable):
                raise OutcomeUnknown(f"Google answered {response.status_code} to a write; it may have landed "
                                     "all the same.", "The next sync reads the sheet before it writes again, "
                                     "so nothing lands twice.")
            if attempt == self.attempts:
                return response
            wait = self._retry_after(response) or self._backoff(attempt)
            if response.status_code == 429:
                self.quota_wait += wait
            self._wait(wait)
        raise AssertionError("unreachable")

    def _pace(self, kind: str) -> None:
        """Google counts reads and writes per minute per user (60 each by default) and answers 429 beyond:
        a long write (a first sync of many requests) waits for room instead of being refused."""
        sent, now = self.sent[kind], time.monotonic()
        while sent and now - sent[0] >= self.window:
            sent.popleft()
        if len(sent) >= self.per_minute:
            wait = self.window - (now - sent[0])
            log.info("pacing: %d %s requests in the last minute (Google's quota); waiting %.0f s",
                     len(sent), kind, wait)
            self.quota_wait += wait
            if self.stop.wait(wait):
                raise Interrupted("Stopped while pacing requests to Google; nothing more was sent.")

    def _backoff(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    def _retry_after(self, response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        try:
            return min(float(value), 120.0)
        except ValueError:
            return None

    def _wait(self, seconds: float) -> None:
        self.counts["retry"] += 1
        if self.stop.wait(seconds):
            raise Interrupted("Stopped while waiting to retry a request to Google; nothing more was sent.")


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
