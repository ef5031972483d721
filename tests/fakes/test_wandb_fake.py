"""The fake W&B server answers the real wandb.Api 0.31: paging, lazy loading, filters, order and errors."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.fakes.offline_runs import RunningRun, RunSpec, make_runs
from tests.fakes.wandb_api import DEFAULT_KEY, FakeClock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(wandb_fake):
    import wandb

    return wandb.Api(overrides={"entity": "alice"}, timeout=10)


def test_runs_come_in_pages_with_full_fragments(wandb_fake, api):
    wandb_fake.world.generate(120)
    wandb_fake.world.clear_log()
    runs = list(api.runs("alice/proj", per_page=50, lazy=False, order="+created_at"))
    assert len(runs) == 120
    assert [r.id for r in runs] == [f"r00{i:06d}" for i in range(120)]
    assert wandb_fake.world.operations() == ["Runs", "Runs", "Runs"]  # 50 + 50 + 20, no per-run requests
    first = runs[0]
    assert first.config["batch_size"] in (16, 32, 64, 128) and isinstance(first.config["model"], dict)
    assert first.summary["samples"]["_type"] == "image-file"
    assert first.user.username == "alice" and first.created_at == "2026-01-01T00:00:00"


def test_api_without_an_entity_asks_for_the_default_one(wandb_fake):
    import wandb

    wandb_fake.world.default_entity = "my-lab"
    api = wandb.Api(timeout=10)
    assert api.default_entity == "my-lab"
    assert "Viewer" in wandb_fake.world.operations()


def test_lazy_runs_fetch_config_with_one_request_per_run(wandb_fake, api):
    wandb_fake.world.generate(3)
    wandb_fake.world.clear_log()
    runs = list(api.runs("alice/proj", per_page=50))
    assert wandb_fake.world.operations() == ["Runs"]
    assert all(isinstance(r.config["lr"], float) for r in runs)
    assert wandb_fake.world.operations() == ["Runs", "Run", "Run", "Run"]


def test_filters_and_order_are_applied_on_the_server(wandb_fake, api):
    wandb_fake.world.generate(40, users=("alice", "bob"))
    newest_first = list(api.runs("alice/proj", per_page=7, lazy=False, order="-heartbeat_at",
                                 filters={"$and": [{"username": "bob"}, {"state": {"$in": ["finished", "failed"]}},
                                                   {"createdAt": {"$gt": "2026-01-01T01:00:00"}}]}))
    assert newest_first and all(r.user.username == "bob" for r in newest_first)
    assert all(r.state in ("finished", "failed") and r.created_at > "2026-01-01T01:00:00" for r in newest_first)
    beats = [r.heartbeat_at for r in newest_first]
    assert beats == sorted(beats, reverse=True)


def test_nan_and_infinity_survive_in_summaries(wandb_fake, api):
    wandb_fake.world.add_run(name="n1", summary={"loss": math.nan, "best": math.inf, "nested": {"a": 1}})
    (run,) = api.runs("alice/proj", lazy=False)
    assert math.isnan(run.summary["loss"]) and run.summary["best"] == math.inf
    assert run.summary["nested"]["a"] == 1


def test_unknown_project_bad_key_and_graphql_errors(wandb_fake, api):
    with pytest.raises(ValueError, match="Could not find project"):
        list(api.runs("alice/nope"))
    r = requests.post(wandb_fake.url + "/graphql", json={"query": "query Viewer { viewer { id } }"},
                      auth=("api", "x" * 40), timeout=5)
    assert r.status_code == 401
    wandb_fake.world.add_run(name="a")
    wandb_fake.world.arm("status", status=200, body_contains="query Runs")
    with pytest.raises(Exception, match="internal server error"):
        list(api.runs("alice/proj", lazy=False))


def test_rate_limit_with_retry_after_then_success(wandb_fake, api):
    wandb_fake.world.add_run(name="a")
    wandb_fake.world.arm("status", status=429, retry_after=1, body_contains="query Runs")
    assert [r.id for r in api.runs("alice/proj", lazy=False)] == ["a"]
    assert [r.status for r in wandb_fake.world.log][-2:] == [429, 200]  # wandb-core retried by itself


def test_run_without_user_breaks_wandb_iteration_silently(wandb_fake, api):
    """A quirk the source must work around: wandb 0.31 swallows the TypeError and returns nothing."""
    wandb_fake.world.add_run(name="ok")
    wandb_fake.world.add_run(name="orphan", username=None, created_at=dt.datetime(2026, 2, 1))
    assert list(api.runs("alice/proj", lazy=False)) == []


def test_runs_standalone_with_generated_runs():
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.wandb_api", "--port", "0", "--runs", "5"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        body = {"query": "query Runs { project { runs { edges { node { name } } } } }",
                "variables": {"entity": "alice", "project": "proj", "perPage": 50}}
        r = requests.post(url + "/graphql", json=body, auth=("api", DEFAULT_KEY), timeout=5)
        assert [e["node"]["name"] for e in r.json()["data"]["project"]["runs"]["edges"]] == \
            [f"r00{i:06d}" for i in range(5)]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# ---- real offline runs ---------------------------------------------------------------------------

@pytest.mark.slow
def test_offline_runs_are_written_by_wandb_itself(tmp_path):
    finished, failed = make_runs(tmp_path, [
        RunSpec(name="good", config={"lr": 0.1}, log=[{"loss": 1.0}, {"loss": 0.5}]),
        RunSpec(name="bad", config={"lr": 1.0}, log=[{"loss": math.nan}], exit_code=2)])
    (killed,) = make_runs(tmp_path, [RunSpec(name="killed", log=[{"loss": 3.0}], mode="kill")])
    for folder in (finished, failed, killed):
        assert folder.name.startswith("offline-run-") and folder.parent.name == "wandb"
        (record_file,) = folder.glob("run-*.wandb")
        assert record_file.stat().st_size > 0
    running = RunningRun(tmp_path, RunSpec(name="live", log=[{"loss": 9.0}]))
    try:
        assert running.proc.poll() is None and any(running.dir.glob("run-*.wandb"))
    finally:
        running.stop()


# ---- sampledHistory, as wandb's own client asks for it and reads it -----------------------------------------

LOGGED = [{"val_loss": 2.0 - i / 10, "acc": i / 10} if i % 3 else {"acc": i / 10} for i in range(30)]


def test_sampled_history_answers_wandbs_own_run_history_call(wandb_fake, api):
    wandb_fake.world.add_run(name="h1", summary={"_step": 29}, history=LOGGED)
    run = api.run("alice/proj/h1")
    rows = run.history(keys=["val_loss"], samples=500, pandas=False)  # Run._sampled_history: sampledHistory[0]
    assert rows == [{"_step": i, "val_loss": 2.0 - i / 10} for i in range(30) if i % 3]  # rows with ALL the keys
    assert wandb_fake.world.operations()[-1] == "RunSampledHistory"
    few = run.history(keys=["acc"], samples=4, pandas=False)
    assert [r["_step"] for r in few] == [0, 10, 19, 29]  # evenly spread, the first and the last always in


def test_sampled_history_in_a_runs_page_one_list_per_spec_from_literal_specs(wandb_fake):
    wandb_fake.world.add_run(name="h1", history=LOGGED)
    wandb_fake.world.add_run(name="h2")
    specs = [json.dumps({"keys": ["_step", "val_loss"], "samples": 3}), json.dumps({"keys": ["_step", "nope"]})]
    query = ("query Runs($project: String!, $entity: String!) { project(name: $project, entityName: $entity) "
             "{ runs { edges { node { name sampledHistory(specs: [%s]) } } } } }" % ", ".join(map(json.dumps, specs)))
    r = requests.post(wandb_fake.url + "/graphql", auth=("api", DEFAULT_KEY), timeout=5,
                      json={"query": query, "variables": {"entity": "alice", "project": "proj"}})
    nodes = [e["node"] for e in r.json()["data"]["project"]["runs"]["edges"]]
    assert nodes[0]["sampledHistory"] == [[{"_step": 1, "val_loss": 1.9}, {"_step": 16, "val_loss": 2.0 - 1.6},
                                           {"_step": 29, "val_loss": 2.0 - 2.9}], []]
    assert nodes[1]["sampledHistory"] == [[], []]


def test_sampled_history_refusals_are_graphql_errors_wandb_raises(wandb_fake, api):
    wandb_fake.world.add_run(name="h1", history=LOGGED)
    run = api.run("alice/proj/h1")
    wandb_fake.world.history_row_limit = 100
    with pytest.raises(Exception, match="too many samples requested"):
        run.history(keys=["val_loss"], samples=500, pandas=False)
    assert len(run.history(keys=["val_loss"], samples=100, pandas=False)) == 20
    wandb_fake.world.history_refused = (400, 'Cannot query field "sampledHistory" on type "Run".')
    with pytest.raises(Exception, match="Cannot query field"):
        run.history(keys=["val_loss"], pandas=False)


# ---- sweeps ----------------------------------------------------------------------------------------

SWEEP_CONFIG = {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
                "parameters": {"lr": {"values": [0.1, 0.01]}, "seed": {"values": [1, 2]}}}


def _sweep_with_runs(world) -> None:
    world.add_sweep(name="sw1", config=SWEEP_CONFIG, display_name="lr x seed", state="FINISHED")
    losses = {(0.1, 1): 0.40, (0.1, 2): 0.35, (0.01, 1): 0.22, (0.01, 2): 0.31}
    for i, ((lr, seed), loss) in enumerate(losses.items()):
        world.add_run(name=f"s{i}", sweep="sw1", config={"lr": lr, "seed": seed}, summary={"val_loss": loss},
                      created_at=dt.datetime(2026, 1, 1, i))
    world.add_run(name="other", summary={"val_loss": 0.01})  # not in the sweep


def test_sweep_answers_in_the_shape_of_wandbs_generated_models(wandb_fake):
    """What the tool's source sends (wandb's own GetSweep text) is answered as wandb's pydantic model reads it."""
    from wandb.apis._generated import GET_SWEEP_GQL, GetSweep

    from wandb_sheet_sync.sources.sweeps import SWEEP_QUERY

    assert " ".join(SWEEP_QUERY.split()) == " ".join(GET_SWEEP_GQL.split())  # the same query as wandb's client
    _sweep_with_runs(wandb_fake.world)
    r = requests.post(wandb_fake.url + "/graphql", auth=("api", DEFAULT_KEY), timeout=5, json={
        "query": GET_SWEEP_GQL, "variables": {"entity": "alice", "project": "proj", "name": "sw1"}})
    sweep = GetSweep.model_validate(r.json()["data"]).project.sweep
    assert (sweep.name, sweep.display_name, sweep.method, sweep.state) == ("sw1", "lr x seed", "grid", "FINISHED")
    assert sweep.run_count == 4 and sweep.run_count_expected == 4 and sweep.best_loss == 0.22
    import yaml

    assert yaml.safe_load(sweep.config) == SWEEP_CONFIG  # YAML text, as W&B stores a sweep's config
    r = requests.post(wandb_fake.url + "/graphql", auth=("api", DEFAULT_KEY), timeout=5, json={
        "query": GET_SWEEP_GQL, "variables": {"entity": "alice", "project": "proj", "name": "nope"}})
    assert GetSweep.model_validate(r.json()["data"]).project.sweep is None


def test_wandbs_own_sweep_client_reads_the_fake_and_finds_the_best_run(wandb_fake, api):
    _sweep_with_runs(wandb_fake.world)
    sweep = api.sweep("alice/proj/sw1")
    assert sweep.config["metric"] == {"name": "val_loss", "goal": "minimize"} and sweep.state == "FINISHED"
    assert sweep.best_run().id == "s2"  # W&B orders the sweep's runs by the metric on the server
    wandb_fake.world.sweeps[("alice", "proj")][0].config["metric"]["goal"] = "maximize"
    import wandb

    fresh = wandb.Api(overrides={"entity": "alice"}, timeout=10)  # an Api caches the sweeps it has read
    assert fresh.sweep("alice/proj/sw1").best_run().id == "s0"


# ---- W&B's edges -----------------------------------------------------------------------------------------------

def _graphql(wandb_fake, query: str, **variables) -> requests.Response:
    return requests.post(wandb_fake.url + "/graphql", json={"query": query, "variables": {
        "entity": "alice", "project": "proj", **variables}}, auth=("api", DEFAULT_KEY), timeout=10)


def edges(response: requests.Response) -> list[dict]:
    return response.json()["data"]["project"]["runs"]["edges"]


RUNS = ("query Runs($entity: String!, $project: String!, $cursor: String, $perPage: Int, $order: String, "
        "$k: [String!]) { project(name: $project, entityName: $entity) { runs(after: $cursor, first: $perPage, "
        "order: $order) { edges { node { name updatedAt heartbeatAt summaryMetrics(keys: $k) } cursor } "
        "pageInfo { endCursor hasNextPage } } } }")


def test_updated_at_moves_with_every_change_or_only_with_the_heartbeat(wandb_fake):
    world = wandb_fake.world
    world.generate(2)
    world.clock = lambda: dt.datetime(2026, 5, 1)
    world.edit("r00000000", tags=["x"])
    world.find("alice", "proj", "r00000001").summary["loss"] = 3.0  # a change made any way is noticed
    nodes = {e["node"]["name"]: e["node"] for e in edges(_graphql(wandb_fake, RUNS))}
    assert nodes["r00000000"]["updatedAt"] == nodes["r00000001"]["updatedAt"] == "2026-05-01T00:00:00"
    assert nodes["r00000000"]["heartbeatAt"] == "2026-01-01T00:10:00"
    world.updated_moves = False
    world.clock = lambda: dt.datetime(2026, 6, 1)
    world.edit("r00000000", notes="no stamp moves")
    world.heartbeat(["r00000001"])
    nodes = {e["node"]["name"]: e["node"] for e in edges(_graphql(wandb_fake, RUNS))}
    assert nodes["r00000000"]["updatedAt"] == "2026-05-01T00:00:00"
    assert nodes["r00000001"]["updatedAt"] == nodes["r00000001"]["heartbeatAt"] == "2026-06-01T00:00:00"


def test_cursor_is_an_offset_so_a_deletion_mid_read_skips_a_run(wandb_fake):
    world = wandb_fake.world
    world.generate(6)
    first = _graphql(wandb_fake, RUNS, perPage=3).json()["data"]["project"]["runs"]
    world.delete("r00000000")
    second = _graphql(wandb_fake, RUNS, perPage=3, cursor=first["pageInfo"]["endCursor"]).json()
    names = [e["node"]["name"] for e in first["edges"] + second["data"]["project"]["runs"]["edges"]]
    assert "r00000003" not in names and len(names) == 5  # skipped, as an offset into the new order does


def test_after_page_changes_runs_between_pages_and_keys_are_selected(wandb_fake):
    world = wandb_fake.world
    world.generate(4)
    world.after_page(1, lambda w: w.delete("r00000003"))
    page = _graphql(wandb_fake, RUNS, perPage=2, k=["loss"]).json()["data"]["project"]["runs"]
    assert [json.loads(e["node"]["summaryMetrics"]) for e in page["edges"]][0].keys() == {"loss"}
    assert len(world.project("alice", "proj")) == 3


def test_keys_are_exact_top_level_names_not_globs(wandb_fake):
    """W&B's `keys:` takes key names: a glob selects nothing, and a nested value comes whole by its top-level key
    (an assumption tests/live checks), which is why the tool learns which keys pass DYNAMIC_HEADERS' globs."""
    wandb_fake.world.add_run(name="r1", summary={"val/loss": 1.0, "val/acc": 0.5, "model": {"layers": 2}})
    page = _graphql(wandb_fake, RUNS, k=["val/*", "model.layers", "val/acc", "model"]).json()
    assert json.loads(page["data"]["project"]["runs"]["edges"][0]["node"]["summaryMetrics"]) == \
        {"val/acc": 0.5, "model": {"layers": 2}}


def test_rate_limit_refuses_until_the_reset_with_ratelimit_headers(wandb_fake):
    wandb_fake.world.generate(1)
    wandb_fake.world.rate_limit(reset=30, retry_after=True)
    refused = _graphql(wandb_fake, RUNS)
    assert refused.status_code == 429 and refused.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["RateLimit-Reset"]) <= 30 and refused.headers["Retry-After"]
    viewer = requests.post(wandb_fake.url + "/graphql", json={"query": "query Viewer { viewer { id } }"},
                           auth=("api", DEFAULT_KEY), timeout=5)
    assert viewer.status_code == 200  # only the matching requests are limited
    wandb_fake.world.rate_limit(reset=0)
    assert _graphql(wandb_fake, RUNS).status_code == 200


def test_a_change_is_stamped_by_the_servers_clock_and_only_changed_runs_are_looked_at(wandb_fake):
    world = wandb_fake.world
    world.generate(3000)
    world.clock = FakeClock(dt.datetime(2030, 1, 1), step=dt.timedelta(seconds=1))
    run = world.find("alice", "proj", "r00000007")
    run.summary["loss"] = 0.5  # in place, as tests and a live run's logging do
    run.summary.update(acc=0.9)
    assert list(world._changed.values()) == [run]  # a request now signs one run, not the project's 3,000
    nodes = {e["node"]["name"]: e["node"] for e in edges(_graphql(wandb_fake, RUNS, perPage=3000))}
    assert nodes["r00000007"]["updatedAt"] == "2030-01-01T00:00:00" and world._changed == {}
    assert sum(n["updatedAt"] >= "2030" for n in nodes.values()) == 1
    world.edit("r00000008", notes="later")
    world.heartbeat(["r00000009"])  # the heartbeat reads the clock too: 00:00:01
    _graphql(wandb_fake, RUNS)
    beat = world.find("alice", "proj", "r00000009")
    assert beat.heartbeat_at == dt.datetime(2030, 1, 1, 0, 0, 1)
    assert world.find("alice", "proj", "r00000008").updated_at == beat.updated_at == dt.datetime(2030, 1, 1, 0, 0, 2)


def test_runs_filtered_on_a_moved_stamp_as_w_and_b_takes_it_or_a_server_that_ignores_or_refuses_it(wandb_fake, api):
    """`{"updatedAt": {"$gt": ISO}}` / heartbeatAt, ISO with a Z: the filter the tool lists changed runs with."""
    world = wandb_fake.world
    world.generate(5)
    world.clock = lambda: dt.datetime(2026, 5, 1)
    world.edit("r00000001", notes="moved")
    world.heartbeat(["r00000003"])
    since = {"$or": [{"updatedAt": {"$gt": "2026-04-01T00:00:00Z"}}, {"heartbeatAt": {"$gt": "2026-04-01T00:00:00Z"}}]}
    assert [r.id for r in api.runs("alice/proj", filters=since, lazy=False)] == ["r00000001", "r00000003"]
    world.stamp_filters = "ignore"
    api.flush()  # wandb caches the answer of the same query
    assert len(list(api.runs("alice/proj", filters=since, lazy=False))) == 5
    assert len(list(api.runs("alice/proj", filters={"$and": [{"username": "alice"}, since]}, lazy=False))) == 3
    world.stamp_filters = "refuse"
    answer = _graphql(wandb_fake, RUNS.replace("runs(after", "runs(filters: $filters, after").replace(
        "$k: [String!]", "$k: [String!], $filters: JSONString"), filters=json.dumps(since)).json()
    assert answer["data"] is None and "updatedAt" in answer["errors"][0]["message"]
