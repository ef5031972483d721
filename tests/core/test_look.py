"""The look, pure: which format a column gets, when it is set up, and how highlight rules are kept right."""

from __future__ import annotations

import datetime as dt

import pytest

from wandb_sheet_sync.base import Base
from wandb_sheet_sync.layout import Layout
from wandb_sheet_sync.look import (DATE_TIME, Highlight, LookRules, best_formula, choose_format, formula_column,
    hex_color, plan_look, rule_changes, rule_kind, significant, width_of)

NOW = dt.datetime(2026, 11, 22, 9, 30)
RULES = LookRules()


@pytest.mark.parametrize("values, pattern", [
    ([0.915, 0.875, 0.94], "0.0000"),  # accuracy: 4 significant digits
    ([2.31, 1.7, 0.9], "0.000"),
    ([123.4, 99.5, 250.25], "0.0"),
    ([12345.6, 20000.5], "#,##0"),
    ([3e-4, 1e-3, 3e-3], "0.000E+00"),  # learning rates: tiny, scientific
    ([0.05, 0.2, 1, 1e7], "0.000E+00"),  # a sweep over many orders of magnitude
    ([0.5, 0.0001, 0.3], "0.000E+00"),  # one tiny value would show as 0.0001 with one digit
    ([2.5e9 + 0.5, 3.1e9 + 0.25], "0.000E+00"),  # huge: scientific too
])
def test_metrics_get_four_significant_digits_and_tiny_numbers_scientific(values, pattern):
    assert choose_format("m", values, RULES) == pattern


def test_dates_whole_numbers_text_and_empty_columns():
    assert choose_format("created_at", [NOW, None], RULES) == DATE_TIME
    assert choose_format("epoch", [1, 20, 3], RULES) == ""
    assert choose_format("run_name", ["a", "b"], RULES) == ""
    assert choose_format("flag", [True, False], RULES) == ""
    assert choose_format("mixed", [0.5, "n/a"], RULES) == ""
    assert choose_format("run_id", [0.5], RULES) == ""  # never a number format on the key
    assert choose_format("later", [None, ""], RULES) is None  # nothing to judge by yet


def test_number_formats_config_by_name_then_glob_then_digits():
    rules = LookRules(number_formats={"accuracy": "0.00%", "val_*": 2, "*": 6})
    assert choose_format("accuracy", [0.9], rules) == "0.00%"
    assert choose_format("accuracy", [], rules) == "0.00%"  # a pattern asked for by name needs no values
    assert choose_format("val_loss", [0.2345], rules) == "0.00"
    assert choose_format("loss", [0.2345], rules) == "0.000000"
    assert choose_format("epochs", [3, 4], rules) == ""  # digits apply to fractions only
    assert significant([0.2345], 1) == "0.0" and significant([2e-5], 1) == "0E+00"


def test_widths_fit_the_header_and_what_the_column_shows():
    assert width_of("x", "") == 8
    assert width_of("created_at", DATE_TIME) == 20
    assert width_of("a_rather_long_metric_name", "0.0000") == 30
    assert width_of("run_name", "", ["logreg-lr0.05"]) == 14
    assert width_of("notes", "", ["n" * 500]) == 31  # long text is cut at 30 characters
    assert width_of("h" * 100, "") == 40


def test_best_formula_is_recognised_in_any_column_and_nothing_else_is():
    assert best_formula(2, "min") == "AND(ISNUMBER(C2),C2=MIN($C$2:$C))"
    assert formula_column("=" + best_formula(27, "max")) == ("AB", "max")
    assert formula_column(best_formula(0, "min", "1048576")) == ("A", "min")
    assert formula_column("=AND(ISNUMBER(C2),D2=MIN($C$2:$C))") is None  # not the same column throughout
    assert formula_column("=C2>0.5") is None
    assert rule_kind("=" + best_formula(4, "max"), None) == ("best", "max")
    read_back = hex_color((0.34117648, 0.73333335, 0.5411765))  # Google's floats for 57BB8A
    assert rule_kind(None, ["FFFFFF", read_back]) == ("scale", "max")
    assert rule_kind(None, [read_back, "FFFFFF"]) == ("scale", "min")
    assert rule_kind(None, ["FFFFFF", "F8696B"]) is None and rule_kind("=C2>0.5", None) is None  # a person's


def _layout(header: list[str]) -> Layout:
    return Layout.of([header])


def test_a_new_sheet_is_set_up_and_remembered():
    rows = [{"run_id": "a", "created_at": NOW, "loss": 0.25, "epoch": 3, "lr": 1e-4},
            {"run_id": "b", "created_at": NOW, "loss": 0.5, "epoch": 4, "lr": 3e-4}]
    header = ["run_id", "created_at", "loss", "epoch", "lr", "notes"]
    look = plan_look(_layout(header), set(range(6)), rows, None, LookRules(highlight={"loss": "min"}))
    assert look.freeze_header
    assert [(s.header, s.number_format) for s in look.setup] == [
        ("run_id", ""), ("created_at", DATE_TIME), ("loss", "0.0000"), ("epoch", ""), ("lr", "0.000E+00"),
        ("notes", "")]
    assert look.memory["cols"]["notes"] is None  # empty so far: formatted when a value arrives
    assert look.new_row_formats == {1: DATE_TIME, 2: "0.0000", 4: "0.000E+00"}
    assert look.highlights == [Highlight("loss", 2, "min", False, None, "add")]
    again = plan_look(_layout(header), set(), rows, look.memory, LookRules(highlight={"loss": "min"}))
    assert (again.freeze_header, again.setup, again.highlights) == (False, [], []) and again.memory == look.memory


def test_a_column_first_empty_is_formatted_when_its_first_value_arrives():
    header = ["run_id", "val_loss"]
    first = plan_look(_layout(header), {0, 1}, [{"run_id": "a"}], None, RULES)
    assert first.memory["cols"]["val_loss"] is None
    later = plan_look(_layout(header), set(), [{"run_id": "a", "val_loss": 0.31}], first.memory, RULES)
    assert [(s.header, s.number_format, s.width) for s in later.setup] == [("val_loss", "0.0000", None)]
    assert later.memory["cols"]["val_loss"] == "0.0000"


def test_an_adopted_sheet_keeps_its_columns_and_only_new_ones_are_set_up():
    after = ["run_id", "loss", "accuracy"]  # the sheet had run_id and loss; the plan adds accuracy
    rows = [{"run_id": "a", "loss": 0.5, "accuracy": 0.9, "created_at": NOW}]
    look = plan_look(_layout(after), {2}, rows, None, LookRules(highlight={"loss": "min"}))
    assert not look.freeze_header
    assert [s.header for s in look.setup] == ["accuracy"]
    assert look.memory["cols"] == {"run_id": "", "loss": "", "accuracy": "0.0000"}
    assert look.new_row_formats == {2: "0.0000"}  # loss is the person's: its new cells keep the sheet's format
    assert look.owned == {2}
    dated = plan_look(_layout(["run_id", "created_at"]), set(), rows, None, RULES)
    assert dated.new_row_formats == {1: DATE_TIME} and dated.owned == set()  # shown as dates, cell by cell
    assert look.highlights == [Highlight("loss", 1, "min", False, None, "add")]


def test_highlights_moved_changed_removed_and_readded_with_a_recreated_column():
    memory = {"cols": {}, "hl": {"loss": {"col": 2, "goal": "min", "scale": False},
                                 "acc": {"col": 3, "goal": "max", "scale": False},
                                 "f1": {"col": 4, "goal": "max", "scale": False}}}
    header = ["run_id", "loss", "x", "acc", "f1"]
    look = plan_look(_layout(header), set(), [], memory, LookRules(highlight={"loss": "min", "acc": "min"}))
    assert look.highlights == [Highlight("f1", 4, None, False, 4, "remove"),
                               Highlight("loss", 1, "min", False, 2, "move"),
                               Highlight("acc", 3, "min", False, 3, "change")]
    assert look.memory["hl"] == {"loss": {"col": 1, "goal": "min", "scale": False},
                                 "acc": {"col": 3, "goal": "min", "scale": False}}
    recreated = plan_look(_layout(header), {1}, [], look.memory, LookRules(highlight={"loss": "min", "acc": "min"}))
    assert recreated.highlights == [Highlight("loss", 1, "min", False, None, "add")]


def test_rule_changes_move_in_place_keep_deletions_and_never_take_anothers_rules():
    moved = Highlight("loss", 0, "min", True, 5, "move")
    swapped = Highlight("acc", 5, "max", False, 0, "move")
    found = [(0, 5, "best", "min"), (1, 5, "scale", "min"), (2, 0, "best", "max"), (3, 9, "best", "min")]
    updates, deletes, adds = rule_changes([moved, swapped], found)
    assert updates == [(0, moved, "best"), (1, moved, "scale"), (2, swapped, "best")]
    assert deletes == [] and adds == []
    gone = Highlight("loss", 1, "min", False, 2, "move")
    assert rule_changes([gone], [(0, 7, "best", "min")]) == ([], [], [])  # deleted by a person: stays deleted
    follow = rule_changes([gone], [(0, 1, "best", "min")])  # the spreadsheet moved it with the column already
    assert follow == ([(0, gone, "best")], [], [])
    unscaled = Highlight("loss", 1, "min", False, 1, "change")
    assert rule_changes([unscaled], [(0, 1, "best", "max"), (1, 1, "scale", "max")]) == \
        ([(0, unscaled, "best")], [1], [])
    removed = Highlight("loss", 1, None, False, 1, "remove")
    assert rule_changes([removed], [(0, 1, "best", "min"), (4, 1, "scale", "min")]) == ([], [0, 4], [])
    # both columns moved one to the left and the spreadsheet moved their rules with them: acc's rule is now
    # where loss's was, and must not be taken for it
    loss, acc = Highlight("loss", 2, "min", False, 3, "move"), Highlight("acc", 3, "max", False, 4, "move")
    assert rule_changes([loss, acc], [(0, 2, "best", "min"), (1, 3, "best", "max")]) == (
        [(0, loss, "best"), (1, acc, "best")], [], [])
    fresh = Highlight("acc", 3, "max", True, None, "add")
    assert rule_changes([fresh], []) == ([], [], [(fresh, "best"), (fresh, "scale")])


def test_the_base_carries_the_look_and_an_unreadable_one_counts_as_none():
    base = Base({"a": {"loss": 1}}, look={"cols": {"loss": "0.0000"}, "hl": {}})
    rows = base.encode()
    assert Base.decode(rows).look == {"cols": {"loss": "0.0000"}, "hl": {}}
    rows[0][2] = "{broken"
    assert Base.decode(rows).look is None
    assert len(Base({"a": {"loss": 1}}).encode()[0]) == 2  # never set up (a CSV): nothing stored
