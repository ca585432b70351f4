"""Helpers for the app's tests (a module of its own: `conftest` is a name shared with tests/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import math
import zipfile
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.widget import Widget

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import Evaluated, Event, Finished, Sample, Started, Step
from charrnn_tui.runs.records import CorpusRecord, write_checkpoint_info, write_config
from charrnn_tui.text.corpus import Corpus

SIZE = (120, 36)
SMALL = (80, 24)  # the terminal most people open: every screen must be usable here
WIDE = (120, 40)
RUN_NAME = "hamlet-20260101-120000"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Pilot tests are plain sync tests (no asyncio plugin is installed)."""
    return asyncio.run(coro)


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 120.0, what: str = "") -> None:
    """Let the app run until `condition` holds; fail with `what` if it never does."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


async def runs_listed(pilot, screen: Any = None) -> None:
    """Wait until the corpus screen (`screen`, or the app's current one) lists the saved runs: its RunsPanel
    reads them in a worker, after the screen mounts and whenever it is shown again."""
    from charrnn_tui.tui.widgets.runs_panel import RunsPanel

    panel = (screen if screen is not None else pilot.app.screen).query_one(RunsPanel)
    await wait_for(pilot, lambda: panel.listed and not panel.reading, what="the saved runs to be read")
    # The n-gram baseline starts once the runs' first page shows, and its line's words change the layout: a test
    # that reads the screen waits for it too (on a busy machine it started in the middle of one).
    from charrnn_tui.tui.widgets.baseline_line import BaselineLine

    for line in pilot.app.screen.query(BaselineLine):
        await wait_for(pilot, lambda line=line: not line.pending and not line.computing, what="the baseline")


async def runs_list_focused(pilot) -> tuple[Any, Any]:
    """The corpus screen (the app's current one) once it lists the saved runs, and that list, focused: where
    Enter trains a run on, m marks it and c compares the marked ones."""
    from textual.widgets import OptionList

    from charrnn_tui.tui.screens.corpus import CorpusScreen

    screen = pilot.app.screen
    assert isinstance(screen, CorpusScreen)
    await runs_listed(pilot, screen)
    runs = screen.query_one("#runs", OptionList)
    runs.focus()
    return screen, runs


async def press_busy(pilot, key: str) -> None:
    """Press one key as Pilot.press does (a Key event into the app's queue), without Pilot.press's waits for
    the process to go idle: while a training thread runs it never does, and each key would wait two full
    seconds. The caller waits for the key's effect with wait_for."""
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(pilot.app)
    pilot.app.post_message(event)


def scripted_run(corpus: Corpus, until: int = 150, total: int = 200) -> list[Event]:
    """A plausible tiny-preset run on Hamlet: a falling loss, evaluations, and samples that improve."""
    config = replace(TINY, steps=total, device="cpu").to_dict()
    events: list[Event] = [
        Started(0, config, "hamlet", "runs/hamlet-demo", "cpu", 26_176, 64, 158_715, 17_635),
    ]
    text = corpus.text
    for step in range(1, until + 1):
        loss = 1.95 + 2.2 * math.exp(-step / 30) + 0.05 * math.sin(step * 1.7)
        eta = (total - step) * 0.05
        events.append(Step(step, loss, 0.01, 12_345.0, step * 0.05, eta, step / total))
        if step % 50 == 0:
            events.append(Evaluated(step, loss + 0.08, loss + 0.08, step * 0.05))
    window = 32
    for k, step in enumerate((until - 2, until - 1, until)):
        start = 400 + 37 * k
        inp, tgt = text[start : start + window], text[start + 1 : start + window + 1]
        # A guess right where the index is even or the character is a space: fixed, and visibly mixed.
        pred = "".join(c if (i % 3 != 1 or c == " ") else "e" for i, c in enumerate(tgt))
        events.append(Sample(step, inp, tgt, pred))
    return events


def scripted_session(app: Any, corpus: Corpus, until: int, run_dir: str = "run") -> Any:
    """The app's training screen on a scripted tiny run (no trainer), fed the events of `scripted_run` up to step
    `until` exactly as the trainer's thread would. Returns the session."""
    session = app.start_training(corpus, TINY, run_dir=Path(run_dir), scripted=True)
    for ev in scripted_run(corpus, until=until):
        session.on_event(ev)
    return session


class ScreenHost(App):
    """A bare app that opens one screen: a screen tested without the rest of the app."""

    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.first = screen

    def on_mount(self) -> None:
        self.push_screen(self.first)


class WidgetHost(App):
    """A bare app that shows one widget, made by `make` as the app composes: a widget tested on its own."""

    def __init__(self, make: Callable[[], Widget]) -> None:
        super().__init__()
        self.make = make

    def compose(self) -> ComposeResult:
        yield self.make()


async def corpus_loaded(pilot) -> Any:
    """The corpus screen (the app's first and current one) once it has read its corpus: Hamlet, unless the app
    was started on another."""
    from charrnn_tui.tui.screens.corpus import CorpusScreen

    screen = pilot.app.screen
    assert isinstance(screen, CorpusScreen)
    await wait_for(pilot, lambda: screen.corpus is not None, what="Hamlet to load")
    return screen


def fake_saved_run(data_home: Path) -> Path:
    """A run folder as the trainer leaves it. The list reads checkpoint.json and checks that checkpoint.pt is
    a whole archive, without loading it: a small zip stands in for the weights."""
    run = data_home / "runs" / RUN_NAME
    run.mkdir(parents=True)
    record = CorpusRecord("hamlet", builtin=True)
    write_config(run, TINY, record)
    rows = [{"step": 100, "train_loss": 2.1, "val_loss": 2.2}, {"step": 200, "train_loss": 1.9, "val_loss": 2.05}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with zipfile.ZipFile(run / "checkpoint.pt", "w") as z:
        z.writestr("archive/data.pkl", b"not read by the list")
    write_checkpoint_info(run, step=200, best_val_loss=2.05, last_val_loss=2.05, elapsed_s=10.0, kept_step=None)
    return run


def finished(step: int = 150, reason: str = "time") -> Finished:
    """How scripted_run(until=step) ends when its budget runs out (its last evaluation: step 150)."""
    loss = 1.95 + 2.2 * math.exp(-150 / 30) + 0.05 * math.sin(150 * 1.7) + 0.08
    return Finished(step, reason, 7.5, loss, loss, RUN_NAME, f"{RUN_NAME}/checkpoint.pt")


def shown(widget: Any) -> str:
    """The plain text a Static shows."""
    return str(widget.content)


def drawn(widget: Any) -> str:
    """The text a widget draws in its region, line by line: what the user sees, cut where the region cuts."""
    from textual.geometry import Region

    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.size)))


def inside(widget: Any, screen: Any) -> bool:
    """True when the whole widget is drawn on the screen (not cut off, not of zero size)."""
    region = widget.region
    return region.width > 0 and region.height > 0 and screen.region.contains_region(region)
