"""One sync: fetch runs -> read the sheet -> merge -> apply -> report. The command line and the loop both call it."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .columns import HeaderRules, RunView, choose_headers, row_for, zone
from .config import Settings, Target
from .look import Look, LookRules, plan_look
from .merge import Counts, MergeSettings, Plan, header_after, key_text, merge
from .sinks import Snapshot

log = logging.getLogger("wandb_spreadsheet_sync")


class Source(Protocol):
    requests: int

    def fetch(self, target: Target, since: dt.datetime | None = None, progress: Callable | None = None) -> Any: ...


class Sink(Protocol):
    counts: Counter  # requests sent so far: "read", "write" (files are not requests: always empty)
    cell_form: Callable[[Any], Any] | None  # what the sink keeps of a value, when not the value itself
    styles: bool  # whether it keeps formats (a CSV does not)

    def read(self, worksheet: str) -> Snapshot: ...

    def apply(self, snap: Snapshot, plan: Plan, links: dict[str, str] | None = None,
              look: Look | None = None) -> None: ...


@dataclass
class State:
    """What the loop remembers between syncs: when each project was last read, and last read in full."""

    watermark: dict[str, dt.datetime] = field(default_factory=dict)
    last_full: dict[str, float] = field(default_factory=dict)

    def since(self, target: Target, settings: Settings, now: float) -> dt.datetime | None:
        last = self.last_full.get(target.path)
        if last is None or now - last >= settings.full_resync_hours * 3600:
            return None
        return self.watermark.get(target.path)


@dataclass
class TargetReport:
    target: Target
    counts: Counts
    runs_read: int
    pages: int
    full: bool
    dropped: list[str]
    plan: Plan
    look: Look | None = None


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
        return (f"{verb} {where}: {self.total('new')} new, {self.total('updated')} updated, "
                f"{self.total('kept_edits')} kept edits, {self.total('columns_added')} columns added, "
                f"{self.total('deleted_respected')} deleted rows respected; {requests}{self.seconds:.1f} s")


def sync(source: Source, sink: Sink, settings: Settings, state: State | None = None,
         progress: Callable[[int], None] | None = None, clock: Callable[[], float] = time.time) -> Report:
    state = state if state is not None else State()
    started = time.monotonic()
    counts_before = Counter(sink.counts)
    wandb_before = source.requests
    report = Report(dry_run=settings.dry_run)
    tz = zone(settings.timezone)
    rules = HeaderRules(fixed=settings.fixed_headers, dynamic=settings.dynamic, include=settings.include,
                        exclude=settings.exclude, max_columns=settings.max_columns)
    for target in settings.targets:
        now = clock()
        since = state.since(target, settings, now)
        fetched = source.fetch(target, since=since, progress=progress)
        runs = sorted(fetched.runs, key=lambda r: (r.created_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                                                   r.id))
        snap = sink.read(target.worksheet)
        views = [RunView(r) for r in runs]
        existing = [str(h) for h in (snap.grid[0] if snap.grid else []) if h not in (None, "")]
        choice = choose_headers(existing, views, rules)
        if choice.dropped:
            log.warning("MAX_COLUMNS (%d) left out %d columns: %s%s", settings.max_columns, len(choice.dropped),
                        ", ".join(choice.dropped[:10]), " ..." if len(choice.dropped) > 10 else "")
        headers = tuple(existing + choice.headers)
        rows = [row_for(v, headers, tz) for v in views]
        if sink.cell_form is not None:  # a CSV keeps text only: compare what it will hold
            rows = [{h: sink.cell_form(v) for h, v in row.items()} for row in rows]
        plan = merge(snap.grid, snap.base, rows, MergeSettings(headers=headers, order=settings.order))
        look = _look(snap, plan, rows, settings) if sink.styles else None
        if plan.has_changes and not settings.dry_run:
            sink.apply(snap, plan, {r.id: r.url for r in runs if r.url}, look)
        beats = [r.updated_at for r in runs if r.updated_at]
        if beats:
            state.watermark[target.path] = max([*beats, state.watermark.get(target.path, beats[0])])
        if fetched.full:
            state.last_full[target.path] = now
        report.targets.append(TargetReport(target, plan.counts, len(runs), fetched.pages, fetched.full,
                                           choice.dropped, plan, look))
    sent = sink.counts - counts_before
    report.sheets_reads, report.sheets_writes = sent["read"], sent["write"]
    report.wandb_requests = source.requests - wandb_before
    report.seconds = time.monotonic() - started
    _give_back_memory()
    return report


def _look(snap: Snapshot, plan: Plan, rows: list[dict], settings: Settings) -> Look:
    """What to format in this sync; what it remembers goes into the base, written with the data."""
    before = [key_text(h) for h in (snap.grid[0] if snap.grid else [])]
    rules = LookRules(number_formats=settings.number_formats, highlight=settings.highlight,
                      scale=settings.highlight_scale)
    look = plan_look(before, header_after(snap.grid, plan), {c for c, _ in plan.new_headers}, rows,
                     snap.base.look, rules)
    if look.memory != snap.base.look:
        plan.base.look = look.memory
        plan.base_changed = True
    return look


def _give_back_memory() -> None:
    """A loop runs for weeks: hand the memory a large sync freed back to the system instead of keeping
    the heap at its high-water mark until the next sync."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do


def describe(plan: Plan, limit: int = 20, look: Look | None = None) -> list[str]:
    """What a plan would change, for --dry-run."""
    lines = [f"add column {h!r}" for _, h in plan.new_headers]
    if look is not None:
        lines += [f"format column {s.header!r} as {s.number_format!r}" for s in look.setup if s.number_format]
        lines += [f"{'highlight the ' + h.goal + ' of' if h.goal else 'remove the highlight from'} column "
                  f"{h.header!r}" for h in look.highlights]
    lines += [f"row {r + 1}, column {c + 1}: write {v!r}" for r, c, v in plan.updates[:limit]]
    if len(plan.updates) > limit:
        lines.append(f"... and {len(plan.updates) - limit} more cells")
    lines += [f"add a row for run {run_id}" for run_id in plan.new_run_ids[:limit]]
    if len(plan.new_run_ids) > limit:
        lines.append(f"... and {len(plan.new_run_ids) - limit} more rows")
    return lines
