"""wandb_spreadsheet_sync: keeps a Google Sheet (or .xlsx/.csv) in step with Weights & Biases runs."""

__version__ = "0.1.0"
