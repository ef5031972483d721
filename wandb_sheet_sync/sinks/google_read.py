"""Reading a worksheet by need (issue 24): what to ask Google for, and how the answers make a Snapshot. Pure: the
sink (google_sheets.py) sends the reads.

A sync reads in steps, each only when the one before says it must:
1. the head: the header row and the base's row 0 (its slots, look and read state): one small read, and all that a
   sync with nothing to write reads;
2. the places: the worksheet's key column and the base's run ids (column A), which give every run's row, the
   grid's size, and the columns right of the header (a value a person typed there moves where new headers go);
3. the rows: the rows and base rows of the runs the sync merges, the rows that repeat a run id, and the rows under
   the last run id (a person's rows there move where new rows go), as spans of rows.
A row not read stays in the Snapshot's grid as its key cell alone, and in its base as UNREAD (base.py). The whole
grid is read (in pieces) when a sync merges more than FULL_SHARE of the rows, or the sheet has no key column, or
its base's run ids are not one a row (a person edited the hidden tab): then the Snapshot is as a full read makes it.
No answer carries more than READ_CELLS cells: a full read of a 10,000,000-cell sheet arrives in 40 pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ..columns import column_letters
from ..layout import key_text
from .google_requests import quote, trimmed

READ_CELLS = 250_000  # the most cells one read asks for: ~2.5 MB of JSON at 10 bytes a cell
FULL_SHARE = 0.25  # merging more than this share of the rows: the whole grid, in pieces, costs less than spans


@dataclass
class Partial:
    """What of a worksheet and its base a read by need has read so far (carried in SheetGrid.partial)."""

    key_col: int | None
    keys: list[str] | None = None  # the key column as text, row 0 the header's cell; None: not read yet
    base_ids: list[str] = field(default_factory=list)  # the base's run ids, its row 1 on
    read: set[int] = field(default_factory=set)  # grid rows read whole
    base_read: set[int] = field(default_factory=set)  # base rows read whole (0: the head)
    below: bool = False  # the rows under the last run id have been read
    _row_of: tuple | None = field(default=None, repr=False, compare=False)  # (the keys, their length, row_of)

    def row_of(self) -> dict[str, int]:
        """run id -> its first row (a repeated id is the merge's to judge: every row of it is read). Built once for
        the keys as they are (each fill asks); the keys list itself is held, so no other list is taken for it."""
        keys = self.keys or []
        if self._row_of is None or self._row_of[0] is not keys or self._row_of[1] != len(keys):
            out = dict(zip(reversed(keys), range(len(keys) - 1, 0, -1)))  # row 0 (the header) out; the first wins
            out.pop("", None)
            self._row_of = (keys, len(keys), out)
        return self._row_of[2]

    def repeated_rows(self) -> set[int]:
        keys = [k for k in (self.keys or [])[1:] if k]
        if len(set(keys)) == len(keys):  # the common case, found at C speed
            return set()
        first = self.row_of()
        return {r for r, key in enumerate(self.keys) if r and key and first[key] != r} | \
            {first[key] for r, key in enumerate(self.keys) if r and key and first[key] != r}


def head_ranges(worksheet: str, base: str | None) -> list[str]:
    return [f"{quote(worksheet)}!1:1"] + ([f"{quote(base)}!1:1"] if base is not None else [])


def place_ranges(worksheet: str, base: str | None, key_col: int, header_width: int, cols: int) -> list[str]:
    """Step 2: the key column, the base's run ids, and the columns right of the header (when the grid has any)."""
    letters = column_letters(key_col)
    out = [f"{quote(worksheet)}!{letters}:{letters}"]
    if base is not None:
        out.append(f"{quote(base)}!A2:A")
    if header_width < cols:
        out.append(f"{quote(worksheet)}!{column_letters(header_width)}:{column_letters(cols - 1)}")
    return out


def base_ids_regular(texts: list[str]) -> bool:
    """Whether the base's column A (as key_texts gives it) is one run id a row, none repeated: what a read by need
    can place rows by."""
    return all(texts) and len(set(texts)) == len(texts) and \
        "\nwandb_spreadsheet_sync" not in "\n" + "\n".join(texts)  # none is a base row: one search, no call a run


def spans(rows: Iterable[int]) -> list[tuple[int, int]]:
    """0-based rows as runs of consecutive rows: [(first, last), ...]."""
    out: list[tuple[int, int]] = []
    for r in sorted(set(rows)):
        if out and out[-1][1] == r - 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out


def span_ranges(title: str, rows: Iterable[int]) -> list[tuple[str, int]]:
    """A1 ranges of whole rows (1-based in A1), with the 0-based row each begins at."""
    return [(f"{quote(title)}!{a + 1}:{b + 1}", a) for a, b in spans(rows)]


def pieces(title: str, first: int, rows: int, cols: int, budget: int = READ_CELLS) -> list[tuple[str, int]]:
    """Rows first..rows-1 (0-based) in pieces of at most `budget` cells: (A1 range, first row)."""
    step = max(1, budget // max(cols, 1))
    return [(f"{quote(title)}!{a + 1}:{min(a + step, rows)}", a) for a in range(first, rows, step)]


def grouped(asks: list[tuple[Any, str, int, int]], budget: int = READ_CELLS) -> list[list[tuple[Any, str, int, int]]]:
    """(into, A1 range of whole rows, first row, the grid's columns) grouped into reads of at most `budget` cells
    each (the worksheet's pieces and its base's ride together while they fit; a piece over it goes alone)."""
    out: list[list] = []
    size = 0
    for ask in asks:
        n = _rows_in(ask[1]) * max(ask[3], 1)
        if not out or size + n > budget:
            out.append([])
            size = 0
        out[-1].append(ask)
        size += n
    return out


def _rows_in(a1: str) -> int:
    span = a1.rsplit("!", 1)[1]
    a, _, b = span.partition(":")
    try:
        return int(b) - int(a) + 1
    except ValueError:
        return 1


def put_rows(grid: list[list], first: int, values: list[list]) -> None:
    """Rows read from `first` on into a grid (grown with empty rows as needed)."""
    if values and len(grid) < first + len(values):
        grid.extend([] for _ in range(first + len(values) - len(grid)))
    for i, row in enumerate(values):
        grid[first + i] = list(row)


def column_texts(columns: list[list]) -> list[str]:
    """A one-column range read a column at a time (majorDimension COLUMNS: [[cell, cell, ...]]) as key texts."""
    cells = columns[0] if columns else []
    return [cell.strip() if cell.__class__ is str else key_text(cell) for cell in cells]


def rows_of_columns(columns: list[list]) -> list[list]:
    """A range read a column at a time, turned back into rows (trailing empty cells and rows trimmed, as a read by
    rows gives them)."""
    height = max(map(len, columns), default=0)
    return trimmed([[col[r] if r < len(col) else None for col in columns] for r in range(height)])


def key_only(rows: int, key_col: int, keys: list[str], header: list) -> list[list]:
    """The grid of a read by need before any row is read: the header, then each row as its key cell alone."""
    body = keys[1:rows]
    if key_col:
        pad = [None] * key_col
        return [list(header)] + [pad + [k] if k else [] for k in body]
    grid = [list(header)] + list(map(list, zip(body)))  # the key in column A, the common case: at C speed
    r = -1
    try:
        while True:  # a row with no key (a person's, rare) is empty until read
            r = body.index("", r + 1)
            grid[r + 1] = []
    except ValueError:
        return grid


def key_texts(column: list[list]) -> list[str]:
    """A key column as read (a row a cell, trailing empties trimmed) as texts (layout.key_text; a text cell, the
    common case, without a call: 100,000 of them in a read by need)."""
    return [(row[0].strip() if row[0].__class__ is str else key_text(row[0])) if row else "" for row in column]


def trim(grid: list[list]) -> list[list]:
    """No trailing empty rows, as a values read gives them."""
    while len(grid) > 1 and not grid[-1]:
        grid.pop()
    return grid


def advance(snap: Any, plan: Any, base_head: list | None) -> None:
    """The Snapshot as the sheet stands once `plan` landed, as a read by need would leave it with every row's place
    known and no row read (the next part of a streamed sync plans on it, reading only the rows it merges): the
    header row with the new headers, each run's row as its key cell, the new rows where they went, the rows that
    repeated a run gone; a person's rows without a run id as they were read. The base: every run UNREAD at its
    row, the head as written. Costs the rows the plan touched, not the sheet's, when the Snapshot was read by need
    (a first sync streamed page by page advances it once a page)."""
    key_col = plan.layout.key_col
    if key_col is None or snap.sink_state is None:
        return
    part = snap.sink_state.partial
    grid = snap.grid if snap.grid else [[]]
    header = list(grid[0])
    for c, title in plan.new_headers:
        header += [None] * (c + 1 - len(header))
        header[c] = title
    grid[0] = header
    pad = [None] * key_col
    if part is not None and part.keys is not None and part.key_col == key_col and not snap.complete:
        keys, whole = part.keys, part.read  # only the rows read whole need cutting to their key
    else:
        keys, whole = key_texts([row[key_col:key_col + 1] for row in grid]), range(1, len(grid))
    keys += [""] * (len(grid) - len(keys))
    keys[0] = key_text(header[key_col]) if key_col < len(header) else ""
    for r in whole:
        if r < len(grid) and keys[r]:
            grid[r] = pad + [keys[r]]
    grid[plan.insert_at:plan.insert_at] = [pad + [run_id] for run_id in plan.new_run_ids]
    keys[plan.insert_at:plan.insert_at] = list(plan.new_run_ids)
    for r in plan.deleted_after_inserts():
        del grid[r]
        del keys[r]
    base = plan.base.unread_copy()
    snap.grid = trim(grid)
    del keys[len(snap.grid):]
    snap.base = base
    snap.base_rows = ([base_head] if base_head is not None else []) + [None] * len(base.runs)
    snap.complete = False
    snap.sink_state.partial = Partial(key_col, keys=keys, base_ids=list(base.runs), base_read={0}, below=True)
