"""HISTORY, HISTORY_STEPS and CURVES end to end: W&B's sampled history (the fake, as wandb's client reads it)
into a Google Sheet, through the real command line."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from wandb_sheet_sync.sparkline import sparkline
from tests.fakes.cells import parse_input

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process, or soaks

HISTORY = {"HISTORY": {"val_loss": "min", "val_acc": "max"}, "HISTORY_STEPS": True, "CURVES": ["val_loss"],
           "DYNAMIC_HEADERS": False}
LOSS = [2.0, 0.5, 0.9, 1.2]  # the best (0.5, step 1) is not the last value (1.2)
ACC = [0.1, 0.8, 0.7]


def _runs(world):
    # r1's last row logs val_acc NaN: W&B keeps it in history; it is no best value
    world.add_run(name="r1", summary={"val_loss": 1.2, "val_acc": 0.7, "_step": 3},
                  history=[{"val_loss": v, "val_acc": ACC[i] if i < 3 else math.nan} for i, v in enumerate(LOSS)],
                  created_at=dt.datetime(2026, 1, 1, 1))
    # 500 rows: sampled at 50, step 257 falls between samples, so only the summary's min (define_metric) has it
    spiky = [{"val_loss": 1.0 - i / 1000} for i in range(500)]
    spiky[257] = {"val_loss": 0.01}
    world.add_run(name="r2", summary={"val_loss": {"min": 0.01}, "_step": 499}, history=spiky,
                  created_at=dt.datetime(2026, 1, 1, 2))
    world.add_run(name="r3", summary={"loss": 3.0}, history=[{"loss": 3.0}], created_at=dt.datetime(2026, 1, 1, 3))


def test_best_over_history_its_step_and_curve_from_sampled_history_in_the_runs_page(e2e):
    _runs(e2e.wandb.world)
    e2e.config(**HISTORY)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    header = e2e.sheet()[0]
    assert header == ["run_id", "run_name", "user", "state", "created_at", "notes", "val_loss (min)",
                      "val_loss (min) step", "val_acc (max)", "val_acc (max) step", "val_loss (curve)"]
    rows = e2e.rows()
    assert rows["r1"]["val_loss (min)"] == 0.5 and rows["r1"]["val_loss (min) step"] == 1
    assert rows["r1"]["val_acc (max)"] == 0.8 and rows["r1"]["val_acc (max) step"] == 1
    assert rows["r1"]["val_loss (curve)"] == sparkline(LOSS) == "█▁▃▄"
    assert rows["r2"]["val_loss (min)"] == 0.01  # W&B's own exact min, which the samples missed
    assert rows["r2"]["val_loss (min) step"] == ""  # no sample carries it: the step is not guessed
    assert len(rows["r2"]["val_loss (curve)"]) == 24
    assert rows["r3"]["val_loss (min)"] == "" and rows["r3"]["val_loss (curve)"] == ""
    ops = e2e.wandb.world.operations()
    assert ops.count("Runs") == 1 and "Run" not in ops and "RunSampledHistory" not in ops  # no request per run
    runs_query = next(r.body["query"] for r in e2e.wandb.world.log if "query Runs" in r.body.get("query", ""))
    assert runs_query.count('\\"keys\\": [\\"_step\\"') == 2  # one spec per metric: val_loss, val_acc

    # a person corrects r1's best; r1 then logs a better value: the person's cell stays, the rest follows W&B
    sheet = next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == "runs")
    row = next(r for r in range(1, 4) if sheet.get(r, 0).value == "r1")
    sheet.put(row, header.index("val_loss (min)"), parse_input("0.45 (rerun)", False, None))
    r1 = e2e.wandb.world.find("alice", "proj", "r1")
    r1.history.append({"val_loss": 0.3})
    r1.heartbeat_at += dt.timedelta(hours=1)
    again = e2e.cli("--once")
    assert again.returncode == 0, again.stderr
    rows = e2e.rows()
    assert rows["r1"]["val_loss (min)"] == "0.45 (rerun)"
    assert rows["r1"]["val_loss (min) step"] == 4
    assert rows["r1"]["val_loss (curve)"] == sparkline([*LOSS, 0.3])
    assert "1 kept edits" in again.stdout


def test_server_refusing_sampled_history_syncs_without_it_and_says_why(e2e):
    _runs(e2e.wandb.world)
    e2e.wandb.world.history_refused = (400, 'Cannot query field "sampledHistory" on type "Run".')
    e2e.config(**HISTORY)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert 'Cannot query field "sampledHistory"' in result.stderr + result.stdout
    rows = e2e.rows()
    assert set(rows) == {"r1", "r2", "r3"}
    assert rows["r2"]["val_loss (min)"] == 0.01  # the summary's min needs no history
    assert rows["r1"]["val_loss (min)"] == "" and rows["r1"]["val_loss (curve)"] == ""
    assert e2e.wandb.world.operations().count("Runs") == 3  # 50 samples, 12 samples, then none

    e2e.wandb.world.history_refused = None  # the server takes it again: the columns fill in
    e2e.wandb.world.find("alice", "proj", "r1").heartbeat_at += dt.timedelta(hours=1)
    assert e2e.cli("--once").returncode == 0
    assert e2e.rows()["r1"]["val_loss (min)"] == 0.5 and e2e.rows()["r1"]["val_loss (curve)"] == "█▁▃▄"


def test_too_many_samples_for_one_page_asks_again_with_fewer(e2e):
    _runs(e2e.wandb.world)
    e2e.wandb.world.history_row_limit = 100  # 3 runs x 2 metrics x 50 samples = 300 rows; x 12 = 72
    e2e.config(**HISTORY)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "too many samples requested" in output and "12 samples" in output
    rows = e2e.rows()
    assert rows["r1"]["val_loss (min)"] == 0.5 and rows["r1"]["val_acc (max)"] == 0.8
    assert rows["r2"]["val_loss (min)"] == 0.01 and len(rows["r2"]["val_loss (curve)"]) == 12
    assert e2e.wandb.world.operations().count("Runs") == 2
