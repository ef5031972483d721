"""GraphQL to W&B: which way it goes, the per-attempt timeout, and its answers as our errors (by status).

Two transports, the same queries:
- "wandb-core" (the default): wandb.Api's own executor (`_service_api.execute_graphql`), which sends through the
  wandb-core helper process with the Api's credentials, proxies and headers. wandb-core cuts every HTTP attempt
  at its `x_graphql_timeout_seconds` setting (30 s unless WANDB_HTTP_TIMEOUT was set before wandb started) and
  retries 429 and 5xx itself, honouring Retry-After; it hides the answer's other headers (RateLimit-Reset).
  REQUEST_TIMEOUT reaches it through `set_attempt_timeout`, called before each wandb.Api is made: the setting is
  read when the Api opens its session with wandb-core (checked against wandb 0.31: a 35 s page is cut and
  sent again at the default, read once with the setting at 90).
- "http": W&B's public GraphQL endpoint (`<base URL>/graphql`, the API key as HTTP basic auth, as W&B documents
  it) through requests, when the private executor is missing (another wandb version) or WSS_WANDB_GRAPHQL=http
  asks for it (Settings.wandb_graphql, read by config.py). Here the tool sees every answer: Retry-After and
  RateLimit-Reset are honoured exactly. (wandb 0.31 has no public GraphQL client of its own: the old
  `Api().client` is gone.)
Either way the one transport (transport.py, `WANDB`) paces requests (WANDB_PACE_SECONDS apart: W&B asks for at
least a second between requests) and waits out a 429 or a busy server a bounded number of times (4 tries of a
page, after wandb-core's own; a wait of more than 5 minutes is left to the next sync); what is raised says which
it was: rate limited, unreachable, or refused.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

from ..config import Settings, Target
from ..errors import (AccessError, CredentialsError, Kind, SourceError, SyncError, TransientError, kind_of_status,
                      may_resend)
from ..transport import WANDB, Again, Transport, asked_wait

log = logging.getLogger("wandb_spreadsheet_sync")


def set_attempt_timeout(seconds: float) -> bool:
    """REQUEST_TIMEOUT as wandb-core's per-attempt timeout for the next wandb.Api. False where this wandb has no
    such setting (then only WANDB_HTTP_TIMEOUT, set before the process starts, can change it)."""
    try:
        from wandb.sdk import wandb_setup

        settings = wandb_setup.singleton().settings
        if not hasattr(settings, "x_graphql_timeout_seconds"):
            return False
        settings.x_graphql_timeout_seconds = float(seconds)
        return True
    except Exception as exc:  # another wandb: keep its default rather than fail the sync
        log.debug("could not set wandb's per-attempt timeout: %s", exc)
        return False


class RateLimited(TransientError):
    """W&B answered 429 (or wandb-core gave up waiting for it) longer than the tool waits."""


class GraphQL:
    """Sends a query through the one transport (paced WANDB_PACE_SECONDS apart, W&B's waits honoured) and counts
    requests. (Not bytes: the fakes count what the wire carried; re-encoding each answer to count it cost 50 ms a
    sync of 1,000 changed runs.)"""

    def __init__(self, api: Any, settings: Settings, target: Target, stop: threading.Event | None = None):
        self.settings, self.target = settings, target
        self.transport = Transport(dataclasses.replace(WANDB, gap=settings.wandb_pace_seconds), stop,
                                   settings.retry_base_seconds)
        self.executor = getattr(getattr(api, "_service_api", None), "execute_graphql", None)
        self.kind = "http" if settings.wandb_graphql == "http" or self.executor is None else "wandb-core"
        self.base_url = str((getattr(api, "settings", None) or {}).get("base_url") or
                            settings.wandb_base_url).rstrip("/")
        self.api_key = getattr(api, "api_key", None)
        if self.kind == "http" and self.executor is not None:
            log.debug("W&B GraphQL through the public endpoint (WSS_WANDB_GRAPHQL=http)")
        elif self.kind == "http":
            log.info("this wandb has no GraphQL executor the tool knows; using W&B's public GraphQL endpoint")

    @property
    def requests(self) -> int:
        return self.transport.counts["read"]

    @property
    def quota_wait(self) -> float:
        return self.transport.quota_wait

    def execute(self, query: str, variables: dict) -> dict:
        return self.transport.send(lambda: self._send(query, variables), "read")

    def _send(self, query: str, variables: dict) -> dict:
        if self.kind == "http":
            return self._send_http(query, variables)
        try:
            data = self.executor(query, variables, timeout=self._wait_for_core())
        except Exception as exc:
            status = http_status(exc)
            # wandb-core retries a 5xx by itself and gives back no status when the tool's wait ends first:
            # one direct request says whether W&B is failing (5xx) or out of reach (issue 23). Final, not Again:
            # wandb-core already tried for as long as the tool waits.
            failing = self._probe() if status is None else None
            if failing is not None:
                raise TransientError(
                    f"W&B answered {failing} (a server error) for {self.target.path} for as long as the tool "
                    f"waited ({_first_line(exc)}).",
                    "The next sync will try again; see https://status.wandb.com if it persists.") from exc
            raise classify(exc, status, None, self.target, self.base_url) from exc
        return data or {}

    def _probe(self) -> int | None:
        """The status of one small direct query, only when it is a 5xx (else None: nothing more is known). One
        try, counted by the transport, never retried: it only names the failure the executor met."""
        import requests

        if self.transport.stop.is_set():
            return None
        self.transport.counts["read"] += 1
        try:
            response = requests.post(self.base_url + "/graphql", json={"query": "query Probe { viewer { id } }"},
                                     auth=("api", self.api_key or ""), timeout=min(self.settings.request_timeout, 10),
                                     headers={"User-Agent": "wandb_spreadsheet_sync"})
        except requests.RequestException:
            return None
        return response.status_code if response.status_code >= 500 else None

    def _wait_for_core(self) -> float:
        """How long to wait for wandb-core, which retries by itself: room for three attempts."""
        return max(1.0, self.settings.request_timeout) * 3 + 10

    def _send_http(self, query: str, variables: dict) -> dict:
        import requests

        try:
            response = requests.post(self.base_url + "/graphql", json={"query": query, "variables": variables},
                                     auth=("api", self.api_key or ""), timeout=self.settings.request_timeout,
                                     headers={"User-Agent": "wandb_spreadsheet_sync"})
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _again(unreachable(self.target, self.base_url, f"{type(exc).__name__}: {str(exc)[:200]}")) \
                from exc
        if response.status_code != 200:
            raise classify(None, response.status_code, response, self.target, self.base_url)
        try:
            body = response.json()
        except ValueError as exc:
            raise _again(unreachable(self.target, self.base_url, "an answer that is not JSON")) from exc
        if body.get("errors") and not body.get("data"):
            message = "; ".join(str(e.get("message", e)) for e in body["errors"])[:300]
            raise _again(TransientError(f"W&B answered an error for {self.target.path}: {message}",
                                        "The next sync will try again; upgrading wandb may help if it persists."))
        return body.get("data") or {}


def _again(error: SyncError, wait: float | None = None) -> Again:
    """A failure a later try may not meet: `error` is raised when the tries run out; W&B asked for `wait`."""
    return Again(error, wait, why=error.message, quota=isinstance(error, RateLimited))


def classify(exc: Exception | None, status: int | None, response: Any, target: Target,
             base_url: str) -> Exception:
    """An error as ours: Again (wait and ask again) for what a later try may not meet, else the final error.
    By HTTP status, never by message text. wandb-core gives no status when it is still retrying as the tool's wait
    ends (a rate limit, a busy server, a page slower than REQUEST_TIMEOUT) or reached no server: "unreachable"."""
    path = target.path
    text = _first_line(exc) if exc is not None else f"HTTP {status}"
    if status == 429:
        return _again(RateLimited(
            f"W&B is rate limiting requests for {path} ({text}).",
            "The tool waits as W&B asks and tries again; if it persists, sync less often (SCHEDULE_TIME), raise "
            "WANDB_PACE_SECONDS, or ask W&B about the rate limit."), asked_wait(getattr(response, "headers", None)))
    if status == 401 or (status is None and exc is not None and _no_key(exc)):
        return CredentialsError(f"W&B refused the API key ({text[:200]}).",
                                "Set WANDB_API_KEY to a key from https://wandb.ai/authorize (or run `wandb login`).")
    if status is not None and kind_of_status(status) is Kind.SETUP:
        return AccessError(f"W&B answered {status}: no project {path!r} that this API key can see.",
                           "Check WANDB_ENTITY and WANDB_PROJECT, and that the key's user belongs to the entity.")
    if status is not None and may_resend(status, repeatable=True):  # 408, 5xx: the server is there but failing
        return _again(TransientError(f"W&B answered {status} for {path} ({text}).",
                                     "The next sync will try again; see https://status.wandb.com if it persists."),
                      asked_wait(getattr(response, "headers", None)))
    if status is not None:
        return SourceError(f"W&B refused the request for {path} ({status}: {text}).",
                           "Check the settings named in the message; upgrading wandb may help.")
    if exc is not None:  # wandb-core retried for as long as the tool waited: asking again now would double that
        return unreachable(target, base_url, text)
    return _again(unreachable(target, base_url, text))


def unreachable(target: Target, base_url: str, text: str) -> TransientError:
    return TransientError(f"W&B could not be reached for {target.path}, or gave no answer in time ({text}).",
                          f"The next sync will try again (a full read resumes where it stopped); check "
                          f"WANDB_BASE_URL ({base_url}) and the network if it persists, and raise REQUEST_TIMEOUT "
                          "if W&B is slow to answer large pages.")


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind a wandb error, wherever wandb keeps it: wandb-core's WandbApiFailedError
    (`response.http_status`), a requests error (`response.status_code`), or a CommError wrapping either."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        response = getattr(exc, "response", None)
        for attr in ("http_status", "status_code"):
            status = getattr(response, attr, None)
            if isinstance(status, int) and status > 0:
                return status
        exc = getattr(exc, "exc", None) or exc.__cause__ or exc.__context__
    return None


def translate(exc: Exception, target: Target, base_url: str) -> BaseException:
    """An error from making a wandb.Api (its login check) as ours."""
    error = classify(exc, http_status(exc), None, target, base_url)
    return error.error if isinstance(error, Again) and error.error is not None else error


def _no_key(exc: BaseException) -> bool:
    from wandb.errors import UsageError

    return isinstance(exc, UsageError)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__

