"""The Run record every source produces; nothing downstream of a source sees wandb objects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Run:
    id: str
    name: str = ""
    user: str | None = None  # the W&B username
    display_user: str | None = None  # through config NAME, else the username
    state: str = ""  # running, finished, failed, crashed, killed
    created_at: dt.datetime | None = None  # aware, UTC
    updated_at: dt.datetime | None = None  # last heartbeat, aware, UTC
    timestamp: dt.datetime | None = None  # summary _timestamp: the last time the run logged
    runtime: float | None = None  # seconds
    tags: tuple[str, ...] = ()
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    sweep: str | None = None
    project: str = ""  # entity/project
    host: str | None = None  # the machine, from run folders (not a column: a config key 'host' keeps its name)
    url: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # nested, as the run logged it
    summary: dict[str, Any] = field(default_factory=dict)  # nested
    system_metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)  # history cells by header (wandb_sheet_sync.history)


@dataclass(frozen=True)
class Sweep:
    """What a source knows of one W&B sweep (the Sweep type's fields); the runs of a sweep name it by `id`."""

    id: str  # W&B's sweep name, e.g. "x8k2ab1c"
    name: str = ""  # displayName, else the id
    method: str = ""  # grid, random, bayes
    state: str = ""  # RUNNING, PAUSED, CANCELED, FINISHED (as W&B spells them)
    config: dict[str, Any] | None = None  # the sweep's config (metric, parameters); None when it is not known
    url: str | None = None
    problem: str | None = None  # why the config is not known, said in the tab instead of failing the sync

    @property
    def done(self) -> bool:
        """Whether W&B says the sweep has ended: its config, method and state no longer change."""
        return self.state.upper() in ("FINISHED", "CANCELED", "CRASHED", "FAILED")
