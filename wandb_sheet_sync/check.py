"""Owns --check: the whole set-up tried without writing anything, one finding a line, each failure with its fix.

The order is the order a sync meets things in: the configuration, the Google credentials and who they are, the
spreadsheet and whether that identity may edit it, each worksheet, the W&B key and whose it is, each W&B project,
and (with LISTEN) the webhook secret. A later check that depends on a failed one is skipped and says so. Nothing is
written: Google is only read (a token is fetched), W&B only asked who the key belongs to and for one run of each
project.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from .errors import ConfigError, SyncError

WANDB_QUERY_VIEWER = "query Viewer { viewer { id entity username } }"
WANDB_QUERY_PROJECT = """query Runs($project: String!, $entity: String!, $perPage: Int) {
  project(name: $project, entityName: $entity) { internalId runs(first: $perPage) { edges { node { id name } } } }
}"""


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str  # the thing checked
    detail: str  # what was found
    fix: str = ""  # what to do, when it failed

    def line(self) -> str:
        text = f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"
        return text + (f"\n     -> {self.fix}" if self.fix and not self.ok else "")


def run(args: Any, stop: threading.Event | None = None) -> Iterator[Finding]:
    """Every finding, in order, as it is made (so a slow one shows where it is)."""
    from . import config

    try:
        settings = config.load(args)
    except ConfigError as exc:
        for problem in exc.problems:
            where, _, message = problem.partition(": ")
            yield Finding(False, f"config {where}", message, "Fix the value as the message says.")
        return
    yield Finding(True, "config", f"{len(settings.targets)} target(s): " +
                  ", ".join(f"{t.path} -> {t.worksheet}" for t in settings.targets))
    stop = stop or threading.Event()  # the command line's: Ctrl-C ends a check between requests
    if settings.output is not None:
        yield Finding(True, "output", f"writes {settings.output} (a local file: no Google account needed)")
    else:
        yield from _google(settings, stop)
    if settings.source is not None:
        yield Finding(True, "source", f"reads run folders under {settings.source} (no W&B account needed)")
    else:
        yield from _wandb(settings, stop)
    if settings.listen is not None:
        yield from _service(settings)


def _google(settings, stop: threading.Event) -> Iterator[Finding]:
    from .sinks.google_sheets import GoogleSheetsSink, base_title

    try:
        sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint,
                                settings.request_timeout, stop, impersonate=settings.impersonate,
                                login_token=settings.login_token, retry_base=settings.retry_base_seconds,
                                lease_seconds=0)  # --check writes nothing: no write lease
        identity = sink.identity
        _token(sink)
    except SyncError as exc:
        yield Finding(False, "Google credentials", exc.message, exc.hint)
        yield Finding(False, "spreadsheet", "not checked: no working Google credentials")
        return
    who = sink.email
    yield Finding(True, "Google credentials", f"{identity.kind.replace('_', ' ')} {who} (from {identity.source})")
    try:
        sink.open()
    except SyncError as exc:
        yield Finding(False, "spreadsheet", exc.message,
                      exc.hint or f"Open the spreadsheet, click Share, and add {who} as an Editor.")
        return
    editable = _can_edit(sink)
    if editable is False:
        yield Finding(False, "spreadsheet", f"{settings.spreadsheet!r} opens as {who}, who may only view it",
                      f"Open the spreadsheet, click Share, and make {who} an Editor.")
    else:
        named = repr(settings.spreadsheet) + (f" ({sink.id})" if sink.id != settings.spreadsheet else "")
        yield Finding(True, "spreadsheet", f"{named} is shared with {who}" + (" as an Editor" if editable else ""))
    for target in settings.targets:
        props = sink.cache.sheets.get(target.worksheet)
        if props is None:
            yield Finding(True, f"worksheet {target.worksheet!r}", "not there yet: the first sync creates it")
            continue
        grid = props.get("gridProperties", {})
        base = "with" if base_title(target.worksheet) in sink.cache.sheets else "without (yet)"
        yield Finding(True, f"worksheet {target.worksheet!r}", f"{grid.get('rowCount', 0)} rows x "
                      f"{grid.get('columnCount', 0)} columns, {base} the tool's hidden base tab")


def _token(sink) -> None:
    """A fresh access token, as the first request of a sync gets one: the credentials are tried, nothing is read."""
    from google.auth.exceptions import RefreshError, TransportError

    from .errors import TransientError
    from .sinks import google_refusals

    try:
        sink.identity.credentials.refresh(sink.session._auth_request)
    except RefreshError as exc:
        raise google_refusals.refused(sink.identity, exc) from exc
    except TransportError as exc:
        raise TransientError(f"Google's token service could not be reached ({type(exc).__name__}).",
                             "Check the network (and GOOGLE_API_ENDPOINT if set).") from exc


def _can_edit(sink) -> bool | None:
    """Drive's word on whether the identity may edit the spreadsheet (None: Drive did not say)."""
    try:
        return sink.api.can_edit(sink.id)
    except Exception:  # only a refinement of a check that passed  # noqa: BLE001
        return None


def _wandb(settings, stop: threading.Event) -> Iterator[Finding]:
    from .config import wandb_key
    from .sources.wandb_graphql import GraphQL

    base = settings.wandb_base_url
    key, where = wandb_key()
    if not key:
        yield Finding(False, "W&B key", "no key in WANDB_API_KEY or the netrc file",
                      "Set WANDB_API_KEY (from https://wandb.ai/authorize) or run `wandb login` once.")
        return
    checking = dataclasses.replace(settings, wandb_pace_seconds=0.0)

    def ask(target, query: str, variables: dict) -> dict:
        api = SimpleNamespace(api_key=key, settings={"base_url": base})
        return GraphQL(api, checking, target, stop).execute(query, variables)

    first = settings.targets[0] if settings.targets else SimpleNamespace(path="W&B")
    try:
        viewer = (ask(first, WANDB_QUERY_VIEWER, {}).get("viewer") or {})
    except SyncError as exc:
        yield Finding(False, "W&B key", f"{exc.message} (key from {where}, server {base})", exc.hint)
        return
    who = viewer.get("username") or viewer.get("entity") or "an unnamed user"
    yield Finding(True, "W&B key", f"belongs to {who} (from {where}, server {base})")
    for target in settings.targets:
        try:
            project = ask(target, WANDB_QUERY_PROJECT, {"entity": target.entity, "project": target.project,
                                                         "perPage": 1}).get("project")
        except SyncError as exc:
            yield Finding(False, f"W&B project {target.path}", exc.message, exc.hint)
            continue
        if project is None:
            yield Finding(False, f"W&B project {target.path}", f"no such project that {who} can see",
                          "Check WANDB_ENTITY/WANDB_PROJECT (or PROJECTS, --project): the entity is the team or "
                          f"user in the project's URL, and {who} must belong to it.")
        else:
            yield Finding(True, f"W&B project {target.path}", "found")


def _service(settings) -> Iterator[Finding]:
    host, port = settings.listen
    yield Finding(True, "listen", f"serves on {host}:{port}: /webhook, /healthz, /readyz, /metrics")
    if settings.webhook_secret:
        yield Finding(True, "webhook secret", f"set ({len(settings.webhook_secret)} characters); W&B's automation "
                      "must use the same secret")
    else:
        yield Finding(False, "webhook secret", "LISTEN is set but WEBHOOK_SECRET is not: POST /webhook would be off",
                      "Set WEBHOOK_SECRET (environment or config) to the secret of the W&B automation's webhook, or "
                      "drop LISTEN if you only want /healthz, /readyz and /metrics.")
