"""Sources turn W&B (the API, or run folders on disk) into plain Run records."""

from __future__ import annotations

from dataclasses import dataclass

from ..run import Run


@dataclass
class Fetch:
    runs: list[Run]
    pages: int  # W&B pages read (0 for run folders)
    full: bool  # every run was read, not only those changed since the last sync
