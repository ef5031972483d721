"""What a sink is, in one place: it reads Snapshots of worksheets, applies Plans, and says what it is.

A new sink is one class with three members, and nothing else in the tool needs to know its type
(tests/fakes/memory_sink.py was written from this file alone):
- `capabilities`: a Capabilities (below). The sync and the merge ask it, never the sink's type. The core keeps
  within `max_columns` (the merge refuses a wider sheet) and applies `cell_form` to every value before it
  compares or plans; the sink enforces what only it can see (`max_cells`, `request_bytes`).
- `read(worksheets) -> [Snapshot, ...]`: one Snapshot per title, in the order given, read together (one
  request where the sink sends requests: a sync's worksheets are a target's runs tab and its summary tabs,
  `<WORKSHEET> sweeps` and `<WORKSHEET> groups`, and they cost one read, not one each). A Snapshot is the
  worksheet as a grid of typed values (row 0 the header row; trailing cells that are None or "" trimmed from
  each row, and trailing empty rows dropped), the stored base decoded with `Base.decode(base_rows)` (an empty
  Base when the worksheet does not exist, even if an old base sheet does: its rows are gone), the base's rows
  as read (`apply` may compare them with the plan's encoded base to rewrite only the rows that
  changed), whatever the sink must carry from its read to its write in `sink_state`, and the requests the read
  cost (on the first Snapshot; the others carry an empty Counter). The first title is the target's worksheet:
  a sink that keeps one file per worksheet names the others after it (CSV: NAME.sweeps.csv beside NAME.csv).
- `apply([(snapshot, plan), ...]) -> Counter`: called with the worksheets whose `plan.has_changes`, at least
  one, each with the Snapshot it was planned on. It carries out every Plan so that each lands whole or not at
  all (a sink that can write them in one atomic step does: one file save, or the same batchUpdates), and
  returns the requests sent ("read", "write"; an empty Counter for a file). For each pair:
  1. `plan.new_headers` and `plan.updates` name (row, column) in the grid AS READ (row 0 the header row);
  2. then `plan.new_rows` go in at `plan.insert_at` (always set: the end of the grid as read, or 1 under the
     header for newest-first), shifting the rows below; `plan.width` is the number of columns in use;
  3. when `plan.base_changed`, the base is stored: `capabilities.encode_base(plan, snapshot.base)` gives it in
     cells no longer than the sink holds, in two parts, and THE READ STATE LANDS LAST: its `closing` row (row 0
     with the new read state; None when that state is unchanged) may land only once every cell of the plan and
     every row of its `body` (row 0 with the read state already stored, then a row a run) has landed, so the
     stored state never says a run was read when its cells did not land (the next sync would not read it
     again). A sink that stores the base in one step after the cells (a file saved or renamed) stores `rows`
     (the body with the closing row as row 0) and honours this by its order; one whose write is split into
     requests sends the closing row in the last. tests/core/test_sink_contract.py cuts a split write at every
     step and holds a sink to this;
  4. where the sink keeps styles, `plan.look` says what to format; where it can hold links, a cell of a new
     row or an update in one of `plan.link_cols` whose value is a key of `plan.links` links to that page
     (the run id of a runs tab's row; a sweep's id and its best run on the sweeps tab), else ignore both.
  `wandb_sheet_sync.merge.apply(grid, plan)` gives the grid after the plan for a sink that rewrites whole files.
  Columns are found in `plan.layout` (a `layout.Layout`), never by reading the header row again.
- optional, reading by need (issue 24; sinks/google_read.py is the one that does): `read(worksheets,
  by_need=True)` may give the first worksheet's Snapshot with `complete` False, its grid the header row alone and its
  base the head alone (no run); `fill(snapshot, ids) -> Counter` then reads into it, in place, what a merge of the
  runs `ids` needs (None: everything), each row once a sync: every run's row as its key cell alone (the base knows
  every run, those not read UNREAD: base.py), and whole the rows of `ids`, the rows repeating a run id, and the rows
  under the last one. The sync plans on the Snapshot only after filling it with the ids it merges, and fills it
  (with no ids) before a plan that writes cells on a head alone. Such a sink's `apply` leaves each Snapshot as the
  sheet stands after the write (every run's place known, no row read), so the next part of a streamed sync plans
  on it. A sink without `fill` reads whole Snapshots and is never asked for more.
- optional: `release() -> None`: a sink that holds something between its reads and writes (Google Sheets: the
  worksheet's write lease, sinks/google_lease.py) gives it back; `sync()` calls it once at the end, whatever
  happened, when the sink has it. It logs a failure, never raises. File sinks (local.py) and the memory sink
  need not have it.
Values arrive cleaned by the core (columns.clean): numbers, booleans, text, naive date-times in the
configured zone, None for empty. Errors are raised as errors.py's kinds (SinkError for a file or sheet that
cannot be written, TransientError, OutcomeUnknown, ...), never printed; the core raises SheetLayoutError.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Protocol, Sequence, TypeVar

from ..base import Base, EncodedBase

if TYPE_CHECKING:
    from ..merge import Plan

State = TypeVar("State")
BASE_PREFIX = "_sync_base "


@dataclass(frozen=True)
class Capabilities:
    """What a sink is, so the sync can adapt to it without knowing its type."""

    cell_form: Callable[[Any], Any] | None = None  # what a value becomes in the sink, when not the value itself
    styles: bool = True  # keeps number formats, widths, a frozen header and highlight rules
    max_columns: int = 18_278
    max_cells: int | None = None  # for the whole file or spreadsheet; None: no limit the tool knows
    base_title_length: int = 100  # the hidden base sheet's title is cut to this many characters
    request_bytes: int | None = None  # the largest request body it will send; None: it sends no requests
    own_cell_chars: int = 49_000  # the longest text the tool puts in one of its own (base) cells

    def encode_base(self, plan: "Plan", stored: Base) -> EncodedBase:
        """The plan's base as rows for this sink's hidden sheet or file, its closing row apart (the contract's 3.):
        `stored` is the base as the snapshot read it."""
        return plan.base.encode_closing_last(stored.read_state, limit=self.own_cell_chars)

    def base_title(self, worksheet: str) -> str:
        """The hidden sheet that holds a worksheet's base."""
        return (BASE_PREFIX + worksheet)[: self.base_title_length]


@dataclass
class Snapshot(Generic[State]):
    worksheet: str
    grid: list[list[Any]]
    base: Base
    base_rows: list[list[Any]] = field(default_factory=list)  # the stored base as read, to write only changes
    sink_state: State | None = None  # what this sink carries from read to apply (sheet ids, a workbook)
    requests: Counter = field(default_factory=Counter)  # what the read cost: "read", "write"
    complete: bool = True  # False: read by need (the optional `fill` below reads what a sync merges)


class Sink(Protocol[State]):
    capabilities: Capabilities

    def read(self, worksheets: Sequence[str]) -> list[Snapshot[State]]: ...

    def apply(self, changes: Sequence[tuple[Snapshot[State], "Plan"]]) -> Counter: ...

    # optional (see above): `def release(self) -> None`, called by sync() at the end of every sync
