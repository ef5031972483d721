"""Runs to cells: which value a header names, which headers a set of runs brings, and clean cell values.

Pure: plain data in, plain data out. Choices where the design is silent:
- Dynamic headers are ordered config keys first, then summary keys, each alphabetically, so the order of a
  new batch of columns does not depend on the order W&B returned the runs in.
- A key present in both config and summary appears once, as the config key; the summary one as `summary.x`.
- Integers beyond 2**53 become text: a sheet stores doubles and would silently change their digits.
- Floats keep 15 significant digits, all that Excel stores and Sheets shows, so the value written reads
  back identically from Google, openpyxl (which writes 16 digits) and CSV; integral floats become ints
  (3.0 -> 3) for the same reason.
- Datetimes are cut to whole seconds and given in the configured time zone, without the zone (a sheet
  cell has none; the spreadsheet's zone is the reader's).
- Keys become headers by one rule (`names`, README "Keys that collide"), so no two keys of a run share a column
  and no header is one the layout would refuse: control characters anywhere and whitespace at either end are
  shown as visible symbols (`lr ` -> `lr␠`, a tab -> `␉`), the empty key is `(empty key)`, a config key named like
  a built-in column gets `config.`; keys still equal after that (a dotted flat key beside the same nested one,
  NFC/NFD twins) get ` [2]`, ` [3]` in a stable order: config before summary, the NFC spelling first, then by
  their path.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from .run import Run

MAX_CELL_CHARS = 50_000
CUT_MARKER = " …[cut by wandb_spreadsheet_sync]"
SHEETS_MAX_COLUMNS = 18_278
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NORMALISE = re.compile(r"[/.\- _]")
MISSING = object()  # a run that has no such key: its cell is left alone


def _builtins(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.id, "run_name": run.name, "user": run.display_user or run.user,
        "name": run.display_user or run.user, "state": run.state, "created_at": run.created_at,
        "updated_at": run.updated_at, "_timestamp": run.timestamp, "runtime": run.runtime,
        "tags": ", ".join(run.tags), "group": run.group, "job_type": run.job_type, "notes": run.notes,
        "sweep": run.sweep, "project": run.project, "url": run.url, "gpu_memory": gpu_memory(run),
    }


def gpu_memory(run: Run) -> Any:
    """Peak allocated GPU memory in GB over all GPUs, from the system metrics W&B records."""
    peaks = [v for k, v in run.system_metrics.items()
             if re.fullmatch(r"system\.gpu\.\d+\.memoryAllocatedBytes", k) and isinstance(v, (int, float))]
    return round(max(peaks) / 2**30, 2) if peaks else None


BUILTIN_HEADERS = tuple(_builtins(Run(id="")))


def column_letters(index: int) -> str:
    """A 0-based column index as a spreadsheet names it: 0 -> A, 26 -> AA."""
    out, index = "", index + 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys, as W&B's own runs table shows them; media objects stay whole."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        key = key if isinstance(key, str) else str(key)
        name = sys.intern(prefix + key) if prefix else key  # one string per name, not one per run and name
        if isinstance(value, dict) and value and "_type" not in value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def leaves(d: dict[str, Any], path: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], Any]]:
    """Every leaf of a nested dict with its path of keys; unlike flatten, a dotted flat key and the same nested
    key are both kept (media objects and empty dicts are leaves)."""
    for key, value in d.items():
        here = (*path, key if isinstance(key, str) else str(key))
        if isinstance(value, dict) and value and "_type" not in value:
            yield from leaves(value, here)
        else:
            yield here, value


EMPTY_KEY = "(empty key)"
_SUFFIX = re.compile(r" \[\d+\]$")
_CODE = re.compile(r"<U\+([0-9A-F]{4,6})>")


def _shown(ch: str) -> str:
    """A character a header cell cannot hold or keep (control, or whitespace a trim would eat) as a visible one."""
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: tab -> ␉, newline -> ␊, CR -> ␍
    if code == 0x20:
        return "\u2420"  # ␠
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


@functools.lru_cache(maxsize=65_536)  # the same keys come back in every run
def header_of(key: str) -> str:
    """The header a key is shown under (before collisions): nothing a header cell would lose or a trim would eat."""
    if key == "":
        return EMPTY_KEY
    text = "".join(_shown(c) if unicodedata.category(c) == "Cc" else c for c in key)
    body = text.strip()
    start = text.index(body) if body else len(text)
    lead, trail = text[:start], text[start + len(body):]
    return "".join(map(_shown, lead)) + body + "".join(map(_shown, trail))


def key_of(header: str) -> str:
    """The key a header was made from (header_of reversed, a collision suffix dropped): what to ask W&B for."""
    header = _SUFFIX.sub("", header)
    if header == EMPTY_KEY:
        return ""
    header = _CODE.sub(lambda m: chr(int(m.group(1), 16)), header)
    return "".join(chr(ord(c) - 0x2400) if 0x2400 <= ord(c) < 0x2420 else " " if c == "\u2420" else
                   "\x7f" if c == "\u2421" else c for c in header)


def _flat(d: dict, prefix: str = "", top: str | None = None, out: list | None = None) -> list:
    """(dotted name, top-level key, value) of every leaf, duplicates kept: the fast form of `leaves`."""
    out = [] if out is None else out
    for key, value in d.items():
        key = key if isinstance(key, str) else str(key)
        joined = prefix + key if prefix else key
        if isinstance(value, dict) and value and "_type" not in value:
            _flat(value, joined + ".", key if top is None else top, out)
        else:
            out.append((joined, key if top is None else top, value))
    return out


Named = tuple  # (source, dotted name, top-level key, value): where a header's value comes from


def names(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Named]:
    """Header -> (source, dotted name, top-level key, value) for every leaf of a run's config and summary, each
    under its own header by the rule in the module docstring. Config keys come first, so a summary key equal to a
    config key is `summary.x` and a key named like a built-in column is `config.x` / `summary.x`."""
    out: dict[str, Named] = {}
    folded: set[str] = set()
    plain: set[str] = set()
    for source, tree in (("config", config), ("summary", summary)):
        for joined, top, value in _flat(tree):
            name = header_of(joined)
            if name in BUILTIN_HEADERS or (source == "summary" and name in plain):
                name = f"{source}.{name}"
            elif source == "config":
                plain.add(name)
            fold = name if name.isascii() else unicodedata.normalize("NFC", name)
            if fold in folded:
                return _names_colliding(config, summary)  # rare: the slow, ordered way
            folded.add(fold)
            out[name] = (source, joined, top, value)
    return out


def _names_colliding(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Named]:
    """names() for a run where two keys share a header: suffixes in the documented, stable order."""
    found: list[tuple[str, str, tuple[str, ...], Any]] = []
    plain: set[str] = set()
    for source, tree in (("config", config), ("summary", summary)):
        for path, value in leaves(tree):
            name = header_of(".".join(path))
            if name in BUILTIN_HEADERS or (source == "summary" and name in plain):
                name = f"{source}.{name}"
            elif source == "config":
                plain.add(name)
            found.append((name, source, path, value))
    groups: dict[str, list] = {}
    for item in found:
        groups.setdefault(unicodedata.normalize("NFC", item[0]), []).append(item)
    out: dict[str, Named] = {}
    taken = set(groups)
    for group in groups.values():
        group.sort(key=lambda i: (i[1] != "config", unicodedata.normalize("NFC", i[0]) != i[0], i[2]))
        for n, (name, source, path, value) in enumerate(group):
            if n:
                k = n + 1
                while f"{name} [{k}]" in taken:
                    k += 1
                name = f"{name} [{k}]"
                taken.add(name)
            out[name] = (source, ".".join(path), path[0], value)
    return out


def normalise_key(key: str) -> str:
    return _NORMALISE.sub("", key).lower()


def is_internal(key: str, value: Any) -> bool:
    """W&B's own keys (_step, _runtime, _wandb...) and media objects (images, tables) are not columns."""
    return key.startswith("_") or "._" in key or (isinstance(value, dict) and "_type" in value)


class RunView:
    """One run's values by header: built-ins, history cells (wandb_sheet_sync.history), then config, then summary,
    then a normalised match."""

    __slots__ = ("builtins", "history", "named", "_norm", "_forced")

    def __init__(self, run: Run):
        self.builtins = _builtins(run)
        self.history = run.history
        self.named = names(run.config, run.summary)  # header -> (source, dotted, top key, value): each its own header
        self._norm: dict[str, str] | None = None
        self._forced: dict[tuple[str, str], str] | None = None  # (source, name without its prefix) -> name

    @property
    def config(self) -> dict[str, Any]:
        """The flattened config by dotted key (as `flatten` gives it), made from `named` when asked for."""
        return {dotted: value for source, dotted, _, value in self.named.values() if source == "config"}

    @property
    def summary(self) -> dict[str, Any]:
        return {dotted: value for source, dotted, _, value in self.named.values() if source == "summary"}

    def get(self, header: str) -> Any:
        if header in self.builtins:
            return self.builtins[header]
        if header in self.history:
            return self.history[header]
        name = self.resolve(header)
        return MISSING if name is None else self.named[name][3]

    def resolve(self, header: str) -> str | None:
        """The name (a key of `named`) whose value this header shows: the same name, a `config.` / `summary.`
        prefix forcing the source, or a name that differs only in case and / . - space _ (config wins a tie)."""
        if header in self.named:
            return header
        if header.startswith(("config.", "summary.")):
            source, bare = header.split(".", 1)
            if self._forced is None:
                self._forced = {}
                for name, (where, *_) in self.named.items():
                    self._forced.setdefault((where, name[len(where) + 1:] if name.startswith(where + ".") else name),
                                            name)
            return self._forced.get((source, bare))
        if self._norm is None:
            self._norm = {}
            for name, _ in sorted(self.named.items(), key=lambda i: i[1][0] == "config"):
                self._norm[normalise_key(name)] = name  # config written last: it wins a tie
        return self._norm.get(normalise_key(header))


@dataclass(frozen=True)
class HeaderRules:
    fixed: tuple[str, ...] = ("run_id",)
    derived: tuple[str, ...] = ()  # columns the tool computes (history): after the fixed ones, even if not dynamic
    dynamic: bool = True
    include: tuple[str, ...] = ()  # globs; empty means all
    exclude: tuple[str, ...] = ()
    max_columns: int = 1000


@dataclass
class HeaderChoice:
    headers: list[str]  # the headers to add at the right, in order
    dropped: list[str]  # what the column cap left out


def choose_headers(existing: Iterable[str], views: list[RunView], rules: HeaderRules) -> HeaderChoice:
    """Fixed headers the sheet lacks, then dynamic ones: keys of these runs that no header takes yet.

    A header a person or FIXED_HEADERS wrote takes the keys it matches after normalisation (a fixed
    'train_loss' takes 'train/loss'), but only where it does take that key's value in every run that has it: two
    keys that W&B itself keeps apart (`lr` and `LR` in one run) each get their own column, so no value is lost."""
    existing = [h for h in existing if h]
    taken = set(existing)
    claimed = {normalise_key(h.split(".", 1)[1] if h.startswith(("config.", "summary.")) else h): h
               for h in (*existing, *rules.fixed)}
    wanted: list[str] = []

    def take(header: str) -> None:
        if header not in taken:
            taken.add(header)
            wanted.append(header)

    def served(name: str) -> bool:
        """Whether a header already there (or fixed) fills this name's value in every run that has the name."""
        header = claimed.get(normalise_key(name))
        if header is None:
            return False
        return all(header not in view.builtins and header not in view.history and view.resolve(header) == name
                   for view in views if name in view.named)

    for header in (*rules.fixed, *rules.derived):
        take(header)
    if rules.dynamic:
        config_keys: set[str] = set()
        summary_keys: set[str] = set()
        for view in views:
            for name, (source, dotted, _, value) in view.named.items():
                if not is_internal(dotted, value):
                    (config_keys if source == "config" else summary_keys).add(name)
        for key in sorted(config_keys):
            if _wanted(key, "config", rules) and (key in taken or not served(key)):
                take(key)
        for key in sorted(summary_keys):
            if not _wanted(key, "summary", rules):
                continue
            if key in config_keys:
                take("summary." + key)
            elif key in taken or not served(key):
                take(key)
    room = max(0, min(rules.max_columns, SHEETS_MAX_COLUMNS) - len(existing))
    always = set(rules.fixed) | set(rules.derived)
    fixed_missing = [h for h in wanted if h in always]
    dynamic = [h for h in wanted if h not in always]
    keep = fixed_missing + dynamic[: max(0, room - len(fixed_missing))]
    return HeaderChoice(headers=keep, dropped=dynamic[max(0, room - len(fixed_missing)):])


def _wanted(key: str, source: str, rules: HeaderRules) -> bool:
    names = (key, f"{source}.{key}")
    if rules.include and not any(fnmatch.fnmatchcase(n, g) for n in names for g in rules.include):
        return False
    return not any(fnmatch.fnmatchcase(n, g) for n in names for g in rules.exclude)


# ---- values ----------------------------------------------------------------------------------------

def clean(value: Any, tz: dt.tzinfo) -> Any:
    """A W&B value as a cell: number, bool, text, date-time, or None for an empty cell."""
    if value.__class__ is float and value - value == 0:  # the common value, first: a finite metric
        value = float(f"{value:.15g}")
        return int(value) if value.is_integer() and abs(value) <= 2**53 else value
    if value is None or value is MISSING:
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = float(f"{value:.15g}")
        return int(value) if value.is_integer() and abs(value) <= 2**53 else value
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return when.astimezone(tz).replace(tzinfo=None, microsecond=0)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, (list, tuple, dict)):
        return clean_text(json.dumps(_json_safe(value), separators=(",", ":"), ensure_ascii=False, default=str))
    return clean_text(str(value))


def clean_text(text: str) -> str | None:
    text = _CONTROL.sub("", text)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - len(CUT_MARKER)] + CUT_MARKER
    return text


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def zone(name: str | None) -> dt.tzinfo:
    """The configured zone, or the machine's own."""
    if name:
        return ZoneInfo(name)
    return dt.datetime.now().astimezone().tzinfo or dt.timezone.utc


def row_for(view: RunView, headers: Iterable[str], tz: dt.tzinfo) -> dict[str, Any]:
    """The cells this run fills, by header; keys the run does not have are left out. (RunView.get's order, with its
    common cases inline: 90,000 cells for 1,000 changed runs.)"""
    out = {}
    builtins, history, named = view.builtins, view.history, view.named
    for header in headers:
        if header in builtins:
            value = builtins[header]
        elif header in history:
            value = history[header]
        elif header in named:
            value = named[header][3]
        else:
            value = view.get(header)
        if value is not MISSING:
            out[header] = clean(value, tz)
    return out


# ---- what a source must ask for ----------------------------------------------------------------------

LISTED = ("run_id", "run_name", "state", "tags", "notes", "group", "job_type")  # what W&B's cheap listing carries
# Built-in cells a setting changes (NAME, TIMEZONE, WANDB_APP_URL) or time moves (runtime of a live run) while W&B
# changes nothing in the run: a rewrite of one says nothing about W&B's updatedAt.
DERIVED = ("user", "name", "created_at", "updated_at", "_timestamp", "runtime", "url", "project", "gpu_memory")


def listed_row(row: dict[str, Any]) -> dict[str, Any]:
    """The cells of a row that a run's listing (no config, no summary) can fill: a partial row for the merge."""
    return {h: v for h, v in row.items() if h in LISTED}


_LISTED_VALUES = {  # the built-ins a listing fills, as _builtins gives them (a test holds the two together)
    "run_id": lambda run: run.id, "run_name": lambda run: run.name, "state": lambda run: run.state,
    "tags": lambda run: ", ".join(run.tags), "notes": lambda run: run.notes, "group": lambda run: run.group,
    "job_type": lambda run: run.job_type,
}


def listed_cells(run: Run, headers: Iterable[str], tz: dt.tzinfo) -> dict[str, Any]:
    """`listed_row(row_for(RunView(run), headers, tz))` without building the run's view or its whole row: a sync
    that lists 10,000 unchanged runs needs only these few cells of each (every LISTED header is a built-in, and a
    built-in wins over history, config and summary, so no other part of the run can change them)."""
    return {h: clean(_LISTED_VALUES[h](run), tz) for h in headers if h in _LISTED_VALUES}


def key_names(headers: Iterable[str]) -> tuple[set[str], set[str]]:
    """The top-level config and summary keys these headers name literally (`lr`, `config.model.layers` -> model)."""
    config: set[str] = set()
    summary: set[str] = set()
    for header in headers:
        if header in BUILTIN_HEADERS:
            continue
        key = key_of(header)  # `lr␠` names the key `lr `, `a.b [2]` the key `a.b`
        for prefix, found in (("config.", config), ("summary.", summary)):
            if key.startswith(prefix):
                found.update({key[len(prefix):], key[len(prefix):].split(".")[0]})
                break
        else:
            config.update({key, key.split(".")[0]})
            summary.update({key, key.split(".")[0]})
    return config, summary


def source_keys(runs: Iterable[Run], headers: Iterable[str]) -> tuple[set[str], set[str]]:
    """The top-level config and summary keys these headers read in these runs, fuzzy matches included."""
    headers = [h for h in headers if h not in BUILTIN_HEADERS]
    config: set[str] = set()
    summary: set[str] = set()
    for run in runs:
        view = RunView(run)
        for header in headers:
            name = view.resolve(header)
            if name is not None:
                source, _, top, _ = view.named[name]
                (config if source == "config" else summary).add(top)
    return config, summary


def glob_keys(runs: Iterable[Run], include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """The top-level config and summary keys of these runs that dynamic headers show under these globs (the rule
    choose_headers applies, on flattened names): what a source must ask for so that no such column misses a value.
    A name's verdict is kept, so 200 runs of 2,000 keys cost one glob match per distinct name, not per run."""
    rules = HeaderRules(include=tuple(include), exclude=tuple(exclude))
    config: set[str] = set()
    summary: set[str] = set()
    verdicts: dict[tuple[str, str], bool] = {}

    def shown(source: str, name: str, value: Any) -> bool:
        if isinstance(value, dict) and "_type" in value:  # a media object: never a column
            return False
        known = verdicts.get((source, name))
        if known is None:
            known = verdicts[(source, name)] = not is_internal(name, None) and _wanted(name, source, rules)
        return known

    for run in runs:
        for source, raw, found in (("config", run.config, config), ("summary", run.summary, summary)):
            for key, value in raw.items():
                if key in found:
                    continue
                names = flatten({key: value}).items() if isinstance(value, dict) and value else ((key, value),)
                if any(shown(source, name, v) for name, v in names):
                    found.add(key)
    return config, summary
