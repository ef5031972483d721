"""The summary tabs' rows from run facts: the best run of a sweep, group statistics, what an unknown sweep says."""

from __future__ import annotations

import datetime as dt
import statistics

from wandb_sheet_sync.run import Run, Sweep
from wandb_sheet_sync.summaries import facts_of, groups_tab, sweeps_tab

UTC = dt.timezone.utc
MIN_CONFIG = {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
              "parameters": {"lr": {"values": [0.1, 0.01]}, "seed": {"values": [1, 2]}}}
MAX_CONFIG = {"method": "random", "metric": {"name": "val/acc", "goal": "maximize"},
              "parameters": {"optim": {"parameters": {"name": {"values": ["adam", "sgd"]}}}}}


def facts(runs, sweeps=(), metrics=("val_loss",)):
    known = {s.id: s for s in sweeps}
    return {r.id: facts_of(r, known.get(r.sweep), metrics) for r in runs}


def run(i, **kw):
    return Run(id=f"r{i}", created_at=dt.datetime(2026, 1, 1, i, tzinfo=UTC), url=f"https://w/r{i}", **kw)


def test_best_run_of_a_minimize_and_a_maximize_sweep_with_its_parameters():
    runs = [run(0, sweep="mn", state="finished", config={"lr": 0.1, "seed": 1}, summary={"val_loss": 0.4}),
            run(1, sweep="mn", state="failed", config={"lr": 0.01, "seed": 2}, summary={"val_loss": 0.2}),
            run(2, sweep="mn", state="running", config={"lr": 0.01, "seed": 1}, summary={"val_loss": 0.3}),
            run(3, sweep="mx", state="finished", config={"optim": {"name": "adam"}}, summary={"val": {"acc": 0.7}}),
            run(4, sweep="mx", state="crashed", config={"optim": {"name": "sgd"}}, summary={"val": {"acc": 0.9}}),
            run(5, sweep="mx", state="finished", config={"optim": {"name": "sgd"}}, summary={"val": {"acc": 0.9}})]
    sweeps = [Sweep("mn", "min sweep", "grid", "FINISHED", MIN_CONFIG, "https://w/sweeps/mn"),
              Sweep("mx", "", "random", "RUNNING", MAX_CONFIG, "https://w/sweeps/mx")]
    tab = sweeps_tab(facts(runs, sweeps), {s.id: s for s in sweeps}, UTC)
    mn, mx = tab.rows
    assert (mn["best_run"], mn["best_value"], mn["lr"], mn["seed"]) == ("r1", 0.2, 0.01, 2)
    assert (mn["metric"], mn["goal"], mn["method"], mn["state"]) == ("val_loss", "minimize", "grid", "FINISHED")
    assert (mn["runs"], mn["finished"], mn["failed"], mn["running"]) == (3, 1, 1, 1)
    # the oldest of two equal best values wins; a nested parameter is its dotted path
    assert (mx["best_run"], mx["best_value"], mx["optim.name"], mx["sweep_name"]) == ("r4", 0.9, "sgd", "mx")
    assert (mx["failed"], mx["goal"]) == (1, "maximize")
    assert tab.headers[:2] == ["sweep_id", "sweep_name"] and tab.headers[-3:] == ["lr", "seed", "optim.name"]
    assert tab.links == {"mn": "https://w/sweeps/mn", "mx": "https://w/sweeps/mx", "r1": "https://w/r1",
                         "r4": "https://w/r4"}
    assert tab.highlight == {}  # one sweep minimises, the other maximises: no one best sweep


def test_a_sweep_whose_config_is_unknown_says_so_and_has_no_best_run():
    runs = [run(0, sweep="off", state="finished", summary={"val_loss": 0.1})]
    tab = sweeps_tab(facts(runs), {"off": Sweep("off", problem="no sweep config in the run folders")}, UTC)
    (row,) = tab.rows
    assert row["note"] == "no sweep config in the run folders" and "note" in tab.headers
    assert row["best_run"] is None and row["metric"] is None and row["runs"] == 1


def test_group_mean_sample_std_min_max_over_finished_runs_only():
    losses = [0.30, 0.25, 0.41]
    runs = [run(i, group="g", state="finished", summary={"val_loss": v}) for i, v in enumerate(losses)]
    runs += [run(7, group="g", state="failed", summary={"val_loss": 99.0}),
             run(8, group="g", state="finished", summary={"val_loss": float("nan")}),
             run(9, group="solo", state="finished", summary={"val_loss": 0.5}), run(10, state="finished")]
    tab = groups_tab(facts(runs), ["val_loss"], {"val_loss": "min"}, UTC)
    g, solo = tab.rows
    assert (g["group"], g["runs"], g["finished"]) == ("g", 5, 4)
    assert g["val_loss mean"] == float(f"{statistics.fmean(losses):.15g}")
    assert g["val_loss std"] == float(f"{statistics.stdev(losses):.15g}")  # sample (n - 1)
    assert abs(g["val_loss std"] - 0.0818535) < 1e-6  # sqrt(0.0134 / 2); the population std would be 0.0668
    assert (g["val_loss min"], g["val_loss max"]) == (0.25, 0.41)
    assert solo["val_loss std"] is None and solo["val_loss mean"] == 0.5  # one run: no spread
    assert tab.highlight == {"val_loss mean": "min"}
    assert tab.headers == ["group", "runs", "finished", "val_loss mean", "val_loss std", "val_loss min",
                           "val_loss max"]
