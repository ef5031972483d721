"""Owns the configuration: config.json, the flags and the environment made into one frozen Settings.

Every key is one row of KEYS, so what a key accepts, what it is when unset, what else can set it and the Settings
field it fills are read in one place (the Settings class is made from the rows), and the message for a bad value is
the row's own words. What only the environment sets (where the tool runs, and knobs for the test world) is a row of
ENVIRONMENT; no other module reads the environment, but google_auth's search for Google's credentials. Keys are
UPPER_CASE as in the original script, so its config files keep working (TEAM_NAME and PROJECT_NAME are the old names
of WANDB_ENTITY and WANDB_PROJECT). A flag overrides the file, and the environment overrides both: secrets and
endpoints belong to where the tool runs, not to a file that is shared. Problems are collected, not raised one by
one, so a user fixes them all in one go.
Nothing here touches the network.
"""

from __future__ import annotations

import difflib
import json
import netrc
import os
import re
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .columns import SHEETS_MAX_COLUMNS
from . import secrets
from .errors import ConfigError

STATES = ("running", "finished", "failed", "crashed", "killed", "preempted", "preempting", "pending")
DEFAULT_FIXED = ("run_id", "run_name", "user", "state", "created_at", "updated_at", "runtime", "tags", "notes")
SUMMARY_TABS = ("sweeps", "groups")  # each a worksheet "<WORKSHEET> sweeps" / "<WORKSHEET> groups"
ENTITY_PROJECT = re.compile(r"[^/\s]+/[^/\s]+")
SERVICE_ACCOUNT = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SECRETS = frozenset({"WEBHOOK_SECRET"})  # keys whose values no message quotes
SECRET_KEYS = ("GCP_JSON",)  # a bad value of these is described, never shown
TOKEN_FILE = "google-token.json"  # the --login token, in the user's config folder (see token_path)


def key_is_json(value: str) -> bool:
    """Whether a GCP_JSON value is the credentials themselves (as secret stores hand them over: the JSON, base64 of
    it, quoted, ...; see secrets.py) rather than the path of a credentials file."""
    return secrets.inline(value) is not None


def _text(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != ""


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(_text(x) for x in v)


def _whole(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _map_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, dict) and all(check(x) for x in v.values())


def _zone(v: Any) -> bool:
    try:
        return _text(v) and ZoneInfo(v) is not None
    except (ZoneInfoNotFoundError, ValueError):
        return False


def _url(v: Any) -> bool:
    return _text(v) and re.match(r"^https?://[^\s/]+", v) is not None


def _dynamic(v: Any) -> bool:
    return isinstance(v, bool) or (isinstance(v, dict) and set(v) <= {"include", "exclude"} and all(
        isinstance(x, list) and all(isinstance(g, str) for g in x) for x in v.values()))


def _listen(v: Any) -> bool:
    """HOST:PORT, e.g. "0.0.0.0:8080", "127.0.0.1:0" (any free port) or "[::]:8080"."""
    return listen_address(v) is not None


def listen_address(v: Any) -> tuple[str, int] | None:
    """LISTEN as (host, port), or None when it is not HOST:PORT."""
    m = re.fullmatch(r"\[?([^\[\]\s]*?)\]?:(\d{1,5})", v.strip()) if isinstance(v, str) else None
    if m is None or int(m.group(2)) > 65535:
        return None
    return m.group(1) or "0.0.0.0", int(m.group(2))


def _project(p: Any) -> bool:
    if isinstance(p, dict):
        return set(p) <= {"project", "worksheet"} and isinstance(p.get("project"), str) and \
            ENTITY_PROJECT.fullmatch(p["project"]) is not None
    return isinstance(p, str) and ENTITY_PROJECT.fullmatch(p) is not None


def _named(to: str) -> tuple[str, str]:
    """"field: type" -> (field, type)."""
    name, kind = to.split(":", 1)
    return name.strip(), kind.strip()


def _frozen(v: Any) -> Any:
    """A value as Settings keeps it: lists as tuples, maps copied (Settings is frozen and shared)."""
    return tuple(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v


def _with_run_id(headers: Any) -> tuple[str, ...]:
    headers = tuple(headers)
    return headers if "run_id" in headers else ("run_id", *headers)  # rows are matched by run id


@dataclass(frozen=True)
class Key:
    """One config key: what it accepts, what it is when unset, what may set it instead of the file, and the Settings
    field it fills (`to`, "name: type"; the field and its default follow from this row)."""

    name: str
    check: Callable[[Any], bool]
    form: str  # what a valid value looks like, for "NAME must be <form>, got ..."
    default: Any = None
    env: tuple[str, ...] = ()  # the first of these that is set and not empty wins over the file and the flag
    flag: str | None = None  # overrides the file
    alias_of: str | None = None  # the key this older name stands for
    to: str | None = None  # "field: type" of Settings; None: the key makes a field with others (see _settings)
    convert: Callable[[Any], Any] = _frozen  # the checked value -> the field's value

    @property
    def field(self) -> str | None:
        return _named(self.to)[0] if self.to else None


@dataclass(frozen=True)
class Env:
    """A setting only the environment gives (where the tool runs, not a shared file), or a knob for tests only."""

    name: str
    to: str  # "field: type" of Settings
    convert: Callable[[str], Any]  # the variable's text -> the field's value; ValueError: a problem
    form: str
    default: Any = None
    test_only: bool = False  # for the test world (fast retries, a transport forced); users never need it

    @property
    def field(self) -> str:
        return _named(self.to)[0]


ENTITY = 'the W&B entity (team or user), e.g. "my-lab"'
PROJECT = 'the W&B project, e.g. "resnet"'
KEYS = {key.name: key for key in (
    Key("FIXED_HEADERS", _texts, 'a list of header names, e.g. ["run_id", "run_name", "state", "lr", "notes"]',
        DEFAULT_FIXED, to="fixed_headers: tuple[str, ...]", convert=_with_run_id),
    Key("GCP_JSON", _text, "the path of a Google credentials file (a service-account key, gcloud's ADC file, a "
        'workload identity federation config), or its JSON, e.g. "./service_account.json"',
        env=("GCP_JSON", "GOOGLE_APPLICATION_CREDENTIALS"), to="key_file: str | None"),  # a path, or the JSON
    Key("IMPERSONATE_SERVICE_ACCOUNT", lambda v: _text(v) and SERVICE_ACCOUNT.fullmatch(v) is not None,
        'the e-mail of a service account to act as, e.g. "sheets-sync@my-project.iam.gserviceaccount.com"',
        env=("IMPERSONATE_SERVICE_ACCOUNT",), to="impersonate: str | None"),  # act as it, without a key
    Key("OAUTH_CLIENT_FILE", _text, 'the path of an OAuth client file of type "Desktop app", for --login, e.g. '
        '"./client_secret.json"', env=("OAUTH_CLIENT_FILE",)),
    Key("NAME", _map_of(_text), 'a map of W&B usernames to display names, e.g. {"alice42": "Alice"}', {},
        to="names: Mapping[str, str]"),
    Key("TEAM_NAME", _text, ENTITY, alias_of="WANDB_ENTITY"),
    Key("PROJECT_NAME", _text, PROJECT, alias_of="WANDB_PROJECT"),
    Key("WANDB_ENTITY", _text, ENTITY),
    Key("WANDB_PROJECT", _text, PROJECT),
    Key("PROJECTS", lambda v: isinstance(v, list) and len(v) > 0 and all(_project(p) for p in v),
        'a list of "entity/project" (each to its own worksheet) or {"project": "e/p", "worksheet": "name"}', ()),
    Key("SPREADSHEET", _text, "the spreadsheet's URL, key or title", flag="--sheet_name", to="spreadsheet: str | None"),
    Key("WORKSHEET", lambda v: _text(v) and len(v) <= 100, 'a worksheet title, e.g. "runs"', "runs"),
    Key("STATES", lambda v: _texts(v) and all(s in STATES for s in v), f"a list of run states from {list(STATES)}",
        (), to="states: tuple[str, ...]"),
    Key("DYNAMIC_HEADERS", _dynamic, 'true, false, or {"include": ["globs"], "exclude": ["globs"]}', True),
    Key("MAX_COLUMNS", _whole(1, SHEETS_MAX_COLUMNS), f"a whole number from 1 to {SHEETS_MAX_COLUMNS}", 1000,
        to="max_columns: int"),
    Key("SCHEDULE_TIME", _whole(1, 10**6), "a whole number of minutes from 1 to 1,000,000", 30,
        flag="--schedule_time",
        to="schedule_minutes: int"),
    Key("TIMEZONE", _zone, 'an IANA time zone, e.g. "Europe/Berlin" or "UTC"', to="timezone: str | None"),
    Key("FULL_RESYNC_HOURS", _positive, "a number of hours > 0, e.g. 24", 24, to="full_resync_hours: float",
        convert=float),
    Key("LISTING_SCAN_MINUTES", _whole(0, 10**6), "a whole number of minutes from 0 to 1,000,000 (0: every sync)",
        60, to="listing_scan_minutes: int"),  # issue 24: how long a deletion may take to show
    Key("GOOGLE_API_ENDPOINT", _url, 'an http(s) base URL, e.g. "https://sheets.googleapis.com"',
        env=("GOOGLE_API_ENDPOINT",), to="google_endpoint: str | None"),
    Key("USER_NAME", _text, "a W&B username whose runs alone are synced", flag="--user_name",
        to="user_name: str | None"),
    Key("ORDER", lambda v: v in ("append", "newest_first"),
        '"append" (new runs at the bottom) or "newest_first" (new runs under the header)', "append", to="order: str"),
    Key("PER_PAGE", _whole(1, 1000), "a whole number of runs per W&B request, 1 to 1000", 200, to="per_page: int"),
    Key("REQUEST_TIMEOUT", _positive, "seconds a single request may take, a number > 0 (W&B: each attempt; "
        "wandb-core's own default is 30)", 60, to="request_timeout: float", convert=float),
    Key("WANDB_PACE_SECONDS", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 60,
        "seconds between two W&B requests, a number from 0 to 60 (W&B asks for at least 1)", 1,
        to="wandb_pace_seconds: float", convert=float),
    Key("DELETED_RUNS", lambda v: v in ("mark", "keep"),
        '"mark" (a run deleted in W&B keeps its row, its state cell reads "deleted") or "keep" (the row is left '
        'as it was)', "mark", to="deleted_runs: str"),
    Key("REQUESTS_PER_MINUTE", _whole(1, 100_000), "Google Sheets read (and write) requests per minute the tool may "
        "send, a whole number: Google's default quota is 60 per user; raise it only with the quota", 60,
        to="requests_per_minute: int"),
    Key("REQUEST_BYTES", _whole(100_000, 10_485_760), "the largest write request in bytes, a whole number from "
        "100000 to 10485760 (Google's cap)", 2_097_152, to="request_bytes: int"),  # Google advises 2 MB
    Key("LEASE_SECONDS", lambda v: _whole(0, 86_400)(v) and (v == 0 or v >= 5), "seconds a sync's write lease "
        "lasts without a write to renew it, a whole number >= 5 (0: no lease, only where one sync alone ever "
        "writes this spreadsheet)", 180, to="lease_seconds: int"),  # issue 23
    Key("LEASE_WAIT_SECONDS", _whole(0, 86_400), "seconds a sync waits for another sync's write lease before it "
        "skips its write, a whole number >= 0 (longer than LEASE_SECONDS: a killed sync's lease is then taken over, "
        "not waited out)", 200, to="lease_wait: int"),
    Key("HIGHLIGHT", _map_of(lambda x: x in ("min", "max")), 'a map of header to "min" or "max", e.g. '
        '{"val_loss": "min"}', {}, to="highlight: Mapping[str, str]"),
    Key("HIGHLIGHT_SCALE", lambda v: isinstance(v, bool), "true or false (a colour scale on every HIGHLIGHT column)",
        False, to="highlight_scale: bool"),
    Key("NUMBER_FORMATS", _map_of(lambda x: _text(x) and len(x) <= 100 or _whole(1, 15)(x)),
        "a map of header (or glob) to a number-format pattern or a count of significant digits from 1 to 15, "
        'e.g. {"accuracy": "0.00%", "lr": "0.0E+00", "*": 3}', {}, to="number_formats: Mapping[str, str | int]"),
    # Beyond the last value (issue 17): the best value over a run's history, its step, and a text curve.
    Key("HISTORY", lambda v: isinstance(v, dict) and all(_text(k) and x in ("min", "max") for k, x in v.items()),
        'a map of a logged metric (as W&B names it) to "min" or "max", e.g. {"val_loss": "min", "val_acc": "max"}',
        {}, to="history: Mapping[str, str]"),
    Key("HISTORY_STEPS", lambda v: isinstance(v, bool), 'true or false (a "<metric> (min) step" column beside each '
        "HISTORY column)", False, to="history_steps: bool"),
    Key("CURVES", lambda v: _texts(v) and len(set(v)) == len(v), 'a list of logged metrics, each once, e.g. '
        '["val_loss"] (a text sparkline column "val_loss (curve)" for each)', (), to="curves: tuple[str, ...]"),
    Key("SUMMARIES", lambda v: isinstance(v, list) and all(x in SUMMARY_TABS for x in v) and len(set(v)) == len(v),
        f'a list of summary tabs from {list(SUMMARY_TABS)}, each once, e.g. ["sweeps", "groups"]', [],
        to="summaries: tuple[str, ...]"),
    Key("GROUP_METRICS", _texts, 'a list of metric names summarised per group, e.g. ["val_loss", "val_acc"] '
        "(default: the HIGHLIGHT headers)"),
    # The service (issue 25): an HTTP server beside the loop, for W&B webhooks, health and metrics.
    Key("LISTEN", _listen, 'HOST:PORT to serve webhooks, health and metrics on, e.g. "0.0.0.0:8080"',
        env=("LISTEN",), flag="--listen", to="listen: tuple[str, int] | None",
        convert=lambda v: listen_address(v) if v else None),
    Key("WEBHOOK_SECRET", _text, "the secret of the W&B automation's webhook (any text; W&B signs each body with "
        "it)", env=("WEBHOOK_SECRET",), to="webhook_secret: str | None", convert=lambda v: v or None),
    Key("LOG_FORMAT", lambda v: v in ("text", "json"), '"text" (one line a sync) or "json" (one JSON object a '
        "line, for log pipelines)", "text", env=("LOG_FORMAT",), flag="--log_format", to="log_format: str"),
)}


@dataclass(frozen=True)
class Target:
    """One W&B project synced into one worksheet."""

    entity: str
    project: str
    worksheet: str

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}"


# What only the environment sets. WANDB_BASE_URL is W&B's own variable (where wandb.Api goes too).
ENVIRONMENT = (
    Env("WSS_HEALTH_FILE", "health_file: Path | None", Path, "the path of the loop's health file, e.g. "
        "/tmp/wandb_spreadsheet_sync.health (the Docker image sets it)"),
    Env("WANDB_BASE_URL", "wandb_base_url: str", lambda v: v.strip().rstrip("/"), "an http(s) base URL of a W&B "
        'server, e.g. "https://api.wandb.ai"', "https://api.wandb.ai"),
    Env("WANDB_APP_URL", "wandb_app_url: str | None", lambda v: v.strip().rstrip("/"), "where people open runs, an "
        'http(s) URL, e.g. "https://wandb.example.com"'),
    Env("WSS_RETRY_BASE_SECONDS", "retry_base_seconds: float", lambda v: _at_least(0, float(v)), "a number of "
        "seconds >= 0, the first backoff wait (Google and W&B)", 1.0, test_only=True),
    Env("WSS_WANDB_GRAPHQL", "wandb_graphql: str", lambda v: _one_of(("http", "wandb-core"), v.strip().lower()),
        '"http" (W&B\'s public GraphQL endpoint through requests) or "wandb-core" (the default)', "wandb-core",
        test_only=True),
)


def _at_least(lo: float, v: float) -> float:
    if not v >= lo:
        raise ValueError(v)
    return v


def _one_of(choices: tuple[str, ...], v: str) -> str:
    if v not in choices:
        raise ValueError(v)
    return v


def from_environment(name: str, env: Mapping[str, str] = os.environ) -> Any:
    """One ENVIRONMENT setting on its own (the health check reads its file without loading a configuration)."""
    var = next(v for v in ENVIRONMENT if v.name == name)
    return var.convert(env[name]) if env.get(name) else var.default


# Settings fields that no single key fills: made from several keys, the flags, or the environment (see _settings).
_MADE = (
    ("targets", "tuple[Target, ...]", ()),
    ("login_token", "Path | None", None),  # where --login keeps a person's token
    ("dynamic", "bool", True),  # DYNAMIC_HEADERS on (with or without globs)
    ("include", "tuple[str, ...]", ()),  # DYNAMIC_HEADERS globs
    ("exclude", "tuple[str, ...]", ()),
    ("group_metrics", "tuple[str, ...]", ()),  # GROUP_METRICS, or the HIGHLIGHT headers when unset
    ("once", "bool", False),
    ("dry_run", "bool", False),
    ("source", "Path | None", None),
    ("output", "Path | None", None),
)


SECRET_FIELDS = frozenset({"key_file", "webhook_secret"})  # may hold a key or a secret: never in a repr


def _field(name: str, kind: str, default: Any) -> tuple[str, str, Any]:
    return name, kind, field(default_factory=lambda: _frozen(default), repr=name not in SECRET_FIELDS)


# The whole configuration, frozen: one field per row of KEYS with a `to`, per ENVIRONMENT row, and per _MADE row.
Settings = make_dataclass("Settings", [
    *(_field(n, kind, default) for n, kind, default in _MADE),
    *(_field(*_named(key.to), key.convert(key.default)) for key in KEYS.values() if key.to),
    *(_field(*_named(env.to), env.default) for env in ENVIRONMENT),
], frozen=True)
Settings.__module__ = __name__  # make_dataclass takes module= only from Python 3.12
Settings.__doc__ = "Everything a sync needs, checked. Made by load(); its fields follow KEYS, ENVIRONMENT and _MADE."


class _Problems(list):
    def add(self, where: str, message: str) -> None:
        self.append(f"{where}: {message}")


@dataclass(frozen=True)
class _File:
    path: Path
    data: dict = field(default_factory=dict)
    text: str = ""

    def where(self, key: str) -> str:
        """file:line:col of a key, so the message points at it."""
        m = re.search(r'"' + re.escape(key) + r'"\s*:', self.text)
        if not m:
            return str(self.path)
        line = self.text.count("\n", 0, m.start()) + 1
        col = m.start() - (self.text.rfind("\n", 0, m.start()) + 1) + 1
        return f"{self.path}:{line}:{col}"


def load(args: Any, env: Mapping[str, str] = os.environ) -> Settings:
    """Builds the Settings from flags (an argparse namespace), the config file and the environment."""
    flags, problems = vars(args), _Problems()
    file = _read_file(flags, problems)
    if problems:  # a file that cannot be read says so alone: what it lacks would only mislead
        raise ConfigError(problems)
    values = _check_keys(file, problems)
    _rebase_key_path(values, file.path.parent)
    _apply_flags(values, flags, problems)
    _apply_environment(values, env)
    targets = _build_targets(values, flags, file, problems)
    _check_source_and_sink(values, flags, env, file, problems)
    _check_environment(values, problems)
    made = _settings(values, targets, flags, env, problems)
    _check_workbook_names(targets, values, flags, file, problems)
    if problems:
        raise ConfigError(problems)
    return Settings(**made)


def _read_file(flags: Mapping[str, Any], problems: _Problems) -> _File:
    path = Path(flags.get("config_path") or "config.json")
    if not flags.get("config_path") and not path.exists() and (flags.get("source") or flags.get("output")):
        return _File(path)  # local mode runs without a config file
    if not path.exists():
        problems.add(str(path), "no such file. Pass --config_path, or copy config.json from the repository "
                                "and edit it")
        return _File(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows Notepad starts a UTF-8 file with a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(str(path), f"cannot be read ({exc})")
        return _File(path)
    twice: list[str] = []
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: _once(pairs, twice))
    except json.JSONDecodeError as exc:
        problems.add(f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON: {exc.msg}. A config file is one JSON "
                                                         'object, e.g. {"WANDB_PROJECT": "resnet"}')
        return _File(path, text=text)
    if not isinstance(data, dict):
        problems.add(str(path), "must hold one JSON object, {\"KEY\": value, ...}")
        return _File(path, text=text)
    file = _File(path, data, text)
    for name in dict.fromkeys(twice):
        problems.add(file.where(name), f"{name!r} is given more than once; keep one (JSON readers take the last "
                                       "silently)")
    return file


def _once(pairs: list[tuple[str, Any]], twice: list[str]) -> dict:
    """A JSON object's pairs as a dict, noting every key given more than once (at any depth)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            twice.append(key)
        seen[key] = value
    return seen


def _check_keys(file: _File, problems: _Problems) -> dict[str, Any]:
    """Every key's value from the file, or its default where the file has none or a bad one."""
    for name in file.data:
        if name not in KEYS:
            problems.add(file.where(name), f"unknown key {name!r}.{_did_you_mean(name)}")
    values = {}
    for key in KEYS.values():
        values[key.name] = key.default
        if key.name in file.data:
            value = file.data[key.name]
            if key.check(value):
                values[key.name] = value
            else:
                got = ("a value not shown (it is a secret)" if key.name in SECRETS else
                       f"a {type(value).__name__} ({secrets.described(json.dumps(value))})" if key.name in SECRET_KEYS
                       else json.dumps(value)[:80])
                problems.add(file.where(key.name), f"{key.name} must be {key.form}, got {got}")
    for key in KEYS.values():
        if key.alias_of:
            old, new = file.data.get(key.name), file.data.get(key.alias_of)
            if old is not None and new is not None and old != new:
                problems.add(file.where(key.name), f"{key.name} ({old!r}) and {key.alias_of} ({new!r}) name the "
                                                   "same setting; keep one")
            if new is None:  # the old name counts only where the file does not use the new one
                values[key.alias_of] = values[key.name]
            del values[key.name]
    fixed = values["FIXED_HEADERS"]
    dupes = sorted({h for h in fixed if fixed.count(h) > 1})
    if dupes:
        problems.add(file.where("FIXED_HEADERS"), f"FIXED_HEADERS lists {dupes} more than once")
    return values


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, KEYS, n=1, cutoff=0.6) or \
        difflib.get_close_matches(name.upper(), KEYS, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(sorted(KEYS))}."


def _rebase_key_path(values: dict[str, Any], folder: Path) -> None:
    """A key path written in the config file is relative to that file, as its writer expects, wherever the tool
    is started from. Runs before the environment is applied: a path from there is taken as given."""
    for name in ("GCP_JSON", "OAUTH_CLIENT_FILE"):
        key = values[name]
        if key and not key_is_json(key) and not Path(key).is_absolute() and len(key) <= secrets.MAX_PATH:
            values[name] = str(folder / key)


def _apply_flags(values: dict[str, Any], flags: Mapping[str, Any], problems: _Problems) -> None:
    for key in KEYS.values():
        value = flags.get(key.flag[2:]) if key.flag else None
        if value is None or value == "":  # not given: the file's value stands
            continue
        if key.check(value):
            values[key.name] = value
        else:
            problems.add(key.flag, f"must be {key.form}, got {value!r}")


def _apply_environment(values: dict[str, Any], env: Mapping[str, str]) -> None:
    """Values here are taken as given: a key is checked when it is looked for on disk, an endpoint when used."""
    for key in KEYS.values():
        for name in key.env:
            if env.get(name):
                values[key.name] = env[name]
                break


def _build_targets(values: dict[str, Any], flags: Mapping[str, Any], file: _File,
                   problems: _Problems) -> tuple[Target, ...]:
    wanted = flags.get("project") or []
    for p in wanted:
        if not ENTITY_PROJECT.fullmatch(p):
            problems.add("--project", f"must be ENTITY/PROJECT, e.g. my-lab/resnet, got {p!r}")
    worksheet = values["WORKSHEET"]
    if wanted:
        targets = [_target(p, worksheet if len(wanted) == 1 else None) for p in wanted if "/" in p]
    elif flags.get("source"):
        targets = []  # run folders on disk: every run found goes to WORKSHEET; only --project filters them
    elif values["PROJECTS"]:
        targets = [_target(p, None) if isinstance(p, str) else _target(p["project"], p.get("worksheet"))
                   for p in values["PROJECTS"]]
    elif values["WANDB_ENTITY"] and values["WANDB_PROJECT"]:
        targets = [Target(values["WANDB_ENTITY"], values["WANDB_PROJECT"], worksheet)]
    else:
        targets = []
    sheets = [t.worksheet for t in targets]
    if len(sheets) != len(set(sheets)):
        problems.add(file.where("PROJECTS"), "two projects go to the same worksheet; give each its own \"worksheet\"")
    tabs = [f"{sheet} {kind}" for sheet in sheets or [worksheet] for kind in values["SUMMARIES"] or ()]
    for tab in [t for t in tabs if len(t) > 100]:
        problems.add(file.where("SUMMARIES"), f"the summary tab {tab[:40]!r}... would have a title of {len(tab)} "
                                              "characters; Google allows 100: shorten WORKSHEET (or the worksheet "
                                              "in PROJECTS)")
    clash = sorted(set(tabs) & set(sheets))
    if clash:
        problems.add(file.where("SUMMARIES"), f"the summary tab {clash[0]!r} is also a project's worksheet; rename "
                                              "that worksheet")
    if not targets and flags.get("source"):
        targets = [Target("local", "local", worksheet)]
    elif not targets:
        problems.add(str(file.path), "no W&B project: set WANDB_ENTITY and WANDB_PROJECT (or TEAM_NAME and "
                                     "PROJECT_NAME, or PROJECTS), or pass --project ENTITY/PROJECT")
    return tuple(targets)


def _target(spec: str, worksheet: str | None) -> Target:
    """A target of "entity/project", into the worksheet named after the project unless one is given."""
    entity, project = spec.split("/", 1)
    return Target(entity, project, worksheet or project)


def _check_source_and_sink(values: dict[str, Any], flags: Mapping[str, Any], env: Mapping[str, str], file: _File,
                           problems: _Problems) -> None:
    """The runs come from a folder or from W&B (with a key); they go to a file or a spreadsheet (with a key)."""
    source, output = _path(flags, "source"), _path(flags, "output")
    if output is not None and output.suffix.lower() not in (".xlsx", ".csv"):
        problems.add("--output", f"must end in .xlsx or .csv, got {str(output)!r}")
    if source is not None and not source.is_dir():
        problems.add("--source", f"{str(source)!r} is not a folder; give the folder holding W&B's wandb/ runs")
    if source is None and not _wandb_key_known(env):
        problems.add("WANDB_API_KEY", "no W&B API key: set WANDB_API_KEY (from https://wandb.ai/authorize) or run "
                                      "`wandb login` once, which writes ~/.netrc")
    if output is not None:
        return
    if not values["SPREADSHEET"]:
        problems.add(str(file.path), "no spreadsheet: set SPREADSHEET to its URL, key or title, or pass "
                                     "--sheet_name (or write to a file with --output runs.xlsx)")
    # No GCP_JSON is fine: the sink looks for the other kinds of Google credentials when it starts.
    key = values["GCP_JSON"]
    if key and not key_is_json(key) and secrets.path_of(key) is None:
        variable = next((name for name in KEYS["GCP_JSON"].env if env.get(name)), "GCP_JSON")
        problems.append(secrets.refusal(variable, key))  # names the variable, shows nothing of a secret
    impersonate = values["IMPERSONATE_SERVICE_ACCOUNT"]
    if impersonate and not KEYS["IMPERSONATE_SERVICE_ACCOUNT"].check(impersonate):
        problems.add("IMPERSONATE_SERVICE_ACCOUNT", f"must be {KEYS['IMPERSONATE_SERVICE_ACCOUNT'].form}, got "
                                                    f"{impersonate!r}")


def _check_environment(values: dict[str, Any], problems: _Problems) -> None:
    """Values the environment set are checked here, where the form of a bad one is known (a secret is never
    quoted back)."""
    for name in ("LISTEN", "LOG_FORMAT"):
        key, value = KEYS[name], values[name]
        if value is not None and not key.check(value):
            problems.add(key.env[0], f"must be {key.form}, got {str(value)[:80]!r}")
    if values["WEBHOOK_SECRET"] is not None and not _text(values["WEBHOOK_SECRET"]):
        problems.add("WEBHOOK_SECRET", f"must be {KEYS['WEBHOOK_SECRET'].form}")


XLSX_TITLE_CHARS = 31
XLSX_FORBIDDEN = set('\\/?*[]:')


def workbook_title_problem(title: str) -> str | None:
    """Why an .xlsx workbook cannot take this worksheet title (Excel's rule), or None."""
    bad = sorted(set(title) & XLSX_FORBIDDEN)
    if bad:
        return f"holds {' '.join(bad)}, which a workbook's sheet name cannot"
    if len(title) > XLSX_TITLE_CHARS:
        return f"has {len(title)} characters; a workbook's sheet name has at most {XLSX_TITLE_CHARS}"
    if title.startswith("'") or title.endswith("'"):
        return "starts or ends with an apostrophe, which a workbook's sheet name cannot"
    if title.lower() == "history":
        return "is 'History', a name Excel keeps for itself"
    return None


def _check_workbook_names(targets: tuple[Target, ...], values: dict[str, Any], flags: Mapping[str, Any], file: _File,
                          problems: _Problems) -> None:
    """An .xlsx output takes only the worksheet titles a workbook can: refused here, before anything is read."""
    output = _path(flags, "output")
    if output is None or output.suffix.lower() != ".xlsx":
        return
    sheets = [t.worksheet for t in targets] or [values["WORKSHEET"]]
    titles = sheets + [f"{sheet} {kind}" for sheet in sheets for kind in values["SUMMARIES"] or ()]
    for title in dict.fromkeys(titles):
        why = workbook_title_problem(title)
        if why:
            where = file.where("PROJECTS") if values["PROJECTS"] and title not in (values["WORKSHEET"],) \
                else file.where("WORKSHEET")
            problems.add(where, f"the worksheet {title!r} {why}. With an .xlsx output, name it without "
                                "\\ / ? * [ ] :, in at most 31 characters (WORKSHEET, or the worksheet in PROJECTS)")


def _path(flags: Mapping[str, Any], name: str) -> Path | None:
    return Path(flags[name]) if flags.get(name) else None


def wandb_key(env: Mapping[str, str] = os.environ) -> tuple[str | None, str]:
    """W&B's API key and where it was found: WANDB_API_KEY, or the netrc entry for the W&B host that `wandb login`
    writes. (None, "") when there is none."""
    if env.get("WANDB_API_KEY"):
        return env["WANDB_API_KEY"], "WANDB_API_KEY"
    base = (env.get("WANDB_BASE_URL") or "https://api.wandb.ai").strip()
    host = re.sub(r"^https?://", "", base).split("/")[0].split(":")[0]
    path = env.get("NETRC") or os.path.expanduser("~/.netrc")
    try:
        found = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        found = None
    return (found[2], f"the netrc file ({path})") if found else (None, "")


def _wandb_key_known(env: Mapping[str, str]) -> bool:
    return wandb_key(env)[0] is not None


def known_secrets(env: Mapping[str, str] = os.environ, extra: Iterable[str | None] = ()) -> list[str]:
    """The secrets this process may hold, for the log scrubber: W&B's key (from the environment or the netrc file),
    the webhook secret, and Google credentials in any form GCP_JSON takes (the value itself when it is not a path,
    and the private key, refresh token and client secret inside it), in the environment or among `extra` (the
    config's GCP_JSON and WEBHOOK_SECRET)."""
    from . import secrets

    found = [wandb_key(env)[0], env.get("WEBHOOK_SECRET")]
    for value in [env.get("GCP_JSON"), env.get("GOOGLE_APPLICATION_CREDENTIALS"), *extra]:
        if not value:
            continue
        if secrets.path_of(value) is None:
            found.append(value)  # inline credentials (JSON, base64, quoted): the value itself is secret
        try:
            info, _ = secrets.read_credentials(value, "GCP_JSON")
        except Exception:  # not credentials: nothing inside to scrub  # noqa: BLE001
            continue
        found += [info.get(k) for k in ("private_key", "refresh_token", "client_secret") if isinstance(info, dict)]
    return [s for s in found if isinstance(s, str) and len(s) >= 8]


def _settings(values: dict[str, Any], targets: tuple[Target, ...], flags: Mapping[str, Any],
              env: Mapping[str, str], problems: _Problems) -> dict[str, Any]:
    """The Settings fields: one per key (its row's `to`), per ENVIRONMENT variable, and those _MADE of several."""
    made = {key.field: key.convert(values[key.name]) for key in KEYS.values() if key.to}
    for var in ENVIRONMENT:
        made[var.field] = var.default
        if env.get(var.name):
            try:
                made[var.field] = var.convert(env[var.name])
            except ValueError:
                problems.add(var.name, f"must be {var.form}, got {env[var.name]!r}")
    dynamic = values["DYNAMIC_HEADERS"]
    globs = dynamic if isinstance(dynamic, dict) else {}
    group = values["GROUP_METRICS"]
    made.update(
        targets=targets, login_token=token_path(env), dynamic=dynamic is not False,
        include=tuple(globs.get("include", ())), exclude=tuple(globs.get("exclude", ())),
        group_metrics=tuple(group if group is not None else values["HIGHLIGHT"]),
        once=bool(flags.get("once")), dry_run=bool(flags.get("dry_run")), source=_path(flags, "source"),
        output=_path(flags, "output"))
    return made


@dataclass(frozen=True)
class Early:
    """What the command line needs before the config file is read: how to log, and where a --healthcheck asks."""

    log_format: str = "text"
    listen: tuple[str, int] | None = None


def early(args: Any, env: Mapping[str, str] = os.environ) -> Early:
    """From the flags and the environment only (a HEALTHCHECK must be quick, and logging starts first); a bad value
    is left for load() to report."""
    flags = vars(args)
    form = flags.get("log_format") or env.get("LOG_FORMAT") or "text"
    return Early(form if form in ("text", "json") else "text",
                 listen_address(flags.get("listen") or env.get("LISTEN") or ""))


def token_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where --login keeps a person's Google token: the user's config folder, as the XDG spec and most tools
    have it (%APPDATA% on Windows)."""
    if env.get("XDG_CONFIG_HOME"):
        folder = Path(env["XDG_CONFIG_HOME"])
    elif os.name == "nt" and env.get("APPDATA"):
        folder = Path(env["APPDATA"])
    else:
        folder = Path(env.get("HOME") or Path.home()) / ".config"
    return folder / "wandb-spreadsheet-sync" / TOKEN_FILE


def login_paths(args: Any, env: Mapping[str, str] = os.environ) -> tuple[Path, Path]:
    """The OAuth client file for --login (the flag's value, else OAUTH_CLIENT_FILE from the environment or the
    config file) and where the token goes. Only these are checked: signing in needs no project or spreadsheet."""
    flags, problems = vars(args), _Problems()
    client = flags.get("login") or env.get("OAUTH_CLIENT_FILE")
    if not client:
        path = Path(flags.get("config_path") or "config.json")
        file = _read_file(flags, _Problems()) if path.exists() else _File(path)
        named = file.data.get("OAUTH_CLIENT_FILE")
        values = {"GCP_JSON": None, "OAUTH_CLIENT_FILE": named if isinstance(named, str) else None}
        if values["OAUTH_CLIENT_FILE"]:
            _rebase_key_path(values, file.path.parent)
        client = values["OAUTH_CLIENT_FILE"]
    if not client:
        problems.add("--login", "needs the OAuth client file: `--login client_secret.json` (or OAUTH_CLIENT_FILE). "
                                "Create one in the Google Cloud console: Google Auth Platform > Clients > Create "
                                "client > Desktop app, and download its JSON")
    elif not Path(client).is_file():
        problems.add("--login", f"the OAuth client file {str(client)!r} does not exist")
    if problems:
        raise ConfigError(problems)
    return Path(client), token_path(env)
