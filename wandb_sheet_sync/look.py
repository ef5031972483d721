"""How a synced sheet looks: number formats, widths, the frozen header and the best-run highlights.

Pure: it sees the header row, the plan's new columns, the incoming rows and what it remembered last time, and
returns what a sink should format now. Formatting is a first-set-up act, never repeated over what a person
did since, so the tool remembers in the base which columns it has set up, with the format it chose:
- A column is set up once, when the tool writes its header: its number format over the whole column, a
  width fitted to the header (and to the dates or numbers it shows). A column whose header the tool writes
  before any run has a value is formatted when its first value arrives.
- A sheet the tool did not make (adopted, or synced by an older version) keeps its columns' formats: they
  may be a person's. Only columns the tool adds to it are formatted.
- The header row is made bold and frozen when the tool writes it into an empty sheet.
- New rows get their column's format (NUMBER_FORMATS if it names the column, else the one chosen at set-up),
  so every run reads the same; cells that exist are never reformatted, whoever formatted them.
- Number formats: date-times as yyyy-mm-dd hh:mm:ss; a column of non-integral numbers (a metric) with 4
  significant digits for its typical (median) magnitude, in scientific notation when that magnitude is
  below 0.01 or 1e9 and above, when a value is below 0.001 (it would show as 0.000) or when its values
  span four orders of magnitude or more (a learning-rate sweep); whole numbers, text and booleans as the
  spreadsheet shows them by default.
- HIGHLIGHT rules (the best value of a column, and a colour scale with HIGHLIGHT_SCALE) are added once per
  column; when the column has moved since, the rules are found and moved with it; removed from the config,
  they are removed from the sheet. A rule a person deleted stays deleted while its column stays.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .columns import column_letters
from .layout import KEY, Layout

DATE_TIME = "yyyy-mm-dd hh:mm:ss"
DEFAULT_DIGITS = 4
BEST_FILL = (0.717, 0.882, 0.804)  # the light green Sheets offers first for "good"
SCALE_BEST = (0.341, 0.733, 0.541)
SCALE_WORST = (1.0, 1.0, 1.0)
_OURS = re.compile(r"=?AND\(ISNUMBER\((?P<c>[A-Z]+)2\),(?P=c)2=(?P<goal>MIN|MAX)\(\$(?P=c)\$2:\$(?P=c)(?:\$\d+)?\)\)")


@dataclass(frozen=True)
class LookRules:
    number_formats: Mapping[str, str | int] = field(default_factory=dict)  # header or glob -> pattern or digits
    highlight: Mapping[str, str] = field(default_factory=dict)  # header -> "min" | "max"
    scale: bool = False


@dataclass(frozen=True)
class ColumnSetup:
    col: int
    header: str
    number_format: str  # "" leaves the spreadsheet's automatic format
    width: int | None  # characters; None when only the number format is set up now (it was empty before)


@dataclass(frozen=True)
class Highlight:
    header: str
    col: int
    goal: str | None  # "min" | "max"; None removes the rules
    scale: bool
    previous: int | None  # the column its rules covered last time; None for rules to add afresh
    reason: str = "add"  # "add", "move" (the column moved), "change" (the config changed), "remove"

    @property
    def wanted(self) -> list[str]:
        """The kinds of rule the column should end up with, in the order they go into the sheet."""
        if self.goal is None:
            return []
        return ["best", "scale"] if self.scale else ["best"]


@dataclass
class Look:
    freeze_header: bool = False
    setup: list[ColumnSetup] = field(default_factory=list)
    new_row_formats: dict[int, str] = field(default_factory=dict)  # column -> pattern for cells of new rows
    owned: set[int] = field(default_factory=set)  # columns formatted as a whole by the tool (or NUMBER_FORMATS)
    highlights: list[Highlight] = field(default_factory=list)
    memory: dict = field(default_factory=dict)


def kind_of(pattern: str) -> str:
    """The NumberFormat type Google wants beside a pattern."""
    if "yy" in pattern or "hh" in pattern:
        return "DATE_TIME"
    if "E+" in pattern or "E-" in pattern:
        return "SCIENTIFIC"
    if "%" in pattern:
        return "PERCENT"
    return "NUMBER"


def configured(header: str, rules: LookRules) -> str | int | None:
    """NUMBER_FORMATS for a header: its own entry, else the first glob that matches it."""
    if header in rules.number_formats:
        return rules.number_formats[header]
    for glob, value in rules.number_formats.items():
        if fnmatch.fnmatchcase(header, glob):
            return value
    return None


def significant(values: list[float], digits: int = DEFAULT_DIGITS) -> str:
    """A pattern that shows about `digits` significant digits of a column's typical value."""
    mags = sorted(abs(v) for v in values if v and math.isfinite(v))
    if not mags:
        return ""
    typical, lo, hi = mags[len(mags) // 2], mags[0], mags[-1]
    if typical < 1e-2 or typical >= 1e9 or lo < 1e-3 or hi / lo >= 1e4:
        return "0" + ("." + "0" * (digits - 1) if digits > 1 else "") + "E+00"
    decimals = max(0, digits - 1 - math.floor(math.log10(typical)))
    whole = "#,##0" if typical >= 1e4 else "0"
    return whole + ("." + "0" * decimals if decimals else "")


def choose_format(header: str, values: list[Any], rules: LookRules) -> str | None:
    """A column's number format from its values; None when it has no value yet to judge by."""
    present = [v for v in values if v is not None and v != ""]
    wanted = configured(header, rules)
    if isinstance(wanted, str):
        return wanted
    if not present:
        return None
    if header == KEY:
        return ""
    if all(isinstance(v, dt.datetime) for v in present):
        return DATE_TIME
    numbers = [v for v in present if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) != len(present) or all(isinstance(v, int) or v.is_integer() for v in numbers):
        return ""  # text, booleans, mixed, whole numbers: the spreadsheet's own format shows them well
    return significant(numbers, wanted if isinstance(wanted, int) else DEFAULT_DIGITS)


def width_of(header: str, pattern: str, values: list[Any] = ()) -> int:
    """Characters wide: the (bold) header, or the values as shown if wider (text up to 30); 8 to 40."""
    return max(8, min(40, max(math.ceil(len(header) * 1.1) + 2, _shown(pattern, values) + 1)))


def _shown(pattern: str, values: list[Any]) -> int:
    """About how many characters the widest value takes in this format."""
    if pattern == DATE_TIME:
        return 19
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    text = min(30, max((len(v) for v in values if isinstance(v, str)), default=0))
    if not numbers:
        return text
    sign = 1 if min(numbers) < 0 else 0
    if "E" in pattern:
        return max(text, len(pattern) + sign)
    if not pattern and not all(isinstance(v, int) for v in numbers):
        return max(text, 12)  # the automatic format shows up to about 11 characters of a fraction
    whole = len(format(max(map(abs, numbers)), ",.0f" if "," in pattern else ".0f"))
    decimals = len(pattern.split(".")[1]) + 1 if "." in pattern else 0
    return max(text, whole + decimals + sign)


def plan_look(layout: Layout, new_cols: set[int], rows: list[dict[str, Any]], memory: dict | None,
              rules: LookRules) -> Look:
    """What to format in this sync. layout is the header row once the plan is applied; new_cols are the
    columns whose header the plan writes."""
    header_after = layout.keys
    header_before = [h for c, h in enumerate(header_after) if c not in new_cols]
    fresh = not any(header_before)
    mem_cols: dict[str, str | None] = dict((memory or {}).get("cols") or {})
    mem_hl: dict[str, dict] = {h: dict(v) for h, v in ((memory or {}).get("hl") or {}).items()}
    if memory is None and not fresh:  # a sheet the tool did not set up: its columns may carry a person's formats
        mem_cols = {h: "" for h in header_before if h}
    look = Look(freeze_header=fresh and bool(new_cols))
    values: dict[str, list[Any]] = {}

    def column(h: str) -> list[Any]:
        if h not in values:
            values[h] = [row.get(h) for row in rows]
        return values[h]

    for c, h in enumerate(header_after):
        if not h:
            continue
        if c in new_cols:
            pattern = choose_format(h, column(h), rules)
            look.setup.append(ColumnSetup(c, h, pattern or "", width_of(h, pattern or "", column(h))))
            mem_cols[h] = pattern
        elif h in mem_cols and mem_cols[h] is None:
            pattern = choose_format(h, column(h), rules)
            if pattern is not None:
                look.setup.append(ColumnSetup(c, h, pattern, None))
                mem_cols[h] = pattern
        wanted = configured(h, rules)
        pattern = wanted if isinstance(wanted, str) else mem_cols.get(h)
        if pattern:
            look.owned.add(c)
        elif any(isinstance(v, dt.datetime) for v in column(h)):
            pattern = DATE_TIME  # a date column the tool did not set up: a bare serial number reads 46000.5
        if pattern:
            look.new_row_formats[c] = pattern

    col_of = layout.col_of
    for h in list(mem_hl):
        if h not in rules.highlight and h in col_of:
            look.highlights.append(Highlight(h, col_of[h], None, False, mem_hl.pop(h)["col"], "remove"))
    for h, goal in rules.highlight.items():
        c = col_of.get(h)
        if c is None:
            continue
        known = mem_hl.get(h)
        if known is None or c in new_cols:
            look.highlights.append(Highlight(h, c, goal, rules.scale, None))
        elif (known["goal"], known["scale"]) != (goal, rules.scale):
            look.highlights.append(Highlight(h, c, goal, rules.scale, known["col"], "change"))
        elif known["col"] != c:
            look.highlights.append(Highlight(h, c, goal, rules.scale, known["col"], "move"))
        mem_hl[h] = {"col": c, "goal": goal, "scale": rules.scale}
    look.memory = {"cols": mem_cols, "hl": mem_hl}
    return look


def best_formula(col: int, goal: str, last_row: str = "") -> str:
    """The best-value rule's formula for a column whose data starts on row 2. Sheets takes an open-ended
    range ($C$2:$C); Excel needs the last row ($C$2:$C$1048576)."""
    c = column_letters(col)
    return f"AND(ISNUMBER({c}2),{c}2={goal.upper()}(${c}$2:${c}{'$' + last_row if last_row else ''}))"


def formula_column(formula: str) -> tuple[str, str] | None:
    """(column letters, goal) of a formula best_formula made, whatever column it names; None if not ours."""
    m = _OURS.fullmatch(formula.strip())
    return (m.group("c"), m.group("goal").lower()) if m else None


def hex_color(rgb: tuple[float, float, float]) -> str:
    """A 0-1 colour as RRGGBB: what .xlsx stores, and what Google's rounded floats come back to."""
    return "".join(f"{round(x * 255):02X}" for x in rgb)


def rule_kind(formula: str | None, scale: list[str] | None) -> tuple[str, str] | None:
    """Which of the tool's rules a conditional format is, as (kind, goal), from its formula or its colour
    scale's two colours (RRGGBB, low end first), in any column; None for a rule the tool did not make."""
    if formula and (made := formula_column(formula)):
        return "best", made[1]
    if scale is not None and sorted(scale) == sorted([hex_color(SCALE_BEST), hex_color(SCALE_WORST)]):
        return "scale", "min" if scale[0] == hex_color(SCALE_BEST) else "max"
    return None


def rule_changes(highlights: list[Highlight], found: list[tuple[int, int, str, str]]
                 ) -> tuple[list[tuple[int, Highlight, str]], list[int], list[tuple[Highlight, str]]]:
    """Given the tool's rules found in a sheet as (index, column, kind, goal): the rules to rewrite in place
    for their column's new place, the indexes to delete, and the rules to add, in the order they should end up
    (config order; a column's best-value rule above its colour scale, so its fill wins). A column that moved
    finds its rules by its goal where they were (the rules stayed) or where it is now (the spreadsheet moved
    them with it), never another column's rules that moved into its old place."""
    updates: list[tuple[int, Highlight, str]] = []
    deletes: list[int] = []
    adds: list[tuple[Highlight, str]] = []
    claimed = {h.previous for h in highlights if h.previous is not None}

    taken: set[int] = set()  # a rule belongs to one column at most

    def of(h: Highlight, col: int) -> list[tuple[int, int, str, str]]:
        return [f for f in found if f[1] == col and f[0] not in taken and (h.reason != "move" or f[3] == h.goal)]

    for h in highlights:
        its_rules = of(h, h.previous)  # none when previous is None: nothing to look for
        if not its_rules and (h.col not in claimed or h.reason == "move"):
            # moved: the spreadsheet may have moved them with the column itself; added: a sheet whose base
            # was lost may hold them already, and they must not be added twice
            its_rules = of(h, h.col)
        if not its_rules and h.reason == "move":
            continue  # a person deleted them: they stay deleted
        rewritten = set()
        taken.update(f[0] for f in its_rules)
        for index, _, kind, _goal in its_rules:
            if kind in h.wanted and kind not in rewritten:
                updates.append((index, h, kind))
                rewritten.add(kind)
            else:
                deletes.append(index)
        if h.reason in ("add", "change"):
            adds += [(h, kind) for kind in h.wanted if kind not in rewritten]
    return updates, deletes, adds
