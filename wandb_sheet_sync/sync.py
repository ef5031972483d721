"""One sync, as named steps per target: read the sheet -> fetch -> build rows -> plan -> write. The command line and
the loop both call it."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import summaries
from .base import Base
from .columns import DERIVED, LISTED, HeaderRules, RunView, choose_headers, listed_cells, row_for, zone
from .config import Settings, Target
from .errors import OutcomeUnknown, SheetMoved
from .history import Wanted, headers as history_headers
from .layout import KEY, Layout, key_text
from .look import LookRules
from .merge import Counts, MergeSettings, Plan, merge
from .sinks import Sink, Snapshot
from .sources import Fetched, Need, Source
from .sources.increments import ReadState
from .summaries import Remembered, tab_title

log = logging.getLogger("wandb_spreadsheet_sync")

LARGE_SYNC = 5_000  # runs read in one sync: after one this large, the collector's full pass (_give_back_memory)


@dataclass
class SyncMemory:
    """What this process remembers between syncs, per target (a project into a worksheet: one project may go to two
    worksheets): the read state it last left (the base in the sheet is where that persists; this copy serves only
    where no base is written, --dry-run, or a person deleted it) and the summary tabs' facts (summaries.py)."""

    read_states: dict[Target, ReadState] = field(default_factory=dict)
    tabs: dict[Target, Remembered] = field(default_factory=dict)


@dataclass
class TargetReport:
    target: Target
    counts: Counts
    runs_read: int
    pages: int
    full: bool
    dropped: list[str]
    plan: Plan
    tabs: dict[str, Plan] = field(default_factory=dict)  # summary tab worksheet -> its plan


@dataclass
class Report:
    targets: list[TargetReport] = field(default_factory=list)
    seconds: float = 0.0
    sheets_reads: int = 0
    sheets_writes: int = 0
    wandb_requests: int = 0
    dry_run: bool = False

    def total(self, name: str) -> int:
        return sum(getattr(t.counts, name) for t in self.targets)

    def line(self) -> str:
        verb = "would write" if self.dry_run else "synced"
        where = ", ".join(f"{'run folders' if t.target.entity == 'local' else t.target.path} -> "
                          f"{t.target.worksheet}" for t in self.targets)
        requests = ""
        if self.sheets_reads or self.sheets_writes or self.wandb_requests:
            requests = (f"requests: {self.sheets_reads} sheet reads, {self.sheets_writes} sheet writes, "
                        f"{self.wandb_requests} W&B; ")
        tabs = [p.counts for t in self.targets for p in t.tabs.values()]
        summary = (f"summary tabs: {sum(c.new for c in tabs)} new rows, {sum(c.updated for c in tabs)} updated; "
                   if tabs else "")
        return (f"{verb} {where}: {self.total('new')} new, {self.total('updated')} updated, "
                f"{self.total('kept_edits')} kept edits, {self.total('columns_added')} columns added, "
                f"{self.total('deleted_respected')} deleted rows respected; {summary}{requests}{self.seconds:.1f} s")


def sync(source: Source, sink: Sink, settings: Settings, memory: SyncMemory | None = None,
         progress: Callable[[int], None] | None = None, clock: Callable[[], float] = time.time) -> Report:
    """One sync of every target. A sink that takes a write lease to write (sinks/google_lease.py) gives it back
    at the end, whatever happened (issue 23; `release` is an optional member of the sink contract).

    The objects the process held before the sync (wandb's and Google's modules, the clients: hundreds of thousands)
    are set aside from the cyclic collector for its length (gc.freeze, undone at its end): a sync that reads 100,000
    run ids allocates enough to start the collector's full passes, each of which walked all of them again (0.25 s
    of a 1 s sync of 1,000 changed runs in 100,000). Its own cycles are collected as before, and what it set aside
    is collected again from its end on."""
    gc.freeze()  # the process's objects aside from the collector, for the sync's length (the docstring)
    try:
        report = _sync_all(source, sink, settings, memory, progress, clock)
    finally:
        gc.unfreeze()
        release = getattr(sink, "release", None)
        if release is not None:
            release()
    # after unfreeze: the full pass of a large sync also reaches what it made garbage of the process's older objects
    _give_back_memory(full=sum(t.runs_read for t in report.targets) >= LARGE_SYNC)
    return report


def _sync_all(source: Source, sink: Sink, settings: Settings, memory: SyncMemory | None,
              progress: Callable[[int], None] | None, clock: Callable[[], float]) -> Report:
    started = time.monotonic()
    wandb_before = source.requests
    run = _Sync.of(source, sink, settings, memory if memory is not None else SyncMemory(), progress, clock)
    report = Report(dry_run=settings.dry_run)
    for target in settings.targets:
        report.targets.append(_sync_target(run, target))
    report.sheets_reads, report.sheets_writes = run.sent["read"], run.sent["write"]
    report.wandb_requests = source.requests - wandb_before
    report.seconds = time.monotonic() - started
    return report


@dataclass
class _Sync:
    """What every target of one sync shares: the clients, the settings and what follows from them (how headers are
    chosen, how cells look, the zone), the process's memory, and the sheet requests sent so far."""

    source: Source
    sink: Sink
    settings: Settings
    memory: SyncMemory
    rules: HeaderRules
    look: LookRules | None
    tz: Any
    progress: Callable[[int], None] | None
    clock: Callable[[], float]
    sent: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, source: Source, sink: Sink, settings: Settings, memory: SyncMemory,
           progress: Callable[[int], None] | None, clock: Callable[[], float]) -> "_Sync":
        rules = HeaderRules(fixed=tuple(dict.fromkeys(key_text(h) for h in settings.fixed_headers)),
                            derived=history_headers(Wanted.of(settings)), dynamic=settings.dynamic,
                            include=settings.include, exclude=settings.exclude, max_columns=settings.max_columns)
        look = LookRules(number_formats=settings.number_formats, highlight=settings.highlight,
                         scale=settings.highlight_scale) if sink.capabilities.styles else None
        return cls(source, sink, settings, memory, rules, look, zone(settings.timezone), progress, clock)


@dataclass
class _Rows:
    """The runs tab's incoming rows, built from one fetch."""

    headers: tuple[str, ...]
    rows: list[dict]  # runs read in full
    partial: list[dict]  # runs only listed (UI fields), and runs gone (their state)
    partial_ids: set[str]
    stamped_unchanged: set[str]  # runs whose stamps say W&B did not change them: a rewrite of theirs is a sign
    dropped: list[str]  # keys MAX_COLUMNS left out
    links: dict[str, str]  # run id -> its W&B page


def _sync_target(run: _Sync, target: Target) -> TargetReport:
    """One target: read the sheet (by need, where the sink can), fetch, then for each part of what W&B brought
    (the whole of it, or each page of a full read that streams) build rows, read the rows they merge, plan and
    write (with at most one re-plan)."""
    settings, memory = run.settings, run.memory
    titles = [target.worksheet] + [tab_title(target.worksheet, kind) for kind in settings.summaries]
    # The sheet first: its base says what was read last time and which runs it holds, its headers which keys to ask
    # W&B for. (A person acting between this read and the write is caught by the sink's check.)
    snaps = _read_sheet(run, titles)
    existing = Layout.of(snaps[0].grid).named
    stored = _stored_read_state(snaps[0], memory.read_states.get(target))
    for_tabs = summaries.need_every_run(settings.summaries, memory.tabs.get(target), stored)
    asking = stored.asking_full() if for_tabs else stored
    if any(h in LISTED and h not in existing for h in run.rules.fixed):
        asking = asking.asking_scan()  # a column the listing fills (group, notes...) is new: fill it for every run
    fetched = _fetch(run, target, snaps, asking, existing)
    done = _Done(target)
    for part in _parts(fetched):
        if part.last:
            done.read_state = _state_to_keep(stored, fetched.read_state, for_tabs)
        runs = sorted(part.runs, key=lambda r: (r.created_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                                                r.id))
        done.runs_read += len(runs)
        views = [RunView(r) for r in runs]
        if settings.summaries:
            memory.tabs[target] = summaries.remember(memory.tabs.get(target), fetched, runs, views, settings.summaries,
                                                     settings.group_metrics, lambda ids: run.source.sweeps(target, ids))
        links = {r.id: r.url for r in runs if r.url}
        del runs, part.runs  # a page's W&B JSON is let go before its rows are built, and their views before the merge
        incoming = _build_rows(run, part, views, Layout.of(snaps[0].grid).named, links)
        del views
        snaps = _plan_and_write(run, target, titles, snaps, incoming, done, part.last)
    if done.read_state is not None:
        memory.read_states[target] = done.read_state
    return TargetReport(target, done.counts, done.runs_read, fetched.pages, fetched.full, done.dropped, done.plans[0],
                        dict(zip(titles[1:], done.plans[1:])))


@dataclass
class _Part:
    """What one part of a fetch brings to merge: runs read in full, and with the last part the runs only listed,
    the runs gone and the read state (a full read that streams comes in a part a page; any other in one part)."""

    runs: list
    unchanged: frozenset[str]
    listed: list = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    last: bool = True


def _parts(fetched: Fetched) -> Iterator[_Part]:
    """The fetch in parts: one, or a part a page (one page ahead, so the last page carries what the end of the
    read brings: the listed runs, the runs gone, the read state)."""
    pages = fetched.pages_of_runs
    if pages is None:
        part = _Part(fetched.runs, fetched.unchanged, fetched.listed, fetched.deleted)
        fetched.runs = []  # the sync's only hold on them is the part, let go once its rows are built
        yield part
        return
    held = None
    for chunk in pages:
        if held is not None:
            yield _Part(held.runs, held.unchanged, last=False)
        held = chunk
    yield _Part(held.runs if held else [], held.unchanged if held else frozenset(), fetched.listed, fetched.deleted)


@dataclass
class _Done:
    """What a target's parts added up to."""

    target: Target
    counts: Counts = field(default_factory=Counts)
    runs_read: int = 0
    dropped: list[str] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    read_state: ReadState | None = None  # to store with the last part
    unstamped: bool = False  # a part's plan showed W&B changing runs without moving their updatedAt

    def add(self, plans: list[Plan], dropped: list[str]) -> None:
        for name, value in vars(plans[0].counts).items():
            setattr(self.counts, name, getattr(self.counts, name) + value)
        self.plans = plans
        self.dropped += [d for d in dropped if d not in self.dropped]


def _read_sheet(run: _Sync, titles: list[str]) -> list[Snapshot]:
    """The worksheets as the sink reads them: by need where it can (the runs tab's head; `fill` reads the rest)."""
    snaps = run.sink.read(titles, by_need=True) if _reads_by_need(run.sink) else run.sink.read(titles)
    run.sent += snaps[0].requests
    return snaps


def _reads_by_need(sink: Sink) -> bool:
    return callable(getattr(sink, "fill", None))


def _fill(run: _Sync, snap: Snapshot, ids) -> None:
    """Reads into a Snapshot read by need the rows of these runs (None: every row)."""
    if not snap.complete:
        run.sent += run.sink.fill(snap, ids)


def _stored_read_state(sheet: Snapshot, remembered: ReadState | None) -> ReadState:
    """What was read last time: the sheet's base says, else what this process remembers (--dry-run writes no base,
    and a person may delete it)."""
    if sheet.base.read_state:
        return ReadState.from_json(sheet.base.read_state)
    return remembered or ReadState()


def _fetch(run: _Sync, target: Target, snaps: list[Snapshot], state: ReadState, existing: list[str]) -> Fetched:
    """Asks the source for what the sheet and its tabs need, given what was read last time. The run ids the base
    holds are read only if the source asks (a listing of every run, a full read); a full read streams page by page
    where the sink reads by need and nothing needs every run at once (summary tabs, --dry-run)."""
    settings = run.settings
    tab_headers = summaries.tab_headers(run.memory.tabs.get(target), settings.group_metrics) \
        if settings.summaries else ()

    def known() -> frozenset[str]:
        _fill(run, snaps[0], ())
        return frozenset(snaps[0].base.runs)

    stream = _reads_by_need(run.sink) and not settings.summaries and not settings.dry_run
    need = Need(state, known, tuple(dict.fromkeys((*run.rules.fixed, *existing))), run.clock(), tab_headers, stream)
    return run.source.fetch(target, need, progress=run.progress)


def _state_to_keep(stored: ReadState, read: ReadState | None, for_tabs: bool) -> ReadState | None:
    """The read state to store after this fetch: the source's, but a read made for the summary tabs alone keeps
    the sheet's schedule (ReadState.for_tabs_only)."""
    if read is not None and for_tabs:
        return stored.for_tabs_only(read)
    return read


def _build_rows(run: _Sync, part: _Part, views: list[RunView], existing: list[str], links: dict[str, str]) -> _Rows:
    """The incoming rows under the headers the sheet will have: existing ones, then new keys (MAX_COLUMNS)."""
    settings = run.settings
    choice = choose_headers(existing, views, run.rules)
    headers = tuple(existing + choice.headers)
    gone = part.deleted if settings.deleted_runs == "mark" else []
    partial = [listed_cells(r, headers, run.tz) for r in part.listed] + \
        [{KEY: run_id, "state": "deleted"} for run_id in gone]
    partial_ids = {row[KEY] for row in partial}
    if choice.dropped:
        # Every column is named: a value left out of the sheet is never left out of the log (issue 22).
        log.warning("MAX_COLUMNS (%d) left out %d columns (raise MAX_COLUMNS, or narrow DYNAMIC_HEADERS with "
                    "include/exclude globs): %s", settings.max_columns, len(choice.dropped), ", ".join(choice.dropped))
    return _Rows(headers, [row_for(v, headers, run.tz) for v in views], partial, partial_ids,
                 (partial_ids - set(gone)) | part.unchanged, choice.dropped,
                 links)


def _plan_and_write(run: _Sync, target: Target, titles: list[str], snaps: list[Snapshot], incoming: _Rows,
                    done: _Done, last: bool) -> list[Snapshot]:
    """Plans every worksheet of the target and writes those that change; a write the sink could not confirm, or
    one a person moved the sheet under, is planned once more on a fresh read of the sheet. A sheet read by need
    first reads the rows of the runs coming in (and, for a plan that writes cells, where its rows and columns
    go). Only the last part of a fetch stores the read state (the base's closing row): the state never says a run
    was read before every part is in. Gives the snapshots to plan the next part on (the sink keeps them in step
    with its write)."""
    settings, caps = run.settings, run.sink.capabilities
    merging = MergeSettings(headers=incoming.headers, order=settings.order, max_columns=caps.max_columns,
                            cell_form=caps.cell_form, look=run.look)
    ids = {row[KEY] for row in (*incoming.rows, *incoming.partial)}
    for attempt in (1, 2):
        try:
            if ids:
                _fill(run, snaps[0], ids)
            plan = _plan_runs_tab(run, target, snaps[0], incoming, merging, done, last)
            if plan.writes_cells and not snaps[0].complete and not ids:  # new columns: where they go
                _fill(run, snaps[0], ())
                plan = _plan_runs_tab(run, target, snaps[0], incoming, merging, done, last)
            plans = [plan]
            if settings.summaries:
                plans += summaries.plan_tabs(settings.summaries, snaps[1:], run.memory.tabs[target], settings, caps,
                                             run.tz)
            changes = [(snap, p) for snap, p in zip(snaps, plans) if p.has_changes]
            if changes and not settings.dry_run:
                run.sent += run.sink.apply(changes)
            break
        except (OutcomeUnknown, SheetMoved) as exc:  # read what is there now, and plan the rest again
            if attempt == 2:
                raise
            log.debug("%s; reading the sheet again before writing", exc.message)
            snaps = _read_sheet(run, titles)
    done.add(plans, incoming.dropped)
    return snaps


def _plan_runs_tab(run: _Sync, target: Target, sheet: Snapshot, incoming: _Rows, merging: MergeSettings,
                   done: _Done, last: bool) -> Plan:
    """The runs tab's plan; with the last part, the read state it stores: one that now knows W&B changes runs
    without moving their updatedAt, if this part's plan or an earlier one's showed it."""
    rows = incoming.rows + incoming.partial
    read_state = done.read_state if last else None
    plan = merge(sheet.grid, sheet.base, rows, merging, incoming.links, incoming.partial_ids, read_state)
    if not done.unstamped and _changed_unstamped(plan, sheet.base, incoming.stamped_unchanged,
                                                 set(DERIVED) | set(run.rules.derived)):
        done.unstamped = True
        log.warning("W&B changed runs without moving their updatedAt: every sync of %s now reads it in full",
                    target.path)
    if read_state is not None and done.unstamped and read_state.updated_moves:
        # the plan writes cells: its base is written with them, holding the new state
        done.read_state = read_state.with_stale_stamps()
        plan = merge(sheet.grid, sheet.base, rows, merging, incoming.links, incoming.partial_ids, done.read_state)
    return plan


def _changed_unstamped(plan: Plan, base: Base, listed: set[str], settled: set[str]) -> bool:
    """Whether the plan rewrites a cell the tool had written before, of a run W&B listed as unchanged (its
    updatedAt had not moved). A cell written for the first time (a column just added) proves nothing, nor does one
    that a setting changes (columns.DERIVED) or that sampled history may redraw (HISTORY, CURVES)."""
    run_of = {plan.run_rows[run_id]: run_id for run_id in listed if run_id in plan.run_rows}
    keys = plan.layout.keys
    return any(r in run_of and c < len(keys) and keys[c] not in settled and keys[c] in base.runs.get(run_of[r], {})
               for r, c, _ in plan.updates)


def _give_back_memory(full: bool) -> None:
    """A loop runs for weeks: hand the memory a large sync freed back to the system instead of keeping
    the heap at its high-water mark until the next sync. The collector's full pass only after a large sync, of
    LARGE_SYNC runs read or more, full read or not: a small one frees its objects as it drops them, and the pass
    walks every object the process holds (half a second in a process holding much, after every sync of ten runs)."""
    if full:
        gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do


def describe(plan: Plan, limit: int = 20) -> list[str]:
    """What a plan would change, for --dry-run."""
    lines = [f"add column {h!r}" for _, h in plan.new_headers]
    look = plan.look
    if look is not None:
        lines += [f"format column {s.header!r} as {s.number_format!r}" for s in look.setup if s.number_format]
        lines += [f"{'highlight the ' + h.goal + ' of' if h.goal else 'remove the highlight from'} column "
                  f"{h.header!r}" for h in look.highlights]
    lines += [f"row {r + 1}, column {c + 1}: write {v!r}" for r, c, v in plan.updates[:limit]]
    if len(plan.updates) > limit:
        lines.append(f"... and {len(plan.updates) - limit} more cells")
    what = "run" if plan.layout.key == KEY else plan.layout.key
    lines += [f"add a row for {what} {run_id}" for run_id in plan.new_run_ids[:limit]]
    if len(plan.new_run_ids) > limit:
        lines.append(f"... and {len(plan.new_run_ids) - limit} more rows")
    return lines
