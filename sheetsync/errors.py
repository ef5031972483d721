"""The error tree: every failure the tool reports, each saying what happened and what to do.

Library code raises these (chained with `raise ... from exc`); only cli.py prints them and picks the exit code.
`transient` errors are retried at the next tick of the loop; the others need a person.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = 1
    transient = False

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  -> {self.hint}" if self.hint else self.message


class ConfigError(SyncError):
    """Bad config.json, flags or environment: nothing was contacted. Carries every problem at once."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        count = len(self.problems)
        head = "1 configuration problem" if count == 1 else f"{count} configuration problems"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class CredentialsError(SyncError):
    """A key is missing, unreadable or refused."""

    exit_code = 2


class SheetLayoutError(SyncError):
    """The sheet is in a shape the tool will not guess about (duplicate headers or run ids, no run-id
    column): nothing was written."""


class SourceError(SyncError):
    """W&B or the run folders could not be read."""


class SinkError(SyncError):
    """The spreadsheet or file could not be read or written."""


class TransientError(SyncError):
    """A network fault, a 429 or a 5xx that outlived the retries: the next sync will try again."""

    transient = True


class AccessError(SyncError):
    """The configured spreadsheet or W&B project cannot be opened with these credentials: a setting to fix,
    so it ends the program like a configuration error."""

    exit_code = 2
