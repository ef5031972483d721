"""Sinks read a snapshot of a worksheet (grid and base) and apply a merge Plan to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..base import Base


@dataclass
class Snapshot:
    worksheet: str
    grid: list[list[Any]]
    base: Base
    base_rows: list[list[Any]] = field(default_factory=list)  # the stored base as read, to write only changes
    state: Any = None  # what the sink needs to write back (sheet ids, grid size, file stamps)
