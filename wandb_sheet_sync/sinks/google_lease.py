"""The write lease: one sync at a time writes a worksheet, and the spreadsheet itself enforces it.

Google has no conditional write and no revision check, but two things it does are atomic: a batchUpdate lands
whole or not at all, and sheet titles are unique (an addSheet of a title that exists fails the whole batch with
400 'A sheet with the name "..." already exists'), as is a request naming a sheet id that is gone (400 'No grid
with id: ...'). So the lease is a hidden sheet of a fixed title, "_sync_lease <WORKSHEET>", whose A1:B1 hold
who holds it and until when (seconds since the epoch):

- acquire: [addSheet the lease sheet with a fresh id, updateCells A1:B1]. Of two syncs, one gets it.
- a lease past its expiry (its holder was killed, or hung) is taken over in one batchUpdate [deleteSheet its id,
  addSheet a fresh one, updateCells]: of two takers the second fails, the id it deletes being gone.
- every write the holder sends carries [updateCells of the lease's B1: a new expiry]: a renewal and a fence. If
  another sync took the lease over (ours had expired), our lease's id is gone and Google refuses the whole
  write: nothing of it lands.
- release: [deleteSheet the lease's id], after the last write; refused harmlessly if it was taken over.

A sync takes the lease just before the check it reads before writing, and keeps it until its last write (or
its re-read and second plan, when the check found the sheet moved): check and write see the sheet with nobody
else writing between them. A sync that finds the lease held polls it for a bounded time, then gives up (Busy).
Expiry compares the holder's clock with the taker's: clocks a few seconds apart matter nothing against
LEASE_SECONDS of minutes, and the fence keeps even a wrong guess from writing twice.

Pure request bodies and a small protocol over two functions the sink passes in (send a batchUpdate, look at
the lease sheet): nothing here knows HTTP.
"""

from __future__ import annotations

import os
import random
import socket
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import Busy, LeaseLost, SinkError

PREFIX = "_sync_lease "
_CONTENDED = ("already exists", "No grid with id")  # what Google answers the loser of a race, atomically


def lease_title(worksheet: str, length: int = 100) -> str:
    return (PREFIX + worksheet)[:length]


def holder_id() -> str:
    """Who holds a lease, in words a person can follow back to a machine and a process."""
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"


class Refused(SinkError):
    """A batchUpdate of the lease's that Google refused with a 400 (nothing of it landed). Contention (another sync's
    lease: "already exists", "No grid with id") is handled here; any other refusal reaches the sync as the SinkError
    it is, never as an exception of our own that the command line does not know."""

    def __init__(self, message: str):
        super().__init__(f"Google refused the write lease's request, so nothing was written: {message}",
                         "Nothing of it landed; the next sync tries again.")
        self.google = message


@dataclass(frozen=True)
class Found:
    """The lease sheet as it stands: its id, who holds it and until when (None: unreadable)."""

    sheet_id: int
    holder: str | None
    expires: float | None

    def expired(self, now: float) -> bool:
        return self.expires is None or self.expires <= now


def stamp(sheet_id: int, holder: str, expires: float) -> dict:
    return {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                            "rows": [{"values": [{"userEnteredValue": {"stringValue": holder}},
                                                 {"userEnteredValue": {"numberValue": expires}}]}],
                            "fields": "userEnteredValue"}}


def take(title: str, sheet_id: int, holder: str, expires: float, stale: int | None = None) -> list[dict]:
    """The batchUpdate that takes the lease: a fresh sheet (after deleting a stale one by its id)."""
    out = [{"deleteSheet": {"sheetId": stale}}] if stale is not None else []
    return out + [{"addSheet": {"properties": {"sheetId": sheet_id, "title": title, "hidden": True,
                                               "gridProperties": {"rowCount": 1, "columnCount": 2}}}},
                  stamp(sheet_id, holder, expires)]


def renew(sheet_id: int, expires: float) -> dict:
    """Rides on every write: refused with it, atomically, once the lease is no longer ours."""
    return {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 1},
                            "rows": [{"values": [{"userEnteredValue": {"numberValue": expires}}]}],
                            "fields": "userEnteredValue"}}


def give_back(sheet_id: int) -> dict:
    return {"deleteSheet": {"sheetId": sheet_id}}


def contended(message: str) -> bool:
    return any(text in message for text in _CONTENDED)


class Lease:
    """One worksheet's lease, as one process holds it (or not)."""

    def __init__(self, title: str, send: Callable[[list[dict]], None], look: Callable[[], Found | None],
                 seconds: float, wait: float, clock: Callable[[], float] = time.time,
                 pause: Callable[[float], None] = time.sleep, new_id: Callable[[], int] | None = None,
                 holder: str | None = None):
        self.title, self.send, self.look = title, send, look
        self.seconds, self.wait = seconds, wait
        self.clock, self.pause = clock, pause
        self.new_id = new_id or (lambda: random.randrange(1, 2**31 - 1))
        self.holder = holder or holder_id()
        self.sheet_id: int | None = None  # the lease sheet's id while this process holds it
        self.waited = 0.0  # seconds the last acquire waited for another sync

    @property
    def held(self) -> bool:
        return self.sheet_id is not None

    def acquire(self) -> None:
        """Holds the lease when it returns; Busy after `wait` seconds of another sync holding it."""
        if self.held:
            return
        started = self.clock()
        found: Found | None = None
        while True:
            fresh = self.new_id()
            stale = found.sheet_id if found is not None and found.expired(self.clock()) else None
            if found is None or stale is not None:
                try:
                    self.send(take(self.title, fresh, self.holder, self.clock() + self.seconds, stale))
                    self.sheet_id = fresh
                    self.waited = self.clock() - started
                    return
                except Refused as exc:
                    if not contended(exc.google):
                        raise
            found = self.look()
            if found is not None and found.holder == self.holder:  # ours after all (a write whose answer was lost)
                self.sheet_id = found.sheet_id
                return
            if found is not None and not found.expired(self.clock()) and self.clock() - started >= self.wait:
                raise Busy(f"Another sync ({found.holder}) is writing worksheet {self.title[len(PREFIX):]!r}; "
                           f"this one waited {self.clock() - started:.0f} s and skipped its write.",
                           "Nothing to do: the next sync writes what this one would have. (A sync that was killed "
                           f"holds it at most until its lease ends, at {_when(found.expires)}.)")
            if found is not None and not found.expired(self.clock()):
                self.pause(min(2.0, max(self.wait / 10, 0.05)))

    def fence(self) -> list[dict]:
        """What every write of the holder carries (nothing when no lease is held)."""
        return [renew(self.sheet_id, self.clock() + self.seconds)] if self.held else []

    def refused(self, message: str) -> LeaseLost | None:
        """The error for a write Google refused because the lease sheet is gone (taken over), else None."""
        if self.held and f"No grid with id: {self.sheet_id}" in message:
            self.sheet_id = None
            return LeaseLost(f"Another sync took over worksheet {self.title[len(PREFIX):]!r} while this one "
                             f"was writing (this sync's lease had run out): nothing of that request landed.",
                             "The next sync reads the sheet again; raise LEASE_SECONDS if syncs take longer.")
        return None

    def release(self) -> None:
        if not self.held:
            return
        sheet_id, self.sheet_id = self.sheet_id, None
        try:
            self.send([give_back(sheet_id)])
        except Refused as exc:
            if not contended(exc.google):
                raise

    def rotate(self) -> None:
        """After a write whose outcome is unknown (no answer, a 5xx): Google may still apply it, late, after the
        re-read that plans the rest. The lease moves to a fresh sheet id in one batchUpdate, so that write, if it
        comes, names a lease id that is gone and is refused whole: the re-read sees it, or it never lands."""
        if not self.held:
            return
        old, fresh = self.sheet_id, self.new_id()
        self.sheet_id = None  # unknown until the answer: a lost one makes the next acquire look it up
        try:
            self.send(take(self.title, fresh, self.holder, self.clock() + self.seconds, stale=old))
        except Refused as exc:
            if not contended(exc.google):
                raise
            raise LeaseLost(f"Another sync took over worksheet {self.title[len(PREFIX):]!r} while this one was "
                            "writing (this sync's lease had run out).",
                            "The next sync reads the sheet again; raise LEASE_SECONDS if syncs take longer.") from exc
        self.sheet_id = fresh


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "an unreadable time"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
