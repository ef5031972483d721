"""config.load: which value wins, where a key path points, and how problems are reported."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
from pathlib import Path

import pytest

from wandb_sheet_sync import config
from wandb_sheet_sync.cli import build_parser
from wandb_sheet_sync.errors import ConfigError

SHEET = {"SPREADSHEET": "Team runs", "WANDB_ENTITY": "my-lab", "WANDB_PROJECT": "resnet"}


def write(folder: Path, data: dict | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def key_file(folder: Path, name: str = "sa.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("{}")
    return path


def load(path: Path, *flags: str, env: dict[str, str] | None = None) -> config.Settings:
    args = build_parser().parse_args(["--config_path", str(path), *flags])
    return config.load(args, {"WANDB_API_KEY": "k"} | (env or {}))


def problems(path: Path, *flags: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, *flags, env=env)
    return caught.value.problems


def test_flag_overrides_file_and_file_overrides_default(tmp_path):
    key = str(key_file(tmp_path))
    bare = write(tmp_path / "bare", SHEET | {"GCP_JSON": key})
    assert (load(bare).schedule_minutes, load(bare).user_name, load(bare).spreadsheet) == (30, None, "Team runs")
    path = write(tmp_path, SHEET | {"GCP_JSON": key, "SCHEDULE_TIME": 5, "USER_NAME": "alice"})
    assert (load(path).schedule_minutes, load(path).user_name) == (5, "alice")
    flagged = load(path, "--schedule_time", "7", "--user_name", "bob", "--sheet_name", "Other")
    assert (flagged.schedule_minutes, flagged.user_name, flagged.spreadsheet) == (7, "bob", "Other")


def test_a_flag_is_checked_like_its_key(tmp_path):
    path = write(tmp_path, SHEET | {"GCP_JSON": str(key_file(tmp_path))})
    assert problems(path, "--schedule_time", "0") == [
        "--schedule_time: must be a whole number of minutes from 1 to 1,000,000, got 0"]


def test_environment_key_overrides_file_key(tmp_path):
    path = write(tmp_path, SHEET | {"GCP_JSON": str(key_file(tmp_path, "file.json"))})
    from_env = str(key_file(tmp_path, "env.json"))
    assert load(path, env={"GCP_JSON": from_env}).key_file == from_env
    assert load(path, env={"GOOGLE_APPLICATION_CREDENTIALS": from_env}).key_file == from_env


def test_gcp_json_in_the_environment_wins_over_google_application_credentials(tmp_path):
    path = write(tmp_path, SHEET)
    gcp, google = str(key_file(tmp_path, "gcp.json")), str(key_file(tmp_path, "google.json"))
    assert load(path, env={"GCP_JSON": gcp, "GOOGLE_APPLICATION_CREDENTIALS": google}).key_file == gcp
    assert load(path, env={"GCP_JSON": "", "GOOGLE_APPLICATION_CREDENTIALS": google}).key_file == google


def test_environment_endpoint_overrides_file_endpoint(tmp_path):
    path = write(tmp_path, SHEET | {"GCP_JSON": str(key_file(tmp_path)), "GOOGLE_API_ENDPOINT": "https://a.example"})
    assert load(path).google_endpoint == "https://a.example"
    assert load(path, env={"GOOGLE_API_ENDPOINT": "http://127.0.0.1:9"}).google_endpoint == "http://127.0.0.1:9"


def test_relative_key_path_is_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    key = key_file(folder)
    monkeypatch.chdir(tmp_path)  # the key is not in the working folder: only the config file's folder finds it
    assert load(write(folder, SHEET | {"GCP_JSON": "sa.json"})).key_file == str(key)


def test_key_path_from_environment_is_not_rebased(tmp_path, monkeypatch):
    key_file(tmp_path)
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "conf", SHEET)
    assert load(path, env={"GCP_JSON": "sa.json"}).key_file == "sa.json"
    (problem,) = problems(path, env={"GCP_JSON": "conf/sa.json"})
    assert problem.startswith("GCP_JSON: the file 'conf/sa.json' does not exist. Give the path of a credentials file")
    assert problem.endswith("or leave it unset to use `--login` or Application Default Credentials")


def test_every_problem_is_reported_at_once_with_its_line(tmp_path):
    path = write(tmp_path, '{\n  "SPREADSHEET": "x",\n  "MAX_COLUMNS": 0,\n  "TIMEZONE": "Mars/Olympus",\n'
                           '  "TEAM_NAME": "a",\n  "WANDB_ENTITY": "b"\n}\n')
    found = problems(path, "--project", "nope", env={"WANDB_API_KEY": "", "NETRC": str(tmp_path / "no-netrc")})
    assert f"{path}:3:3: MAX_COLUMNS must be a whole number from 1 to 18278, got 0" in found
    assert any(p.startswith(f"{path}:4:3: TIMEZONE must be an IANA time zone") for p in found)
    assert f"{path}:5:3: TEAM_NAME ('a') and WANDB_ENTITY ('b') name the same setting; keep one" in found
    assert "--project: must be ENTITY/PROJECT, e.g. my-lab/resnet, got 'nope'" in found
    assert any(p.startswith("WANDB_API_KEY: no W&B API key") for p in found)
    assert any(p.startswith(f"{path}: no W&B project") for p in found)
    # no Google key is not a problem: the tool then looks for --login's token and Application Default Credentials
    assert not any("GCP_JSON" in p or "Google" in p for p in found)
    assert len(found) == 6


def test_malformed_json_names_its_line_and_column(tmp_path):
    path = write(tmp_path, '{\n  "SPREADSHEET": "x"\n  "WORKSHEET": "runs"\n}\n')
    assert problems(path) == [f"{path}:3:3: not valid JSON: Expecting ',' delimiter. A config file is one JSON object, "
                              'e.g. {"WANDB_PROJECT": "resnet"}']  # alone: no "no project", "no spreadsheet"


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write(tmp_path, SHEET | {"GCP_JSON": str(key_file(tmp_path)), "SCHEDULE_TIM": 5, "timezone": "UTC",
                                    "COLOUR": "red"})
    found = problems(path)
    assert f"{path}:6:3: unknown key 'SCHEDULE_TIM'. Did you mean 'SCHEDULE_TIME'?" in found
    assert f"{path}:7:3: unknown key 'timezone'. Did you mean 'TIMEZONE'?" in found
    colour = [p for p in found if "'COLOUR'" in p]
    assert colour and "Known keys: " in colour[0]
    assert "DELETED_RUNS, DYNAMIC_HEADERS, FIXED_HEADERS, FULL_RESYNC_HOURS," in colour[0]


def test_team_and_project_name_are_aliases_of_the_wandb_keys(tmp_path):
    path = write(tmp_path, {"SPREADSHEET": "s", "GCP_JSON": str(key_file(tmp_path)), "TEAM_NAME": "lab",
                            "PROJECT_NAME": "p", "WORKSHEET": "w"})
    assert load(path).targets == (config.Target("lab", "p", "w"),)


def test_gcp_json_inline_is_not_a_path(tmp_path):
    inline = ' {"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com"}'
    assert config.key_is_json(inline)
    assert not config.key_is_json("./service_account.json")
    from_file = load(write(tmp_path / "conf", SHEET | {"GCP_JSON": inline}))
    assert from_file.key_file == inline  # neither joined to the config file's folder nor looked for on disk
    assert load(write(tmp_path, SHEET), env={"GCP_JSON": inline}).key_file == inline


def test_local_mode_needs_no_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./config.json here
    args = build_parser().parse_args(["--source", str(tmp_path), "--output", "runs.xlsx"])
    settings = config.load(args, {})
    assert settings.targets == (config.Target("local", "local", "runs"),)
    assert (settings.output, settings.key_file) == (Path("runs.xlsx"), None)


def test_login_finds_its_client_file_in_the_config_relative_to_it_and_keeps_the_token_in_the_config_folder(tmp_path):
    folder = tmp_path / "conf"
    client = key_file(folder, "client_secret.json")
    path = write(folder, {"OAUTH_CLIENT_FILE": "client_secret.json"})
    args = build_parser().parse_args(["--login", "--config_path", str(path)])
    assert config.login_paths(args, {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}) == (
        client, tmp_path / "xdg" / "wandb-spreadsheet-sync" / "google-token.json")
    assert config.token_path({"HOME": str(tmp_path)}) == tmp_path / ".config/wandb-spreadsheet-sync/google-token.json"
    with pytest.raises(ConfigError) as caught:
        config.login_paths(build_parser().parse_args(["--login", str(tmp_path / "nope.json")]), {})
    assert caught.value.problems == [f"--login: the OAuth client file '{tmp_path / 'nope.json'}' does not exist"]


def test_impersonate_service_account_comes_from_the_file_or_the_environment_and_must_be_an_email(tmp_path):
    base = SHEET | {"GCP_JSON": str(key_file(tmp_path))}
    robot = "sync@my-project.iam.gserviceaccount.com"
    assert load(write(tmp_path / "a", base | {"IMPERSONATE_SERVICE_ACCOUNT": robot})).impersonate == robot
    assert load(write(tmp_path / "b", base), env={"IMPERSONATE_SERVICE_ACCOUNT": robot}).impersonate == robot
    path = write(tmp_path / "c", base | {"IMPERSONATE_SERVICE_ACCOUNT": "sync"})
    assert problems(path) == [f"{path}:6:3: IMPERSONATE_SERVICE_ACCOUNT must be the e-mail of a service account to "
                              'act as, e.g. "sheets-sync@my-project.iam.gserviceaccount.com", got "sync"']


def test_summary_tabs_are_checked_and_group_metrics_default_to_the_highlight_headers(tmp_path):
    key = str(key_file(tmp_path))
    path = write(tmp_path, SHEET | {"GCP_JSON": key, "HIGHLIGHT": {"val_loss": "min", "acc": "max"}})
    settings = load(path)
    assert settings.summaries == () and settings.group_metrics == ("val_loss", "acc")
    path = write(tmp_path, SHEET | {"GCP_JSON": key, "SUMMARIES": ["groups", "sweeps"], "GROUP_METRICS": ["loss"]})
    assert (load(path).summaries, load(path).group_metrics) == (("groups", "sweeps"), ("loss",))
    path = write(tmp_path, SHEET | {"GCP_JSON": key, "SUMMARIES": ["sweep"], "GROUP_METRICS": "loss"})
    found = problems(path)
    assert len(found) == 2  # both reported at once, each with the valid form
    assert any("SUMMARIES must be a list of summary tabs from ['sweeps', 'groups']" in p and '["sweep"]' in p
               for p in found)
    assert any("GROUP_METRICS must be a list of metric names" in p for p in found)


def test_a_summary_tab_title_too_long_for_google_or_taken_by_a_worksheet_is_refused(tmp_path):
    key = str(key_file(tmp_path))
    path = write(tmp_path, SHEET | {"GCP_JSON": key, "WORKSHEET": "w" * 95, "SUMMARIES": ["groups"]})
    (found,) = problems(path)
    assert "102 characters; Google allows 100" in found
    path = write(tmp_path, {"SPREADSHEET": "x", "GCP_JSON": key, "SUMMARIES": ["sweeps"],
                            "PROJECTS": [{"project": "lab/a", "worksheet": "a"}, {"project": "lab/b",
                                                                                  "worksheet": "a sweeps"}]})
    (found,) = problems(path)
    assert "'a sweeps' is also a project's worksheet" in found


# ---- the service's keys (issue 25): LISTEN, WEBHOOK_SECRET, LOG_FORMAT -----------------------------

def test_listen_secret_and_log_format_from_file_flag_and_environment(tmp_path):
    key = str(key_file(tmp_path))
    path = write(tmp_path, SHEET | {"GCP_JSON": key, "LISTEN": "0.0.0.0:8080", "WEBHOOK_SECRET": "from-file",
                                    "LOG_FORMAT": "json"})
    settings = load(path)
    assert (settings.listen, settings.webhook_secret, settings.log_format) == (("0.0.0.0", 8080), "from-file", "json")
    flagged = load(path, "--listen", "127.0.0.1:9000", "--log_format", "text")
    assert (flagged.listen, flagged.log_format) == (("127.0.0.1", 9000), "text")
    from_env = load(path, env={"LISTEN": "[::]:7000", "WEBHOOK_SECRET": "from-env", "LOG_FORMAT": "text"})
    assert (from_env.listen, from_env.webhook_secret, from_env.log_format) == (("::", 7000), "from-env", "text")
    bare = load(write(tmp_path / "bare", SHEET | {"GCP_JSON": key}))
    assert (bare.listen, bare.webhook_secret, bare.log_format) == (None, None, "text")
    assert "from-file" not in repr(settings)  # a Settings printed in a traceback does not show the secret


@pytest.mark.parametrize("value", ["8080", "localhost", "host:port", "1.2.3.4:65536", ""])
def test_a_bad_listen_address_names_the_valid_form(tmp_path, value):
    path = write(tmp_path, SHEET | {"GCP_JSON": str(key_file(tmp_path)), "LISTEN": value})
    found = problems(path)
    assert len(found) == 1 and 'LISTEN must be HOST:PORT to serve webhooks, health and metrics on, e.g. ' \
                                '"0.0.0.0:8080"' in found[0]


def test_bad_values_from_the_environment_are_reported_and_a_secret_is_never_quoted(tmp_path):
    path = write(tmp_path, SHEET | {"GCP_JSON": str(key_file(tmp_path)), "WEBHOOK_SECRET": 123456789})
    found = problems(path, env={"LISTEN": "nowhere", "LOG_FORMAT": "yaml"})
    assert any(p.startswith("LISTEN: must be HOST:PORT") and "'nowhere'" in p for p in found)
    assert any(p.startswith("LOG_FORMAT: must be \"text\"") for p in found)
    secret = next(p for p in found if "WEBHOOK_SECRET" in p)
    assert "123456789" not in secret and "not shown" in secret


def test_every_key_row_makes_its_settings_field_with_its_default(tmp_path):
    """A key is declared once, in KEYS: the Settings field and its default follow from the row."""
    fields = {f.name: f for f in dataclasses.fields(config.Settings)}
    for key in config.KEYS.values():
        if key.to:
            assert fields[key.field].type == key.to.split(":", 1)[1].strip()
            assert getattr(config.Settings(), key.field) == key.convert(key.default), key.name
    settings = load(write(tmp_path, SHEET | {"REQUEST_BYTES": 300_000, "STATES": ["running"]}))
    assert settings.request_bytes == 300_000 and settings.states == ("running",)
    assert config.Settings().request_bytes == 2_097_152 and config.Settings().fixed_headers[0] == "run_id"


def test_environment_settings_and_test_knobs_are_read_in_config_only(tmp_path):
    path = write(tmp_path, SHEET)
    plain = load(path)
    assert (plain.retry_base_seconds, plain.wandb_graphql, plain.wandb_base_url, plain.health_file) == \
        (1.0, "wandb-core", "https://api.wandb.ai", None)
    tuned = load(path, env={"WSS_RETRY_BASE_SECONDS": "0.05", "WSS_WANDB_GRAPHQL": "HTTP",
                            "WANDB_BASE_URL": "http://127.0.0.1:8080/", "WSS_HEALTH_FILE": str(tmp_path / "h"),
                            "WANDB_APP_URL": "https://wandb.example.com/"})
    assert (tuned.retry_base_seconds, tuned.wandb_graphql, tuned.wandb_base_url, tuned.health_file,
            tuned.wandb_app_url) == (0.05, "http", "http://127.0.0.1:8080", tmp_path / "h", "https://wandb.example.com")
    assert {v.name for v in config.ENVIRONMENT if v.test_only} == {"WSS_RETRY_BASE_SECONDS", "WSS_WANDB_GRAPHQL"}
    assert problems(path, env={"WSS_RETRY_BASE_SECONDS": "soon", "WSS_WANDB_GRAPHQL": "grpc"}) == [
        "WSS_RETRY_BASE_SECONDS: must be a number of seconds >= 0, the first backoff wait (Google and W&B), got 'soon'",
        "WSS_WANDB_GRAPHQL: must be \"http\" (W&B's public GraphQL endpoint through requests) or \"wandb-core\" (the "
        "default), got 'grpc'"]


def test_no_module_but_config_reads_the_environment():
    """Settings come from one place; Google's own credential discovery (google_auth) reads what it documents."""
    package = Path(config.__file__).parent
    readers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                     if re.search(r"os\.environ|os\.getenv|\benv\.get\(", p.read_text(encoding="utf-8")))
    assert readers == ["config.py", "sinks/google_auth.py"]


def test_the_health_check_reads_the_file_wss_health_file_names(tmp_path, monkeypatch, capsys):
    from wandb_sheet_sync.cli import main
    from wandb_sheet_sync.loop import write_health

    path = tmp_path / "health.json"
    monkeypatch.setenv("WSS_HEALTH_FILE", str(path))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}  # main() sets its own
    try:
        assert main(["--healthcheck"]) == 1 and str(path) in capsys.readouterr().out  # the loop has not started
        write_health(path, 60, ok=True)
        assert main(["--healthcheck"]) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert config.from_environment("WSS_HEALTH_FILE", {"WSS_HEALTH_FILE": str(path)}) == path
    assert config.from_environment("WSS_HEALTH_FILE", {}) is None  # the loop's default file then
