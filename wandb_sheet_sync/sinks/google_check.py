"""The mid-sync check: what to read of a worksheet just before writing to it, and whether what comes back means a
person moved what the plan names. Pure: google_sheets.py sends the one read and raises SheetMoved.

Optimistic concurrency, in one small read for every worksheet written: the header row, the grid's last row (where
the grid ends) and the rows about to be rewritten or deleted must be as the sync read them, and the rows and
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
    # The rows the plan rewrites or deletes, whole (their run ids among their cells): a sort, an insert or a delete
    # above them moves other rows into their places. The grid's last row as read, as a probe: its echo says where
    # the grid ends now (a person's rows added at the bottom), and Google refuses it when rows were deleted. Not the
    # whole key column: a sync reading by need rewrites 1,000 rows of 100,000, and a streamed first sync checks
    # before every page (issue 24).
    probe = max(rows_as_read, 1)
    ranges = [f"{title}!1:1", f"{title}!{letters}{probe}:{letters}"]
    last = snap.grid[probe - 1] if probe - 1 < len(snap.grid) else []
    expected = [trimmed(snap.grid[:1]),
                trimmed([[last[key_col]] if key_col is not None and key_col < len(last) else []])]
    for first, end in spans([*rows, *plan.delete_rows]):  # as runs of consecutive rows (a read by need has read
        ranges.append(f"{title}!{first + 1}:{end + 1}")  # only those: google_read.py)
        expected.append(trimmed(snap.grid[first:end + 1]))
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
