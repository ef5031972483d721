"""Opt-in, for maintainers: a real W&B project into a real Google Sheet. Skipped unless configured:

    WSS_LIVE_WANDB_PROJECT=entity/project WSS_LIVE_SPREADSHEET=<url> GCP_JSON=<key file> WANDB_API_KEY=<key> \\
        .venv/bin/python -m pytest tests/live -m live
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ORIGINAL_ENV

ROOT = Path(__file__).resolve().parents[2]
NEEDED = ("WSS_LIVE_WANDB_PROJECT", "WSS_LIVE_SPREADSHEET", "GCP_JSON", "WANDB_API_KEY")


@pytest.mark.live
@pytest.mark.skipif(not all(ORIGINAL_ENV.get(k) for k in NEEDED),
                    reason="live test: set " + ", ".join(NEEDED))
def test_real_project_into_a_real_sheet_twice(tmp_path):
    entity, project = ORIGINAL_ENV["WSS_LIVE_WANDB_PROJECT"].split("/", 1)
    worksheet = f"live-test-{int(time.time())}"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"SPREADSHEET": ORIGINAL_ENV["WSS_LIVE_SPREADSHEET"], "WORKSHEET": worksheet,
                                  "WANDB_ENTITY": entity, "WANDB_PROJECT": project}))
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--config_path", str(config)]
    first = subprocess.run(cmd, env=ORIGINAL_ENV, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(cmd, env=ORIGINAL_ENV, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and "0 new, 0 updated" in second.stdout and "0 sheet writes" in second.stdout


@pytest.mark.live
@pytest.mark.skipif(not all(ORIGINAL_ENV.get(k) for k in NEEDED),
                    reason="live test: set " + ", ".join(NEEDED))
def test_real_google_takes_a_write_split_into_small_requests(tmp_path):
    """What the fake assumes of Google and real Google must confirm: a write split into requests of at most
    REQUEST_BYTES (the smallest allowed) lands whole, with insertDimension/appendDimension and the base in the
    same requests, and a second sync finds nothing to do."""
    entity, project = ORIGINAL_ENV["WSS_LIVE_WANDB_PROJECT"].split("/", 1)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"SPREADSHEET": ORIGINAL_ENV["WSS_LIVE_SPREADSHEET"],
                                  "WORKSHEET": f"live-split-{int(time.time())}", "WANDB_ENTITY": entity,
                                  "WANDB_PROJECT": project, "REQUEST_BYTES": 100_000, "ORDER": "newest_first"}))
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--config_path", str(config),
           "--log_level", "DEBUG"]
    first = subprocess.run(cmd, env=ORIGINAL_ENV, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    print(first.stdout[-2000:])
    second = subprocess.run(cmd, env=ORIGINAL_ENV, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and "0 new, 0 updated" in second.stdout and "0 sheet writes" in second.stdout


@pytest.mark.live
@pytest.mark.skipif(not all(ORIGINAL_ENV.get(k) for k in NEEDED),
                    reason="live test: set " + ", ".join(NEEDED))
def test_real_project_with_summary_tabs_twice(tmp_path):
    """What the fake assumes of W&B and must be checked against it: GetSweep answers in wandb's SweepFragment shape
    with the config as YAML text, runs name their sweep by `sweepName` (the sweep id), and a second sync of all
    three tabs writes nothing. Set WSS_LIVE_SWEEP=<sweep id> in WSS_LIVE_WANDB_PROJECT to check one sweep's row."""
    entity, project = ORIGINAL_ENV["WSS_LIVE_WANDB_PROJECT"].split("/", 1)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"SPREADSHEET": ORIGINAL_ENV["WSS_LIVE_SPREADSHEET"],
                                  "WORKSHEET": f"live-tabs-{int(time.time())}", "WANDB_ENTITY": entity,
                                  "WANDB_PROJECT": project, "SUMMARIES": ["sweeps", "groups"]}))
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--config_path", str(config)]
    first = subprocess.run(cmd, env=ORIGINAL_ENV, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(cmd, env=ORIGINAL_ENV, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and "summary tabs: 0 new rows, 0 updated" in second.stdout
    assert "0 sheet writes" in second.stdout
    sweep_id = ORIGINAL_ENV.get("WSS_LIVE_SWEEP")
    if sweep_id:
        import wandb
        from wandb.apis._generated import GetSweep

        from sheetsync.sources.sweeps import SWEEP_QUERY, to_sweep
        from sheetsync.config import Target

        api = wandb.Api(overrides={"entity": entity})
        data = api._service_api.execute_graphql(SWEEP_QUERY, {"entity": entity, "project": project,
                                                               "name": sweep_id})
        GetSweep.model_validate(data)  # the shape the fake serves
        sweep = to_sweep(data["project"]["sweep"], Target(entity, project, "runs"), "https://wandb.ai")
        assert sweep.config is not None and sweep.state
