"""--help guides: every option explained, grouped by what it is about, the installed command in the examples, the
README's address instead of a file a pipx user does not have, and no heavy import on the way."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from wandb_sheet_sync.cli import CMD, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ["what to sync", "where to", "how often", "signing in", "files", "service"]


def _help() -> str:
    return build_parser().format_help()


@pytest.mark.parametrize("action", [a for a in build_parser()._actions], ids=lambda a: a.dest)
def test_every_option_has_help_text(action):
    assert action.help and len(action.help) > 10, f"{action.option_strings} has no help text"


def test_options_are_grouped_in_the_order_a_user_decides():
    text = _help()
    places = [text.index(f"\n{group}:\n") for group in GROUPS]
    assert places == sorted(places)
    titles = {g.title: [a.dest for a in g._group_actions] for g in build_parser()._action_groups}
    assert titles["what to sync"] == ["project", "user_name", "source"]
    assert titles["where to"] == ["sheet_name", "output"]
    assert titles["service"][:1] == ["listen"]


def test_examples_use_the_installed_command_and_defaults_are_shown():
    text = _help()
    examples = text[text.index("examples:"):]
    assert f"  {CMD} --check" in examples and f"{CMD} --listen 0.0.0.0:8080" in examples
    assert "python wandb_spreadsheet_sync.py" not in text
    assert "(default: 30" in text and "(default: INFO)" in text and "(default: ./config.json)" in text


def test_help_points_at_a_readme_the_command_prints_not_a_file(capsys):
    text = _help()
    assert f"{CMD} --readme" in text and "See README.md" not in text
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}  # main() sets its own
    try:
        assert main(["--readme"]) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    readme = capsys.readouterr().out
    assert "## Configuration reference" in readme and "GCP_JSON" in readme


def test_help_imports_none_of_the_heavy_libraries():
    code = ("import sys\nfrom wandb_sheet_sync import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('wandb', 'gspread', 'prometheus_client', 'google.auth', 'openpyxl') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_readme_into_a_reader_that_leaves_early_exits_0_without_a_traceback():
    """`--readme | grep -q ...` (the install check) or `| head`: the reader closes the pipe once it has what it
    wants, long before a README of 80 KB is written; that is no error."""
    import subprocess
    import sys
    from pathlib import Path

    entry = Path(__file__).resolve().parents[2] / "wandb_spreadsheet_sync.py"
    proc = subprocess.Popen([sys.executable, str(entry), "--readme"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.read(100)
    proc.stdout.close()  # the reader leaves
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and first.startswith(b"# wandb_spreadsheet_sync") and "Traceback" not in err
