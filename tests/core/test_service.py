"""service.Service on plain data: readiness and health by an injected clock, and events folded while a sync runs.
The sync is a function passed in (as cli.py passes sync.sync), so no server and no fake is needed."""

from __future__ import annotations

import threading
import time

import pytest

from wandb_sheet_sync.config import Settings, Target
from wandb_sheet_sync.errors import AccessError
from wandb_sheet_sync.service import STUCK_GRACE_S, Service
from wandb_sheet_sync.sync import Report

A = Target("lab", "a", "a runs")
B = Target("lab", "b", "b runs")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(run_sync, clock: Clock | None = None) -> Service:
    settings = Settings(targets=(A, B), schedule_minutes=10)
    return Service(settings, object(), object(), None, threading.Event(), run_sync, clock=clock or Clock())


def ok(source, sink, settings, history) -> Report:
    return Report()


def test_ready_only_when_every_targets_last_sync_succeeded_within_two_intervals():
    clock = Clock()
    service = make(ok, clock)
    assert service.ready() == (False, {"lab/a -> a runs": "not synced yet", "lab/b -> b runs": "not synced yet"})
    service.sync_one(A, "schedule")
    assert service.ready()[0] is False  # b has not synced
    service.sync_one(B, "schedule")
    assert service.ready()[0] is True
    clock.now += 2 * 600
    assert service.ready()[0] is True
    clock.now += 1
    ready, why = service.ready()
    assert ready is False and why["lab/a -> a runs"] == "last successful sync 1201 s ago (limit 1200 s)"


def test_a_failed_sync_makes_its_target_unready_until_it_succeeds_again():
    outcomes = iter([None, None, AccessError("Google answered 403 while reading the sheet"), None])

    def flaky(source, sink, settings, history):
        error = next(outcomes)
        if error:
            raise error
        return Report()

    service = make(flaky)
    service.sync_one(B, "schedule")
    service.sync_one(A, "schedule")
    with pytest.raises(AccessError):
        service.sync_one(A, "webhook")
    ready, why = service.ready()
    assert ready is False and why["lab/a -> a runs"] == "last sync failed: Google answered 403 while reading the sheet"
    assert service.metrics.errors.labels("setup")._value.get() == 1
    service.sync_one(A, "webhook")
    assert service.ready()[0] is True


def test_healthy_until_a_sync_runs_longer_than_two_intervals_and_the_grace():
    clock = Clock()
    seen = []

    def slow(source, sink, settings, history):
        seen.append(service.healthy())
        clock.now += 2 * 600 + STUCK_GRACE_S + 1
        seen.append(service.healthy())
        return Report()

    service = make(slow, clock)
    service.sync_one(A, "schedule")
    assert seen[0] == (True, "alive") and seen[1][0] is False and "stuck" in seen[1][1]
    assert service.healthy() == (True, "alive")  # the sync ended
    service.stop.set()
    assert service.healthy() == (False, "stopping")


def test_events_during_a_sync_fold_into_one_more_sync():
    started, release = threading.Event(), threading.Event()
    synced: list[Target] = []

    def held(source, sink, settings, history):
        synced.append(settings.targets[0])
        if len(synced) == 1:
            started.set()
            release.wait(60)
        return Report()

    service = make(held)
    service.start()
    try:
        service.want([A])
        assert started.wait(60)
        for _ in range(30):  # while the first sync is held: A and B asked for, many times
            service.want([A])
            service.want([B])
        release.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (len(synced) == 3 and service.metrics.running._value.get() == 0
                                                    and not service.wanted):
            time.sleep(0.01)
        assert synced == [A, A, B]  # one sync each more, in the configured order, not 30 each
    finally:
        service.close(timeout=5)
    assert not service.worker.is_alive()


def test_targets_of_matches_entity_and_project_whatever_their_case():
    service = make(ok)
    assert service.targets_of("LAB", "A") == [A] and service.targets_of("lab", "c") == []
