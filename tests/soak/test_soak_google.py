"""Soak and chaos against Google Sheets: rounds of W&B changes, people editing, faults and killed syncs.

The real sync code (real gspread, google-auth and wandb.Api) runs against the fakes, seeded and reproducible:
SOAK_SEED picks the history. 100 rounds by default, 1,000 with --soak. After every round: no run id twice,
no hand edit / manual cell / person's row changed; after a fault-free round every live run is in the sheet
with W&B's values wherever nobody edited; a round whose write never landed left the sheet as it was. The
HIGHLIGHT rules are never added twice, and after a fault-free round sit on their columns, which the person
keeps shuffling. After a last quiet round, lost runs and cells, duplicates and stuck runs are counted from the
final sheet, printed, and must all be 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from wandb_sheet_sync.errors import SyncError
from wandb_sheet_sync.sinks import google_lease
from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink
from wandb_sheet_sync.sources.wandb_api import WandbSource
from wandb_sheet_sync.sync import SyncMemory, sync
from wandb_sheet_sync.columns import column_letters
from wandb_sheet_sync.look import formula_column
from tests.fakes import person
from tests.fakes.cells import parse_input
from tests.soak.conftest import Tally, by_kind, tally

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process, or soaks

SEED = int(os.environ.get("SOAK_SEED", "20261122"))
ENTRY = os.path.join(os.path.dirname(__file__), "..", "..", "wandb_spreadsheet_sync.py")
METRICS = ("loss", "acc", "lr")
HIGHLIGHT = {"loss": "min", "acc": "max"}


@pytest.fixture
def rounds(request) -> int:
    return 1000 if request.config.getoption("--soak") else 100


class Chaos:
    def __init__(self, e2e, rng: random.Random):
        self.e2e, self.rng = e2e, rng
        self.w = e2e.wandb.world
        self.clock = dt.datetime(2026, 3, 1)
        self.w.clock = lambda: self.clock  # W&B stamps its changes on the same clock as the runs this world makes
        self.counter = 0
        self.edited: dict[tuple[str, str], object] = {}
        self.manual: dict[str, str] = {}  # run id -> what the person typed in 'comment'
        self.own_rows: set[str] = set()
        self.deleted: set[str] = set()
        self.stats = dict(rounds=0, faults=0, kills=0, edits=0, failed_syncs=0, second_writers=0, skipped=0)
        self.actions: Counter = Counter()  # what the person did, by kind
        self.mid_sync: Counter = Counter()  # what a person did between a sync's read and its write

    # -- W&B changes -------------------------------------------------------------------------
    def wandb_changes(self) -> None:
        self.clock += dt.timedelta(minutes=30)
        for _ in range(self.rng.randint(0, 3)):
            self.counter += 1
            self.w.add_run(name=f"run{self.counter:05d}", state="running", created_at=self.clock,
                           heartbeat_at=self.clock, config={"lr": round(self.rng.random(), 6)},
                           summary={"loss": round(self.rng.random(), 6), "acc": 0.5})
        for run in self.w.project("alice", "proj"):
            if run.state == "running" and self.rng.random() < 0.4:
                roll = self.rng.random()
                run.summary["loss"] = round(self.rng.random(), 6)
                run.summary["acc"] = round(self.rng.random(), 6)
                if roll < 0.2:
                    run.state = "finished"
                elif roll < 0.25:
                    run.state = "failed"
                elif roll < 0.3:
                    run.config[f"extra{self.rng.randint(0, 3)}"] = self.rng.randint(0, 99)
                elif roll < 0.35:
                    run.tags = sorted(set(run.tags) | {self.rng.choice(["best", "check", "paper"])})
                run.heartbeat_at = self.clock

    # -- the person --------------------------------------------------------------------------
    def sheet(self):
        ss = self.e2e.google.world.spreadsheets[self.e2e.spreadsheet_id]
        return next((s for s in ss.sheets if s.title == "runs"), None)

    def grid(self) -> list[list]:
        return self.e2e.sheet() if self.sheet() is not None else []

    def set_grid(self, grid: list[list]) -> None:
        sheet = self.sheet()
        with self.e2e.google.world.lock:
            sheet.cells.clear()
            for r, row in enumerate(grid):
                for c, v in enumerate(row):
                    if v not in (None, ""):
                        sheet.put(r, c, parse_input(v, False, None))
            sheet.rows = max(sheet.rows, len(grid))
            sheet.cols = max(sheet.cols, max((len(r) for r in grid), default=1))

    def person(self) -> None:
        grid = [list(r) for r in self.grid()]
        if len(grid) < 2:
            return
        header = grid[0]
        key = header.index("run_id")
        for _ in range(self.rng.randint(0, 3)):
            rows = [r for r in range(1, len(grid)) if key < len(grid[r]) and grid[r][key]]
            action = self.rng.choice(["edit", "manual", "own", "delete", "sort", "move", "blank"])
            if action in ("edit", "manual", "delete") and not rows:
                continue
            self.actions[action] += 1
            if action == "edit":
                r = self.rng.choice(rows)
                h = self.rng.choice([m for m in METRICS if m in header])
                value = f"person-{self.stats['edits']}"
                _set(grid[r], header.index(h), value)
                self.edited[(grid[r][key], h)] = value
                self.stats["edits"] += 1
            elif action == "manual":
                if "comment" not in header:
                    header.append("comment")
                r = self.rng.choice(rows)
                value = f"note-{self.rng.randint(0, 10**6)}"
                _set(grid[r], header.index("comment"), value)
                self.manual[grid[r][key]] = value
            elif action == "own":
                text = f"my-row-{len(self.own_rows)}"
                row = [None] * len(header)
                row[(key + 1) % len(header)] = text
                grid.append(row)
                self.own_rows.add(text)
            elif action == "delete":
                r = self.rng.choice(rows)
                self.deleted.add(grid[r][key])
                del grid[r]
            elif action == "sort":
                body = grid[1:]
                self.rng.shuffle(body)
                grid[1:] = body
            elif action == "move":  # dragged in the UI: the column's formats and rules go with it
                self.set_grid(grid)
                width = max(len(r) for r in grid)
                with self.e2e.google.world.lock:
                    person.act(self.e2e.google.world.spreadsheets[self.e2e.spreadsheet_id], "move_column",
                               self.rng, sheet="runs", column=self.rng.randrange(width), to=self.rng.randrange(width))
                grid = [list(r) for r in self.grid()]
                header = grid[0]
                key = header.index("run_id")
            elif action == "blank":
                grid.insert(self.rng.randint(1, len(grid)), [])
        self.set_grid(grid)

    def arm_mid_sync(self):
        """A person who acts right after the sync's read, before its write (the fake does it then). Returns
        the armed action and what to remember once it was done, or None."""
        grid = self.grid()
        if len(grid) < 3 or self.rng.random() < 0.7:
            return None
        header, g, sid = grid[0], self.e2e.google.world, self.e2e.spreadsheet_id
        key = header.index("run_id")
        rows = [r for r in range(1, len(grid)) if key < len(grid[r]) and grid[r][key]]
        action = self.rng.choice(["sort", "insert_rows", "delete_rows", "move_column", "edit", "type_row_below"])
        remember = lambda: None  # noqa: E731
        if action == "sort":
            kw = dict(column=self.rng.randrange(len(header)), ascending=self.rng.random() < 0.5)
        elif action == "insert_rows":
            kw = dict(index=self.rng.randint(1, len(grid)), count=1)
        elif action == "delete_rows" and rows:
            r = self.rng.choice(rows)
            kw = dict(start=r, end=r + 1)
            remember = lambda: self.deleted.add(grid[r][key])  # noqa: E731
        elif action == "move_column":
            kw = dict(column=self.rng.randrange(len(header)), to=self.rng.randrange(len(header)))
        elif action == "edit" and rows and any(m in header for m in METRICS):
            r, h = self.rng.choice(rows), self.rng.choice([m for m in METRICS if m in header])
            value = f"mid-sync-{self.rng.randint(0, 10**6)}"
            kw = dict(cell=f"{column_letters(header.index(h))}{r + 1}", value=value)
            remember = lambda: self.edited.__setitem__((grid[r][key], h), value)  # noqa: E731
        elif action == "type_row_below":
            text = f"my-row-{len(self.own_rows)}-mid"
            values = [None] * len(header)
            values[(key + 1) % len(header)] = text
            kw = dict(values=values)
            remember = lambda: self.own_rows.add(text)  # noqa: E731
        else:
            return None
        return g.arm_person(sid, action, sheet="runs", **kw), remember

    def mid_sync_done(self, armed) -> bool:
        """After the sync: what the armed person did, if they got to it (the sync may have failed first)."""
        if armed is None:
            return False
        action, remember = armed
        self.e2e.google.world.people.clear()  # an action whose read never came lapses
        if not action.done:
            return False
        assert not action.error, action.error
        remember()
        self.mid_sync[action.action] += 1
        return True

    # -- faults ---------------------------------------------------------------------------------
    def arm_faults(self) -> int:
        armed = 0
        for _ in range(self.rng.choice([0, 0, 1, 1, 2, 3])):
            kind = self.rng.choice(["429", "429ra", "500", "502html", "503", "slow", "drop", "drop_after",
                                    "status_after", "slow_after"])
            path = self.rng.choice([":batchUpdate", "/values:batchGet", "/v4/spreadsheets/", "/token"])
            g = self.e2e.google.world
            if kind == "429":
                g.arm("status", status=429, path=path)
            elif kind == "429ra":
                g.arm("status", status=429, retry_after=0, path=path)
            elif kind == "500":
                g.arm("status", status=500, path=path)
            elif kind == "502html":
                g.arm("status", status=502, html=True, path=path)
            elif kind == "503":
                g.arm("status", status=503, path=path)
            elif kind == "slow":
                g.arm("slow", delay=1.5, path=path)
            elif kind == "status_after":  # Google applied the write, then answered 503
                g.arm("status_after", status=503, path=path)
            elif kind == "slow_after":  # applied, but answered after the client gave up (a timeout that landed)
                g.arm("slow_after", delay=1.5, path=path)
            else:
                g.arm(kind, path=path)
            armed += 1
        if self.rng.random() < 0.05:
            self.e2e.wandb.world.arm("status", status=503, body_contains="query Runs")
            armed += 1
        if self.rng.random() < 0.08:  # a whole round of failures: more than the retries can outlast
            path = self.rng.choice([":batchUpdate", "/values:batchGet"])
            self.e2e.google.world.arm("status", status=self.rng.choice([500, 503, 429]), count=8, path=path)
            armed += 8
        return armed

    # -- checks ---------------------------------------------------------------------------------
    def wandb_values(self) -> dict[str, dict]:
        """Run id -> header -> what W&B has now, for the columns the soak follows."""
        return {run.name: {**{h: run.summary.get(h, run.config.get(h)) for h in METRICS}, "state": run.state}
                for run in self.w.project("alice", "proj")}

    def typed(self) -> dict[tuple[str, str], object]:
        """(run id, header) -> what the person typed there and the tool must keep: hand edits and notes."""
        return {**self.edited, **{(rid, "comment"): value for rid, value in self.manual.items()}}

    def check(self, converged: bool) -> None:
        grid = self.grid()
        if not grid:
            return
        header = grid[0]
        key = header.index("run_id")
        ids = [row[key] for row in grid[1:] if key < len(row) and row[key]]
        assert len(ids) == len(set(ids)), "a run id appears twice"
        rows = {row[key]: row for row in grid[1:] if key < len(row) and row[key]}
        for (rid, h), value in self.edited.items():
            if rid in rows:
                got = _get(rows[rid], header.index(h))
                assert got == value, f"hand edit lost: {rid}.{h}: {value!r} -> {got!r}"
        for rid, value in self.manual.items():
            if rid in rows:
                assert _get(rows[rid], header.index("comment")) == value, f"manual cell of {rid} changed"
        texts = {v for row in grid[1:] if not (key < len(row) and row[key]) for v in row if v}
        assert self.own_rows <= texts, f"a person's row changed: {self.own_rows - texts}"
        assert not (self.deleted & set(rows)), f"deleted rows came back: {self.deleted & set(rows)}"
        ours = [_ours(rule) for rule in self.sheet().conditional_formats]
        ours = [o for o in ours if o is not None]
        assert len(ours) == len(set(ours)), f"a highlight rule was added twice: {ours}"
        if converged:
            assert sorted(ours) == sorted((header.index(h), goal) for h, goal in HIGHLIGHT.items() if h in header), \
                "a highlight rule is not on its column"
            for run in self.w.project("alice", "proj"):
                if run.name in self.deleted:
                    continue
                assert run.name in rows, f"run {run.name} missing after a fault-free round"
                for h in METRICS:
                    value = run.summary.get(h, run.config.get(h))
                    if (run.name, h) not in self.edited and h in header:
                        assert _get(rows[run.name], header.index(h)) == value, (run.name, h)
                assert _get(rows[run.name], header.index("state")) == run.state


def _ours(rule: dict) -> tuple[int, str] | None:
    """(column, goal) of a best-value rule the tool made; None for any other rule."""
    values = rule.get("booleanRule", {}).get("condition", {}).get("values") or [{}]
    found = formula_column(str(values[0].get("userEnteredValue", "")))
    return (rule["ranges"][0]["startColumnIndex"], found[1]) if found else None


def _get(row: list, c: int):
    v = row[c] if c < len(row) else None
    return None if v == "" else v


def _set(row: list, c: int, value) -> None:
    row.extend([None] * (c + 1 - len(row)))
    row[c] = value


def killed_sync(chaos: Chaos) -> None:
    """A sync process killed with SIGKILL: while a write is in flight (Google applies what it received), or
    between two requests of a write split under REQUEST_BYTES (the next is held and never applied)."""
    e2e = chaos.e2e
    g = e2e.google.world
    between = chaos.rng.random() < 0.5
    kind = "hold" if between else "slow"
    g.arm(kind, delay=0.5 if kind == "slow" else 30, skip=chaos.rng.randint(0, 2) if between else 0,
          path=":batchUpdate")
    proc = subprocess.Popen([sys.executable, ENTRY, "--once", "--config_path", str(e2e.tmp / "config.json")],
                            env=e2e.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not any(r.fault == kind for r in g.log[-5:]):
        time.sleep(0.02)
    time.sleep(chaos.rng.random() * 0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    g.disarm()
    deadline = time.time() + 10
    while time.time() < deadline and any(r.status == 0 for r in g.log[-5:]):
        time.sleep(0.05)  # the write that was in flight lands (or not) before anyone looks


def second_writer(chaos: Chaos) -> subprocess.Popen:
    """Another sync of the same worksheet, as a separate process started with this round's (a cron that
    overlaps itself, a rolling update): the write lease lets one write at a time (issue 23)."""
    e2e = chaos.e2e
    return subprocess.Popen([sys.executable, ENTRY, "--once", "--config_path", str(e2e.tmp / "config.json")],
                            env=e2e.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _cells_written(r) -> bool:
    """A write that carries cells: not the write lease's own (taken with its title, given back alone)."""
    requests = (r.body or {}).get("requests") or [{}] if isinstance(r.body, dict) else [{}]
    return google_lease.PREFIX not in str(r.body) and list(requests[0]) != ["deleteSheet"]


def settle(e2e) -> None:
    """Requests still in flight (a slow answer the client gave up on) land before the person acts."""
    deadline = time.time() + 10
    while time.time() < deadline and any(r.status == 0 for r in e2e.google.world.log):
        time.sleep(0.05)


def test_soak_google(e2e, rounds, capsys):
    rng = random.Random(SEED)
    chaos = Chaos(e2e, rng)
    # a write of a few dozen runs already takes several requests; a project whose quota was raised (the soak
    # sends far more than 60 requests a minute); a killed sync's lease lasts 5 s here (a waiting sync takes it
    # over then), not the default 180 s
    settings = e2e.settings(REQUEST_TIMEOUT=1, FIXED_HEADERS=["run_id", "run_name", "state", "notes"], PER_PAGE=50,
                            HIGHLIGHT=HIGHLIGHT, REQUEST_BYTES=100_000, REQUESTS_PER_MINUTE=100_000, LEASE_SECONDS=5,
                            LEASE_WAIT_SECONDS=30)
    settings = dataclasses.replace(settings, retry_base_seconds=0.01)  # the soak retries a lot: briefly
    e2e.google.world.raise_quota(per_user=100_000)
    stop = threading.Event()
    state, source = SyncMemory(), WandbSource(settings)
    sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, 1, stop,
                            settings.request_bytes, per_minute=settings.requests_per_minute,
                            retry_base=settings.retry_base_seconds, lease_seconds=settings.lease_seconds,
                            lease_wait=settings.lease_wait)
    for n in range(rounds):
        chaos.stats["rounds"] += 1
        chaos.wandb_changes()
        chaos.person()
        before = chaos.grid()
        if n and rng.random() < 0.04:
            killed_sync(chaos)
            chaos.stats["kills"] += 1
            state, sink = SyncMemory(), GoogleSheetsSink(settings.spreadsheet, settings.key_file,
                                                          settings.google_endpoint, 1, stop, settings.request_bytes,
                                                          per_minute=settings.requests_per_minute,
                                                          retry_base=settings.retry_base_seconds,
                                                          lease_seconds=settings.lease_seconds,
                                                          lease_wait=settings.lease_wait)  # restart
            chaos.check(converged=False)
            continue
        faults = chaos.arm_faults()
        chaos.stats["faults"] += faults
        acted = chaos.arm_mid_sync()
        e2e.google.world.clear_log()
        second = second_writer(chaos) if n and rng.random() < 0.1 else None
        try:
            sync(source, sink, settings, state)
            ok = True
        except SyncError:
            ok = False
            chaos.stats["failed_syncs"] += 1
        if second is not None:
            out, _ = second.communicate(timeout=300)
            chaos.stats["second_writers"] += 1
            chaos.stats["skipped"] += "skipped:" in out
            ok = ok and second.returncode == 0  # a fault it met may leave its part of the work to the next round
        e2e.google.world.disarm()
        e2e.wandb.world.disarm()
        settle(e2e)
        acted = chaos.mid_sync_done(acted)
        landed = any(":batchUpdate" in r.path and (r.status == 200 or r.fault.endswith("_after"))
                     and _cells_written(r) for r in e2e.google.world.log)
        if not ok and not landed and not acted and second is None:  # (another writer may have written)
            assert chaos.grid() == before, "a failed sync changed the sheet"
        chaos.check(converged=ok and faults == 0 and not acted)
    # a last, quiet round: everything converges; then the final sheet is counted
    sync(source, sink, settings, state)
    final = tally(chaos.grid(), chaos.wandb_values(), chaos.typed(), chaos.deleted, chaos.own_rows)
    s, people = chaos.stats, chaos.actions
    with capsys.disabled():
        print(f"\nsoak google (seed {SEED}): rounds {s['rounds']}, faults {s['faults']}, kills {s['kills']}, "
              f"failed syncs {s['failed_syncs']}, second writers {s['second_writers']} (skipped {s['skipped']}), "
              f"people's actions {by_kind(people)}, mid-sync actions "
              f"{by_kind(chaos.mid_sync)}; final sheet: {final}")
    assert final.runs and final.typed, f"the soak checked nothing: {final}"
    assert final == Tally(), f"the final sheet: {final}"
    chaos.check(converged=True)
