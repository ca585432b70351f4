"""The corpus screen at 80x24: nothing needed is cut off, Tab scrolls what it focuses into view, settings
show what is typed, fixed choices are choices, and the saved runs say where they are and how to use them."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input, Label, OptionList, Select, Static
from tui_helpers import (
    RUN_NAME,
    SMALL,
    WIDE,
    corpus_loaded,
    drawn,
    fake_saved_run,
    inside,
    run,
    runs_listed,
    shown,
    wait_for,
)

from charrnn_tui.present.formatting import generate_command, resume_command, shown_path
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.widgets.settings_form import FIELDS, SettingsForm


async def loaded(pilot) -> CorpusScreen:
    screen = await corpus_loaded(pilot)
    await runs_listed(pilot, screen)
    await pilot.pause()
    return screen


def test_at_80x24_the_corpus_numbers_show_and_tab_reaches_every_setting_in_view(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await loaded(pilot)
            info = screen.query_one("#corpus-info", Static)
            assert inside(info, screen) and "176,350" in shown(info)
            await what_ctrl_t_does_the_budget_and_the_text_show(pilot, screen)
            for wid in ("#plays", "#path", "#corpus-right", "#runs"):
                assert inside(screen.query_one(wid), screen), wid
            # Tab through every setting to the Train button: each one, once focused, is on screen.
            screen.query_one("#preset", Select).focus()
            await pilot.pause()
            seen = []
            while app.focused is not None and app.focused.id != "train":
                await pilot.press("tab")
                await pilot.pause()
                focused = app.focused
                assert focused is not None
                if focused.id and focused.id.startswith("set-"):
                    assert inside(focused, screen), focused.id
                    assert focused.region.height == 1  # the whole field, not its top edge
                    seen.append(focused.id)
                assert len(seen) <= len(FIELDS)
            assert seen == [f"set-{name}" for name, _, _ in FIELDS]
            # and every setting's label is drawn whole, not wrapped into a second row that its one row cuts away
            for label in screen.query_one(SettingsForm).query(Label):
                assert drawn(label).strip() == str(label.content), str(label.content)
            button = screen.query_one("#train", Button)
            assert inside(button, screen) and not button.disabled

    run(main())


def test_loading_a_file_at_80x24_says_so_where_it_is_seen(make_app, tmp_path: Path) -> None:
    async def main() -> None:
        text = tmp_path / "tiny.txt"
        text.write_text("to be or not to be, that is the question\n" * 200, encoding="utf-8")
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await loaded(pilot)
            screen.query_one("#path", Input).value = str(text)
            screen.query_one("#path", Input).focus()
            await pilot.press("enter")
            info = screen.query_one("#corpus-info", Static)
            assert inside(info, screen)
            await wait_for(pilot, lambda: screen.corpus is not None and screen.corpus.name == "tiny", what="the file")
            await pilot.pause()
            assert "8,200" in shown(info)

    run(main())


def test_a_focused_field_shows_its_value_and_backspace_deletes_one_character(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await loaded(pilot)
            hidden = screen.query_one("#set-hidden", Input)
            hidden.focus()
            await pilot.pause()
            assert hidden.selection.is_empty  # no select-all on focus
            await pilot.press("end", "backspace", "8")
            await pilot.pause()
            assert hidden.value == "258"
            assert hidden.region.height == 1 and hidden.content_region.height == 1  # text row drawn
            assert "258" in "".join(s.text for s in hidden.render_line(0))
            assert screen.config().hidden == 258

    run(main())


def test_settings_with_fixed_values_are_choices(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await loaded(pilot)
            for name in ("cell", "sampling", "lr_schedule", "device"):
                assert isinstance(screen.query_one(f"#set-{name}"), Select), name
            cell = screen.query_one("#set-cell", Select)
            cell.focus()
            await pilot.press("enter", "down", "enter")  # lstm -> gru
            await pilot.pause()
            assert screen.config().cell == "gru"
            screen.query_one("#set-lr_schedule", Select).value = "constant"
            await pilot.pause()
            assert screen.config().lr_schedule == "constant"

    run(main())


def test_no_saved_runs_says_how_to_make_one(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await loaded(pilot)
            await pilot.press("ctrl+o", "ctrl+g")
            await pilot.pause()
            messages = [n.message for n in app._notifications]
            assert sum("no saved runs yet" in m for m in messages) == 2, messages
            assert not any("highlight" in m for m in messages)

    run(main())


def test_a_saved_run_is_one_line_and_its_hint_gives_the_path_and_the_command(make_app, data_home: Path) -> None:
    async def main() -> None:
        path = fake_saved_run(data_home)
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await loaded(pilot)
            runs = screen.query_one("#runs", OptionList)
            assert runs.get_option_at_index(0).prompt.no_wrap
            runs.focus()
            await pilot.pause()
            hint = shown(screen.query_one("#corpus-hint", Static))
            assert RUN_NAME in hint and f"--run-dir {path}" in hint.replace("\n", "")
            assert "charrnn-tui --generate-only" in hint

    run(main())


def test_at_120x40_the_preview_shows_beside_the_settings(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=WIDE) as pilot:
            screen = await loaded(pilot)
            assert inside(screen.query_one("#preview-box"), screen)
            assert screen.query_one("#preview-box").region.width >= 30
            await pilot.resize_terminal(*SMALL)
            await pilot.pause()
            assert not screen.query_one("#preview-box").display or screen.query_one("#preview-box").region.width == 0

    run(main())


def test_with_the_keys_panel_open_at_80x24_every_setting_is_still_reachable(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await loaded(pilot)
            app.action_show_help_panel()
            await pilot.pause()
            await pilot.pause()
            assert screen.has_class("stacked")
            for name, _, _ in FIELDS:
                field = screen.query_one(f"#set-{name}")
                field.focus()
                await pilot.pause()
                assert inside(field, screen) and field.region.width >= 8, name
            button = screen.query_one("#train", Button)
            button.focus()
            await pilot.pause()
            assert inside(button, screen)

    run(main())


def test_run_paths_are_shown_as_a_shell_takes_them() -> None:
    home = Path.home()
    assert shown_path(home / "runs" / "a") == "~/runs/a"
    assert generate_command(home / "my runs" / "a") == "charrnn-tui --generate-only --run-dir ~/'my runs/a'"
    assert resume_command(Path("/srv/x y")) == "charrnn-tui --train-only --resume --run-dir '/srv/x y'"


def test_a_slow_machines_minute_trains_on_shorter_windows_and_the_form_says_so(make_app, data_home: Path) -> None:
    from charrnn_tui.core.config import FAST, SHORT_WINDOW
    from charrnn_tui.training.rates import record_rate

    record_rate(FAST, 19_500)  # what an AVX2-only Zen 2 measured for the preset's shape (rates.json)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await loaded(pilot)
            window = screen.query_one("#set-seq_len", Input)
            budget = screen.query_one("#set-max_seconds", Input)
            assert window.value == str(FAST.seq_len)  # 180 s: about 1,100 steps at that rate
            budget.value = "60"  # about 365 steps: twice as many on half the window
            await pilot.pause()
            assert window.value == str(SHORT_WINDOW) and screen.config().seq_len == SHORT_WINDOW
            budget.value = "180"
            await pilot.pause()
            assert window.value == str(FAST.seq_len)
            window.value = "80"  # typed by the user: a later sizing leaves it alone
            await pilot.pause()
            budget.value = "60"
            await pilot.pause()
            assert window.value == "80" and screen.config().seq_len == 80

    run(main())


def test_the_default_preset_is_sized_for_the_corpus_and_budget_and_typed_values_stay(make_app, tmp_path: Path) -> None:
    from charrnn_tui.core.config import FAST, fit_to_corpus

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await loaded(pilot)
            train_chars = screen.corpus.split_sizes(0.1)[0]
            dropout = screen.query_one("#set-dropout", Input)
            budget = screen.query_one("#set-max_seconds", Input)
            assert float(dropout.value) == fit_to_corpus(FAST, train_chars).dropout
            assert "(this corpus: about 45 epochs)" in shown(screen.query_one("#preset-help"))
            budget.value = "20"  # a shorter budget reads the text fewer times: less dropout
            await pilot.pause()
            assert float(dropout.value) == fit_to_corpus(FAST.with_overrides(max_seconds=20), train_chars).dropout
            assert float(dropout.value) < FAST.dropout
            dropout.value = "0.07"  # typed by the user: a later sizing leaves it alone
            await pilot.pause()
            budget.value = "600"
            await pilot.pause()
            assert dropout.value == "0.07"
            # A small file: fewer streams and more frequent evaluations, in the settings the run gets.
            small = tmp_path / "small.txt"
            small.write_text("to be or not to be, that is the question\n" * 200, encoding="utf-8")
            path = screen.query_one("#path", Input)
            path.value = str(small)
            path.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.corpus is not None and screen.corpus.name == "small", what="small")
            await pilot.pause()
            config = screen.config()
            expected = fit_to_corpus(FAST.with_overrides(max_seconds=600), screen.corpus.split_sizes(0.1)[0])
            assert (config.batch_size, config.eval_interval) == (expected.batch_size, expected.eval_interval)
            assert config.batch_size < FAST.batch_size and config.dropout == 0.07
            # Back to a play: sized for it again from the preset, not from the small text's settings.
            screen.load("macbeth")
            await wait_for(pilot, lambda: screen.corpus is not None and screen.corpus.name == "macbeth", what="macbeth")
            await pilot.pause()
            config = screen.config()
            expected = fit_to_corpus(FAST.with_overrides(max_seconds=600), screen.corpus.split_sizes(0.1)[0])
            assert (config.batch_size, config.eval_interval) == (expected.batch_size, expected.eval_interval) == (
                FAST.batch_size, expected.eval_interval)  # fmt: skip
            assert screen.query_one("#set-batch_size", Input).value == str(FAST.batch_size)
            # Another preset is its own settings, unsized.
            screen.query_one("#preset", Select).value = "tutorial"
            await pilot.pause()
            assert "epochs" not in shown(screen.query_one("#preset-help"))

    run(main())


async def what_ctrl_t_does_the_budget_and_the_text_show(pilot, screen: CorpusScreen) -> None:
    """Issue 26 item 7: at 80x24 the time budget and the text were not on the first screen; the plays list
    showed 3. Each shows without scrolling, and the sentence for Ctrl+T follows the settings."""
    right = screen.query_one("#corpus-right")
    assert right.scroll_offset.y == 0
    plan = screen.query_one("#train-plan", Static)
    assert " ".join(drawn(plan).split()) == "Ctrl+T trains a 2x256 LSTM on hamlet, for 180 s."
    for wid in ("#train-plan", "#set-steps", "#set-max_seconds"):
        widget = screen.query_one(wid)
        assert inside(widget, screen) and right.region.contains_region(widget.region), wid
    assert screen.query_one("#plays").region.height - 2 >= 4  # four plays inside the border
    excerpt = screen.query_one("#corpus-excerpt", Static)
    assert inside(excerpt, screen) and drawn(excerpt).startswith("Hamlet ↵ ACT I ↵ SCENE I.")
    seconds, steps = screen.query_one("#set-max_seconds", Input), screen.query_one("#set-steps", Input)
    seconds.value = "x"
    await pilot.pause()
    assert "once the settings are fixed" in shown(plan)
    seconds.value, steps.value = "60", "500"
    await pilot.pause()
    assert "for 500 steps or 60 s." in " ".join(drawn(plan).split())
    seconds.value, steps.value = "180", "0"  # as it was, for the rest of the test
    await pilot.pause()
