"""Owns what the service counts for Prometheus (GET /metrics), in a registry of its own, with prometheus_client.

Every name starts with `wandb_spreadsheet_sync_`. A target label reads "ENTITY/PROJECT -> WORKSHEET".
Requests and quota waits are read from the source and sink after each sync (the deltas of their own counters), so
the transports only count; they know nothing of Prometheus.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .errors import Kind
from .logs import COUNTS as CHANGES

PREFIX = "wandb_spreadsheet_sync"
CONTENT_TYPE = CONTENT_TYPE_LATEST


def target_label(target: Any) -> str:
    return f"{target.path} -> {target.worksheet}"


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.syncs = Counter(f"{PREFIX}_syncs", "Syncs of one target, by outcome (ok, failed) and what started "
                             "them (schedule, webhook)", ["target", "outcome", "trigger"], registry=r)
        self.duration = Histogram(f"{PREFIX}_sync_duration_seconds", "Seconds one target's sync took",
                                  ["target"], registry=r,
                                  buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800))
        self.last_success = Gauge(f"{PREFIX}_last_success_timestamp_seconds", "When each target last synced "
                                  "successfully (Unix time)", ["target"], registry=r)
        self.runs = Counter(f"{PREFIX}_runs", "Rows the syncs changed, by change: new, updated, kept_edits (a "
                            "person's edit kept), columns_added, deleted_respected", ["target", "change"], registry=r)
        self.errors = Counter(f"{PREFIX}_errors", "Failed syncs by the error's kind (errors.Kind; bug for an "
                              "unexpected exception)", ["kind"], registry=r)
        self.requests = Counter(f"{PREFIX}_requests", "Requests sent, by service (sheets, wandb) and kind (read, "
                                "write; W&B: all)", ["service", "kind"], registry=r)
        self.quota_wait = Counter(f"{PREFIX}_quota_wait_seconds", "Seconds spent waiting for a quota or rate limit "
                                  "(Sheets' per-minute pacing and 429s; W&B's 429s the tool waits out itself: "
                                  "wandb-core's own retries are not seen)", ["service"], registry=r)
        self.webhooks = Counter(f"{PREFIX}_webhook_requests", "Requests to POST /webhook by result: accepted, "
                                "unknown_project, bad_signature, no_signature, too_large, bad_request, off",
                                ["result"], registry=r)
        self.queued = Gauge(f"{PREFIX}_sync_queued", "Targets an event asked to sync that wait for their sync",
                            registry=r)
        self.running = Gauge(f"{PREFIX}_sync_running", "1 while a sync runs", registry=r)
        for kind in Kind:  # every kind at 0, so a rate() sees the first error
            self.errors.labels(kind.value)
        self.errors.labels("bug")
        for service, kind in (("sheets", "read"), ("sheets", "write"), ("wandb", "all")):
            self.requests.labels(service, kind)
        for service in ("sheets", "wandb"):
            self.quota_wait.labels(service)

    def targets(self, targets) -> None:
        """Every target's series exist from the start (a dashboard shows 0, not nothing)."""
        for t in targets:
            label = target_label(t)
            for outcome in ("ok", "failed"):
                for trigger in ("schedule", "webhook"):
                    self.syncs.labels(label, outcome, trigger)
            for change in CHANGES:
                self.runs.labels(label, change)

    def synced(self, target, trigger: str, seconds: float, finished_at: float, report) -> None:
        label = target_label(target)
        self.syncs.labels(label, "ok", trigger).inc()
        self.duration.labels(label).observe(seconds)
        self.last_success.labels(label).set(finished_at)
        for change in CHANGES:
            value = report.total(change)
            if value:
                self.runs.labels(label, change).inc(value)

    def failed(self, target, trigger: str, seconds: float, kind: str) -> None:
        label = target_label(target)
        self.syncs.labels(label, "failed", trigger).inc()
        self.duration.labels(label).observe(seconds)
        self.errors.labels(kind).inc()

    def sent(self, sheets_read: int, sheets_write: int, wandb: int, sheets_wait: float, wandb_wait: float) -> None:
        for service, kind, n in (("sheets", "read", sheets_read), ("sheets", "write", sheets_write),
                                 ("wandb", "all", wandb)):
            if n > 0:
                self.requests.labels(service, kind).inc(n)
        for service, seconds in (("sheets", sheets_wait), ("wandb", wandb_wait)):
            if seconds > 0:
                self.quota_wait.labels(service).inc(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
