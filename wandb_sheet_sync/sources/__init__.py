"""What a source is, in one place: it turns W&B (the API, or run folders on disk) into plain Run records.

A new source is one class with three members, and nothing else in the tool needs to know its type
(tests/fakes/memory_source.py is the smallest; tests/core/test_source_contract.py holds both real ones to this):
- `requests`: how many requests it has sent in its life (0 for a source that sends none); the sync reports the
  difference over one sync.
- `fetch(target, need, progress) -> Fetched`: the runs of `target` (a project; `Target.entity == "local"` for run
  folders), as `Need` below asks. It may assume:
  - `need.state` is the ReadState it returned last time for this target (or one read back from the sheet's base,
    or an empty ReadState for a first sync): it is the source's own, and nobody else looks inside it;
  - `need.known_runs()` gives the run ids the worksheet's base holds (a run it knows and no longer finds is gone).
    It may cost a read of the sheet (issue 24: the sync reads the base's run ids only when a source asks), so a
    source calls it only when it needs the answer: a listing of every run (deletions), a full read;
  - `need.headers` are the worksheet's headers (fixed and present), `need.tab_headers` what the summary tabs
    read of a run, written as headers are: a source that can ask for only some keys asks for at least these;
  - `need.now` is the local clock, in epoch seconds, for its schedule (FULL_RESYNC_HOURS);
  - `progress(n)`, when given, may be called with the runs read so far;
  - `need.stream`: the sync can take a full read page by page (issue 24). A source may then return a Fetched
    whose `pages_of_runs` yields the runs read in full as `Chunk`s while it reads (`runs` is then empty), so the
    project is never held whole; `listed`, `deleted`, `read_state`, `pages` and `unchanged` are final only once
    `pages_of_runs` is exhausted. A source may ignore it (run folders, the memory source): every run in `runs`.
  It returns, as `Fetched` says: every run it read in full (at most once each: one Run per id), the known runs
  it only listed (their UI fields; between scans W&B's source lists only runs whose stamps moved, so a known run
  may be in neither), the known runs it found gone (none, for a source that cannot tell), whether
  the read was full (every run the filters keep, so the summary tabs may replace what they remember), and the
  ReadState to keep (None: this source keeps none, as run folders are read in full every time). It honours
  USER_NAME and STATES itself. Its errors are errors.py's kinds (SourceError, AccessError, CredentialsError,
  TransientError, ...), never printed.
- `sweeps(target, ids) -> {id: Sweep}`: what it knows of these sweeps, asked after `fetch` in the same sync, at
  most one request each; an id it cannot find gets a Sweep whose `problem` says why. It caches nothing: the
  summary tabs remember sweeps (summaries.Remembered) and ask only for those that may still change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

from ..run import Run, Sweep
from .increments import ReadState

if TYPE_CHECKING:
    from ..config import Target


@dataclass(frozen=True)
class Need:
    """What a sync needs from a source (the module docstring): what it read last time, which runs the worksheet
    already holds, and which headers it shows and the summary tabs read (so only those keys are asked for)."""

    state: ReadState = field(default_factory=ReadState)
    known: frozenset[str] | Callable[[], frozenset[str]] = frozenset()  # or how to find them: see known_runs
    headers: tuple[str, ...] = ()
    now: float = 0.0  # the local clock, for FULL_RESYNC_HOURS
    tab_headers: tuple[str, ...] = ()  # GROUP_METRICS and the remembered sweeps' metrics and parameters
    stream: bool = False  # a full read may come page by page (Fetched.pages)
    _found: dict = field(default_factory=dict, compare=False, repr=False)

    def known_runs(self) -> frozenset[str]:
        """The run ids the worksheet's base holds; found once, when first asked (it may cost a sheet read)."""
        if not callable(self.known):
            return self.known
        if "known" not in self._found:
            self._found["known"] = frozenset(self.known())
        return self._found["known"]


@dataclass
class Chunk:
    """A page of a full read that streams (Fetched.pages): runs read in full, and those of them whose stamps say
    W&B did not change them since the last read (Fetched.unchanged, for this page)."""

    runs: list[Run]
    unchanged: frozenset[str] = frozenset()


@dataclass
class Fetched:
    """What one fetch brought (the module docstring)."""

    runs: list[Run]  # read in full
    pages: int  # W&B pages read (0 for run folders)
    full: bool  # every run was read, not only those changed since the last sync
    listed: list[Run] = field(default_factory=list)  # known runs W&B listed unchanged: the fields people edit only
    deleted: list[str] = field(default_factory=list)  # known run ids W&B no longer has
    read_state: ReadState | None = None  # to keep in the base for the next read (None: this source keeps none)
    unchanged: frozenset[str] = frozenset()  # runs read in full whose stamps say W&B did not change them
    pages_of_runs: Iterator[Chunk] | None = None  # a full read that streams (Need.stream): its runs, page by page


class Source(Protocol):
    requests: int

    def fetch(self, target: "Target", need: Need | None = None,
              progress: Callable[[int], None] | None = None) -> Fetched: ...

    def sweeps(self, target: "Target", ids: set[str]) -> dict[str, Sweep]: ...
