"""The README's demo, step by step: real training logged offline, synced into an .xlsx twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_demo_trains_syncs_shows_and_then_changes_nothing(tmp_path):
    demo = tmp_path / "demo"
    trained = run(str(ROOT / "examples" / "train.py"), "--out", str(demo), cwd=tmp_path)
    assert trained.stdout.count("finished") == 9 and "FAILED (loss is NaN)" in trained.stdout  # a sweep of 3 x 3
    sync = [str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--source", str(demo), "--output",
            str(demo / "runs.xlsx"), "--config_path", str(ROOT / "examples" / "demo_config.json")]
    first = run(*sync, cwd=tmp_path)
    assert "synced run folders -> runs: 10 new" in first.stdout and "summary tabs: 5 new rows" in first.stdout
    table = run(str(ROOT / "examples" / "show.py"), str(demo / "runs.xlsx"), cwd=tmp_path).stdout
    lines = table.split("\n\n")[0].splitlines()  # the runs tab's table
    assert lines[0].split()[:3] == ["run_id", "run_name", "state"] and "10 runs" in table
    assert sum(1 for line in lines if " failed " in line) == 1 and sum(1 for line in lines if " finished " in line) == 9
    assert "runs sweeps (1 rows):" in table and "runs groups (4 rows):" in table
    book = openpyxl.load_workbook(demo / "runs.xlsx")
    assert [t for t in book.sheetnames if book[t].sheet_state == "visible"] == ["runs", "runs sweeps", "runs groups"]
    runs = {r[0]: r for r in book["runs"].iter_rows(min_row=2, values_only=True)}
    header = [c.value for c in book["runs"][1]]
    loss = header.index("val/loss")
    best = min((r for r in runs.values() if r[loss] is not None), key=lambda r: r[loss])  # the failed run has none
    low, curve = header.index("val/loss (min)"), header.index("val/loss (curve)")  # HISTORY and CURVES
    finished = [r for r in runs.values() if r[loss] is not None]
    assert all(r[low] <= r[loss] for r in finished) and any(r[low] < r[loss] for r in finished)
    assert all(len(r[curve]) == 15 and set(r[curve]) <= set("▁▂▃▄▅▆▇█") for r in finished)  # one block an epoch
    sweep = dict(zip([c.value for c in book["runs sweeps"][1]], next(book["runs sweeps"].iter_rows(min_row=2,
                                                                                                   values_only=True))))
    assert (sweep["sweep_id"], sweep["goal"], sweep["runs"], sweep["best_run"]) == ("lrseed01", "minimize", 9, best[0])
    assert sweep["best_value"] == best[loss] and sweep["lr"] == best[header.index("lr")]
    groups = {r[0]: r for r in book["runs groups"].iter_rows(min_row=2, values_only=True)}
    assert set(groups) == {"lr=0.05", "lr=0.2", "lr=0.5", "lr=1e+07"} and groups["lr=1e+07"][2] == 0
    ws = book["runs"]
    col = {c.value: c.column_letter for c in ws[1]}
    assert ws.freeze_panes == "A2" and ws[f"{col['created_at']}2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws[f"{col['val/loss']}2"].number_format == "0.0000"
    assert ws[f"{col['lr']}2"].number_format == "0.000E+00"  # 0.05 to 1e7
    highlighted = {str(cf.sqref): r.formula[0] for cf in ws.conditional_formatting for r in cf.rules}
    v, a = col["val/loss"], col["val/acc"]
    assert highlighted == {f"{v}2:{v}1048576": f"AND(ISNUMBER({v}2),{v}2=MIN(${v}$2:${v}$1048576))",
                           f"{a}2:{a}1048576": f"AND(ISNUMBER({a}2),{a}2=MAX(${a}$2:${a}$1048576))"}
    before = (demo / "runs.xlsx").read_bytes()
    second = run(*sync, cwd=tmp_path)
    assert "0 new, 0 updated, 0 kept edits, 0 columns added" in second.stdout
    assert (demo / "runs.xlsx").read_bytes() == before


def test_local_mode_imports_no_google_or_http_client(tmp_path):
    """--source/--output needs neither requests nor google-auth: they are not even imported."""
    demo = tmp_path / "demo"
    run(str(ROOT / "examples" / "train.py"), "--out", str(demo), cwd=tmp_path)
    argv = ["--once", "--source", str(demo), "--output", str(tmp_path / "x.xlsx"),
            "--config_path", str(ROOT / "examples" / "demo_config.json")]
    probe = run("-c", f"""import sys
from wandb_sheet_sync.cli import main
assert main({argv!r}) == 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("requests", "urllib3", "gspread")
               or m.startswith(("google.auth", "google.oauth2")))
print("synced; heavy modules:", heavy)
""", cwd=ROOT)
    assert "10 new" in probe.stdout and "synced; heavy modules: []" in probe.stdout, probe.stdout
