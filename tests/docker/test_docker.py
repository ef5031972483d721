"""The Docker image, built and run for real: `scripts/docker-smoke` (skipped unless WSS_DOCKER=1).

A local base image from Debian packages is passed as BASE_IMAGE (no Docker Hub here); containers use the
host network, so the fake Google and W&B servers on 127.0.0.1 are theirs too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("WSS_DOCKER_BASE", "wss-base:bookworm")
IMAGE = "wandb_spreadsheet_sync:test"
pytestmark = [pytest.mark.docker,
              pytest.mark.skipif(os.environ.get("WSS_DOCKER") != "1", reason="run through scripts/docker-smoke")]


def docker(*args: str, check: bool = True, timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_BUILDKIT="0")  # the classic builder: the daemon here is Debian's
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def image():
    """Builds the image with secrets lying in the build folder, which must stay out of it."""
    planted = [ROOT / "service_account.json", ROOT / "dummy-key.json", ROOT / ".env"]
    for path in planted:
        path.write_text(json.dumps({"type": "service_account", "private_key": "PLANTED-NOT-A-KEY"}))
    try:
        docker("build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE}", "-t", IMAGE, str(ROOT))
    finally:
        for path in planted:
            path.unlink()
    yield IMAGE


def test_secrets_in_the_build_folder_stay_out_of_the_image(image):
    found = docker("run", "--rm", "--entrypoint", "sh", image, "-c",
                   "grep -rl PLANTED-NOT-A-KEY / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; "
                   "ls -A /app").stdout
    assert "PLANTED" not in found and "service_account.json" not in found and ".env" not in found
    assert "wandb_spreadsheet_sync.py" in found and "config.json" in found


def test_the_container_runs_as_a_user_that_is_not_root(image):
    assert docker("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() == "10001"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_args(e2e, key: Path, port: int | None = None) -> list[str]:
    """The image's LISTEN (0.0.0.0:8080) moved to a free loopback port: containers here share the host's network."""
    cfg = e2e.config()
    os.chmod(cfg, 0o644)
    return ["--network", "host", "-v", f"{cfg}:/app/config.json:ro", "-v", f"{key}:/secrets/sa.json:ro",
            "-e", "GCP_JSON=/secrets/sa.json", "-e", f"WANDB_API_KEY={e2e.env()['WANDB_API_KEY']}",
            "-e", f"WANDB_BASE_URL={e2e.wandb.url}", "-e", f"GOOGLE_API_ENDPOINT={e2e.google.url}",
            "-e", f"LISTEN=127.0.0.1:{port or _free_port()}"]


@pytest.fixture
def key(e2e) -> Path:
    os.chown(e2e.key_file, 10001, 10001)  # readable by the container's user only, as a careful user sets it
    return e2e.key_file


def test_once_syncs_the_runs_into_the_sheet(image, e2e, key):
    e2e.wandb.world.generate(40)
    result = docker("run", "--rm", *_run_args(e2e, key), image, "--once")
    assert "40 new" in result.stdout, result.stdout + result.stderr
    assert len(e2e.rows()) == 40


def test_docker_stop_ends_the_loop_cleanly_within_ten_seconds(image, e2e, key):
    e2e.wandb.world.generate(5)
    name = f"wss-stop-{os.getpid()}"
    port = _free_port()
    docker("run", "-d", "--name", name, *_run_args(e2e, key, port), image, "--schedule_time", "1")
    try:
        deadline = time.time() + 120
        while time.time() < deadline and "synced" not in docker("logs", name, check=False).stdout:
            time.sleep(0.5)
        assert len(e2e.rows()) == 5
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as answer:
            assert answer.status == 200 and json.loads(answer.read())["ok"] is True
        # the image's HEALTHCHECK command: GET /healthz on LISTEN's port, from inside the container
        health = docker("exec", name, "python3", "/app/wandb_spreadsheet_sync.py", "--healthcheck", check=False)
        assert health.returncode == 0 and "/healthz" in health.stdout, health.stdout
        started = time.time()
        docker("stop", "-t", "10", name)
        took = time.time() - started
        code = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert code == "0" and took < 10, (code, took)  # stopped between syncs: nothing was interrupted
        print(f"\ndocker stop: {took:.1f} s, exit code {code}")
    finally:
        docker("rm", "-f", name, check=False)
