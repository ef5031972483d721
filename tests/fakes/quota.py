"""Sheets' per-minute request quotas as Google counts them: reads and writes apart, per user and per project.

Google documents per-minute quotas "refilled every minute" without saying where a minute starts; this fake
counts over a sliding window (any `window` seconds), which never admits more than a fixed window would in the
same span, and does not depend on when a test happens to start. A refused request uses no quota (assumption).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .cells import ApiError

SERVICE = "sheets.googleapis.com"


@dataclass(frozen=True)
class Limit:
    kind: str  # "read" or "write"
    per_user: bool

    @property
    def metric(self) -> str:
        return f"{self.kind.capitalize()} requests"

    def describe(self) -> str:
        return f"{self.metric} per minute" + (" per user" if self.per_user else "")

    def quota_limit(self) -> str:
        return f"{self.kind.capitalize()}RequestsPerMinutePer" + ("User" if self.per_user else "Project")


def kind_of(method: str, raw_path: str) -> str:
    """Google counts a request as a read or a write by what it does, not by its HTTP verb."""
    reads_by_post = (":getByDataFilter", "values:batchGetByDataFilter")
    return "read" if method == "GET" or raw_path.endswith(reads_by_post) else "write"


def exceeded(limit: Limit, value: int, project_number: int) -> ApiError:
    """Google's 429 for a spent quota. It sends no Retry-After with it (as far as is known: an assumption)."""
    return ApiError(429, f"Quota exceeded for quota metric '{limit.metric}' and limit '{limit.describe()}' of "
                         f"service '{SERVICE}' for consumer 'project_number:{project_number}'.", details=[{
                             "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                             "domain": "googleapis.com",
                             "metadata": {"quota_metric": f"{SERVICE}/{limit.kind}_requests",
                                          "quota_limit": limit.quota_limit(), "service": SERVICE,
                                          "consumer": f"projects/{project_number}",
                                          "quota_limit_value": str(value), "quota_location": "global"}}])


@dataclass
class Meter:
    """When each admitted request came, per bucket: (kind, user) for per-user limits, (kind, "") per project."""

    stamps: dict[tuple[str, str], deque] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic  # a test sets its own to count a window without waiting for it

    def admit(self, kind: str, user: str, limits: dict[Limit, int], window: float) -> tuple[Limit, int] | None:
        """Counts the request if every limit allows it; else the first limit it would break, and its value."""
        now = self.clock()
        buckets = []
        for limit, value in limits.items():
            if limit.kind != kind:
                continue
            stamps = self.stamps.setdefault((kind, user if limit.per_user else ""), deque())
            while stamps and now - stamps[0] >= window:
                stamps.popleft()
            if len(stamps) >= value:
                return limit, value
            buckets.append(stamps)
        for stamps in buckets:
            stamps.append(now)
        return None
