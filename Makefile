# One-command entry points. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test test-fast lint demo bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest -q

# The quick loop while working: everything but the tests marked slow (soaks, 10,000+ runs, many CLI processes).
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

# The rule set and why: pyproject.toml [tool.ruff].
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The local demo: trains a tiny model offline, syncs the runs into demo/runs.xlsx, shows the table,
# then syncs again to show that nothing changes. No accounts, no network.
demo: $(VENV)/.installed
	rm -rf demo && mkdir -p demo
	$(PY) examples/train.py --out demo
	$(PY) wandb_spreadsheet_sync.py --once --source demo --output demo/runs.xlsx --config_path examples/demo_config.json
	@echo
	$(PY) examples/show.py demo/runs.xlsx
	@echo
	@echo "Second sync (nothing changed, so nothing is written):"
	$(PY) wandb_spreadsheet_sync.py --once --source demo --output demo/runs.xlsx --config_path examples/demo_config.json
