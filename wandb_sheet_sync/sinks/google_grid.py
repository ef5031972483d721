"""What the sink knows of a spreadsheet's sheets between requests: their ids and grid sizes (the metadata cache),
kept in step with the sink's own writes so that a sync reads the metadata once, not before every write.

The cache is "fresh" right after a metadata read: the next data read trusts it. Otherwise a read that names a
sheet the cache lacks, or that Google refuses (a sheet renamed or deleted since), reads the metadata again once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import SinkError
from ..merge import MAX_CELLS
from . import google_guard, google_lease


@dataclass
class SheetGrid:
    """The sheet ids of a worksheet and of its hidden base, and their grid sizes: what a write must know."""

    sheet_id: int | None
    base_id: int | None
    rows: int = 0
    cols: int = 0
    base_rows: int = 0
    base_cols: int = 0
    partial: Any = None  # google_read.Partial while a read by need has not read the whole grid


class SheetCache:
    """title -> the sheet's properties, from the last metadata read and the writes since."""

    # issue 23: the protected ranges name each base tab's worksheet (google_guard.py)
    FIELDS = "sheets(properties,protectedRanges(description,range(sheetId)))"

    def __init__(self, leases_held: Callable[[], int] = lambda: 0):
        self.sheets: dict[str, dict] = {}
        self.guards: dict[int, int] = {}  # base sheet id -> the worksheet id its protection names (issue 23)
        self.fresh = False  # just read: no need to look again before this sync's data read
        self.leases_held = leases_held  # write leases held now: each is a 1 x 2 sheet Google counts (issue 23)

    def load(self, metadata: dict) -> None:
        self.sheets = {s["properties"]["title"]: s["properties"] for s in metadata.get("sheets", [])}
        self.guards = google_guard.guards_of(metadata.get("sheets", []))
        self.fresh = True

    def take_fresh(self) -> bool:
        """Whether the cache was just read; from now on it is not (the next sync may meet a person's changes)."""
        fresh, self.fresh = self.fresh, False
        return fresh

    def grid(self, worksheet: str, base: str) -> SheetGrid:
        main, stored = self.sheets.get(worksheet), self.sheets.get(base)
        return SheetGrid(main["sheetId"] if main else None, stored["sheetId"] if stored else None,
                         main["gridProperties"]["rowCount"] if main else 0,
                         main["gridProperties"]["columnCount"] if main else 0,
                         stored["gridProperties"]["rowCount"] if stored else 0,
                         stored["gridProperties"]["columnCount"] if stored else 0)

    def ids(self) -> set[int]:
        return {p["sheetId"] for p in self.sheets.values()}

    def keep(self, worksheet: str, base: str, grid: SheetGrid) -> None:
        """Keeps the cached sizes in step with what a write did, without another read."""
        for title, sid, rows, cols in ((worksheet, grid.sheet_id, grid.rows, grid.cols),
                                       (base, grid.base_id, grid.base_rows, grid.base_cols)):
            if sid is not None:
                self.sheets[title] = {"sheetId": sid, "title": title,
                                      "gridProperties": {"rowCount": rows, "columnCount": cols}}

    def check_room(self, extra: int) -> None:
        """Refuses a write that would take the spreadsheet past Google's 10,000,000 cells."""
        # A lease sheet from an older metadata read may be gone (given back); the ones held now count 2 cells each,
        # as Google counts them while they stand (issue 23).
        used = sum(p["gridProperties"]["rowCount"] * p["gridProperties"]["columnCount"]
                   for t, p in self.sheets.items() if "gridProperties" in p and not t.startswith(google_lease.PREFIX))
        used += 2 * self.leases_held()
        if extra > 0 and used + extra > MAX_CELLS:
            raise SinkError(f"This sync needs {extra:,} more cells, but the spreadsheet has only "
                            f"{max(MAX_CELLS - used, 0):,} of Google's 10,000,000 left.",
                            "Delete unused sheets or empty rows and columns, lower MAX_COLUMNS, or sync into "
                            "a new spreadsheet.")
