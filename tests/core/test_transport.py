"""The one transport: pacing, bounded backoff, asked waits and the stop-aware wait, on a clock the test sets."""

from __future__ import annotations

import threading

import pytest

from wandb_sheet_sync.errors import Interrupted, TransientError
from wandb_sheet_sync.transport import GOOGLE, WANDB, Again, Pacer, Service, Transport, asked_wait, backoff


class Clock:
    """A monotonic clock that moves only when someone waits on the stop event."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Waits(threading.Event):
    """A stop event whose waits are recorded and pass at once on the test's clock (a stop can be asked for)."""

    def __init__(self, clock: Clock, stop_after: int | None = None):
        super().__init__()
        self.clock, self.waited, self.stop_after = clock, [], stop_after

    def wait(self, timeout=None):
        self.waited.append(timeout)
        self.clock.now += timeout or 0
        if self.stop_after is not None and len(self.waited) >= self.stop_after:
            self.set()
        return self.is_set()


def transport(service: Service, stop_after: int | None = None, base: float = 1.0) -> tuple[Transport, Waits]:
    clock = Clock()
    stop = Waits(clock, stop_after)
    return Transport(service, stop, retry_base=base, clock=clock), stop


@pytest.mark.parametrize("service, waits", [(GOOGLE, [1, 2, 4, 8, 16, 32, 64, 64, 64]),
                                            (WANDB, [2, 4, 8, 16, 32, 60, 60])])
def test_backoff_doubles_from_the_services_first_wait_to_its_cap(service, waits):
    assert [backoff(n, 1.0, service, draw=lambda: 1.0) for n in range(1, len(waits) + 1)] == waits
    assert backoff(3, 1.0, service, draw=lambda: 0.0) == waits[2] / 2  # jitter: half to all of it


def test_the_retry_base_scales_every_backoff():
    assert backoff(2, 0.05, GOOGLE, draw=lambda: 1.0) == pytest.approx(0.1)


@pytest.mark.parametrize("headers, wait", [({"Retry-After": "7"}, 7.0), ({"RateLimit-Reset": "3"}, 3.0),
                                           ({"Retry-After": "2", "RateLimit-Reset": "9"}, 2.0),
                                           ({"Retry-After": "soon", "RateLimit-Reset": "4"}, 4.0),
                                           ({"Retry-After": "-1"}, None), ({"Retry-After": "nan"}, None),
                                           ({}, None), (None, None)])
def test_the_asked_wait_is_retry_after_else_ratelimit_reset(headers, wait):
    assert asked_wait(headers) == wait


def test_a_failure_is_tried_again_with_backoff_until_it_passes():
    sender, stop = transport(GOOGLE, base=0.5)
    answers = iter([Again(TransientError("503")), Again(TransientError("503")), "done"])

    def attempt():
        got = next(answers)
        if isinstance(got, Again):
            raise got
        return got

    assert sender.send(attempt, "read") == "done"
    assert sender.counts == {"read": 3, "retry": 2}
    assert 0.25 <= stop.waited[0] <= 0.5 and 0.5 <= stop.waited[1] <= 1.0


def test_the_tries_are_bounded_and_the_last_error_is_raised():
    sender, stop = transport(WANDB)
    with pytest.raises(TransientError, match="try 4"):
        sender.send(lambda: (_ for _ in ()).throw(Again(TransientError(f"try {sender.counts['read']}"))))
    assert sender.counts["read"] == WANDB.attempts == 4 and len(stop.waited) == 3


def test_a_caller_that_translates_the_last_answer_gets_it_back():
    sender, _ = transport(Service("S", attempts=2, max_backoff=1))

    def attempt():
        raise Again(wait=0, answer="the last 429")

    assert sender.send(attempt) == "the last 429"


def test_an_asked_wait_is_honoured_and_googles_is_clipped_at_two_minutes():
    sender, stop = transport(GOOGLE)
    answers = iter([Again(TransientError("429"), wait=3), Again(TransientError("429"), wait=3600)])

    def attempt():
        for again in answers:
            raise again
        return "ok"

    assert sender.send(attempt, "write") == "ok"
    assert stop.waited == [3, 120.0]


def test_a_wandb_wait_longer_than_five_minutes_ends_the_tries_at_once():
    sender, stop = transport(WANDB)
    with pytest.raises(TransientError, match="slow down"):
        sender.send(lambda: (_ for _ in ()).throw(Again(TransientError("slow down"), wait=301)))
    assert sender.counts["read"] == 1 and stop.waited == []


def test_a_stop_during_a_retry_wait_ends_the_request_with_nothing_more_sent():
    sender, stop = transport(GOOGLE, stop_after=1)
    with pytest.raises(Interrupted, match="waiting to ask Google again"):
        sender.send(lambda: (_ for _ in ()).throw(Again(TransientError("503"))))
    assert sender.counts["read"] == 1


def test_nothing_is_sent_once_a_stop_was_asked_for():
    sender, stop = transport(WANDB)
    stop.set()
    with pytest.raises(Interrupted, match="before sending a request to W&B"):
        sender.send(lambda: pytest.fail("sent after a stop"))


def test_the_pacer_keeps_a_kind_within_its_quota_per_window():
    pacer = Pacer(per_window=3, window=60.0)
    for t in (0.0, 1.0, 2.0):
        assert pacer.delay("read", t) == 0
        pacer.record("read", t)
    assert pacer.delay("read", 10.0) == 50.0  # the oldest of the three leaves the window at 60
    assert pacer.delay("write", 10.0) == 0  # reads and writes are counted apart
    assert pacer.delay("read", 60.0) == 0


def test_the_pacer_keeps_a_gap_from_the_end_of_the_last_request():
    pacer = Pacer(per_window=None, gap=1.0)
    assert pacer.delay("read", 5.0) == 0  # the first request never waits
    pacer.record("read", 5.0)
    assert pacer.delay("read", 5.25) == 0.75 and pacer.delay("read", 6.5) == 0


def test_a_paced_request_waits_on_the_stop_event_and_a_stop_there_ends_it():
    sender, stop = transport(Service("S", attempts=1, max_backoff=1, gap=2.0), stop_after=2)
    assert sender.send(lambda: 1) == 1 and stop.waited == []
    assert sender.send(lambda: 2) == 2 and stop.waited == [2.0]  # the clock stood still: the whole gap
    with pytest.raises(Interrupted, match="pacing requests to S"):
        sender.send(lambda: 3)


def test_a_retry_wait_counts_towards_the_gap_so_a_retry_is_not_paced_again():
    """The gap runs from when the answer came: a backoff as long as the gap leaves nothing more to wait."""
    sender, stop = transport(Service("S", attempts=2, max_backoff=10, gap=1.0), base=2.0)
    answers = iter([Again(TransientError("503")), "ok"])

    def attempt():
        got = next(answers)
        if isinstance(got, Again):
            raise got
        return got

    assert sender.send(attempt) == "ok"
    assert len(stop.waited) == 1 and 1.0 <= stop.waited[0] <= 2.0  # the backoff alone
