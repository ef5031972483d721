"""Real W&B offline runs, written by wandb.init(mode="offline") in a child process, for the local-mode reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_CHILD = r"""
import json, os, signal, sys, time, math
import wandb

def decode(v):
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    if isinstance(v, dict):
        return {k: decode(x) for k, x in v.items()}
    return v

arg = sys.argv[1]
specs = json.loads(open(arg[1:], encoding="utf-8").read() if arg.startswith("@") else arg)
for spec in specs:
    run = wandb.init(mode="offline", dir=spec["root"], project=spec["project"], entity=spec.get("entity"),
                     id=spec.get("id"), name=spec.get("name"), config=spec["config"], tags=spec["tags"] or None,
                     group=spec.get("group"), job_type=spec.get("job_type"), notes=spec.get("notes"),
                     settings=wandb.Settings(console="off", save_code=False, disable_git=True,
                                             x_disable_stats=True, x_disable_meta=True, silent=True,
                                             sweep_id=spec.get("sweep")))
    for name, kept in spec["metrics"].items():  # define_metric(name, summary="min"): W&B keeps name.min
        run.define_metric(name, summary=kept)
    for row in spec["log"]:
        run.log(decode(row))
    for key, value in spec["summary"].items():
        run.summary[key] = decode(value)
    for update in spec["config_updates"]:
        run.config.update(update, allow_val_change=True)
    for key in spec["summary_removals"]:
        del run.summary[key]
    print(json.dumps({"id": run.id, "dir": os.path.dirname(run.dir)}), flush=True)
    if spec["mode"] in ("kill", "hang"):  # wandb-core writes whole 32 KiB blocks: wait for the first one
        log_file = os.path.join(os.path.dirname(run.dir), f"run-{run.id}.wandb")
        deadline = time.time() + 30
        while time.time() < deadline and (not os.path.exists(log_file) or os.path.getsize(log_file) <= 7):
            time.sleep(0.05)
    if spec["mode"] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if spec["mode"] == "hang":
        sys.stdin.readline()  # keeps running until the test closes our stdin or kills us
        os.kill(os.getpid(), signal.SIGKILL)
    run.finish(exit_code=spec["exit_code"])
"""


@dataclass
class RunSpec:
    """One offline run: what it logs and how it ends ("finish", "kill" for SIGKILL, "hang" to keep running)."""

    project: str = "demo"
    id: str | None = None
    name: str | None = None
    entity: str | None = None
    config: dict = field(default_factory=dict)
    log: list[dict] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)  # metric -> define_metric's summary, e.g. "min"
    summary: dict = field(default_factory=dict)
    config_updates: list[dict] = field(default_factory=list)
    summary_removals: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    sweep: str | None = None  # the run's sweep id, as a sweep agent's run carries it
    exit_code: int = 0
    mode: str = "finish"


def offline_env(root: Path) -> dict[str, str]:
    """W&B settings that keep a child process offline and quiet, with every W&B folder under root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="offline", WANDB_DIR=str(root), WANDB_SILENT="true", WANDB_CONSOLE="off",
               WANDB_DISABLE_CODE="true", WANDB_DISABLE_GIT="true", WANDB_CONFIG_DIR=str(root / ".config"),
               WANDB_CACHE_DIR=str(root / ".cache"), WANDB_DATA_DIR=str(root / ".data"),
               WANDB_ARTIFACT_DIR=str(root / ".artifacts"))
    return env


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def make_runs(root: Path, specs: list[RunSpec], timeout: float = 120) -> list[Path]:
    """Writes the runs (in one child process, one after another) and returns their run folders.
    A 'hang' spec must come last; use start_running() for that."""
    root.mkdir(parents=True, exist_ok=True)
    payload = json.dumps([_jsonable(asdict(s)) | {"root": str(root)} for s in specs])
    if len(payload) > 100_000:  # one argument may hold 128 KiB: hostile runs carry 60,000-character texts
        spec_file = root / ".specs.json"
        spec_file.write_text(payload, encoding="utf-8")
        payload = "@" + str(spec_file)
    proc = subprocess.run([sys.executable, "-c", _CHILD, payload], env=offline_env(root), capture_output=True,
                          text=True, timeout=timeout)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    expect_kill = specs and specs[-1].mode == "kill"
    if len(lines) != len(specs) or (proc.returncode != 0 and not expect_kill):
        raise RuntimeError(f"offline run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return [Path(x["dir"]) for x in lines]


class RunningRun:
    """A run that stays alive until stop(); its .wandb file has no exit record meanwhile."""

    def __init__(self, root: Path, spec: RunSpec):
        spec.mode = "hang"
        payload = json.dumps([_jsonable(asdict(spec)) | {"root": str(root)}])
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, payload], env=offline_env(root),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.stop()
            raise RuntimeError("running run did not start: " + self.proc.stderr.read()[-2000:])
        self.dir = Path(json.loads(line)["dir"])
        self.id = json.loads(line)["id"]
        time.sleep(0.5)  # let wandb-core flush what was logged

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
