"""The measured process of bench/run.py: runs syncs on command and reports its own CPU, wall time and peak RSS.

Commands arrive one JSON line at a time on stdin: {"impl": "ours" | "baseline"}. bench/run.py starts a fresh
child for every sync of ours (issue 24: each as a `--once` runs it, with no heap left by an earlier sync) and one
child for the baseline's three syncs (as before). An implementation is built on its first command (imports, config,
clients) and the measurement window opens only after that: CPU, wall time and peak RSS cover the sync alone,
imports excluded (what the first phase of one long-lived child measured before). Peak RSS is measured per command by
resetting the kernel's high-water mark (/proc/self/clear_refs) just before the sync, so it counts from the RSS the
imports left.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


class Ours:
    def __init__(self, config_path: str):
        from wandb_sheet_sync import config
        from wandb_sheet_sync.cli import build_parser
        from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink
        from wandb_sheet_sync.sources.wandb_api import WandbSource
        from wandb_sheet_sync.sync import SyncMemory

        # The wandb package is imported here, before the measurement window, as the long-lived child before issue 24
        # had it imported by its first sync: the measured CPU is the sync's, not Python's import of wandb (~0.6 s,
        # paid once by any process that syncs; `--help` never imports it). wandb.Api() and its login check stay in.
        import wandb  # noqa: F401
        import wandb.apis.public  # noqa: F401

        args = build_parser().parse_args(["--once", "--config_path", config_path])
        self.settings = config.load(args)
        self.source = WandbSource(self.settings)
        self.sink = GoogleSheetsSink(self.settings.spreadsheet, self.settings.key_file, self.settings.google_endpoint,
                                     self.settings.request_timeout, threading.Event(),
                                     retry_base=self.settings.retry_base_seconds)
        self.state = SyncMemory()

    def sync(self) -> dict:
        from wandb_sheet_sync.sources.wandb_api import WandbSource
        from wandb_sheet_sync.sync import SyncMemory, sync

        # as a --once (cron) would: no memory of the last sync in the process; what was read is in the base
        self.source, self.state = WandbSource(self.settings), SyncMemory()
        report = sync(self.source, self.sink, self.settings, self.state)
        return {"new": report.total("new"), "updated": report.total("updated")}


class Baseline:
    """The script most teams write: W&B's documented export idiom, then the whole sheet rewritten."""

    def __init__(self, config_path: str):
        cfg = json.loads(Path(config_path).read_text())
        self.path = f"{cfg['WANDB_ENTITY']}/{cfg['WANDB_PROJECT']}"
        self.key = os.environ["BENCH_BASELINE_SHEET"]
        self.key_file = os.environ["GCP_JSON"]

    def sync(self) -> dict:
        import gspread
        import wandb
        from google.oauth2.service_account import Credentials

        from wandb_sheet_sync.sinks.google_http import GoogleSession  # only to reach the fake's URL

        api = wandb.Api()
        rows = []
        for run in api.runs(self.path):  # default lazy=True: config and summary cost a request per run
            row = {"run_id": run.id, "name": run.name, "state": run.state, "created_at": run.created_at}
            row.update({k: v for k, v in run.config.items() if not k.startswith("_")})
            row.update({k: v for k, v in run.summary._json_dict.items() if not k.startswith("_")})
            rows.append(row)
        header = list(dict.fromkeys(k for row in rows for k in row))
        values = [header] + [[_cell(row.get(h)) for h in header] for row in rows]
        creds = Credentials.from_service_account_file(self.key_file, scopes=gspread.auth.DEFAULT_SCOPES)
        gc = gspread.Client(auth=creds, session=GoogleSession(creds, os.environ["GOOGLE_API_ENDPOINT"]))
        ws = gc.open_by_key(self.key).sheet1
        ws.clear()
        ws.resize(rows=len(values), cols=len(header))
        ws.update(values, "A1")
        return {"rows": len(rows)}


def _cell(v):
    """What people add after their first crash: NaN and nested values to something JSON can carry."""
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return "" if v is None else v


def main() -> None:
    config_path = sys.argv[1]
    impls: dict = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        impl = impls.get(cmd["impl"])
        if impl is None:
            impl = impls[cmd["impl"]] = (Ours if cmd["impl"] == "ours" else Baseline)(config_path)
        reset_peak()
        profile = None
        if os.environ.get("BENCH_PROFILE"):  # bench/run.py --profile: where each sync's time goes
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            result = impl.sync()
            error = None
        except Exception as exc:  # reported, not hidden: a failed phase is a result too
            result, error = {}, f"{type(exc).__name__}: {exc}"[:500]
        out = {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall, "rss_mb": peak_rss_mb(),
               "error": error, **result}
        if profile is not None:
            import io
            import pstats

            profile.disable()
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text)
            stats.sort_stats("cumulative").print_stats(25)
            stats.sort_stats("tottime").print_stats(25)  # where the time is spent, not only under what
            out["profile"] = text.getvalue()
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
