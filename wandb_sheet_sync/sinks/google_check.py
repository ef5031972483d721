"""The mid-sync check: what to read of a worksheet just before writing to it, and whether what comes back means a
person moved what the plan names. Pure: google_sheets.py sends the one read and raises SheetMoved.

Optimistic concurrency, in one small read for every worksheet written: the header row, the key column (from the
first row the plan names) and the rows about to be rewritten must be as the sync read them, and the rows and
columns about to be filled must still be empty. If a person sorted, moved, inserted, deleted or edited any of them,
or typed a row below the table, the positions the plan names are stale, and the sync reads again and plans again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..columns import column_letters
from ..merge import Plan
from . import Snapshot
from .google_read import spans
from .google_requests import echo_end, quote, trimmed



@dataclass
class Check:
    ranges: list[str]  # A1 ranges of one worksheet to read
    expected: list[list]  # what each must hold (as the values API trims it)
    rows: int  # the grid as read
    cols: int


def check(snap: Snapshot, rows_as_read: int, cols_as_read: int, plan: Plan, rows: list[int],
          inserting: bool) -> Check:
    """What to read of one worksheet before writing `plan` (which rewrites `rows`), and what it must find there."""
    key_col = plan.layout.key_col
    title = quote(snap.worksheet)
    letters = column_letters(key_col if key_col is not None else 0)
    # the key column from the first row the plan names on: rows above it may be shuffled among themselves
    # harmlessly (their places are not written), and a first sync streamed page by page checks each page's rows
    # alone, not the whole column again (issue 24)
    start = min([*rows, *plan.delete_rows, *([plan.insert_at] if plan.new_rows else []), len(snap.grid)])
    start = min(start, rows_as_read - 1)  # a range wholly past the grid is refused: begin on its last row at most
    ranges = [f"{title}!1:1", f"{title}!{letters}{start + 1}:{letters}" if start >= 1 else
              f"{title}!{letters}:{letters}"]
    start = max(start, 0)
    expected = [trimmed(snap.grid[:1]),
                trimmed([[row[key_col]] if key_col is not None and key_col < len(row) else []
                         for row in snap.grid[start:]])]
    for first, last in spans(rows):  # the rows to rewrite, as runs of consecutive rows (a read by need has
        ranges.append(f"{title}!{first + 1}:{last + 1}")  # read only those: google_read.py)
        expected.append(trimmed(snap.grid[first:last + 1]))
    # rows and columns past the grid as read exist only once this write adds them: nobody typed there
    last_row = min(plan.insert_at + len(plan.new_rows), rows_as_read)
    if plan.new_rows and not inserting and plan.insert_at < last_row:  # new rows go into rows that were empty
        ranges.append(f"{title}!{plan.insert_at + 1}:{last_row}")
        expected.append([])
    last_col = min(plan.new_headers[-1][0] + 1, cols_as_read) if plan.new_headers else 0
    if plan.new_headers and plan.new_headers[0][0] < last_col:  # new columns go where no row had a value
        ranges.append(f"{title}!{column_letters(plan.new_headers[0][0])}:{column_letters(last_col - 1)}")
        expected.append([])
    return Check(ranges, expected, rows_as_read, cols_as_read)


def unmoved(checks: list[Check], found: list[dict]) -> bool:
    """Whether the valueRanges read for `checks` (in their order) are what the plans expect."""
    for one in checks:
        mine, found = found[:len(one.ranges)], found[len(one.ranges):]
        # Google echoes a whole row or column clipped to the grid: rows or columns added at the bottom or the
        # right since the read (where a person may have typed) lie past what the plan checked.
        if len(mine) < 2 or (echo_end(mine[0].get("range", ""), 0, 0)[1],
                             echo_end(mine[1].get("range", ""), 0, 0)[0]) != (one.cols, one.rows):
            return False
        if [trimmed(v.get("values", [])) for v in mine] != one.expected:
            return False
    return True
