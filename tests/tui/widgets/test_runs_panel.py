"""The saved-runs panel: on its own, in a plain App, it reads the runs in its worker and says what the user
chose with its nested messages, whoever handles them (in charrnn-tui, the app); on the corpus screen, many run
folders or a slow disk never freeze the screen."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from textual import on
from textual.app import App, ComposeResult
from textual.message import Message
from tui_helpers import RUN_NAME, SMALL, fake_saved_run, run, runs_list_focused, runs_listed, wait_for

from charrnn_tui.runs.folder import CONFIG_NAME
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.widgets.runs_panel import SHOWN_PAGE, RunsPanel, run_hint, run_label

MANY = 300
RELEASE_AFTER_S = 30.0  # a scan on the UI thread blocks the app this long, then the test fails (slack for a busy CI)


class Host(App):
    """Records what the panel asks for, as the app would act on it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[Message] = []
        self.first_shown = 0  # RunsPanel.FirstShown messages

    def compose(self) -> ComposeResult:
        yield RunsPanel(id="runs")

    def on_mount(self) -> None:
        self.query_one(RunsPanel).scan()

    @on(RunsPanel.ContinueRequested)
    @on(RunsPanel.GenerateRequested)
    @on(RunsPanel.InspectRequested)
    @on(RunsPanel.CompareRequested)
    def _asked(self, message: Message) -> None:
        self.asked.append(message)

    @on(RunsPanel.FirstShown)
    def _shown(self, message: Message) -> None:
        self.first_shown += 1


def older_run(data_home: Path) -> Path:
    """A copy of fake_saved_run's folder under another name, its files written long ago (listed second)."""
    first = data_home / "runs" / RUN_NAME
    other = data_home / "runs" / "macbeth-20250101-120000"
    other.mkdir()
    for f in first.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
        os.utime(other / f.name, (1e9, 1e9))
    return other


def test_the_panel_lists_the_runs_and_posts_what_is_chosen(data_home: Path) -> None:
    newest = fake_saved_run(data_home)
    older = older_run(data_home)

    async def main() -> None:
        app = Host()
        async with app.run_test(size=SMALL) as pilot:
            panel = app.query_one(RunsPanel)
            await wait_for(pilot, lambda: panel.listed and not panel.reading, what="the saved runs")
            assert [r.path for r in panel.runs] == [newest, older] and panel.border_title == "2 saved runs"
            panel.focus()
            await pilot.pause()
            assert panel.highlighted == 0 and panel.selected is panel.runs[0]  # focus lands on a run
            await pilot.press("enter")
            await pilot.press("i")
            panel.request_generate()
            await pilot.press("m", "down", "m", "c")
            await pilot.pause()
            kinds = [(type(m).__name__, getattr(m, "run", None)) for m in app.asked[:3]]
            first = panel.runs[0]
            assert kinds == [("ContinueRequested", first), ("InspectRequested", first), ("GenerateRequested", first)]
            compared = app.asked[3]
            assert isinstance(compared, RunsPanel.CompareRequested) and compared.runs == panel.runs
            assert panel.marked == {newest, older}
            assert str(panel.get_option_at_index(1).prompt).startswith("● ")

    run(main())


def test_with_no_runs_a_request_says_what_to_do_and_posts_nothing(data_home: Path) -> None:
    async def main() -> None:
        app = Host()
        async with app.run_test(size=SMALL) as pilot:
            panel = app.query_one(RunsPanel)
            await wait_for(pilot, lambda: panel.listed, what="the (empty) list")
            assert "no saved runs yet" in str(panel.get_option_at_index(0).prompt)
            panel.request_continue()
            panel.request_generate()
            await pilot.pause()
            assert app.asked == []
            assert sum("no saved runs yet" in n.message for n in app._notifications) == 2

    run(main())


def test_the_hint_gives_the_path_and_the_command_or_what_is_damaged(data_home: Path) -> None:
    from charrnn_tui.runs.listing import summarize

    good = summarize(fake_saved_run(data_home))
    assert good is not None
    hint = run_hint(good).plain.replace("\n", "")
    assert RUN_NAME in hint and "charrnn-tui --generate-only" in hint and f"--run-dir {good.path}" in hint
    damaged = run_hint(type(good)(good.path, None, None, None, False, problem="config.json is damaged")).plain
    assert "damaged: config.json is damaged" in damaged and "Ctrl+G" not in damaged


# ---- on the corpus screen ----------------------------------------------------------------------------
def many_runs(data_home: Path, n: int) -> list[Path]:
    """`n` run folders with the files the trainer leaves (as fake_saved_run writes them), named apart."""
    template = fake_saved_run(data_home)
    files = {f.name: f.read_bytes() for f in template.iterdir()}
    made = []
    for i in range(n):
        folder = data_home / "runs" / f"play{i:03d}-20260101-120000"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        made.append(folder)
    return [template, *made]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="a named pipe stands in for a disk that does not answer")
def test_the_screen_answers_keys_while_a_run_folder_cannot_be_read_yet(make_app, data_home: Path) -> None:
    """One run's config.json is a named pipe: reading it blocks until the test writes into it, as a hung
    network disk would. The scan must wait in its worker while the screen mounts and answers keys; a scan on
    the UI thread blocks the app until the release thread gives up waiting, and the test fails."""
    folders = many_runs(data_home, MANY)
    config = (folders[0] / CONFIG_NAME).read_bytes()
    slow = data_home / "runs" / "slow-20260101-120000"
    slow.mkdir()
    os.mkfifo(slow / CONFIG_NAME)
    release, gave_up = threading.Event(), threading.Event()

    def writer() -> None:
        if not release.wait(RELEASE_AFTER_S):
            gave_up.set()
        with open(slow / CONFIG_NAME, "wb") as pipe:  # blocks until the scan opens the pipe to read
            pipe.write(config)

    threading.Thread(target=writer, daemon=True).start()

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            try:
                screen = app.screen
                assert isinstance(screen, CorpusScreen)
                runs = screen.query_one(RunsPanel)
                await wait_for(pilot, lambda: screen.corpus is not None, timeout=RELEASE_AFTER_S, what="Hamlet")
                assert not gave_up.is_set(), "the app froze while the saved runs were read"
                assert runs.reading and not runs.listed and not runs.runs
                placeholder = runs.get_option_at_index(0)
                assert runs.option_count == 1 and placeholder.disabled
                assert "reading saved runs" in str(placeholder.prompt)
                await pilot.press("tab")  # a key is answered meanwhile
                assert app.focused is screen.query_one("#path")
                await pilot.press("ctrl+g")
                assert any("still being read" in n.message for n in app._notifications)
                assert not gave_up.is_set(), "the app froze while the saved runs were read"
            finally:
                release.set()
            await runs_listed(pilot)
            assert len(screen.runs) == MANY + 2 and runs.option_count == MANY + 2
            assert all(r.problem is None for r in screen.runs)
            assert slow in {r.path for r in screen.runs}

    run(main())


def test_a_refresh_during_a_scan_is_read_once_it_ends_and_keeps_the_marks_and_the_highlight(
    make_app, data_home: Path
) -> None:
    folders = many_runs(data_home, 2)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen, runs = await runs_list_focused(pilot)
            await pilot.press("down", "m")
            chosen = screen.runs[runs.highlighted].path
            assert screen.marked == {chosen}
            newer = data_home / "runs" / "newer-20260102-120000"
            newer.mkdir()
            (newer / CONFIG_NAME).write_bytes((folders[0] / CONFIG_NAME).read_bytes())
            os.utime(newer / CONFIG_NAME, (2e9, 2e9))  # the most recently written: listed first
            runs.scan()
            runs.scan()  # asked for again while the first scan runs: one more scan follows
            assert runs.reading
            await runs_listed(pilot)
            assert [r.path for r in screen.runs][0] == newer and len(screen.runs) == 4
            assert screen.runs[runs.highlighted].path == chosen and screen.marked == {chosen}
            assert str(runs.get_option_at_index(runs.highlighted).prompt).startswith("● ")

    run(main())


async def fill_pipe(pilot, pipe: Path, data: bytes) -> None:
    """Write `data` into the named pipe `pipe` once the scan opens it to read; never blocks the test."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while True:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while no reader has it open
            break
        except OSError:
            if loop.time() > end:
                raise AssertionError("the scan never read the slow run folder") from None
            await pilot.pause(0.05)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_thousands_of_runs_show_their_first_page_at_once_and_keys_answer_while_the_rest_come(data_home: Path) -> None:
    """The run folder read last (the oldest) is a named pipe that blocks its page until the test writes into it:
    the first page must be on screen and usable meanwhile, with a count of what is coming. The old panel showed
    nothing until every run was read, then drew them all at once."""
    folders = many_runs(data_home, SHOWN_PAGE + 40)
    slow = data_home / "runs" / "slow-20200101-120000"
    slow.mkdir()
    os.mkfifo(slow / CONFIG_NAME)
    os.utime(slow / CONFIG_NAME, (1e9, 1e9))  # the oldest: read in the last page
    total = len(folders) + 1

    async def main() -> None:
        app = Host()
        async with app.run_test(size=SMALL) as pilot:
            panel = app.query_one(RunsPanel)
            try:
                await wait_for(pilot, lambda: panel.option_count == SHOWN_PAGE, what="the first page")
                await pilot.pause(0.2)
                assert panel.reading and not panel.listed and len(panel.runs) == SHOWN_PAGE  # the last page waits
                assert panel.border_title == f"saved runs (reading… {SHOWN_PAGE} of {total})"
                # The first page drawn says so, once: the corpus screen starts its n-gram baseline then.
                assert app.first_shown == 1 and panel.first_shown
                panel.focus()
                await pilot.press("down", "down", "enter")  # answered while the scan waits on the pipe
                assert panel.highlighted == 2
                assert [m.run for m in app.asked] == [panel.runs[2]]
            finally:
                await fill_pipe(pilot, slow / CONFIG_NAME, (folders[0] / CONFIG_NAME).read_bytes())
            await wait_for(pilot, lambda: panel.listed and not panel.reading, what="the whole list")
            assert panel.option_count == len(panel.runs) == total and panel.runs[-1].path == slow
            assert panel.border_title == f"{total:,} saved runs" and panel.highlighted == 2
            # A second scan does not say it again (the pipe becomes a file first: read again, it would block for good).
            (slow / CONFIG_NAME).unlink()
            (slow / CONFIG_NAME).write_bytes((folders[0] / CONFIG_NAME).read_bytes())
            panel.scan()
            await wait_for(pilot, lambda: panel.listed and not panel.reading, what="the second scan")
            assert app.first_shown == 1

    run(main())


def test_a_run_shows_which_weights_it_holds_and_why_it_ended_in_the_words_of_the_cli(
    data_home: Path, small_corpus
) -> None:
    """A real run that ended on its step budget, its last checkpoint saved at its last evaluation (so the end is
    recorded beside it afterwards), and a record of one that went back to its best weights when its time ran
    out: each row says it as the CLI's summary and the training screen's panel do."""
    from charrnn_tui.core.config import TINY
    from charrnn_tui.headless.progress import summary
    from charrnn_tui.runs.listing import summarize
    from charrnn_tui.runs.records import read_checkpoint_info, write_checkpoint_info
    from charrnn_tui.training.trainer import Trainer

    cfg = TINY.with_overrides(device="cpu", hidden=16, embed=8, steps=6, eval_interval=3, checkpoint_seconds=0)
    result = Trainer(small_corpus, cfg, data_home / "runs" / "budget-20260101-120000").run()
    spent = summarize(data_home / "runs" / "budget-20260101-120000")
    assert spent is not None and spent.checkpoint is not None and spent.checkpoint.end_reason == "steps"
    label = run_label(spent, 24).plain
    assert "step 6  best val" in label and label.endswith("step budget reached")
    assert "(step budget reached)" in summary(result)  # the CLI's summary: the same words

    timed = fake_saved_run(data_home)
    write_checkpoint_info(timed, step=363, best_val_loss=2.05, last_val_loss=2.2, elapsed_s=180.0, kept_step=180,
                          best_step=180, end_reason="time")  # fmt: skip
    label = run_label(summarize(timed), 24).plain
    assert "step 180 (best)  best val 2.050  time budget reached" in label  # not "step 363"
    info = read_checkpoint_info(timed)
    assert info is not None and info.end_reason == "time" and info.stalled_evals == 0
