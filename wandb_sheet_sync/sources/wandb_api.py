"""W&B's API -> Run records: a cheap listing of the project, then only the runs that changed, one GraphQL page at a
time (sources/increments.py decides what to read; sources/wandb_graphql.py sends and waits).

Why not iterate `api.runs(...)`: in wandb 0.31 a run whose user is null makes iteration raise a TypeError that
`list()` swallows into an empty page (the sync would see no runs at all); each Run object also creates an
empty folder under $WANDB_DIR, and results are cached for the life of the Api. So the source sends its own Runs
queries (built by `runs_query`; config, summary and system metrics in the page: no per-run requests), builds
plain Run records from the JSON in `to_run`, and makes a fresh Api per sync.

Every page is ordered `+created_at`, the order W&B's own client moved to because a descending order on a moving
key (heartbeat) repeats and skips runs while they change (wandb issues #6614, #7666, PR #7675); a run seen twice
all the same (a cursor that is an offset, a run inserted before it) is kept once: its later answer, the freshest.
Asked for (`config(keys:)`, `summaryMetrics(keys:)`; W&B takes exact top-level keys, not globs, and has no cheap
field that lists a run's keys):
- DYNAMIC_HEADERS off: the keys the headers name and those a full read found them to match, in every read but the
  full read that learns them.
- DYNAMIC_HEADERS with include/exclude globs, a trade-off: a full read asks for every key (only it can find which
  keys pass the globs) and learns them (the keys that pass, as choose_headers decides, plus those the headers
  match), kept in the read state with the globs they were learned under. An incremental read then asks a run
  the sheet knows that the listing shows still `running` for the learned keys and those its headers name; a run
  new to the sheet, one that comes back, and a known run that is no longer running (finished, crashed, edited
  afterwards: final metrics such as test_acc are logged at the end) are read with every key, and the new keys
  they bring that pass the globs join the learned ones: a new key becomes a column at that sync, selected from
  then on. A running run that starts logging a new key shows it when it stops running or at the next full read
  (FULL_RESYNC_HOURS). A read state without learned keys (an older one, or keys learned under other globs) means
  every key until the next full read; where updatedAt does not move every sync is a full read, so every key.
- Dynamic headers without globs: every key (any new key must become a column).
- systemMetrics only when gpu_memory is a column.
Run links follow wandb's own app-URL rules (WANDB_APP_URL, api.wandb.ai -> wandb.ai, dedicated cloud
api.x -> app.x, a self-hosted server serves both).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from ..columns import glob_keys, key_names, source_keys
from ..config import Settings, Target
from ..errors import AccessError, CredentialsError, Interrupted, SourceError, SyncError
from ..history import Wanted, cells as history_cells
from ..run import Run, Sweep
from . import Chunk, Fetched, Need
from .history import Sampling, points as history_points
from .increments import (LearnedKeys, ReadState, UiHashes, bucket, choose, content, edge_of, iso, next_state,
                         parse_time, same_at_edge, stamp, stamps_of)
from .sweeps import read_sweeps
from .wandb_graphql import GraphQL, RateLimited, set_attempt_timeout, translate

log = logging.getLogger("wandb_spreadsheet_sync")
LIST_PAGE = 1000  # runs per listing page: ~150 bytes a run
LIST_FIELDS = "name displayName state tags notes group jobType heartbeatAt updatedAt user { username }"
HISTORY_MARK = "__sampled_history__"  # where a full query's sampledHistory goes; filled as each page is sent


def runs_query(config_keys: list[str] | None = None, summary_keys: list[str] | None = None,
               system_metrics: bool = True, extra: str = "", fields: str | None = None) -> str:
    """The Runs query, asking for every key (None) or only these; `extra` adds a selection to the node (sampled
    history, say); `fields` replaces the node's selection (the listing)."""
    params = ["$project: String!", "$entity: String!", "$cursor: String", "$perPage: Int = 50", "$order: String",
              "$filters: JSONString"]
    if fields is None:
        params += ["$configKeys: [String!]"] * (config_keys is not None) + \
                  ["$summaryKeys: [String!]"] * (summary_keys is not None)
        fields = " ".join([
            "name displayName state", "config(keys: $configKeys)" if config_keys is not None else "config",
            "summaryMetrics(keys: $summaryKeys)" if summary_keys is not None else "summaryMetrics",
            "systemMetrics" if system_metrics else "",
            "createdAt heartbeatAt updatedAt tags group jobType notes sweepName user { username name }", extra])
    return f"""
query Runs({', '.join(params)}) {{
  project(name: $project, entityName: $entity) {{
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {{
      edges {{ node {{ {" ".join(fields.split())} }} cursor }}
      pageInfo {{ endCursor hasNextPage }}
    }}
  }}
}}
"""


def _json_field(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        out = json.loads(value)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def app_url(base_url: str, app: str | None = None) -> str:
    """Where people open runs, by wandb's own rules (wandb.util.api_to_app_url; `app` is WANDB_APP_URL)."""
    if app:
        return app.strip().rstrip("/")
    try:
        from wandb.util import api_to_app_url

        return api_to_app_url(base_url).rstrip("/")
    except ImportError:  # a wandb without it: its rules as of 0.31
        parts = urlsplit(base_url)
        host = parts.netloc
        if host.startswith("api.wandb."):
            host = host[4:]
        elif host.startswith("api."):
            host = "app." + host[4:]
        return f"{parts.scheme or 'https'}://{host}"


_FILTER_WORDS = re.compile(r"updatedAt|heartbeatAt|filter", re.IGNORECASE)


class _NotHonoured(Exception):
    """The changed-runs listing brought a run whose stamps had not moved: W&B ignored the filter."""


@dataclass
class _Reading:
    """What one fetch reads with, handed to a full read that streams (its pages are read after fetch returns)."""

    target: Target
    need: Need
    gql: GraphQL
    page: Callable[[str, dict], dict]
    query: str
    variables: dict
    sampling: Sampling
    web: str
    pages: list[int]


def _light(node: dict) -> dict:
    """A run's node as the listing has it (LIST_FIELDS): what the read state needs, without config, summary and
    sampled history, so the full node can be let go once its Run is made."""
    return {k: node.get(k) for k in ("name", "displayName", "state", "tags", "notes", "group", "jobType",
                                     "heartbeatAt", "updatedAt", "user")}


def to_run(node: dict, target: Target, names: dict, web: str, wanted: Wanted | None = None) -> Run:
    config = {k: (v.get("value") if isinstance(v, dict) and "value" in v else v)
              for k, v in _json_field(node.get("config")).items() if not k.startswith("_wandb")}
    summary = _json_field(node.get("summaryMetrics"))
    user = (node.get("user") or {}).get("username")  # a run may have no user: that must not break anything
    created, beat = parse_time(node.get("createdAt")), parse_time(node.get("heartbeatAt"))
    runtime = summary.get("_runtime")
    if not isinstance(runtime, (int, float)) or isinstance(runtime, bool) or not math.isfinite(runtime):
        runtime = (beat - created).total_seconds() if created and beat else None
    stamp = summary.get("_timestamp")
    timestamp = (dt.datetime.fromtimestamp(stamp, dt.timezone.utc)
                 if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and math.isfinite(stamp)
                 else None)
    run_id = node["name"]
    return Run(
        id=run_id, name=node.get("displayName") or run_id, user=user, display_user=names.get(user, user),
        state=node.get("state") or "", created_at=created, updated_at=beat, timestamp=timestamp,
        runtime=runtime, tags=tuple(node.get("tags") or ()), group=node.get("group"), job_type=node.get("jobType"),
        notes=node.get("notes"), sweep=node.get("sweepName"), project=target.path,
        url=f"{web}/{target.entity}/{target.project}/runs/{run_id}", config=config, summary=summary,
        system_metrics=_json_field(node.get("systemMetrics")),
        history=history_cells(history_points(node, wanted.keys), summary, wanted) if wanted else {})


class WandbSource:
    def __init__(self, settings: Settings, stop: threading.Event | None = None):
        self.settings = settings
        self.stop = stop
        self.requests = 0
        self.quota_wait = 0.0  # seconds W&B's rate limit made the reads wait (for /metrics)
        self._resume: dict[Target, tuple[str, dict, dict[str, dict]]] = {}  # a full read cut short
        self._unfiltered: set[Target] = set()  # W&B did not honour the changed-runs filter here: list every run
        self._last: tuple[GraphQL, str] | None = None  # this sync's GraphQL sender and web address, for sweeps
        self._apis: dict[str, Any] = {}  # entity -> its wandb.Api, made once (see _api)

    def _api(self, target: Target):
        """One wandb.Api per entity for the life of the process, its caches emptied for each sync (issue 23): a
        fresh Api every sync grew the wandb-core helper process by ~15 MB per 100 syncs; one Api reused, by ~1-3 MB
        (bench/loop_memory.py measures it)."""
        import wandb  # heavy: imported only when a sync runs, never for --help

        api = self._apis.get(target.entity)
        if api is not None:
            api.flush()  # the runs cache: every sync reads W&B afresh
            for cache in ("_projects", "_sweeps", "_reports"):
                if isinstance(getattr(api, cache, None), dict):
                    getattr(api, cache).clear()
            return api
        if not set_attempt_timeout(self.settings.request_timeout):
            log.debug("this wandb takes its per-attempt timeout from WANDB_HTTP_TIMEOUT only")
        try:
            api = wandb.Api(overrides={"entity": target.entity},
                            timeout=max(1, math.ceil(self.settings.request_timeout)))
        except Exception as exc:  # wandb raises several types for the same causes
            raise translate(exc, target, self.settings.wandb_base_url) from exc
        self.requests += 1  # the Viewer check wandb.Api makes, once
        self._apis[target.entity] = api
        return api

    def filters(self) -> dict:
        parts: list[dict] = []
        if self.settings.user_name:
            parts.append({"username": self.settings.user_name})
        if self.settings.states:
            parts.append({"state": {"$in": list(self.settings.states)}})
        return {"$and": parts} if len(parts) > 1 else (parts[0] if parts else {})

    def keeps(self, node: dict) -> bool:
        """USER_NAME and STATES, on a listed run."""
        user = (node.get("user") or {}).get("username")
        return (not self.settings.user_name or user == self.settings.user_name) and \
            (not self.settings.states or node.get("state") in self.settings.states)

    def fetch(self, target: Target, need: Need | None = None, progress: Callable[[int], None] | None = None) -> Fetched:
        need = need or Need()
        api = self._api(target)
        gql = GraphQL(api, self.settings, target, self.stop)
        web = app_url(gql.base_url, self.settings.wandb_app_url)
        self._last = (gql, web)
        sampling = Sampling(Wanted.of(self.settings))
        state = need.state
        full = state.needs_full(need.now, self.settings.full_resync_hours)
        globs = self._globs()
        selected = self._selection(target, need, state, full)
        # with globs, only runs that go on running are read with the selection; the rest with every key
        query, variables = self._full_query(target, need, None if globs else selected)
        chosen = self._full_query(target, need, selected) if globs and selected else None
        quiet: set[str] = set()
        pages = [0]

        def page(query: str, variables: dict) -> dict:
            while True:
                try:
                    data = gql.execute(query.replace(HISTORY_MARK, sampling.selection()), variables)
                    break
                except (CredentialsError, AccessError, RateLimited, Interrupted):
                    raise
                except SyncError as exc:  # a server that refuses sampled history: the same page with less of it
                    if HISTORY_MARK not in query or not sampling.refused(None, exc.message):
                        raise
            pages[0] += 1
            project = (data or {}).get("project")
            if project is None:
                raise AccessError(f"W&B has no project {target.path!r} that this API key can see.",
                                  "Check WANDB_ENTITY/WANDB_PROJECT (or --project) and that the key's user "
                                  "belongs to the entity.")
            return project.get("runs") or {}

        reading = _Reading(target, need, gql, page, query, variables, sampling, web, pages)
        if full and need.stream:
            return self._streamed(reading, progress)
        started = time.monotonic()
        scanned, hold, known = full, False, None
        try:
            if full:
                nodes = self._read_all(target, page, query, variables, progress)
                known = need.known_runs()
                # A filtered read does not show which runs are gone: the listing does (none to find on a first sync)
                listing = self._list(target, page) if self.filters() and known else \
                    {i: _light(n) for i, n in nodes.items()}
                listed: list[str] = []
                wanted = [i for i, n in listing.items() if i not in nodes and self.keeps(n)]  # skipped by a cursor
            else:
                changed = None if state.scan_due(need.now, self.settings.listing_scan_minutes) \
                    or target in self._unfiltered else self._changed(target, page, state)
                if changed is None:  # the scan: every run, which finds deleted runs and edits that move no stamp
                    listing, known, scanned = self._list(target, page), need.known_runs(), True
                else:  # only the runs whose stamps moved: the base's runs are not needed (a new run moved too)
                    listing, listing_pages = changed
                    hold = listing_pages > 1
                choice = choose(state, listing, known, self.keeps)
                nodes, listed, wanted = {}, choice.listed, choice.read
            if scanned:
                gone, back = self._confirm_gone(target, page, known or frozenset(), listing, state)
            else:  # runs marked deleted stay so, unless they came back (listed, so read: choose)
                gone, back = [i for i in state.deleted if i not in listing], []
            ids = wanted + [i for i in back if self.keeps(listing[i])]
            ui = self._ui(listing.values()) if scanned else None
            moved = ui.moved(state.ui) if ui is not None and not full else None
            if moved is not None:  # a scan merges only the runs whose UI fields may have moved
                listed = [i for i in listed if bucket(i) in moved]
            if not scanned:  # a run the changed-runs listing shows again at a stamp already read: merged then
                listed = []
            if chosen:
                quiet = self._running(ids, need, state, listing, back)
                nodes.update(self._read_ids(page, *chosen, [i for i in ids if i in quiet]))
                ids = [i for i in ids if i not in quiet]
            nodes.update(self._read_ids(page, query, variables, ids))
            # a run read again only for the newest second, answered as then, has nothing new to merge
            same = same_at_edge(state, nodes) if not full else []
            for i in same:
                nodes.pop(i)
            # such a run, in a scan, is listed like any unchanged run (a column of the listing's may be new)
            listed = [i for i in listed if i not in nodes] + \
                [i for i in same if scanned and (moved is None or bucket(i) in moved)]
            read = set(nodes) | set(same)  # one answered as before was read all the same: `fresh` may hold it
            # a full read also shows whether updatedAt moves: a run it rewrites must have a newer stamp
            unchanged = frozenset(choose(state, nodes, known, self.keeps).listed
                                  if full and not state.never_read() else ())
        finally:
            self.requests += gql.requests
            self.quota_wait += gql.quota_wait
        names = dict(self.settings.names)
        top = max((t for t in stamps_of(listing.values()).values() if t), default=None)
        edge_nodes = {i: n for i, n in nodes.items() if top is not None and stamp(n) == top}  # a few: the newest second
        # One Run a run id (the later answer won); each node is let go as its Run is made, so W&B's JSON and the
        # Runs never both peak (sampled history makes a node several times its Run)
        runs = [to_run(nodes.pop(run_id), target, names, web, sampling.wanted) for run_id in list(nodes)]
        keys = None
        if full and not self.settings.dynamic:
            keys = LearnedKeys.of(*source_keys(runs, need.headers))
        elif globs and (full or selected):
            keys = self._learn([r for r in runs if r.id not in quiet], need, globs,
                               state.learned_keys(globs) if not full else None)
        state = next_state(state, stamps_of(listing.values()), read, full, need.now, time.monotonic() - started,
                           gone if self.settings.deleted_runs == "mark" else (), keys, every=scanned, hold=hold)
        if ui is not None:
            state = state.with_ui(ui.text())
        state = state.with_edge(edge_of(state, edge_nodes, same, stamps_of(listing.values())))
        log.debug("read %d runs of %s in full, %d from the listing, %d deleted, in %d pages (%s, %s)", len(runs),
                  target.path, len(listed), len(gone), pages[0],
                  "full" if full else "incremental" if scanned else "incremental, changed runs only", gql.kind)
        return Fetched(runs, pages[0], full, [to_run(listing[i], target, names, web) for i in listed], gone, state,
                       unchanged)

    def _streamed(self, r: "_Reading", progress: Callable[[int], None] | None) -> Fetched:
        """A full read that hands over its runs page by page (Need.stream): each page's nodes become Runs and are let
        go, and only what the next read state needs is kept (run id -> stamp, the learned keys), so the project is
        never held whole. listed, deleted, read_state, pages and unchanged are set on the Fetched once the pages are
        exhausted. A read cut short is not resumed (the rows already handed over are written; the next full read
        merges them), unlike _read_all's."""
        fetched = Fetched([], 0, True)
        fetched.pages_of_runs = self._chunks(r, fetched, progress)
        return fetched

    def _chunks(self, r: "_Reading", fetched: Fetched, progress: Callable[[int], None] | None) -> Iterator[Chunk]:
        state, need, target = r.need.state, r.need, r.target
        names = dict(self.settings.names)
        globs = self._globs()
        stamps: dict[str, Any] = {}  # run id -> the stamp of the answer kept: all the next read state needs
        config: set[str] = set()
        summary: set[str] = set()
        unchanged: set[str] = set()
        count = 0
        started = time.monotonic()
        known = None

        ui = UiHashes()
        top: list = [None]
        edge: dict[str, int] = {}  # the runs of the newest second so far: their answers' CRCs (ReadState.edge)

        def chunk(nodes: dict[str, dict]) -> Chunk:
            nonlocal count
            stamps.update(stamps_of(nodes.values()))
            for run_id, node in nodes.items():
                if self.keeps(node):
                    ui.add(node)
                when = stamp(node)
                if when is not None and (top[0] is None or when > top[0]):
                    top[0] = when
                    edge.clear()
                if when is not None and when == top[0]:
                    edge[run_id] = content(node)
            quiet = set(choose(state, nodes, known, self.keeps).listed) if not state.never_read() else set()
            unchanged.update(quiet)
            runs = [to_run(nodes.pop(i), target, names, r.web, r.sampling.wanted) for i in list(nodes)]
            if not self.settings.dynamic or globs:
                for found in (source_keys(runs, need.headers),
                              glob_keys(runs, self.settings.include, self.settings.exclude) if globs else None):
                    if found:
                        config.update(found[0])
                        summary.update(found[1])
            count += len(runs)
            if progress:
                progress(count)
            return Chunk(runs, frozenset(quiet))

        try:
            known = need.known_runs()
            variables = dict(r.variables)
            for block in self._blocks(r.page, r.query, variables):
                nodes = {n["name"]: n for n in block if n.get("name") and n["name"] not in stamps}  # once each
                yield chunk(nodes)
            listing: dict[str, Any] = self._list(target, r.page) if self.filters() and known else \
                dict.fromkeys(stamps)
            wanted = [i for i, n in listing.items() if i not in stamps and n is not None and self.keeps(n)]
            gone, back = self._confirm_gone(target, r.page, known, listing, state)
            ids = [i for i in wanted + [i for i in back if self.keeps(listing[i])] if i not in stamps]
            extra = self._read_ids(r.page, r.query, r.variables, ids)
            if extra:
                yield chunk(extra)
        finally:
            self.requests += r.gql.requests
            self.quota_wait += r.gql.quota_wait
        keys = None
        if not self.settings.dynamic:
            keys = LearnedKeys.of(config, summary)
        elif globs:
            keys = LearnedKeys.of(config, summary, globs)
        every = stamps if all(v is None for v in listing.values()) else \
            {**stamps_of(n for n in listing.values() if n is not None), **stamps}
        if any(v is not None for v in listing.values()):  # a filtered read: the listing has every run
            ui = self._ui(listing.values())
        fetched.read_state = next_state(state, every, set(stamps), True, need.now, time.monotonic() - started,
                                        gone if self.settings.deleted_runs == "mark" else (), keys).with_ui(ui.text())
        seen = parse_time(fetched.read_state.seen)
        fetched.read_state = fetched.read_state.with_edge({i: c for i, c in edge.items() if stamps.get(i) == seen})
        fetched.deleted, fetched.pages, fetched.unchanged = gone, r.pages[0], frozenset(unchanged)
        log.debug("read %d runs of %s in full, page by page, %d deleted, in %d pages (%s)", count, target.path,
                  len(gone), r.pages[0], r.gql.kind)

    def _ui(self, nodes) -> UiHashes:
        """The UI fields of the runs this sync keeps (USER_NAME, STATES), as a scan compares them (UiHashes)."""
        ui = UiHashes()
        for node in nodes:
            if node is not None and self.keeps(node):
                ui.add(node)
        return ui

    def _changed(self, target: Target, page: Callable, state: ReadState) -> tuple[dict[str, dict], int] | None:
        """The runs whose stamps moved since the last read (`since`), light fields only, and the pages that took;
        None when W&B did not honour the filter (it listed a run whose stamps had not moved, or refused the filter
        as unknown): then this process lists every run at every sync, and says why once."""
        since = parse_time(state.since)
        after = iso(since) + "Z" if since else ""
        flt = {"$or": [{"updatedAt": {"$gt": after}}, {"heartbeatAt": {"$gt": after}}]}
        variables = {"entity": target.entity, "project": target.project, "perPage": LIST_PAGE,
                     "order": "+created_at", "filters": json.dumps(flt), "cursor": None}
        nodes: dict[str, dict] = {}
        count = 0
        try:
            for block in self._blocks(page, runs_query(fields=LIST_FIELDS), variables):
                count += 1
                for node in block:
                    when = stamp(node)
                    if not node.get("name") or since is None or when is None or when <= since:
                        raise _NotHonoured(f"it listed run {node.get('name')!r}, last changed "
                                           f"{node.get('updatedAt')}, among the runs changed after {after}")
                    nodes[node["name"]] = node
        except _NotHonoured as exc:
            reason = str(exc)
        except (CredentialsError, AccessError, RateLimited, Interrupted):
            raise
        except SyncError as exc:
            if not _FILTER_WORDS.search(exc.message):
                raise
            reason = f"it refused the filter: {exc.message}"
        else:
            return nodes, count
        self._unfiltered.add(target)
        log.warning("W&B did not honour the filter on updatedAt/heartbeatAt that lists only the runs changed since "
                    "the last sync of %s (%s): this process lists every run at every sync instead", target.path,
                    reason)
        return None

    def _globs(self) -> dict | None:
        """DYNAMIC_HEADERS' include/exclude globs, as the read state records them; None without any."""
        s = self.settings
        return {"include": list(s.include), "exclude": list(s.exclude)} if s.dynamic and (s.include or s.exclude) \
            else None

    def _selection(self, target: Target, need: Need, state: ReadState,
                   full: bool) -> tuple[list[str], list[str]] | None:
        """The config and summary keys to ask for when a run is read in full; None: every key.

        DYNAMIC_HEADERS off: the keys the headers name and those a full read learned they match (`train_loss`
        takes `train/loss`), except in a full read that must learn them. With include/exclude globs: the same plus
        the learned keys that pass the globs, in incremental reads only (a full read must find the keys that match:
        W&B takes exact keys, not globs), and only once a full read has learned them under these globs. Dynamic
        headers without globs: every key (a new key must become a column)."""
        if self.settings.dynamic:
            learned = None if full else state.learned_keys(self._globs()) if self._globs() else None
            if learned is None:
                return None
        elif full and not state.full_reads_select_learned_keys():
            return None
        else:
            learned = state.learned_keys(None) or (set(), set())
        config, summary = key_names((*need.headers, *need.tab_headers))
        return sorted(config | learned[0]), sorted(summary | learned[1] | {"_runtime", "_timestamp"})

    @staticmethod
    def _running(ids: list[str], need: Need, state: ReadState, listing: dict[str, dict], back: list[str]) -> set[str]:
        """The runs to read with the selected keys under globs: known to the sheet and still running. A new run, one
        that comes back, and one that stopped (finished, crashed, edited afterwards: final metrics are logged at
        the end) are read with every key, so the keys they bring can become columns."""
        skip = set(state.deleted) | set(back)
        known = need.known_runs()
        return {i for i in ids if i in known and i not in skip and listing[i].get("state") == "running"}

    def _learn(self, runs: list[Run], need: Need, globs: dict,
               learned: tuple[set[str], set[str]] | None) -> LearnedKeys:
        """The keys to select from now on: those learned before, those the headers match in these runs (read with
        every key), and those of theirs that pass the globs."""
        config, summary = learned or (set(), set())
        for found in (source_keys(runs, need.headers), glob_keys(runs, self.settings.include, self.settings.exclude)):
            config, summary = config | found[0], summary | found[1]
        return LearnedKeys.of(config, summary, globs)

    def _full_query(self, target: Target, need: Need, selected: tuple[list[str], list[str]] | None) \
            -> tuple[str, dict]:
        """The query for runs in full, asking for every key (None) or the selected ones."""
        config, summary = selected or (None, None)
        query = runs_query(config, summary, system_metrics="gpu_memory" in need.headers,
                           extra=HISTORY_MARK if Wanted.of(self.settings).keys else "")
        variables = {"entity": target.entity, "project": target.project, "perPage": self.settings.per_page,
                     "order": "+created_at", "filters": json.dumps(self.filters()), "cursor": None}
        if config is not None:
            variables.update(configKeys=config, summaryKeys=summary)
        return query, variables

    def _pages(self, page: Callable, query: str, variables: dict, into: dict[str, dict],
               progress: Callable[[int], None] | None = None) -> None:
        """Every page of a query into `into` (run id -> node; a run seen twice keeps its later answer)."""
        for nodes in self._blocks(page, query, variables):
            for node in nodes:
                if node.get("name"):
                    into[node["name"]] = node
            if progress:
                progress(len(into))

    @staticmethod
    def _blocks(page: Callable, query: str, variables: dict) -> Iterator[list[dict]]:
        """The nodes of each page of a query as it arrives; variables["cursor"] moves past each page handed over."""
        while True:
            block = page(query, variables)
            edges = block.get("edges") or []
            yield [edge.get("node") or {} for edge in edges]
            info = block.get("pageInfo") or {}
            if not info.get("hasNextPage") or not edges:
                return
            variables["cursor"] = edges[-1].get("cursor") or info.get("endCursor")

    def _read_all(self, target: Target, page: Callable, query: str, variables: dict,
                  progress: Callable[[int], None] | None) -> dict[str, dict]:
        """Every run in full; a read cut short resumes at its last good page at the next sync."""
        nodes: dict[str, dict] = {}
        saved = self._resume.pop(target, None)
        if saved and saved[0] == query and {k: v for k, v in saved[1].items() if k != "cursor"} == \
                {k: v for k, v in variables.items() if k != "cursor"}:
            variables, nodes = dict(saved[1]), saved[2]
            log.info("resuming the full read of %s after %d runs", target.path, len(nodes))

        try:
            self._pages(page, query, variables, nodes, progress)
        except BaseException:
            if nodes:  # variables["cursor"] is after the last good page
                self._resume[target] = (query, dict(variables), nodes)
            raise
        return nodes

    def _list(self, target: Target, page: Callable) -> dict[str, dict]:
        """Every run of the project, unfiltered (a run another filter hides is not deleted), light fields only."""
        variables = {"entity": target.entity, "project": target.project, "perPage": LIST_PAGE,
                     "order": "+created_at", "filters": "{}", "cursor": None}
        nodes: dict[str, dict] = {}
        self._pages(page, runs_query(fields=LIST_FIELDS), variables, nodes)
        return nodes

    def _read_ids(self, page: Callable, query: str, variables: dict, ids: list[str]) -> dict[str, dict]:
        nodes: dict[str, dict] = {}
        size = self.settings.per_page
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            self._pages(page, query, {**variables, "filters": json.dumps({"name": {"$in": chunk}}), "cursor": None},
                        nodes)
        return nodes

    def _confirm_gone(self, target: Target, page: Callable, known: frozenset[str], listing: dict[str, Any],
                      state: ReadState) -> tuple[list[str], list[str]]:
        """Known runs W&B no longer has, and those the listing skipped after all, from a listing of every run. One
        newly missing from the listing is asked for by id once more: an offset cursor skips a run when another is
        deleted while the listing pages. The found ones join the listing."""
        missing = sorted(known - listing.keys())
        if not missing:
            return [], []
        before = set(state.deleted)
        new = [i for i in missing if i not in before]
        found: dict[str, dict] = {}
        for start in range(0, len(new), LIST_PAGE):
            variables = {"entity": target.entity, "project": target.project, "perPage": LIST_PAGE,
                         "order": "+created_at", "filters": json.dumps({"name": {"$in": new[start:start + LIST_PAGE]}}),
                         "cursor": None}
            self._pages(page, runs_query(fields=LIST_FIELDS), variables, found)
        listing.update(found)
        return [i for i in missing if i not in found], sorted(found)

    def sweeps(self, target: Target, ids: set[str]) -> dict[str, Sweep]:
        """The sweeps of the runs this sync read (sources/sweeps.py), through the same sender as the runs: one
        request each (the caller keeps what it learnt: summaries.Remembered)."""
        if self._last is None:
            raise SourceError("Sweeps were asked for before any runs were read.", "This is a bug; please report it.")
        gql, web = self._last
        before = gql.requests
        try:
            return read_sweeps(lambda query, variables: gql.execute(query, variables), target, ids, web)
        except SyncError:
            raise
        except Exception as exc:
            raise translate(exc, target, self.settings.wandb_base_url) from exc
        finally:
            self.requests += gql.requests - before
