"""The error tree and the one taxonomy that decides retries, whether the loop goes on, and exit codes.

Library code raises these (chained with `raise ... from exc`); only cli.py prints them. Every error has a
kind, and the kind alone decides what happens next:

    kind             a request is re-sent?           the loop               --once exits
    transient        yes, bounded, with backoff      goes on                1
    outcome_unknown  never blind (re-read first)     goes on                1
    terminal         no: a person fixes the sheet    goes on                1
    setup            no: a setting, key or share     ends at the 1st sync   2
    interrupted      no: a stop was asked for        ends                   130 (SIGTERM too)

HTTP answers are classified by status, never by message text (`kind_of_status`).
"""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    TRANSIENT = "transient"  # a later try can succeed by itself: a 429, a 5xx, a network fault
    OUTCOME_UNKNOWN = "outcome_unknown"  # a write was sent and its answer lost: it may have landed
    TERMINAL = "terminal"  # the data is in a shape a person must fix (a sheet, a file): later syncs may succeed
    SETUP = "setup"  # configuration, credentials or access: no later sync can succeed until a person acts
    INTERRUPTED = "interrupted"  # SIGTERM or Ctrl-C


EXIT_CODES = {Kind.TRANSIENT: 1, Kind.OUTCOME_UNKNOWN: 1, Kind.TERMINAL: 1, Kind.SETUP: 2, Kind.INTERRUPTED: 130}
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class SyncError(Exception):
    """Base of every error the tool raises on purpose."""

    kind = Kind.TERMINAL

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  -> {self.hint}" if self.hint else self.message

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]


class ConfigError(SyncError):
    """Bad config.json, flags or environment: nothing was contacted. Carries every problem at once."""

    kind = Kind.SETUP

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        count = len(self.problems)
        head = "1 configuration problem" if count == 1 else f"{count} configuration problems"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class CredentialsError(SyncError):
    """A key is missing, unreadable or refused."""

    kind = Kind.SETUP


class AccessError(SyncError):
    """The configured spreadsheet or W&B project cannot be opened with these credentials."""

    kind = Kind.SETUP


class SheetLayoutError(SyncError):
    """The sheet is in a shape the tool will not guess about (duplicate headers or run ids, no run-id
    column): nothing was written."""


class SourceError(SyncError):
    """W&B or the run folders could not be read."""


class SinkError(SyncError):
    """The spreadsheet or file could not be read or written."""


class TransientError(SyncError):
    """A network fault, a 429 or a 5xx that outlived the retries: the next sync will try again."""

    kind = Kind.TRANSIENT


class OutcomeUnknown(SyncError):
    """A write that must not land twice was sent and no answer came back (or a 5xx did, which Google has
    been seen to send after applying a write): the next sync reads what landed before it writes again."""

    kind = Kind.OUTCOME_UNKNOWN


class SheetMoved(SyncError):
    """A person changed the sheet between the sync's read and its write (sorted, moved or edited what the
    write is about to touch): nothing was written; the sync reads again and plans again."""

    kind = Kind.TRANSIENT


class Busy(SyncError):
    """Another sync holds the worksheet's write lease (sinks/google_lease.py) and kept it for the whole wait:
    this sync wrote nothing and skipped. Not a failure: the loop goes on, and --once exits 0 (a cron that
    overlaps itself, a rolling update's two pods) after one WARNING line."""

    kind = Kind.TRANSIENT


class LeaseLost(SyncError):
    """This sync's lease ran out and another sync took the worksheet over: Google refused the write whole."""

    kind = Kind.TRANSIENT


class Interrupted(SyncError):
    """A stop was asked for (SIGTERM, Ctrl-C): nothing more is sent."""

    kind = Kind.INTERRUPTED


def kind_of_status(status: int) -> Kind:
    """What an HTTP error status means for the next step: a transient fault, a setting to fix, or data."""
    if status in RETRY_STATUS or status >= 500:
        return Kind.TRANSIENT
    if status in (401, 403, 404):
        return Kind.SETUP
    return Kind.TERMINAL


def may_resend(status: int | None, repeatable: bool) -> bool:
    """Whether a request that got this answer (None: no answer at all) may be sent again now. A 429 is
    Google's and W&B's promise that nothing was done; a 5xx or a lost answer may follow a write that landed,
    so only a request that is harmless twice (a read, a write to absolute cells) is sent again."""
    if status == 429:
        return True
    if status is not None and kind_of_status(status) is not Kind.TRANSIENT:
        return False
    return repeatable


def blames_the_request(status: int | None) -> bool:
    """Whether a failed request may have failed for what it asked (a 400, a server that choked on it, no status
    at all), so that asking for less may succeed; not a key that was refused, a project that cannot be seen,
    or rate limiting (401, 403, 404, 429): asking for less changes none of those."""
    return status is None or (status != 429 and kind_of_status(status) is not Kind.SETUP)


def loop_goes_on(exc: SyncError, first_sync: bool) -> bool:
    """A failed sync is tried again at the next tick, except a setting, key or share that is wrong from the
    start (no later tick can fix it) and a stop."""
    if exc.kind is Kind.INTERRUPTED:
        return False
    return not (exc.kind is Kind.SETUP and first_sync)
