"""Both sources held to the Source contract of wandb_sheet_sync/sources/__init__.py: W&B's API (against the fake W&B
server) and run folders (real offline runs)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from wandb_sheet_sync import config
from wandb_sheet_sync.cli import build_parser
from wandb_sheet_sync.config import Target
from wandb_sheet_sync.run import Run, Sweep
from wandb_sheet_sync.sources import Fetched, Need, Source
from wandb_sheet_sync.sources.increments import ReadState
from wandb_sheet_sync.sources.local import LocalSource
from wandb_sheet_sync.sources.wandb_api import WandbSource
from tests.fakes.offline_runs import RunSpec, make_runs
from tests.fakes.wandb_api import DEFAULT_KEY

SWEEP = {"method": "grid", "metric": {"name": "loss", "goal": "minimize"}, "parameters": {"lr": {"values": [1, 2]}}}
STATES = ["finished", "finished", "failed", "finished"]


def _settings(tmp: Path, args: list[str], env: dict, **changes):
    cfg = tmp / "config.json"
    cfg.write_text(json.dumps({"WANDB_ENTITY": "alice", "WANDB_PROJECT": "proj", "TIMEZONE": "UTC",
                               "REQUEST_TIMEOUT": 5, "WANDB_PACE_SECONDS": 0}))
    parsed = build_parser().parse_args(["--once", "--output", str(tmp / "out.xlsx"), "--config_path", str(cfg), *args])
    return dataclasses.replace(config.load(parsed, env), **changes)


class WandbWorld:
    """The fake W&B server with four runs of project alice/proj, one of them in a known sweep."""

    def __init__(self, fake, tmp: Path):
        self.fake, self.tmp = fake, tmp
        fake.world.add_sweep(name="sw1", config=SWEEP, state="FINISHED")
        when = dt.datetime(2026, 1, 1)
        for i, state in enumerate(STATES):
            fake.world.add_run(name=f"r{i}", state=state, summary={"loss": 1.0 / (i + 1)}, config={"lr": i},
                               sweep="sw1" if i == 0 else None, created_at=when + dt.timedelta(minutes=i),
                               heartbeat_at=when + dt.timedelta(minutes=i + 5))

    def settings(self, **changes):
        return _settings(self.tmp, [], {"WANDB_API_KEY": DEFAULT_KEY, "WANDB_BASE_URL": self.fake.url}, **changes)

    def source(self, settings) -> Source:
        return WandbSource(settings)

    def delete(self, run_id: str) -> None:
        self.fake.world.delete(run_id)


class FolderWorld:
    """Real offline runs of project proj in a --source folder, one of them in a sweep whose config is beside it."""

    def __init__(self, made: Path, tmp: Path):
        self.root = tmp / "source"
        shutil.copytree(made, self.root)
        (self.root / "sweep-sw1.yaml").write_text(json.dumps(SWEEP))

    def settings(self, **changes):
        return _settings(self.root.parent, ["--source", str(self.root)], {}, **changes)

    def source(self, settings) -> Source:
        return LocalSource(settings)

    def delete(self, run_id: str) -> None:
        for folder in (self.root / "wandb").glob(f"offline-run-*-{run_id}"):
            shutil.rmtree(folder)


@pytest.fixture(scope="module")
def offline_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("contract-runs")
    make_runs(root, [RunSpec(project="proj", id=f"r{i}", name=f"r{i}", config={"lr": i},
                             log=[{"loss": 1.0 / (i + 1)}], exit_code=1 if state == "failed" else 0,
                             sweep="sw1" if i == 0 else None)
                     for i, state in enumerate(STATES)])
    return root


@pytest.fixture(params=["wandb", "folders"])
def world(request, tmp_path):
    if request.param == "wandb":
        return WandbWorld(request.getfixturevalue("wandb_fake"), tmp_path)
    return FolderWorld(request.getfixturevalue("offline_runs"), tmp_path)


def target_of(settings) -> Target:
    return settings.targets[0]


def test_a_first_fetch_is_full_and_brings_each_run_once_as_a_run_record(world):
    settings = world.settings()
    source = world.source(settings)
    before = source.requests
    seen: list[int] = []
    fetched = source.fetch(target_of(settings), Need(now=1000.0), progress=seen.append)
    assert isinstance(fetched, Fetched) and fetched.full
    assert all(isinstance(r, Run) for r in fetched.runs)
    assert sorted(r.id for r in fetched.runs) == ["r0", "r1", "r2", "r3"]  # one Run per id
    assert {r.id: r.summary.get("loss") for r in fetched.runs}["r1"] == 0.5
    assert fetched.listed == [] and fetched.deleted == []
    assert fetched.read_state is None or isinstance(fetched.read_state, ReadState)
    assert isinstance(source.requests, int) and source.requests >= before
    assert seen and seen[-1] == 4  # progress counts the runs read so far


def test_a_fetch_given_its_own_state_accounts_for_every_known_run_once(world):
    settings = world.settings()
    source = world.source(settings)
    target = target_of(settings)
    first = source.fetch(target, Need(now=1000.0))
    known = frozenset(r.id for r in first.runs)
    world.delete("r3")
    # an hour on (LISTING_SCAN_MINUTES): W&B's source lists every run, as a source that cannot filter always does
    need = Need(first.read_state or ReadState(), known, ("run_id", "loss"), 1000.0 + 3600)
    again = source.fetch(target, need)
    read, listed = [r.id for r in again.runs], [r.id for r in again.listed]
    assert len(read) == len(set(read)) and not set(read) & set(listed)
    assert set(again.deleted) <= known - {"r0", "r1", "r2"}  # only a known run that is gone, if the source can tell
    assert "r3" not in set(read) | set(listed)
    # a source that keeps a read state may leave out a known run it can tell is unchanged (a scan's UI-field hashes,
    # issue 24); one that keeps none brings every run
    assert again.read_state is not None or {"r0", "r1", "r2"} <= set(read) | set(listed)
    assert again.read_state is None or isinstance(again.read_state, ReadState)


def test_states_and_user_filters_are_the_sources_own(world):
    settings = world.settings(states=("failed",))
    fetched = world.source(settings).fetch(target_of(settings), Need(now=1000.0))
    assert [(r.id, r.state) for r in fetched.runs] == [("r2", "failed")]


def test_sweeps_answers_every_id_asked_and_says_why_one_is_unknown(world):
    settings = world.settings()
    source = world.source(settings)
    target = target_of(settings)
    source.fetch(target, Need(now=1000.0))  # sweeps are asked after a fetch in the same sync
    sweeps = source.sweeps(target, {"sw1", "nosuch"})
    assert set(sweeps) == {"sw1", "nosuch"} and all(isinstance(s, Sweep) for s in sweeps.values())
    assert sweeps["sw1"].id == "sw1" and sweeps["sw1"].config["metric"]["name"] == "loss"
    assert sweeps["nosuch"].config is None and sweeps["nosuch"].problem


def test_a_quiet_fetch_between_scans_never_asks_for_the_bases_runs(wandb_fake, tmp_path):
    """Need.known_runs may cost a sheet read: W&B's source asks only where the answer is needed (a listing of every
    run, a full read), not when it lists only the runs whose stamps moved."""
    world = WandbWorld(wandb_fake, tmp_path)
    settings = world.settings()
    source = world.source(settings)
    target = target_of(settings)
    asked: list[int] = []

    def known() -> frozenset[str]:
        asked.append(1)
        return frozenset({"r0", "r1", "r2", "r3"})

    first = source.fetch(target, Need(now=1000.0, known=known))
    assert first.full and len(asked) == 1  # a full read: whose runs are gone needs the answer
    quiet = source.fetch(target, Need(first.read_state, known, ("run_id", "loss"), 1060.0))
    assert not quiet.full and len(asked) == 1 and quiet.deleted == []
    scan = source.fetch(target, Need(quiet.read_state, known, ("run_id", "loss"), 1000.0 + 3600))
    # the scan asks (to find the runs gone); it lists every run but hands over none whose UI fields did not move
    assert len(asked) == 2 and scan.deleted == [] and not scan.listed and not scan.runs
