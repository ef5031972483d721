"""logs.py: LOG_FORMAT json is one JSON object a line with the fields a pipeline reads; no secret in either form."""

from __future__ import annotations

import json
import logging

import pytest

from wandb_sheet_sync import logs
from wandb_sheet_sync.config import Target

SECRET = "whsec-0123456789abcdef"
KEY = "local-" + "7" * 40


@pytest.fixture
def log(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    yield logging.getLogger(logs.LOGGER)
    logs.setup("INFO")


def test_json_lines_carry_time_level_event_target_and_counts(log, capsys):
    logs.setup("INFO", "json", [SECRET])
    log.info("synced %s", "lab/a", extra=logs.fields("sync", Target("lab", "a", "runs"),
                                                     {"new": 3, "updated": 1}, trigger="webhook"))
    log.warning("plain line")
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first["level"] == "INFO" and first["event"] == "sync" and first["target"] == "lab/a -> runs"
    assert first["counts"] == {"new": 3, "updated": 1} and first["details"] == {"trigger": "webhook"}
    assert first["message"] == "synced lab/a" and first["time"].endswith("+00:00")
    assert second["event"] == "log" and second["level"] == "WARNING" and "target" not in second


@pytest.mark.parametrize("form", ["text", "json"])
def test_known_secrets_never_reach_a_line_in_either_form(log, capsys, form):
    logs.setup("INFO", form, [SECRET])
    log.error("W&B said: bad key %s; webhook secret %s", KEY, SECRET)
    try:
        raise RuntimeError(f"a library quoting {KEY}")
    except RuntimeError:
        log.exception("failed")
    out = capsys.readouterr().out
    assert KEY not in out and SECRET not in out and out.count(logs.HIDDEN) >= 3
