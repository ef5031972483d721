"""The three-way merge: sheet as read, base, rows from W&B -> a Plan of writes that loses no hand edit.

Pure: it sees lists and dicts, never a worksheet. Rows are matched by run id, never by position. For each
managed cell: sheet == base and W&B changed -> write W&B's value; sheet != base -> a person's edit, kept;
no base (adopting a sheet) -> equal after normalisation is adopted, empty is filled, anything else is kept.
A run with a base but no row was deleted by a person and stays deleted; rows without a run id and manual
columns are never touched. Every write names an absolute position, so applying a plan twice is harmless.
A run id in several rows that hold only what the tool wrote (a write that landed twice) keeps its first row
and the others are deleted; if any of them holds a person's typing, nothing is written and the error says
which rows to fix.
"""

from __future__ import annotations

import datetime as dt
import marshal
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, AbstractSet, Any, Callable, Mapping

from .base import Base, fingerprint, is_blank, loosely_equal, row_digest, serial_days
from .columns import SHEETS_MAX_COLUMNS
from .errors import SheetLayoutError
from .layout import KEY, Layout, key_text
from .look import Look, LookRules, plan_look

if TYPE_CHECKING:
    from .sources.increments import ReadState

MAX_CELLS = 10_000_000


@dataclass
class Counts:
    new: int = 0
    updated: int = 0  # existing rows with at least one cell rewritten
    cells_written: int = 0
    kept_edits: int = 0
    deleted_respected: int = 0
    columns_added: int = 0
    adopted: int = 0  # cells with no base that equal W&B's value (issue 23: said when a base is lost)
    filled: int = 0  # empty cells with no base, filled
    kept_unknown: int = 0  # cells with no base that differ from W&B: kept as a person's (part of kept_edits)


@dataclass
class Plan:
    """Writes in absolute grid positions (row 0 is the header row), the layout they assume, and the base and
    look to store with them: everything a sink needs to apply a sync, and nothing it must look up again."""

    layout: Layout  # the header row once the plan is applied
    width: int = 0  # columns in use after the plan (a data row may reach past the header)
    new_headers: list[tuple[int, str]] = field(default_factory=list)  # (column, header)
    updates: list[tuple[int, int, Any]] = field(default_factory=list)  # (row, column, value)
    insert_at: int = 0  # where new rows go: the end of the grid, or 1 for newest_first
    new_rows: list[list[Any]] = field(default_factory=list)  # full-width rows, in sheet order
    new_run_ids: list[str] = field(default_factory=list)
    run_rows: dict[str, int] = field(default_factory=dict)  # run id -> its row in the grid as read
    delete_rows: list[int] = field(default_factory=list)  # rows as read that repeat a run, only the tool's cells
    links: dict[str, str] = field(default_factory=dict)  # cell text -> W&B page, for written cells in link_cols
    link_cols: frozenset[int] = frozenset()  # columns whose written cells link (the key; a tab's best run)
    look: Look | None = None  # formats and highlight rules, for a sink that keeps styles
    base: Base = field(default_factory=Base)
    base_changed: bool = False
    counts: Counts = field(default_factory=Counts)

    @property
    def writes_cells(self) -> bool:
        return bool(self.new_headers or self.updates or self.new_rows or self.delete_rows)

    def deleted_after_inserts(self) -> list[int]:
        """delete_rows as they stand once the new rows are in, from the bottom up (each deletion leaves the
        rows above it where they were)."""
        shift = len(self.new_rows)
        return sorted((r + shift if r >= self.insert_at else r for r in self.delete_rows), reverse=True)

    @property
    def has_changes(self) -> bool:
        return self.writes_cells or self.base_changed

    def rows_after(self, grid_rows: int) -> int:
        return max(grid_rows, 1) + len(self.new_rows)


@dataclass(frozen=True)
class MergeSettings:
    headers: tuple[str, ...]  # every header the sheet should have, in order; missing ones go at the right
    order: str = "append"  # or "newest_first": new rows right under the header
    key: str = KEY
    max_columns: int = SHEETS_MAX_COLUMNS  # the sink's limit
    cell_form: Callable[[Any], Any] | None = None  # what the sink keeps of a value, when not the value (CSV: text)
    look: LookRules | None = None  # None: the sink keeps no styles, so nothing is formatted or remembered
    link_headers: tuple[str, ...] = ()  # columns besides the key whose cells link to the page `links` names


def _rows_of_runs(grid: list[list[Any]], layout: Layout, base: Base, managed: set[str]
                  ) -> tuple[dict[str, int], list[int]]:
    """The row of every run id, and the extra rows to delete: a run id found in several rows that all hold
    only what the tool wrote there is the tool's own doing (a write it could not confirm, landed twice), and
    all but the first go. Rows holding a person's typing are never guessed about: that raises, as does a
    sheet with no run-id column."""
    key_col = layout.key_col
    if key_col is None:
        has_data = any(any(c not in (None, "") for c in row) for row in grid[1:])
        if has_data or layout.named:
            raise SheetLayoutError(
                f"The sheet has data but no {layout.key!r} column, so rows cannot be matched to runs.",
                f"Add a column headed {layout.key!r} holding each row's W&B run id (or sync into an empty "
                "worksheet); nothing was written.")
        return {}, []
    # Every row's run id at C speed where it can be (100,000 rows, of which a sync merges a few hundred): text, the
    # common case, without a call; the first row of each id wins.
    ids = [(row[key_col].strip() if row[key_col].__class__ is str else key_text(row[key_col]))
           if key_col < len(row) else "" for row in grid[1:]]
    row_of = dict(zip(reversed(ids), range(len(ids), 0, -1)))
    row_of.pop("", None)
    if len(row_of) == len(ids) - ids.count(""):
        return row_of, []  # no run id in two rows
    rows: dict[str, list[int]] = {}
    for r, run_id in enumerate(ids, start=1):
        if run_id:
            rows.setdefault(run_id, []).append(r)
    extra: list[int] = []
    for run_id, found in rows.items():
        if len(found) > 1:
            cells = base.runs.get(run_id) if run_id in base.runs else None
            if cells is None or not all(_only_the_tools(grid[r], layout, cells, managed) for r in found):
                raise SheetLayoutError(
                    f"Run id {run_id!r} appears twice, in rows {found[0] + 1} and {found[1] + 1}.",
                    "Delete one of the two rows (or clear its run id); nothing was written.")
            extra += found[1:]
        row_of[run_id] = found[0]
    return row_of, sorted(extra)


def _only_the_tools(row: list[Any], layout: Layout, cells: dict[str, int], managed: set[str]) -> bool:
    """Whether a row holds nothing but what the tool last wrote for its run (no person's typing in it)."""
    for c, value in enumerate(row):
        h = layout.keys[c] if c < len(layout.keys) else ""
        if h == layout.key or is_blank(value):
            continue
        if h not in managed or cells.get(h) != fingerprint(value):
            return False
    return True


def merge(grid: list[list[Any]], base: Base, incoming: list[dict[str, Any]], settings: MergeSettings,
          links: Mapping[str, str] | None = None, partial: AbstractSet[str] = frozenset(),
          read_state: ReadState | None = None) -> Plan:
    """The plan for one worksheet; links (run id -> W&B page) travel with it for the new rows.
    partial: run ids whose incoming row holds only some of the run's cells (what a listing of the project
    carries, or a deleted run's state): merged cell by cell like any row, but never appended as a new row and
    never given a row digest. read_state: what the source needs next time, stored in the base (None: unchanged)."""
    plan = _plan_columns(grid, base, settings)
    if settings.cell_form is not None:  # compare what the sink will hold, not what W&B sent
        form = settings.cell_form
        incoming = [{h: form(v) for h, v in row.items()} for row in incoming]
    managed = _managed_headers(plan.layout.col_of, base, incoming, settings.key)
    new_base = base.copy()  # run dicts are copied only when they change; stored rows stay packed
    changed = _merge_rows(grid, base, incoming, partial, managed, settings.key, plan, new_base)
    _place_new_rows(plan, grid, settings.order)
    _link_written_cells(plan, settings, links)
    if read_state is not None and read_state.to_json() != base.read_state:
        new_base.read_state = read_state.to_json()
        changed = True
    plan.base, plan.base_changed = new_base, changed
    if settings.look is not None:
        plan.look = plan_look(plan.layout, {c for c, _ in plan.new_headers}, incoming, base.look, settings.look)
        if plan.look.memory != base.look:  # remembered in the base, so it is written with the data
            new_base.look = plan.look.memory
            plan.base_changed = True
    return plan


def _plan_columns(grid: list[list[Any]], base: Base, settings: MergeSettings) -> Plan:
    """The plan's frame: where each run's row is, the rows to delete, and the new headers at the right of the
    columns in use (the sink's limit holds)."""
    as_read = Layout.of(grid, settings.key)
    row_of, extra_rows = _rows_of_runs(grid, as_read, base, set(base.headers()))
    width = max((len(r) for r in grid), default=0)
    new_headers: list[tuple[int, str]] = []
    next_col = width if as_read.named else 0
    for h in settings.headers:
        if key_text(h) not in as_read.col_of:
            new_headers.append((next_col, h))
            next_col += 1
    plan = Plan(as_read.with_columns(new_headers), max(width, next_col), new_headers, run_rows=row_of,
                delete_rows=extra_rows)
    plan.counts.columns_added = len(plan.new_headers)
    if plan.width > settings.max_columns:
        raise SheetLayoutError(f"The sheet would need {plan.width} columns; this sink allows "
                               f"{settings.max_columns}.", "Lower MAX_COLUMNS or exclude keys with DYNAMIC_HEADERS.")
    return plan


def _managed_headers(col_of: Mapping[str, int], base: Base, incoming: list[dict[str, Any]], key: str) -> set[str]:
    """The columns the tool owns: those its base names, and a header once any run has a value for it."""
    base_headers = set(base.headers())
    managed = {h for h in col_of if h in base_headers}
    candidates = set(col_of) - managed
    for row in incoming:
        if not candidates:
            break
        for h in [h for h in candidates if row.get(h) is not None]:
            managed.add(h)
            candidates.discard(h)
    managed.add(key)
    return managed


class _RowShapes:
    """Per-row work shared by rows with the same headers (most rows): their sorted order and the sheet's cells at
    their columns, built once."""

    def __init__(self, col_of: Mapping[str, int]):
        self.col_of = col_of
        self.orders: dict[tuple, tuple] = {}  # a row's headers -> (the same sorted, a getter of their values)
        self.pickers: dict[tuple, Callable] = {}

    def digest_key(self, cells: dict[str, Any]) -> bytes | None:
        headers, values_of = self.orders.get(tuple(cells)) or self.orders.setdefault(tuple(cells), _in_order(cells))
        return _exact(headers, values_of(cells))

    def sheet_key(self, cells: dict[str, Any], sheet_row: list[Any]) -> bytes | None:
        headers, _ = self.orders[tuple(cells)]
        pick = self.pickers.get(headers) or self.pickers.setdefault(headers, _picker([self.col_of[h] for h in headers]))
        return _exact(headers, pick(sheet_row))


def _merge_rows(grid: list[list[Any]], base: Base, incoming: list[dict[str, Any]], partial: AbstractSet[str],
                managed: set[str], key: str, plan: Plan, new_base: Base) -> bool:
    """Every incoming row into the plan: a known run's row cell by cell, a new run's as a new row, a run whose row a
    person deleted not at all. Whether the base changed."""
    shapes = _RowShapes(plan.layout.col_of)
    touched_rows: set[int] = set()
    changed = False
    for row in incoming:
        run_id = key_text(row.get(key))
        if not run_id:
            continue
        is_partial = run_id in partial
        if is_partial and run_id not in plan.run_rows:
            continue  # a listing never makes a row; a row a person deleted stays deleted
        if row.keys() <= managed:
            cells = dict(row)
            cells.pop(key, None)
        else:
            cells = {h: v for h, v in row.items() if h in managed and h != key}
        if run_id in plan.run_rows:
            r = plan.run_rows[run_id]
            wrote, base_changed = _merge_known_row(grid[r], r, run_id, cells, is_partial, base, new_base, plan, shapes)
            changed |= base_changed
            if wrote:
                touched_rows.add(r)
        elif run_id in base.runs:
            plan.counts.deleted_respected += 1
        else:
            _add_new_row(run_id, cells, key, new_base, plan, shapes)
            changed = True
    plan.counts.updated = len(touched_rows)
    return changed


def _merge_known_row(sheet_row: list[Any], r: int, run_id: str, cells: dict[str, Any], is_partial: bool,
                     base: Base, new_base: Base, plan: Plan, shapes: _RowShapes) -> tuple[bool, bool]:
    """One run already in the sheet: (whether a cell was written, whether its base changed)."""
    digest_key = None if is_partial else shapes.digest_key(cells)
    if digest_key is not None and base.digests.get(run_id) == row_digest(digest_key) and \
            shapes.sheet_key(cells, sheet_row) == digest_key:
        return False, False  # the whole row is as the tool last confirmed it: nothing to do
    written_before, kept_before = plan.counts.cells_written, plan.counts.kept_edits
    stored = base.runs.get(run_id, {})
    run_base = dict(stored)
    _merge_row(sheet_row, r, cells, plan.layout.col_of, run_base, plan)
    changed = False
    if run_base != stored or run_id not in base.runs:
        new_base.runs[run_id] = run_base
        changed = True
    wrote = plan.counts.cells_written > written_before
    digest = row_digest(digest_key) if plan.counts.kept_edits == kept_before and digest_key is not None else None
    if is_partial and not wrote:
        pass  # the row's digest is of its whole row: a partial row that wrote nothing leaves it be
    elif new_base.digests.get(run_id) != digest:
        if digest is None:
            # A stale digest is harmless (the shortcut also compares the sheet's cells), so dropping one is not
            # worth a write of its own: a person's edit would otherwise cost a write after it.
            new_base.digests.pop(run_id, None)
        else:
            new_base.digests[run_id] = digest
            changed = True
    return wrote, changed


def _add_new_row(run_id: str, cells: dict[str, Any], key: str, new_base: Base, plan: Plan,
                 shapes: _RowShapes) -> None:
    """A run new to the sheet: a full-width row, and its fingerprints and digest in the base."""
    full = [None] * plan.width
    col_of = plan.layout.col_of
    for h, v in cells.items():
        full[col_of[h]] = v
    full[col_of[key]] = run_id
    plan.new_rows.append(full)
    plan.new_run_ids.append(run_id)
    new_base.add_new(run_id, {h: fingerprint(v) for h, v in cells.items()})
    digest_key = shapes.digest_key(cells)
    if digest_key is not None:
        new_base.digests[run_id] = row_digest(digest_key)
    plan.counts.new += 1


def _place_new_rows(plan: Plan, grid: list[list[Any]], order: str) -> None:
    if order == "newest_first":
        plan.insert_at = 1
        plan.new_rows.reverse()  # W&B order is oldest first; the newest goes right under the header
        plan.new_run_ids.reverse()
    else:
        plan.insert_at = max(len(grid), 1)


def _link_written_cells(plan: Plan, settings: MergeSettings, links: Mapping[str, str] | None) -> None:
    """The link columns (the key, and a tab's link headers) and the page of each cell the plan writes in them."""
    col_of = plan.layout.col_of
    plan.link_cols = frozenset(col_of[h] for h in (settings.key, *settings.link_headers) if h in col_of)
    if links:
        written = [row[c] for row in plan.new_rows for c in plan.link_cols if c < len(row)]
        written += [v for _, c, v in plan.updates if c in plan.link_cols]
        plan.links = {v: links[v] for v in written if isinstance(v, str) and v in links}


def _in_order(cells: dict[str, Any]) -> tuple[tuple[str, ...], Callable[[dict], tuple]]:
    """A row's headers sorted by name, and a getter of its values in that order: the row digest must not
    change when a person moves columns (it would then be rewritten for every run)."""
    headers = tuple(sorted(cells))
    if not headers:
        return headers, lambda d: ()
    get = itemgetter(*headers)
    return headers, (get if len(headers) > 1 else lambda d: (get(d),))


def _picker(cols: list[int]) -> Callable[[list], tuple]:
    """Cells of a sheet row at these columns, None past its end (reads trim trailing empty cells)."""
    if not cols:
        return lambda row: ()
    get = itemgetter(*cols)
    last = max(cols)

    def pick(row: list) -> tuple:
        if len(row) <= last:
            row = list(row) + [None] * (last + 1 - len(row))
        got = get(row)
        return got if len(cols) > 1 else (got,)

    return pick


def _exact(headers: tuple, values) -> bytes | None:
    """The exact bytes of a row's values, types included (True is not 1, 3 is not 3.0), with empty text
    as None and date-times as serial days, as a sheet gives them back. None when a value has no such form.
    Written for speed: the common row (numbers and text) never goes through a Python-level loop."""
    vals = tuple(values)
    types = set(map(type, vals))
    if dt.datetime in types:  # a few per row: found by C-level list.index, not a Python loop
        fixed, kinds, i = list(vals), list(map(type, vals)), -1
        while dt.datetime in kinds[i + 1:]:
            i = kinds.index(dt.datetime, i + 1)
            fixed[i] = serial_days(vals[i])
        vals = tuple(fixed)
    if str in types and "" in vals:
        vals = tuple(None if v == "" else v for v in vals)
    try:
        return marshal.dumps((headers, vals), 2)
    except ValueError:
        return None


def _merge_row(sheet_row: list[Any], r: int, cells: dict[str, Any], col_of: dict[str, int],
               run_base: dict[str, int], plan: Plan) -> None:
    for h, new in cells.items():
        c = col_of[h]
        current = sheet_row[c] if c < len(sheet_row) else None
        fp_new = fingerprint(new)
        same_as_new = type(current) is type(new) and current == new
        fp_sheet = fp_new if same_as_new else fingerprint(current)
        fp_base = run_base.get(h)
        if fp_base is None:  # adopting: no record of writing this cell
            if fp_sheet == fp_new:
                run_base[h] = fp_new
                plan.counts.adopted += 1
            elif is_blank(current) or loosely_equal(current, new):
                plan.updates.append((r, c, new))
                plan.counts.cells_written += 1
                run_base[h] = fp_new
                if is_blank(current):
                    plan.counts.filled += 1
                else:
                    plan.counts.adopted += 1
            else:  # a person's value: remembered as an edit of W&B's, so clearing it later is an edit too
                plan.counts.kept_edits += 1
                plan.counts.kept_unknown += 1
                run_base[h] = fp_new
        elif fp_sheet == fp_base:
            if fp_new != fp_base:
                plan.updates.append((r, c, new))
                plan.counts.cells_written += 1
                run_base[h] = fp_new
        elif fp_sheet == fp_new:  # a person typed what W&B now says: in step again
            run_base[h] = fp_new
        else:
            plan.counts.kept_edits += 1


def apply(grid: list[list[Any]], plan: Plan) -> list[list[Any]]:
    """The grid after the plan, as a sheet applies it: headers, then updates, then the new rows.
    Local sinks write this; tests use it as the simulated sheet."""
    out = [list(row) for row in grid] or [[]]

    def put(r: int, c: int, value: Any) -> None:
        row = out[r]
        if c >= len(row):
            row.extend([None] * (c + 1 - len(row)))
        row[c] = value

    for c, h in plan.new_headers:
        put(0, c, h)
    for r, c, v in plan.updates:
        put(r, c, v)
    out[plan.insert_at:plan.insert_at] = [list(row) for row in plan.new_rows]
    for r in plan.deleted_after_inserts():
        del out[r]
    return out
