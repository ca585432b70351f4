"""The prime field takes a paste of any length and any number of lines: all of it reaches the model, the field
stays small enough to answer every key, and its border says how big a held prime is."""

from __future__ import annotations

import torch
from textual import events
from textual.geometry import Region
from textual.widgets import Static
from tui_helpers import SMALL, run, shown, wait_for

from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.generation import PRIME_SHOWN, GenerationScreen
from charrnn_tui.tui.widgets.generated_text import GeneratedText
from charrnn_tui.tui.widgets.prime_input import INLINE_MAX, PREVIEW, PrimeInput, prime_size

HAMLET = load_builtin("hamlet").text
VOCAB = Vocab.from_text(HAMLET)


def tiny_model() -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(len(VOCAB), "lstm", 1, 16, 8).eval()


async def open_screen(app, pilot, model=None) -> tuple[GenerationScreen, PrimeInput]:
    screen = GenerationScreen(model, VOCAB, "HAMLET\n", "test")
    await app.push_screen(screen)
    await pilot.pause()
    field = screen.query_one("#prime", PrimeInput)
    assert screen.focused is field
    return screen, field


def top_border(widget) -> str:
    return widget.render_lines(Region(0, 0, *widget.outer_size))[0].text


async def paste(pilot, text: str) -> None:
    pilot.app.screen.focused.post_message(events.Paste(text))
    await pilot.pause()


def test_a_multi_line_paste_is_all_used_and_shows_its_new_lines(make_app) -> None:
    prime = "HAMLET.\nTo be, or not to be,\nthat is the question"

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen, field = await open_screen(app, pilot, tiny_model())
            await pilot.press(*"ab ")
            await paste(pilot, prime.replace("\n", "\r"))  # as a terminal pastes it: CR line ends
            assert field.prime == "ab " + prime and not field.held
            assert field.value == "ab " + prime.replace("\n", "\\n")  # the new lines as one types them
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.generating, what="the generation to end")
            assert screen.generator.text.startswith("ab " + prime)  # what the model read
            assert screen.query_one(GeneratedText).plain.startswith("ab " + prime)

    run(main())


def test_a_30000_character_paste_is_held_and_the_field_answers_every_key(make_app) -> None:
    line = (HAMLET.replace("\n", " ") * 2)[:30_000]

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen, field = await open_screen(app, pilot)
            await paste(pilot, line)
            assert field.held and field.prime == line
            assert len(field.value) <= PREVIEW + 1  # what the field draws, whatever the prime's length
            assert field.border_title == "prime: 30,000 chars, 1 line"
            assert "╭─ prime: 30,000 chars, 1 line ─" in top_border(field)  # whole at 80 columns
            assert "The prime is 30,000 characters, 1 line;" in shown(screen.query_one("#gen-status", Static))
            assert line[-20:] in field.render_line(0).text  # the end is in view, where typing goes
            await pilot.press("end", "x", "y", "backspace")
            assert field.prime == line + "x"
            assert field.value.endswith(line[-10:] + "x") and field.cursor_position == len(field.value)
            await pilot.press("home", "left", "z")  # the cursor stays at the end of a held prime
            assert field.prime == line + "xz"
            await pilot.press("ctrl+u")
            assert field.prime == "" and not field.held and field.border_title == "prime (Enter generates)"

    run(main())


def test_a_held_prime_keeps_tabs_and_what_was_typed_around_it(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen, field = await open_screen(app, pilot)
            await pilot.press(*"HAMLET", "left", "left", "left")
            await paste(pilot, "\t<tab>\t")  # a tab cannot be shown in a one-line field: held, exactly
            assert field.held and field.prime == "HAM\t<tab>\tLET"
            assert "␉" in field.value and field.border_title == "prime: 13 chars, 1 line"
            for _ in range(len("\tLET")):
                await pilot.press("backspace")
            assert field.prime == "HAM\t<tab>" and field.held
            await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace", "backspace")
            assert field.prime == "HAM" and not field.held and field.value == "HAM"  # in the field again
            field.value = "new"  # set in code: the new prime
            assert field.prime == "new"

    run(main())


def test_typing_past_the_inline_length_holds_the_prime(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen, field = await open_screen(app, pilot)
            await paste(pilot, "a" * INLINE_MAX)
            assert not field.held
            await pilot.press("b")
            assert field.held and field.prime == "a" * INLINE_MAX + "b"

    run(main())


def test_a_long_many_line_prime_is_all_read_and_its_end_shown(make_app) -> None:
    prime = HAMLET[:100_000]

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen, field = await open_screen(app, pilot, tiny_model())
            await paste(pilot, prime)
            assert field.prime == prime and field.border_title == f"prime: {prime_size(prime, short=True)}"
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.generating, what="the generation to end")
            status = shown(screen.query_one("#gen-status", Static))
            assert "500 characters generated" in status, status
            generated = screen.generator.text[-500:]
            assert screen.generator.text == (prime + generated)[-screen.generator.keep_text :]
            assert screen.query_one(GeneratedText).plain == prime[-PRIME_SHOWN:] + generated

    run(main())
