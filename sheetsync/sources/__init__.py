"""Sources turn W&B (the API, or run folders on disk) into plain Run records."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..run import Run


@dataclass(frozen=True)
class Need:
    """What a sync needs from a source: what it read last time (the read state kept in the worksheet's base),
    which runs the worksheet already holds, and which headers it shows (so only those keys are asked for)."""

    state: dict = field(default_factory=dict)
    known: frozenset[str] = frozenset()
    headers: tuple[str, ...] = ()
    now: float = 0.0  # the local clock, for FULL_RESYNC_HOURS


@dataclass
class Fetch:
    runs: list[Run]  # read in full
    pages: int  # W&B pages read (0 for run folders)
    full: bool  # every run was read, not only those changed since the last sync
    listed: list[Run] = field(default_factory=list)  # known runs W&B listed unchanged: the fields people edit only
    deleted: list[str] = field(default_factory=list)  # known run ids W&B no longer has
    read_state: dict | None = None  # to keep in the base for the next read (None: this source keeps none)
    unchanged: frozenset[str] = frozenset()  # runs read in full whose stamps say W&B did not change them
