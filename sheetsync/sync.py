"""One sync: fetch runs -> read the sheet -> merge -> apply -> report. The command line and the loop both call it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .base import Base
from .columns import DERIVED, HeaderRules, RunView, choose_headers, listed_row, row_for, zone
from .config import Settings, Target
from .errors import OutcomeUnknown, SheetMoved
from .history import Wanted, headers as history_headers
from .layout import KEY, Layout, key_text
from .look import LookRules
from .merge import Counts, MergeSettings, Plan, merge
from .run import Sweep
from .sinks import Sink
from .sources import Need
from .summaries import Remembered, facts_of, groups_tab, sweeps_tab, tab_title

log = logging.getLogger("wandb_spreadsheet_sync")


class Source(Protocol):
    requests: int

    def fetch(self, target: Target, need: Need | None = None, progress: Callable | None = None) -> Any: ...

    def sweeps(self, target: Target, ids: set[str]) -> dict[str, Sweep]:
        """What the source knows of these sweeps (at most one request each, cached where it can be)."""
        ...


@dataclass
class ReadHistory:
    """The read state of each target (a project into a worksheet: one project may go to two worksheets) as this
    process last left it. The base in the sheet is where it persists; this copy serves only where no base is
    written (--dry-run) or a person deleted it."""

    states: dict[Target, dict] = field(default_factory=dict)
    summaries: dict[Target, Remembered] = field(default_factory=dict)  # facts for the summary tabs (summaries.py)


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


def sync(source: Source, sink: Sink, settings: Settings, history: ReadHistory | None = None,
         progress: Callable[[int], None] | None = None, clock: Callable[[], float] = time.time) -> Report:
    history = history if history is not None else ReadHistory()
    started = time.monotonic()
    wandb_before = source.requests
    sent: Counter = Counter()
    report = Report(dry_run=settings.dry_run)
    tz = zone(settings.timezone)
    caps = sink.capabilities
    rules = HeaderRules(fixed=tuple(dict.fromkeys(key_text(h) for h in settings.fixed_headers)),
                        derived=history_headers(Wanted.of(settings)), dynamic=settings.dynamic,
                        include=settings.include, exclude=settings.exclude, max_columns=settings.max_columns)
    look = LookRules(number_formats=settings.number_formats, highlight=settings.highlight,
                     scale=settings.highlight_scale) if caps.styles else None
    for target in settings.targets:
        # The sheet first: its base says what was read last time and which runs it holds, its headers which keys
        # to ask W&B for. (A person acting between this read and the write is caught by the sink's check.)
        titles = [target.worksheet] + [tab_title(target.worksheet, kind) for kind in settings.summaries]
        snaps = sink.read(titles)
        sent += snaps[0].requests
        existing = Layout.of(snaps[0].grid).named
        state = kept = snaps[0].base.read_state or history.states.get(target, {})
        forced = bool(settings.summaries) and target not in history.summaries and "full_at" in state
        if forced:  # the summary tabs need every run: a process that has not read them all reads in full once
            state = {k: v for k, v in state.items() if k != "full_at"}
        need = Need(state, frozenset(snaps[0].base.runs), tuple(dict.fromkeys((*rules.fixed, *existing))), clock())
        fetched = source.fetch(target, need, progress=progress)
        runs = sorted(fetched.runs, key=lambda r: (r.created_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                                                   r.id))
        read = (len(runs), fetched.pages, fetched.full)
        links = {r.id: r.url for r in runs if r.url}
        views = [RunView(r) for r in runs]
        listed = [RunView(r) for r in fetched.listed]
        gone = fetched.deleted if settings.deleted_runs == "mark" else []
        if settings.summaries:
            _remember(source, target, runs, views, fetched, history, settings)
        read_state = fetched.read_state
        if forced and read_state is not None:
            # That read was for this process's tabs, not the sheet's schedule: the stored state stays as it was
            # (a quiet --once writes nothing), but for what the read learnt. Runs it read are simply read again.
            read_state = {**{k: v for k, v in kept.items() if k != "deleted"},
                          **{k: v for k, v in read_state.items() if k in ("updated_moves", "keys", "deleted")}}
        unstamped = fetched.unchanged
        del fetched, runs  # a first sync of 10,000 runs: W&B's JSON is let go before the rows are built
        choice = choose_headers(existing, views, rules)
        headers = tuple(existing + choice.headers)
        rows = [row_for(v, headers, tz) for v in views]
        partial = [listed_row(row_for(v, headers, tz)) for v in listed] + \
            [{KEY: run_id, "state": "deleted"} for run_id in gone]
        partial_ids = {row[KEY] for row in partial}
        del views, listed
        if choice.dropped:
            log.warning("MAX_COLUMNS (%d) left out %d columns: %s%s", settings.max_columns, len(choice.dropped),
                        ", ".join(choice.dropped[:10]), " ..." if len(choice.dropped) > 10 else "")
        merging = MergeSettings(headers=headers, order=settings.order, max_columns=caps.max_columns,
                                cell_form=caps.cell_form, look=look)
        settled = set(DERIVED) | set(rules.derived)  # cells that change with no change in W&B: no sign of a stale stamp
        for attempt in (1, 2):
            tabs = [_tab_work(kind, tab_snap, history.summaries[target], settings, caps, tz)
                    for kind, tab_snap in zip(settings.summaries, snaps[1:])]
            plan = merge(snaps[0].grid, snaps[0].base, rows + partial, merging, links, partial_ids, read_state)
            if read_state is not None and _changed_unstamped(plan, snaps[0].base,
                                                             (partial_ids - set(gone)) | unstamped, settled):
                log.warning("W&B changed runs without moving their updatedAt: every sync of %s now reads it in "
                            "full", target.path)
                read_state = {**read_state, "updated_moves": False}
                plan.base.read_state = read_state  # the plan writes cells: its base is written with them
            plans = [plan] + [merge(tab_snap.grid, tab_snap.base, tab_rows, tab_merging, tab_links)
                              for tab_snap, (tab_rows, tab_merging, tab_links) in zip(snaps[1:], tabs)]
            changes = [(snap, p) for snap, p in zip(snaps, plans) if p.has_changes]
            if not changes or settings.dry_run:
                break
            try:
                sent += sink.apply(changes)
                break
            except (OutcomeUnknown, SheetMoved) as exc:  # read what is there now, and plan the rest again
                if attempt == 2:
                    raise
                log.debug("%s; reading the sheet again before writing", exc.message)
                snaps = sink.read(titles)
                sent += snaps[0].requests
        del rows, partial
        if read_state is not None:
            history.states[target] = read_state
        report.targets.append(TargetReport(target, plan.counts, read[0], read[1], read[2], choice.dropped, plan,
                                           dict(zip(titles[1:], plans[1:]))))
    report.sheets_reads, report.sheets_writes = sent["read"], sent["write"]
    report.wandb_requests = source.requests - wandb_before
    report.seconds = time.monotonic() - started
    _give_back_memory()
    return report


def _remember(source: Source, target: Target, runs: list, views: list[RunView], fetched: Any,
              history: ReadHistory, settings: Settings) -> None:
    """Keeps the facts of every run the summary tabs need (a full read replaces them all), asking the source
    about the sweeps these runs belong to. A run the listing brought without its metrics keeps them and takes its
    new state and group; a run deleted in W&B leaves the tabs."""
    memory = history.summaries.get(target) or Remembered()
    if fetched.full:
        memory.facts = {}
    if "sweeps" in settings.summaries:
        ids = {r.sweep for r in runs if r.sweep}
        if ids:
            memory.sweeps.update(source.sweeps(target, ids))
    for run, view in zip(runs, views):
        memory.facts[run.id] = facts_of(run, memory.sweeps.get(run.sweep) if run.sweep else None,
                                        settings.group_metrics, view)
    for run in fetched.listed:
        known = memory.facts.get(run.id)
        if known is not None:
            memory.facts[run.id] = dataclasses.replace(known, state=run.state, group=run.group)
    for run_id in fetched.deleted:
        memory.facts.pop(run_id, None)
    history.summaries[target] = memory


def _tab_work(kind: str, snap, memory: Remembered, settings: Settings, caps, tz) -> tuple:
    """A summary tab's rows, merge settings and links: merged like the runs tab, keyed by sweep id or group."""
    tab = sweeps_tab(memory.facts, memory.sweeps, tz) if kind == "sweeps" else \
        groups_tab(memory.facts, settings.group_metrics, settings.highlight, tz)
    existing = Layout.of(snap.grid, tab.key).named
    headers = tuple(existing + [h for h in tab.headers if h not in existing])
    look = LookRules(number_formats=settings.number_formats, highlight=tab.highlight,
                     scale=settings.highlight_scale) if caps.styles else None
    return tab.rows, MergeSettings(headers=headers, order="append", key=tab.key, max_columns=caps.max_columns,
                                   cell_form=caps.cell_form, look=look, link_headers=tab.link_headers), tab.links
def _changed_unstamped(plan: Plan, base: Base, listed: set[str], settled: set[str]) -> bool:
    """Whether the plan rewrites a cell the tool had written before, of a run W&B listed as unchanged (its
    updatedAt had not moved). A cell written for the first time (a column just added) proves nothing, nor does one
    that a setting changes (columns.DERIVED) or that sampled history may redraw (HISTORY, CURVES)."""
    run_of = {plan.run_rows[run_id]: run_id for run_id in listed if run_id in plan.run_rows}
    keys = plan.layout.keys
    return any(r in run_of and c < len(keys) and keys[c] not in settled and keys[c] in base.runs.get(run_of[r], {})
               for r, c, _ in plan.updates)


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
