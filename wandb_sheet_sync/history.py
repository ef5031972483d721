"""A run's logged history as cells: the best value of each HISTORY metric, the step it was logged at, a curve.

Pure: (step, value) points in, cells by header out; both sources (W&B's sampled history, the exact history
records of a run folder) hand their points here. Choices where the issue is silent:
- Column names: `<metric> (min)` / `<metric> (max)`, `<metric> (min) step` with HISTORY_STEPS, and
  `<metric> (curve)` for CURVES. They are managed columns like any other; in a new sheet they follow the fixed
  headers (before the dynamic ones, so the numbers people asked for by name sit together); in an existing sheet
  they are added at the right, as every new column is. They appear when DYNAMIC_HEADERS is off too.
- Metrics are W&B's exact names as logged (`train/loss`, `val.loss`): W&B selects history by exact key, so the
  loose header matching of other columns does not apply.
- The run's own summary wins where it is better: `define_metric("val_loss", summary="min")` makes W&B keep
  the exact minimum over every logged value in `val_loss.min`, which sampled history can miss. The step is
  given only when a point carries that very value; otherwise the step cell is left empty.
- Ties go to the earliest step. Non-numbers, NaN and infinities in the history are ignored.
- A run with no such metric (and no summary min/max) gets no value: its cells are left as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .columns import flatten
from .sparkline import sparkline

Point = tuple[float, float]  # (step, value)


@dataclass(frozen=True)
class Wanted:
    """What the configuration asks of history: HISTORY (metric -> goal), HISTORY_STEPS, CURVES."""

    goals: Mapping[str, str]
    steps: bool = False
    curves: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Any) -> "Wanted":
        return cls(dict(settings.history), bool(settings.history_steps), tuple(settings.curves))

    @property
    def keys(self) -> tuple[str, ...]:
        """Every metric whose history is needed, each once, in the configuration's order."""
        return tuple(dict.fromkeys([*self.goals, *self.curves]))

    def __bool__(self) -> bool:
        return bool(self.goals or self.curves)


def best_header(key: str, goal: str) -> str:
    return f"{key} ({goal})"


def step_header(key: str, goal: str) -> str:
    return f"{key} ({goal}) step"


def curve_header(key: str) -> str:
    return f"{key} (curve)"


def headers(wanted: Wanted) -> tuple[str, ...]:
    """The columns history fills, in the order they are added to a sheet."""
    out: list[str] = []
    for key, goal in wanted.goals.items():
        out.append(best_header(key, goal))
        if wanted.steps:
            out.append(step_header(key, goal))
    out += [curve_header(key) for key in wanted.curves]
    return tuple(dict.fromkeys(out))


def number(value: Any) -> float | None:
    """A finite number, or None for anything else (text, booleans, NaN, infinities, media)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def cells(points: Mapping[str, Sequence[Point]], summary: Mapping[str, Any], wanted: Wanted) -> dict[str, Any]:
    """The history cells of one run, by header, from its points per metric (in any order) and its summary."""
    out: dict[str, Any] = {}
    if not wanted:
        return out
    flat: dict[str, Any] | None = None
    for key, goal in wanted.goals.items():
        series = _clean(points.get(key, ()))
        pick = min if goal == "min" else max
        best = min(series, key=lambda p: (p[1] if goal == "min" else -p[1], p[0])) if series else None
        if flat is None:
            flat = flatten(dict(summary))
        known = number(flat.get(f"{key}.{goal}"))
        value = best[1] if best else None
        if known is not None and (value is None or pick(known, value) == known):
            value = known
        if value is None:
            continue
        out[best_header(key, goal)] = value
        if wanted.steps and key in points:  # no history read (W&B refused it): the step cell is left alone
            at = next((s for s, v in sorted(series) if v == value), None)
            out[step_header(key, goal)] = int(at) if at is not None else None
    for key in wanted.curves:
        series = _clean(points.get(key, ()))
        if series:
            out[curve_header(key)] = sparkline([v for _, v in sorted(series)])
    return out


def _clean(series: Iterable[Point]) -> list[Point]:
    return [(s, v) for s, v in series if number(s) is not None and number(v) is not None]
