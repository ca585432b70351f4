"""Snapshots of every screen at 120x36, fed fixed data: no torch training, clocks, paths or throughput of
this machine in the images. `pytest tests/tui --snapshot-update` rewrites them; look before committing."""

from __future__ import annotations

import math
from pathlib import Path

from textual.widgets import Input
from tui_helpers import RUN_NAME, SIZE, fake_saved_run, scripted_run

from charrnn_tui.config import TINY
from charrnn_tui.corpus import Corpus
from charrnn_tui.generate import Token
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.vocab import Vocab


async def corpus_loaded(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_corpus_screen(snap_compare, make_app, data_home: Path) -> None:
    fake_saved_run(data_home)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=corpus_loaded)


def test_training_screen(snap_compare, make_app, hamlet: Corpus) -> None:
    async def feed(pilot) -> None:
        await corpus_loaded(pilot)
        app = pilot.app
        session = app.start_training(hamlet, TINY, run_dir=Path(RUN_NAME), scripted=True)
        await pilot.pause()
        for ev in scripted_run(hamlet):
            session.on_event(ev)
        assert isinstance(app.screen, TrainingScreen)
        app.screen.redraw(force=True)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=feed)


def fixed_tokens(text: str, vocab: Vocab) -> list[Token]:
    """Tokens with confidences that vary along the text, and a fixed top-5 ending in the drawn char."""
    out = []
    for i, ch in enumerate(text):
        prob = 0.5 + 0.49 * math.sin(i * 0.7)
        top = (("e", 0.31), (" ", 0.22), ("t", 0.12), ("o", 0.08), (ch, round(prob * 0.3, 3)))
        out.append(Token(ch, prob, top))
    return out


GENERATED = (
    ", my lord.\n\nHORATIO\nWhat, has this thing appear'd again to-night?\n\nHAMLET\n"
    "I will not speak the world, and the king is the most sore.\n"
)


def test_generation_screen(snap_compare, make_app, hamlet: Corpus) -> None:
    async def feed(pilot) -> None:
        await corpus_loaded(pilot)
        vocab = Vocab.from_text(hamlet.text)
        screen = GenerationScreen(None, vocab, "Hamlet\n", "hamlet, weights of step 150")
        await pilot.app.push_screen(screen)
        await pilot.pause()
        screen.query_one("#prime", Input).value = "HAMLET"
        screen.show_tokens("HAMLET", fixed_tokens(GENERATED, vocab))
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=feed)
