"""The write lease's protocol (sinks/google_lease.py) against the fake's spreadsheet model, with a test clock:
Google's atomic batchUpdate and unique sheet titles are what make it hold."""

from __future__ import annotations

import random

import pytest

from wandb_sheet_sync.errors import Busy, LeaseLost
from wandb_sheet_sync.sinks import google_lease
from wandb_sheet_sync.sinks.google_lease import Found, Lease, Refused
from tests.fakes.cells import ApiError
from tests.fakes.sheets_model import Sheet, Spreadsheet

TITLE = google_lease.lease_title("runs")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ss() -> Spreadsheet:
    return Spreadsheet("id", "t", [Sheet(0, "runs")])


def _lease(ss: Spreadsheet, clock: Clock, who: str, seconds: float = 60, wait: float = 10) -> Lease:
    rng = random.Random(who)

    def send(requests: list[dict]) -> None:
        try:
            ss.batch_update(requests, rng)
        except ApiError as exc:
            raise Refused(exc.message) from None

    def look() -> Found | None:
        sheet = next((s for s in ss.sheets if s.title == TITLE), None)
        if sheet is None:
            return None
        cells = [sheet.get(0, c) for c in range(2)]
        return Found(sheet.sheet_id, cells[0].value if cells[0] else None, cells[1].value if cells[1] else None)

    return Lease(TITLE, send, look, seconds, wait, clock, clock.sleep, lambda: rng.randrange(1, 2**31 - 1), who)


def _writes(ss: Spreadsheet, lease: Lease) -> None:
    """A write of the holder: its cells and the fence, atomically."""
    ss.batch_update([{"updateCells": {"start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0},
                                      "rows": [{"values": [{"userEnteredValue": {"stringValue": lease.holder}}]}],
                                      "fields": "userEnteredValue"}}, *lease.fence()], random.Random(0))


def test_of_two_syncs_one_holds_the_lease_and_the_other_waits_then_skips(ss):
    clock = Clock()
    a, b = _lease(ss, clock, "a"), _lease(ss, clock, "b")
    a.acquire()
    with pytest.raises(Busy) as caught:
        b.acquire()
    assert "a" in caught.value.message and 10 <= clock.now - 1_000_000 < 60
    assert not b.held and a.held


def test_a_released_lease_is_taken_by_the_waiting_sync(ss):
    clock = Clock()
    a, b = _lease(ss, clock, "a"), _lease(ss, clock, "b", wait=1000)
    a.acquire()
    b.pause = lambda s: (clock.sleep(s), a.release())  # a finishes while b waits
    b.acquire()
    assert b.held and [s.title for s in ss.sheets].count(TITLE) == 1


def test_an_expired_lease_is_taken_over_and_its_old_holders_writes_are_refused_whole(ss):
    clock = Clock()
    a, b = _lease(ss, clock, "a", seconds=60), _lease(ss, clock, "b", wait=1000)
    a.acquire()
    clock.now += 61  # a hung (or was killed) past its lease
    b.acquire()
    assert b.held
    with pytest.raises(ApiError, match="No grid with id"):
        _writes(ss, a)
    assert ss.sheets[0].get(0, 0) is None  # nothing of a's write landed
    _writes(ss, b)
    assert ss.sheets[0].get(0, 0).value == "b"


def test_of_two_takers_of_a_stale_lease_only_one_wins(ss):
    clock = Clock()
    dead = _lease(ss, clock, "dead")
    dead.acquire()
    clock.now += 1000
    b, c = _lease(ss, clock, "b"), _lease(ss, clock, "c")
    stale = next(s.sheet_id for s in ss.sheets if s.title == TITLE)
    b.acquire()
    # c saw the same stale lease and sends the same takeover: the id it deletes is gone
    with pytest.raises(Refused, match="No grid with id"):
        c.send(google_lease.take(TITLE, 77, "c", clock.now + 60, stale))
    assert b.held and [s.title for s in ss.sheets].count(TITLE) == 1


def test_writes_renew_the_lease_so_a_long_write_keeps_it(ss):
    clock = Clock()
    a, b = _lease(ss, clock, "a", seconds=60), _lease(ss, clock, "b", wait=5)
    a.acquire()
    for _ in range(5):  # five minutes of writes, one every 50 s
        clock.now += 50
        _writes(ss, a)
    with pytest.raises(Busy):
        b.acquire()


def test_a_rotated_lease_refuses_the_write_that_lands_late(ss):
    clock = Clock()
    a = _lease(ss, clock, "a")
    a.acquire()
    late = a.fence()  # the fence of a write whose answer was lost: it may still land
    a.rotate()
    with pytest.raises(ApiError, match="No grid with id"):
        ss.batch_update(late, random.Random(0))
    assert a.held


def test_a_lease_taken_over_makes_rotation_say_so(ss):
    clock = Clock()
    a, b = _lease(ss, clock, "a", seconds=60), _lease(ss, clock, "b", wait=1000)
    a.acquire()
    clock.now += 61
    b.acquire()
    with pytest.raises(LeaseLost):
        a.rotate()
