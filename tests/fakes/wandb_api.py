"""A fake W&B GraphQL server answering what wandb.Api 0.31 sends: Viewer, Runs (paged, filtered, ordered), Run,
and the Run field sampledHistory (see sampled_history), and GetSweep / GetSweepLegacy (a sweep in the shape of
wandb's generated SweepFragment; its config as YAML text, runCount and bestLoss computed from the runs that name
it, as W&B's server does).

W&B's edges, on by default where the real service has them (or where we assume it does; README says which):
- cursors are an offset into the order as it is when the next page is asked for, which real servers need not
  keep still: a run that moves while a client pages is seen twice or skipped;
- `updatedAt` is answered and moved by every change made through the control API below (`edit`, `heartbeat`);
  `World.updated_moves = False` is the other world, where it moves only with the heartbeat;
- heartbeat-free edits (`edit`), deletions (`delete`), "after page N is answered, do this" (`after_page`);
- `config(keys: $k)` and `summaryMetrics(keys: $k)` select keys, as W&B's schema allows;
- faults from httpfake: a 429 with `Retry-After` and `RateLimit-*` (`rate_limit`), a page slower than
  wandb-core's 30 s attempt limit ("slow").

Run standalone: python -m tests.fakes.wandb_api --port 0 --runs N [--entity E --project P --api-key K]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import math
import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .httpfake import BaseHandler, BaseWorld, Fault, FakeServer, LoggedRequest, html_error

DEFAULT_KEY = "local-" + "0" * 40  # wandb wants 40+ characters; not a real key
_OP = re.compile(r"\b(query|mutation)\s+(\w+)")
_FIELDS = {"createdAt": "createdAt", "created_at": "createdAt", "heartbeatAt": "heartbeatAt",
           "heartbeat_at": "heartbeatAt", "updatedAt": "updatedAt", "updated_at": "updatedAt",
           "username": "username", "state": "state", "displayName": "displayName", "display_name": "displayName",
           "name": "name", "tags": "tags", "group": "group", "jobType": "jobType", "job_type": "jobType",
           "sweep": "sweepName", "sweepName": "sweepName"}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")  # W&B answers naive UTC times


class FakeClock:
    """The fake server's clock, set by the test: each reading is `step` later than the one before, so stamps are
    the same on every machine whatever its load (a test that needs the same second twice passes step=0)."""

    def __init__(self, start: dt.datetime = dt.datetime(2030, 1, 1), step: dt.timedelta = dt.timedelta(seconds=1)):
        self.now, self.step = start, step

    def __call__(self) -> dt.datetime:
        now, self.now = self.now, self.now + self.step
        return now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class _Marked(dict):
    """A run's config, summary or system metrics: a change made in place marks the run for the server to stamp
    (a change inside a nested dict is not seen: set the top-level key, or the attribute, instead)."""

    __slots__ = ("mark",)

    def __init__(self, data: dict, mark) -> None:
        super().__init__(data)
        self.mark = mark

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.mark()

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        self.mark()

    def __ior__(self, other):
        super().__ior__(other)
        self.mark()
        return self

    def update(self, *args, **kw) -> None:
        super().update(*args, **kw)
        self.mark()

    def pop(self, *args):
        out = super().pop(*args)
        self.mark()
        return out

    def popitem(self):
        out = super().popitem()
        self.mark()
        return out

    def setdefault(self, key, default=None):
        out = super().setdefault(key, default)
        self.mark()
        return out

    def clear(self) -> None:
        super().clear()
        self.mark()


# What marks a run when set: what the server stamps (FakeRun.signature), and the stamps an order sorts by.
_WATCHED = {"display_name", "state", "config", "summary", "system", "username", "tags", "group", "job_type",
            "notes", "sweep", "heartbeat_at", "created_at", "updated_at"}


@dataclass
class FakeRun:
    name: str  # the run id, as W&B calls it in GraphQL
    entity: str
    project: str
    display_name: str = ""
    state: str = "finished"
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    system: dict = field(default_factory=dict)
    username: str | None = "alice"
    tags: list = field(default_factory=list)
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    sweep: str | None = None
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1))
    heartbeat_at: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1))
    history: list[dict] = field(default_factory=list)  # logged rows, in order; `_step` is the index unless given
    updated_at: dt.datetime | None = None  # the last change of any kind; None: the heartbeat's

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.heartbeat_at
        self._seen = (self.signature(), self.heartbeat_at)  # as the server last stamped it
        self._on_change = None  # set by the World that holds the run: it stamps marked runs only

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("config", "summary", "system") and not isinstance(value, _Marked):
            value = _Marked(value, self._mark)
        object.__setattr__(self, name, value)
        if name in _WATCHED:
            self._mark()

    def _mark(self) -> None:
        on_change = self.__dict__.get("_on_change")
        if on_change is not None:
            on_change(self)

    def signature(self) -> str:
        """Everything a change can touch, as text: the server notices any change, however a test made it."""
        return repr((self.display_name, self.state, self.config, self.summary, self.system, self.username,
                     self.tags, self.group, self.job_type, self.notes, self.sweep, self.heartbeat_at))

    def node(self, wanted: set[str], config_keys: list | None = None, summary_keys: list | None = None) -> dict:
        config = self.config if config_keys is None else {k: v for k, v in self.config.items() if k in config_keys}
        summary = self.summary if summary_keys is None else \
            {k: v for k, v in self.summary.items() if k in summary_keys}
        full = {
            "id": base64.b64encode(f"Run:v1:{self.name}:{self.project}:{self.entity}".encode()).decode(),
            "projectId": "1", "name": self.name, "displayName": self.display_name or self.name,
            "tags": list(self.tags), "sweepName": self.sweep, "state": self.state,
            "config": json.dumps({k: {"value": v, "desc": None} for k, v in config.items()}),
            "group": self.group, "jobType": self.job_type, "commit": None, "readOnly": False,
            "createdAt": iso(self.created_at), "heartbeatAt": iso(self.heartbeat_at),
            "updatedAt": iso(self.updated_at), "description": self.notes,
            "notes": self.notes, "systemMetrics": json.dumps(self.system), "summaryMetrics": json.dumps(summary),
            "historyLineCount": int(self.summary.get("_step", 0) or 0) + 1 if self.summary else 0,
            "user": {"name": self.username.title(), "username": self.username} if self.username else None,
            "historyKeys": {"keys": {}, "lastStep": 0},
        }
        return {k: v for k, v in full.items() if k in wanted}

    def field(self, name: str) -> Any:
        """A value as W&B's filters see it."""
        if name.startswith("config."):
            key = name[7:]
            key = key[:-6] if key.endswith(".value") else key
            return _dig(self.config, key)
        if name.startswith(("summary_metrics.", "summaryMetrics.")):
            return _dig(self.summary, name.split(".", 1)[1])
        name = _FIELDS.get(name, name)
        if name in ("createdAt", "heartbeatAt", "updatedAt"):  # only the one asked for: an order sorts every run
            return iso({"createdAt": self.created_at, "heartbeatAt": self.heartbeat_at,
                        "updatedAt": self.updated_at}[name])
        return {"username": self.username, "state": self.state, "displayName": self.display_name or self.name,
                "name": self.name, "tags": self.tags, "group": self.group, "jobType": self.job_type,
                "sweepName": self.sweep}.get(name)


def _dig(d: dict, dotted: str) -> Any:
    if dotted in d:
        return d[dotted]
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


@dataclass
class FakeSweep:
    name: str  # the sweep id
    entity: str
    project: str
    config: dict = field(default_factory=dict)  # as given to wandb.sweep(): method, metric, parameters
    display_name: str | None = None
    state: str = "RUNNING"  # RUNNING, PAUSED, CANCELED, FINISHED
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1))

    def node(self, runs: list[FakeRun], wanted: set[str]) -> dict:
        import yaml

        mine = [r for r in runs if r.sweep == self.name]
        metric = self.config.get("metric") or {}
        values = [v for r in mine if isinstance(v := r.summary.get(metric.get("name")), (int, float))
                  and not isinstance(v, bool) and math.isfinite(v)]
        best = (max if metric.get("goal") == "maximize" else min)(values) if values else None
        grid = self.config.get("method") == "grid" and all("values" in p for p in
                                                            (self.config.get("parameters") or {}).values())
        expected = math.prod(len(p["values"]) for p in self.config["parameters"].values()) if grid else None
        full = {"__typename": "Sweep", "id": base64.b64encode(f"Sweep:{self.name}".encode()).decode(),
                "name": self.name, "displayName": self.display_name, "method": self.config.get("method", "grid"),
                "state": self.state, "description": None, "bestLoss": best,
                "config": yaml.safe_dump(self.config, sort_keys=False), "createdAt": iso(self.created_at),
                "updatedAt": iso(self.created_at), "runCount": len(mine), "runCountExpected": expected}
        return {k: v for k, v in full.items() if k in wanted}


@dataclass
class World(BaseWorld):
    api_key: str = DEFAULT_KEY
    username: str = "alice"
    default_entity: str = "alice"
    runs: dict[tuple[str, str], list[FakeRun]] = field(default_factory=dict)
    updated_moves: bool = True  # updatedAt moves with every change; False: only with the heartbeat
    # Runs filtered on updatedAt/heartbeatAt ({"updatedAt": {"$gt": ISO}}): "honour" (what W&B does, as far as we
    # know: README "Reading W&B incrementally"), "ignore" (a server that answers as if the condition were absent),
    # "refuse" (a server that answers a GraphQL error naming the field)
    stamp_filters: str = "honour"
    clock: Any = None  # () -> naive UTC now, for the times edits stamp (tests: a FakeClock); None: the real clock
    runs_pages: int = 0  # Runs pages answered so far
    limited: tuple | None = None  # (until or None before the first hit, reset, send Retry-After, body filter)
    _after: list = field(default_factory=list)  # (page number, callback) for after_page
    _ordered: dict = field(default_factory=dict)  # query -> (token, runs in order)
    history_row_limit: int = 100_000  # sampled rows a request may ask for (specs x samples x runs); assumed
    history_refused: tuple[int, str] | None = None  # (status, message): a server that refuses sampledHistory
    sweeps: dict[tuple[str, str], list[FakeSweep]] = field(default_factory=dict)
    _changed: dict = field(default_factory=dict)  # id -> run changed since the server last stamped (FakeRun._mark)
    version: int = 0  # moves with every change and every run added or deleted: caches of the order follow it
    _members: int = 0  # moves with every run added or deleted through the World
    _names: dict = field(default_factory=dict)  # (entity, project) -> (token, {run id: run}), for by_name

    def add_sweep(self, entity: str = "alice", project: str = "proj", **kw) -> FakeSweep:
        with self.lock:
            sweep = FakeSweep(entity=entity, project=project, **kw)
            self.sweeps.setdefault((entity, project), []).append(sweep)
            self.project(entity, project)
            return sweep

    def now(self) -> dt.datetime:
        return self.clock() if self.clock else dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)

    def edit(self, name: str, entity: str = "alice", project: str = "proj", **changes) -> FakeRun:
        """A change that moves no heartbeat (the UI, run.update(), a state the server sets later): config and
        summary are merged in, other fields replaced. Any change to a run, made here or straight on the FakeRun,
        moves its updatedAt when the server next answers, where the world says it does (`notice_changes`)."""
        with self.lock:
            run = self.find(entity, project, name)
            for key, value in changes.items():
                if key in ("config", "summary"):
                    getattr(run, key).update(value)
                else:
                    setattr(run, key, value)
            return run

    def heartbeat(self, names: list[str], entity: str = "alice", project: str = "proj", **summary) -> None:
        """Live runs heartbeat (and may log): heartbeatAt and updatedAt move, so does their place in an order
        by either."""
        with self.lock:
            for name in names:
                run = self.find(entity, project, name)
                run.heartbeat_at = max(self.now(), run.heartbeat_at + dt.timedelta(seconds=1))
                run.summary.update(summary)

    def _mark(self, run: FakeRun) -> None:
        with self.lock:  # a test changes runs while the server answers
            self._changed[id(run)] = run
            self.version += 1

    def notice_changes(self) -> None:
        """What the server does on every write to a run: a moved heartbeat moves updatedAt; any other change does
        where updatedAt moves with every change (`updated_moves`). Only runs marked as changed are looked at, so
        a request costs what it asks for, not the size of the project."""
        now = None
        changed, self._changed = self._changed, {}
        for run in changed.values():
            signature = run.signature()
            if signature == run._seen[0]:
                continue
            if run.heartbeat_at != run._seen[1] or self.updated_moves:
                now = now or self.now()
                # the server's clock, to the second, as W&B answers it: never ahead of it, so two changes
                # of one run within a second share a stamp (the tool must not take the second for read)
                object.__setattr__(run, "updated_at", max(now, run.updated_at))
                self.version += 1
            object.__setattr__(run, "_seen", (signature, run.heartbeat_at))

    def delete(self, name: str, entity: str = "alice", project: str = "proj") -> None:
        with self.lock:
            self.project(entity, project).remove(self.find(entity, project, name))
            self.version += 1
            self._members += 1

    def after_page(self, n: int, callback) -> None:
        """Once the n-th Runs page from now has been answered (before the client asks for the next), call
        callback(world): runs that change while a client pages through them."""
        with self.lock:
            self._after.append((self.runs_pages + n, callback))

    def rate_limit(self, reset: float = 2, retry_after: bool = False, body_contains: str = "query Runs") -> None:
        """W&B's rate limit: from the next matching request until `reset` seconds later, every matching request
        gets a 429 with RateLimit-Limit/-Remaining/-Reset (the seconds left, rounded up), and Retry-After too if
        asked. A client that asks again too early is refused again, so the count of 429s tells how well it
        waited."""
        with self.lock:
            self.limited = (None, reset, retry_after, body_contains)

    def project(self, entity: str, project: str) -> list[FakeRun]:
        return self.runs.setdefault((entity, project), [])

    def add_run(self, entity: str = "alice", project: str = "proj", **kw) -> FakeRun:
        with self.lock:
            run = FakeRun(entity=entity, project=project, **kw)
            run._on_change = self._mark
            self.project(entity, project).append(run)
            self.version += 1
            self._members += 1
            return run

    def find(self, entity: str, project: str, name: str) -> FakeRun:
        run = self.by_name((entity, project)).get(name)
        if run is None:
            raise KeyError(f"no run {name!r} in {entity}/{project}")
        return run

    def by_name(self, key: tuple[str, str]) -> dict[str, FakeRun]:
        """The project's runs by id, kept while no run is added or removed (a request per run must not scan the
        project)."""
        runs = self.runs.get(key, [])
        token = (id(runs), len(runs), runs[-1].name if runs else None, self._members)
        cached = self._names.get(key)
        if cached is None or cached[0] != token:
            cached = self._names[key] = (token, {r.name: r for r in runs})
        return cached[1]

    def operations(self) -> list[str]:
        """The GraphQL operation of every request so far, in order."""
        with self.lock:
            out = []
            for r in self.log:
                m = _OP.search((r.body or {}).get("query", "") if isinstance(r.body, dict) else "")
                out.append(m.group(2) if m else "?")
            return out

    def generate(self, n: int, entity: str = "alice", project: str = "proj", seed: int = 0,
                 users: tuple[str, ...] = ("alice", "bob"), start: dt.datetime | None = None,
                 config_keys: int = 8, summary_keys: int = 8, history_rows: int = 0) -> list[FakeRun]:
        """n runs with realistic config and summary: floats, ints, strings, nested dicts, NaN, media; with
        history_rows, each run logged that many rows of val_loss and val_acc (16 shapes, shared between runs so
        that 10,000 runs cost no more memory than 16)."""
        rng = random.Random(seed)
        shapes = [_logged(history_rows, random.Random(seed * 100 + k)) for k in range(16)] if history_rows else []
        # A batch into a project that has runs is made now, as W&B stamps a run at its creation: all n runs at the
        # server's now (to the second, never ahead of it: the listing orders them by name within it), so a listing of
        # the runs changed since the last sync finds them. The first batch is history: 7 minutes apart from 2026 on.
        spacing, beat = dt.timedelta(minutes=7), dt.timedelta(minutes=10)
        if start is None and self.runs.get((entity, project)):
            spacing, beat = dt.timedelta(0), dt.timedelta(0)
            start = self.now()
        start = start or dt.datetime(2026, 1, 1)
        made = []
        for i in range(n):
            created = start + spacing * i
            config: dict[str, Any] = {"lr": 10 ** rng.uniform(-5, -1), "batch_size": rng.choice([16, 32, 64, 128]),
                                      "optimizer": rng.choice(["adam", "sgd", "adamw"]),
                                      "model": {"layers": rng.randint(2, 24), "hidden": rng.choice([128, 256, 512])}}
            for k in range(max(0, config_keys - 4)):
                config[f"param_{k}"] = round(rng.random(), 6)
            loss = rng.uniform(0.05, 2.5)
            summary: dict[str, Any] = {"loss": loss, "val_loss": loss * rng.uniform(1.0, 1.3),
                                       "accuracy": rng.uniform(0.5, 0.99), "epoch": rng.randint(1, 50),
                                       "_step": rng.randint(100, 10000), "_runtime": rng.uniform(10, 9000),
                                       "_timestamp": created.replace(tzinfo=dt.timezone.utc).timestamp() + 600,
                                       "_wandb": {"runtime": 600},
                                       "samples": {"_type": "image-file", "path": "media/images/x.png"}}
            for k in range(max(0, summary_keys - 4)):
                summary[f"metric_{k}"] = rng.random() if rng.random() > 0.02 else math.nan
            made.append(self.add_run(
                entity, project, name=f"r{seed:02d}{i:06d}", display_name=f"run-{i}", config=config,
                summary=summary, system={"system.gpu.0.memoryAllocatedBytes": rng.randint(1, 40) * 2**30},
                username=users[i % len(users)], state=rng.choice(["finished"] * 8 + ["failed", "crashed"]),
                tags=rng.sample(["baseline", "ablation", "paper", "debug"], rng.randint(0, 2)),
                group=rng.choice([None, "sweep-a", "sweep-b"]), job_type="train",
                created_at=created, heartbeat_at=created + beat,
                history=shapes[i % len(shapes)] if shapes else []))
        return made


def _logged(rows: int, rng: random.Random) -> list[dict]:
    """A noisy training curve: val_loss falls with a dip somewhere in the middle, val_acc rises."""
    dip = rng.randrange(rows)
    out = []
    for i in range(rows):
        loss = 2.5 * math.exp(-3 * i / rows) + rng.uniform(0, 0.2) - (0.3 if i == dip else 0)
        out.append({"val_loss": loss, "val_acc": min(1.0, 1 - loss / 3 + rng.uniform(-0.02, 0.02))})
    return out


class FakeWandb(FakeServer):
    world: World

    def __init__(self, world: World | None = None, host: str = "127.0.0.1", port: int = 0):
        super().__init__(world or World(), host, port)


class _Handler(BaseHandler):
    world: World
    json_indent = None  # W&B answers compact JSON: bytes per page as the real server sends them

    def fault_response(self, fault: Fault) -> tuple[int, Any, dict]:
        if fault.status == 200:  # a GraphQL error inside a 200, as W&B sends for bad queries
            return 200, {"errors": [{"message": "internal server error", "path": ["project"]}], "data": None}, {}
        if fault.html:
            return fault.status, html_error(fault.status), {}
        return fault.status, {"errors": [{"message": {429: "rate limit exceeded"}.get(fault.status,
                                                                                        "server error")}]}, {}

    def respond(self, method: str, raw_path: str, query: dict, raw_body: bytes,
                entry: LoggedRequest) -> tuple[int, Any, dict]:
        if raw_path != "/graphql" or method != "POST":
            return 404, {"errors": [{"message": "not found"}]}, {}
        try:
            entry.body = json.loads(raw_body or b"{}")
        except ValueError:
            return 400, {"errors": [{"message": "invalid JSON"}]}, {}
        if not self._authorised():
            return 401, {"errors": [{"message": "user is not logged in"}]}, {}
        limited = self._rate_limited(raw_body)
        if limited:
            return limited
        text = entry.body.get("query", "")
        variables = entry.body.get("variables") or {}
        m = _OP.search(text)
        op = m.group(2) if m else ""
        with self.world.lock:
            if op == "Viewer":
                return 200, {"data": {"viewer": self._viewer()}}, {}
            if op == "GetDefaultEntity" or (op == "" and "defaultEntity" in text):
                return 200, {"data": {"viewer": {"id": "VXNlcjox", "entity": self.world.default_entity}}}, {}
            wanted = set(re.findall(r"\b\w+\b", text))
            specs = history_specs(text, variables) if "sampledHistory" in wanted else None
            if specs is not None:
                refusal = self._history_refusal(specs, op, variables)
                if refusal:
                    return refusal
            # The server stamps every change as it happens. The fake stamps what a test changed when a read
            # begins (a first page, a single run) and what after_page changed right after it: tests change runs
            # only between syncs or through after_page, and a repr of every run on every page of a 100,000-run
            # project would make the fake, not the tool, the slow part.
            if op in ("Run", "RunSampledHistory") or (op == "Runs" and not variables.get("cursor")):
                self.world.notice_changes()
            if op == "Runs" and self.world.stamp_filters == "refuse" and _STAMP_FIELD.search(
                    variables.get("filters") or ""):
                return 200, {"errors": [{"message": "invalid filter: unknown field updatedAt",
                                         "path": ["project", "runs"]}], "data": None}, {}
            if op == "Runs":
                answer = {"data": {"project": self._runs(variables, wanted, text, specs)}}
                self.world.runs_pages += 1
                due = [a for a in self.world._after if a[0] <= self.world.runs_pages]
                for hook in due:
                    self.world._after.remove(hook)
                    hook[1](self.world)
                if due:
                    self.world.notice_changes()
                return 200, answer, {}
            if op in ("Run", "RunSampledHistory"):
                return 200, {"data": {"project": self._run(variables, wanted, specs)}}, {}
            if op in ("GetSweep", "GetSweepLegacy"):
                return 200, {"data": {"project": self._sweep(variables, wanted)}}, {}
        return 200, {"errors": [{"message": f"Cannot query operation {op!r} on this fake"}], "data": None}, {}

    def _rate_limited(self, raw_body: bytes) -> tuple | None:
        with self.world.lock:
            if not self.world.limited:
                return None
            until, reset, retry_after, body_contains = self.world.limited
            if body_contains.encode() not in raw_body:
                return None
            if until is None:  # the window opens with the first request it meets
                until = time.monotonic() + reset
                self.world.limited = (until, reset, retry_after, body_contains)
            left = until - time.monotonic()
            if left <= 0:
                self.world.limited = None
                return None
        wait = str(math.ceil(left))
        headers = {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": wait}
        if retry_after:
            headers["Retry-After"] = wait
        return 429, {"errors": [{"message": "rate limit exceeded"}]}, headers

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, key = base64.b64decode(auth[6:]).decode().partition(":")
            return key == self.world.api_key
        if auth.startswith("Bearer "):
            return auth[7:] == self.world.api_key
        return False

    def _viewer(self) -> dict:
        w = self.world
        return {"id": "VXNlcjox", "entity": w.default_entity, "username": w.username,
                "email": f"{w.username}@example.com", "flags": "{}", "teams": {"edges": []}}

    def _history_refusal(self, specs: list, op: str, v: dict) -> tuple[int, Any, dict] | None:
        """W&B's refusals of sampledHistory: the field unknown (world.history_refused), or an answer with more
        sampled rows than world.history_row_limit."""
        w = self.world
        if w.history_refused:
            status, message = w.history_refused
            return status, {"errors": [{"message": message, "path": ["project", "runs", "edges", 0, "node",
                                                                   "sampledHistory"]}], "data": None}, {}
        runs = w.runs.get((v.get("entity"), v.get("project")), [])
        per_run = sum(int(spec.get("samples") or 0) for spec in specs)
        count = min(len(runs), int(v.get("perPage") or 50)) if op == "Runs" else 1
        if per_run * count > w.history_row_limit:
            return 200, {"errors": [{"message": f"sampledHistory: too many samples requested ({per_run * count} "
                                                f"> {w.history_row_limit}); ask for fewer",
                                     "path": ["project", "runs"]}], "data": None}, {}
        return None

    def _runs(self, v: dict, wanted: set[str], text: str, specs: list | None = None) -> dict | None:
        key = (v.get("entity"), v.get("project"))
        if key not in self.world.runs:
            return None
        order = v.get("order") or "+created_at"
        ordered = self._ordered(key, v.get("filters") or "{}", order)
        # An offset into the order as it is now: whatever moved since the last page shifts what comes next.
        start = _offset(v.get("cursor"))
        per_page = int(v.get("perPage") or 50)
        page = ordered[start:start + per_page]
        keys = {name: v.get(m.group(2)) for name in ("config", "summaryMetrics")
                if (m := re.search(rf"\b({name})\s*\(\s*keys\s*:\s*\$(\w+)", text))}
        edges = [{"node": _with_history(r, wanted, specs, keys), "cursor": _cursor(start + i + 1)}
                 for i, r in enumerate(page)]
        return {"internalId": "UHJvamVjdDox", "readOnly": False, "runCount": len(ordered),
                "runs": {"edges": edges, "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None,
                                                      "hasNextPage": start + per_page < len(ordered)}}}

    def _ordered(self, key: tuple, filters_json: str, order: str):
        """The filtered runs in order, cached until a run's sortable fields change (paging a large project
        would otherwise sort it once per page)."""
        runs = self.world.runs[key]
        # every change to a run moves world.version (FakeRun._mark); a run appended or removed straight on the
        # list changes its length
        token = (len(runs), self.world.version)
        cache_key = (key, filters_json, order, self.world.stamp_filters)
        cached = self.world._ordered.get(cache_key)
        if cached and cached[0] == token:
            return cached[1]
        filters = json.loads(filters_json)
        if self.world.stamp_filters == "ignore":
            filters = _without_stamps(filters)
        field_name = order.lstrip("+-")
        pairs = sorted((((_sortable(r.field(field_name)), r.name), r) for r in runs if matches(r, filters)),
                       key=lambda p: p[0], reverse=order.startswith("-"))
        result = [r for _, r in pairs]
        self.world._ordered[cache_key] = (token, result)
        return result

    def _run(self, v: dict, wanted: set[str], specs: list | None = None) -> dict | None:
        key = (v.get("entity"), v.get("project"))
        if key not in self.world.runs:
            return None
        run = self.world.by_name(key).get(v.get("name"))
        return {"run": _with_history(run, wanted, specs) if run else None}

    def _sweep(self, v: dict, wanted: set[str]) -> dict | None:
        key = (v.get("entity"), v.get("project"))
        if key not in self.world.runs:
            return None
        sweep = next((s for s in self.world.sweeps.get(key, []) if s.name == v.get("name")), None)
        return {"sweep": sweep.node(self.world.runs[key], wanted) if sweep else None}


# ---- sampledHistory ------------------------------------------------------------------------------------
# The Run field `sampledHistory(specs: [JSONString!]!): [JSON]`, answered as wandb 0.31's client reads it
# (Run._sampled_history takes `sampledHistory[0]` as a list of row dicts; wandb_controller concatenates the
# lists): one list per spec, of the logged rows that have ALL the spec's keys, each row holding only those keys,
# at most `samples` rows chosen evenly over the matching rows, the first and the last always among them.
# How the real server chooses its samples is not documented; evenly spread is the assumption (tests/live checks
# a real run), and it can miss a run's true extreme, as the real one can.
_HISTORY_ARG = re.compile(r"sampledHistory\s*\(\s*specs\s*:\s*(\$\w+|\[(?:[^\[\]\"]|\"(?:[^\"\\]|\\.)*\")*\])")


def history_specs(text: str, variables: dict) -> list[dict] | None:
    """The specs of a query's sampledHistory field, from a variable or from string literals in the text."""
    m = _HISTORY_ARG.search(text)
    if not m:
        return None
    arg = m.group(1)
    raw = variables.get(arg[1:]) if arg.startswith("$") else json.loads(arg)
    raw = [raw] if isinstance(raw, str) else (raw or [])
    return [json.loads(spec) if isinstance(spec, str) else spec for spec in raw]


def sampled_history(rows: list[dict], specs: list[dict]) -> list[list[dict]]:
    out = []
    for spec in specs:
        keys = list(spec.get("keys") or [])
        matching = []
        for i, row in enumerate(rows):
            full = {"_step": i, **row}
            if all(k in full for k in keys):
                matching.append({k: _json_number(full[k]) for k in keys})
        samples = max(1, int(spec.get("samples") or 500))
        if len(matching) > samples:
            last = len(matching) - 1
            picks = sorted({round(j * last / (samples - 1)) for j in range(samples)} if samples > 1 else {0})
            matching = [matching[j] for j in picks]
        out.append(matching)
    return out


def _json_number(value: Any) -> Any:
    """NaN and infinities as text: JSON has no spelling for them (an assumption about W&B: its Go server cannot
    send them as numbers either; the tool ignores whatever is not a number)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def _with_history(run: FakeRun, wanted: set[str], specs: list | None, keys: dict | None = None) -> dict:
    keys = keys or {}
    node = run.node(wanted, keys.get("config"), keys.get("summaryMetrics"))
    if specs is not None:
        node["sampledHistory"] = sampled_history(run.history, specs)
    return node


def _sortable(value: Any) -> tuple:
    if value is None:
        return (0, 0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value, "")
    return (2, 0, str(value))


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return max(0, int(base64.b64decode(cursor).decode().split(":", 1)[1]))
    except (ValueError, IndexError):
        return 0


_STAMPS = {"updatedAt", "updated_at", "heartbeatAt", "heartbeat_at"}
_STAMP_FIELD = re.compile(r'"(updatedAt|updated_at|heartbeatAt|heartbeat_at)"')


def _without_stamps(flt: Any) -> Any:
    """A filter as a server that ignores updatedAt/heartbeatAt conditions reads it (World.stamp_filters)."""
    if isinstance(flt, list):
        return [_without_stamps(f) for f in flt]
    if not isinstance(flt, dict):
        return flt
    return {k: _without_stamps(v) for k, v in flt.items() if k not in _STAMPS}


def matches(run: FakeRun, flt: Any) -> bool:
    """MongoDB-style filters, the subset W&B documents: $and/$or/$nor, $eq/$ne/$gt/$gte/$lt/$lte/$in/$nin,
    $exists and $regex, on run fields and config.*/summary_metrics.* keys."""
    if not isinstance(flt, dict):
        return True
    for key, cond in flt.items():
        if key == "$and":
            if not all(matches(run, c) for c in cond):
                return False
        elif key == "$or":
            if not any(matches(run, c) for c in cond):
                return False
        elif key == "$nor":
            if any(matches(run, c) for c in cond):
                return False
        elif not _test(run.field(key), cond):
            return False
    return True


def _test(value: Any, cond: Any) -> bool:
    if not isinstance(cond, dict) or not any(k.startswith("$") for k in cond):
        return value == cond or (isinstance(value, list) and cond in value)
    for op, arg in cond.items():
        if isinstance(value, str) and isinstance(arg, str) and op in ("$gt", "$gte", "$lt", "$lte") \
                and re.match(r"\d{4}-\d\d-\d\dT", arg):
            value_c, arg_c = utc(value), utc(arg)
        else:
            value_c, arg_c = value, arg
        try:
            ok = {"$eq": lambda: value_c == arg_c, "$ne": lambda: value_c != arg_c,
                  "$gt": lambda: value_c is not None and value_c > arg_c,
                  "$gte": lambda: value_c is not None and value_c >= arg_c,
                  "$lt": lambda: value_c is not None and value_c < arg_c,
                  "$lte": lambda: value_c is not None and value_c <= arg_c,
                  "$in": lambda: (any(x in arg for x in value) if isinstance(value, list) else value in arg),
                  "$nin": lambda: (not any(x in arg for x in value) if isinstance(value, list)
                                   else value not in arg),
                  "$exists": lambda: (value is not None) == bool(arg),
                  "$regex": lambda: value is not None and re.search(arg, str(value)) is not None}[op]()
        except (KeyError, TypeError):
            return False
        if not ok:
            return False
    return True


FakeWandb.handler = _Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--runs", type=int, default=0, help="generate this many runs")
    parser.add_argument("--entity", default="alice")
    parser.add_argument("--project", default="proj")
    parser.add_argument("--api-key", default=DEFAULT_KEY)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    server = FakeWandb(World(api_key=args.api_key, default_entity=args.entity, username=args.entity),
                       host=args.host, port=args.port)
    server.world.project(args.entity, args.project)
    server.world.generate(args.runs, args.entity, args.project, seed=args.seed)
    server.serve_until_killed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
