"""The stored base, case by case: no cell over the limit however wide the sheet, the released v2 form still
read, and a broken part costing only what it touches."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from wandb_sheet_sync.base import ABSENT, MAGIC, MAGIC_V2, MAX_CELL_CHARS, Base, fingerprint
from wandb_sheet_sync.merge import MergeSettings, merge

GOOGLE_CELL_CHARS = 50_000  # Google refuses a write with a longer cell


def pack(values: list[int]) -> str:
    return base64.b64encode(struct.pack(f">{len(values)}I", *values)).decode()


def encode_v2(base: Base) -> list[list[str]]:
    """The released version's Base.encode (v2): one cell a value, however long."""
    headers = base.headers()
    rows = [[MAGIC_V2, json.dumps(headers, ensure_ascii=False, separators=(",", ":"))]]
    if base.look is not None:
        rows[0].append(json.dumps(base.look, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
    for run_id in base.runs:
        packed = base.runs.packed(run_id)
        if packed is None:
            packed = pack([base.runs[run_id].get(h, ABSENT) for h in headers])
        digest = base.digests.get(run_id)
        rows.append([run_id, packed] + ([pack([digest])] if digest is not None else []))
    return rows


def wide(columns: int, runs: int, name_chars: int = 60, digests: bool = True) -> Base:
    """A base of `runs` runs with a fingerprint in every one of `columns` columns, and a look for each."""
    headers = [f"c{i:05d}".ljust(name_chars, "x") for i in range(columns)]
    cells = {f"run{r}": {h: fingerprint(f"{r}/{h}") for h in headers} for r in range(runs)}
    return Base(cells, {r: 1000 + i for i, r in enumerate(cells)} if digests else {}, headers,
                {"cols": {h: "0.0000" for h in headers}, "hl": {headers[0]: {"rule": "max"}}})


def same(got: Base, want: Base) -> None:
    assert got == want  # runs and digests
    assert got.slots == want.headers() and got.look == want.look


def longest(rows: list[list[str]]) -> int:
    return max(len(str(cell).encode("utf-16-le")) // 2 for row in rows for cell in row)


def stored(base: Base, limit: int = MAX_CELL_CHARS) -> list[list[str]]:
    """The base's stored rows, once seen to have no cell over `limit` and to read back as the same base."""
    rows = base.encode(limit)
    assert longest(rows) <= limit
    same(Base.decode(rows), base)
    return rows


def test_1000_columns_of_60_character_names_round_trip_with_no_cell_over_50000_characters():
    base = wide(1_000, 3)
    assert longest(encode_v2(base)) > GOOGLE_CELL_CHARS  # what Google refused
    rows = stored(base)
    assert MAX_CELL_CHARS < GOOGLE_CELL_CHARS
    assert len(rows) == 1 + 3 and all(len(row) == 3 for row in rows[1:])  # one 3-cell row a run, as in v2


def test_10000_columns_round_trip_with_no_cell_over_50000_characters_and_one_row_a_run():
    base = wide(10_000, 2)
    rows = stored(base)
    assert len(rows) == 1 + 2 and all(len(row) == 4 for row in rows[1:])  # ~53,000 characters: two cells
    assert Base.width(rows) == max(map(len, rows)) > 4  # the header row is the widest


def test_a_released_v2_base_written_as_literal_rows_decodes_to_its_fingerprints_and_digests():
    rows = [[MAGIC_V2, '["lr","loss"]', '{"cols":{"loss":"0.0000"},"hl":{}}'],
            ["a", "AAAAAQAAAAI=", "AAAABw=="],  # fingerprints 1 and 2, digest 7
            ["b", "AAAAA/////8="]]  # loss never written, no digest
    base = Base.decode(rows)
    assert dict(base.runs) == {"a": {"lr": 1, "loss": 2}, "b": {"lr": 3}}
    assert base.digests == {"a": 7} and base.slots == ["lr", "loss"]
    assert base.look == {"cols": {"loss": "0.0000"}, "hl": {}}


def test_a_v2_base_decodes_to_the_same_fingerprints_and_is_written_back_as_v3_changing_only_its_first_row():
    base = wide(50, 4)
    v2 = encode_v2(base)
    read = Base.decode(v2)
    same(read, base)
    v3 = stored(read)
    assert v3[0][0] == MAGIC and v3[1:] == v2[1:]  # nothing split: a run's row is the same cells as before


def test_a_v2_base_too_wide_for_v3_cells_is_read_and_written_back_split():
    base = wide(1_000, 2)
    read = Base.decode(encode_v2(base))
    same(read, base)
    stored(read, limit=1_000)


def test_a_small_limit_splits_the_header_list_the_look_and_a_runs_fingerprints_and_decode_gives_them_back():
    base = wide(30, 2, name_chars=10)
    head, run0, run1 = stored(base, limit=100)
    headers, look = (int(cell.split(":", 1)[0]) for cell in head[1:3])
    assert headers > 1 and look > 1 and len(head) == 1 + headers + look
    assert run0[1].startswith("2:") and len(run0) == 4  # 30 slots, 160 characters: two cells
    assert run1[2] == pack([base.digests["run1"]])  # the digest keeps its cell


def test_a_split_value_with_no_look_or_digest_keeps_an_empty_second_cell():
    base = wide(30, 1, name_chars=10, digests=False)
    base.look = None
    rows = stored(base, limit=100)
    assert rows[0][2] == "" and rows[1][2] == ""  # cell 2 stays the look's / digest's, parts follow it


def test_cuts_avoid_formula_marks_and_spaces_and_count_characters_past_u_ffff_as_two():
    headers = [f"=SUM(A{i}) + 'x' @ -{i}  " for i in range(20)] + [f"{i}" + "🙂" * 60 for i in range(5)]
    base = Base({"a": {h: fingerprint(h) for h in headers}}, {}, headers, None)
    rows = stored(base, limit=100)
    parts = rows[0][3:] + [rows[0][1].split(":", 1)[1]]
    assert all(p[0] not in "=+-@' " and not p[-1].isspace() for p in parts)


def test_adding_a_header_rewrites_the_header_row_and_the_touched_run_only():
    old = Base.decode(wide(30, 5, name_chars=10).encode(limit=100))
    before = old.encode(limit=100)
    new = old.copy()
    new.runs["run2"] = dict(new.runs["run2"], added=fingerprint(1))
    after = stored(new, limit=100)
    assert len(after) == len(before)
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] == [0, 3]


def test_a_merge_that_adds_a_column_leaves_every_other_runs_row_as_stored():
    runs = [{"run_id": f"r{i}", "lr": i, "loss": i / 2} for i in range(4)]
    first = merge([], Base(), runs, MergeSettings(headers=("run_id", "lr", "loss")))
    grid = [["run_id", "lr", "loss"]] + [[r["run_id"], r["lr"], r["loss"]] for r in runs]
    before = first.base.encode()
    runs[1] = dict(runs[1], acc=0.9)
    plan = merge(grid, Base.decode(before), runs, MergeSettings(headers=("run_id", "lr", "loss", "acc")))
    after = plan.base.encode()
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] == [0, 2]


def test_a_broken_continuation_counts_as_no_base_for_that_run_only():
    base = wide(30, 3, name_chars=10)
    rows = base.encode(limit=100)
    rows[1] = rows[1][:-1]  # run0's last part lost
    rows[2][3] = ""  # run1's second part emptied
    got = Base.decode(rows)
    assert got.runs["run0"] == {} and got.runs["run1"] == {}  # known runs, cells a person's
    assert "run0" not in got.digests and "run1" not in got.digests
    assert got.runs["run2"] == base.runs["run2"] and got.digests["run2"] == base.digests["run2"]
    assert got.slots == base.slots and got.look == base.look


def test_a_broken_header_list_counts_as_no_base_and_a_broken_look_as_no_look():
    base = wide(30, 2, name_chars=10)
    rows = base.encode(limit=100)
    n = int(rows[0][1].split(":", 1)[0])
    no_headers = [rows[0][:2] + rows[0][3:n + 1]] + rows[1:]  # the header list's last part lost
    assert Base.decode(no_headers) == Base()
    no_look = [rows[0][:-1]] + rows[1:]  # the look's last part lost
    assert Base.decode(no_look).look is None and Base.decode(no_look) == base
    garbage = [[MAGIC, "2:[", "{}"]] + rows[1:]  # a count with no parts after it
    assert Base.decode(garbage) == Base()


def test_cells_left_over_past_a_rows_parts_are_ignored():
    base = wide(30, 2, name_chars=10)
    rows = [row + ["left over", "from a wider row"] for row in base.encode(limit=100)]
    same(Base.decode(rows), base)


def test_width_is_the_longest_row_and_never_less_than_three():
    assert Base.width([[MAGIC, "[]"], ["a", ""]]) == 3
    assert Base.width([]) == 3
    rows = wide(30, 1, name_chars=10).encode(limit=100)
    assert Base.width(rows) == max(map(len, rows)) > 3


def test_a_limit_too_small_for_a_rows_fixed_cells_is_refused():
    with pytest.raises(ValueError):
        Base().encode(limit=10)


def test_rows_read_into_a_base_read_by_need_after_a_part_wrote_a_new_column_read_over_the_stored_head():
    """A streamed sync's later part reads base rows into the base its last part left (every run unread): rows
    packed over the stored head, which names a column the last part wrote for a known run (in the run's cells,
    not yet in the slots). Read over the base's shorter slots, they would put each fingerprint under the wrong
    header; they are read over the head's."""
    base = Base()
    base.add_new("r1", {"a": 1})
    base.add_new("r2", {"a": 2})
    written = base.copy()
    written.runs["r1"] = {"a": 1, "b": 7}  # a known run's new column: in its cells, not in the slots
    rows = written.encode()
    assert json.loads(rows[0][1]) == ["a", "b"] and written.slots == ["a"]
    later = written.unread_copy()
    assert later.read_rows(rows, ["r1", "r2"], {1, 2})
    assert later.runs["r1"] == {"a": 1, "b": 7} and later.runs["r2"] == {"a": 2}
    assert later.read_rows(rows, ["r1", "r2"], {1})  # read again: the slots are the head's now
    other = Base()
    other.add_new("r1", {"z": 1})
    assert not other.read_rows(rows, ["r1", "r2"], {1}) and other.runs["r1"] == {"z": 1}  # not its head: unchanged
