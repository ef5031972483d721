"""Properties of the merge over random histories of W&B changes and people editing the sheet.

A simulated sheet (a grid of lists) is synced again and again while runs appear and change and a simulated
person edits cells, fills manual columns, adds rows of their own, deletes rows, sorts and moves columns.
After every sync: no hand edit lost, no run twice, every live run present with W&B's values where nobody
edited, and syncing again at once writes nothing; a write that lands twice, as a retried one does, changes
nothing more.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wandb_sheet_sync.base import Base, fingerprint, loosely_equal
from wandb_sheet_sync.merge import MergeSettings, Plan, apply, key_text, merge

KEYS = ("lr", "loss", "acc", "note_w", "steps")
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                   st.floats(allow_nan=False, allow_infinity=False, width=32),
                   st.text(max_size=6), st.sampled_from(["=1+1", "0.5", "nan", "TRUE", ""]))

EXAMPLES = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class World:
    """W&B (runs), the sheet (grid), the stored base, and what the simulated person did."""

    def __init__(self, seed: int, order: str = "append"):
        self.rng = random.Random(seed)
        self.order = order
        self.runs: dict[str, dict] = {}
        self.grid: list[list] = []
        self.base = Base()
        self.edited: dict[tuple[str, str], object] = {}  # (run id, header) -> what the person typed
        self.deleted: set[str] = set()
        self.manual_rows: list[list] = []  # rows without a run id, as the person wrote them
        self.manual_cells: dict[tuple[str, str], object] = {}  # (run id, manual header) -> value
        self.counter = 0

    # -- W&B -------------------------------------------------------------------------------------
    def wandb_step(self, draw) -> None:
        for _ in range(draw(st.integers(0, 3))):
            self.counter += 1
            run_id = f"r{self.counter}"
            keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS)))
            self.runs[run_id] = {k: draw(VALUES) for k in keys}
        for run_id in list(self.runs):
            if draw(st.booleans()):
                key = draw(st.sampled_from(KEYS))
                self.runs[run_id][key] = draw(VALUES)

    def incoming(self) -> list[dict]:
        return [{"run_id": rid, **{k: _clean(v) for k, v in vals.items()}} for rid, vals in self.runs.items()]

    def headers(self) -> tuple[str, ...]:
        seen = ["run_id", "notes"]
        for vals in self.runs.values():
            seen += [k for k in sorted(vals) if k not in seen]
        return tuple(seen)

    # -- the person ------------------------------------------------------------------------------------
    def header(self) -> list:
        return self.grid[0] if self.grid else []

    def run_rows(self) -> dict[str, int]:
        key = self.header().index("run_id")
        return {key_text(row[key]): r for r, row in enumerate(self.grid) if r and key < len(row) and row[key]}

    def person_step(self, draw) -> None:
        if not self.grid:
            return
        for _ in range(draw(st.integers(0, 4))):
            action = draw(st.sampled_from(["edit", "manual", "own_row", "delete", "sort", "move", "blank"]))
            rows = self.run_rows()
            header = self.header()
            if action == "edit" and rows:
                rid = draw(st.sampled_from(sorted(rows)))
                managed = [h for h in header if h in KEYS]
                if managed:
                    h = draw(st.sampled_from(managed))
                    value = draw(st.sampled_from(["mine", 42, None, "x2", True]))
                    if fingerprint(_cell(self.grid[rows[rid]], header.index(h))) != fingerprint(value):
                        self._set(rows[rid], header.index(h), value)  # typing the same value is no edit
                        self.edited[(rid, h)] = value
                        if value is None and h not in self.base.runs.get(rid, {}):
                            # Clearing a cell the tool left empty (its own typing undone) gives back the cell the
                            # tool wrote: sheet == base, so W&B's next value is written there, as it should be.
                            del self.edited[(rid, h)]
            elif action == "manual" and rows:
                rid = draw(st.sampled_from(sorted(rows)))
                value = draw(st.sampled_from(["keep", "drop", "?"]))
                self._set(rows[rid], header.index("notes"), value)
                self.manual_cells[(rid, "notes")] = value
            elif action == "own_row":
                row = [None] * len(header)
                row[header.index("notes")] = f"my row {len(self.manual_rows)}"
                self.grid.append(row)
                self.manual_rows.append(list(row))
            elif action == "delete" and rows:
                rid = draw(st.sampled_from(sorted(rows)))
                del self.grid[rows[rid]]
                self.deleted.add(rid)
            elif action == "sort" and len(self.grid) > 2:
                body = self.grid[1:]
                self.rng.shuffle(body)
                self.grid[1:] = body
            elif action == "move" and len(header) > 1:
                width = max(len(r) for r in self.grid)
                order = list(range(width))
                self.rng.shuffle(order)
                self.grid = [[(row[i] if i < len(row) else None) for i in order] for row in self.grid]
            elif action == "blank":
                self.grid.insert(draw(st.integers(1, len(self.grid))), [])

    def _set(self, r: int, c: int, value) -> None:
        row = self.grid[r]
        row.extend([None] * (c + 1 - len(row)))
        row[c] = value

    # -- the tool ------------------------------------------------------------------------------------
    def settings(self) -> MergeSettings:
        return MergeSettings(headers=self.headers(), order=self.order)

    def sync(self):
        plan = merge(self.grid, self.base, self.incoming(), self.settings())
        self.grid = apply(self.grid, plan)
        self.base = plan.base
        return plan

    def check(self) -> None:
        header = self.header()
        rows = self.run_rows()
        key = header.index("run_id")
        ids = [key_text(row[key]) for row in self.grid[1:] if key < len(row) and row[key]]
        assert len(ids) == len(set(ids)), "a run id appears twice"
        for (rid, h), value in list(self.edited.items()):
            if rid in rows:
                cell = _cell(self.grid[rows[rid]], header.index(h))
                wandb = _clean(self.runs[rid][h]) if h in self.runs[rid] else None
                if h in self.runs[rid] and loosely_equal(value, wandb) and fingerprint(cell) == fingerprint(wandb):
                    # A cell the tool left empty has no fingerprint, so it is adopted as on a new sheet: what
                    # the person typed equals W&B's value after normalisation (True and "TRUE"), and W&B's
                    # value is written typed. Nothing the person meant is lost.
                    del self.edited[(rid, h)]
                    continue
                assert fingerprint(cell) == fingerprint(value), f"hand edit lost: {rid}.{h} {value!r} -> {cell!r}"
                if h in self.runs[rid] and fingerprint(value) == fingerprint(_clean(self.runs[rid][h])):
                    del self.edited[(rid, h)]  # the person typed W&B's own value: the cell is the tool's again
        for (rid, h), value in self.manual_cells.items():
            if rid in rows:
                assert _cell(self.grid[rows[rid]], header.index(h)) == value, "a manual cell changed"
        c_notes = header.index("notes")
        own = sorted(str(_cell(r, c_notes)) for r in self.grid[1:] if not _cell(r, key)
                     and _cell(r, c_notes) is not None)
        assert own == sorted(f"my row {i}" for i in range(len(self.manual_rows))), "a person's own row changed"
        for rid, vals in self.runs.items():
            if rid in self.deleted:
                assert rid not in rows, f"deleted run {rid} came back"
                continue
            assert rid in rows, f"run {rid} missing"
            for k, v in vals.items():
                if (rid, k) not in self.edited:
                    got = _cell(self.grid[rows[rid]], header.index(k))
                    assert fingerprint(got) == fingerprint(_clean(v)), (rid, k, got, v)


def written_again(sheet: list[list], plan: Plan) -> list[list]:
    """The plan's write sent a second time and landing on `sheet`, the grid as the first copy left it: every
    cell at the absolute position the plan names (header cells, updated cells, the new rows from row
    insert_at on), over whatever is there. This is how a resent Google write lands; a write that inserts rows
    is never resent (GoogleSheetsSink.apply), so it is not modelled."""
    out = [list(row) for row in sheet]
    cells = [(0, c, h) for c, h in plan.new_headers] + plan.updates
    cells += [(plan.insert_at + i, c, v) for i, row in enumerate(plan.new_rows) for c, v in enumerate(row)]
    for r, c, v in cells:
        out.extend([] for _ in range(r + 1 - len(out)))
        out[r].extend([None] * (c + 1 - len(out[r])))
        out[r][c] = v
    return out


def _cell(row: list, c: int):
    return row[c] if c < len(row) else None


def _clean(v):
    """What columns.clean does to these values (floats whole -> int)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


@EXAMPLES
@given(st.data(), st.integers(0, 2**32))
def test_histories_of_syncs_and_edits_keep_every_promise(data, seed):
    world = World(seed)
    for _ in range(data.draw(st.integers(1, 6))):
        world.wandb_step(data.draw)
        world.sync()
        world.check()
        again = merge(world.grid, world.base, world.incoming(), MergeSettings(headers=world.headers()))
        assert not again.has_changes, "a second sync in a row wrote something"
        world.person_step(data.draw)


@EXAMPLES
@given(st.data(), st.integers(0, 2**32), st.sampled_from(["append", "newest_first"]))
def test_plan_applied_twice_gives_the_same_sheet(data, seed, order):
    """What "applying a plan twice is harmless" (merge.py) truly promises, over histories of syncs and edits.

    A Google write whose answer was lost is sent again, and the second copy lands on the sheet as the first
    left it. That is harmless only if every cell the plan writes names an absolute position that the first copy
    did not move: the header cells, the updated cells, and the new rows, placed below every row the sheet had.
    Then the second copy rewrites the same cells with the same values: the sheet is the one the first copy
    gave, with every run once. In append order this must hold for every plan. A newest-first plan that puts
    rows above existing ones inserts them; a second copy would insert them again, so the sink never resends
    it. For every plan, resent or not, the next sync reads what landed and plans no change at all.
    (Running apply() again on its own result would add the new rows again: apply() inserts them, as the first
    copy does; the second copy overwrites the rows the first one wrote.)
    """
    world = World(seed, order)
    for _ in range(data.draw(st.integers(1, 6))):
        world.wandb_step(data.draw)
        before = world.grid
        plan = world.sync()
        once = world.grid
        resent = not plan.new_rows or plan.insert_at >= max(len(before), 1)  # as GoogleSheetsSink.apply decides
        assert resent or order == "newest_first", \
            f"append order inserts new rows at row {plan.insert_at} of {len(before)}: a resent write adds them again"
        twice = written_again(once, plan) if resent else once
        assert twice == once, "the write sent a second time changed the sheet"
        key = twice[0].index("run_id")
        ids = [key_text(row[key]) for row in twice[1:] if key < len(row) and row[key]]
        assert len(ids) == len(set(ids)), f"a run is in the sheet twice: {sorted({i for i in ids if ids.count(i) > 1})}"
        next_sync = merge(twice, world.base, world.incoming(), world.settings())
        assert not next_sync.has_changes, "the sync after the write landed would write again"
        world.person_step(data.draw)


@EXAMPLES
@given(st.lists(st.dictionaries(st.sampled_from(KEYS), VALUES), min_size=1, max_size=8),
       st.permutations(range(len(KEYS) + 1)))
def test_column_order_and_row_order_never_change_what_a_sync_writes(runs, order):
    incoming = [{"run_id": f"r{i}", **{k: _clean(v) for k, v in r.items()}} for i, r in enumerate(runs)]
    headers = ("run_id",) + KEYS
    grid = apply([], merge([], Base(), incoming, MergeSettings(headers=headers)))
    base = merge([], Base(), incoming, MergeSettings(headers=headers)).base
    shuffled = [[(row + [None] * 9)[i] for i in order] for row in grid]
    shuffled = [shuffled[0]] + shuffled[1:][::-1]
    assert not merge(shuffled, base, incoming, MergeSettings(headers=headers)).has_changes
