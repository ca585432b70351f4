"""The saved runs on the corpus screen: read off the UI thread, one line each, marked for the side-by-side curves.

The panel says what the user chose with nested messages (continue, generate, look inside, compare); the app,
which knows which screen follows which, handles them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from charrnn_tui.core.paths import runs_dir
from charrnn_tui.present.formatting import fmt_budget, fmt_weights, fmt_why_ended, generate_command, shown_path
from charrnn_tui.present.safetext import one_line
from charrnn_tui.runs.listing import RunSummary, iter_runs, run_folders

SHOWN_PAGE = 100  # runs per page added to the list: more than a screen holds, added in ~5 ms (docs/benchmarks.md)


class RunsPanel(OptionList):
    """The saved runs, the most recently written first; its keys show in the footer while it has focus. Enter
    (or the screen's Ctrl+O) trains the highlighted run on, Ctrl+G generates from it."""

    BINDINGS = [
        Binding("m", "mark_run", "Mark"),
        Binding("c", "compare_runs", "Compare marked"),
        Binding("i", "inspect_run", "Look inside"),
    ]

    @dataclass
    class ContinueRequested(Message):
        """Train the saved run `run` further."""

        run: RunSummary

    @dataclass
    class GenerateRequested(Message):
        """Open generation on the saved run `run`."""

        run: RunSummary

    @dataclass
    class InspectRequested(Message):
        """Look inside the saved run `run`: surprise and cells on its validation text."""

        run: RunSummary

    @dataclass
    class CompareRequested(Message):
        """Show the validation curves of `runs` side by side."""

        runs: list[RunSummary]

    @dataclass
    class Counted(Message):
        """A scan found `folders` run folders (`runs.listing.run_folders`, the most runs it can list) and the
        longest folder name has `name_width` characters; its pages follow."""

        folders: int
        name_width: int

    @dataclass
    class Paged(Message):
        """The next page of a scan's runs (`runs.listing.iter_runs`), the most recently written first."""

        runs: list[RunSummary]

    class FirstShown(Message):
        """The panel's first scan has drawn its first page (or ended with none): posted once. The corpus screen
        starts the n-gram baseline then, whose pure-Python fit would hold the GIL that the scan's reads need."""

    @dataclass
    class Listed(Message):
        """A scan has ended, every page posted before it; `error` when the scan itself failed."""

        error: str = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Option(Text("reading saved runs…", style="dim"), disabled=True), id=id)
        self.border_title = "saved runs"
        self.border_subtitle = "Enter/Ctrl+O trains on · Ctrl+G generates"
        self.runs: list[RunSummary] = []
        self.marked: set[Path] = set()  # saved runs marked for comparison
        self.listed = False  # the list shows a finished scan (the first one has ended)
        self._scanning = False
        self._rescan = False  # asked for while a scan was running: one more follows it
        self._folders = 0  # run folders the scan under way found: the most it lists
        self._name_width = 0
        self._fresh = False  # the scan under way has not shown a page yet: the previous list is still shown
        self._kept: Path | None = None  # the run highlighted when the scan began, highlighted again once listed
        self._page_shown = threading.Event()  # the scan's last page is drawn: the worker posts the next
        self.first_shown = False  # FirstShown was posted

    # ---- reading --------------------------------------------------------------------------------------
    def scan(self) -> None:
        """Read the saved runs again, in a worker: opening every run folder's files takes long with thousands of
        runs or a slow or network disk, and so does drawing thousands of rows at once, so the rows come in pages
        of SHOWN_PAGE (`iter_runs`), each added between the keys the user presses. A list already shown stays usable
        until the new scan's first page arrives. One scan at a time (a thread cannot be interrupted, so
        cancelling would leave it reading): a scan asked for during a scan runs once that one ends."""
        if self._scanning:
            self._rescan = True
            return
        self._scanning, self._rescan, self._fresh = True, False, True
        self._kept = self.selected.path if self.selected else None
        self.border_title = "saved runs (reading…)"
        self._list_runs()

    @property
    def reading(self) -> bool:
        """A scan of the saved runs is under way (the list shows the previous one, or says it is reading)."""
        return self._scanning

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs")
    def _list_runs(self) -> None:
        worker, error = get_current_worker(), ""
        try:
            folders = run_folders(runs_dir())
            self.post_message(self.Counted(len(folders), max((len(one_line(f.name)) for f in folders), default=0)))
            for page in iter_runs(runs_dir(), SHOWN_PAGE, folders):
                # One page in the panel's queue at a time: a key pressed meanwhile waits behind one page's rows
                # (a few ms), not behind every page read ahead of the drawing (seconds for thousands of runs).
                self._page_shown.clear()
                self.post_message(self.Paged(page))
                while not self._page_shown.wait(0.1):
                    if worker.is_cancelled:  # the panel went away meanwhile
                        return
        except Exception as e:  # noqa: BLE001 - iter_runs should not raise; if it does, the screen stays up
            error = f"cannot read the saved runs: {type(e).__name__}: {e}"
        if not worker.is_cancelled:
            self.post_message(self.Listed(error))

    @on(Counted)
    def _counted(self, message: Counted) -> None:
        message.stop()
        self._folders, self._name_width = message.folders, message.name_width

    @on(Paged)
    def _paged(self, message: Paged) -> None:
        message.stop()
        if self._fresh:  # the first page of a new scan replaces the list shown so far
            self._fresh = False
            self.runs = []
            self.clear_options()
        start = len(self.runs)
        self.runs += message.runs
        labels = [Option(run_label(r, self._name_width, r.path in self.marked), id=str(r.path)) for r in message.runs]
        self.add_options(labels)
        self.border_title = f"saved runs (reading… {len(self.runs):,} of {self._folders:,})"
        found = [i for i, r in enumerate(message.runs, start) if r.path == self._kept]
        # A scan ends whenever the disk allows, maybe while the user moves in the list: keep their run highlighted.
        if found and self.highlighted in (None, 0):
            self.highlighted, self._kept = found[0], None
        elif start == 0 and self.has_focus:  # focused while it was being read: land on a run, as Tab does
            self.highlighted = 0
        self.call_after_refresh(self._page_shown.set)  # the next page once this one is drawn
        self.call_after_refresh(self._say_first_shown)

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        message.stop()
        self._scanning = False
        self.listed = True
        if self._fresh:  # no page: no runs, or the scan failed
            self.runs = []
            self.clear_options()
        self._fresh, self._kept = False, None
        self.marked &= {r.path for r in self.runs}
        n = len(self.runs)
        self.border_title = f"{n:,} saved run{'s' if n != 1 else ''}" if n else "saved runs"
        if message.error:
            self.add_option(Option(Text(one_line(message.error), style="red"), disabled=True))
        elif not self.runs:
            self.add_option(Option(Text("no saved runs yet: train one and it appears here", style="dim"),
                                   disabled=True))  # fmt: skip
        self._say_first_shown()
        if self._rescan:
            self.scan()

    def _say_first_shown(self) -> None:
        if not self.first_shown:
            self.first_shown = True
            self.post_message(self.FirstShown())

    def on_focus(self) -> None:
        # Tabbing to the saved runs must land on one: Ctrl+G and Enter act on the highlighted run.
        if self.runs and self.highlighted is None:
            self.highlighted = 0

    @property
    def selected(self) -> RunSummary | None:
        """The highlighted run, or None (no run listed, or none highlighted)."""
        if self.highlighted is None or not self.runs or self.highlighted >= len(self.runs):
            return None
        return self.runs[self.highlighted]

    def _chosen(self) -> RunSummary | None:
        """The highlighted run; None, after saying what to do, when there is none."""
        if not self.runs and not self.listed:
            self.notify("the saved runs are still being read: try again in a moment", severity="warning")
        elif not self.runs:
            self.notify("there are no saved runs yet: train one (Ctrl+T) and it is listed here", severity="warning")
        elif self.selected is None:
            self.notify("highlight a saved run first (Tab to the list below)", severity="warning")
        return self.selected

    # ---- what the user asks for ------------------------------------------------------------------------
    @on(OptionList.OptionSelected)
    def _selected(self) -> None:
        self.request_continue()

    def request_continue(self) -> None:
        """Ask to train the highlighted run further (posts ContinueRequested), or say why it cannot be."""
        run = self._chosen()
        if run is None:
            return
        if not run.has_checkpoint or run.config is None:
            why = run.problem or "it has no checkpoint to continue from"
            self.notify(f"{run.name} cannot be continued: {why}", severity="error")
            return
        self.post_message(self.ContinueRequested(run))

    def request_generate(self) -> None:
        """Ask to generate from the highlighted run (posts GenerateRequested)."""
        run = self._chosen()
        if run is not None:
            self.post_message(self.GenerateRequested(run))

    def action_inspect_run(self) -> None:
        run = self._chosen()
        if run is not None:
            self.post_message(self.InspectRequested(run))

    def action_mark_run(self) -> None:
        """Mark or unmark the highlighted run for the side-by-side curves."""
        run = self.selected
        if run is None:
            return
        self.marked ^= {run.path}
        self.replace_option_prompt_at_index(self.highlighted, run_label(run, self._name_width, run.path in self.marked))

    def action_compare_runs(self) -> None:
        chosen = [r for r in self.runs if r.path in self.marked]
        if len(chosen) < 2:
            self.notify("mark two or more saved runs with m first, then c shows their curves together")
            return
        self.post_message(self.CompareRequested(chosen))


def run_label(r: RunSummary, name_width: int, marked: bool = False) -> Text:
    """One saved run on one line (cut with an ellipsis, never wrapped): what is in its checkpoint (not rows
    logged after it), or what is damaged."""
    cfg = r.config
    model = f"  {cfg.cell.upper()} {cfg.n_layers}x{cfg.hidden}" if cfg else ""
    if r.problem:
        state = ("damaged: " + one_line(r.problem), "red")  # names files and paths: untrusted text
    elif not r.has_checkpoint:
        state = ("no checkpoint yet", "red")
    elif r.checkpoint is None:
        state = ("checkpoint (details unknown)", "yellow")
    else:  # the words of the training screen's panel and the CLI's summary (fmt_weights, fmt_why_ended)
        best = f"best val {r.best_val_loss:.3f}" if r.best_val_loss is not None else "no val loss yet"
        state = (f"{fmt_weights(r.step, r.checkpoint.kept_step, short=True)}  {best}{ended(r, short=True)}", "green")
    return Text.assemble(
        ("● " if marked else "  ", "cyan"), (f"{one_line(r.name):<{name_width}}", "bold"), model, "  ", state,
        no_wrap=True, overflow="ellipsis",
    )  # fmt: skip


def ended(r: RunSummary, short: bool = False) -> str:
    """Why the run ended, as recorded in checkpoint.json, after two spaces ("  time budget reached"); "" when no
    end is recorded (it trains on elsewhere, it was killed, or its record is older than the field)."""
    info = r.checkpoint
    if info is None or info.end_reason is None:
        return ""
    return "  " + fmt_why_ended(info.end_reason, info.stalled_evals, short)


def run_hint(run: RunSummary) -> Text:
    """The hint under the list for the highlighted run: its path, and how to go on with it here and in a shell
    (or what is damaged)."""
    if run.problem:
        return Text.assemble((f"{shown_path(run.path)}\n", "bold"), (f"damaged: {run.problem}", "red"))
    return Text.assemble(
        (f"{shown_path(run.path)}\n", "bold"),
        (f"Enter/Ctrl+O trains on for another {fmt_budget(run.config)}; Ctrl+G generates. In a shell: ", "dim"),
        generate_command(run.path),
    )
