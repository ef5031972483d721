"""Which runs a sync reads in full, from a cheap listing of the project and the read state kept in the sheet's base.

Pure: W&B's answers (plain dicts) and the state in, a decision and the next state out.

The design, and why (README "Reading W&B incrementally" has the measured costs):
- Every sync but a full one lists the whole project, oldest first (`+created_at`, W&B's own default order: a run
  never moves in it, so an offset cursor neither repeats nor skips a run while runs heartbeat), with only the
  run id, its `updatedAt`/`heartbeatAt` and the fields people edit in the UI (name, tags, notes, group, job
  type, state): about 150 bytes a run.
- A run is read in full (config, summary) when its stamp (the later of updatedAt and heartbeatAt) is newer than
  what the last sync had read, when the worksheet's base does not know it (new, or moved in from another
  project), or when it comes back after being marked deleted. Every other listed run still brings its UI fields,
  so an edit that moves neither stamp (a world where updatedAt moves only with the heartbeat) still reaches the
  sheet at the next sync as a partial row. Such an edit (or a full read that rewrites a run whose stamps did not
  move: sync.py checks) is also the proof that updatedAt does not move with every change: the state then says
  so, and from then on every sync is a full read (summaries and config edited through the API would otherwise
  wait for FULL_RESYNC_HOURS).
- A run the worksheet's base knows that the listing lacks is asked for by id once more (an offset cursor skips a
  run when another is deleted mid-listing) and, still missing, is deleted: marked (DELETED_RUNS) by the sync.
- A full read (the first sync, every FULL_RESYNC_HOURS, and every sync once updatedAt is known not to move)
  reads every run; a read that fails part way resumes at its last good page at the next sync.
State (a JSON object in the base): {"since": ISO, "seen": ISO, "fresh": {id: ISO}, "full_at": epoch seconds,
"updated_moves": false (absent: assumed to move), "deleted": [ids], "keys": {"config": [..], "summary": [..],
"globs": {"include": [..], "exclude": [..]}}}. "keys" are the top-level keys the sheet needs, learned by a full read:
the keys its headers match (DYNAMIC_HEADERS off), and with include/exclude globs also every key that passes them
("globs" says under which: keys learned under other globs, or none, mean "read every key until the next full
read").
"since" is the newest stamp seen minus the listing's own duration (a run that changed mid-listing is read
again); "fresh" holds the runs already read at a stamp past "since", so a quiet project reads none again, but
never one whose stamp is the newest second the listing saw: W&B stamps to the second, so a run read in that second
may change again within it under the same stamp (a live run logs many times a second), and is read once more.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


def parse_time(text: Any) -> dt.datetime | None:
    """W&B answers naive UTC ('2026-01-01T10:00:00') or with a Z; both become aware UTC."""
    if not text or not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def stamp(node: dict) -> dt.datetime | None:
    """When W&B last changed a run, as far as it says: the later of updatedAt and heartbeatAt."""
    times = [t for t in (parse_time(node.get("updatedAt")), parse_time(node.get("heartbeatAt"))) if t]
    return max(times) if times else None


def needs_full(state: dict, now: float, full_resync_hours: float) -> bool:
    full_at = state.get("full_at")
    return (not isinstance(full_at, (int, float)) or now - full_at >= full_resync_hours * 3600
            or state.get("updated_moves") is False or not state.get("since"))


@dataclass
class Choice:
    """What an incremental sync reads in full, what it takes from the listing alone, and what is gone."""

    read: list[str] = field(default_factory=list)  # run ids to read in full
    listed: list[str] = field(default_factory=list)  # known runs unchanged by their stamps: UI fields only
    missing: list[str] = field(default_factory=list)  # known runs the listing lacks


def choose(state: dict, listing: dict[str, dict], known: Iterable[str], keep: Callable[[dict], bool]) -> Choice:
    """listing: run id -> its listing node, every run of the project; keep: whether a run is synced at all
    (USER_NAME, STATES)."""
    since = parse_time(state.get("since"))
    fresh = state.get("fresh") or {}
    deleted = set(state.get("deleted") or ())
    known = set(known)
    out = Choice()
    for run_id, node in listing.items():
        if not keep(node):
            continue
        when = stamp(node)
        changed = since is None or when is None or (when > since and fresh.get(run_id) != iso(when))
        if changed or run_id not in known or run_id in deleted:
            out.read.append(run_id)
        else:
            out.listed.append(run_id)
    out.missing = sorted(known - listing.keys())
    return out


def learned_keys(state: dict, globs: dict | None) -> tuple[set[str], set[str]] | None:
    """The config and summary keys a full read learned, when they can be trusted: for DYNAMIC_HEADERS off (globs
    None) any learned keys; for include/exclude globs only keys learned under the same globs. None: nothing to
    trust, so every key is read until the next full read learns them."""
    keys = state.get("keys")
    if not isinstance(keys, dict) or (globs is not None and keys.get("globs") != globs):
        return None
    return set(keys.get("config") or ()), set(keys.get("summary") or ())


def next_state(state: dict, nodes: Iterable[dict], read_ids: set[str], full: bool, now: float,
               seconds: float, deleted: Iterable[str], keys: dict | None = None) -> dict:
    """The state after this sync: nodes are what W&B listed (or the full read returned), read_ids what was read in
    full, seconds how long the listing (or full read) took."""
    nodes = list(nodes)
    stamps = {n["name"]: stamp(n) for n in nodes if n.get("name")}
    seen = max((t for t in stamps.values() if t), default=None)
    out = {k: v for k, v in state.items() if k in ("full_at", "updated_moves", "keys")}
    if full:
        out["full_at"] = now
    if keys is not None:
        out["keys"] = keys
    if seen is None:
        since = parse_time(state.get("since")) or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        out.update(since=iso(since), seen=state.get("seen") or iso(since), fresh={})
    elif not full and state.get("seen") == iso(seen) and state.get("since"):
        out.update(since=state["since"], seen=state["seen"], fresh=dict(state.get("fresh") or {}))
    else:
        since = seen - dt.timedelta(seconds=math.ceil(seconds) + 1)
        before = state.get("fresh") or {}
        out.update(since=iso(since), seen=iso(seen),
                   fresh={i: iso(t) for i, t in sorted(stamps.items())
                          if t and since < t < seen and (i in read_ids or before.get(i) == iso(t))})
    gone = sorted(set(deleted))
    if gone:
        out["deleted"] = gone
    return out

