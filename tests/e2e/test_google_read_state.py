"""The Google sink honours the sink contract's clause on the read state: a split write stopped at any request never
leaves a stored read state newer than the cells it speaks of."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

from wandb_sheet_sync.base import Base
from wandb_sheet_sync.cli import build_clients
from wandb_sheet_sync.errors import SyncError
from wandb_sheet_sync.sinks.google_sheets import base_title
from wandb_sheet_sync.sync import SyncMemory, sync
from tests.e2e.test_failures import _ids
from tests.e2e.test_google_edges import BUDGET, _writes

NEWER = dt.datetime(2026, 2, 1)


def _stored_state(view) -> dict:
    return Base.decode(view.sheet(base_title("runs"))).read_state


def test_a_split_write_refused_at_any_request_never_stores_a_read_state_ahead_of_its_cells(e2e):
    e2e.google.world.raise_quota(per_user=10_000)  # dozens of writes in a minute: this test is not about quotas
    k, cut_short = 0, 0
    while True:
        project = f"p{k}"
        ss = e2e.google.world.add_spreadsheet(f"refused at {k}", {"Sheet1": []})
        view = dataclasses.replace(e2e, spreadsheet_id=ss.spreadsheet_id)
        settings = view.settings(REQUEST_BYTES=BUDGET, WANDB_PROJECT=project)
        e2e.wandb.world.generate(20, project=project, config_keys=12, summary_keys=12)
        source, sink = build_clients(settings, threading.Event())
        sync(source, sink, settings, SyncMemory())
        before = _stored_state(view)
        e2e.wandb.world.generate(150, project=project, seed=1, start=NEWER, config_keys=12, summary_keys=12)
        e2e.google.world.clear_log()
        e2e.google.world.arm("status", status=400, skip=k, path=":batchUpdate")
        try:
            sync(source, sink, settings, SyncMemory())
            refused = False
        except SyncError:
            refused = True
        e2e.google.world.disarm()
        stored, ids = _stored_state(view), _ids(view)
        in_wandb = sorted(r.name for r in e2e.wandb.world.project("alice", project))
        if stored != before:
            assert sorted(ids) == in_wandb, f"refused at write {k + 1}: the read state landed before its cells"
        else:
            assert refused and 20 <= len(ids) <= len(in_wandb)
            cut_short += len(ids) > 20  # some cells landed, and the state still says the last read
        if not refused:
            break
        k += 1
    print("\nrefused at each of", k, "writes; cut short with the old state:", cut_short)
    assert k >= 3 and cut_short >= 1, (k, cut_short)  # the write was split, and cut where it can bite
    assert len(_writes(view)) >= 3
