"""Opt-in, for maintainers: a real W&B project into a real Google Sheet. Skipped unless configured:

    WSS_LIVE_WANDB_PROJECT=entity/project WSS_LIVE_SPREADSHEET=<url> GCP_JSON=<key file> WANDB_API_KEY=<key> \\
        .venv/bin/python -m pytest tests/live -m live

The W&B probe (does updatedAt move on tag, notes, summary and config edits; key selection, `name $in`, 1,000 runs
a page, deletions) needs only WSS_LIVE_WANDB_PROJECT (a project you may write one short run to) and WANDB_API_KEY.
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
@pytest.mark.skipif(not all(ORIGINAL_ENV.get(k) for k in ("WSS_LIVE_WANDB_PROJECT", "WANDB_API_KEY")),
                    reason="live test: set WSS_LIVE_WANDB_PROJECT (a project you may write a run to) and "
                           "WANDB_API_KEY")
def test_real_wandb_moves_updated_at_on_tags_notes_and_summary_edits():
    """README "What is verified and what is assumed about W&B": the tool reads incrementally by updatedAt and falls
    back when it does not move. This says which world real W&B is, and checks the query features the tool uses."""
    probe = subprocess.run([sys.executable, "-m", "tests.live.wandb_probe", ORIGINAL_ENV["WSS_LIVE_WANDB_PROJECT"]],
                           cwd=ROOT, env=ORIGINAL_ENV, capture_output=True, text=True, timeout=900)
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    print(json.dumps(found, indent=1))  # the findings, for the README
    assert found["updatedAt_answered"]
    assert found["config_keys_selected"] and found["summary_keys_selected"] and found["page_of_1000_answered"]
    assert found["deleted_run_gone_from_listing"]
    for edit in ("tags", "notes", "summary"):
        assert found[f"updatedAt_moves_on_{edit}"], (
            f"real W&B does not move updatedAt on a {edit} edit: the tool detects this (a partial row that "
            "changes) and falls back to full reads; update the README's assumptions")
