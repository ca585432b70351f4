"""Make assets/cells.svg, the README's picture of the cells view: a small LSTM trained on Hamlet for a
minute, its cells recorded over the validation text, and "find" run. Run from the repository root:

    flock /tmp/charrnn-cpu.lock python scripts/screenshot_cells.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from charrnn_tui.core.config import FAST
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.training.trainer import Trainer
from charrnn_tui.tui.app import CharRNNApp
from charrnn_tui.tui.screens.inside.cells import CellsScreen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", default="assets/cells.svg")
    args = parser.parse_args()
    corpus = load_builtin("hamlet")
    cfg = FAST.with_overrides(device="cpu", max_seconds=args.seconds, eval_interval=200, checkpoint_seconds=0)
    with tempfile.TemporaryDirectory() as home:
        trainer = Trainer(corpus, cfg, Path(home) / "run")
        print(trainer.run())
        model, vocab = trainer.snapshot()
    _, val = corpus.split(cfg.val_fraction)

    async def shoot() -> None:
        app = CharRNNApp(test_mode=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await app.push_screen(CellsScreen(model, vocab, val[:3000], f"hamlet, {cfg.max_seconds:g} s of training"))
            await app.workers.wait_for_complete()
            await pilot.press("f")
            await app.workers.wait_for_complete()
            await pilot.pause(0.5)
            app.save_screenshot(filename=Path(args.out).name, path=str(Path(args.out).parent))

    asyncio.run(shoot())


if __name__ == "__main__":
    main()
