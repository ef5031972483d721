"""A loop that runs for months: W&B failing for minutes is named as the server error it is. (The memory of the
process tree over hundreds of syncs is measured by bench/loop_memory.py, not here: it takes minutes.)"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process


def test_wandb_answering_500_for_longer_than_the_wait_is_named_as_a_500(e2e):
    e2e.wandb.world.generate(3)
    e2e.config(REQUEST_TIMEOUT=1)
    e2e.wandb.world.arm("status", status=500, count=10_000, body_contains="query Runs")
    e2e.wandb.world.arm("status", status=500, count=10, body_contains="Probe")
    result = e2e.cli("--once")
    assert result.returncode == 1
    assert "W&B answered 500 (a server error) for alice/proj" in result.stderr, result.stderr
    assert "could not be reached" not in result.stderr


def test_wandb_out_of_reach_is_not_called_a_server_error(e2e):
    e2e.wandb.world.generate(3)
    e2e.config(REQUEST_TIMEOUT=1)
    e2e.wandb.world.arm("slow", delay=30, count=10_000, body_contains="query Runs")
    result = e2e.cli("--once", timeout=180)
    assert result.returncode == 1
    assert "a server error" not in result.stderr, result.stderr
