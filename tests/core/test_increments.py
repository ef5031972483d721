"""What an incremental sync reads, on plain data: the listing, the read state, and what comes next."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from wandb_sheet_sync.base import MAGIC, MAGIC_V2, Base
from wandb_sheet_sync.sources.increments import LearnedKeys, ReadState, choose, next_state, parse_time, stamps_of
from wandb_sheet_sync.sources.wandb_api import app_url


def node(name: str, updated: str, beat: str = "2026-01-01T00:00:00", **kw) -> dict:
    return {"name": name, "updatedAt": updated, "heartbeatAt": beat, "state": "finished", **kw}


LISTING = {"a": node("a", "2026-01-01T10:00:00"), "b": node("b", "2026-01-01T11:00:00"),
           "c": node("c", "2026-01-01T09:00:00", beat="2026-01-01T12:00:00")}


def test_only_runs_newer_than_the_last_read_are_read_in_full():
    state = ReadState(since="2026-01-01T10:30:00")
    choice = choose(state, LISTING, known={"a", "b", "c"}, keep=lambda n: True)
    assert sorted(choice.read) == ["b", "c"] and choice.listed == ["a"] and choice.missing == []


def test_a_run_read_at_its_current_stamp_is_not_read_again():
    state = ReadState(since="2026-01-01T10:30:00", fresh={"b": "2026-01-01T11:00:00", "c": "2026-01-01T11:59:00"})
    choice = choose(state, LISTING, known={"a", "b", "c"}, keep=lambda n: True)
    assert choice.read == ["c"]  # its heartbeat moved since


def test_unknown_returning_and_missing_runs():
    state = ReadState(since="2026-01-02T00:00:00", deleted=("a",))
    choice = choose(state, LISTING, known={"a", "b", "gone"}, keep=lambda n: n["name"] != "c")
    assert sorted(choice.read) == ["a"] and choice.listed == ["b"] and choice.missing == ["gone"]
    assert choose(state, LISTING, known={"a", "b"}, keep=lambda n: True).read == ["a", "c"]  # c: new


def test_next_state_is_stable_when_nothing_moved():
    first = next_state(ReadState(), stamps_of(LISTING.values()), {"a", "b", "c"}, True, 1000.0, 3.2, ())
    assert first.seen == "2026-01-01T12:00:00" and first.since == "2026-01-01T11:59:55"
    # c's stamp is the newest second the listing saw: it may change again within it, so it is not taken for read
    assert first.fresh == {} and first.full_at == 1000.0
    again = next_state(first, stamps_of(LISTING.values()), set(), False, 2000.0, 0.4, ())
    # a quiet scan (every run listed) changes only when it was made: the base is rewritten once a scan, no more
    assert again == dataclasses.replace(first, scan_at=2000.0)
    changed_only = {"c": LISTING["c"]}  # what a listing of the runs changed since `since` brings (a quiet one)
    assert next_state(first, stamps_of(changed_only.values()), set(), False, 2100.0, 0.2, (), every=False) == first
    assert next_state(first, {}, set(), False, 2100.0, 0.2, (), every=False) == first  # nothing moved at all
    assert choose(first, LISTING, {"a", "b", "c"}, lambda n: True).read == ["c"]  # read once more, at most


def test_full_reads_are_due_by_time_when_never_read_or_when_updated_at_does_not_move():
    state = ReadState(since="2026-01-01T00:00:00", full_at=1000.0)
    assert not state.needs_full(1000.0 + 3600, 24) and state.needs_full(1000.0 + 24 * 3600, 24)
    assert ReadState().needs_full(0, 24) and state.with_stale_stamps().needs_full(1001.0, 24)
    assert state.asking_full().needs_full(1001.0, 24)


def test_read_state_travels_in_row_0_and_old_bases_still_read():
    base = Base({"r1": {"loss": 7}}, read_state={"since": "2026-01-01T00:00:00", "deleted": ["r9"]})
    again = Base.decode(base.encode())
    assert again.read_state == base.read_state and again.look is None and dict(again.runs) == dict(base.runs)
    styled = Base({"r1": {"loss": 7}}, look={"cols": {"loss": "0.00"}, "hl": {}}, read_state={"since": "x"})
    decoded = Base.decode(styled.encode())
    assert decoded.look == {"cols": {"loss": "0.00"}, "hl": {}} and decoded.read_state == {"since": "x"}
    old_v3 = [[MAGIC, '["loss"]', '{"cols":{},"hl":{}}'], ["r1", "AAAABw=="]]
    old_v2 = [[MAGIC_V2, '["loss"]'], ["r1", "AAAABw=="]]
    for rows in (old_v3, old_v2):
        assert Base.decode(rows).read_state == {} and dict(Base.decode(rows).runs) == {"r1": {"loss": 7}}
    assert Base({"r1": {"loss": 7}}).encode()[0] == [MAGIC, '["loss"]']  # no state, no look: no cell


def test_run_links_follow_wandbs_own_url_rules():
    from wandb.util import api_to_app_url

    # wandb 0.31 sends W&B's cloud UI to CoreWeave Forge (its default host changed): the links go where wandb's do
    assert app_url("https://api.wandb.ai") == api_to_app_url("https://api.wandb.ai") in \
        ("https://forge.coreweave.com/wandb", "https://wandb.ai")
    assert app_url("https://api.acme.wandb.io") == "https://app.acme.wandb.io"  # dedicated cloud
    assert app_url("http://wandb.internal:8080") == "http://wandb.internal:8080"  # self-hosted
    assert app_url("https://api.wandb.ai", "https://wandb.example.com/") == \
        "https://wandb.example.com"


def test_learned_keys_are_trusted_only_under_the_globs_they_were_learned_under():
    globs = {"include": ["val/*"], "exclude": []}
    state = ReadState.from_json({"keys": {"config": ["lr"], "summary": ["val/loss"], "globs": globs}})
    assert state.learned_keys(globs) == ({"lr"}, {"val/loss"})
    assert state.learned_keys({"include": ["test/*"], "exclude": []}) is None  # other globs: learn again
    assert state.learned_keys(None) == ({"lr"}, {"val/loss"})  # DYNAMIC_HEADERS off: any learned keys
    old = ReadState(keys=LearnedKeys(("lr",), ("loss",)))  # before globs were selected, or learned with them off
    assert old.learned_keys(globs) is None and ReadState().learned_keys(globs) is None
    assert ReadState().learned_keys(None) is None
    after = next_state(state, {}, set(), False, 0.0, 0.0, ())
    assert after.keys == state.keys  # an incremental read that learns nothing keeps what was learned


# States as today's main (f5de335) stored them in base row 0: each must read back to the very same JSON, or the
# first sync after an upgrade would rewrite every sheet's base.
STORED = [
    {"since": "2026-01-01T11:59:55", "seen": "2026-01-01T12:00:00", "fresh": {}, "full_at": 1000.0},
    {"since": "2026-01-01T11:59:55", "seen": "2026-01-01T12:00:00", "fresh": {"a": "2026-01-01T11:59:58"},
     "full_at": 1767225600, "updated_moves": False, "deleted": ["r5", "r9"],
     "keys": {"config": ["lr"], "summary": ["_runtime", "loss"]}},
    {"since": "1970-01-01T00:00:00", "seen": "1970-01-01T00:00:00", "fresh": {}, "full_at": 5.5,
     "keys": {"config": [], "summary": ["val/loss"], "globs": {"include": ["val/*"], "exclude": []}}},
    {},
]


@pytest.mark.parametrize("stored", STORED)
def test_a_read_state_stored_by_todays_main_reads_back_unchanged(stored):
    state = ReadState.from_json(stored)
    assert state.to_json() == stored
    base = Base({"r1": {"loss": 7}}, read_state=stored)
    assert ReadState.from_json(Base.decode(base.encode()).read_state) == state


def test_a_broken_read_state_reads_as_never_read():
    for broken in (None, [], "x", {"since": 3, "full_at": "soon", "fresh": [], "deleted": "r1", "keys": []}):
        state = ReadState.from_json(broken)
        assert state.never_read() and state.needs_full(10.0**9, 24)


def test_a_full_read_for_the_tabs_alone_keeps_the_sheets_schedule_and_what_it_learnt():
    stored = ReadState.from_json(STORED[1])
    read = next_state(stored.asking_full(), stamps_of(LISTING.values()), {"a"}, True, 9999.0, 1.0, ["r7"],
                      LearnedKeys.of(["lr", "bs"], ["loss"]))
    kept = stored.for_tabs_only(read)
    assert (kept.since, kept.seen, kept.fresh, kept.full_at) == (stored.since, stored.seen, stored.fresh,
                                                                  stored.full_at)
    assert kept.keys == LearnedKeys(("bs", "lr"), ("loss",)) and kept.deleted == ("r7",)
    assert not kept.updated_moves  # what was learnt of updatedAt stays learnt


def test_scans_are_due_by_listing_scan_minutes_and_a_state_without_one_is_due():
    assert ReadState().scan_due(1000.0, 60)
    state = ReadState(since="2026-01-01T00:00:00", full_at=1000.0, scan_at=1000.0)
    assert not state.scan_due(1000.0 + 59 * 60, 60) and state.scan_due(1000.0 + 3600, 60)
    assert state.scan_due(1000.0, 0)  # 0: every sync lists every run
    assert state.scan_due(999.0, 60)  # a clock that went back: scan rather than trust it
    assert ReadState.from_json(state.to_json()) == state and ReadState.from_json({"scan_at": "x"}).scan_at is None


def test_a_changed_runs_listing_of_several_pages_holds_since_and_remembers_what_it_read():
    first = next_state(ReadState(), stamps_of(LISTING.values()), {"a", "b", "c"}, True, 1000.0, 3.2, ())
    moved = {"d": dt.datetime(2026, 1, 1, 12, 0, 10, tzinfo=dt.timezone.utc),
             "e": dt.datetime(2026, 1, 1, 12, 0, 20, tzinfo=dt.timezone.utc)}
    held = next_state(first, moved, {"d", "e"}, False, 1060.0, 1.0, (), every=False, hold=True)
    # since one listing behind: the newest second the first saw (12:00:00), less this listing's length (1 s) and 1 s
    assert first.since < held.since == "2026-01-01T11:59:58" and held.seen == "2026-01-01T12:00:20"
    assert held.fresh == {"d": "2026-01-01T12:00:10"}  # e: the newest second, read again next time
    assert held.scan_at == first.scan_at
    moved_on = next_state(first, moved, {"d", "e"}, False, 1060.0, 1.0, (), every=False)
    assert moved_on.since == "2026-01-01T12:00:18"


def test_changed_runs_listings_of_several_pages_sync_after_sync_keep_the_read_state_bounded():
    """A project that changes more than a page of runs between every two syncs: each listing holds `since` one
    listing back, never at the first (it stalled there, and `fresh` grew by a page of runs a sync: 324 KB of read
    state in the base's head after a dozen syncs of 1,000 changed runs at 100,000 runs)."""
    start = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    state = next_state(ReadState(), {"a": start}, {"a"}, True, 1000.0, 1.0, ())
    for n in range(1, 30):
        at = start + dt.timedelta(minutes=5 * n)
        moved = {f"r{n}-{k}": at - dt.timedelta(seconds=k) for k in range(50)}  # 50 runs over the last 50 s
        state = next_state(state, moved, set(moved), False, 1000.0 + 300 * n, 1.0, (), every=False, hold=True)
        assert parse_time(state.since) >= at - dt.timedelta(minutes=5, seconds=2)  # one listing back, no more
        assert len(state.fresh) <= 2 * 50  # the runs of this listing and the one before, at most
        # the same listing again, nothing newer (a quiet sync right after): the state stays, so nothing is written
        again = next_state(state, moved, set(), False, 1000.0 + 300 * n + 60, 1.0, (), every=False, hold=True)
        assert (again.since, again.seen, again.fresh) == (state.since, state.seen, state.fresh)
    assert all(i.startswith(("r28-", "r29-")) for i in state.fresh)


def test_a_held_listing_over_a_read_state_whose_since_is_not_a_time_starts_again_from_its_stamps():
    """A person's edit of the hidden tab can leave `since` any text: a changed-runs listing of several pages then
    moves on from what it saw, as with no `since`, and never stops the sync (max(None, ...) did)."""
    broken = ReadState(since="sometime", seen="also not a time", fresh={"a": 5})
    moved = {"d": dt.datetime(2026, 1, 1, 12, 0, 10, tzinfo=dt.timezone.utc),
             "e": dt.datetime(2026, 1, 1, 12, 0, 20, tzinfo=dt.timezone.utc)}
    state = next_state(broken, moved, {"d", "e"}, False, 1060.0, 1.0, (), every=False, hold=True)
    assert state.seen == "2026-01-01T12:00:20" and parse_time(state.since) < parse_time(state.seen)
