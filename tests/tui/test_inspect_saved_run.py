"""Looking inside a saved run from the list: its model on its own validation text."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList
from tui_helpers import run, runs_listed, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.core.paths import runs_dir
from charrnn_tui.runs.folder import create_run_dir
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.trainer import Trainer
from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen


def test_i_on_a_saved_run_opens_surprise_on_its_validation_text(make_app, data_home: Path, small_text_file) -> None:
    from charrnn_tui.text.corpus import load_file

    corpus: Corpus = load_file(small_text_file)
    cfg = TINY.with_overrides(device="cpu", steps=10, eval_interval=10, log_interval=5, checkpoint_seconds=0)
    assert Trainer(corpus, cfg, create_run_dir(runs_dir(), corpus.name)).run().step == 10
    _, val = corpus.split(cfg.val_fraction)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await runs_listed(pilot)
            app.screen.query_one("#runs", OptionList).focus()
            await pilot.pause()
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, SurpriseScreen), what="the surprise view")
            assert app.screen.given == val and "step 10" in app.screen.title_text

    run(main())
