"""W&B sweeps -> Sweep records: the query wandb 0.31's own client sends (GetSweep, SweepFragment), one per sweep.

The query is the text of wandb's generated GET_SWEEP_GQL (wandb/apis/_generated/operations.py), sent through the
same GraphQL executor as the runs, so a server that answers `wandb.Api().sweep(...)` answers it. The Sweep type's
`config` is the sweep's YAML (JSON is YAML too), `name` the sweep id, `state` one of RUNNING, PAUSED, CANCELED,
FINISHED (some servers also say CRASHED or FAILED).

Caching: a sweep is asked about only when runs of it came in a sync's read, and a sweep whose state is final is
never asked about again by the same process (its config, method and state no longer change). A running sweep is
asked again in a sync whose read brought runs of it, so its state moves on; the loop thus spends at most one
request per sweep per sync, and none for a sweep that is done. `--once` starts a new process each time: it asks
once per sweep that its (full) read finds.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..config import Target
from ..run import Sweep

log = logging.getLogger("wandb_spreadsheet_sync")

SWEEP_QUERY = """
query GetSweep($name: String!, $project: String, $entity: String) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) {
      ...SweepFragment
    }
  }
}

fragment SweepFragment on Sweep {
  __typename
  id
  name
  displayName
  method
  state
  description
  bestLoss
  config
  createdAt
  updatedAt
  runCount
  runCountExpected
}
"""
FINAL_STATES = frozenset({"FINISHED", "CANCELED", "CRASHED", "FAILED"})


def parse_config(text: Any) -> dict | None:
    """A sweep's config as W&B stores it (YAML text, or JSON, which YAML reads too); None if unreadable."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str) or not text.strip():
        return None
    import yaml  # wandb depends on PyYAML

    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return config if isinstance(config, dict) else None


def to_sweep(node: dict, target: Target, web: str) -> Sweep:
    sweep_id = node.get("name") or ""
    config = parse_config(node.get("config"))
    return Sweep(id=sweep_id, name=node.get("displayName") or (config or {}).get("name") or sweep_id,
                 method=node.get("method") or (config or {}).get("method") or "", state=node.get("state") or "",
                 config=config, url=f"{web}/{target.entity}/{target.project}/sweeps/{sweep_id}",
                 problem=None if config is not None else "W&B gave no readable config for this sweep")


class SweepCache:
    """Sweeps already read, kept for the life of the source (the loop's process)."""

    def __init__(self) -> None:
        self.known: dict[tuple[Target, str], Sweep] = {}

    def fetch(self, execute: Callable[..., Any], target: Target, ids: set[str], web: str, timeout: float) -> tuple[
            dict[str, Sweep], int]:
        """The sweeps, and how many requests that took (one per sweep not known to be done)."""
        out: dict[str, Sweep] = {}
        requests = 0
        for sweep_id in sorted(ids):
            known = self.known.get((target, sweep_id))
            if known is not None and known.state.upper() in FINAL_STATES:
                out[sweep_id] = known
                continue
            data = execute(SWEEP_QUERY, {"entity": target.entity, "project": target.project, "name": sweep_id},
                           timeout=timeout)
            requests += 1
            node = ((data or {}).get("project") or {}).get("sweep")
            if not node:
                sweep = Sweep(sweep_id, problem=f"W&B has no sweep {sweep_id!r} in {target.path} that this API key "
                                                "can see (deleted, or in another project)")
            else:
                sweep = to_sweep(node, target, web)
            self.known[(target, sweep_id)] = out[sweep_id] = sweep
        return out, requests
