"""The small untruths of issue 26 (item 10), each fixed: whole-step ticks and a word on mixed corpora in the
comparison, an empty length said to be empty, Ctrl+R clearing what it says and shown in the footer, the
--help epilog within 80 columns, a key label that says what it does, and the two validation counts explained."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_compare import saved_run, two_runs
from textual.widgets import Footer, Input, Static
from textual.widgets._footer import FooterKey
from tui_helpers import SMALL, WIDE, ScreenHost, run, runs_list_focused, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.generation.tokens import Token
from charrnn_tui.runs.records import CorpusRecord, write_config
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.compare import CompareScreen
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen


async def compare(pilot) -> CompareScreen:
    """Mark every saved run and open their comparison."""
    screen, runs = await runs_list_focused(pilot)
    for _ in screen.runs:
        await pilot.press("m", "down")
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), what="the comparison")
    shown = pilot.app.screen
    await wait_for(pilot, lambda: len(shown.curves) == len(screen.runs), what="the curves")
    await pilot.pause()
    return shown


def on_screen(widget) -> str:
    """The text the screen shows in the widget's region, children and all, line by line."""
    r = widget.region
    strips = widget.screen._compositor.render_strips()[r.y : r.bottom]
    return "\n".join(strip.crop(r.x, r.right).text for strip in strips)


def x_tick_row(plot) -> str:
    """The row of x tick labels: the one above the axis's label "step" (or "seconds of training")."""
    lines = on_screen(plot).splitlines()
    label = next(i for i, line in enumerate(lines) if re.search(r"\bstep\b|seconds of training", line))
    return lines[label - 1]


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
def test_compare_ticks_are_whole_steps_and_seconds(make_app, data_home: Path, size) -> None:
    # Evaluations every 103 steps: plotext's own ticks fall between whole steps (the issue saw "154.5").
    saved_run(data_home, "hamlet-a", TINY, [2.9, 2.5, 2.3], 1_000)
    rows = [{"step": 103 * (i + 1), "elapsed_s": 3.3 * (i + 1), "val_loss": v} for i, v in enumerate([2.7, 2.2, 2.1])]
    metrics = data_home / "runs" / "hamlet-a" / "metrics.jsonl"
    metrics.write_text("".join(__import__("json").dumps(r) + "\n" for r in rows))
    saved_run(data_home, "hamlet-b", TINY, [2.8, 2.4], 2_000)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            shown = await compare(pilot)
            plot = shown.query_one("#compare-plot")
            for _ in range(2):  # steps, then seconds
                assert shown.xticks and all(isinstance(t, int) for t in shown.xticks)
                row = x_tick_row(plot)
                assert not re.search(r"\d\.\d", row), row
                assert re.search(r"\d", row), row
                await pilot.press("t")
                await pilot.pause()

    run(main())


def test_compare_says_when_the_runs_learned_different_corpora(make_app, data_home: Path) -> None:
    saved_run(data_home, "hamlet-a", TINY, [2.9, 2.5], 1_000)
    other = saved_run(data_home, "macbeth-a", TINY, [2.6, 2.2], 2_000)
    write_config(other, TINY, CorpusRecord("macbeth", builtin=True))

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            shown = await compare(pilot)
            note = shown.query_one("#compare-note", Static)
            assert note.display and note.region.height > 0
            text = str(note.render())
            assert "different corpora (hamlet, macbeth)" in text and "do not compare" in text

    run(main())


def test_compare_says_nothing_more_for_runs_on_one_corpus(make_app, data_home: Path) -> None:
    two_runs(data_home)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            shown = await compare(pilot)
            assert not shown.query_one("#compare-note", Static).display

    run(main())


def generation_screen() -> GenerationScreen:
    return GenerationScreen(None, Vocab.from_text("abc \n"), "abc", "tiny model", step=10)


def test_an_empty_length_is_called_empty() -> None:
    async def main() -> None:
        screen = generation_screen()
        async with ScreenHost(screen).run_test(size=SMALL) as pilot:
            await pilot.pause()
            screen.query_one("#length", Input).value = ""
            await pilot.press("enter")
            await pilot.pause()
            status = str(screen.query_one("#gen-status", Static).render())
            assert "length is empty" in status and "got 0" not in status, status
            assert not screen.generating

    run(main())


def test_ctrl_r_clears_the_prime_too_and_the_footer_shows_it() -> None:
    async def main() -> None:
        screen = generation_screen()
        async with ScreenHost(screen).run_test(size=SMALL) as pilot:
            await pilot.pause()
            await pilot.press(*"ab")
            screen.show_tokens("ab", [Token("c", 0.5, (("c", 0.5),))])
            await pilot.pause(0.3)
            assert screen.panes[0].n_chars > 0 and screen.query_one("#prime", Input).value == "ab"
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert screen.query_one("#prime", Input).value == ""
            assert screen.panes[0].n_chars == 0
            assert "Cleared the text and the prime" in str(screen.query_one("#gen-status", Static).render())
            keys = {k.key: k for k in screen.query(FooterKey)}
            assert "ctrl+r" in keys and keys["ctrl+r"].description == "Clear"
            footer = on_screen(screen.query_one(Footer))
            for key in keys.values():  # every key of the footer drawn whole at 80 columns, none cut off
                assert f"{key.key_display} {key.description}" in footer, (key.key, footer)

    run(main())


def test_fresh_weights_keep_the_typed_prime() -> None:
    # F5's fresh copy clears the text, not the prime typed to try the new weights on.
    async def main() -> None:
        screen = generation_screen()
        async with ScreenHost(screen).run_test(size=SMALL) as pilot:
            await pilot.pause()
            await pilot.press(*"ab")
            screen.use_weights(None, 20)
            await pilot.pause()
            assert screen.query_one("#prime", Input).value == "ab"

    run(main())


EPILOG_FLAGS = {
    "--train-only", "--corpus", "--max-seconds", "--preset", "--steps", "--run-dir", "--resume",
    "--generate-only", "--prime", "--length", "--temperature", "--list-corpora", "--baseline",
}  # fmt: skip


def test_the_help_epilog_fits_80_columns_and_keeps_its_flags() -> None:
    env = {**os.environ, "COLUMNS": "80", "PYTHONIOENCODING": "utf-8"}
    out = subprocess.run(
        [sys.executable, "-m", "charrnn_tui", "--help"], capture_output=True, text=True, env=env, check=True
    ).stdout
    epilog = out[out.index("\nexamples:") :]
    long = [line for line in epilog.splitlines() if len(line) > 80]
    assert long == [], long
    assert set(re.findall(r"--[a-z][a-z-]+", epilog)) == EPILOG_FLAGS
    # A command broken over two lines is continued with a backslash, so it still pastes into a shell whole.
    lines = epilog.splitlines()
    for i, line in enumerate(lines[:-1]):
        if lines[i + 1].startswith("      --"):
            assert line.endswith(" \\"), line
    for part in ("untrusted", "PYTHONIOENCODING=utf-8", "OMP_NUM_THREADS=N", "(torchrun sets it)"):
        assert part in epilog


def test_the_inside_views_name_what_v_does(tiny, small_corpus) -> None:
    from charrnn_tui.training.trainer import Trainer
    from charrnn_tui.tui.screens.inside.cells import CellsScreen

    trainer = Trainer(small_corpus, tiny(steps=2, hidden=16, eval_interval=1000))
    trainer.run()
    model, vocab = trainer.snapshot()
    text = small_corpus.text[:400]

    async def main(view) -> None:
        screen = view(model, vocab, text, "tiny model")
        async with ScreenHost(screen).run_test(size=SMALL) as pilot:
            await wait_for(pilot, lambda: screen.result is not None, what="the view's text")
            await pilot.pause()
            keys = {k.key: k for k in screen.query(FooterKey)}
            assert keys["v"].description == "Original"
            footer = on_screen(screen.query_one(Footer))
            for key in keys.values():  # the whole footer at 80 columns (the cells view has eight keys)
                assert f"{key.key_display} {key.description}" in footer, (key.key, footer)
            title = str(screen.query_one("#inside-text").border_title)  # item 8: drawn whole at 80x24
            assert title in on_screen(screen.query_one("#inside-text")).splitlines()[0], title
            if view is SurpriseScreen:  # N characters give N-1 predictions: both figures, and why they differ
                info = str(screen.query_one("#inside-info", Static).render())
                assert f"{len(text) - 1:,} predictions over {len(text):,} characters (none for the first)" in info

    for view in (SurpriseScreen, CellsScreen):
        run(main(view))
