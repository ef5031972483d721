"""The soak reuses the end-to-end world: both fakes, a key, a spreadsheet. Each soak ends by counting what its
final sheet or file shows (Tally), prints the counts, and asserts them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.conftest import e2e  # noqa: F401


@dataclass
class Tally:
    """What a final sheet shows, counted from its cells: every run W&B has (and nobody deleted) exactly once,
    each cell W&B's value or what a person typed there."""

    runs_lost: int = 0  # runs W&B has that nobody deleted, missing from the sheet
    typed_lost: int = 0  # cells a person typed (hand edits, notes) no longer holding what they typed
    own_rows_lost: int = 0  # a person's own rows (no run id) gone or changed
    duplicates: int = 0  # rows beyond the first of a run
    deleted_back: int = 0  # runs a person deleted, in the sheet again
    stuck: int = 0  # runs with a cell that is neither W&B's value nor what a person typed
    runs: int = field(default=0, compare=False)  # what was looked at: runs W&B has that nobody deleted,
    typed: int = field(default=0, compare=False)  # and cells a person typed into rows still in the sheet

    @property
    def lost(self) -> int:
        return self.runs_lost + self.typed_lost + self.own_rows_lost

    def __str__(self) -> str:
        return (f"{self.runs} runs and {self.typed} typed cells checked: lost {self.lost} (runs {self.runs_lost}, "
                f"typed cells {self.typed_lost}, own rows {self.own_rows_lost}), duplicates {self.duplicates}, "
                f"stuck {self.stuck}, deleted rows back {self.deleted_back}")


def by_kind(counts: Counter) -> str:
    """'7 (delete 2, edit 5)': a total and what it is made of."""
    return f"{sum(counts.values())} ({', '.join(f'{k} {n}' for k, n in sorted(counts.items()))})"


def tally(grid: list[list], wandb: dict[str, dict[str, Any]], typed: dict[tuple[str, str], Any],
          deleted: set[str], own: set[str]) -> Tally:
    """Counts from the final grid (header row first; empty text reads as None). `wandb`: run id -> header ->
    the value W&B has now; `typed`: (run id, header) -> what a person typed and the tool must keep; `deleted`:
    run ids a person deleted; `own`: texts of a person's own rows."""
    header = list(grid[0]) if grid else []

    def cell(row: list, h: str) -> Any:
        c = header.index(h) if h in header else len(row)
        return None if c >= len(row) or row[c] == "" else row[c]

    ids: Counter = Counter()
    rows: dict[Any, list] = {}  # run id -> its first row
    texts: set = set()  # what the rows without a run id hold
    for row in grid[1:]:
        rid = cell(row, "run_id")
        if rid is None:
            texts.update(v for v in row if v not in (None, ""))
        else:
            ids[rid] += 1
            rows.setdefault(rid, row)
    kept = {(rid, h): v for (rid, h), v in typed.items() if rid in rows}
    live = {rid: values for rid, values in wandb.items() if rid not in deleted}
    out = Tally(duplicates=sum(n - 1 for n in ids.values()), deleted_back=len(deleted & set(ids)),
                own_rows_lost=len(own - texts), runs=len(live), typed=len(kept))
    out.typed_lost = sum(1 for (rid, h), v in kept.items() if cell(rows[rid], h) != v)
    for rid, values in live.items():
        if rid not in rows:
            out.runs_lost += 1
        elif any(cell(rows[rid], h) != v for h, v in values.items() if (rid, h) not in typed):
            out.stuck += 1
    return out
