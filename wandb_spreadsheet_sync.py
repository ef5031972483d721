#!/usr/bin/env python3
"""Keeps a Google Sheet in step with Weights & Biases runs. `python wandb_spreadsheet_sync.py --help`."""

from wandb_sheet_sync.cli import exit_now, main

if __name__ == "__main__":
    exit_now(main())
