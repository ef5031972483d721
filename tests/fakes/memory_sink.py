"""A sink that keeps worksheets in memory: the Sink contract of wandb_sheet_sync/sinks/__init__.py, and nothing else.

Written from that one file (plus the Plan field list and Base.decode/encode), to test the claim that a new sink
needs no more than that. Cells keep their typed values (no cell_form) and no styles are kept.
With `split=True` an apply lands in steps, as a sink that sends requests does (the cells, the base's body, its
closing row), and `cut_after` makes the write fail once that many steps have landed in the sink's life: what the
contract's clause on the read state is about.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from wandb_sheet_sync.base import Base
from wandb_sheet_sync.errors import OutcomeUnknown, SinkError
from wandb_sheet_sync.sinks import Capabilities, Snapshot


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _trimmed(grid: list[list[Any]]) -> list[list[Any]]:
    """A copy without trailing empty cells in each row and without trailing empty rows."""
    rows = []
    for row in grid:
        row = list(row)
        while row and _empty(row[-1]):
            row.pop()
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


class MemorySink:
    capabilities = Capabilities(cell_form=None, styles=False)

    def __init__(self, sheets: dict[str, list[list[Any]]] | None = None,
                 bases: dict[str, list[list[Any]]] | None = None, split: bool = False,
                 cut_after: int | None = None):
        self.sheets: dict[str, list[list[Any]]] = sheets if sheets is not None else {}  # title -> grid
        self.bases: dict[str, list[list[Any]]] = bases if bases is not None else {}  # base title -> rows
        self.links: dict[str, dict[str, str]] = {}  # title -> run id -> W&B page (no cell can hold a link)
        self.applies = 0  # how many applies changed something, for tests
        self.split = split
        self.cut_after = cut_after
        self.steps = 0  # steps landed (split only)

    def base_title(self, worksheet: str) -> str:
        return self.capabilities.base_title(worksheet)

    def read(self, worksheets) -> list[Snapshot[None]]:
        return [self._read(w) for w in worksheets]

    def _read(self, worksheet: str) -> Snapshot[None]:
        if worksheet not in self.sheets:
            return Snapshot(worksheet, [], Base(), [], None, Counter())
        base_rows = copy.deepcopy(self.bases.get(self.base_title(worksheet), []))
        return Snapshot(worksheet, _trimmed(self.sheets[worksheet]), Base.decode(base_rows), base_rows, None,
                        Counter())

    def apply(self, changes) -> Counter:
        """Each worksheet's plan lands whole or not at all (these are built first, then swapped in)."""
        for snapshot, plan in changes:
            if plan.has_changes:
                self._apply(snapshot, plan)
        return Counter()

    def _apply(self, snapshot: Snapshot[None], plan) -> None:
        worksheet = snapshot.worksheet
        grid = copy.deepcopy(snapshot.grid)

        def put(r: int, c: int, value: Any) -> None:
            if r < 0 or c < 0:
                raise SinkError(f"The plan writes outside the sheet, at row {r}, column {c}.")
            while len(grid) <= r:
                grid.append([])
            row = grid[r]
            while len(row) <= c:
                row.append(None)
            row[c] = value

        if plan.new_headers and not grid:
            grid.append([])
        for col, header in plan.new_headers:
            put(0, col, header)
        for r, c, value in plan.updates:  # positions in the grid as read, before new rows go in
            put(r, c, value)
        if plan.new_rows:
            if not grid:
                grid.append([])
            at = plan.insert_at if plan.insert_at else len(grid)
            if at > len(grid):
                grid.extend([] for _ in range(at - len(grid)))
            grid[at:at] = [list(row) for row in plan.new_rows]

        links = dict(self.links.get(worksheet, {}))
        links.update(plan.links)
        encoded = self.capabilities.encode_base(plan, snapshot.base) if plan.base_changed else None
        title = self.base_title(worksheet)
        if self.split:  # the cells, then the base's body, then its closing row: the read state lands last
            self._land(lambda: (self.sheets.__setitem__(worksheet, grid),
                                self.links.__setitem__(worksheet, links)))
            if encoded is not None:
                self._land(lambda: self.bases.__setitem__(title, copy.deepcopy(encoded.body)))
            if encoded is not None and encoded.closing is not None:
                self._land(lambda: self.bases[title].__setitem__(0, list(encoded.closing)))
            self.applies += 1
            return
        bases = dict(self.bases)
        if encoded is not None:
            bases[title] = encoded.rows
        sheets = dict(self.sheets)
        sheets[worksheet] = grid

        # Everything is built: swap it in at once, so an apply lands whole or not at all.
        self.sheets, self.bases = sheets, bases
        self.links = {**self.links, worksheet: links}
        self.applies += 1

    def _land(self, step) -> None:
        if self.cut_after is not None and self.steps >= self.cut_after:
            raise OutcomeUnknown(f"The write was cut after {self.steps} steps.")
        step()
        self.steps += 1
