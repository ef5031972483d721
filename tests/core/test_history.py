"""History as cells (pure): the best value a run logged, its step, the text curve, and the W&B selection."""

from __future__ import annotations

import json
import math

import pytest

from wandb_sheet_sync.columns import HeaderRules, RunView, choose_headers
from wandb_sheet_sync.history import Wanted, cells, headers
from wandb_sheet_sync.run import Run
from wandb_sheet_sync.sources.history import STEPS, Sampling, points, selection, specs
from wandb_sheet_sync.sparkline import BLOCKS, WIDTH, sparkline

LOSS = [(0, 2.0), (1, 0.5), (2, 0.9), (3, 1.2)]  # the best (0.5 at step 1) is not the last value (1.2)


def test_best_value_is_the_minimum_not_the_last_value():
    got = cells({"val_loss": LOSS}, {"val_loss": 1.2}, Wanted({"val_loss": "min"}, steps=True))
    assert got == {"val_loss (min)": 0.5, "val_loss (min) step": 1}


def test_best_value_is_the_maximum_for_max_and_ties_go_to_the_earliest_step():
    acc = [(0, 0.1), (5, 0.8), (9, 0.8), (12, 0.7)]
    got = cells({"val_acc": acc}, {}, Wanted({"val_acc": "max"}, steps=True))
    assert got == {"val_acc (max)": 0.8, "val_acc (max) step": 5}


def test_runs_own_summary_min_wins_when_sampling_missed_the_extreme():
    # define_metric("val_loss", summary="min") writes {"val_loss": {"min": ...}}: exact over every logged value
    got = cells({"val_loss": LOSS}, {"val_loss": {"min": 0.25}}, Wanted({"val_loss": "min"}, steps=True))
    assert got == {"val_loss (min)": 0.25, "val_loss (min) step": None}  # no sampled point carries it


def test_summary_min_alone_gives_the_value_and_leaves_the_step_cell_alone():
    got = cells({}, {"val_loss": {"min": 0.25}}, Wanted({"val_loss": "min"}, steps=True))
    assert got == {"val_loss (min)": 0.25}


def test_nan_text_and_booleans_in_history_are_ignored():
    got = cells({"m": [(0, math.nan), (1, "x"), (2, True), (3, 4.0), (4, math.inf)]}, {}, Wanted({"m": "max"}))
    assert got == {"m (max)": 4.0}


def test_a_run_without_the_metric_gets_no_cell():
    assert cells({"val_loss": []}, {}, Wanted({"val_loss": "min"}, curves=("val_loss",))) == {}


def test_headers_in_order_best_step_then_curves():
    wanted = Wanted({"val_loss": "min", "val_acc": "max"}, steps=True, curves=("val_loss",))
    assert headers(wanted) == ("val_loss (min)", "val_loss (min) step", "val_acc (max)", "val_acc (max) step",
                               "val_loss (curve)")


def test_sparkline_is_one_block_per_point_up_to_its_width():
    assert sparkline([3, 1, 2]) == "█▁▅"
    assert sparkline([]) == "" and sparkline([math.nan]) == ""
    assert sparkline([5, 5, 5]) == BLOCKS[3] * 3


def test_sparkline_buckets_a_long_series_by_count_and_draws_means():
    line = sparkline([float(i) for i in range(1000)])
    assert len(line) == WIDTH and line[0] == "▁" and line[-1] == "█"
    assert list(line) == sorted(line)  # a rising series rises
    spike = [1.0] * 480 + [100.0] * 40 + [1.0] * 440  # 960 points: 40 a bucket, the spike one of them
    assert sparkline(spike) == "▁" * 12 + "█" + "▁" * 11


def test_history_cells_are_values_of_the_run_view_and_columns_even_without_dynamic_headers():
    run = Run(id="a", summary={"val_loss": 1.2}, history={"val_loss (min)": 0.5})
    view = RunView(run)
    assert view.get("val_loss (min)") == 0.5 and view.get("val_loss") == 1.2
    rules = HeaderRules(fixed=("run_id",), derived=("val_loss (min)", "val_loss (curve)"), dynamic=False,
                        max_columns=2)
    choice = choose_headers([], [view], rules)
    assert choice.headers == ["run_id", "val_loss (min)", "val_loss (curve)"] and choice.dropped == []
    after_existing = choose_headers(["run_id", "notes"], [view], HeaderRules(derived=("val_loss (min)",)))
    assert after_existing.headers[0] == "val_loss (min)"  # new columns go at the right of what is there


# ---- the W&B side: what is asked for and how the answer is read ------------------------------------------

def test_one_spec_per_metric_with_step_and_samples():
    assert [json.loads(s) for s in specs(("val_loss", "acc"), 50)] == [
        {"keys": ["_step", "val_loss"], "samples": 50}, {"keys": ["_step", "acc"], "samples": 50}]
    text = selection(("val_loss",), 50)
    assert text == 'sampledHistory(specs: ["{\\"keys\\": [\\"_step\\", \\"val_loss\\"], \\"samples\\": 50}"])'
    assert selection((), 50) == "" and selection(("x",), 0) == ""


def test_points_read_one_list_per_spec_in_the_order_asked():
    node = {"sampledHistory": [[{"_step": 0, "val_loss": 2.0}, {"_step": 7, "val_loss": 0.5}],
                               [{"_step": 1, "val": {"acc": 0.3}}]]}
    assert points(node, ("val_loss", "val.acc")) == {"val_loss": [(0, 2.0), (7, 0.5)], "val.acc": [(1, 0.3)]}
    as_text = {"sampledHistory": [json.dumps([{"_step": 3, "m": 1}])]}
    assert points(as_text, ("m",)) == {"m": [(3, 1)]}
    assert points({}, ("m",)) == {}


def test_sampling_steps_down_then_skips_and_never_on_auth_or_rate_limits(caplog):
    sampling = Sampling(Wanted({"val_loss": "min"}))
    assert sampling.samples == STEPS[0]
    assert not sampling.refused(401, "bad key") and not sampling.refused(429, "slow down")
    assert sampling.refused(400, "Cannot query field sampledHistory") and sampling.samples == STEPS[1]
    assert sampling.refused(None, "too many samples") and sampling.samples == 0 and sampling.selection() == ""
    assert not sampling.refused(500, "down")  # without history a failure is the page's own
    assert "Cannot query field sampledHistory" in caplog.text and "not updated this sync" in caplog.text
    assert Sampling(Wanted({})).selection() == ""


@pytest.mark.parametrize("value", [{"val_loss": "mean"}, {"": "min"}, ["val_loss"]])
def test_wanted_goals_are_checked_by_config(value, tmp_path):
    from tests.core.test_config import SHEET, key_file, problems, write

    found = problems(write(tmp_path, SHEET | {"HISTORY": value, "HISTORY_STEPS": "yes", "CURVES": ["a", "a"],
                                              "GCP_JSON": str(key_file(tmp_path))}))
    assert any('HISTORY must be a map of a logged metric' in p and '"min" or "max"' in p for p in found)
    assert any("HISTORY_STEPS must be true or false" in p for p in found)
    assert any("CURVES must be a list of logged metrics, each once" in p for p in found)
