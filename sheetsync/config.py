"""config.json + environment + flags -> one frozen Settings, with every problem reported at once.

Keys are UPPER_CASE as in the original script, and its configs keep working (TEAM_NAME and PROJECT_NAME are
aliases of WANDB_ENTITY and WANDB_PROJECT). Flags override the file; secrets come only from the environment
(or the key-file path in GCP_JSON). Nothing here touches the network.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .columns import SHEETS_MAX_COLUMNS
from .errors import ConfigError

STATES = ("running", "finished", "failed", "crashed", "killed", "preempted", "preempting", "pending")
KEYS = {
    "FIXED_HEADERS": "a list of header names, e.g. [\"run_id\", \"run_name\", \"state\", \"lr\", \"notes\"]",
    "GCP_JSON": "the path of the service-account key file, e.g. \"./service_account.json\"",
    "NAME": "a map of W&B usernames to display names, e.g. {\"alice42\": \"Alice\"}",
    "TEAM_NAME": "the W&B entity (team or user), e.g. \"my-lab\"",
    "PROJECT_NAME": "the W&B project, e.g. \"resnet\"",
    "WANDB_ENTITY": "the W&B entity (team or user), e.g. \"my-lab\"",
    "WANDB_PROJECT": "the W&B project, e.g. \"resnet\"",
    "PROJECTS": "a list of \"entity/project\" (each to its own worksheet) or {\"project\": \"e/p\", "
                "\"worksheet\": \"name\"}",
    "SPREADSHEET": "the spreadsheet's URL, key or title",
    "WORKSHEET": "a worksheet title, e.g. \"runs\"",
    "STATES": f"a list of run states from {list(STATES)}",
    "DYNAMIC_HEADERS": "true, false, or {\"include\": [\"globs\"], \"exclude\": [\"globs\"]}",
    "MAX_COLUMNS": f"a whole number from 1 to {SHEETS_MAX_COLUMNS}",
    "SCHEDULE_TIME": "a whole number of minutes >= 1",
    "TIMEZONE": "an IANA time zone, e.g. \"Europe/Berlin\" or \"UTC\"",
    "FULL_RESYNC_HOURS": "a number of hours > 0, e.g. 24",
    "GOOGLE_API_ENDPOINT": "an http(s) base URL, e.g. \"https://sheets.googleapis.com\"",
    "USER_NAME": "a W&B username whose runs alone are synced",
    "ORDER": "\"append\" (new runs at the bottom) or \"newest_first\" (new runs under the header)",
    "PER_PAGE": "a whole number of runs per W&B request, 1 to 1000",
    "REQUEST_TIMEOUT": "seconds a single request may take, a number > 0",
    "HIGHLIGHT": "a map of header to \"min\" or \"max\", e.g. {\"val_loss\": \"min\"}",
    "HIGHLIGHT_SCALE": "true or false (a colour scale on every HIGHLIGHT column)",
    "NUMBER_FORMATS": "a map of header (or glob) to a number-format pattern or a count of significant digits "
                      "from 1 to 15, e.g. {\"accuracy\": \"0.00%\", \"lr\": \"0.0E+00\", \"*\": 3}",
}
DEFAULT_FIXED = ("run_id", "run_name", "user", "state", "created_at", "updated_at", "runtime", "tags", "notes")


@dataclass(frozen=True)
class Target:
    """One W&B project synced into one worksheet."""

    entity: str
    project: str
    worksheet: str

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}"


@dataclass(frozen=True)
class Settings:
    targets: tuple[Target, ...] = ()
    spreadsheet: str | None = None
    key_file: str | None = None  # a path, or the key JSON itself (GCP_JSON may hold either)
    user_name: str | None = None
    states: tuple[str, ...] = ()
    fixed_headers: tuple[str, ...] = DEFAULT_FIXED
    names: Mapping[str, str] = field(default_factory=dict)
    dynamic: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_columns: int = 1000
    schedule_minutes: int = 30
    timezone: str | None = None
    full_resync_hours: float = 24.0
    google_endpoint: str | None = None
    order: str = "append"
    per_page: int = 200
    request_timeout: float = 60.0
    highlight: Mapping[str, str] = field(default_factory=dict)
    highlight_scale: bool = False
    number_formats: Mapping[str, str | int] = field(default_factory=dict)
    once: bool = False
    dry_run: bool = False
    source: Path | None = None
    output: Path | None = None
    health_file: Path | None = None


class _Problems(list):
    def add(self, where: str, message: str) -> None:
        self.append(f"{where}: {message}")


def _locate(text: str, key: str, path: str) -> str:
    """file:line:col of a key in config.json, so the message points at it."""
    m = re.search(r'"' + re.escape(key) + r'"\s*:', text)
    if not m:
        return path
    line = text.count("\n", 0, m.start()) + 1
    col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    return f"{path}:{line}:{col}"


def read_config_file(path: Path, problems: _Problems) -> tuple[dict, str]:
    if not path.exists():
        problems.add(str(path), "no such file. Pass --config_path, or copy config.json from the repository "
                                "and edit it")
        return {}, ""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(str(path), f"cannot be read ({exc})")
        return {}, ""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON: {exc.msg}")
        return {}, text
    if not isinstance(data, dict):
        problems.add(str(path), "must hold one JSON object, {\"KEY\": value, ...}")
        return {}, text
    return data, text


def load(args: Any, env: Mapping[str, str] = os.environ) -> Settings:
    """Builds the Settings from flags (an argparse namespace), the config file and the environment."""
    problems = _Problems()
    local = bool(getattr(args, "source", None) or getattr(args, "output", None))
    path = Path(args.config_path) if getattr(args, "config_path", None) else Path("config.json")
    if getattr(args, "config_path", None) or path.exists() or not local:
        raw, text = read_config_file(path, problems)
    else:
        raw, text = {}, ""  # local mode runs without a config file
    where = lambda key: _locate(text, key, str(path))  # noqa: E731

    for key in raw:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6) or \
                difflib.get_close_matches(key.upper(), KEYS, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(sorted(KEYS))}."
            problems.add(where(key), f"unknown key {key!r}.{hint}")

    def get(key: str, check, default=None):
        if key not in raw:
            return default
        value = raw[key]
        ok = check(value)
        if not ok:
            problems.add(where(key), f"{key} must be {KEYS[key]}, got {json.dumps(value)[:80]}")
            return default
        return value

    is_str = lambda v: isinstance(v, str) and v.strip() != ""  # noqa: E731
    is_str_list = lambda v: isinstance(v, list) and all(is_str(x) for x in v)  # noqa: E731
    whole = lambda lo, hi: (lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi)  # noqa
    positive = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0  # noqa: E731

    fixed = get("FIXED_HEADERS", is_str_list, list(DEFAULT_FIXED))
    dupes = sorted({h for h in fixed if fixed.count(h) > 1})
    if dupes:
        problems.add(where("FIXED_HEADERS"), f"FIXED_HEADERS lists {dupes} more than once")
    if "run_id" not in fixed:
        fixed = ["run_id"] + list(fixed)  # rows are matched by run id: the column must exist
    names = get("NAME", lambda v: isinstance(v, dict) and all(is_str(x) for x in v.values()), {})
    entity = _alias(raw, "WANDB_ENTITY", "TEAM_NAME", problems, where)
    project = _alias(raw, "WANDB_PROJECT", "PROJECT_NAME", problems, where)
    for key in ("WANDB_ENTITY", "TEAM_NAME", "WANDB_PROJECT", "PROJECT_NAME"):
        get(key, is_str)
    spreadsheet = get("SPREADSHEET", is_str)
    worksheet = get("WORKSHEET", lambda v: is_str(v) and len(v) <= 100, "runs")
    states = get("STATES", lambda v: is_str_list(v) and all(s in STATES for s in v), [])
    dynamic_raw = get("DYNAMIC_HEADERS", _dynamic_ok, True)
    max_columns = get("MAX_COLUMNS", whole(1, SHEETS_MAX_COLUMNS), 1000)
    schedule = get("SCHEDULE_TIME", whole(1, 10**6), 30)
    tz = get("TIMEZONE", is_str)
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(where("TIMEZONE"), f"TIMEZONE must be {KEYS['TIMEZONE']}, got {tz!r}")
            tz = None
    full_resync = get("FULL_RESYNC_HOURS", positive, 24)
    endpoint = get("GOOGLE_API_ENDPOINT", lambda v: is_str(v) and re.match(r"^https?://[^\s/]+", v))
    order = get("ORDER", lambda v: v in ("append", "newest_first"), "append")
    per_page = get("PER_PAGE", whole(1, 1000), 200)
    timeout = get("REQUEST_TIMEOUT", positive, 60)
    highlight = get("HIGHLIGHT", lambda v: isinstance(v, dict) and all(x in ("min", "max") for x in v.values()), {})
    highlight_scale = get("HIGHLIGHT_SCALE", lambda v: isinstance(v, bool), False)
    number_formats = get("NUMBER_FORMATS", lambda v: isinstance(v, dict) and all(
        (is_str(x) and len(x) <= 100) or whole(1, 15)(x) for x in v.values()), {})
    user_name = get("USER_NAME", is_str)
    key_file = get("GCP_JSON", is_str)
    projects = get("PROJECTS", lambda v: isinstance(v, list) and v and all(_project_ok(p) for p in v), [])

    # -- flags override the file ----------------------------------------------------------------
    if getattr(args, "user_name", None):
        user_name = args.user_name
    if getattr(args, "schedule_time", None) is not None:
        if args.schedule_time < 1:
            problems.add("--schedule_time", f"must be a whole number of minutes >= 1, got {args.schedule_time}")
        else:
            schedule = args.schedule_time
    if getattr(args, "sheet_name", None):
        spreadsheet = args.sheet_name
    flag_projects = getattr(args, "project", None) or []
    for p in flag_projects:
        if not re.fullmatch(r"[^/\s]+/[^/\s]+", p):
            problems.add("--project", f"must be ENTITY/PROJECT, e.g. my-lab/resnet, got {p!r}")

    # -- environment ------------------------------------------------------------------------------
    env_key = env.get("GCP_JSON") or env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if env_key:
        key_file = env_key
    if env.get("GOOGLE_API_ENDPOINT"):
        endpoint = env["GOOGLE_API_ENDPOINT"]
    if key_file and not key_file.lstrip().startswith("{") and path.parent and not Path(key_file).is_absolute() \
            and not env_key:
        key_file = str((path.parent / key_file))  # relative to the config file, as a user would expect

    # -- targets ----------------------------------------------------------------------------------
    targets: list[Target] = []
    if getattr(args, "source", None) and not flag_projects:
        pass  # run folders on disk: every run found goes to WORKSHEET; only --project filters them
    elif flag_projects:
        for p in flag_projects:
            if "/" in p:
                e, pr = p.split("/", 1)
                targets.append(Target(e, pr, worksheet if len(flag_projects) == 1 else pr))
    elif projects:
        for p in projects:
            spec = p if isinstance(p, str) else p["project"]
            e, pr = spec.split("/", 1)
            ws = p.get("worksheet") if isinstance(p, dict) else None
            targets.append(Target(e, pr, ws or pr))
    elif entity and project:
        targets.append(Target(entity, project, worksheet))
    sheets = [t.worksheet for t in targets]
    if len(sheets) != len(set(sheets)):
        problems.add(where("PROJECTS"), "two projects go to the same worksheet; give each its own \"worksheet\"")

    source = Path(args.source) if getattr(args, "source", None) else None
    output = Path(args.output) if getattr(args, "output", None) else None
    if output is not None and output.suffix.lower() not in (".xlsx", ".csv"):
        problems.add("--output", f"must end in .xlsx or .csv, got {str(output)!r}")
    if source is not None and not source.is_dir():
        problems.add("--source", f"{str(source)!r} is not a folder; give the folder holding W&B's wandb/ runs")
    if source is None:
        if not targets:
            problems.add(str(path), "no W&B project: set WANDB_ENTITY and WANDB_PROJECT (or TEAM_NAME and "
                                    "PROJECT_NAME, or PROJECTS), or pass --project ENTITY/PROJECT")
    elif not targets:
        targets.append(Target("local", "local", worksheet))
    if source is None and not _wandb_key_known(env):
        problems.add("WANDB_API_KEY", "no W&B API key: set WANDB_API_KEY (from https://wandb.ai/authorize) or run "
                                      "`wandb login` once, which writes ~/.netrc")
    if output is None:
        if not spreadsheet:
            problems.add(str(path), "no spreadsheet: set SPREADSHEET to its URL, key or title, or pass "
                                    "--sheet_name (or write to a file with --output runs.xlsx)")
        if not key_file:
            problems.add(str(path), "no Google service-account key: set GCP_JSON in config.json or the "
                                    "environment (a key file path), or GOOGLE_APPLICATION_CREDENTIALS")
        elif not key_file.lstrip().startswith("{") and not Path(key_file).is_file():
            problems.add("GCP_JSON", f"the key file {key_file!r} does not exist. Create a key for the service "
                                     "account in the Google Cloud console (IAM > Service accounts > Keys) and "
                                     "give its path")
    if problems:
        raise ConfigError(problems)

    include, exclude, dynamic = (), (), bool(dynamic_raw)
    if isinstance(dynamic_raw, dict):
        include, exclude, dynamic = tuple(dynamic_raw.get("include", ())), tuple(dynamic_raw.get("exclude", ())), True
    health = env.get("WSS_HEALTH_FILE")
    return Settings(
        targets=tuple(targets), spreadsheet=spreadsheet, key_file=key_file, user_name=user_name,
        states=tuple(states), fixed_headers=tuple(fixed), names=dict(names), dynamic=dynamic, include=include,
        exclude=exclude, max_columns=max_columns, schedule_minutes=schedule, timezone=tz,
        full_resync_hours=float(full_resync), google_endpoint=endpoint, order=order, per_page=per_page,
        request_timeout=float(timeout), highlight=dict(highlight), highlight_scale=highlight_scale,
        number_formats=dict(number_formats), once=bool(getattr(args, "once", False)),
        dry_run=bool(getattr(args, "dry_run", False)), source=source, output=output,
        health_file=Path(health) if health else None)


def _wandb_key_known(env: Mapping[str, str]) -> bool:
    """A key in the environment, or a netrc entry for the W&B host, as `wandb login` writes it."""
    if env.get("WANDB_API_KEY"):
        return True
    host = re.sub(r"^https?://", "", env.get("WANDB_BASE_URL") or "https://api.wandb.ai").split("/")[0].split(":")[0]
    netrc = Path(env.get("NETRC") or Path.home() / ".netrc")
    try:
        return f"machine {host}" in netrc.read_text()
    except OSError:
        return False


def _alias(raw: dict, key: str, alias: str, problems: _Problems, where) -> str | None:
    a, b = raw.get(key), raw.get(alias)
    if a is not None and b is not None and a != b:
        problems.add(where(alias), f"{alias} ({b!r}) and {key} ({a!r}) name the same setting; keep one")
    value = a if a is not None else b
    return value if isinstance(value, str) and value.strip() else None


def _dynamic_ok(v: Any) -> bool:
    if isinstance(v, bool):
        return True
    return isinstance(v, dict) and set(v) <= {"include", "exclude"} and all(
        isinstance(x, list) and all(isinstance(g, str) for g in x) for x in v.values())


def _project_ok(p: Any) -> bool:
    spec = p if isinstance(p, str) else (p.get("project") if isinstance(p, dict) else None)
    if isinstance(p, dict) and not set(p) <= {"project", "worksheet"}:
        return False
    return isinstance(spec, str) and re.fullmatch(r"[^/\s]+/[^/\s]+", spec) is not None
