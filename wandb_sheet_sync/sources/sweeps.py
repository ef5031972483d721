"""W&B sweeps -> Sweep records: the query wandb 0.31's own client sends (GetSweep, SweepFragment), one per sweep.

The query is the text of wandb's generated GET_SWEEP_GQL (wandb/apis/_generated/operations.py), sent through the
same GraphQL executor as the runs, so a server that answers `wandb.Api().sweep(...)` answers it. The Sweep type's
`config` is the sweep's YAML (JSON is YAML too), `name` the sweep id, `state` one of RUNNING, PAUSED, CANCELED,
FINISHED (some servers also say CRASHED or FAILED).

No cache here: one request per sweep asked about. The summary tabs keep what they learnt of each sweep
(summaries.Remembered, the one sweep cache) and ask only about the sweeps of the runs a sync read whose state is
not final, so the loop spends at most one request per sweep per sync, and none for a sweep that is done.
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


def read_sweeps(execute: Callable[[str, dict], Any], target: Target, ids: set[str], web: str) -> dict[str, Sweep]:
    """The sweeps, one request each, in id order; a sweep W&B does not show gets a row saying so."""
    out: dict[str, Sweep] = {}
    for sweep_id in sorted(ids):
        data = execute(SWEEP_QUERY, {"entity": target.entity, "project": target.project, "name": sweep_id})
        node = ((data or {}).get("project") or {}).get("sweep")
        out[sweep_id] = to_sweep(node, target, web) if node else Sweep(
            sweep_id, problem=f"W&B has no sweep {sweep_id!r} in {target.path} that this API key can see (deleted, "
                              "or in another project)")
    return out
