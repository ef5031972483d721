"""A loop that runs for months, in minutes: hundreds of syncs in one process (as `--schedule_time` runs them),
with the memory of the whole process tree (the tool and the wandb-core helper it starts) after each.

    .venv/bin/python bench/loop_memory.py [--syncs 300] [--runs 50] [--fresh-api]
    WSS_WANDB_GRAPHQL=http .venv/bin/python bench/loop_memory.py   # W&B's GraphQL sent directly, not via wandb-core

The fakes run in this process; the syncs in a child process that keeps its clients between syncs, as the loop
does, and reports after each the RSS of itself and of its descendants. Between two syncs a few W&B runs change,
so every sync reads and writes a little. Prints kB per 100 syncs (a least-squares slope over the second half,
after the warm-up) for the tool, for wandb-core, and for the tree. Not part of `make test`: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, os, sys, threading
sys.path.insert(0, sys.argv[1])
from wandb_sheet_sync import config
from wandb_sheet_sync.cli import build_parser
from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink
from wandb_sheet_sync.sources.wandb_api import WandbSource
from wandb_sheet_sync.sync import SyncMemory, sync

def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0

def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in os.listdir(f"/proc/{p}/task"):
            try:
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
    return out

settings = config.load(build_parser().parse_args(["--config_path", sys.argv[2]]))
stop = threading.Event()
source = WandbSource(settings, stop)
sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, settings.request_timeout,
                        stop, settings.request_bytes, per_minute=settings.requests_per_minute,
                        retry_base=settings.retry_base_seconds, lease_seconds=settings.lease_seconds,
                        lease_wait=settings.lease_wait)
history = SyncMemory()
fresh = os.environ.get("WSS_BENCH_FRESH_API") == "1"
for line in sys.stdin:
    if fresh:  # the tool before issue 23: a new wandb.Api every sync
        source._apis.clear()
    report = sync(source, sink, settings, history)
    me = os.getpid()
    kids = descendants(me)
    print(json.dumps({"tool_kb": rss_kb(me), "helpers_kb": sum(rss_kb(k) for k in kids), "helpers": len(kids),
                      "new": report.total("new"), "updated": report.total("updated")}), flush=True)
"""


def slope_per_100(values: list[float]) -> float:
    """Least-squares growth per 100 syncs over the second half (the first half is warm-up)."""
    half = values[len(values) // 2:]
    n = len(half)
    if n < 2:
        return 0.0
    xs = range(n)
    mx, my = (n - 1) / 2, sum(half) / n
    return 100 * sum((x - mx) * (y - my) for x, y in zip(xs, half)) / sum((x - mx) ** 2 for x in xs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--syncs", type=int, default=300)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--fresh-api", action="store_true", help="a new wandb.Api every sync (as before issue 23)")
    args = parser.parse_args()
    import datetime as dt

    from tests.fakes.credentials import write_service_account
    from tests.fakes.google_api import FakeGoogle
    from tests.fakes.wandb_api import DEFAULT_KEY, FakeWandb

    with FakeGoogle() as google, FakeWandb() as wandb, tempfile.TemporaryDirectory() as tmp:
        google.world.raise_quota(per_user=100_000)
        key = Path(tmp) / "key.json"
        google.register_service_account(write_service_account(key, google.token_uri))
        ss = google.world.add_spreadsheet("loop", {"Sheet1": []})
        wandb.world.generate(args.runs)
        cfg = Path(tmp) / "config.json"
        cfg.write_text(json.dumps({"SPREADSHEET": ss.spreadsheet_id, "WANDB_ENTITY": "alice", "WANDB_PROJECT": "proj",
                                   "GCP_JSON": str(key), "TIMEZONE": "UTC", "WANDB_PACE_SECONDS": 0,
                                   "REQUESTS_PER_MINUTE": 100_000, "REQUEST_TIMEOUT": 10}))
        env = dict(os.environ, WANDB_BASE_URL=wandb.url, WANDB_API_KEY=DEFAULT_KEY, GOOGLE_API_ENDPOINT=google.url,
                   WANDB_DIR=tmp, WSS_RETRY_BASE_SECONDS="0.05", WSS_BENCH_FRESH_API="1" if args.fresh_api else "0")
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), str(cfg)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, env=env, cwd=tmp)
        tool, helpers, tree = [], [], []
        clock = dt.datetime(2026, 6, 1)
        try:
            for i in range(args.syncs):
                clock += dt.timedelta(minutes=1)
                runs = wandb.world.project("alice", "proj")
                with wandb.world.lock:
                    for run in runs[i % len(runs): i % len(runs) + 3]:
                        run.summary["loss"] = float(i)
                        run.heartbeat_at = clock
                google.world.clear_log()
                wandb.world.clear_log()
                child.stdin.write("sync\n")
                child.stdin.flush()
                got = json.loads(child.stdout.readline())
                tool.append(got["tool_kb"])
                helpers.append(got["helpers_kb"])
                tree.append(got["tool_kb"] + got["helpers_kb"])
                if i % 50 == 0 or i == args.syncs - 1:
                    print(f"sync {i + 1}: tool {got['tool_kb'] / 1024:.1f} MB, helpers ({got['helpers']}) "
                          f"{got['helpers_kb'] / 1024:.1f} MB, {got['updated']} updated", flush=True)
        finally:
            child.stdin.close()
            child.wait(timeout=60)
        print(f"\n{args.syncs} syncs of {args.runs} runs: growth per 100 syncs (second half): tool "
              f"{slope_per_100(tool):+.0f} kB, wandb-core {slope_per_100(helpers):+.0f} kB, tree "
              f"{slope_per_100(tree):+.0f} kB; tree {tree[0] / 1024:.1f} -> {tree[-1] / 1024:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
