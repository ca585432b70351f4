"""The corpus screen reads the saved runs in a worker: many run folders, or a slow disk, never freeze it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from textual.widgets import OptionList
from tui_helpers import SMALL, fake_saved_run, run, runs_list_focused, runs_listed, wait_for

from charrnn_tui.runs.folder import CONFIG_NAME
from charrnn_tui.tui.screens.corpus import CorpusScreen

MANY = 300
RELEASE_AFTER_S = 30.0  # a scan on the UI thread blocks the app this long, then the test fails (slack for a busy CI)


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
                runs = screen.query_one("#runs", OptionList)
                await wait_for(pilot, lambda: screen.corpus is not None, timeout=RELEASE_AFTER_S, what="Hamlet")
                assert not gave_up.is_set(), "the app froze while the saved runs were read"
                assert screen.reading_runs and not screen.runs_read and not screen.runs
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
            screen.refresh_runs()
            screen.refresh_runs()  # asked for again while the first scan runs: one more scan follows
            assert screen.reading_runs
            await runs_listed(pilot)
            assert [r.path for r in screen.runs][0] == newer and len(screen.runs) == 4
            assert screen.runs[runs.highlighted].path == chosen and screen.marked == {chosen}
            assert str(runs.get_option_at_index(runs.highlighted).prompt).startswith("● ")

    run(main())
