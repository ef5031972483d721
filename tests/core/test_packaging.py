"""The package as pip installs it: pyproject.toml agrees with requirements.txt, ships every module, and its command
points at a real function. (CI installs it into a fresh environment and runs the command: .ci/install-check.)"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _normal(lines) -> dict[str, str]:
    """name -> specifier set, as pip reads them (case, '_' vs '-', and the order of clauses do not matter)."""
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        out[re.sub(r"[-_.]+", "-", req.name).lower()] = ",".join(sorted(str(s) for s in req.specifier))
    return out


def test_the_package_dependencies_are_requirements_txt():
    from_file = _normal((ROOT / "requirements.txt").read_text().splitlines())
    assert _normal(PYPROJECT["project"]["dependencies"]) == from_file
    assert "google-auth-oauthlib" in from_file  # --login needs it
    assert "gspread" not in from_file  # the tool speaks to Google through its own client (sinks/google_http.py)


def test_every_package_folder_is_shipped():
    package = ROOT / "wandb_sheet_sync"
    folders = sorted(".".join(p.parent.relative_to(ROOT).parts) for p in package.rglob("__init__.py"))
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == folders


def test_the_command_points_at_a_function_and_the_version_resolves():
    target = PYPROJECT["project"]["scripts"]["wandb-spreadsheet-sync"]
    module, _, name = target.partition(":")
    assert callable(getattr(importlib.import_module(module), name))
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, _, name = attr.rpartition(".")
    assert re.fullmatch(r"\d+\.\d+\.\d+", getattr(importlib.import_module(module), name))
