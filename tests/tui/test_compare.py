"""Runs side by side: mark saved runs in the list, see their validation curves on one plot."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from textual.widgets import Static
from tui_helpers import run, runs_list_focused, wait_for

from charrnn_tui.core.config import FAST, TINY
from charrnn_tui.runs.records import CorpusRecord, write_checkpoint_info, write_config
from charrnn_tui.tui.screens.compare import CompareScreen

SIZE = (80, 24)


def saved_run(home: Path, name: str, config, losses: list[float], mtime: int) -> Path:
    path = home / "runs" / name
    path.mkdir(parents=True)
    write_config(path, config, CorpusRecord("hamlet", builtin=True))
    rows = [{"step": 100 * (i + 1), "elapsed_s": 10.0 * (i + 1), "val_loss": v} for i, v in enumerate(losses)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with zipfile.ZipFile(path / "checkpoint.pt", "w") as z:
        z.writestr("archive/data.pkl", b"-")
    write_checkpoint_info(
        path, step=rows[-1]["step"], best_val_loss=min(losses), last_val_loss=losses[-1], elapsed_s=1.0, kept_step=None
    )
    for f in path.iterdir():
        os.utime(f, (mtime, mtime))
    return path


def two_runs(home: Path) -> None:
    saved_run(home, "hamlet-20260101-120000", TINY, [2.9, 2.5, 2.3, 2.25], 1_000)
    saved_run(home, "hamlet-20260102-120000", FAST.with_overrides(hidden=128), [2.6, 2.0, 1.8, 1.85], 2_000)


def test_marking_two_runs_shows_their_curves_together(make_app, data_home: Path) -> None:
    two_runs(data_home)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen, runs = await runs_list_focused(pilot)
            await pilot.press("c")  # nothing marked yet: it says what to do
            await pilot.pause()
            assert any("mark two or more" in n.message for n in app._notifications)
            await pilot.press("m", "down", "m", "c")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the comparison")
            compare = app.screen
            await wait_for(pilot, lambda: len(compare.curves) == 2, what="the curves")
            legend = str(compare.query_one("#compare-legend", Static).render())
            assert "custom, lstm 2x128, best 1.800" in legend and "tiny, lstm 1x64, best 2.250" in legend
            assert compare.curves[0].steps == [100, 200, 300, 400]
            await pilot.press("t")
            assert compare.by_seconds
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen and screen.marked == {r.path for r in screen.runs}

    run(main())
