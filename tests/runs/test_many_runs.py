"""Thousands of saved runs: listed whole and in order, from their small records alone (no checkpoint read)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.run_folders import copy_runs, metrics_rows, train_template

from charrnn_tui.runs.folder import CHECKPOINT_NAME, METRICS_NAME
from charrnn_tui.runs.listing import PAGE, TAIL_BYTES, iter_runs, last_row_problem, list_runs

MANY = 3000

# Lists the runs under argv[1] in a fresh interpreter that records every file it opens (an audit hook sees
# each open(), whatever opens it) and says whether torch was imported.
LISTER = """
import json, sys
root = sys.argv[1]
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(root):
        opened.append(args[0])
sys.addaudithook(hook)
from pathlib import Path
from charrnn_tui.runs.listing import list_runs
runs = list_runs(Path(root))
print(json.dumps({
    "names": [r.name for r in runs],
    "steps": [r.step for r in runs],
    "problems": {r.name: r.problem for r in runs if r.problem},
    "opened": opened,
    "torch": "torch" in sys.modules,
}))
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_template(tmp_path_factory.mktemp("template") / "run")


@pytest.fixture(scope="module")
def many(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many") / "runs"
    copy_runs(template, root, MANY)
    return root


def test_3000_runs_are_listed_from_their_records_without_opening_a_checkpoint(many: Path, tmp_path: Path) -> None:
    # Two damaged runs among them: their damage is still found, and only the unvouched checkpoint is opened.
    root = tmp_path / "runs"
    root.symlink_to(many, target_is_directory=True)
    cut, torn = many / "hamlet-20260101-000007", many / "hamlet-20260101-000008"
    weights = (cut / CHECKPOINT_NAME).read_bytes()
    metrics = (torn / METRICS_NAME).read_bytes()
    try:
        (cut / CHECKPOINT_NAME).write_bytes(weights[:500])  # a copy cut short: checkpoint.json no longer matches it
        with open(torn / METRICS_NAME, "a") as f:
            f.write('{"step": 10')  # a row cut short by a crash
        for path in (cut / CHECKPOINT_NAME, torn / METRICS_NAME):  # keep their places in the order
            stamp = (path.parent / "config.json").stat().st_mtime_ns
            os.utime(path, ns=(stamp, stamp))
        done = subprocess.run(
            [sys.executable, "-c", LISTER, str(root)], capture_output=True, text=True, timeout=300, check=True
        )
    finally:
        for path, data in ((cut / CHECKPOINT_NAME, weights), (torn / METRICS_NAME, metrics)):
            stamp = (path.parent / "config.json").stat().st_mtime_ns
            path.write_bytes(data)
            os.utime(path, ns=(stamp, stamp))
    out = json.loads(done.stdout)
    assert not out["torch"]
    assert len(out["names"]) == MANY
    # Newest first; each run's own step from its checkpoint.json (the cut one has none it can vouch for).
    assert out["names"][:2] == ["hamlet-20260101-002999", "hamlet-20260101-002998"]
    assert out["steps"][0] == 1000 + 2999
    assert sum(step is None for step in out["steps"]) == 1
    assert set(out["problems"]) == {cut.name, torn.name}
    assert "checkpoint.pt is damaged" in out["problems"][cut.name]
    assert "unreadable row" in out["problems"][torn.name]
    assert sum(p.endswith("config.json") for p in out["opened"]) == MANY  # the hook sees the records read
    opened_checkpoints = [p for p in out["opened"] if p.endswith(CHECKPOINT_NAME)]
    assert opened_checkpoints == [str(root / cut.name / CHECKPOINT_NAME)]


def test_pages_come_newest_first_and_make_the_whole_list(many: Path) -> None:
    pages = list(iter_runs(many))
    assert [len(p) for p in pages] == [PAGE] * (MANY // PAGE)
    assert [r.path for page in pages for r in page] == [r.path for r in list_runs(many)]


def test_only_the_last_metrics_row_is_read_and_a_long_one_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / METRICS_NAME
    path.write_text(metrics_rows(500))
    assert last_row_problem(path) is None
    long_row = json.dumps({"step": 5001, "train_loss": 1.0, "note": "x" * (3 * TAIL_BYTES)})
    path.write_text(metrics_rows(500) + long_row + "\n\n")
    assert last_row_problem(path) is None  # longer than the tail first read: read further back, whole
    path.write_text(long_row[:-1])
    assert "unreadable row" in last_row_problem(path)
    path.write_text("")
    assert last_row_problem(path) is None
