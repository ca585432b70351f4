"""What users can get wrong in the app ends as a message on screen, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static
from tui_helpers import SIZE, fake_saved_run, run, runs_listed, scripted_run, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import Failed, Step
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.widgets.generated_text import GeneratedText


def shown(widget: Static) -> str:
    return str(widget.content)


def make_bad(kind: str, tmp_path: Path) -> tuple[str, str]:
    """A bad corpus path and the words its message must contain."""
    if kind == "missing":
        return str(tmp_path / "nope.txt"), "not found"
    if kind == "binary":
        (tmp_path / "blob.bin").write_bytes(b"\x7fELF\x00\x01\x02" * 100)
        return str(tmp_path / "blob.bin"), "looks binary"
    if kind == "empty":
        (tmp_path / "empty.txt").write_text("  \n")
        return str(tmp_path / "empty.txt"), "is empty"
    if kind == "directory":
        return str(tmp_path), "is a directory"
    (tmp_path / "latin.txt").write_bytes("caf\xe9 ".encode("latin-1") * 50)
    return str(tmp_path / "latin.txt"), "--encoding latin-1"


@pytest.mark.parametrize("kind", ["missing", "binary", "empty", "directory", "not-utf8"])
def test_bad_corpus_file_is_a_message(make_app, tmp_path: Path, kind: str) -> None:
    path, words = make_bad(kind, tmp_path)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.corpus is not None, what="Hamlet to load")
            field = screen.query_one("#path", Input)
            field.focus()
            # The path is set rather than typed key by key: each key the pilot presses waits for the app to go
            # idle (about 0.1 s here), and a temporary path is 50-70 keys. The field changes and is submitted
            # with Enter as when typed.
            field.value = path
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            info = shown(screen.query_one("#corpus-info", Static))
            assert words in info
            assert screen.corpus is None and screen.query_one("#train", Button).disabled
            await pilot.press("ctrl+t")  # refused: no corpus
            await pilot.pause()
            assert isinstance(app.screen, CorpusScreen) and app.is_running
            # and the user can go on: a good choice clears it
            screen.query_one("#plays").focus()
            await pilot.press("down")
            await wait_for(pilot, lambda: screen.corpus is not None, what="the next play")
            assert not screen.query_one("#train", Button).disabled

    run(main())


def test_invalid_settings_block_training(make_app) -> None:
    async def main() -> None:
        app = make_app(preset="tiny")
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.corpus is not None, what="Hamlet to load")
            screen.query_one("#set-n_layers", Input).focus()
            await pilot.press("ctrl+a", "ctrl+k", "0")
            await pilot.pause()
            assert "layers must be at least 1" in shown(screen.query_one("#settings-error", Static))
            assert screen.query_one("#train", Button).disabled
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert isinstance(app.screen, CorpusScreen)
            # a batch the corpus cannot fill is refused with the engine's reason
            await pilot.press("ctrl+a", "ctrl+k", "1")
            screen.query_one("#set-batch_size", Input).value = "100000"
            await pilot.pause()
            assert "lower --batch-size or --seq-len" in shown(screen.query_one("#settings-error", Static))

    run(main())


def test_failed_training_is_shown_and_the_app_lives(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            session = app.start_training(hamlet, TINY, run_dir=Path("demo"), scripted=True)
            await pilot.pause()
            for ev in scripted_run(hamlet, until=20):
                session.on_event(ev)
            session.on_event(Step(21, float("nan"), 0.01, 1.0, 1.0, None, None))
            session.on_event(Failed(21, "the loss became nan at step 21: training diverged", "demo", None))
            await pilot.pause(0.4)
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            error = screen.query_one("#training-error", Static)
            assert error.display and "training diverged" in shown(error)
            assert any("diverged" in n.message for n in app._notifications)
            await pilot.press("escape")  # back to the corpus screen: the app is fine
            assert isinstance(app.screen, CorpusScreen)

    run(main())


def test_prime_with_unseen_characters_is_an_inline_message(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = GenerationScreen(None, Vocab.from_text("abc \n"), "ab", "test")
            await app.push_screen(screen)
            await pilot.pause()
            await pilot.press(*"cab Жx", "enter")
            await pilot.pause()
            status = shown(screen.query_one("#gen-status", Static))
            assert "never saw 'Ж' 'x'" in status
            assert screen.query_one(GeneratedText).plain == "" and not screen.generating

    run(main())


def corrupt_run(data_home: Path) -> Path:
    """A saved run whose checkpoint was cut short (say, a disk filled up while copying it)."""
    run = fake_saved_run(data_home)
    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    return run


def test_continuing_a_corrupt_run_fails_on_screen(make_app, data_home: Path) -> None:
    corrupt_run(data_home)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.corpus is not None, what="Hamlet to load")
            await runs_listed(pilot)
            runs = app.screen.query_one("#runs")
            runs.focus()
            runs.highlighted = 0
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
            await wait_for(pilot, lambda: app.session.status == "failed", timeout=60, what="the failure")
            await pilot.pause(0.4)
            error = app.screen.query_one("#training-error", Static)
            assert error.display and "corrupt or truncated" in shown(error)
            assert app.is_running

    run(main())


def test_generating_from_a_corrupt_run_is_a_notification(make_app, data_home: Path) -> None:
    corrupt_run(data_home)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.corpus is not None, what="Hamlet to load")
            await runs_listed(pilot)
            app.screen.query_one("#runs").highlighted = 0
            await pilot.press("ctrl+g")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, CorpusScreen)
            assert any("corrupt or truncated" in n.message for n in app._notifications)

    run(main())
