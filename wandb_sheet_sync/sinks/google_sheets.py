"""Google Sheets as a sink: open a spreadsheet, read what a sync needs of a worksheet and its base, apply a Plan.

Every write of a sync goes into one spreadsheets.batchUpdate, which Google applies atomically, and names
absolute cells, so a retried request cannot duplicate a row. The base lives in a hidden worksheet beside each
synced one. The rooms this sink is made of:
- google_http.py: the one client that sends (SheetsApi over GoogleSession, on transport.py);
- google_refusals.py: Google's refusals as our errors, and who to share a spreadsheet with;
- google_grid.py: the metadata cache (sheet ids and grid sizes);
- google_read.py: reading by need (issue 24): the head, then the places, then only the rows a sync merges;
- google_requests.py: the request bodies, pure; google_batches.py: those bodies cut to the byte budget;
- google_write.py: one worksheet's write as bodies; google_check.py: the mid-sync check that nobody moved
  what a plan names;
- google_lease.py: the write lease (one sync at a time writes a worksheet); google_guard.py: the base tab's
  guard and the worksheet's identity (issue 23).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Collection, Sequence

from ..base import Base
from ..columns import SHEETS_MAX_COLUMNS
from ..config import KEYS
from ..layout import Layout, key_text
from ..errors import Interrupted, OutcomeUnknown, SheetMoved, SinkError, SyncError
from ..merge import MAX_CELLS, Plan
from . import Capabilities, Snapshot
from . import google_auth, google_check, google_guard, google_lease, google_read, google_refusals, google_write
from . import google_requests as req
from .google_batches import Batch, together
from .google_grid import SheetCache, SheetGrid
from .google_http import GoogleSession, SheetsApi

log = logging.getLogger("wandb_spreadsheet_sync")
MAX_REQUEST_BYTES = 10_485_760  # Google refuses a larger body with 400 "Request payload size exceeds the limit"
FENCE_BYTES = 512  # the write lease's renewal appended to each body (google_lease.renew: ~250 bytes)
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
                 impersonate: str | None = None, login_token: Path | None = None, retry_base: float = 1.0,
                 lease_seconds: float = KEYS["LEASE_SECONDS"].default,
                 lease_wait: float = KEYS["LEASE_WAIT_SECONDS"].default, clock: Callable[[], float] = time.time):
        self.capabilities = dataclasses.replace(CAPABILITIES, request_bytes=request_bytes)
        self.progress = progress  # runs written so far, after each request of a write that takes several
        self.identity = google_auth.find(key, impersonate, login_token)
        self.session = GoogleSession(self.identity.credentials, endpoint, timeout=timeout, stop=stop,
                                     per_minute=per_minute, retry_base=retry_base)
        self.refusals = google_refusals.Refusals(self.identity, spreadsheet, self.session)
        self.api = SheetsApi(self.session, self.refusals)
        self.spec = spreadsheet
        self.id: str | None = None
        self.rng = random.Random()
        # issue 23: the write lease of the worksheet being synced (google_lease.py); 0 seconds: no lease
        self.lease_seconds, self.lease_wait, self.clock = lease_seconds, lease_wait, clock
        self.leases: dict[str, google_lease.Lease] = {}
        self._target: str | None = None  # the worksheet of the last read: the one whose lease a write takes
        self.cache = SheetCache(lambda: sum(lease.held for lease in self.leases.values()))
        self._followed: dict[str, str] = {}  # worksheet -> the title its base has (a worksheet renamed, followed)
        self._adopting: dict[str, str] = {}  # worksheet -> why its base is gone ("missing", "cleared", "damaged")
        self.read_cells = google_read.READ_CELLS  # the most cells one read asks for (google_read.py)

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
        return self.cache.grid(worksheet, self._base_title_of(worksheet))

    # -- reading -----------------------------------------------------------------------------
    def read(self, worksheets: Sequence[str], by_need: bool = False) -> list[Snapshot[SheetGrid]]:
        """Every worksheet and its base in one values.batchGet (the runs tab and its summary tabs). by_need (issue
        24, google_read.py): of the runs tab only its header row and its base's row 0; `fill` reads the rest a
        sync needs."""
        before = Counter(self.session.counts)
        if self.id is None:
            self.open()
        if worksheets and worksheets[0] != self._target:  # issue 23: another target: the last one's lease goes
            self.release()
            self._target = worksheets[0]
        stale = not self.cache.take_fresh()
        found = [self._grid(w) for w in worksheets]
        if any(f.sheet_id is None or f.base_id is None for f in found) and stale:
            self._load_metadata()  # someone may have made a sheet since
            found, stale = [self._grid(w) for w in worksheets], False
        self._check_identity(worksheets)  # issue 23: a renamed worksheet is named, never forked
        found = [self._grid(w) for w in worksheets]
        try:
            got = self._read_values(worksheets, found, by_need)
        except SinkError:
            if not stale:
                raise
            # A 400 on metadata read in an earlier sync: a sheet was renamed or deleted since. Look again, once.
            self._load_metadata()
            self.cache.take_fresh()
            found = [self._grid(w) for w in worksheets]
            got = self._read_values(worksheets, found, by_need)
        value_ranges = got.get("valueRanges", [])
        snaps = []
        for i, (worksheet, grid_of) in enumerate(zip(worksheets, found)):
            head = by_need and i == 0 and grid_of.sheet_id is not None
            grid, base_rows = [], []
            if grid_of.sheet_id is not None:
                main = value_ranges.pop(0)
                grid = main.get("values", [])
                rows, cols = (req.echo_end if head else req.grid_size)(main.get("range", ""), grid_of.rows,
                                                                        grid_of.cols)
                grid_of.cols = cols
                if not head:  # a row's echo names its columns only
                    grid_of.rows = rows
            if grid_of.base_id is not None and value_ranges:
                stored = value_ranges.pop(0)
                base_rows = stored.get("values", [])
                rows, cols = (req.echo_end if head else req.grid_size)(stored.get("range", ""), grid_of.base_rows,
                                                                        grid_of.base_cols)
                grid_of.base_cols = cols
                if not head:
                    grid_of.base_rows = rows
            # A base without its worksheet (the sheet was deleted) describes rows that are gone: start afresh.
            base = Base.decode(base_rows) if grid_of.sheet_id is not None else Base()
            if head:
                layout = Layout.of(grid[:1])
                grid_of.partial = google_read.Partial(layout.key_col)
                snaps.append(Snapshot(worksheet, grid[:1], base, base_rows[:1], grid_of, Counter(), complete=False))
                continue
            grid_of.partial = None
            self._note_base(worksheet, grid, grid_of, base_rows, base)  # issue 23
            snaps.append(Snapshot(worksheet, grid, base, base_rows, grid_of, Counter()))
        snaps[0].requests = self._sent_since(before)
        return snaps

    def _read_values(self, worksheets: Sequence[str], found: list[SheetGrid], by_need: bool = False) -> dict:
        """The worksheets' and their bases' values in one request; a SinkError (a 400) for a range that is gone.
        by_need: the runs tab's header row and its base's row 0 only."""
        ranges = []
        for i, (w, f) in enumerate(zip(worksheets, found)):
            if f.sheet_id is None and f.base_id is None:
                continue
            base = self._base_title_of(w) if f.base_id is not None else None
            if by_need and i == 0 and f.sheet_id is not None:
                ranges += google_read.head_ranges(w, base)
            else:
                ranges += [req.quote(t) for t, known in ((w, f.sheet_id), (base, f.base_id)) if known is not None]
        if not ranges:
            return {}
        return self.api.values(self.id, ranges, "reading the worksheet")

    # -- reading by need (issue 24, google_read.py) -----------------------------------------------------------
    def known(self, snap: Snapshot[SheetGrid]) -> frozenset[str]:
        """The run ids the worksheet's base holds (reads the places of a Snapshot read by need, once)."""
        self.fill(snap, ())
        return frozenset(snap.base.runs)

    def fill(self, snap: Snapshot[SheetGrid], ids: Collection[str] | None) -> Counter:
        """Reads into a Snapshot read by need what a merge of these runs needs (None: every run, the whole grid):
        their rows and base rows, each at most once a sync (google_read.py says what and why). Changes the
        Snapshot in place; returns the requests sent. A row read that no longer holds the run id it held a moment
        before raises SheetMoved (a person sorted meanwhile: the sync reads again)."""
        before = Counter(self.session.counts)
        grid_of: SheetGrid = snap.sink_state
        part = grid_of.partial if grid_of is not None else None
        if snap.complete or part is None:
            snap.complete = True
            return Counter()
        base = self._base_title_of(snap.worksheet) if grid_of.base_id is not None else None
        if part.keys is None and (part.key_col is None or not self._read_places(snap, part, base)):
            self._read_whole(snap, base, sized=part.key_col is not None)
            return self._sent_since(before)
        rows_of = part.row_of()
        want = set() if ids is None else {rows_of[i] for i in ids if i in rows_of}
        want = (want | part.repeated_rows()) - part.read
        if ids is None or len(want) > google_read.FULL_SHARE * max(len(part.keys) - 1, 1):
            self._read_whole(snap, base, sized=True)
            return self._sent_since(before)
        base_row = dict(zip(part.base_ids, range(1, len(part.base_ids) + 1)))
        base_want = ({base_row[i] for i in ids if i in base_row} - part.base_read) if base is not None else set()
        main = google_read.span_ranges(snap.worksheet, want)
        if not part.below and len(part.keys) < grid_of.rows:  # a person's rows under the last run id
            main.append((f"{req.quote(snap.worksheet)}!{len(part.keys) + 1}:{grid_of.rows}", len(part.keys)))
        part.below = True
        asks = [(snap.grid, a1, first, grid_of.cols) for a1, first in main] + \
            [(snap.base_rows, a1, first, grid_of.base_cols)
             for a1, first in (google_read.span_ranges(base, base_want) if base else [])]
        for group in google_read.grouped(asks, self.read_cells):
            got = self._read_ranges([a1 for _, a1, _, _ in group], "reading the rows this sync merges")
            for (into, _, first, _), answer in zip(group, got.get("valueRanges", [])):
                google_read.put_rows(into, first, answer.get("values", []))
        moved = [r for r in want if google_read.key_texts([snap.grid[r][part.key_col:part.key_col + 1]])[0]
                 != part.keys[r]]
        if moved:
            raise SheetMoved("The sheet changed while this sync was reading it (a person sorted or moved rows).",
                             "The sync reads it again; nothing was written.")
        part.read |= want
        part.base_read |= base_want
        if base_want and not snap.base.read_rows(snap.base_rows, part.base_ids, base_want):
            snap.base = Base.decode_sparse(snap.base_rows, part.base_ids)
        return self._sent_since(before)

    def _read_ranges(self, ranges: list[str], what: str, major: str = "ROWS") -> dict:
        """A read of ranges that fitted the grid a moment ago: Google refusing one as past the grid means a person
        deleted rows or columns since, which the sync meets as it meets a change the check finds (SheetMoved)."""
        try:
            return self.api.values(self.id, ranges, what, major)
        except SinkError as exc:
            if "grid limits" not in exc.message and "parse range" not in exc.message:
                raise
            raise SheetMoved("The sheet changed while this sync was reading it (a person deleted rows or columns).",
                             "The sync reads it again; nothing was written.") from exc

    def _read_places(self, snap: Snapshot[SheetGrid], part: google_read.Partial, base: str | None) -> bool:
        """Step 2: the key column, the base's run ids and what lies right of the header. False when the base's
        run ids cannot place its rows (a person edited the hidden tab): the whole grid is read instead."""
        grid_of: SheetGrid = snap.sink_state
        header = snap.grid[0] if snap.grid else []
        # a column at a time: each of the two id columns comes as one list (100,000 ids: one list, not 100,000)
        got = self._read_ranges(google_read.place_ranges(snap.worksheet, base, part.key_col, len(header),
                                                         grid_of.cols), "reading the run ids", major="COLUMNS")
        answers = got.get("valueRanges", [])
        keys = answers.pop(0)
        grid_of.rows = req.echo_end(keys.get("range", ""), grid_of.rows, grid_of.cols)[0]
        ids: list = []
        if base is not None:
            stored = answers.pop(0)
            grid_of.base_rows = req.echo_end(stored.get("range", ""), grid_of.base_rows, grid_of.base_cols)[0]
            ids = google_read.column_texts(stored.get("values", []))
            if not google_read.base_ids_regular(ids):
                return False
        part.keys = google_read.column_texts(keys.get("values", [])) or [""]
        if part.keys[0] != key_text(header[part.key_col]):  # a person moved columns since the head was read
            raise SheetMoved("The sheet changed while this sync was reading it (a person moved columns).",
                             "The sync reads it again; nothing was written.")
        part.base_ids = ids
        snap.grid = google_read.key_only(len(part.keys), part.key_col, part.keys, header)
        if answers:  # cells right of the header: where new headers must not go (read as columns: turned back)
            width = len(header)
            for r, row in enumerate(google_read.rows_of_columns(answers[0].get("values", []))):
                if row and r < len(snap.grid):
                    snap.grid[r] = list(snap.grid[r]) + [None] * (width - len(snap.grid[r])) + list(row)
                elif row:
                    google_read.put_rows(snap.grid, r, [[None] * width + list(row)])
        head = snap.base_rows[:1]
        snap.base_rows = head + [None] * len(part.base_ids)
        snap.base = Base.decode_sparse(snap.base_rows, part.base_ids) if head else Base()
        self._note_base(snap.worksheet, snap.grid, grid_of, head, snap.base)
        return True

    def _read_whole(self, snap: Snapshot[SheetGrid], base: str | None, sized: bool) -> None:
        """The whole worksheet and base, in reads of at most READ_CELLS cells. sized: the grid's size is known from
        this sync's reads (the key column's echo); else the metadata is read again (a person may have grown it)."""
        grid_of: SheetGrid = snap.sink_state
        if not sized:
            self._load_metadata()
            self.cache.take_fresh()
            fresh = self._grid(snap.worksheet)
            grid_of.rows, grid_of.cols = fresh.rows, fresh.cols
            grid_of.base_rows, grid_of.base_cols = fresh.base_rows, fresh.base_cols
        grid: list[list] = []
        base_rows: list[list] = []
        asks = [(grid, a1, first, grid_of.cols) for a1, first in
                google_read.pieces(snap.worksheet, 0, grid_of.rows, grid_of.cols, self.read_cells)]
        if base is not None:
            asks += [(base_rows, a1, first, grid_of.base_cols) for a1, first in
                     google_read.pieces(base, 0, grid_of.base_rows, grid_of.base_cols, self.read_cells)]
        for group in google_read.grouped(asks, self.read_cells):
            got = self._read_ranges([a1 for _, a1, _, _ in group], "reading the worksheet")
            for (into, _, first, _), answer in zip(group, got.get("valueRanges", [])):
                google_read.put_rows(into, first, answer.get("values", []))
        snap.grid, snap.base_rows = google_read.trim(grid) if grid else [], google_read.trim(base_rows)
        snap.base = Base.decode(snap.base_rows)
        snap.complete = True
        grid_of.partial = None
        self._note_base(snap.worksheet, snap.grid, grid_of, snap.base_rows, snap.base)

    # -- writing -----------------------------------------------------------------------------
    def apply(self, changes: Sequence[tuple[Snapshot[SheetGrid], Plan]]) -> Counter:
        """Every worksheet's plan: one check that nobody moved what the plans name, then the bodies of all the
        worksheets, small ones sent together in one batchUpdate (each body stays whole and self-contained)."""
        before = Counter(self.session.counts)
        self._hold()  # issue 23: one writer from the check to the last write
        for snap, plan in changes:
            self._say_adopted(snap.worksheet, plan)  # issue 23: a lost base is said out loud, once
        taken = self.cache.ids()
        room = dataclasses.replace(self.capabilities, request_bytes=self.capabilities.request_bytes - FENCE_BYTES)
        writes = [google_write.prepare(snap, plan, room, lambda: self._new_id(taken),
                                       self.cache.check_room, self._tool_rules,
                                       lambda grid, w=snap.worksheet: self._guard_base(w, grid))
                  for snap, plan in changes]
        checks = [w.check for w in writes if w.check is not None]
        if checks:
            self._check_unmoved(checks)
        sent, total = 0, sum(w.runs for w in writes)
        # each body carries the lease's renewal at its end (_fenced): its room is kept free of the budget
        for batch in together([w.batches for w in writes], self.capabilities.request_bytes - FENCE_BYTES):
            self._send(batch)
            for w in writes:
                self.cache.keep(w.worksheet, self._base_title_of(w.worksheet), w.grid)
            sent += batch.runs
            if self.progress and total > batch.runs:
                self.progress(sent)
        for (snap, plan), write in zip(changes, writes):  # the next part of a sync plans on the sheet as it is now
            google_read.advance(snap, plan, write.base_head)
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
        lease = self.leases.get(self._target or "")
        body = _fenced(batch.body, lease.fence() if lease else [])  # issue 23: refused whole if the lease is gone
        try:
            self.api.batch_update(self.id, body, batch.repeatable, "writing the sync",
                                  refused=lambda response: self._refused_write(response, lease))
        except OutcomeUnknown:
            if lease is not None:
                lease.rotate()  # issue 23: the write, should it land late, is refused whole
            raise

    # -- issue 23: the write lease, and sheets another sync made first (google_lease.py) -------------------
    def _hold(self) -> None:
        """Takes this target's lease (waiting for another sync's, bounded). A sheet another sync made meanwhile
        (two first syncs) needs no look here: the addSheet is refused whole and _refused_write says SheetMoved."""
        if self._target is None or not self.lease_seconds:
            return
        lease = self.leases.get(self._target)
        if lease is None:
            title = google_lease.lease_title(self._target, CAPABILITIES.base_title_length)
            lease = self.leases[self._target] = google_lease.Lease(
                title, self._lease_send, lambda: self._lease_look(title), self.lease_seconds, self.lease_wait,
                self.clock, self._pause, lambda: self._new_id(self.cache.ids()))
        lease.acquire()
        if lease.waited >= 1:
            log.info("waited %.0f s for another sync to finish writing %r", lease.waited, self._target)

    def _base_title_of(self, worksheet: str) -> str:
        return self._followed.get(worksheet) or base_title(worksheet)

    def _check_identity(self, worksheets: Sequence[str]) -> None:
        for worksheet in worksheets:
            found = google_guard.followed_base(worksheet, base_title(worksheet), self.cache.sheets, self.cache.guards)
            if found:
                self._followed[worksheet] = found
                log.info("worksheet %r was renamed; its base %r is followed by the sheet's id", worksheet, found)

    def _note_base(self, worksheet: str, grid: list[list], found: SheetGrid, stored: list[list], base: Base) -> None:
        why = google_guard.why_lost(base_title(worksheet), grid, found.sheet_id, found.base_id, stored, base)
        if why is None:
            self._adopting.pop(worksheet, None)
        else:
            self._adopting[worksheet] = why

    def _say_adopted(self, worksheet: str, plan: Plan) -> None:
        why = self._adopting.pop(worksheet, None)
        if why is not None:
            log.warning("%s", google_guard.adopted_line(worksheet, why, plan.counts))

    def _guard_base(self, worksheet: str, grid: SheetGrid) -> list[dict]:
        if grid.base_id is None or grid.sheet_id is None:
            return []
        out = google_guard.guard_requests(worksheet, base_title(worksheet), grid.sheet_id, grid.base_id,
                                          self.cache.guards, self._followed.pop(worksheet, None) is not None)
        self.cache.guards[grid.base_id] = grid.sheet_id
        return out

    def _pause(self, seconds: float) -> None:
        if self.session.transport.stop.wait(seconds):
            raise Interrupted("Stopped while waiting for another sync's lease; nothing was written.")

    def _lease_send(self, requests: list[dict]) -> None:
        """One batchUpdate of the lease's; google_lease.Refused for a 400 (nothing of it landed). Stopping
        (SIGTERM): the lease is still given back, in one try of at most 3 s, so the next sync need not wait for
        it to expire; and a write of ours still on its way then lands nowhere (its fence is gone)."""
        body = json.dumps({"requests": requests}, separators=(",", ":")).encode()

        def refused(response):
            return google_lease.Refused(_message(response)) if response.status_code == 400 else None

        self.api.batch_update(self.id, body, False, "taking the write lease", refused=refused,
                              now=self.session.transport.stop.is_set())

    def _lease_look(self, title: str) -> google_lease.Found | None:
        """The lease sheet's id, holder and expiry, in one read; None when there is none."""
        try:
            meta = self.api.metadata(self.id, "sheets(properties(sheetId,title),data(rowData(values(effectiveValue))))",
                                     "reading the write lease", ranges=f"{req.quote(title)}!A1:B1",
                                     includeGridData="true")
        except SinkError:  # 400: the range names no sheet (released meanwhile)
            return None
        for sheet in meta.get("sheets", []):
            if sheet.get("properties", {}).get("title") != title:
                continue
            rows = [row for block in sheet.get("data", []) for row in block.get("rowData", [])]
            cells = [(c.get("effectiveValue") or {}) for c in (rows[0].get("values", []) if rows else [])]
            holder = cells[0].get("stringValue") if cells else None
            expires = cells[1].get("numberValue") if len(cells) > 1 else None
            return google_lease.Found(sheet["properties"]["sheetId"], holder, expires)
        return None

    def release(self) -> None:
        """Gives back every lease this sink holds (after a sync, and before it reads another target). A failure
        here is logged, never raised: the lease then ends at its expiry."""
        for worksheet, lease in self.leases.items():
            try:
                lease.release()
            except SyncError as exc:
                log.warning("could not give back the write lease of %r (it ends by itself within %.0f s): %s",
                            worksheet, self.lease_seconds, exc.message)

    def _refused_write(self, response, lease: google_lease.Lease | None) -> SyncError | None:
        """A write Google refused: the lease taken over, or a sheet another sync made first (None: as
        Refusals words any other refusal)."""
        if response.status_code != 400:
            return None
        message = _message(response)
        lost = lease.refused(message) if lease is not None else None
        if lost is not None:
            return lost
        if "addSheet" in message and "already exists" in message:
            return _made_meanwhile([message.split('"')[1] if '"' in message else "?"])
        return None

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



def _fenced(body: bytes, extra: list[dict]) -> bytes:
    """A batchUpdate body with more requests at its end (the lease's renewal: google_lease.renew)."""
    if not extra:
        return body
    return body[:-2] + b"," + ",".join(json.dumps(r, separators=(",", ":")) for r in extra).encode() + b"]}"


def _message(response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def _made_meanwhile(titles: list[str]) -> SheetMoved:
    return SheetMoved(f"Another sync made {', '.join(map(repr, titles))} a moment before this one (two first syncs "
                      "at once: harmless).", "This sync reads the sheet again and writes into it; nothing was lost.")
