"""What real runs carry, through the real CLI into .xlsx and .csv: colliding keys, odd characters, long texts."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from wandb_sheet_sync.columns import CUT_MARKER
from tests.fakes.offline_runs import RunSpec, make_runs
from tests.local.test_files import by_id, read, write_grid

ROOT = Path(__file__).resolve().parents[2]
NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
COLLIDING = {"lr": 0.1, "lr ": 0.2, "LR": 0.3, "a.b": 1.11, "a": {"b": 2.22}, "": 4.4, NFC: 5.5, NFD: 6.6,
             "t\tab": 7.7, "n\nl": 8.8, "state": "my state"}
# the header each value ends up under (README, "Keys that collide")
EXPECTED = {"lr": 0.1, "lr␠": 0.2, "LR": 0.3, "a.b": 2.22, "a.b [2]": 1.11, "(empty key)": 4.4, NFC: 5.5,
            f"{NFD} [2]": 6.6, "t␉ab": 7.7, "n␊l": 8.8, "config.state": "my state"}


def cli(tmp: Path, source: Path, out: Path, **config) -> subprocess.CompletedProcess:
    cfg = tmp / "config.json"
    cfg.write_text(json.dumps({"FIXED_HEADERS": ["run_id", "run_name", "state", "notes"], "TIMEZONE": "UTC"} | config))
    return subprocess.run([sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--source", str(source),
                           "--output", str(out), "--config_path", str(cfg)],
                          capture_output=True, text=True, cwd=tmp, timeout=120)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("colliding-runs")
    make_runs(root, [RunSpec(id="coll0001", name="collide", config=COLLIDING,
                             summary={"long": "x" * 40_000, "cr": "one\rtwo", "lf": "a\nb", "q": 'say "hi", ok'})])
    return root


@pytest.mark.parametrize("ext", ["xlsx", "csv"])
def test_keys_that_collide_get_distinct_stable_columns_and_the_second_sync_writes_nothing(folders, tmp_path, ext):
    out = tmp_path / f"k.{ext}"
    first = cli(tmp_path, folders, out)
    assert first.returncode == 0, first.stderr
    row = by_id(read(out))["coll0001"]
    typed = (lambda v: v) if ext == "xlsx" else str
    assert {h: row.get(h) for h in EXPECTED} == {h: typed(v) for h, v in EXPECTED.items()}
    second = cli(tmp_path, folders, out)
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 updated, 0 kept edits, 0 columns added" in second.stdout
    assert "Traceback" not in first.stderr + second.stderr


@pytest.mark.parametrize("ext", ["xlsx", "csv"])
def test_a_duplicate_header_a_person_made_is_still_refused(folders, tmp_path, ext):
    out = tmp_path / f"k.{ext}"
    assert cli(tmp_path, folders, out).returncode == 0
    grid = [list(r) for r in read(out)]
    grid[0] = [*grid[0], "lr "]  # a person adds a second column "lr"
    write_grid(out, grid)
    again = cli(tmp_path, folders, out)
    assert again.returncode == 1
    assert "The header 'lr' appears twice" in again.stderr and "nothing was written" in again.stderr


def test_csv_quotes_a_bare_carriage_return_and_reads_it_back(folders, tmp_path):
    out = tmp_path / "k.csv"
    assert cli(tmp_path, folders, out).returncode == 0
    row = by_id(read(out))["coll0001"]
    assert (row["cr"], row["lf"], row["q"]) == ("one\rtwo", "a\nb", 'say "hi", ok')
    assert len(read(out)) == 2  # the header and one row: nothing split
    assert "0 kept edits" in cli(tmp_path, folders, out).stdout


def test_an_over_long_xlsx_text_keeps_a_visible_marker_and_is_not_taken_for_an_edit(folders, tmp_path):
    out = tmp_path / "k.xlsx"
    assert cli(tmp_path, folders, out).returncode == 0
    value = by_id(read(out))["coll0001"]["long"]
    assert len(value) == 32_767 and value.endswith(CUT_MARKER)
    assert "0 updated, 0 kept edits" in cli(tmp_path, folders, out).stdout


def test_an_over_long_xlsx_text_updates_when_wandbs_value_changes(tmp_path):
    from tests.local.test_files import Runs, run, settings_for
    from wandb_sheet_sync.sinks.local import XlsxSink
    from wandb_sheet_sync.sync import sync

    out = tmp_path / "k.xlsx"
    settings = settings_for(out, tmp_path)
    sync(Runs([run(0, summary={"long": "a" * 40_000})]), XlsxSink(out), settings)
    report = sync(Runs([run(0, summary={"long": "b" * 40_000})]), XlsxSink(out), settings)
    assert report.total("updated") == 1 and report.total("kept_edits") == 0
    cell = by_id(read(out))["run0"]["long"]
    assert cell.startswith("bbb") and cell.endswith(CUT_MARKER)
