"""What a sink is, in one place: it reads a Snapshot of a worksheet, applies a Plan, and says what it is.

A new sink is one class with three members, and nothing else in the tool needs to know its type:
- `capabilities`: a Capabilities (below). The sync and the merge ask it, never the sink's type.
- `read(worksheet) -> Snapshot`: the worksheet as a grid of typed values (row 0 the header row, trailing
  empty cells and rows trimmed), the stored base decoded with `Base.decode` (an empty Base when the worksheet
  does not exist), the base's rows as read (to write only what changed), whatever the sink must carry from
  its read to its write in `sink_state`, and the requests the read cost.
- `apply(snapshot, plan) -> Counter`: carry out the Plan (new headers, updates, new rows at
  `plan.insert_at`, the base when `plan.base_changed`, `plan.look` when the sink keeps styles) so that it
  lands whole or not at all, and return the requests sent ("read", "write"; empty for a file). Columns come
  from `plan.layout` (its `key_col` is where run-id links go); a sink never reads the header row itself.
Errors are raised as errors.py's kinds (SinkError, TransientError, OutcomeUnknown, ...), never printed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Protocol, TypeVar

from ..base import Base

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


class Sink(Protocol[State]):
    capabilities: Capabilities

    def read(self, worksheet: str) -> Snapshot[State]: ...

    def apply(self, snapshot: Snapshot[State], plan: "Plan") -> Counter: ...
