"""W&B's local run folders -> Run records, read from the .wandb record log with wandb's own protobuf messages.

The file: a 7-byte header (':W&B', 0xBEE1, version 0), then 32 KiB blocks of chunks, each
[CRC-32 of type+payload, uint16 length, uint8 type (1 full, 2 first, 3 middle, 4 last)] + payload; a record
is one full chunk or first..last. A block's tail too short for a chunk header is zero padding. A run killed
mid-write leaves a torn tail, and a disk error a bad chunk: the reader keeps every record it can verify,
skips to the next block after a bad one, and says so; it never fails on a damaged file.

State, as W&B's server would show it: an exit record means finished (exit code 0) or failed (any other);
no exit record means running while the file changed in the last RUNNING_WINDOW, crashed after that.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config import Settings, Target
from ..errors import Interrupted, SourceError
from ..history import Wanted, cells as history_cells
from ..run import Run, Sweep
from . import Fetched, Need

log = logging.getLogger("wandb_spreadsheet_sync")
BLOCK = 32 * 1024
HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
CHUNK = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
RUNNING_WINDOW = 5 * 60  # seconds without a write before a run without an exit record counts as crashed


@dataclass
class Records:
    payloads: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_records(data: bytes) -> Records:
    """Every verifiable record payload in a .wandb file's bytes, and what was wrong with the rest."""
    out = Records()
    if not data.startswith(HEADER[:4]):
        out.problems.append("not a W&B record file (bad header)")
        return out
    pos, pending = len(HEADER), None
    while pos + CHUNK <= len(data):
        room = BLOCK - pos % BLOCK
        if room < CHUNK:  # zero padding at the end of a block
            pos += room
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if crc == 0 and length == 0 and kind == 0:
            pos += room  # the rest of this block was never written (preallocated, or torn)
            continue
        end = pos + CHUNK + length
        if kind not in (FULL, FIRST, MIDDLE, LAST) or length > room - CHUNK or end > len(data):
            out.problems.append(f"damaged or cut chunk at byte {pos}; skipped to the next block")
            pending = None
            pos += room
            continue
        payload = data[pos + CHUNK:end]
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) != crc:
            out.problems.append(f"checksum mismatch at byte {pos}; skipped to the next block")
            pending = None
            pos += room
            continue
        pos = end
        if kind == FULL:
            out.payloads.append(payload)
            pending = None
        elif kind == FIRST:
            pending = [payload]
        elif pending is not None:
            pending.append(payload)
            if kind == LAST:
                out.payloads.append(b"".join(pending))
                pending = None
    if pending is not None or 0 < len(data) - pos < CHUNK and data[pos:].strip(b"\0"):
        out.problems.append("the file ends in the middle of a record (the run was cut off); "
                            "using what could be read")
    return out


def _json(text: str) -> Any:
    try:
        return json.loads(text)  # W&B writes NaN and Infinity, which Python's json reads
    except ValueError:
        return text


def _path(item) -> list[str]:
    return list(item.nested_key) if item.nested_key else [item.key]


def _set(d: dict, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        nxt = d.get(part)
        if not isinstance(nxt, dict):
            nxt = d[part] = {}
        d = nxt
    d[path[-1]] = value


def _remove(d: dict, path: list[str]) -> None:
    for part in path[:-1]:
        d = d.get(part)
        if not isinstance(d, dict):
            return
    d.pop(path[-1], None)


def parse_run(wandb_file: Path, now: float | None = None,
              wanted: Wanted | None = None) -> tuple[Run | None, list[str]]:
    """One run folder's .wandb file -> a Run (None if no run record survived) and any problems. The history
    records of the metrics `wanted` names are read in full: their best value and curve are exact."""
    from wandb.proto import wandb_internal_pb2 as pb  # ships with wandb; imported only in local mode

    try:
        data = wandb_file.read_bytes()
        mtime = wandb_file.stat().st_mtime
    except OSError as exc:
        return None, [f"cannot be read: {exc}"]
    records = read_records(data)
    problems = list(records.problems)
    run_rec = None
    config: dict = {}
    summary: dict = {}
    system: dict = {}
    exit_rec = None
    user = host = None
    keys = frozenset(wanted.keys) if wanted else frozenset()
    points: dict[str, list] = {key: [] for key in keys}
    for payload in records.payloads:
        rec = pb.Record()
        try:
            rec.ParseFromString(payload)
        except Exception:  # a chunk that passed its checksum but is not a Record: skip it
            problems.append("a record could not be decoded")
            continue
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            run_rec = rec.run
            for item in rec.run.config.update:
                _set(config, _path(item), _json(item.value_json))
            for item in rec.run.summary.update:
                _set(summary, _path(item), _json(item.value_json))
        elif kind == "config":
            for item in rec.config.update:
                _set(config, _path(item), _json(item.value_json))
            for item in rec.config.remove:
                _remove(config, _path(item))
        elif kind == "summary":
            for item in rec.summary.update:
                _set(summary, _path(item), _json(item.value_json))
            for item in rec.summary.remove:
                _remove(summary, _path(item))
        elif kind == "history" and keys:
            _history_points(rec.history, keys, points)
        elif kind == "stats":
            for item in rec.stats.item:
                if item.key.endswith("memoryAllocatedBytes"):
                    name = "system." + item.key
                    value = _json(item.value_json)
                    if isinstance(value, (int, float)):
                        system[name] = max(system.get(name, 0), value)
        elif kind == "environment":
            user = rec.environment.username or user
            host = rec.environment.host or host
        elif kind == "exit":
            exit_rec = rec.exit
        # any other record type (history of other metrics, output, files, telemetry, newer kinds) is skipped
    if run_rec is None:
        return None, problems + ["no run record was written (the run died before W&B flushed its log); "
                                 "skipped"]
    _older_files(wandb_file.parent, config, summary)
    config.pop("_wandb", None)
    now = now or time.time()
    if exit_rec is not None:
        state = "finished" if exit_rec.exit_code == 0 else "failed"
    else:
        state = "running" if now - mtime < RUNNING_WINDOW else "crashed"
    start = (dt.datetime.fromtimestamp(run_rec.start_time.seconds + run_rec.start_time.nanos / 1e9, dt.timezone.utc)
             if run_rec.HasField("start_time") else None)
    last = dt.datetime.fromtimestamp(mtime, dt.timezone.utc)
    stamp = summary.get("_timestamp")
    # Offline, W&B 0.31 ends with a summary '_runtime: 0'; the exit record or the clock says more.
    candidates = [exit_rec.runtime if exit_rec is not None else 0, summary.get("_runtime"),
                  (mtime - start.timestamp()) if start else 0]
    runtime = max((c for c in candidates if isinstance(c, (int, float))), default=None)
    project = f"{run_rec.entity}/{run_rec.project}" if run_rec.entity else run_rec.project
    return Run(
        id=run_rec.run_id, name=run_rec.display_name or run_rec.run_id, user=user, display_user=user,
        state=state, created_at=start, updated_at=last,
        timestamp=dt.datetime.fromtimestamp(stamp, dt.timezone.utc) if isinstance(stamp, (int, float)) else None,
        runtime=runtime if isinstance(runtime, (int, float)) else None, tags=tuple(run_rec.tags),
        group=run_rec.run_group or None, job_type=run_rec.job_type or None, notes=run_rec.notes or None,
        sweep=run_rec.sweep_id or None, project=project, host=host or run_rec.host or None, url=None,
        config=config, summary=summary, system_metrics=system,
        history=history_cells(points, summary, wanted) if wanted else {}), problems


def _history_points(record, keys: frozenset, points: dict[str, list]) -> None:
    """The (step, value) of each wanted metric in one history record (one wandb.log call)."""
    step = record.step.num if record.HasField("step") else None
    found = {}
    for item in record.item:
        name = ".".join(_path(item))
        if name == "_step" and step is None:
            step = _json(item.value_json)
        elif name in keys:
            found[name] = _json(item.value_json)
    for name, value in found.items():
        points[name].append((step, value))


def _older_files(folder: Path, config: dict, summary: dict) -> None:
    """Run folders from older W&B versions keep config.yaml and wandb-summary.json: use them where the
    record log had nothing."""
    files = folder / "files"
    if not summary and (files / "wandb-summary.json").is_file():
        try:
            summary.update(json.loads((files / "wandb-summary.json").read_text()))
        except (OSError, ValueError):
            pass
    if not config and (files / "config.yaml").is_file():
        try:
            import yaml  # wandb depends on PyYAML

            raw = yaml.safe_load((files / "config.yaml").read_text()) or {}
            config.update({k: v.get("value") if isinstance(v, dict) and "value" in v else v
                           for k, v in raw.items()})
        except Exception:  # an unreadable old file is not worth failing the sync over
            pass


def find_run_files(root: Path) -> Iterator[Path]:
    """The .wandb file of every run folder under root (offline-run-*, run-*, nested wandb/ folders)."""
    for folder in sorted(root.rglob("*run-*")):
        if folder.is_dir() and (folder.name.startswith("offline-run-") or folder.name.startswith("run-")):
            yield from sorted(folder.glob("run-*.wandb"))


class LocalSource:
    def __init__(self, settings: Settings, stop: threading.Event | None = None):
        self.settings = settings
        self.requests = 0
        self.stop = stop  # set by SIGTERM / Ctrl-C: the read ends at the next run folder

    def fetch(self, target: Target, need: Need | None = None,
              progress: Callable[[int], None] | None = None) -> Fetched:
        root = self.settings.source
        if root is None or not root.is_dir():
            raise SourceError(f"{root} is not a folder.", "Give --source the folder that holds W&B's wandb/ runs.")
        newest: dict[str, tuple[float, Run]] = {}
        wanted = Wanted.of(self.settings)
        for path in find_run_files(root):
            if self.stop is not None and self.stop.is_set():
                raise Interrupted("Stopped while reading run folders; nothing was written.")
            run, problems = parse_run(path, wanted=wanted)
            for problem in problems:  # a live run's last block is still being written: expected
                level = logging.DEBUG if run is not None and run.state == "running" else logging.WARNING
                log.log(level, "%s: %s", path, problem)
            if run is None or (target.project != "local" and run.project.split("/")[-1] != target.project):
                continue
            if run.user:
                run = dataclasses.replace(run, display_user=self.settings.names.get(run.user, run.user))
            if self.settings.user_name and run.user and run.user != self.settings.user_name:
                continue
            if self.settings.states and run.state not in self.settings.states:
                continue
            stamp = path.stat().st_mtime
            if run.id not in newest or stamp > newest[run.id][0]:  # a resumed run: its latest folder
                newest[run.id] = (stamp, run)
            if progress:
                progress(len(newest))
        return Fetched([run for _, run in newest.values()], pages=0, full=True)

    def sweeps(self, target: Target, ids: set[str]) -> dict[str, Sweep]:
        root = self.settings.source
        return {sweep_id: local_sweep(root, sweep_id) for sweep_id in ids} if root is not None else {}


def sweep_files(root: Path, sweep_id: str) -> list[Path]:
    """Where a sweep's config may be beside run folders: sweep-<id>.yaml (.yml, .json), the file given to
    `wandb sweep`, saved under --source by whoever started the sweep."""
    names = {f"sweep-{sweep_id}{ext}" for ext in (".yaml", ".yml", ".json")}
    return sorted(p for p in root.rglob("sweep-*") if p.is_file() and p.name in names)


def local_sweep(root: Path, sweep_id: str) -> Sweep:
    """A sweep as the run folders know it. W&B keeps a sweep's config on its server; offline run folders hold
    only the sweep id, so the config comes from a sweep-<id>.yaml the user saved beside them, and without one
    the tab says what is missing and how to add it."""
    from .sweeps import parse_config

    for path in sweep_files(root, sweep_id):
        try:
            config = parse_config(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            config = None
        if config is not None:
            return Sweep(sweep_id, name=str(config.get("name") or sweep_id), method=str(config.get("method") or ""),
                         config=config)
        return Sweep(sweep_id, problem=f"{path.name} is not a readable sweep config (YAML or JSON)")
    return Sweep(sweep_id, problem=f"no sweep config in the run folders (offline runs keep only the sweep id): "
                                   f"save the sweep's YAML as sweep-{sweep_id}.yaml in the --source folder "
                                   "for its metric, goal and best run")
