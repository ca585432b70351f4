"""Snapshots of the Surprise and Cells screens at 80x24 and 120x40, on a fixed-seed untrained model (no
training: the images must not depend on this machine's arithmetic beyond the printed digits).
`pytest tests/tui/test_snapshots_inside.py --snapshot-update` rewrites them; look before committing."""

from __future__ import annotations

import pytest
import torch
from textual.app import App

from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.inside.cells import CellsScreen
from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen

TEXT = load_builtin("hamlet").text[3000:3900]


def fixed_model() -> tuple[CharRNN, Vocab]:
    vocab = Vocab.from_text(load_builtin("hamlet").text)
    torch.manual_seed(0)
    return CharRNN(len(vocab), "lstm", 2, 16, 8).eval(), vocab


class Host(App):
    def __init__(self, screen_cls) -> None:
        super().__init__()
        self.screen_cls = screen_cls

    def on_mount(self) -> None:
        self.animation_level = "none"
        model, vocab = fixed_model()
        self.push_screen(self.screen_cls(model, vocab, TEXT, "fixed-seed 2x16 LSTM"))


async def computed(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("right", "right", "down")
    await pilot.pause()


async def found(pilot) -> None:
    await computed(pilot)
    await pilot.press("f")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


class TestInsideSnapshots:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_surprise(self, snap_compare, size) -> None:
        assert snap_compare(Host(SurpriseScreen), terminal_size=size, run_before=computed)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_cells_after_find(self, snap_compare, size) -> None:
        assert snap_compare(Host(CellsScreen), terminal_size=size, run_before=found)
