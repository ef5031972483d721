"""Settings for tests that sync in-process: the one way to make them, as the command line would."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from wandb_sheet_sync import config
from wandb_sheet_sync.cli import build_parser

FIXED = ("run_id", "run_name", "state", "created_at", "notes")


def settings_for(output: Path, tmp: Path, source: Path | None = None, file: dict | None = None,
                 **changes) -> config.Settings:
    """The Settings of `--once --source <source> --output <output>` with a config file holding `file` (default: only
    TIMEZONE UTC and FIXED_HEADERS FIXED; never the repository's example config.json), then `changes` to fields.
    Runs come from `source`, else from tmp."""
    path = tmp / "test-config.json"
    path.write_text(json.dumps(file if file is not None else {"TIMEZONE": "UTC", "FIXED_HEADERS": list(FIXED)}))
    args = build_parser().parse_args(["--once", "--source", str(source or tmp), "--output", str(output),
                                      "--config_path", str(path)])
    return dataclasses.replace(config.load(args, {}), **changes)
