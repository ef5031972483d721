"""What the tool assumes of real W&B, checked against it (run by tests/live/test_live.py with real keys).

    python -m tests.live.wandb_probe ENTITY/PROJECT     prints one JSON object of findings

Makes one short run in the project, then edits it the ways people and scripts do (tags and notes as the UI
does, through the public API; summary and config through run.update()), reading the run's updatedAt and
heartbeatAt through the tool's own queries after each edit; checks the Runs query features the tool relies on
(key selection, a `name $in` filter, 1,000 runs a page, +created_at order); deletes the run at the end and
checks that the listing no longer has it; checks that the runs filter on updatedAt/heartbeatAt `$gt` keeps only runs
changed after the time given (issue 24: the listing between scans).
"""

from __future__ import annotations

import json
import sys
import time


def main(path: str) -> dict:
    import wandb

    from wandb_sheet_sync.config import Settings, Target
    from wandb_sheet_sync.sources.wandb_api import LIST_FIELDS, LIST_PAGE, runs_query
    from wandb_sheet_sync.sources.wandb_graphql import GraphQL

    entity, project = path.split("/", 1)
    run = wandb.init(entity=entity, project=project, name="wss-live-probe", config={"lr": 0.1, "depth": 3})
    run.log({"loss": 1.0})
    run_id = run.id
    run.finish()
    api = wandb.Api(overrides={"entity": entity}, timeout=60)
    target = Target(entity, project, "probe")
    gql = GraphQL(api, Settings(wandb_pace_seconds=1.0), target)

    def listed(ids: list[str], fields: str = LIST_FIELDS, **extra) -> dict:
        variables = {"entity": entity, "project": project, "perPage": LIST_PAGE, "order": "+created_at",
                     "filters": json.dumps({"name": {"$in": ids}}), **extra}
        data = gql.execute(runs_query(fields=fields), variables)
        return {e["node"]["name"]: e["node"] for e in data["project"]["runs"]["edges"]}

    found: dict = {"run": run_id, "wandb": wandb.__version__}
    time.sleep(5)
    before = listed([run_id])[run_id]
    found["updatedAt_answered"] = before.get("updatedAt") is not None

    def moved(what: str, change) -> None:
        nonlocal before
        time.sleep(2)  # W&B's stamps have whole seconds
        change(api.run(f"{path}/{run_id}"))
        time.sleep(3)
        after = listed([run_id])[run_id]
        found[f"updatedAt_moves_on_{what}"] = after.get("updatedAt") != before.get("updatedAt")
        found[f"heartbeatAt_moves_on_{what}"] = after.get("heartbeatAt") != before.get("heartbeatAt")
        before = after

    def tags(r):
        r.tags = list(r.tags) + ["wss-probe"]
        r.update()

    def notes(r):
        r.notes = "written by the live probe"
        r.update()

    def summary(r):
        r.summary["probe"] = 42
        r.summary.update()

    def config(r):
        r.config["probe"] = 7
        r.update()

    for name, change in (("tags", tags), ("notes", notes), ("summary", summary), ("config", config)):
        moved(name, change)

    def changed_after(when: str) -> dict:
        """The tool's changed-runs listing (wandb_api.WandbSource._changed), narrowed to the probe's run."""
        stamps = {"$or": [{"updatedAt": {"$gt": when}}, {"heartbeatAt": {"$gt": when}}]}
        return listed([run_id], filters=json.dumps({"$and": [{"name": {"$in": [run_id]}}, stamps]}))

    last = max(before["updatedAt"], before["heartbeatAt"])
    found["stamp_filter_keeps_a_run_changed_after"] = run_id in changed_after("2000-01-01T00:00:00Z")
    found["stamp_filter_drops_a_run_not_changed_after"] = run_id not in changed_after(last + "Z")
    time.sleep(2)
    tags(api.run(f"{path}/{run_id}"))
    time.sleep(3)
    found["stamp_filter_keeps_a_run_just_edited"] = run_id in changed_after(last + "Z")
    full = gql.execute(runs_query(["lr"], ["loss"], system_metrics=False),
                       {"entity": entity, "project": project, "perPage": 10, "order": "+created_at",
                        "filters": json.dumps({"name": {"$in": [run_id]}}), "configKeys": ["lr"],
                        "summaryKeys": ["loss"]})
    node = full["project"]["runs"]["edges"][0]["node"]
    found["config_keys_selected"] = sorted(json.loads(node["config"])) == ["lr"]
    found["summary_keys_selected"] = sorted(json.loads(node["summaryMetrics"])) == ["loss"]
    globbed = gql.execute(runs_query(["l*"], ["lo*"], system_metrics=False),
                          {"entity": entity, "project": project, "perPage": 10, "order": "+created_at",
                           "filters": json.dumps({"name": {"$in": [run_id]}}), "configKeys": ["l*"],
                           "summaryKeys": ["lo*"]})
    node = globbed["project"]["runs"]["edges"][0]["node"]
    found["keys_are_exact_not_globs"] = not json.loads(node["config"]) and not json.loads(node["summaryMetrics"])
    page = gql.execute(runs_query(fields="name"), {"entity": entity, "project": project, "perPage": LIST_PAGE,
                                                   "order": "+created_at", "filters": "{}"})
    found["page_of_1000_answered"] = len(page["project"]["runs"]["edges"]) >= 1
    api.run(f"{path}/{run_id}").delete()
    time.sleep(5)
    found["deleted_run_gone_from_listing"] = run_id not in listed([run_id])
    found["requests"] = gql.requests
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
