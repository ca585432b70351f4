"""Snapshots of the generation screen at 80x24 and 120x40, one column and four, fed fixed tokens (no model,
no clock). `pytest tests/tui/test_snapshots_generation.py --snapshot-update` rewrites them; look first."""

from __future__ import annotations

import math

import pytest
from textual.widgets import Input

from charrnn_tui.generation.tokens import Token
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.generation import GenerationScreen

GENERATED = (
    ", my lord.\n\nHORATIO\nWhat, has this thing appear'd again to-night?\n\nHAMLET\n"
    "I will not speak the world, and the king is the most sore.\n"
)
TEMPERATURES = ("0", "0.5", "0.8", "1.2")


def tokens(text: str, shift: int) -> list[Token]:
    """Confidences that vary along the text, and a fixed top 5 with the drawn character last."""
    out = []
    for i, ch in enumerate(text):
        prob = 0.5 + 0.49 * math.sin((i + shift) * 0.7)
        top = (("e", 0.31), (" ", 0.22), ("t", 0.12), ("o", 0.08), (ch, round(prob * 0.3, 3)))
        out.append(Token(ch, prob, top))
    return out


class TestGenerationScreen:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
    @pytest.mark.parametrize("columns", [1, 4])
    def test_screen(self, snap_compare, make_app, hamlet: Corpus, size, columns) -> None:
        async def feed(pilot) -> None:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            screen = GenerationScreen(
                None, Vocab.from_text(hamlet.text), "Hamlet\n", "hamlet, weights of step 150", step=150, live=True
            )
            await pilot.app.push_screen(screen)
            await pilot.pause()
            while screen.columns != columns:
                await pilot.press("ctrl+l")
            screen.query_one("#prime", Input).value = "HAMLET"
            if columns > 1:
                screen.query_one("#temperature", Input).value = " ".join(TEMPERATURES[:columns])
            rows = [tokens(GENERATED[7 * k :] + GENERATED[: 7 * k], k) for k in range(columns)]
            steps = [tuple(row[i] for row in rows) for i in range(len(GENERATED))]
            screen.show_tokens("HAMLET", steps)
            await pilot.pause()
            await pilot.pause()

        assert snap_compare(make_app(), terminal_size=size, run_before=feed)


KOREAN = "한국어 Char-RNN 모델이 글을 씁니다. 문장은 단어 사이에서 줄을 바꿉니다.\n"
KOREAN_TOP = (("다", 0.41), ("C", 0.2), ("h", 0.11), ("니", 0.06), ("é", 0.02))


def test_korean_and_latin_at_80x24_with_the_prime_placeholder(snap_compare, make_app) -> None:
    # Issue 26 items 8 and 9: the empty prime's placeholder and the legend whole at 80x24; the guesses' two-cell
    # labels in one column with the Latin ones (their percentages and bars line up); the text wrapped at spaces.
    async def feed(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        screen = GenerationScreen(None, Vocab.from_text(KOREAN + "HAMLET"), "한국어\n", "korean, weights of step 40",
                                  step=40)  # fmt: skip
        await pilot.app.push_screen(screen)
        await pilot.pause()
        screen.show_tokens(None, [Token(ch, 0.3 + 0.6 * (i % 3) / 2, KOREAN_TOP) for i, ch in enumerate(KOREAN)])
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=feed)
