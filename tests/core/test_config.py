"""config.load: which value wins, where a key path points, and how problems are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sheetsync import config
from sheetsync.cli import build_parser
from sheetsync.errors import ConfigError

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
    assert problems(path, "--schedule_time", "0") == ["--schedule_time: must be a whole number of minutes >= 1, got 0"]


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
    assert problems(path, env={"GCP_JSON": "conf/sa.json"}) == [
        "GCP_JSON: the key file 'conf/sa.json' does not exist. Create a key for the service account in the Google "
        "Cloud console (IAM > Service accounts > Keys) and give its path"]


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
    assert any(p.startswith(f"{path}: no Google service-account key") for p in found)
    assert len(found) == 7


def test_malformed_json_names_its_line_and_column(tmp_path):
    path = write(tmp_path, '{\n  "SPREADSHEET": "x"\n  "WORKSHEET": "runs"\n}\n')
    assert problems(path)[0] == f"{path}:3:3: not valid JSON: Expecting ',' delimiter"


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write(tmp_path, SHEET | {"GCP_JSON": str(key_file(tmp_path)), "SCHEDULE_TIM": 5, "timezone": "UTC",
                                    "COLOUR": "red"})
    found = problems(path)
    assert f"{path}:6:3: unknown key 'SCHEDULE_TIM'. Did you mean 'SCHEDULE_TIME'?" in found
    assert f"{path}:7:3: unknown key 'timezone'. Did you mean 'TIMEZONE'?" in found
    colour = [p for p in found if "'COLOUR'" in p]
    assert colour and "Known keys: DELETED_RUNS, DYNAMIC_HEADERS, FIXED_HEADERS, FULL_RESYNC_HOURS," in colour[0]


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
