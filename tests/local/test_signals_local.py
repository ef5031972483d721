"""SIGTERM and Ctrl-C in file mode, through the real CLI: the sync stops at the next safe point, the file is whole
(its old content), the exit code says interrupted, one line says what was and was not written, nothing is left.

The signal arrives at a point the test chooses, not after a sleep: one run folder's .wandb file is a named pipe, so
the sync blocks reading it until the test, having seen the process open it and sent the signal, writes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.offline_runs import RunSpec, make_runs
from tests.local.test_files import by_id, read

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("signal-runs")
    make_runs(root / "first", [RunSpec(id=f"sig{i:05d}", name=f"r{i}", config={"lr": i / 10}) for i in range(3)])
    make_runs(root / "later", [RunSpec(id="sig00100", name="later", config={"lr": 9.0})])
    make_runs(root / "piped", [RunSpec(id="sig00200", name="piped", config={"lr": 8.0})])
    return root


def open_writer(fifo: Path, proc: subprocess.Popen, limit: float = 60) -> int:
    """Opens the pipe for writing once the sync has opened it for reading (the deterministic point)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.02)
    raise AssertionError(f"the sync never opened the run file: {proc.stdout.read() if proc.poll() is not None else ''}")


SAFE_POINTS = {  # where the new run's folder sorts (before or after the pipe) -> the safe point the stop is seen at
    "d": "Stopped while reading run folders; nothing was written.",
    "b": "Stopped before writing {out}; nothing was written: every file is whole (its old or its new content).",
}


@pytest.mark.parametrize("ext", ["xlsx", "csv"])
@pytest.mark.parametrize("sig, later_dir", [(signal.SIGTERM, "d"), (signal.SIGINT, "d"), (signal.SIGTERM, "b")])
def test_a_stop_mid_sync_leaves_the_file_whole_says_so_and_exits_130(runs, tmp_path, ext, sig, later_dir):
    source = tmp_path / "source"
    (source / "a").mkdir(parents=True)
    for folder in (runs / "first").rglob("offline-run-*"):
        os.symlink(folder, source / "a" / folder.name)
    out = tmp_path / f"runs.{ext}"
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"FIXED_HEADERS": ["run_id", "run_name", "state"]}))
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--source", str(source), "--output",
           str(out), "--config_path", str(cfg)]
    assert subprocess.run(cmd, capture_output=True, cwd=tmp_path, timeout=120).returncode == 0
    before = out.read_bytes()
    # a run whose file is a pipe and, after it in the folder order, a new run: the stop is seen between the two
    (later,) = list((runs / "later").rglob("offline-run-*"))
    (source / later_dir).mkdir()
    os.symlink(later, source / later_dir / later.name)
    (piped_file,) = list((runs / "piped").rglob("run-*.wandb"))
    piped = source / "c" / "offline-run-20990101_000000-sig00200"
    piped.mkdir(parents=True)
    fifo = piped / "run-sig00200.wandb"
    os.mkfifo(fifo)
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        fd = open_writer(fifo, proc)
        proc.send_signal(sig)
        line = proc.stdout.readline()  # the handler's line: it has run before the run file is given
        assert "stopping: " + sig.name + " received" in line, line
        os.write(fd, piped_file.read_bytes())
        os.close(fd)
        out_text, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    (said,) = [x for x in err.splitlines() if x.startswith("Interrupted")]  # one line
    assert said == f"Interrupted by {sig.name}: " + SAFE_POINTS[later_dir].format(out=out), err
    assert "Traceback" not in err
    assert out.read_bytes() == before  # whole: its old content
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
    fifo.unlink()
    fifo.write_bytes(piped_file.read_bytes())  # the run's file, now a file
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert again.returncode == 0 and "2 new" in again.stdout, again.stderr  # the next sync writes the rest
    assert set(by_id(read(out))) == {"sig00000", "sig00001", "sig00002", "sig00100", "sig00200"}


HARD_EXIT_CHILD = r"""
import sys, threading
from pathlib import Path
from wandb_sheet_sync import cli, files

target = Path(sys.argv[1])
in_write, go_on = threading.Event(), threading.Event()

def slow_write(fh):
    fh.write(b"new content, first half; ")
    in_write.set()
    go_on.wait()
    fh.write(b"second half")

writer = threading.Thread(target=files.replace, args=(target, slow_write))
writer.start()
in_write.wait()
cli.exit_after_writes(130, "left after the write")  # what the hard-exit timer does when it fires
print("exit asked while writing", flush=True)
sys.stdin.readline()  # the test lets the write finish only now
go_on.set()
writer.join()
print("written", flush=True)
threading.Event().wait(30)  # the exit comes from the other thread
"""


def test_the_hard_exit_waits_for_a_file_write_in_flight(tmp_path):
    target = tmp_path / "runs.csv"
    target.write_bytes(b"old content")
    proc = subprocess.Popen([sys.executable, "-c", HARD_EXIT_CHILD, str(target)], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "exit asked while writing"
    assert proc.poll() is None and target.read_bytes() == b"old content"  # still alive: the write is in flight
    out, err = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 130
    assert target.read_bytes() == b"new content, first half; second half"
    assert "left after the write" in err
    assert [p.name for p in tmp_path.iterdir()] == ["runs.csv"]  # no temporary file
