"""One worksheet's write to Google: from a Plan and the Snapshot it was planned on, the spreadsheets.batchUpdate
bodies (built lazily; google_batches.py cuts them to the byte budget) and the mid-sync check to make first.
Sends nothing: the sink (google_sheets.py) gives what only it knows and sends the bodies.

The first body carries the structure (new sheets, grid growth, new headers, formats and highlight rules); then
the runs, each with its base rows; rows that repeat a run are deleted last; and the base's row 0 with the new
read state goes in the last body of all, so the state never says a run was read whose cells did not land.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from ..base import Base
from ..look import Look
from ..merge import Plan
from . import Capabilities, Snapshot
from . import google_check
from . import google_requests as req
from .google_batches import Batch, NewRows, batches
from .google_grid import SheetGrid


@dataclass
class Write:
    worksheet: str
    grid: SheetGrid  # kept in step with what the bodies do
    batches: Iterator[Batch]
    check: google_check.Check | None
    runs: int  # runs whose cells or base rows it writes
    base_head: list | None = None  # the base's row 0 once the write has landed (None: no base)


def prepare(snap: Snapshot[SheetGrid], plan: Plan, capabilities: Capabilities, new_id: Callable[[], int],
            room: Callable[[int], None], found_rules: Callable[[int], list[req.Rule]],
            guard: Callable[[SheetGrid], list[dict]] = lambda grid: []) -> Write:
    """One worksheet's write: its bodies (built lazily) and what to check before sending them. `grid` (the
    Snapshot's sink_state) is moved on to the sizes the bodies leave. The sink gives what only it knows: a new
    sheet id (`new_id`), whether the spreadsheet has room for more cells (`room` raises), and the highlight
    rules this tool made on a sheet that existed (`found_rules`, one read, made only when rules must change), and
    the base tab's guard for the first body (`guard`, issue 23: google_guard.guard_requests)."""
    grid: SheetGrid = snap.sink_state
    rows_as_read, cols_as_read = grid.rows, grid.cols  # grid follows each request; the check needs the read
    look = plan.look or Look()
    new_sheet = grid.sheet_id is None
    first: list[dict] = []
    rows_needed = max(plan.rows_after(len(snap.grid)), 1)
    cols_needed = max(plan.width, 1)
    encoded = capabilities.encode_base(plan, snap.base) if plan.base_changed else None
    base_rows = encoded.rows if encoded is not None else []
    base_cols = Base.width(base_rows + ([encoded.body[0]] if encoded is not None and encoded.closing else []))
    room(max(rows_needed, grid.rows) * max(cols_needed, grid.cols) - grid.rows * grid.cols
         + max(len(base_rows), grid.base_rows) * max(base_cols, grid.base_cols) - grid.base_rows * grid.base_cols)
    if grid.sheet_id is None:
        grid.sheet_id = new_id()
        first += [req.add_sheet(grid.sheet_id, snap.worksheet, rows_needed, cols_needed),
                  req.bold_header_row(grid.sheet_id)]
        grid.rows, grid.cols = rows_needed, cols_needed
    if grid.base_id is None and base_rows:
        grid.base_id = new_id()
        first.append(req.add_hidden_sheet(grid.base_id, capabilities.base_title(snap.worksheet), len(base_rows),
                                          base_cols))
        grid.base_rows, grid.base_cols = len(base_rows), base_cols
    first += guard(grid)  # issue 23: the base tab protected, its worksheet named
    inserting = bool(plan.new_rows) and plan.insert_at < max(len(snap.grid), 1)
    if inserting:
        grid.rows += len(plan.new_rows)  # insertDimension grows the grid by itself
    elif rows_needed > grid.rows:
        first.append(req.grow(grid.sheet_id, "ROWS", rows_needed - grid.rows))
        grid.rows = rows_needed
    if cols_needed > grid.cols:
        first.append(req.grow(grid.sheet_id, "COLUMNS", cols_needed - grid.cols))
        grid.cols = cols_needed
    if len(base_rows) > grid.base_rows:
        first.append(req.grow(grid.base_id, "ROWS", len(base_rows) - grid.base_rows))
        grid.base_rows = len(base_rows)
    if base_cols > grid.base_cols:
        first.append(req.grow(grid.base_id, "COLUMNS", base_cols - grid.base_cols))
        grid.base_cols = base_cols
    first += [req.header(grid.sheet_id, c, title) for c, title in plan.new_headers]
    found = found_rules(grid.sheet_id) if look.highlights and not new_sheet else []
    first += req.look_requests(grid.sheet_id, look, new_sheet, found)
    changed_base = req.changed_rows(snap.base_rows, base_rows, base_cols)
    final_base = {}
    if 0 in changed_base and encoded is not None and encoded.closing is not None:
        # the new slots go first (runs' base rows name them), the new read state last (see batches)
        final_base[0] = changed_base[0]
        early = encoded.body[0]
        span = max(len(early), len(final_base[0]))  # each as wide as the row it replaces, so nothing is left behind
        changed_base[0] = early + [None] * (span - len(early))
        final_base[0] = final_base[0] + [None] * (span - len(final_base[0]))
    owner = req.owners(base_rows, changed_base)
    ids_of_rows = dict(zip(plan.run_rows.values(), plan.run_rows.keys()))  # at C speed: 100,000 runs, few rows
    by_row: dict[int, list] = {}
    for update in plan.updates:
        by_row.setdefault(update[0], []).append(update)
    updates = ((ids_of_rows.get(r, ""), req.updates(grid.sheet_id, cells, look.owned, plan.link_cols, plan.links))
               for r, cells in sorted(by_row.items()))
    placing = NewRows(grid.sheet_id, plan.insert_at, inserting,
                      lambda row: req.row_json(row, plan.link_cols, plan.links),
                      lambda start, end: [req.number_format(grid.sheet_id, c, pattern, start, end)
                                          for c, pattern in sorted(look.new_row_formats.items())])
    check = None
    if not new_sheet and snap.grid and plan.writes_cells:
        check = google_check.check(snap, rows_as_read, cols_as_read, plan, sorted(by_row), inserting)
    deletes = [req.delete_row(grid.sheet_id, r) for r in plan.deleted_after_inserts()]
    grid.rows -= len(deletes)
    return Write(snap.worksheet, grid, batches(first, updates, plan.new_rows, plan.new_run_ids, placing, grid.base_id,
                                               changed_base, owner, capabilities.request_bytes, deletes, final_base),
                 check, len(plan.new_rows) + len(by_row),
                 base_rows[0] if base_rows else (snap.base_rows[0] if snap.base_rows else None))
