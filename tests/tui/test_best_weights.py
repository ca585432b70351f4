"""A run that overfits says so and offers its best weights for generation (b), as keep_best keeps them; a saved
run that holds best weights beside its last ones offers both on the generation screen (Ctrl+B)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from helpers.past_best import train_past_best
from textual.widgets import Input, Static
from tui_helpers import run, shown, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.runs.listing import summarize
from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.tui.commands import offered
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


def argmax_text(run_dir: Path, which: str, prime: str, length: int) -> str:
    """What the run's `which` weights write after `prime` at temperature 0, computed in this test."""
    from charrnn_tui.generation.generator import Generator
    from charrnn_tui.model.checkpoint import load_model, weights_of

    model, vocab, ckpt = load_model(run_dir / "checkpoint.pt")
    model.load_state_dict(weights_of(ckpt, which)[0])
    gen = Generator(model, vocab)
    gen.feed(prime)
    return prime + "".join(step[0].char for step in gen.sample_rows(length, [0.0], 0, [None]))


def test_a_run_stopped_past_its_best_offers_its_best_weights_and_back(make_app, tmp_path) -> None:
    # Issue 27: a run continued past its best and stopped there generates with its last weights; its best ones,
    # kept in checkpoint.pt, are one key away (and a palette command), and the same key goes back.
    run_dir = tmp_path / "past-best"
    end = train_past_best(run_dir)
    best_step = summarize(run_dir).best_step
    assert best_step is not None and best_step < end.step
    prime, length = "HAMLET", 40

    async def generated(pilot, screen: GenerationScreen) -> str:
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.generating and screen.panes[0].n_chars == length, what="the text")
        return screen.panes[0].plain

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.generate_from_run(summarize(run_dir))
            await wait_for(pilot, lambda: isinstance(app.screen, GenerationScreen), what="the generation screen")
            await pilot.pause()
            screen = app.screen
            weights_line = screen.query_one("#gen-weights", Static)
            assert screen.step == end.step and screen.title_text.endswith(f", weights of step {end.step:,}")
            assert shown(weights_line) == f"weights of step {end.step:,}; Ctrl+B: best weights"
            assert "Switch weights: the best or the last" in [name for name, _, _ in offered(screen)]
            screen.query_one("#prime", Input).value = prime
            screen.query_one("#temperature", Input).value = "0"
            screen.query_one("#length", Input).value = str(length)
            last = await generated(pilot, screen)
            assert last == argmax_text(run_dir, "last", prime, length)

            await pilot.press("ctrl+b")
            await pilot.pause()
            phrase = f"best weights, of step {best_step:,} (trained to step {end.step:,})"
            assert screen.step == best_step and screen.title_text.endswith(f", {phrase}") and phrase in screen.sub_title
            assert screen.panes[0].plain == "" and screen.generator is None  # a fresh state, the text cleared
            assert shown(weights_line) == f"{phrase}; Ctrl+B: last weights"
            best = await generated(pilot, screen)
            assert best == argmax_text(run_dir, "best", prime, length) and best != last

            await pilot.press("ctrl+b")
            await pilot.pause()
            assert screen.step == end.step and screen.title_text.endswith(f", weights of step {end.step:,}")
            assert await generated(pilot, screen) == last

    run(main())
