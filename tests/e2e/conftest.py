"""The product as users run it: wandb_spreadsheet_sync.py as a subprocess against the fake Google and W&B."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from wandb_sheet_sync import config
from wandb_sheet_sync.cli import build_parser
from tests.fakes.google_api import FakeGoogle
from tests.fakes.wandb_api import DEFAULT_KEY, FakeWandb

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "wandb_spreadsheet_sync.py"
FIXED = ["run_id", "run_name", "user", "state", "created_at", "notes"]


@dataclass
class E2E:
    google: FakeGoogle
    wandb: FakeWandb
    key_file: Path
    spreadsheet_id: str
    tmp: Path

    def config(self, **extra) -> Path:
        data = {"SPREADSHEET": self.spreadsheet_id, "WORKSHEET": "runs", "WANDB_ENTITY": "alice",
                "WANDB_PROJECT": "proj", "FIXED_HEADERS": FIXED, "PER_PAGE": 100, "TIMEZONE": "UTC",
                "REQUEST_TIMEOUT": 5, "WANDB_PACE_SECONDS": 0} | extra
        path = self.tmp / "config.json"
        path.write_text(json.dumps(data, indent=2))
        return path

    def env(self, **extra) -> dict[str, str]:
        env = dict(os.environ)
        env.update(WANDB_BASE_URL=self.wandb.url, WANDB_API_KEY=DEFAULT_KEY, GCP_JSON=str(self.key_file),
                   GOOGLE_API_ENDPOINT=self.google.url, WSS_RETRY_BASE_SECONDS="0.05",
                   WSS_HEALTH_FILE=str(self.tmp / "health.json"), PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def cli(self, *args: str, config: Path | None = None, timeout: float = 120, **env) -> subprocess.CompletedProcess:
        config = config or (self.tmp / "config.json" if (self.tmp / "config.json").exists() else self.config())
        return subprocess.run([sys.executable, str(ENTRY), "--config_path", str(config), *args], cwd=self.tmp,
                              env=self.env(**env), capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str, **env) -> "Running":
        config = self.tmp / "config.json" if (self.tmp / "config.json").exists() else self.config()
        return Running(subprocess.Popen([sys.executable, str(ENTRY), "--config_path", str(config), *args],
                                        cwd=self.tmp, env=self.env(**env), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))

    def sheet(self, title: str = "runs") -> list[list]:
        return self.google.world.grid(self.spreadsheet_id, title)

    def rows(self, title: str = "runs") -> dict[str, dict]:
        """The sheet as {run id: {header: value}}, wherever rows and columns are."""
        grid = self.sheet(title)
        header = grid[0]
        key = header.index("run_id")
        return {row[key]: {h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h}
                for row in grid[1:] if key < len(row) and row[key]}

    def settings(self, **extra):
        args = build_parser().parse_args(["--once", "--config_path", str(self.config(**extra))])
        return config.load(args, self.env())


class Running:
    """A started process whose output is collected as it comes, so a test can wait for a line."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            if needle in self.text:
                return True
            time.sleep(0.1)
        return needle in self.text

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, float]:
        """Sends the signal; returns the exit code and the seconds it took to exit."""
        sent = time.time()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        return code, time.time() - sent


@pytest.fixture
def e2e(google, key_file, wandb_fake, tmp_path, monkeypatch) -> E2E:
    monkeypatch.setenv("GOOGLE_API_ENDPOINT", google.url)
    monkeypatch.setenv("WSS_RETRY_BASE_SECONDS", "0.05")
    ss = google.world.add_spreadsheet("Team runs", {"Sheet1": []})
    return E2E(google, wandb_fake, key_file, ss.spreadsheet_id, tmp_path)
