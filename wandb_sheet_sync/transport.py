"""The one transport: how the tool paces, retries and waits for the services it calls (Google and W&B alike).

A request goes out through `Transport.send(attempt, kind)`. The attempt sends once and either returns what the
caller wants, raises our own error (final), or raises `Again` (a failure a later try may not meet, with the
wait the service asked for, if any). The transport then waits (the service's asked wait, else an exponential
backoff with jitter) and tries again, a bounded number of times, and never sends while a stop is asked for:
every wait is cut short by the stop event and raises Interrupted. Which statuses may be sent again is decided
in errors.py (`may_resend`), never here.

What differs between the services is a `Service`, not code:

    what                   Google (GOOGLE)                        W&B (WANDB)
    tries of a request     8                                      4 (wandb-core retries inside each)
    backoff                base, 2x base, ... up to 64 s          2x base, 4x base, ... up to 60 s
    a longer asked wait    waited as 120 s                        ends the tries at once (over 300 s)
    pacing                 60 reads and 60 writes a minute        WANDB_PACE_SECONDS between requests
    asked waits            Retry-After, then RateLimit-Reset (seconds), for both

The retry base (1 s by default) is a constructor argument: tests set it small so retries take no time.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

from .errors import Interrupted

log = logging.getLogger("wandb_spreadsheet_sync")
T = TypeVar("T")
_SETTLE = object()  # Again without an answer: giving up raises its error


@dataclass(frozen=True)
class Service:
    """How one service wants to be spoken to."""

    name: str  # in messages: "Google", "W&B"
    attempts: int  # tries of one request, the first included
    max_backoff: float  # the longest backoff, before jitter
    first_backoff: float = 1.0  # the first backoff, in retry bases
    clip_asked: float | None = None  # an asked wait longer than this is waited this long
    give_up_asked: float | None = None  # an asked wait longer than this ends the tries at once
    per_window: int | None = None  # requests of one kind ("read", "write") per window; None: no such quota
    window: float = 60.0  # seconds
    gap: float = 0.0  # seconds between the end of one request and the start of the next


# Google's backoff outlasts its one-minute quota window; its default quota is 60 reads and 60 writes a minute.
GOOGLE = Service("Google", attempts=8, max_backoff=64.0, clip_asked=120.0, per_window=60)
# W&B asks for a second between requests (the gap comes from WANDB_PACE_SECONDS); wandb-core retries inside
# each attempt, so a page gets few tries of its own; a wait of more than 5 minutes is left to the next sync.
WANDB = Service("W&B", attempts=4, max_backoff=60.0, first_backoff=2.0, give_up_asked=300.0)


class Again(Exception):
    """A failure a later try may not meet. `error` is raised when the tries run out (or `answer` returned, for a
    caller that translates a service's last answer itself); `wait` is what the service asked for (None: the
    transport's own backoff); `why` is logged with the wait."""

    def __init__(self, error: BaseException | None = None, wait: float | None = None, answer: Any = _SETTLE,
                 why: str | None = None, quota: bool = False):
        super().__init__(why or str(error))
        self.error, self.wait, self.answer, self.why = error, wait, answer, why
        self.quota = quota  # the service refused for its quota or rate limit (a 429): the wait counts as quota wait

    def settle(self) -> Any:
        if self.answer is not _SETTLE:
            return self.answer
        assert self.error is not None
        raise self.error


def backoff(attempt: int, base: float, service: Service, draw: Callable[[], float] = random.random) -> float:
    """The wait after the `attempt`-th failed try (1, 2, ...): doubling from the service's first backoff, capped,
    with jitter (half to all of it) so that many clients do not come back at once."""
    full = min(service.max_backoff, base * service.first_backoff * 2 ** (attempt - 1))
    return full * (0.5 + 0.5 * draw())


def asked_wait(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the service asked us to wait: Retry-After, else RateLimit-Reset (seconds until the window resets,
    as W&B sends with its 429s); None when it asked nothing we can read."""
    for name in ("Retry-After", "RateLimit-Reset"):
        try:
            value = float((headers or {}).get(name, ""))
        except (TypeError, ValueError):
            continue
        if math.isfinite(value) and value >= 0:
            return value
    return None


class Pacer:
    """Keeps within a service's quota: at most `per_window` requests of a kind in any `window`, and `gap` seconds
    from the end of one request to the start of the next. Pure bookkeeping: the caller gives the time."""

    def __init__(self, per_window: int | None, window: float = 60.0, gap: float = 0.0):
        self.per_window, self.window, self.gap = per_window, window, gap
        self.done: dict[str, deque] = {}  # kind -> when each request of the last window ended
        self.last: float | None = None  # when the last request of any kind ended

    def delay(self, kind: str, now: float) -> float:
        """How long to wait before sending a request of this kind now."""
        wait = 0.0
        if self.last is not None and self.gap > 0:
            wait = max(wait, self.gap - (now - self.last))
        done = self.done.setdefault(kind, deque())
        while done and now - done[0] >= self.window:
            done.popleft()
        if self.per_window is not None and len(done) >= self.per_window:
            wait = max(wait, self.window - (now - done[len(done) - self.per_window]))
        return wait

    def in_window(self, kind: str) -> int:
        return len(self.done.get(kind, ()))

    def record(self, kind: str, now: float) -> None:
        """A request ended (its answer came, or it failed): the service has counted it by then."""
        self.done.setdefault(kind, deque()).append(now)
        self.last = now


class Transport:
    """Sends through `attempt` callables: paced, retried with backoff or as asked, stopped by `stop`. Counts what it
    sent in `counts` ("read", "write", "retry"), for the sync report."""

    def __init__(self, service: Service, stop: threading.Event | None = None, retry_base: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None):
        self.service = service
        self.stop = stop or threading.Event()
        self.retry_base = retry_base
        self.clock = clock
        self.rng = rng or random.Random()
        self.pacer = Pacer(service.per_window, service.window, service.gap)
        self.counts: Counter = Counter()
        self.quota_wait = 0.0  # seconds waited for the service's quota (pacing under it, its 429s): for /metrics

    def send(self, attempt: Callable[[], T], kind: str = "read") -> T:
        service = self.service
        for tries in range(1, service.attempts + 1):
            self.pace(kind)
            self.counts[kind] += 1
            try:
                return attempt()
            except Again as failed:
                again = failed
            finally:  # when the answer came (or did not): the service counted the request then, not after a wait
                self.pacer.record(kind, self.clock())
            asked = again.wait
            if tries == service.attempts or (asked is not None and service.give_up_asked is not None
                                             and asked > service.give_up_asked):
                return again.settle()
            if asked is not None and service.clip_asked is not None:
                asked = min(asked, service.clip_asked)
            wait = asked if asked is not None else backoff(tries, self.retry_base, service, self.rng.random)
            if again.why:
                log.info("%s; waiting %.1f s before asking again", again.why, wait)
            else:
                # Named by its kind or status only: an error's text can quote a URL or a body (a token, a key).
                what = (type(again.error).__name__ if again.error is not None
                        else f"status {getattr(again.answer, 'status_code', '?')}")
                log.debug("%s answered %s; waiting %.1f s before trying again", service.name, what, wait)
            self.counts["retry"] += 1
            if again.quota:
                self.quota_wait += wait
            self.wait(wait, f"waiting to ask {service.name} again")
        raise AssertionError("unreachable: the last try settles")

    def pace(self, kind: str) -> None:
        """Waits for room under the service's quota instead of being refused for the lack of it."""
        if self.stop.is_set():
            raise Interrupted(f"Stopped before sending a request to {self.service.name}; nothing more was sent.")
        wait = self.pacer.delay(kind, self.clock())
        if wait > 0 and self.pacer.per_window is not None and self.pacer.in_window(kind) >= self.pacer.per_window:
            log.info("pacing: %d %s requests in the last minute (%s's quota); waiting %.0f s",
                     self.pacer.in_window(kind), kind, self.service.name, wait)
            self.quota_wait += wait
        if wait > 0:
            self.wait(wait, f"pacing requests to {self.service.name}")

    def wait(self, seconds: float, doing: str) -> None:
        """The one stop-aware wait: a stop asked for during it ends the sync at once."""
        if self.stop.wait(seconds):
            raise Interrupted(f"Stopped while {doing}; nothing more was sent.")

