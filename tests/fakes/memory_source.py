"""A source that serves the Run records a test gives it: the Source protocol without W&B."""

from __future__ import annotations

from wandb_sheet_sync.run import Run, Sweep
from wandb_sheet_sync.sources import Fetched


class MemorySource:
    requests = 0

    def __init__(self, runs: list[Run] | None = None, sweeps: list[Sweep] | None = None):
        self.runs = list(runs or [])
        self.known_sweeps = {s.id: s for s in sweeps or []}
        self.sweep_requests = 0  # what a source with requests would have spent: one per sweep asked about

    def fetch(self, target, need=None, progress=None) -> Fetched:
        return Fetched(list(self.runs), 0, True)

    def sweeps(self, target, ids: set[str]) -> dict[str, Sweep]:
        self.sweep_requests += len(ids)
        return {i: self.known_sweeps[i] for i in ids if i in self.known_sweeps}
