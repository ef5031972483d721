"""Google Sheets as a sink: open a spreadsheet, read a worksheet and its base in one request, apply a Plan in one.

Every write of a sync goes into one spreadsheets.batchUpdate, which Google applies atomically, and names
absolute cells, so a retried request cannot duplicate a row. The base lives in a hidden worksheet beside each
synced one. The rooms this sink is made of:
- google_http.py: the one client that sends (SheetsApi over GoogleSession, on transport.py);
- google_refusals.py: Google's refusals as our errors, and who to share a spreadsheet with;
- google_grid.py: the metadata cache (sheet ids and grid sizes);
- google_requests.py: the request bodies, pure; google_batches.py: those bodies cut to the byte budget;
- google_write.py: one worksheet's write as bodies; google_check.py: the mid-sync check that nobody moved
  what a plan names.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from ..base import Base
from ..columns import SHEETS_MAX_COLUMNS
from ..config import KEYS
from ..errors import SheetMoved, SinkError
from ..merge import MAX_CELLS, Plan
from . import Capabilities, Snapshot
from . import google_auth, google_check, google_refusals, google_write
from . import google_requests as req
from .google_batches import Batch, together
from .google_grid import SheetCache, SheetGrid
from .google_http import GoogleSession, SheetsApi

log = logging.getLogger("wandb_spreadsheet_sync")
MAX_REQUEST_BYTES = 10_485_760  # Google refuses a larger body with 400 "Request payload size exceeds the limit"
CAPABILITIES = Capabilities(styles=True, max_columns=SHEETS_MAX_COLUMNS, max_cells=MAX_CELLS, base_title_length=100,
                            request_bytes=MAX_REQUEST_BYTES)
_URL_KEY = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]{25,}$")


def base_title(worksheet: str) -> str:
    return CAPABILITIES.base_title(worksheet)


def spreadsheet_key(spec: str) -> str | None:
    """A URL or a bare key gives the key; anything else is a title to look up."""
    m = _URL_KEY.search(spec)
    if m:
        return m.group(1)
    return spec if _BARE_KEY.match(spec) and " " not in spec else None


class GoogleSheetsSink:

    def __init__(self, spreadsheet: str, key: str, endpoint: str | None = None, timeout: float = 60.0,
                 stop: threading.Event | None = None, request_bytes: int = KEYS["REQUEST_BYTES"].default,
                 progress: Callable[[int], None] | None = None, per_minute: int = 60,
                 impersonate: str | None = None, login_token: Path | None = None, retry_base: float = 1.0):
        self.capabilities = dataclasses.replace(CAPABILITIES, request_bytes=request_bytes)
        self.progress = progress  # runs written so far, after each request of a write that takes several
        self.identity = google_auth.find(key, impersonate, login_token)
        self.session = GoogleSession(self.identity.credentials, endpoint, timeout=timeout, stop=stop,
                                     per_minute=per_minute, retry_base=retry_base)
        self.refusals = google_refusals.Refusals(self.identity, spreadsheet, self.session)
        self.api = SheetsApi(self.session, self.refusals)
        self.spec = spreadsheet
        self.id: str | None = None
        self.cache = SheetCache()
        self.rng = random.Random()

    @property
    def email(self) -> str:
        """Who to share the spreadsheet with (asks Google only for a person whose credentials do not say)."""
        return self.refusals.email

    def _sent_since(self, before: Counter) -> Counter:
        return self.session.counts - before

    # -- opening -----------------------------------------------------------------------------
    def open(self) -> None:
        if self.id is None:
            self.id = spreadsheet_key(self.spec) or self.api.find(self.spec)
            if self.id is None:
                raise self.refusals.not_shared()
        self._load_metadata()

    def _load_metadata(self) -> None:
        self.cache.load(self.api.metadata(self.id, SheetCache.FIELDS, "reading the spreadsheet's sheets"))

    def _grid(self, worksheet: str) -> SheetGrid:
        return self.cache.grid(worksheet, base_title(worksheet))

    # -- reading -----------------------------------------------------------------------------
    def read(self, worksheets: Sequence[str]) -> list[Snapshot[SheetGrid]]:
        """Every worksheet and its base in one values.batchGet (the runs tab and its summary tabs)."""
        before = Counter(self.session.counts)
        if self.id is None:
            self.open()
        stale = not self.cache.take_fresh()
        found = [self._grid(w) for w in worksheets]
        if any(f.sheet_id is None or f.base_id is None for f in found) and stale:
            self._load_metadata()  # someone may have made a sheet since
            found, stale = [self._grid(w) for w in worksheets], False
        try:
            got = self._read_values(worksheets, found)
        except SinkError:
            if not stale:
                raise
            # A 400 on metadata read in an earlier sync: a sheet was renamed or deleted since. Look again, once.
            self._load_metadata()
            self.cache.take_fresh()
            found = [self._grid(w) for w in worksheets]
            got = self._read_values(worksheets, found)
        value_ranges = got.get("valueRanges", [])
        snaps = []
        for worksheet, grid_of in zip(worksheets, found):
            grid, base_rows = [], []
            if grid_of.sheet_id is not None:
                main = value_ranges.pop(0)
                grid = main.get("values", [])
                grid_of.rows, grid_of.cols = req.grid_size(main.get("range", ""), grid_of.rows, grid_of.cols)
            if grid_of.base_id is not None and value_ranges:
                stored = value_ranges.pop(0)
                base_rows = stored.get("values", [])
                grid_of.base_rows, grid_of.base_cols = req.grid_size(stored.get("range", ""), grid_of.base_rows,
                                                                     grid_of.base_cols)
            # A base without its worksheet (the sheet was deleted) describes rows that are gone: start afresh.
            base = Base.decode(base_rows) if grid_of.sheet_id is not None else Base()
            snaps.append(Snapshot(worksheet, grid, base, base_rows, grid_of, Counter()))
        snaps[0].requests = self._sent_since(before)
        return snaps

    def _read_values(self, worksheets: Sequence[str], found: list[SheetGrid]) -> dict:
        """The worksheets' and their bases' values in one request; a SinkError (a 400) for a range that is gone."""
        ranges = [req.quote(t) for w, f in zip(worksheets, found)
                  for t, known in ((w, f.sheet_id), (base_title(w), f.base_id)) if known is not None]
        if not ranges:
            return {}
        return self.api.values(self.id, ranges, "reading the worksheet")

    # -- writing -----------------------------------------------------------------------------
    def apply(self, changes: Sequence[tuple[Snapshot[SheetGrid], Plan]]) -> Counter:
        """Every worksheet's plan: one check that nobody moved what the plans name, then the bodies of all the
        worksheets, small ones sent together in one batchUpdate (each body stays whole and self-contained)."""
        before = Counter(self.session.counts)
        taken = self.cache.ids()
        writes = [google_write.prepare(snap, plan, self.capabilities, lambda: self._new_id(taken),
                                       self.cache.check_room, self._tool_rules) for snap, plan in changes]
        checks = [w.check for w in writes if w.check is not None]
        if checks:
            self._check_unmoved(checks)
        sent, total = 0, sum(w.runs for w in writes)
        for batch in together([w.batches for w in writes], self.capabilities.request_bytes):
            self._send(batch)
            for w in writes:
                self.cache.keep(w.worksheet, base_title(w.worksheet), w.grid)
            sent += batch.runs
            if self.progress and total > batch.runs:
                self.progress(sent)
        return self._sent_since(before)

    def _check_unmoved(self, checks: list[google_check.Check]) -> None:
        """The mid-sync check (google_check.py), in one small read just before the write: SheetMoved when a person
        moved what the plans name, and the sync reads again and plans again."""
        moved = SheetMoved("The sheet changed while this sync was planning its write (a person sorted, moved, "
                           "edited, added or deleted rows or columns).",
                           "The sync reads it again and plans again; nothing was written.")
        try:
            got = self.api.values(self.id, [r for c in checks for r in c.ranges], "checking the sheet before writing")
        except SinkError as exc:  # every range fitted the grid as read: rows or columns were deleted since
            raise moved from exc
        if not google_check.unmoved(checks, got.get("valueRanges", [])):
            raise moved

    def _send(self, batch: Batch) -> None:
        """One atomic batchUpdate. One that would act twice if sent twice and whose answer is lost (or is a
        5xx) raises OutcomeUnknown: the sync then reads what landed and plans again."""
        if len(batch.body) > MAX_REQUEST_BYTES:  # one run's row alone: no split can help
            raise SinkError(f"A single run's row is {len(batch.body):,} bytes; Google refuses requests over "
                            f"{MAX_REQUEST_BYTES:,}. Nothing more was sent.",
                            "Sync fewer columns (MAX_COLUMNS, DYNAMIC_HEADERS include/exclude).")
        log.debug("writing %d runs in %d bytes", batch.runs, len(batch.body))
        self.api.batch_update(self.id, batch.body, batch.repeatable, "writing the sync")

    def _tool_rules(self, sheet_id: int) -> list[req.Rule]:
        """(index, column, kind, goal) of the rules this tool made on a sheet: one read, made only when highlight
        rules must change on a sheet that existed before this sync (a column moved, HIGHLIGHT changed, rules
        to add where a lost base may have left some)."""
        return req.tool_rules(self.api.metadata(self.id, "sheets(properties(sheetId),conditionalFormats)",
                                                "reading the conditional formats"), sheet_id)

    def _new_id(self, taken: set) -> int:
        while True:
            candidate = self.rng.randrange(1, 2**31 - 1)
            if candidate not in taken:
                taken.add(candidate)
                return candidate

