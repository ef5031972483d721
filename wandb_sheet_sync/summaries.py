"""The summary tabs: one row per sweep (`<WORKSHEET> sweeps`) and one per group (`<WORKSHEET> groups`), from runs.

Pure but for the sweeps it asks a source about (a function passed in). A tab is built from every run of the project,
never from the runs one sync happened to read: with incremental reads a sync reads only the runs that changed, and a
mean over those would be wrong. So the sync keeps a few facts per run (state, group, sweep, and the values the tabs
need: RunFacts, a handful of numbers, not the run) for every run it has read, replaced by each full read and updated
by each incremental one, and builds the tabs from all of them. A process that has not yet read every run (a new
process, whose read state came from the sheet) reads in full once before it writes a tab. The rows then go through
the same three-way merge as the runs tab, keyed by sweep id and group name.

Choices where the issue is silent:
- Counts are over the runs the tool syncs (STATES and --user_name apply), not W&B's own runCount, so that
  `runs` is always `finished` + `failed` + `running` + the rest. `failed` counts W&B's failed and crashed runs
  (both ended in error); `running` counts running, pending and preempting ones; killed runs count in `runs` only.
- The best run of a sweep is the run with the lowest (goal minimize, W&B's default) or highest (maximize) value
  of the sweep's metric among its runs that have a number for it, whatever their state, as W&B's own
  Sweep.best_run orders them; the first such run (oldest) wins a tie. The metric is read from the run's summary
  first, as W&B does, then as any header is. Swept parameters are read from the run's config, nested
  parameters by their dotted path; a parameter whose name is taken by a column of the tab is `config.<name>`.
- A sweep whose config is not known (an offline sweep's run folders do not hold it) gets a row with its counts,
  its `note` saying why and what to do, and no metric, goal or best run: it never fails the sync.
- Group statistics are over the group's finished runs that have a number for the metric: mean, the sample
  standard deviation (n - 1 in the denominator, as numpy's std(ddof=1), pandas and W&B's own group panels
  compute it; empty for a single run), min and max. Runs without a group are in no row.
- Sweeps are asked about only when runs of them came in a sync's read, and a sweep that is done (Sweep.done) is
  never asked about again by the same process: Remembered.sweeps is the one sweep cache.
- HIGHLIGHT marks the best group by `<metric> mean` for each GROUP_METRICS metric HIGHLIGHT names, and the best
  sweep by `best_value` when every sweep with a known metric has the same goal.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from .columns import MISSING, RunView, clean
from .layout import Layout
from .look import LookRules
from .merge import MergeSettings, Plan, merge
from .run import Run, Sweep

if TYPE_CHECKING:
    from .config import Settings
    from .sinks import Capabilities, Snapshot
    from .sources import Fetched
    from .sources.increments import ReadState

SWEEP_KEY = "sweep_id"
GROUP_KEY = "group"
SWEEP_HEADERS = (SWEEP_KEY, "sweep_name", "method", "state", "metric", "goal", "runs", "finished", "failed",
                 "running", "best_run", "best_value")
NOTE = "note"
FAILED = ("failed", "crashed")
RUNNING = ("running", "pending", "preempting")
STATS = ("mean", "std", "min", "max")


@dataclass(frozen=True)
class RunFacts:
    """What the summary tabs need of one run."""

    state: str
    group: str | None
    sweep: str | None
    url: str | None
    metrics: Mapping[str, float] = field(default_factory=dict)  # GROUP_METRICS and the sweep's metric: numbers
    params: Mapping[str, Any] = field(default_factory=dict)  # the sweep's parameters, as the run's config has them


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def sweep_metric(config: Mapping[str, Any] | None) -> tuple[str, str]:
    """(metric name, goal "minimize" | "maximize") from a sweep's config; ("", "") when it names none."""
    metric = (config or {}).get("metric")
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str) or not metric["name"]:
        return "", ""
    goal = metric.get("goal")
    return metric["name"], goal if goal in ("minimize", "maximize") else "minimize"


def sweep_parameters(config: Mapping[str, Any] | None, prefix: str = "") -> list[str]:
    """The swept parameters' names in the config's order, nested ones as dotted paths."""
    out: list[str] = []
    params = (config or {}).get("parameters")
    if not isinstance(params, dict):
        return out
    for name, spec in params.items():
        if isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
            out += sweep_parameters(spec, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def facts_of(run: Run, sweep: Sweep | None, group_metrics: Iterable[str], view: RunView | None = None) -> RunFacts:
    """The facts of one run, its values looked up as the runs tab looks up a header."""
    view = view or RunView(run)
    metrics: dict[str, float] = {}
    for name in group_metrics:
        if (value := _number(view.get(name))) is not None:
            metrics[name] = value
    params: dict[str, Any] = {}
    if sweep is not None and sweep.config:
        metric, _ = sweep_metric(sweep.config)
        if metric:
            value = _number(view.summary.get(metric, MISSING) if metric in view.summary else view.get(metric))
            if value is not None:
                metrics[metric] = value
        for name in sweep_parameters(sweep.config):
            value = view.config.get(name, MISSING)
            if value is not MISSING:
                params[name] = value
    return RunFacts(run.state, run.group, run.sweep, run.url, metrics, params)


@dataclass
class Remembered:
    """What the sync keeps between syncs for one target's tabs: the facts of every run it has read (replaced by a
    full read, updated by an incremental one) and what it learnt of each sweep."""

    facts: dict[str, RunFacts] = field(default_factory=dict)
    sweeps: dict[str, Sweep] = field(default_factory=dict)


def need_every_run(kinds: Sequence[str], memory: Remembered | None, stored: "ReadState") -> bool:
    """Whether this sync reads in full for the tabs alone: they need every run, and a process that has not read
    them all (no memory of this target; its read state came from the sheet) reads in full once. What that read
    keeps of its state is ReadState.for_tabs_only."""
    return bool(kinds) and memory is None and stored.has_read_in_full()


def tab_headers(memory: Remembered | None, group_metrics: Iterable[str]) -> tuple[str, ...]:
    """What the tabs read of a run, written as headers (for Need.tab_headers): GROUP_METRICS, and the metric and
    swept parameters of each sweep this process knows (a sync that has not read them all reads in full)."""
    names = list(group_metrics)
    for sweep in (memory.sweeps.values() if memory else ()):
        if sweep.config:
            names += [sweep_metric(sweep.config)[0], *("config." + p for p in sweep_parameters(sweep.config))]
    return tuple(n for n in names if n)


def remember(memory: Remembered | None, fetched: "Fetched", runs: Sequence[Run], views: Sequence[RunView],
             kinds: Sequence[str], group_metrics: Iterable[str],
             ask_sweeps: Callable[[set[str]], dict[str, Sweep]]) -> Remembered:
    """The facts of every run the tabs need after this read (a full read replaces them all): `runs` are the runs
    read in full, `views` theirs. A run the listing brought without its metrics keeps them and takes its new
    state and group; a run deleted in W&B leaves the tabs. Sweeps of the runs read are asked about unless done."""
    memory = memory or Remembered()
    if fetched.full:
        memory.facts = {}
    if "sweeps" in kinds:
        ids = {r.sweep for r in runs if r.sweep and not (r.sweep in memory.sweeps and memory.sweeps[r.sweep].done)}
        if ids:
            memory.sweeps.update(ask_sweeps(ids))
    for run, view in zip(runs, views):
        memory.facts[run.id] = facts_of(run, memory.sweeps.get(run.sweep) if run.sweep else None, group_metrics,
                                        view)
    for run in fetched.listed:
        known = memory.facts.get(run.id)
        if known is not None:
            memory.facts[run.id] = replace(known, state=run.state, group=run.group)
    for run_id in fetched.deleted:
        memory.facts.pop(run_id, None)
    return memory


def plan_tabs(kinds: Sequence[str], snaps: Sequence["Snapshot"], memory: Remembered, settings: "Settings",
              caps: "Capabilities", tz) -> list[Plan]:
    """Each tab's plan on the snapshot it was read in: merged like the runs tab, keyed by sweep id or group."""
    plans = []
    for kind, snap in zip(kinds, snaps):
        tab = sweeps_tab(memory.facts, memory.sweeps, tz) if kind == "sweeps" else \
            groups_tab(memory.facts, settings.group_metrics, settings.highlight, tz)
        existing = Layout.of(snap.grid, tab.key).named
        headers = tuple(existing + [h for h in tab.headers if h not in existing])
        look = LookRules(number_formats=settings.number_formats, highlight=tab.highlight,
                         scale=settings.highlight_scale) if caps.styles else None
        merging = MergeSettings(headers=headers, order="append", key=tab.key, max_columns=caps.max_columns,
                                cell_form=caps.cell_form, look=look, link_headers=tab.link_headers)
        plans.append(merge(snap.grid, snap.base, tab.rows, merging, tab.links))
    return plans


def tab_title(worksheet: str, kind: str) -> str:
    """The worksheet of a summary tab: "runs sweeps", "runs groups"."""
    return f"{worksheet} {kind}"


@dataclass
class Tab:
    """The rows of one summary tab, the headers it wants, the links of its key cells and its highlights."""

    key: str
    headers: list[str]
    rows: list[dict[str, Any]]
    links: dict[str, str] = field(default_factory=dict)
    link_headers: tuple[str, ...] = ()
    highlight: dict[str, str] = field(default_factory=dict)


def _counts(states: list[str]) -> dict[str, int]:
    return {"runs": len(states), "finished": sum(s == "finished" for s in states),
            "failed": sum(s in FAILED for s in states), "running": sum(s in RUNNING for s in states)}


def sweeps_tab(facts: Mapping[str, RunFacts], sweeps: Mapping[str, Sweep], tz) -> Tab:
    """One row per sweep that any run names, in the order of its first run."""
    members: dict[str, list[str]] = {}
    for run_id, fact in facts.items():
        if fact.sweep:
            members.setdefault(fact.sweep, []).append(run_id)
    tab = Tab(SWEEP_KEY, list(SWEEP_HEADERS), [], link_headers=(SWEEP_KEY, "best_run"))
    param_header: dict[str, str] = {}
    goals = set()
    for sweep_id, run_ids in members.items():
        sweep = sweeps.get(sweep_id) or Sweep(sweep_id, problem="W&B did not say what this sweep is")
        metric, goal = sweep_metric(sweep.config)
        row: dict[str, Any] = {SWEEP_KEY: sweep_id, "sweep_name": sweep.name or sweep_id,
                               "method": sweep.method or (sweep.config or {}).get("method") or None,
                               "state": sweep.state or None, "metric": metric or None, "goal": goal or None,
                               **_counts([facts[r].state for r in run_ids])}
        if sweep.url:
            tab.links[sweep_id] = sweep.url
        best = None
        if metric:
            goals.add(goal)
            scored = [(facts[r].metrics[metric], i, r) for i, r in enumerate(run_ids) if metric in facts[r].metrics]
            if scored:
                best = min(scored, key=lambda s: (s[0] if goal == "minimize" else -s[0], s[1]))
        if best is not None:
            value, _, run_id = best
            row["best_run"], row["best_value"] = run_id, clean(value, tz)
            if facts[run_id].url:
                tab.links[run_id] = facts[run_id].url
            for name in sweep_parameters(sweep.config):
                header = param_header.setdefault(name, f"config.{name}" if name in SWEEP_HEADERS + (NOTE,) else name)
                if name in facts[run_id].params:
                    row[header] = clean(facts[run_id].params[name], tz)
        else:
            row["best_run"] = row["best_value"] = None
        if sweep.config is None or sweep.problem:
            row[NOTE] = sweep.problem or "the sweep's config is not known"
        for name in sweep_parameters(sweep.config):
            param_header.setdefault(name, f"config.{name}" if name in SWEEP_HEADERS + (NOTE,) else name)
        tab.rows.append(row)
    tab.headers += list(param_header.values())
    for row in tab.rows:  # a sweep without a best run (yet) shows no parameter values, not stale ones
        row.update({h: None for h in param_header.values() if h not in row})
    if any(NOTE in row for row in tab.rows):
        tab.headers.append(NOTE)
    if len(goals) == 1:
        tab.highlight["best_value"] = "min" if goals == {"minimize"} else "max"
    return tab


def groups_tab(facts: Mapping[str, RunFacts], metrics: Iterable[str], highlight: Mapping[str, str], tz) -> Tab:
    """One row per W&B group, in the order of its first run: counts, and mean, std, min, max per metric."""
    metrics = list(metrics)
    members: dict[str, list[RunFacts]] = {}
    for fact in facts.values():
        if fact.group:
            members.setdefault(fact.group, []).append(fact)
    headers = [GROUP_KEY, "runs", "finished"] + [f"{m} {s}" for m in metrics for s in STATS]
    tab = Tab(GROUP_KEY, headers, [], highlight={f"{m} mean": highlight[m] for m in metrics if m in highlight})
    for group, runs in members.items():
        counts = _counts([f.state for f in runs])
        row: dict[str, Any] = {GROUP_KEY: group, "runs": counts["runs"], "finished": counts["finished"]}
        for m in metrics:
            values = [f.metrics[m] for f in runs if f.state == "finished" and m in f.metrics]
            stats = dict.fromkeys(STATS)
            if values:
                stats.update(mean=statistics.fmean(values), min=min(values), max=max(values),
                             std=statistics.stdev(values) if len(values) > 1 else None)
            row.update({f"{m} {s}": clean(v, tz) if v is not None else None for s, v in stats.items()})
        tab.rows.append(row)
    return tab
