"""Owns the running service (--listen): who syncs what and when, beside the schedule loop, and how it is doing.

One sync runs at a time (the source and sink are one W&B reader and one Google session): the loop's scheduled
syncs and the syncs W&B events ask for take the same lock. Events only mark a target as wanted; a worker thread
syncs the wanted targets, so events that arrive while a target syncs fold into one more sync of it, never one
each. The schedule stays the fallback: an event lost on the way (W&B fires at most once per run per 24 h) is
caught at the next tick. In this mode each target syncs on its own: one target's failure neither hides nor stops
another's, and /readyz and /metrics speak per target.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .config import Settings, Target
from .errors import Busy, ConfigError, Interrupted, SyncError
from .logs import counts, fields
from .metrics import Metrics

log = logging.getLogger("wandb_spreadsheet_sync")
CLOSE_SECONDS = 5.0  # for the sync in flight to reach a safe point; the hard exit (cli.py, 7 s) follows
FOLD_SECONDS = 0.25  # after the first event, wait this long for its burst before syncing (W&B fires one a run)
STUCK_GRACE_S = 120.0  # on top of two intervals, before a sync in flight means the loop is stuck


@dataclasses.dataclass
class TargetState:
    last_ok: float | None = None  # monotonic, when its last successful sync ended
    last_failed: bool = False
    last_error: str = ""


class Service:
    def __init__(self, settings: Settings, source: Any, sink: Any, history: Any, stop: threading.Event,
                 run_sync: Callable, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.settings, self.source, self.sink, self.history, self.stop = settings, source, sink, history, stop
        self.run_sync = run_sync  # sync.sync: (source, sink, settings, history) -> Report
        self.clock, self.wall = clock, wall
        self.metrics = Metrics()
        self.metrics.targets(settings.targets)
        self.interval_s = settings.schedule_minutes * 60
        self.state = {t: TargetState() for t in settings.targets}
        self.lock = threading.Lock()  # one sync at a time
        self.cond = threading.Condition()
        self.wanted: set[Target] = set()  # asked for by events, not yet started
        self.busy_since: float | None = None  # monotonic start of the sync in flight
        self.closing = threading.Event()  # the service ends (a stop, or the loop ended at a setup error)
        self.worker = threading.Thread(target=self._work, name="webhook-syncs", daemon=True)

    # -- what W&B events ask for ---------------------------------------------------------------
    def targets_of(self, entity: str, project: str) -> list[Target]:
        return [t for t in self.settings.targets
                if t.entity.casefold() == entity.casefold() and t.project.casefold() == project.casefold()]

    def want(self, targets: list[Target]) -> None:
        with self.cond:
            self.wanted.update(targets)
            self.metrics.queued.set(len(self.wanted))
            self.cond.notify()

    def start(self) -> None:
        self.worker.start()

    def close(self, timeout: float) -> bool:
        """Ends the worker; whether a sync was still in flight after `timeout` (the hard exit then ends it)."""
        self.closing.set()
        with self.cond:
            self.cond.notify_all()
        if self.worker.is_alive():
            self.worker.join(timeout)
        return self.worker.is_alive()

    def _ending(self) -> bool:
        return self.stop.is_set() or self.closing.is_set()

    def _work(self) -> None:
        while not self._ending():
            with self.cond:
                while not self.wanted and not self._ending():
                    self.cond.wait(0.5)
            if self.closing.wait(FOLD_SECONDS) or self.stop.is_set():  # the rest of a burst joins this sync
                return
            with self.cond:
                batch, self.wanted = [t for t in self.settings.targets if t in self.wanted], set()
                self.metrics.queued.set(0)
            for target in batch:
                if self._ending():
                    return
                try:
                    self.sync_one(target, "webhook")
                except SyncError:
                    pass  # logged and counted; the next event or tick tries again
                except Exception:  # a bug must not end the worker: the next event tries again
                    log.exception("the sync W&B asked for failed unexpectedly", extra=fields("sync_failed", target))

    # -- syncing -----------------------------------------------------------------------------
    def scheduled(self) -> None:
        """The loop's tick: every target, one after another; raises the first failure so the loop logs it (and
        ends at a setup error in the first sync, as without --listen)."""
        first: BaseException | None = None
        for target in self.settings.targets:
            if self.stop.is_set():
                break
            try:
                self.sync_one(target, "schedule")
            except Exception as exc:  # the other targets still sync  # noqa: BLE001
                first = first or exc
        if first is not None:
            raise first

    def sync_one(self, target: Target, trigger: str):
        with self.lock:
            with self.cond:
                self.busy_since = self.clock()
            self.metrics.running.set(1)
            started = self.clock()
            sink, source = self.sink, self.source
            before = _sent(source, sink)
            try:
                report = self.run_sync(source, sink, dataclasses.replace(self.settings, targets=(target,)),
                                       self.history)
            except BaseException as exc:
                seconds = self.clock() - started
                kind = exc.kind.value if isinstance(exc, SyncError) else "bug"
                self.metrics.failed(target, trigger, seconds, kind)
                state = self.state[target]
                state.last_failed, state.last_error = True, str(exc).splitlines()[0][:300]
                if isinstance(exc, Busy) and trigger == "webhook":  # issue 23: another sync is writing; not a failure
                    log.warning("skipped: %s", exc.message, extra=fields("sync_skipped", target))
                elif isinstance(exc, SyncError) and trigger == "webhook" and not self.stop.is_set():
                    log.error("sync of %s (asked for by W&B) failed: %s", target.path, exc,
                              extra=fields("sync_failed", target, kind=kind))
                raise
            else:
                seconds = self.clock() - started
                self.metrics.synced(target, trigger, seconds, self.wall(), report)
                state = self.state[target]
                state.last_ok, state.last_failed, state.last_error = self.clock(), False, ""
                log.info("%s%s", report.line(), " (asked for by W&B)" if trigger == "webhook" else "",
                         extra=fields("sync", target, counts(report), trigger=trigger, seconds=round(seconds, 3),
                                      sheet_reads=report.sheets_reads, sheet_writes=report.sheets_writes,
                                      wandb_requests=report.wandb_requests))
                return report
            finally:
                self.metrics.sent(*_delta(before, _sent(source, sink)))
                self.metrics.running.set(0)
                with self.cond:
                    self.busy_since = None

    # -- how it is doing ---------------------------------------------------------------------
    def healthy(self) -> tuple[bool, str]:
        """The loop is alive: not stopping, the event worker running, and no sync in flight for longer than two
        intervals (a hung sync). Google or W&B being down is not ill health (a restart would not help): /readyz."""
        if self._ending():
            return False, "stopping"
        if self.worker.ident is not None and not self.worker.is_alive():
            return False, "the worker that runs the syncs W&B asks for has stopped"
        with self.cond:
            since = self.busy_since
        limit = 2 * self.interval_s + STUCK_GRACE_S
        if since is not None and self.clock() - since > limit:
            return False, f"a sync has run for {self.clock() - since:.0f} s (limit {limit:.0f} s): stuck"
        return True, "alive"

    def ready(self) -> tuple[bool, dict[str, str]]:
        """Ready when the last sync of every target succeeded, within two intervals."""
        now, limit, out, ok = self.clock(), 2 * self.interval_s, {}, True
        for target, state in self.state.items():
            label = f"{target.path} -> {target.worksheet}"
            if state.last_failed:
                out[label], ok = f"last sync failed: {state.last_error}", False
            elif state.last_ok is None:
                out[label], ok = "not synced yet", False
            elif now - state.last_ok > limit:
                out[label], ok = f"last successful sync {now - state.last_ok:.0f} s ago (limit {limit} s)", False
            else:
                out[label] = f"synced {now - state.last_ok:.0f} s ago"
        return ok, out


def _sent(source: Any, sink: Any) -> tuple[int, int, int, float, float]:
    """The source's and sink's own counters: Sheets reads and writes, W&B requests, seconds waited for quota."""
    session = getattr(sink, "session", None)
    counts = getattr(session, "counts", {}) or {}
    return (counts.get("read", 0), counts.get("write", 0), getattr(source, "requests", 0),
            getattr(session, "quota_wait", 0.0), getattr(source, "quota_wait", 0.0))


def _delta(before: tuple, after: tuple) -> tuple:
    return tuple(max(0, a - b) for a, b in zip(after, before))


def run(settings: Settings, source: Any, sink: Any, history: Any, stop: threading.Event, run_sync: Callable) -> int:
    """The schedule loop with the HTTP server beside it, until a stop; the loop's exit code. Raises a ConfigError
    when LISTEN cannot be bound (before any sync)."""
    from . import loop
    from .server import serve

    service = Service(settings, source, sink, history, stop, run_sync)
    host, port = settings.listen
    try:
        server, thread = serve(service, host, port, settings.webhook_secret)
    except OSError as exc:
        why = f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another address or port"
        raise ConfigError([f"LISTEN: {why}"]) from exc
    bound = server.server_address[1]
    log.info("listening on http://%s:%d: POST /webhook, GET /healthz, /readyz, /metrics", host, bound,
             extra=fields("listening", port=bound))
    if not settings.webhook_secret:
        log.warning("POST /webhook is off: WEBHOOK_SECRET is not set (W&B signs its webhooks with it; without it no "
                    "event can be trusted). /healthz, /readyz and /metrics are served.",
                    extra=fields("webhook_off"))
    service.start()
    busy = False
    try:
        code = loop.run(service.scheduled, settings.schedule_minutes, stop, settings.health_file)
    finally:
        busy = service.close(timeout=CLOSE_SECONDS)
        server.shutdown()
        server.server_close()
        thread.join(timeout=2.0)
        log.info("the HTTP server and the loop have stopped", extra=fields("stopped"))
    if busy:  # never reported as a clean stop: the sync in flight had not reached a safe point
        raise Interrupted("Stopped while a webhook's sync was still in flight; each request sent landed whole or "
                          "not at all, and the next sync writes the rest.")
    return code
