"""The .wandb reader on real offline runs written by wandb itself, and on files cut or damaged anywhere."""

from __future__ import annotations

import math
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wandb_sheet_sync.sources.local import BLOCK, HEADER, find_run_files, parse_run, read_records
from tests.fakes.offline_runs import RunningRun, RunSpec, make_runs

PAD = "x" * 120  # enough logged bytes that wandb-core flushes whole 32 KiB blocks before a kill


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("offline")
    finished, failed = make_runs(root, [
        RunSpec(id="fin00001", name="bright-sun-1", project="demo", tags=["paper", "baseline"], group="g1",
                job_type="train", notes="first try", config={"lr": 0.01, "model": {"layers": 3, "act": "gelu"}},
                log=[{"loss": 1.0, "acc": 0.5}, {"loss": 0.5, "acc": float("nan"), "val": {"loss": 0.7}}],
                summary={"best": float("inf"), "worst": float("-inf"), "scratch": 1},
                config_updates=[{"lr": 0.02, "warmup": 10}], summary_removals=["scratch"]),
        RunSpec(id="fail0001", name="dark-moon-2", project="demo", config={"lr": 1.0}, log=[{"loss": 9.0}],
                exit_code=3),
    ])
    (killed,) = make_runs(root, [RunSpec(id="kill0001", project="demo", config={"lr": 0.1},
                                         log=[{"loss": 100.0 - i, "pad": PAD} for i in range(400)], mode="kill")])
    return {"finished": finished, "failed": failed, "killed": killed, "root": root}


def wandb_file(folder: Path) -> Path:
    return next(folder.glob("run-*.wandb"))


def test_finished_run_every_field(runs):
    run, problems = parse_run(wandb_file(runs["finished"]))
    assert problems == []
    assert (run.id, run.name, run.project, run.state) == ("fin00001", "bright-sun-1", "demo", "finished")
    assert run.tags == ("paper", "baseline") and run.group == "g1" and run.job_type == "train"
    assert run.notes == "first try"
    assert run.config == {"lr": 0.02, "model": {"layers": 3, "act": "gelu"}, "warmup": 10}  # updated mid-run
    assert run.summary["loss"] == 0.5 and run.summary["val"] == {"loss": 0.7}
    assert math.isnan(run.summary["acc"]) and run.summary["best"] == math.inf and run.summary["worst"] == -math.inf
    assert "scratch" not in run.summary  # removed from the summary
    assert run.created_at is not None and run.created_at.tzinfo is not None and run.runtime >= 0


def test_failed_run_is_failed(runs):
    run, problems = parse_run(wandb_file(runs["failed"]))
    assert problems == [] and run.state == "failed" and run.summary["loss"] == 9.0


def test_killed_run_keeps_what_was_flushed_and_ages_from_running_to_crashed(runs):
    path = wandb_file(runs["killed"])
    now = path.stat().st_mtime
    run, problems = parse_run(path, now=now + 10)
    assert run.state == "running" and run.config == {"lr": 0.1}
    assert 100.0 - 399 <= run.summary["loss"] < 100.0  # the last summary that reached the disk
    # Whether the file ends inside a record depends on where wandb-core's last flush fell: either is fine,
    # and nothing else may be wrong with it.
    assert all("cut off" in p for p in problems)
    crashed, _ = parse_run(path, now=now + 3600)
    assert crashed.state == "crashed"


def test_live_run_reads_as_running(tmp_path):
    live = RunningRun(tmp_path, RunSpec(id="live0001", project="demo", log=[{"loss": float(i), "pad": PAD}
                                                                           for i in range(400)]))
    try:
        run, _ = parse_run(wandb_file(live.dir))
        assert run.id == "live0001" and run.state == "running"
    finally:
        live.stop()


def test_finds_run_folders_anywhere_under_the_root(runs, tmp_path):
    shutil.copytree(runs["finished"], tmp_path / "cluster" / "job7" / "wandb" / runs["finished"].name)
    shutil.copytree(runs["failed"], tmp_path / "other" / runs["failed"].name.replace("offline-run", "run"))
    (tmp_path / "cluster" / "notes-run-x").mkdir()  # not a run folder
    found = {parse_run(p)[0].id for p in find_run_files(tmp_path)}
    assert found == {"fin00001", "fail0001"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0, 1))
def test_a_file_cut_at_any_byte_never_crashes_the_reader(runs, cut, tmp_path_factory):
    data = wandb_file(runs["killed"]).read_bytes()
    at = int(len(data) * cut)
    records = read_records(data[:at])
    whole = read_records(data)
    assert records.payloads == whole.payloads[:len(records.payloads)]  # a prefix, never garbage
    folder = tmp_path_factory.mktemp("cut") / "offline-run-x"
    folder.mkdir()
    (folder / "run-x.wandb").write_bytes(data[:at])
    run, problems = parse_run(folder / "run-x.wandb")
    assert run is None or run.id == "kill0001"


def test_a_damaged_block_is_skipped_and_later_blocks_still_read(runs):
    data = bytearray(wandb_file(runs["killed"]).read_bytes())
    assert len(data) > 3 * BLOCK
    data[BLOCK + 100] ^= 0xFF  # a flipped bit in the second block
    damaged = read_records(bytes(data))
    whole = read_records(bytes(wandb_file(runs["killed"]).read_bytes()))
    assert any("checksum" in p or "damaged" in p for p in damaged.problems)
    assert whole.payloads[0] in damaged.payloads and damaged.payloads[-1] == whole.payloads[-1]
    assert len(damaged.payloads) < len(whole.payloads)


def test_unknown_record_types_are_skipped(runs, tmp_path):
    good = read_records(wandb_file(runs["failed"]).read_bytes()).payloads
    unknown = b"\xf8\x3e\x01"  # field 999, varint 1: a record kind this reader does not know
    body = HEADER
    for payload in [good[0], unknown, *good[1:]]:
        kind = 1
        body += struct.pack("<IHB", zlib.crc32(payload, zlib.crc32(bytes([kind]))), len(payload), kind) + payload
    folder = tmp_path / "offline-run-u"
    folder.mkdir()
    (folder / "run-u.wandb").write_bytes(body)
    run, problems = parse_run(folder / "run-u.wandb")
    assert run.id == "fail0001" and run.state == "failed" and problems == []


def test_not_a_wandb_file(tmp_path):
    folder = tmp_path / "run-bad"
    folder.mkdir()
    (folder / "run-bad.wandb").write_bytes(b"hello world, not W&B at all")
    run, problems = parse_run(folder / "run-bad.wandb")
    assert run is None and any("bad header" in p for p in problems)


def test_user_and_host_where_the_file_records_them(runs, tmp_path):
    """wandb 0.31 offline records the host but not the username; a log that has both gives both."""
    from wandb.proto import wandb_internal_pb2 as pb

    run, _ = parse_run(wandb_file(runs["finished"]))
    assert run.host and run.user is None
    env = pb.Record()
    env.environment.username = "alice"
    env.environment.host = "gpu-node-7"
    extra = env.SerializeToString()
    body = wandb_file(runs["failed"]).read_bytes()
    good = read_records(body).payloads
    framed = HEADER
    for payload in [good[0], extra, *good[1:]]:
        framed += struct.pack("<IHB", zlib.crc32(payload, zlib.crc32(b"\x01")), len(payload), 1) + payload
    folder = tmp_path / "offline-run-env"
    folder.mkdir()
    (folder / "run-env.wandb").write_bytes(framed)
    with_env, problems = parse_run(folder / "run-env.wandb")
    assert problems == [] and with_env.user == "alice" and with_env.host == "gpu-node-7"
