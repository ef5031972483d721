"""The read state (ReadState: its one owner) and which runs a sync reads in full, from a cheap listing of the project.

Pure: W&B's answers (plain dicts) and the state in, a decision and the next state out. Every other module passes a
ReadState along, or its JSON (`to_json`, stored by base.py in row 0 under "_read"), and never spells its keys.

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
- Between scans (LISTING_SCAN_MINUTES: "scan_at" below; a full read is one) the listing is filtered to the runs
  whose stamps moved past "since" (wandb_api.py sends it and checks that W&B honoured it); such a listing does not
  find deleted runs or edits that move no stamp: the next scan does. choose() and next_state() take either kind.
- A full read (the first sync, every FULL_RESYNC_HOURS, and every sync once updatedAt is known not to move)
  reads every run; a read that fails part way resumes at its last good page at the next sync.
State (a JSON object in the base): {"since": ISO, "seen": ISO, "fresh": {id: ISO}, "full_at": epoch seconds,
"updated_moves": false (absent: assumed to move), "deleted": [ids],
"scan_at": epoch seconds (absent: a scan is due), "keys": {"config": [..], "summary": [..],
"globs": {"include": [..], "exclude": [..]}}}. "keys" are the top-level keys the sheet needs, learned by a full read:
the keys its headers match (DYNAMIC_HEADERS off), and with include/exclude globs also every key that passes them
("globs" says under which: keys learned under other globs, or none, mean "read every key until the next full
read").
"since" is the newest stamp seen minus the listing's own duration (a run that changed mid-listing is read
again); "fresh" holds the runs already read at a stamp past "since", so a quiet project reads none again, but
never one whose stamp is the newest second the listing saw: W&B stamps to the second, so a run read in that second
may change again within it under the same stamp (a live run logs many times a second), and is read once more.
ReadState is this state (from_json/to_json: its stored form); nobody else spells its keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import math
import struct
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping


def parse_time(text: Any) -> dt.datetime | None:
    """W&B answers naive UTC ('2026-01-01T10:00:00') or with a Z; both become aware UTC."""
    if not text or not isinstance(text, str):
        return None
    return _parsed(text)


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> dt.datetime | None:
    """A stamp parsed once: a sync reads each run's stamps several times (the listing, the choice, the edge), and the
    runs of one burst share their seconds."""
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


@dataclass(frozen=True)
class LearnedKeys:
    """The top-level config and summary keys a full read found the sheet needs, and the DYNAMIC_HEADERS globs they
    were learned under (None: DYNAMIC_HEADERS off)."""

    config: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()
    globs: dict | None = None  # {"include": [..], "exclude": [..]}, as the source compares them

    @classmethod
    def of(cls, config: Iterable[str], summary: Iterable[str], globs: dict | None = None) -> "LearnedKeys":
        return cls(tuple(sorted(config)), tuple(sorted(summary)), globs)


@dataclass(frozen=True)
class ReadState:
    """What the last read of a project saw (the module docstring says what each part means). Frozen: a sync makes
    the next one (next_state, the methods below) and hands it to the merge, which stores its JSON with the cells."""

    since: str | None = None  # ISO; None: never read
    seen: str | None = None
    fresh: Mapping[str, str] = field(default_factory=dict)  # run id -> the stamp it was read at (ISO)
    full_at: float | None = None  # epoch seconds of the last full read
    updated_moves: bool = True  # False once W&B was seen to change a run without moving its updatedAt
    deleted: tuple[str, ...] = ()  # known runs W&B no longer has (marked in the sheet)
    keys: LearnedKeys | None = None
    scan_at: float | None = None  # epoch seconds of the last listing of every run (a full read is one); None: due
    ui: str | None = None  # the UI fields of every run as the last scan listed them, in UI_BUCKETS hashes (ui_hashes)
    edge: Mapping[str, int] = field(default_factory=dict)  # runs stamped in the newest second: their answer's CRC

    @classmethod
    def from_json(cls, data: Any) -> "ReadState":
        """The state as a base stores it; whatever is not the expected type reads as absent (a full read)."""
        if not isinstance(data, dict):
            return cls()
        since, seen, fresh, full_at = data.get("since"), data.get("seen"), data.get("fresh"), data.get("full_at")
        keys, deleted, scan_at, ui = data.get("keys"), data.get("deleted"), data.get("scan_at"), data.get("ui")
        return cls(since=since if isinstance(since, str) else None, seen=seen if isinstance(seen, str) else None,
                   fresh=dict(fresh) if isinstance(fresh, dict) else {},
                   full_at=full_at if isinstance(full_at, (int, float)) and not isinstance(full_at, bool) else None,
                   updated_moves=data.get("updated_moves") is not False,
                   deleted=tuple(deleted) if isinstance(deleted, list) else (),
                   scan_at=scan_at if isinstance(scan_at, (int, float)) and not isinstance(scan_at, bool) else None,
                   ui=ui if isinstance(ui, str) else None,
                   edge={str(k): v for k, v in data["edge"].items() if isinstance(v, int)}
                   if isinstance(data.get("edge"), dict) else {},
                   keys=LearnedKeys(tuple(keys.get("config") or ()), tuple(keys.get("summary") or ()),
                                    keys.get("globs")) if isinstance(keys, dict) else None)

    def to_json(self) -> dict:
        """The stored form, as every version since the read state began writes it ({} for a state never read)."""
        out: dict[str, Any] = {}
        if self.since is not None:
            out["since"] = self.since
            if self.seen is not None:
                out["seen"] = self.seen
            out["fresh"] = dict(self.fresh)
        if self.full_at is not None:
            out["full_at"] = self.full_at
        if not self.updated_moves:
            out["updated_moves"] = False
        if self.keys is not None:
            out["keys"] = {"config": list(self.keys.config), "summary": list(self.keys.summary),
                           **({"globs": self.keys.globs} if self.keys.globs is not None else {})}
        if self.deleted:
            out["deleted"] = list(self.deleted)
        if self.scan_at is not None:
            out["scan_at"] = self.scan_at
        if self.ui is not None:
            out["ui"] = self.ui
        if self.edge:
            out["edge"] = dict(self.edge)
        return out

    def scan_due(self, now: float, scan_minutes: float) -> bool:
        """Whether this sync lists every run (LISTING_SCAN_MINUTES): the listing that finds deleted runs and edits
        that move no stamp. Between scans a sync lists only the runs whose stamps moved."""
        return self.scan_at is None or now - self.scan_at >= scan_minutes * 60 or now < self.scan_at

    def needs_full(self, now: float, full_resync_hours: float) -> bool:
        """Whether this sync reads every run: never read in full, FULL_RESYNC_HOURS passed, or updatedAt is known
        not to move (then only a full read sees every change)."""
        return (self.full_at is None or now - self.full_at >= full_resync_hours * 3600
                or not self.updated_moves or not self.since)

    def learned_keys(self, globs: dict | None) -> tuple[set[str], set[str]] | None:
        """The config and summary keys a full read learned, when they can be trusted: for DYNAMIC_HEADERS off (globs
        None) any learned keys; for include/exclude globs only keys learned under the same globs. None: nothing to
        trust, so every key is read until the next full read learns them."""
        if self.keys is None or (globs is not None and self.keys.globs != globs):
            return None
        return set(self.keys.config), set(self.keys.summary)

    def full_reads_select_learned_keys(self) -> bool:
        """Whether a full read may ask for the learned keys only: where updatedAt does not move every sync is a full
        read, and each would otherwise read every key."""
        return self.keys is not None and not self.updated_moves

    def has_read_in_full(self) -> bool:
        return self.full_at is not None

    def never_read(self) -> bool:
        """Nothing stored: a first sync, a base deleted, or a state from before reads were incremental."""
        return self.to_json() == {}

    def asking_full(self) -> "ReadState":
        """This state with its last full read forgotten: the next read is a full one."""
        return replace(self, full_at=None)

    def for_tabs_only(self, read: "ReadState") -> "ReadState":
        """The state to keep after a full read made only because this process's summary tabs needed every run: the
        stored schedule stays (a quiet --once then writes nothing: the last scan, its UI hashes and the newest
        second's answers too), with what that read learnt (whether updatedAt moves, the keys, the runs gone). Runs it
        read are simply read again."""
        return replace(self, updated_moves=self.updated_moves and read.updated_moves,
                       keys=read.keys if read.keys is not None else self.keys, deleted=read.deleted)

    def asking_scan(self) -> "ReadState":
        """This state with its last scan forgotten: the next incremental read lists every run (a column of the
        listing's fields added since, say, fills for every run then, not at the next LISTING_SCAN_MINUTES)."""
        return replace(self, scan_at=None, ui=None)

    def with_ui(self, ui: str | None) -> "ReadState":
        return replace(self, ui=ui)

    def with_edge(self, edge: Mapping[str, int]) -> "ReadState":
        return replace(self, edge=dict(edge))


    def with_stale_stamps(self) -> "ReadState":
        """W&B was seen to change a run without moving its updatedAt: from now on every sync reads in full."""
        return replace(self, updated_moves=False)


def content(node: dict) -> int:
    """A CRC of W&B's whole answer for a run: a run of the newest second read again and answered alike did not
    change within that second (ReadState.edge), so the sync need not merge it (nor read its row of the sheet).
    Field by field, W&B's text fields as they came (config and summary are JSON text already: escaping them again,
    4 KB a run, cost more than the rest of the CRC); a field's name and value are kept apart by separators."""
    crc = 0
    for key in sorted(node):
        value = node[key]
        text = value if value.__class__ is str else json.dumps(value, sort_keys=True, default=str)
        crc = zlib.crc32(f"\x00{key}\x01{text}".encode(), crc)
    return crc


def same_at_edge(state: ReadState, nodes: Mapping[str, dict]) -> list[str]:
    """Runs read again only because their stamp is the newest second the last read saw, answered exactly as then."""
    edge_at = parse_time(state.seen)
    if edge_at is None or not state.edge:
        return []
    return [i for i, n in nodes.items() if i in state.edge and stamp(n) == edge_at and state.edge[i] == content(n)]


def edge_of(state: ReadState, nodes: Mapping[str, dict], same: Iterable[str], stamps: Mapping[str, Any]) -> dict:
    """The CRCs to keep for the runs stamped in the newest second `state` (the next state) says it saw."""
    top = parse_time(state.seen)
    if top is None:
        return {}
    out = {i: content(n) for i, n in nodes.items() if stamp(n) == top}
    out.update({i: state.edge[i] for i in same if i in state.edge and stamps.get(i) == top})
    return out

UI_BUCKETS = 1024  # the UI fields of a project's runs as this many hashes: ~5.5 KB in the read state
UI_FIELDS = ("displayName", "state", "tags", "notes", "group", "jobType")  # what the listing has that people edit


def bucket(run_id: str) -> int:
    return zlib.crc32(run_id.encode()) % UI_BUCKETS


class UiHashes:
    """The UI fields of every run a listing brings, folded into UI_BUCKETS hashes (each the XOR of its runs' CRCs, so
    the order runs come in does not matter). A scan lists every run, but merges only the runs of buckets whose hash
    moved since the last scan: a quiet project's scan then reads no row of the sheet, and one UI edit that moved no
    stamp costs the rows of one bucket (1/1024 of the runs), not a read of the whole sheet (issue 24)."""

    def __init__(self):
        self.hashes = [0] * UI_BUCKETS

    def add(self, node: dict) -> None:
        run_id = str(node.get("name"))
        fields = json.dumps([run_id, *(node.get(f) for f in UI_FIELDS)], sort_keys=True, default=str)
        self.hashes[bucket(run_id)] ^= zlib.crc32(fields.encode())

    def text(self) -> str:
        return base64.b64encode(struct.pack(f">{UI_BUCKETS}I", *self.hashes)).decode()

    def moved(self, before: str | None) -> set[int] | None:
        """The buckets whose hash differs from `before` (a stored text); None: every bucket (none stored, or one
        that cannot be read)."""
        try:
            old = struct.unpack(f">{UI_BUCKETS}I", base64.b64decode(before or "", validate=True))
        except (ValueError, struct.error):
            return None
        return {i for i, (a, b) in enumerate(zip(old, self.hashes)) if a != b}


@dataclass
class Choice:
    """What an incremental sync reads in full, what it takes from the listing alone, and what is gone."""

    read: list[str] = field(default_factory=list)  # run ids to read in full
    listed: list[str] = field(default_factory=list)  # known runs unchanged by their stamps: UI fields only
    missing: list[str] = field(default_factory=list)  # known runs the listing lacks


def choose(state: ReadState, listing: Mapping[str, dict], known: Iterable[str] | None,
           keep: Callable[[dict], bool]) -> Choice:
    """listing: run id -> its listing node, every run of the project, or (known None) only the runs whose stamps
    moved past `since`: a run the base does not know has a moved stamp and is read as changed, so the base's runs
    need not be asked for; keep: whether a run is synced at all (USER_NAME, STATES)."""
    since = parse_time(state.since)
    fresh = state.fresh
    deleted = set(state.deleted)
    known = None if known is None else set(known)
    out = Choice()
    for run_id, node in listing.items():
        if not keep(node):
            continue
        when = stamp(node)
        changed = since is None or when is None or (when > since and fresh.get(run_id) != iso(when))
        if changed or (known is not None and run_id not in known) or run_id in deleted:
            out.read.append(run_id)
        else:
            out.listed.append(run_id)
    out.missing = sorted(known - listing.keys()) if known is not None else []
    return out


def stamps_of(nodes: Iterable[dict]) -> dict[str, dt.datetime | None]:
    """Run id -> its stamp: all next_state keeps of W&B's answers (a full read that streams lets the nodes go)."""
    return {n["name"]: stamp(n) for n in nodes if n.get("name")}


def next_state(state: ReadState, stamps: Mapping[str, dt.datetime | None], read_ids: set[str], full: bool,
               now: float, seconds: float, deleted: Iterable[str], keys: LearnedKeys | None = None,
               every: bool = True, hold: bool = False) -> ReadState:
    """The state after this sync: stamps are those of the runs W&B listed (or the full read returned: stamps_of),
    read_ids what was read in full, seconds how long the listing (or full read) took. Whether updatedAt moves and
    the learned keys carry over; the runs gone are this read's.

    every: the stamps are those of every run (a full read, or a scan: LISTING_SCAN_MINUTES starts again); else only
    of the runs whose stamps moved past `since` (a filtered listing), so none means nothing changed. hold: keep
    `since` one listing behind (a filtered listing of several pages, which an offset cursor may have skipped a run
    of when another was deleted mid-listing: the next one lists the same runs again, `fresh` saying which were
    read; a run is missed only if two listings in a row skip it, and the next full read finds it)."""
    seen = max((t for t in stamps.values() if t), default=None)
    out = replace(state, full_at=now if full else state.full_at, keys=keys if keys is not None else state.keys,
                  deleted=tuple(sorted(set(deleted))), scan_at=now if full or every else state.scan_at)
    if seen is None and not every and state.since:
        return replace(out, fresh=dict(state.fresh))
    if hold and not every and parse_time(state.since) is not None and seen is not None:
        # `since` one listing behind, never further: once this listing saw a newer second than the one before it,
        # at the newest second that one saw (less this listing's length), so every window is listed twice, and a
        # project that changes a page of runs between every two syncs neither stalls `since` nor grows `fresh`
        # without end (it did: 324 KB of read state after a dozen syncs of 1,000 changed runs each). A listing
        # that saw nothing newer leaves `since` be: a quiet sync writes no new state.
        last_seen = parse_time(state.seen)
        held = parse_time(state.since)
        if last_seen is not None and seen > last_seen:
            held = max(held, last_seen - dt.timedelta(seconds=math.ceil(seconds) + 1))
        top = max(seen, last_seen or seen)
        return replace(out, since=iso(held), seen=iso(top), fresh={
            **{i: t for i, t in state.fresh.items() if i not in stamps and (parse_time(t) or held) > held},
            **{i: iso(t) for i, t in sorted(stamps.items())
               if t and held < t < top and (i in read_ids or state.fresh.get(i) == iso(t))}})
    if seen is None:
        since = parse_time(state.since) or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return replace(out, since=iso(since), seen=state.seen or iso(since), fresh={})
    if not full and state.seen == iso(seen) and state.since:
        return replace(out, fresh=dict(state.fresh))
    since = seen - dt.timedelta(seconds=math.ceil(seconds) + 1)
    return replace(out, since=iso(since), seen=iso(seen),
                   fresh={i: iso(t) for i, t in sorted(stamps.items())
                          if t and since < t < seen and (i in read_ids or state.fresh.get(i) == iso(t))})
