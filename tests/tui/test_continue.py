"""Continuing a saved run in the app: its corpus comes from the run's record (path and encoding), and when
the file moved, a path field asks where it is now."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input
from tui_helpers import SMALL, run, runs_list_focused, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.core.paths import runs_dir
from charrnn_tui.runs.folder import create_run_dir
from charrnn_tui.text.corpus import load_file
from charrnn_tui.training.trainer import Trainer
from charrnn_tui.tui.screens.locate import LocateCorpusScreen
from charrnn_tui.tui.screens.training import TrainingScreen


def test_a_moved_latin1_corpus_is_asked_for_and_read_as_the_run_read_it(
    make_app, data_home: Path, small_text_file: Path, tmp_path: Path
) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes((small_text_file.read_text() + "café crème\n").encode("latin-1"))
    cfg = TINY.with_overrides(device="cpu", steps=10, eval_interval=10, log_interval=5, checkpoint_seconds=0)
    corpus = load_file(latin, "latin-1")
    run_dir = create_run_dir(runs_dir(), corpus.name)
    assert Trainer(corpus, cfg, run_dir).run().step == 10
    moved = tmp_path / "elsewhere.txt"
    latin.rename(moved)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await runs_list_focused(pilot)
            await pilot.pause()
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, LocateCorpusScreen), what="the path question")
            field = app.screen.query_one("#locate-path", Input)
            assert field.value == str(latin)  # where the run found it
            field.value = str(moved)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
            session = app.session
            await wait_for(pilot, lambda: session.status in ("finished", "failed"), what="the run to end")
            assert session.status == "finished", session.result
            assert session.started.resumed and session.result.step == 20  # another budget as long as the first

    run(main())
