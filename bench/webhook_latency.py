"""From a signed W&B event to the run in the sheet: the service (--listen) against the fake Google and W&B.

    python bench/webhook_latency.py [--events 20] [--runs 100] [--json FILE]

Starts the fakes in this process and `wandb_spreadsheet_sync.py --listen 127.0.0.1:0` as users start it (schedule
of 600 minutes: every sync after the first is one an event asked for). Then, --events times: a run finishes in the
fake W&B, a signed RUN_STATE event is POSTed to /webhook, and the fake sheet is polled (every 5 ms) until the run's
row is there. Prints each time and the median. Not a test: a number for the README and the closing note (wall
times depend on the machine; the fakes leave out Google's and W&B's own latency).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.fakes.credentials import write_service_account  # noqa: E402
from tests.fakes.google_api import FakeGoogle  # noqa: E402
from tests.fakes.wandb_api import DEFAULT_KEY, FakeWandb  # noqa: E402

SECRET = "bench-webhook-secret"


def run_ids(google: FakeGoogle, sid: str) -> set[str]:
    try:
        grid = google.world.grid(sid, "runs")
    except Exception:  # noqa: BLE001 (not made yet)
        return set()
    if not grid or "run_id" not in grid[0]:
        return set()
    key = grid[0].index("run_id")
    return {row[key] for row in grid[1:] if key < len(row) and row[key]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--runs", type=int, default=100, help="runs in the project before the first event")
    parser.add_argument("--json", help="also write the times to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeGoogle() as google, FakeWandb() as wandb:
        tmp = Path(tmp)
        key = tmp / "sa.json"
        google.register_service_account(write_service_account(key, google.token_uri))
        sid = google.world.add_spreadsheet("Bench", {"Sheet1": []}).spreadsheet_id
        wandb.world.generate(args.runs)
        cfg = tmp / "config.json"
        cfg.write_text(json.dumps({"SPREADSHEET": sid, "WORKSHEET": "runs", "WANDB_ENTITY": "alice",
                                   "WANDB_PROJECT": "proj", "TIMEZONE": "UTC", "WANDB_PACE_SECONDS": 0}))
        env = dict(os.environ, WANDB_BASE_URL=wandb.url, WANDB_API_KEY=DEFAULT_KEY, GCP_JSON=str(key),
                   GOOGLE_API_ENDPOINT=google.url, WEBHOOK_SECRET=SECRET, PYTHONUNBUFFERED="1",
                   WSS_HEALTH_FILE=str(tmp / "health.json"), WANDB_DIR=str(tmp), WANDB_SILENT="true",
                   NO_PROXY="127.0.0.1,localhost")
        proc = subprocess.Popen([sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--config_path", str(cfg),
                                 "--listen", "127.0.0.1:0", "--schedule_time", "600"], cwd=tmp, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out: list[str] = []
        threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not (len(run_ids(google, sid)) == args.runs and
                                                       re.search(r"listening on http://[\d.]+:(\d+)", "".join(out))):
                time.sleep(0.05)
            port = re.search(r"listening on http://[\d.]+:(\d+)", "".join(out))
            assert port and len(run_ids(google, sid)) == args.runs, "".join(out)
            url = f"http://127.0.0.1:{port.group(1)}/webhook"
            times = []
            for i in range(args.events):
                name = f"bench{i:04d}"
                now = wandb.world.now()
                wandb.world.add_run(name=name, display_name=name, state="finished", created_at=now, heartbeat_at=now,
                                    summary={"loss": 0.1 * i})
                body = json.dumps({"event_type": "RUN_STATE", "entity_name": "alice", "project_name": "proj"}).encode()
                sig = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
                sent = time.perf_counter()
                answer = requests.post(url, data=body, headers={"X-Wandb-Signature": sig}, timeout=30)
                assert answer.status_code == 202, answer.text
                deadline = time.monotonic() + 60
                while name not in run_ids(google, sid):
                    assert time.monotonic() < deadline, "".join(out[-20:])
                    time.sleep(0.005)
                times.append(time.perf_counter() - sent)
                print(f"event {i + 1:2d}: {times[-1] * 1000:7.0f} ms", flush=True)
                time.sleep(0.5)  # let the sync's last write settle: each event starts from an idle service
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        median = statistics.median(times)
        print(f"median of {len(times)}: {median * 1000:.0f} ms (min {min(times) * 1000:.0f}, max "
              f"{max(times) * 1000:.0f}); {args.runs}+ runs in the project; service exit code {code}")
        if args.json:
            Path(args.json).write_text(json.dumps({"times_s": times, "median_s": median, "runs": args.runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
