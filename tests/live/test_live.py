"""Opt-in, for maintainers: a real W&B project into a real Google Sheet. Skipped unless configured:

    WSS_LIVE_WANDB_PROJECT=entity/project WSS_LIVE_SPREADSHEET=<url> GCP_JSON=<key file> WANDB_API_KEY=<key> \\
        .venv/bin/python -m pytest tests/live -m live

What the fake assumes about Google's sign-in side, checked against the real one (each skipped unless set):
    WSS_LIVE_ADC_DEFAULT_SCOPES=<file written by a plain `gcloud auth application-default login`, no --scopes>
    WSS_LIVE_IMPERSONATE=<service account e-mail the ADC identity may impersonate; the sheet shared with it>
The W&B probe (does updatedAt move on tag, notes, summary and config edits; key selection, `name $in`, 1,000 runs
a page, deletions) needs only WSS_LIVE_WANDB_PROJECT (a project you may write one short run to) and WANDB_API_KEY.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import ORIGINAL_ENV

if TYPE_CHECKING:
    import requests

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
@pytest.mark.skipif(not (ORIGINAL_ENV.get("WSS_LIVE_WANDB_PROJECT") and ORIGINAL_ENV.get("WANDB_API_KEY")
                         and ORIGINAL_ENV.get("WSS_LIVE_HISTORY_METRIC")),
                    reason="live test: set WSS_LIVE_WANDB_PROJECT, WANDB_API_KEY and WSS_LIVE_HISTORY_METRIC (a metric "
                           "the project's runs log, e.g. loss)")
def test_real_wandb_answers_sampled_history_in_the_runs_page_as_the_fake_does(tmp_path, monkeypatch, caplog):
    """What the fake assumes of W&B's sampledHistory, for a maintainer with keys to confirm: the field is accepted
    inside the Runs page with the specs written as literals, one list per spec comes back, rows hold `_step` and the
    metric, the samples include the first and last logged steps, and a sampled best is never better than the exact
    best (scan_history reads every row)."""
    import wandb

    from wandb_sheet_sync import config as config_module
    from wandb_sheet_sync.cli import build_parser
    from wandb_sheet_sync.sources.wandb_api import WandbSource

    for key in ("WANDB_API_KEY", "WANDB_BASE_URL"):
        if ORIGINAL_ENV.get(key):
            monkeypatch.setenv(key, ORIGINAL_ENV[key])
    entity, project = ORIGINAL_ENV["WSS_LIVE_WANDB_PROJECT"].split("/", 1)
    metric = ORIGINAL_ENV["WSS_LIVE_HISTORY_METRIC"]
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"WANDB_ENTITY": entity, "WANDB_PROJECT": project, "PER_PAGE": 20,
                               "HISTORY": {metric: "min"}, "HISTORY_STEPS": True, "CURVES": [metric]}))
    settings = config_module.load(build_parser().parse_args(["--once", "--config_path", str(cfg), "--output",
                                                             str(tmp_path / "x.csv")]), ORIGINAL_ENV)
    runs = WandbSource(settings).fetch(settings.targets[0]).runs
    assert "refused sampled history" not in caplog.text, caplog.text
    with_best = [r for r in runs if f"{metric} (min)" in r.history][:3]
    assert with_best, f"no run of {entity}/{project} logged {metric!r}"
    api = wandb.Api(timeout=60)
    for run in with_best:
        exact = [row for row in api.run(f"{entity}/{project}/{run.id}").scan_history(keys=["_step", metric])
                 if isinstance(row.get(metric), (int, float))]
        assert run.history[f"{metric} (min)"] >= min(row[metric] for row in exact)
        sampled = api.run(f"{entity}/{project}/{run.id}").history(keys=[metric], samples=50, pandas=False)
        steps = [row["_step"] for row in sampled]
        assert steps == sorted(steps) and steps[0] == exact[0]["_step"] and steps[-1] == exact[-1]["_step"]
        if len(exact) <= 50:  # every row fits in the samples: the best is exact
            assert run.history[f"{metric} (min)"] == min(row[metric] for row in exact)


ADC_PLAIN = "WSS_LIVE_ADC_DEFAULT_SCOPES"


def _refresh(info: dict, **extra) -> "requests.Response":
    import requests

    return requests.post("https://oauth2.googleapis.com/token", timeout=30, data={
        "grant_type": "refresh_token", "refresh_token": info["refresh_token"], "client_id": info["client_id"],
        "client_secret": info["client_secret"], **extra})


@pytest.mark.live
@pytest.mark.skipif(not (ORIGINAL_ENV.get(ADC_PLAIN) and ORIGINAL_ENV.get("WSS_LIVE_SPREADSHEET")),
                    reason=f"live test: set {ADC_PLAIN} and WSS_LIVE_SPREADSHEET")
def test_real_google_answers_a_token_without_sheets_scopes_as_the_fake_does():
    """tests/fakes/google_oauth.py assumes: a refresh naming no scope gets the whole grant; Sheets refuses such a
    token with 403 PERMISSION_DENIED, "Request had insufficient authentication scopes.", and an ErrorInfo of reason
    ACCESS_TOKEN_SCOPE_INSUFFICIENT; a refresh naming scopes beyond the grant gets those it holds (or, if Google
    changed, invalid_scope: the tool handles both); a bad refresh token gets invalid_grant."""
    import requests

    from wandb_sheet_sync.sinks.google_sheets import spreadsheet_key

    info = json.loads(Path(ORIGINAL_ENV[ADC_PLAIN]).read_text())
    plain = _refresh(info)
    assert plain.status_code == 200, plain.text
    key = spreadsheet_key(ORIGINAL_ENV["WSS_LIVE_SPREADSHEET"])
    answer = requests.get(f"https://sheets.googleapis.com/v4/spreadsheets/{key}", timeout=30,
                          headers={"Authorization": "Bearer " + plain.json()["access_token"]})
    error = answer.json()["error"]
    assert answer.status_code == 403 and error["status"] == "PERMISSION_DENIED"
    assert error["message"] == "Request had insufficient authentication scopes."
    assert {"reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com"}.items() <= \
        next(d for d in error["details"] if d["@type"].endswith("ErrorInfo")).items()
    wider = _refresh(info, scope="https://www.googleapis.com/auth/spreadsheets")
    print("refresh naming a scope beyond the grant:", wider.status_code, wider.text[:300])
    assert (wider.status_code == 400 and wider.json()["error"] == "invalid_scope") or wider.status_code == 200
    bad = _refresh(info | {"refresh_token": info["refresh_token"][:-4] + "xxxx"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant", bad.text


@pytest.mark.live
@pytest.mark.skipif(not all(ORIGINAL_ENV.get(k) for k in (ADC_PLAIN, "WSS_LIVE_SPREADSHEET", "WANDB_API_KEY",
                                                          "WSS_LIVE_WANDB_PROJECT")),
                    reason=f"live test: set {ADC_PLAIN}, WSS_LIVE_SPREADSHEET, WSS_LIVE_WANDB_PROJECT, WANDB_API_KEY")
def test_real_adc_without_sheets_scopes_prints_the_gcloud_line(tmp_path):
    from wandb_sheet_sync.sinks.google_auth import GCLOUD_LOGIN

    entity, project = ORIGINAL_ENV["WSS_LIVE_WANDB_PROJECT"].split("/", 1)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"SPREADSHEET": ORIGINAL_ENV["WSS_LIVE_SPREADSHEET"], "WANDB_ENTITY": entity,
                                  "WANDB_PROJECT": project, "WORKSHEET": f"live-scopes-{int(time.time())}"}))
    env = {k: v for k, v in ORIGINAL_ENV.items() if k != "GCP_JSON"} | {
        "GOOGLE_APPLICATION_CREDENTIALS": ORIGINAL_ENV[ADC_PLAIN]}
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--config_path", str(config)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and GCLOUD_LOGIN in result.stderr, result.stderr


@pytest.mark.live
@pytest.mark.skipif(not all(ORIGINAL_ENV.get(k) for k in ("WSS_LIVE_IMPERSONATE", "WSS_LIVE_SPREADSHEET",
                                                          "WANDB_API_KEY", "WSS_LIVE_WANDB_PROJECT")),
                    reason="live test: set WSS_LIVE_IMPERSONATE, WSS_LIVE_SPREADSHEET, WSS_LIVE_WANDB_PROJECT, "
                           "WANDB_API_KEY (and Application Default Credentials that may impersonate it)")
def test_real_impersonation_syncs_without_a_key(tmp_path):
    entity, project = ORIGINAL_ENV["WSS_LIVE_WANDB_PROJECT"].split("/", 1)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"SPREADSHEET": ORIGINAL_ENV["WSS_LIVE_SPREADSHEET"], "WANDB_ENTITY": entity,
                                  "WANDB_PROJECT": project, "WORKSHEET": f"live-impersonate-{int(time.time())}",
                                  "IMPERSONATE_SERVICE_ACCOUNT": ORIGINAL_ENV["WSS_LIVE_IMPERSONATE"]}))
    env = {k: v for k, v in ORIGINAL_ENV.items() if k != "GCP_JSON"}
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--config_path", str(config)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr


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

        from wandb_sheet_sync.sources.sweeps import SWEEP_QUERY, to_sweep
        from wandb_sheet_sync.config import Target

        api = wandb.Api(overrides={"entity": entity})
        data = api._service_api.execute_graphql(SWEEP_QUERY, {"entity": entity, "project": project,
                                                               "name": sweep_id})
        GetSweep.model_validate(data)  # the shape the fake serves
        sweep = to_sweep(data["project"]["sweep"], Target(entity, project, "runs"), "https://wandb.ai")
        assert sweep.config is not None and sweep.state


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
    assert found["stamp_filter_keeps_a_run_changed_after"] and found["stamp_filter_drops_a_run_not_changed_after"] \
        and found["stamp_filter_keeps_a_run_just_edited"], (
        f"W&B does not filter runs on updatedAt/heartbeatAt as the tool assumes ({found}): the tool falls back to "
        "listing every run at every sync (one WARNING says so); README 'Reading W&B incrementally'")
    assert found["keys_are_exact_not_globs"], (
        "real W&B expands globs in config(keys:)/summaryMetrics(keys:): DYNAMIC_HEADERS' globs could be sent as "
        "they are instead of learned by full reads; update sources/wandb_api.py and the README")
    for edit in ("tags", "notes", "summary"):
        assert found[f"updatedAt_moves_on_{edit}"], (
            f"real W&B does not move updatedAt on a {edit} edit: the tool detects this (a partial row that "
            "changes) and falls back to full reads; update the README's assumptions")


@pytest.mark.live
@pytest.mark.skipif(not all(ORIGINAL_ENV.get(k) for k in NEEDED),
                    reason="live test: set " + ", ".join(NEEDED))
def test_real_google_answers_the_reads_by_need_as_the_fake_does(tmp_path):
    """What reading by need (issue 24, sinks/google_read.py) assumes of Google: a range that ends on the grid's last
    row echoes as one cell ('runs!A101') when it is one cell wide and tall, whole-row spans come back in the order
    asked, values:batchGetByDataFilter answers a1Range filters one matched range each, in the order asked, and a
    column read with majorDimension COLUMNS is the rows' first cells as one list."""
    from wandb_sheet_sync.sinks import google_requests as req
    from wandb_sheet_sync.sinks.google_http import URL_RANGES
    from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink

    entity, project = ORIGINAL_ENV["WSS_LIVE_WANDB_PROJECT"].split("/", 1)
    worksheet = f"live-reads-{int(time.time())}"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"SPREADSHEET": ORIGINAL_ENV["WSS_LIVE_SPREADSHEET"], "WORKSHEET": worksheet,
                                  "WANDB_ENTITY": entity, "WANDB_PROJECT": project}))
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--config_path", str(config)]
    assert subprocess.run(cmd, env=ORIGINAL_ENV, capture_output=True, text=True, timeout=600).returncode == 0
    sink = GoogleSheetsSink(ORIGINAL_ENV["WSS_LIVE_SPREADSHEET"], ORIGINAL_ENV["GCP_JSON"])
    sink.open()
    grid = sink.cache.grid(worksheet, f"_sync_base {worksheet}")
    title = req.quote(worksheet)
    echoed = sink.api.values(sink.id, [f"{title}!A{grid.rows}:A"], "live")["valueRanges"][0]["range"]
    assert req.echo_end(echoed, 0, 0)[0] == grid.rows, echoed
    spans = [f"{title}!{r}:{r}" for r in range(grid.rows, 0, -1)]
    direct = sink.api.values(sink.id, spans, "live")["valueRanges"]
    many = spans * (URL_RANGES // sum(len(s) for s in spans) + 2)  # long enough to go by data filter
    by_filter = sink.api.values(sink.id, many, "live")["valueRanges"]
    assert [v.get("values") for v in by_filter[:len(spans)]] == [v.get("values") for v in direct]
    # the places read asks for the id columns a column at a time (majorDimension COLUMNS), by URL and by data filter
    rows = sink.api.values(sink.id, [f"{title}!A:A"], "live")["valueRanges"][0].get("values", [])
    for ranges in ([f"{title}!A:A"], [f"{title}!A:A"] * (URL_RANGES // len(title) + 2)):
        column = sink.api.values(sink.id, ranges, "live", major="COLUMNS")["valueRanges"][0].get("values", [])
        assert column == [[row[0] if row else "" for row in rows]], ranges[:1]
