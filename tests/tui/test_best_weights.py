"""A run that overfits says so and offers its best weights for generation (b), as keep_best keeps them."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Static
from tui_helpers import run, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.training import TrainingScreen


def test_an_overfitting_run_offers_its_best_weights(make_app) -> None:
    # 4,000 characters of Hamlet: the validation loss is best near step 75 and then climbs (2.40 -> 2.78).
    text = Corpus("small", load_builtin("hamlet").text[:4000], "built-in")
    cfg = replace(TINY, device="cpu", steps=300, eval_interval=25, lr=0.01, hidden=128, batch_size=8, seq_len=32,
                  keep_best=True, checkpoint_seconds=0, val_fraction=0.2)  # fmt: skip

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            session = app.start_training(text, cfg)
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            assert screen.check_action("generate_best", ()) is False  # not offered before it overfits
            await wait_for(pilot, lambda: session.status == "finished", what="training to finish")
            screen.redraw(force=True)
            await pilot.pause()
            warning = screen.query_one("#training-warning", Static)
            assert warning.display and "b generates with them" in str(warning.render())
            assert screen.check_action("generate_best", ()) is True
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerationScreen), what="the generation screen")
            best = min(session.val_points, key=lambda p: p[1])[0]
            assert app.screen.step == best and "best weights" in app.screen.title_text

    run(main())
