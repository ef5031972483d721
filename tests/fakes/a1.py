"""A1 notation as Google Sheets parses and echoes it: ranges in, normalised ranges out."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CELL = re.compile(r"^([A-Za-z]{0,3})(\d*)$")  # Sheets has at most 18,278 columns: ZZZ
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_CELL = re.compile(r"^[A-Za-z]{1,3}\d+$|^R\d*C\d*$", re.IGNORECASE)


class RangeError(ValueError):
    """A range string Google would answer with 400 'Unable to parse range'."""


def col_to_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def index_to_col(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_title(title: str) -> str:
    """Google leaves simple titles bare and single-quotes the rest (doubling inner quotes)."""
    if _PLAIN_TITLE.match(title) and not _LOOKS_LIKE_CELL.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_sheet(a1: str) -> tuple[str | None, str]:
    """'Sheet 1'!A1:B2 -> ("Sheet 1", "A1:B2"); a bare name -> (name, "")."""
    a1 = a1.strip()
    if a1.startswith("'"):
        i, title = 1, []
        while i < len(a1):
            if a1[i] == "'":
                if i + 1 < len(a1) and a1[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                break
            title.append(a1[i])
            i += 1
        rest = a1[i + 1 :]
        if rest.startswith("!"):
            return "".join(title), rest[1:]
        if rest:
            raise RangeError(a1)
        return "".join(title), ""
    if "!" in a1:
        title, _, cells = a1.rpartition("!")
        return title, cells
    return None, a1


@dataclass(frozen=True)
class GridRange:
    """Half-open row/column bounds; None means 'to the edge of the grid'."""

    start_row: int | None
    end_row: int | None
    start_col: int | None
    end_col: int | None

    def clip(self, rows: int, cols: int) -> "GridRange":
        return GridRange(
            self.start_row or 0,
            rows if self.end_row is None else self.end_row,
            self.start_col or 0,
            cols if self.end_col is None else self.end_col,
        )


def parse_cells(cells: str) -> GridRange:
    """'A1:B2', 'A:A', '1:2', 'A1', 'A5:B', '' (whole sheet)."""
    if cells == "":
        return GridRange(None, None, None, None)
    parts = cells.split(":")
    if len(parts) > 2:
        raise RangeError(cells)
    refs = []
    for p in parts:
        m = _CELL.match(p.strip())
        if not m or (not m.group(1) and not m.group(2)):
            raise RangeError(cells)
        col = col_to_index(m.group(1)) if m.group(1) else None
        row = int(m.group(2)) - 1 if m.group(2) else None
        if row is not None and row < 0:
            raise RangeError(cells)
        refs.append((row, col))
    if len(refs) == 1:
        row, col = refs[0]
        if row is None or col is None:
            raise RangeError(cells)
        return GridRange(row, row + 1, col, col + 1)
    (r1, c1), (r2, c2) = refs
    if r1 is not None and r2 is not None and r2 < r1:
        r1, r2 = r2, r1
    if c1 is not None and c2 is not None and c2 < c1:
        c1, c2 = c2, c1
    # 'A1:1' keeps the row of the second part and runs to the last column.
    start_row = r1 if r1 is not None else (0 if r2 is None else None)
    if r1 is None and r2 is not None:
        start_row = 0
    return GridRange(
        start_row,
        None if r2 is None else r2 + 1,
        c1 if c1 is not None else 0,
        None if c2 is None else c2 + 1,
    )


def format_range(title: str, r: GridRange) -> str:
    """Echo a clipped range the way Google does: 'Sheet1!A1:B2', single cells without a colon."""
    start = f"{index_to_col(r.start_col)}{r.start_row + 1}"
    end = f"{index_to_col(r.end_col - 1)}{r.end_row}"
    cells = start if start == end else f"{start}:{end}"
    return f"{quote_title(title)}!{cells}"
