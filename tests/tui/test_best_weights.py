"""A run that overfits says so and offers its best weights for generation (b), as keep_best keeps them; a run
that holds best weights beside its last ones offers both on the generation screen (Ctrl+B): a saved one, the one
training now and the one just trained. Ctrl+B generates from copies: a paused run resumed after it goes on bit for
bit as it would have without it. Where there is no other set, Ctrl+B says why."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers.past_best import train_past_best
from textual.widgets import Input, Static
from tui_helpers import press_busy, run, shown, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import Finished
from charrnn_tui.model.checkpoint import load
from charrnn_tui.runs.listing import summarize
from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.training.trainer import Trainer
from charrnn_tui.tui.commands import offered
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.state.session import TrainingSession


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
            screen = app.screen
            best = min(session.val_points, key=lambda p: p[1])[0]
            assert screen.step == best and "best weights" in screen.title_text
            # The run ended on its best weights; its last ones are a key away, as for a saved run (issue 27).
            end, phrase = session.result.step, f"best weights, of step {best:,} (trained to step 300)"
            assert end == 300 and shown(screen.query_one("#gen-weights", Static)) == f"{phrase}; Ctrl+B: last weights"
            prime = "HAMLET"
            assert await argmax_on_screen(pilot, screen, prime, 40) == argmax_text(session.run_dir, "best", prime, 40)
            await pilot.press("ctrl+b")
            await pilot.pause()
            assert screen.step == end and screen.title_text == "small, weights of step 300"
            assert shown(screen.query_one("#gen-weights", Static)) == "weights of step 300; Ctrl+B: best weights"
            assert await argmax_on_screen(pilot, screen, prime, 40) == argmax_text(session.run_dir, "last", prime, 40)

    run(main())


async def argmax_on_screen(pilot, screen: GenerationScreen, prime: str, length: int) -> str:
    """What the screen writes after `prime` at temperature 0 (Enter), once it is done."""
    for name, value in (("#prime", prime), ("#temperature", "0"), ("#length", str(length))):
        screen.query_one(name, Input).value = value
    await pilot.press("enter")
    await wait_for(pilot, lambda: not screen.generating and screen.panes[0].n_chars == length, what="the text")
    return screen.panes[0].plain


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


# ---- the run training in this session ----------------------------------------------------------------------
# Dropout on: every step draws its masks from torch's global generator, so a draw taken from it while the run is
# paused (or weights that generation changed) would change every step after. Evaluations every 10 steps, each
# saving a checkpoint that holds the best weights so far.
LIVE = replace(TINY, device="cpu", hidden=32, embed=8, dropout=0.3, batch_size=8, seq_len=16, steps=300,
               eval_interval=10, log_interval=10, lr=0.02, keep_best=True, checkpoint_seconds=0, val_fraction=0.2,
               seed=11)  # fmt: skip
PRIME, LENGTH = "HAMLET", 40


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pinned thread count: neither run tries another mid-way, whose sums could round otherwise.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def live_text() -> Corpus:
    return Corpus("live", load_builtin("hamlet").text[:6000], "built-in")


async def pause_between_evaluations(pilot, session: TrainingSession) -> int:
    """Pause the run (p on its screen) at a step that is not an evaluation's, so that its current weights are
    not its best ones; returns that step."""
    while True:
        await wait_for(pilot, lambda: session.status == "running" and session.trainer.step >= 13, what="steps")
        await press_busy(pilot, "p")
        await wait_for(pilot, lambda: session.status == "paused", what="the pause")
        step = session.trainer.step
        if step % LIVE.eval_interval:
            return step
        await press_busy(pilot, "p")  # on an evaluation's step: on to the next and pause again
        await wait_for(pilot, lambda at=step: session.trainer.step != at, what="the run to go on")


def trained(trainer: Trainer, run_dir: Path) -> tuple[list, dict]:
    """A finished run's rows (step, losses) and its checkpoint's weights and optimiser state."""
    ckpt = load(run_dir)
    rows = [(r["step"], r["train_loss"], r.get("val_loss")) for r in trainer.history]
    tensors = {f"model.{k}": v for k, v in ckpt["model"].items()}
    tensors |= {f"best.{k}": v for k, v in ckpt["best_weights"].items()}
    tensors |= {f"adam.{i}.{k}": v for i, st in ckpt["optimizer"]["state"].items() for k, v in st.items()}
    return rows, tensors


def uninterrupted(text: Corpus, run_dir: Path) -> tuple[list, dict]:
    """The same run trained alone, in a thread of its own as the app's is."""
    trainer = Trainer(text, LIVE, run_dir, on_event=lambda event: None)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(trainer.run()))
    worker.start()
    worker.join()
    assert isinstance(done[0], Finished), done[0]
    return trained(trainer, run_dir)


async def both_sets_from_copies(pilot, app, session: TrainingSession, step: int) -> None:
    """On the paused run: generation opens on its current weights (of `step`), Ctrl+B goes to its best and back,
    each with the text it should write, and the training's own model stays as it was."""
    best = min(session.val_points, key=lambda p: p[1])[0]
    before = {k: v.clone() for k, v in session.snapshot()[0].state_dict().items()}
    await press_busy(pilot, "g")
    await wait_for(pilot, lambda: isinstance(app.screen, GenerationScreen), what="the generation screen")
    await pilot.pause()
    screen, line = app.screen, app.screen.query_one("#gen-weights", Static)
    assert screen.step == step and screen.title_text == f"live, weights of step {step:,}"
    assert shown(line) == f"weights of step {step:,}; F5: fresh copies; Ctrl+B: best weights"
    last = await argmax_on_screen(pilot, screen, PRIME, LENGTH)

    await pilot.press("ctrl+b")
    await pilot.pause()
    phrase = f"best weights, of step {best:,} (trained to step {step:,})"
    assert screen.step == best and screen.title_text == f"live, {phrase}"
    assert screen.panes[0].plain == "" and screen.generator is None  # a fresh state, the text cleared
    assert shown(screen.query_one("#gen-status", Static)).startswith(f"Now generating with {phrase}")
    assert shown(line) == f"{phrase}; Ctrl+B: last weights"  # too long for the F5 note at 80 columns
    # The best weights so far are those of the last checkpoint, saved at the evaluation since.
    best_text = await argmax_on_screen(pilot, screen, PRIME, LENGTH)
    assert best_text == argmax_text(session.run_dir, "best", PRIME, LENGTH) and best_text != last

    await pilot.press("ctrl+b")
    await pilot.pause()
    assert screen.step == step and await argmax_on_screen(pilot, screen, PRIME, LENGTH) == last
    after = session.snapshot()[0].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the training's own model untouched
    await pilot.press("escape")


def test_the_run_training_offers_its_best_weights_and_goes_on_bit_for_bit(
    make_app, one_thread, live_text: Corpus, tmp_path: Path
) -> None:
    # Issue 27: the run in training holds best weights (in memory) beside its current ones; generation offers
    # both, from copies, and the run resumed after it continues exactly as a run never paused.
    async def main() -> tuple[list, dict]:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            session = app.start_training(live_text, LIVE)
            try:
                await both_sets_from_copies(pilot, app, session, await pause_between_evaluations(pilot, session))
                await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
                await press_busy(pilot, "p")
                await wait_for(pilot, lambda: session.status == "finished", what="training to finish")
            finally:
                session.stop(save=False)  # a failed check must not leave the run paused, and the test hung
            return trained(session.trainer, session.run_dir)

    resumed = run(main())
    alone = uninterrupted(live_text, tmp_path / "alone")
    assert resumed[0] == alone[0] and len(alone[0]) == 30  # every row's losses, to the bit
    assert resumed[1].keys() == alone[1].keys()
    assert all(torch.equal(resumed[1][k], alone[1][k]) for k in alone[1]), "generation changed the run"


def test_ctrl_b_says_in_one_line_why_a_run_has_no_other_weights(make_app, live_text: Corpus) -> None:
    # keep_best off: no best weights to switch to, in the run just trained and in the same run saved.
    cfg = replace(LIVE, keep_best=False, steps=30, dropout=0.0)

    async def no_other(pilot, screen: GenerationScreen, why: str) -> None:
        status = screen.query_one("#gen-status", Static)
        assert screen.check_action("switch_weights", ()) is False  # not in the footer
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert shown(status) == f"No other weights: {why}."
        assert len(shown(status)) <= 78 and screen.step == 30  # one line at 80 columns, the weights as they were

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            session = app.start_training(live_text, cfg)
            await wait_for(pilot, lambda: session.status == "finished", what="training to finish")
            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerationScreen), what="the generation screen")
            await pilot.pause()
            await no_other(pilot, app.screen, "this run keeps no best weights (keep_best is off)")
            await pilot.press("escape")
            await pilot.pause()
            app.generate_from_run(summarize(session.run_dir))
            await wait_for(pilot, lambda: isinstance(app.screen, GenerationScreen), what="the saved run's screen")
            await pilot.pause()
            await no_other(pilot, app.screen, "it kept no best weights (it trained without keep_best)")

    run(main())
