"""A source that serves the Run records a test gives it: the Source protocol without W&B."""

from __future__ import annotations

from typing import Iterator

from wandb_sheet_sync.run import Run, Sweep
from wandb_sheet_sync.sources import Chunk, Fetched


class MemorySource:
    """Every run, read in full, at every fetch. With `page` set and a sync that takes a full read page by page
    (Need.stream), the runs come as Chunks of `page` runs, the way W&B's source streams them, so core tests of the
    sync exercise that path too."""

    requests = 0

    def __init__(self, runs: list[Run] | None = None, sweeps: list[Sweep] | None = None, page: int | None = None):
        self.runs = list(runs or [])
        self.known_sweeps = {s.id: s for s in sweeps or []}
        self.sweep_requests = 0  # what a source with requests would have spent: one per sweep asked about
        self.page = page
        self.chunks_served = 0  # Chunks handed over so far, for tests that check the sync streamed

    def fetch(self, target, need=None, progress=None) -> Fetched:
        if self.page and need is not None and need.stream:
            fetched = Fetched([], 0, True)
            fetched.pages_of_runs = self._chunks(list(self.runs), fetched)
            return fetched
        return Fetched(list(self.runs), 0, True)

    def _chunks(self, runs: list[Run], fetched: Fetched) -> Iterator[Chunk]:
        for start in range(0, len(runs), self.page):
            self.chunks_served += 1
            yield Chunk(runs[start:start + self.page])
        fetched.pages = 0  # final once exhausted, as the contract says (a memory source sends no requests)

    def sweeps(self, target, ids: set[str]) -> dict[str, Sweep]:
        self.sweep_requests += len(ids)
        return {i: self.known_sweeps[i] for i in ids if i in self.known_sweeps}
