"""W&B's API -> Run records, one GraphQL page at a time, through wandb.Api's own authenticated transport.

Why not iterate `api.runs(...)`: in wandb 0.31 a run whose user is null makes iteration raise a TypeError that
`list()` swallows into an empty page (the sync would see no runs at all); each Run object also creates an
empty folder under $WANDB_DIR, and results are cached for the life of the Api. So the source sends the same
Runs query wandb's paginator sends (config, summary and system metrics in the page: no per-run requests)
through `wandb.Api`'s GraphQL executor, builds plain Run records from the JSON, and makes a fresh Api per sync.

Incremental reads: after a full read, runs come newest heartbeat first and reading stops once a page reaches
runs older than the last sync minus a safety margin. A full read happens on the first sync and every
FULL_RESYNC_HOURS, for changes that move no heartbeat (tags, notes, summaries edited after the fact).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
from typing import Any, Callable
from urllib.parse import urlsplit

from ..config import Settings, Target
from ..errors import AccessError, CredentialsError, Kind, SourceError, TransientError, kind_of_status
from ..history import Wanted, cells as history_cells
from ..run import Run, Sweep
from . import Fetch
from .history import Sampling, points as history_points
from .sweeps import SweepCache

log = logging.getLogger("wandb_spreadsheet_sync")
SAFETY_MARGIN = dt.timedelta(minutes=10)  # heartbeats arrive every ~30 s; clocks drift; be generous

def runs_query(extra: str = "") -> str:
    """The Runs page query; `extra` is more selection text for each run node (sampled history)."""
    return """
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String,
           $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges {
        node {
          name displayName state config summaryMetrics systemMetrics createdAt heartbeatAt
          tags group jobType notes sweepName user { username name }%s
        }
        cursor
      }
      pageInfo { endCursor hasNextPage }
    }
  }
}
""" % (" " + extra if extra else "")


RUNS_QUERY = runs_query()


def parse_time(text: str | None) -> dt.datetime | None:
    """W&B answers naive UTC ('2026-01-01T10:00:00') or with a Z; both become aware UTC."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


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


def app_url(base_url: str) -> str:
    """Where people open runs: api.wandb.ai -> wandb.ai; a self-hosted server serves both."""
    parts = urlsplit(base_url)
    host = parts.netloc
    if host == "api.wandb.ai":
        host = "wandb.ai"
    return f"{parts.scheme or 'https'}://{host}"


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
    def __init__(self, settings: Settings):
        self.settings = settings
        self.requests = 0
        self.sweep_cache = SweepCache()
        self._last: tuple[Callable, str] | None = None  # this sync's GraphQL executor and web address, for sweeps

    def _api(self, target: Target):
        import wandb  # heavy: imported only when a sync runs, never for --help

        try:
            return wandb.Api(overrides={"entity": target.entity}, timeout=int(self.settings.request_timeout))
        except Exception as exc:  # wandb raises several types for the same causes
            raise _translate(exc, target) from exc

    def filters(self) -> dict:
        parts: list[dict] = []
        if self.settings.user_name:
            parts.append({"username": self.settings.user_name})
        if self.settings.states:
            parts.append({"state": {"$in": list(self.settings.states)}})
        return {"$and": parts} if len(parts) > 1 else (parts[0] if parts else {})

    def fetch(self, target: Target, since: dt.datetime | None = None,
              progress: Callable[[int], None] | None = None) -> Fetch:
        api = self._api(target)
        self.requests += 1  # the Viewer check wandb.Api makes
        execute = getattr(getattr(api, "_service_api", None), "execute_graphql", None)
        if execute is None:
            raise SourceError("This version of wandb has no GraphQL executor the tool knows.",
                              "Install the wandb version in requirements.txt (pip install -r requirements.txt).")
        web = app_url(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai")
        self._last = (execute, web)
        full = since is None
        variables = {"entity": target.entity, "project": target.project, "perPage": self.settings.per_page,
                     "order": "+created_at" if full else "-heartbeat_at", "filters": json.dumps(self.filters()),
                     "cursor": None}
        stop_before = since - SAFETY_MARGIN if since else None
        runs: list[Run] = []
        pages = 0
        sampling = Sampling(Wanted.of(self.settings))
        while True:
            try:
                data = execute(runs_query(sampling.selection()), variables, timeout=self.settings.request_timeout * 3)
            except Exception as exc:
                if sampling.refused(http_status(exc), _reason(exc)):
                    self.requests += 1
                    continue  # the same page again, with less history
                raise _translate(exc, target) from exc
            pages += 1
            self.requests += 1
            project = (data or {}).get("project")
            if project is None:
                raise AccessError(f"W&B has no project {target.path!r} that this API key can see.",
                                  "Check WANDB_ENTITY/WANDB_PROJECT (or --project) and that the key's user "
                                  "belongs to the entity.")
            block = project.get("runs") or {}
            edges = block.get("edges") or []
            reached_old = False
            for edge in edges:
                node = edge.get("node") or {}
                if not node.get("name"):
                    continue
                run = to_run(node, target, dict(self.settings.names), web, sampling.wanted)
                if stop_before and run.updated_at and run.updated_at < stop_before:
                    reached_old = True
                    break
                runs.append(run)
            if progress:
                progress(len(runs))
            info = block.get("pageInfo") or {}
            if reached_old or not info.get("hasNextPage") or not edges:
                break
            variables["cursor"] = edges[-1].get("cursor") or info.get("endCursor")
        log.debug("fetched %d runs of %s in %d pages (%s)", len(runs), target.path, pages,
                  "full" if full else "incremental")
        return Fetch(runs, pages, full)


    def sweeps(self, target: Target, ids: set[str]) -> dict[str, Sweep]:
        """The sweeps of the runs this sync read (sources/sweeps.py), through the same Api as the runs."""
        if self._last is None:
            raise SourceError("Sweeps were asked for before any runs were read.", "This is a bug; please report it.")
        execute, web = self._last
        try:
            found, requests = self.sweep_cache.fetch(execute, target, ids, web, self.settings.request_timeout * 3)
        except Exception as exc:
            raise _translate(exc, target) from exc
        self.requests += requests
        return found


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind a wandb error, wherever wandb keeps it: wandb-core's WandbApiFailedError
    (`response.http_status`), a requests error (`response.status_code`), or a CommError wrapping either."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        response = getattr(exc, "response", None)
        for attr in ("http_status", "status_code"):
            status = getattr(response, attr, None)
            if isinstance(status, int) and status > 0:
                return status
        exc = getattr(exc, "exc", None) or exc.__cause__ or exc.__context__
    return None


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def _translate(exc: Exception, target: Target) -> Exception:
    """wandb's many exception types -> ours, by the HTTP status where there is one."""
    from wandb.errors import UsageError

    text = _reason(exc)
    status = http_status(exc)
    # wandb raises AuthenticationError both for a refused key and for a server it could not reach: the status
    # tells them apart. A UsageError (no key at all) carries none.
    if status == 401 or (status is None and isinstance(exc, UsageError)):
        return CredentialsError(f"W&B refused the API key ({text[:200]}).",
                                "Set WANDB_API_KEY to a key from https://wandb.ai/authorize (or run `wandb login`).")
    if status is not None and kind_of_status(status) is Kind.SETUP:
        return AccessError(f"W&B answered {status}: no project {target.path!r} that this API key can see.",
                           "Check WANDB_ENTITY and WANDB_PROJECT, and that the key's user belongs to the entity.")
    if status is not None and kind_of_status(status) is Kind.TERMINAL:
        return SourceError(f"W&B refused the request for {target.path} ({status}: {text}).",
                           "Check the settings named in the message; upgrading wandb may help.")
    return TransientError(f"W&B could not be reached for {target.path} ({text}).",
                          "The next sync will try again; check WANDB_BASE_URL and the network if it persists.")
