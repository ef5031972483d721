"""Files and config files as a spreadsheet user and their colleagues expect them, through the real CLI: the umask's
mode, a rewritten file's mode kept, spreadsheet programs' lock files honoured, no temporary file left, worksheet
names a workbook cannot take refused before anything is read, a config.json from Windows Notepad read, a key given
twice said, and the flags as wandb's own CLI spells them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.offline_runs import RunSpec, make_runs
from tests.local.test_files import by_id, read

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("file-runs")
    make_runs(root, [RunSpec(id="file0001", name="one", config={"lr": 0.1})])
    return root


def cli(tmp: Path, *args: str, config: dict | str | None = None, umask: int = 0o022) -> subprocess.CompletedProcess:
    cfg = tmp / "config.json"
    if isinstance(config, str):
        cfg.write_text(config, encoding="utf-8")
    else:
        cfg.write_text(json.dumps({"FIXED_HEADERS": ["run_id", "run_name", "state"]} | (config or {})))
    return subprocess.run([sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--config_path", str(cfg),
                           *args], capture_output=True, text=True, cwd=tmp, timeout=120, umask=umask)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("ext", ["xlsx", "csv"])
@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_gets_the_mode_the_umask_gives(folders, tmp_path, ext, umask, expected):
    out = tmp_path / f"runs.{ext}"
    result = cli(tmp_path, "--source", str(folders), "--output", str(out), umask=umask)
    assert result.returncode == 0, result.stderr
    assert mode(out) == expected
    if ext == "csv":
        assert mode(tmp_path / "runs.csv.sync-base") == expected


@pytest.mark.parametrize("ext", ["xlsx", "csv"])
def test_a_rewritten_file_keeps_its_mode_and_no_temporary_file_is_left(folders, tmp_path, ext):
    out = tmp_path / f"runs.{ext}"
    assert cli(tmp_path, "--source", str(folders), "--output", str(out)).returncode == 0
    os.chmod(out, 0o640)
    stale = tmp_path / f".runs.{ext}.k1ll3d.tmp"  # what a process killed outright (SIGKILL) mid-write left
    stale.write_bytes(b"half a file")
    more = tmp_path / "more"
    make_runs(more, [RunSpec(id="file0002", name="two", config={"lr": 0.2})])
    result = cli(tmp_path, "--source", str(tmp_path / "more"), "--output", str(out))
    assert result.returncode == 0 and "1 new" in result.stdout, result.stderr
    assert mode(out) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("lock", ["~$runs.xlsx", ".~lock.runs.xlsx#"])
def test_a_workbook_open_in_excel_or_libreoffice_is_not_overwritten(folders, tmp_path, lock):
    out = tmp_path / "runs.xlsx"
    (tmp_path / lock).write_text("someone,host,/home/someone;06.12.2026 14:00;")
    result = cli(tmp_path, "--source", str(folders), "--output", str(out))
    assert result.returncode == 1
    assert f"is open in a spreadsheet program (its lock file {lock} exists)" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("worksheet, rule", [
    ("lab/resnet", "holds /, which a workbook's sheet name cannot"),
    ("a" * 40, "has 40 characters; a workbook's sheet name has at most 31"),
    ("what?", "holds ?, which a workbook's sheet name cannot"),
    ("'quoted'", "starts or ends with an apostrophe"),
])
def test_a_worksheet_name_a_workbook_cannot_take_is_refused_at_config_time(folders, tmp_path, worksheet, rule):
    out = tmp_path / "runs.xlsx"
    result = cli(tmp_path, "--source", str(folders), "--output", str(out), config={"WORKSHEET": worksheet})
    assert result.returncode == 2, result.stderr
    assert rule in result.stderr and "Traceback" not in result.stderr and "Warning" not in result.stderr
    assert not out.exists()
    csv_out = tmp_path / "runs.csv"  # a CSV has no sheet names: the same name is fine there
    assert cli(tmp_path, "--source", str(folders), "--output", str(csv_out),
               config={"WORKSHEET": worksheet}).returncode == 0


def test_a_config_file_with_a_byte_order_mark_is_read(folders, tmp_path):
    out = tmp_path / "runs.xlsx"
    text = "\ufeff" + json.dumps({"FIXED_HEADERS": ["run_id", "state"], "WORKSHEET": "mine"})
    result = cli(tmp_path, "--source", str(folders), "--output", str(out), config=text)
    assert result.returncode == 0, result.stderr
    assert list(read_sheet(out, "mine")[0]) == ["run_id", "state", "lr"]


def read_sheet(path: Path, title: str) -> list:
    import openpyxl

    return [list(r) for r in openpyxl.load_workbook(path)[title].iter_rows(values_only=True)]


def test_a_key_given_twice_in_config_json_is_reported(folders, tmp_path):
    text = '{\n  "WORKSHEET": "a",\n  "MAX_COLUMNS": 10,\n  "WORKSHEET": "b"\n}\n'
    result = cli(tmp_path, "--source", str(folders), "--output", str(tmp_path / "runs.xlsx"), config=text)
    assert result.returncode == 2
    assert "config.json:2:3: 'WORKSHEET' is given more than once; keep one" in result.stderr


def test_a_config_that_is_not_json_gets_one_message(tmp_path):
    result = cli(tmp_path, config="SPREADSHEET = 'x'\n")
    assert result.returncode == 2
    assert "1 configuration problem:" in result.stderr and "not valid JSON" in result.stderr
    assert "no W&B project" not in result.stderr and "no spreadsheet" not in result.stderr


def test_schedule_time_names_its_cap(tmp_path):
    result = cli(tmp_path, config={"SCHEDULE_TIME": 1_000_001})
    assert "SCHEDULE_TIME must be a whole number of minutes from 1 to 1,000,000, got 1000001" in result.stderr


def test_flags_spelled_as_wandbs_cli_spells_them_are_accepted(folders, tmp_path):
    out = tmp_path / "runs.csv"
    result = cli(tmp_path, "--source", str(folders), "--output", str(out), "--schedule-time", "5",
                 "--user-name", "nobody-has-this-name", "--log-level", "debug", "--sheet-name", "ignored")
    assert result.returncode == 0, result.stderr
    assert "file0001" in by_id(read(out))
    zero = cli(tmp_path, "--source", str(folders), "--output", str(out), "--schedule-time", "0")
    assert zero.returncode == 2 and "--schedule_time: must be a whole number of minutes" in zero.stderr  # it is read
    help_text = subprocess.run([sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--help"],
                               capture_output=True, text=True).stdout
    assert "--schedule_time" in help_text and "--schedule-time" not in help_text  # snake_case stays documented
