"""The app with hostile text: no control character reaches the terminal from any pane, and every pane
shows the same text the CLI prints to a terminal (safetext.escape), joiners and marks intact."""

from __future__ import annotations

from pathlib import Path

from helpers.hostile import FIRST_LINE, OSC0, OSC52, hostile_corpus_text
from rich.console import Console
from textual.events import Paste
from textual.widget import Widget
from textual.widgets import Input, Static
from tui_helpers import SIZE, run, runs_listed, scripted_run, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import Failed, Sample, Started
from charrnn_tui.generation.tokens import Token
from charrnn_tui.present.safetext import escape
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.widgets.generated_text import GeneratedText
from charrnn_tui.tui.widgets.safe_input import SafeInput
from charrnn_tui.tui.widgets.sample_panel import SampleView

CONTROLS = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]} - {"\n"}
PERSIAN = "می\u200cخواهم"
FAMILY = "👨\u200d👩\u200d👧"


def segments_text(widget: Widget) -> str:
    """Everything the widget sends to the terminal, line by line, as rendered segments."""
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height))


def assert_no_controls(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in text if c in CONTROLS})
    assert not found, f"control characters reach the terminal: {found}"


def test_corpus_preview_and_info_show_control_sequences_visibly(make_app, tmp_path: Path, small_corpus) -> None:
    path = tmp_path / f"naïve{OSC0}.txt"
    path.write_text(hostile_corpus_text(small_corpus.text[:3000]), encoding="utf-8")

    async def main() -> None:
        app = make_app(corpus=str(path))
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.corpus is not None, what="the corpus to load")
            await pilot.pause()
            preview, info = screen.query_one("#preview", Static), screen.query_one("#corpus-info", Static)
            for widget in (preview, info):
                assert_no_controls(segments_text(widget))
            shown = segments_text(preview)  # wrapped to the pane's width
            assert shown.startswith("␛]52;c;SGVsbG8=␇␛]0;TITLE␇ ★") and "naïve" in shown
            assert "naïve␛]0;TITLE␇" in segments_text(info)
            svg = app.export_screenshot()
            assert_no_controls(svg)
            assert "␛]52;c;SGVsbG8=␇" in svg

    run(main())


def test_generation_pane_shows_what_the_cli_prints_to_a_terminal(make_app) -> None:
    prime = FIRST_LINE + PERSIAN
    generated = f" {FAMILY} e\u0301\x1b[2J\x9b{OSC52}"
    vocab = Vocab.from_text(prime + generated)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = GenerationScreen(None, vocab, prime, f"run{OSC0}")
            await app.push_screen(screen)
            await pilot.pause()
            tokens = [Token(ch, 0.5, ((ch, 0.5),)) for ch in generated]
            screen.show_tokens(prime, tokens)
            await pilot.pause(0.3)
            pane = screen.query_one(GeneratedText)
            assert pane.plain == escape(prime + generated)  # the CLI's terminal output, joiners intact
            assert PERSIAN in pane.plain and FAMILY in pane.plain and "e\u0301" in pane.plain
            assert_no_controls(segments_text(pane))
            assert_no_controls(segments_text(screen.query_one("#candidates", Static)))
            assert_no_controls(app.export_screenshot())

    run(main())


def test_sample_panel_shows_controls_and_lone_marks_visibly() -> None:
    text = f"a{OSC0}\u0301\u200dk"
    console = Console(width=80, color_system=None, legacy_windows=False)
    with console.capture() as cap:
        console.print(SampleView([Sample(1, text[:-1], text[1:], text[1:])]))
    out = cap.get()
    assert_no_controls(out.replace("\n", ""))
    assert "␛" in out and "␇" in out and "◌\u0301" in out and "◌\u200d" in out


def test_stats_errors_and_notifications_escape_names_and_messages(make_app, hamlet: Corpus) -> None:
    name = f"evil{OSC0}"

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            corpus = Corpus(name, hamlet.text[:5000], f"/tmp/{name}.txt")
            session = app.start_training(corpus, TINY, run_dir=Path(f"runs/{name}"), scripted=True)
            await pilot.pause()
            events = scripted_run(hamlet, until=20)
            start = events[0]
            events[0] = Started(**{**start.__dict__, "corpus_name": name})
            for ev in events:
                session.on_event(ev)
            session.on_event(Failed(21, f"cannot read {OSC52}: gone", str(session.run_dir), None))
            await pilot.pause(0.5)
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            stats = segments_text(screen.query_one("#stats-table", Static))
            assert "evil␛]0;TITLE␇" in stats
            assert_no_controls(stats)
            error = screen.query_one("#training-error", Static)
            assert "␛]52;c;SGVsbG8=␇" in segments_text(error)
            assert_no_controls(segments_text(error))
            assert all(not (set(n.message) & CONTROLS) for n in app._notifications)
            assert_no_controls(app.export_screenshot())

    run(main())


def test_a_one_line_corpus_run_generates_from_the_empty_prime(make_app, data_home: Path) -> None:
    """The placeholder promises the corpus's first line; with no newline in the vocabulary it is the line."""
    from charrnn_tui.training.trainer import Trainer

    text = ("to be or not to be that is the question " * 40).strip()
    run_dir = data_home / "runs" / "one-line-20260101-120000"
    cfg = TINY.with_overrides(device="cpu", steps=2, eval_interval=2, checkpoint_seconds=0, val_fraction=0.05)
    assert Trainer(Corpus("one-line", text, "one-line.txt"), cfg, run_dir).run().step == 2

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.corpus is not None, what="Hamlet to load")
            await runs_listed(pilot)
            app.screen.query_one("#runs").highlighted = 0
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerationScreen), what="the generation screen")
            screen = app.screen
            assert screen.default_prime == text[:200]
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.generating and screen.query_one(GeneratedText).n_chars > 0)
            assert screen.query_one(GeneratedText).plain.startswith(text[:200])

    run(main())


def test_a_damaged_run_folder_is_listed_as_damaged(make_app, data_home: Path) -> None:
    import json

    from tui_helpers import fake_saved_run

    good = fake_saved_run(data_home)
    bad = data_home / "runs" / "bad-20260101-120000"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"config": {"cell": 3, "hidden": "x"}, "corpus": {"name": 1}}))

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.corpus is not None, what="Hamlet to load")
            await runs_listed(pilot)
            runs = {r.name: r for r in app.screen.runs}
            assert set(runs) == {good.name, bad.name} and runs[good.name].problem is None
            assert "config.json is damaged" in runs[bad.name].problem

    run(main())


def test_text_inputs_never_draw_control_characters(make_app, tmp_path: Path) -> None:
    # Textual's Input draws its value and its suggestion as they are: a file name offered by completion, a
    # pasted line or a path from an untrusted record must reach the terminal escaped, in every input.
    (tmp_path / f"evil{OSC0}\x1b[31m.txt").write_text("x", encoding="utf-8")
    (tmp_path / "evil-fine.txt").write_text("x", encoding="utf-8")
    vocab = Vocab.from_text("abc ")

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await runs_listed(pilot)
            path = app.screen.query_one("#path", Input)
            path.focus()
            path.value = str(tmp_path / "ev")
            await pilot.pause(0.3)
            # the hostile name is not offered (shown escaped it would name no file); the next one is
            assert path._suggestion == str(tmp_path / "evil-fine.txt"), path._suggestion
            assert_no_controls(segments_text(path))
            path.value = ""
            path.post_message(Paste(f"{tmp_path}/evil{OSC52}"))  # as the terminal delivers a paste
            await pilot.pause()
            assert path.value == f"{tmp_path}/evil{escape(OSC52)}"
            assert_no_controls(segments_text(path))
            screen = GenerationScreen(None, vocab, f"ab{OSC0}", "run")
            await app.push_screen(screen)
            await pilot.pause()
            inputs = list(screen.query(Input))
            assert inputs and all(isinstance(i, SafeInput) for i in inputs)
            for widget in inputs:
                widget.value = f"a{OSC0}\x9b"
                await pilot.pause()
                assert_no_controls(segments_text(widget))

    run(main())
