"""HISTORY, HISTORY_STEPS and CURVES from run folders: real offline runs' history records (exact) into .xlsx and
.csv through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.offline_runs import RunSpec, make_runs
from tests.local.test_files import by_id, read, write_grid

ROOT = Path(__file__).resolve().parents[2]
LOSS = [2.0, 0.5, 0.9, 1.2]  # the best (0.5 at step 1) is not the last value


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("history-runs")
    make_runs(root, [
        RunSpec(id="hist0001", name="plain", log=[{"val_loss": v, "val_acc": 1 - v / 2} for v in LOSS]),
        RunSpec(id="hist0002", name="defined", metrics={"val_loss": "min"},
                log=[{"val_loss": 3.0}, {"val_loss": 0.2}, {"val_loss": float("nan")}, {"val_loss": 1.0}]),
        RunSpec(id="hist0003", name="other", log=[{"loss": 1.0}, {"loss": 0.1}]),
    ])
    return root


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["xlsx", "csv"])
def test_exact_best_step_and_curve_from_run_folders_and_a_hand_edit_survives(folders, tmp_path, ext):
    out = tmp_path / f"runs.{ext}"
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"HISTORY": {"val_loss": "min", "val_acc": "max"}, "HISTORY_STEPS": True,
                               "CURVES": ["val_loss"], "DYNAMIC_HEADERS": False,
                               "FIXED_HEADERS": ["run_id", "run_name", "state"]}))
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--source", str(folders),
           "--output", str(out), "--config_path", str(cfg)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr
    grid = read(out)
    assert list(grid[0]) == ["run_id", "run_name", "state", "val_loss (min)", "val_loss (min) step", "val_acc (max)",
                             "val_acc (max) step", "val_loss (curve)"]
    rows = by_id(grid)
    typed = (lambda v: v) if ext == "xlsx" else str  # CSV holds text; .xlsx holds numbers
    assert rows["hist0001"]["val_loss (min)"] == typed(0.5) and rows["hist0001"]["val_loss (min) step"] == typed(1)
    assert rows["hist0001"]["val_acc (max)"] == typed(0.75) and rows["hist0001"]["val_acc (max) step"] == typed(1)
    assert rows["hist0001"]["val_loss (curve)"] == "█▁▃▄"
    # define_metric(summary="min") keeps only val_loss.min in the summary; the history records agree with it
    assert rows["hist0002"]["val_loss (min)"] == typed(0.2) and rows["hist0002"]["val_loss (min) step"] == typed(1)
    assert rows["hist0002"]["val_loss (curve)"] == "█▁▃"  # NaN is left out of the curve
    assert rows["hist0003"]["val_loss (min)"] in (None, "") and rows["hist0003"]["val_loss (curve)"] in (None, "")

    edited = [list(r) for r in grid]
    row = next(i for i, r in enumerate(edited) if r[0] == "hist0001")
    edited[row][3] = "0.4 (re-evaluated)"
    write_grid(out, edited)
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "0 updated, 1 kept edits" in second.stdout
    assert by_id(read(out))["hist0001"]["val_loss (min)"] == "0.4 (re-evaluated)"
