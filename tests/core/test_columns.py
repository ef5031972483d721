"""Runs to cells: which value a header names, which headers runs bring, and what a cell may hold."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from wandb_sheet_sync.columns import (BUILTIN_HEADERS, CUT_MARKER, MISSING, HeaderRules, RunView, choose_headers,
    LISTED, clean, flatten, glob_keys, listed_cells, listed_row, row_for)
from wandb_sheet_sync.run import Run
from tests.fakes.hostile_runs import hostile_config

UTC = dt.timezone.utc
RUN = Run(
    id="abc123", name="bright-sun-7", user="alice", display_user="Alice A.", state="finished",
    created_at=dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC), updated_at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
    runtime=3600.0, tags=("paper", "baseline"), group="g1", job_type="train", project="team/proj",
    url="https://wandb.ai/team/proj/runs/abc123",
    config={"lr": 0.001, "model": {"layers": 4, "act": "gelu"}, "loss": "ce"},
    summary={"train/loss": 0.25, "val": {"acc": 0.9}, "loss": 0.3, "_step": 100,
             "sample": {"_type": "image-file", "path": "x.png"}},
    system_metrics={"system.gpu.0.memoryAllocatedBytes": 8 * 2**30, "system.gpu.1.memoryAllocatedBytes": 12 * 2**30},
)


@pytest.mark.parametrize("header, expected", [
    ("run_id", "abc123"), ("run_name", "bright-sun-7"), ("user", "Alice A."),
    ("name", "Alice A."),  # the original script's meaning: the user's display name
    ("tags", "paper, baseline"), ("gpu_memory", 12.0), ("runtime", 3600.0),
    ("lr", 0.001), ("model.layers", 4),  # nested config, flattened with '.' as W&B shows it
    ("loss", "ce"),  # config before summary
    ("summary.loss", 0.3), ("config.loss", "ce"),  # prefixes force the source
    ("train_loss", 0.25), ("Train-Loss", 0.25),  # differs only in case and / . - space _
    ("val.acc", 0.9), ("missing", MISSING), ("config.train/loss", MISSING),
])
def test_header_lookup_order(header, expected):
    assert RunView(RUN).get(header) == expected


def test_run_without_user_or_gpu_has_empty_cells_not_errors():
    view = RunView(Run(id="x"))
    assert view.get("user") is None and view.get("gpu_memory") is None and view.get("name") is None


def test_flatten_keeps_media_objects_whole():
    assert flatten({"a": {"b": {"c": 1}}, "img": {"_type": "image-file"}, "empty": {}}) == \
        {"a.b.c": 1, "img": {"_type": "image-file"}, "empty": {}}


def test_dynamic_headers_are_config_then_summary_alphabetically_without_internals():
    other = Run(id="z", config={"batch": 32, "lr": 0.1}, summary={"acc": 1.0, "_runtime": 5, "_wandb": {"x": 1}})
    choice = choose_headers(["run_id", "notes"], [RunView(other), RunView(RUN)],
                            HeaderRules(fixed=("run_id", "lr", "state")))
    assert choice.headers == ["lr", "state", "batch", "loss", "model.act", "model.layers", "acc",
                              "summary.loss", "train/loss", "val.acc"]
    assert choice.dropped == []


def test_fixed_header_takes_a_key_that_differs_only_in_spelling():
    choice = choose_headers([], [RunView(RUN)], HeaderRules(fixed=("run_id", "train_loss")))
    assert "train/loss" not in choice.headers and choice.headers[:2] == ["run_id", "train_loss"]


def test_include_and_exclude_globs():
    rules = HeaderRules(fixed=("run_id",), include=("model.*", "summary.*"), exclude=("*.act", "val.*"))
    assert choose_headers([], [RunView(RUN)], rules).headers == [
        "run_id", "model.layers", "summary.loss", "train/loss"]
    assert choose_headers([], [RunView(RUN)], HeaderRules(fixed=("run_id",), dynamic=False)).headers == ["run_id"]


def test_column_cap_keeps_fixed_headers_and_names_what_it_dropped():
    wide = Run(id="w", config={f"k{i:05d}": i for i in range(20_000)})
    choice = choose_headers(["run_id", "mine"], [RunView(wide)], HeaderRules(fixed=("run_id", "state"),
                                                                              max_columns=10))
    assert choice.headers == ["state"] + [f"k{i:05d}" for i in range(7)]
    assert len(choice.dropped) == 20_000 - 7 and choice.dropped[0] == "k00007"


def test_new_key_in_a_later_run_becomes_a_new_header_only():
    existing = ["run_id", "lr", "batch", "acc"]
    later = Run(id="n", config={"lr": 1, "batch": 2, "warmup": 3}, summary={"acc": 1})
    assert choose_headers(existing, [RunView(later)], HeaderRules()).headers == ["warmup"]


@pytest.mark.parametrize("value, expected", [
    (None, None), (math.nan, None), (math.inf, None), (-math.inf, None),
    (True, True), (False, False), (3, 3), (3.0, 3), (0.25, 0.25), (2**53 + 1, str(2**53 + 1)),
    ("plain", "plain"), ("=IMPORTXML(\"x\")", "=IMPORTXML(\"x\")"),  # stays text; sinks never evaluate it
    ("a\x00b\x07c\nd\te", "abc\nd\te"), ("שלום 🚀", "שלום 🚀"),
    ([1, 2, {"a": math.nan}], '[1,2,{"a":null}]'), ({"k": "v"}, '{"k":"v"}'),
])
def test_clean_values(value, expected):
    got = clean(value, UTC)
    assert got == expected and type(got) is type(expected)


def test_long_text_is_cut_with_a_visible_marker():
    got = clean("x" * 60_000, UTC)
    assert len(got) == 50_000 and got.endswith(CUT_MARKER)


def test_times_become_datetimes_in_the_configured_zone():
    when = dt.datetime(2026, 7, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert clean(when, ZoneInfo("Europe/Berlin")) == dt.datetime(2026, 7, 1, 14, 0, 0)
    assert clean(when, ZoneInfo("America/New_York")) == dt.datetime(2026, 7, 1, 8, 0, 0)


def test_row_leaves_out_keys_the_run_does_not_have():
    row = row_for(RunView(RUN), ["run_id", "lr", "nope", "created_at"], UTC)
    assert row == {"run_id": "abc123", "lr": 0.001, "created_at": dt.datetime(2026, 3, 1, 9, 0)}


def test_pure_core_imports_no_client_library():
    code = ("import sys, wandb_sheet_sync.merge, wandb_sheet_sync.columns, wandb_sheet_sync.base; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('wandb', 'gspread', 'requests', 'google', 'openpyxl', 'urllib3')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_floats_keep_15_significant_digits_so_every_sink_reads_them_back_exactly():
    value = clean(0.21769594474914952, UTC)  # openpyxl writes 16 digits: 0.2176959447491495
    assert value == 0.217695944749150 and float(f"{value:.16g}") == value and float(repr(value)) == value


def test_keys_that_differ_only_in_spelling_each_get_a_column_and_their_own_value():
    run = Run(id="k", summary={"train/loss": 0.1, "train_loss": 0.2, "Train_Loss": 0.3})
    view = RunView(run)
    headers = choose_headers(["run_id"], [view], HeaderRules()).headers
    assert sorted(headers) == ["Train_Loss", "train/loss", "train_loss"]
    assert [view.get(h) for h in ("train/loss", "train_loss", "Train_Loss")] == [0.1, 0.2, 0.3]


def test_glob_keys_are_the_top_level_keys_whose_columns_the_globs_show():
    runs = [Run(id="a", config={"lr": 0.1, "val": {"split": 0.2}, "_wandb": {}},
                summary={"val/loss": 1.0, "train/loss": 2.0, "val/img": {"_type": "image-file"}, "_runtime": 3}),
            Run(id="b", summary={"val/acc": 0.5, "nested": {"val/deep": 1}})]
    assert glob_keys(runs, ("val*",), ()) == ({"val"}, {"val/loss", "val/acc"})  # media and internals never
    assert glob_keys(runs, (), ("train/*", "config.lr")) == ({"val"}, {"val/loss", "val/acc", "nested"})
    assert glob_keys(runs, ("*deep",), ()) == (set(), {"nested"})  # a nested name: its top-level key is asked for
    views = [RunView(r) for r in runs]
    shown = choose_headers([], views, HeaderRules(fixed=(), include=("val*",))).headers
    assert {h.split(".")[0] for h in shown} == {"val", "val/loss", "val/acc"}  # the same rule as the columns


@pytest.mark.parametrize("config, summary, expected", [
    ({"lr": 1, "lr ": 2}, {}, {"lr": 1, "lr␠": 2}),  # a trailing space is shown, not trimmed into a twin
    ({" lr": 1, "lr\t": 2, "a\nb": 3, "c\rd": 4}, {}, {"␠lr": 1, "lr␉": 2, "a␊b": 3, "c␍d": 4}),
    ({"": 1, "x\x07": 2, "\u00a0nb": 3}, {}, {"(empty key)": 1, "x␇": 2, "<U+00A0>nb": 3}),
    ({"a.b": 1, "a": {"b": 2}}, {}, {"a.b": 2, "a.b [2]": 1}),  # nested first (its path sorts first), flat suffixed
    ({"café": 1, "cafe\u0301": 2}, {}, {"café": 1, "cafe\u0301 [2]": 2}),  # the NFC spelling keeps the plain name
    ({"lr": 1, "LR": 2}, {}, {"lr": 1, "LR": 2}),  # case is kept apart as W&B keeps it
    ({"state": "mine", "run_id": "x"}, {"state": "s"}, {"config.state": "mine", "config.run_id": "x",
                                                         "summary.state": "s"}),
    ({"loss": "ce"}, {"loss": 0.3}, {"loss": "ce", "summary.loss": 0.3}),
    ({"lr": 1, "lr [2]": 2, "lr ": 3, "lr\u2420": 4}, {}, {"lr": 1, "lr [2]": 2, "lr␠": 3, "lr␠ [2]": 4}),
])
def test_every_key_gets_its_own_header_by_the_documented_rule(config, summary, expected):
    from wandb_sheet_sync.columns import key_of, names

    got = {name: value for name, (_, _, _, value) in names(config, summary).items()}
    assert got == expected
    for name, (_, dotted, _, _) in names(config, summary).items():
        if not name.startswith(("config.", "summary.")) and "[" not in name:
            assert key_of(name) == dotted  # the key a header names, to ask W&B for it


def test_a_header_a_person_typed_still_takes_a_fuzzy_match_unless_it_would_hide_a_value():
    both = Run(id="a", config={"lr": 1, "LR": 2})
    only_upper = Run(id="b", config={"LR": 3})
    assert choose_headers(["run_id", "lr"], [RunView(only_upper)], HeaderRules()).headers == []  # lr takes LR
    assert choose_headers(["run_id", "lr"], [RunView(both)], HeaderRules()).headers == ["LR"]  # else LR is lost


# ---- listed cells: the partial row of a run only listed, without its whole row -----------------------------------

_TEXT = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["=1+1", "a\tb\x07", "x" * 50_010, "", " s "]))
_HEADER = st.one_of(st.sampled_from([*BUILTIN_HEADERS, "lr", "train_loss", "config.state", "summary.notes",
                                     "Run_Name", "tags ", "state.x", "loss"]), st.text(max_size=8))


@st.composite
def _runs(draw) -> Run:
    """A run whose config, summary and history also carry keys named like the listed built-ins (a key `state`, a
    history cell under `tags`): the built-in must still win, as RunView.get has it."""
    hostile = st.dictionaries(st.sampled_from(["state", "tags", "notes", "run_name", "lr", "Run Name", "group"]),
                              st.one_of(st.integers(), st.floats(allow_nan=True), _TEXT), max_size=4)
    return Run(id=draw(st.text(min_size=1, max_size=10)), name=draw(st.text(max_size=10)),
               state=draw(st.sampled_from(["running", "finished", "", "crashed"])),
               tags=tuple(draw(st.lists(st.text(max_size=6), max_size=3))), group=draw(_TEXT),
               job_type=draw(_TEXT), notes=draw(_TEXT), user=draw(st.one_of(st.none(), st.text(max_size=5))),
               config=draw(hostile), summary=draw(hostile), history=draw(hostile))


@given(run=_runs(), headers=st.lists(_HEADER, max_size=12), zone_name=st.sampled_from(["UTC", "Asia/Kathmandu"]))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_listed_cells_equal_the_listed_part_of_the_whole_row(run, headers, zone_name):
    tz = ZoneInfo(zone_name)
    assert listed_cells(run, headers, tz) == listed_row(row_for(RunView(run), headers, tz))


def test_listed_cells_of_hostile_runs_equal_the_listed_part_of_the_whole_row():
    rng = random.Random(24)
    headers = [*BUILTIN_HEADERS, "lr", "loss", "state ", "summary.state", "config.tags"]
    for seed in range(40):
        config, summary = hostile_config(rng)
        run = dataclasses.replace(RUN, id=f"r{seed}", config=config, summary=summary,
                                  notes=config.get("=cmd"), name="=IMPORTXML(1)\x07")
        assert listed_cells(run, headers, UTC) == listed_row(row_for(RunView(run), headers, UTC)), seed


def test_every_listed_header_has_its_cell():
    run = dataclasses.replace(RUN, notes="n")
    assert set(listed_cells(run, LISTED, UTC)) == set(LISTED)
