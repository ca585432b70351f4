"""The first screen: choose what to learn from, how big a model, and start; or pick up a saved run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from charrnn_tui.core.config import (
    DEFAULT_PRESET,
    FITTED_FIELDS,
    NOMINAL_CHARS_PER_S,
    PRESET_HELP,
    PRESETS,
    TrainConfig,
    planned_epochs,
)
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.paths import runs_dir
from charrnn_tui.present.formatting import fmt_budget, fmt_epochs, generate_command, shown_path
from charrnn_tui.present.safetext import escape, one_line
from charrnn_tui.runs.listing import RunSummary, list_runs
from charrnn_tui.text.corpus import DEFAULT_CORPUS, BuiltinPlay, Corpus, builtin_plays, load_corpus, load_file
from charrnn_tui.training.rates import Sizing
from charrnn_tui.tui.messages import CorpusLoaded
from charrnn_tui.tui.widgets.baseline_line import BaselineLine
from charrnn_tui.tui.widgets.path_suggester import PathSuggester
from charrnn_tui.tui.widgets.safe_input import SafeInput
from charrnn_tui.tui.widgets.settings_form import SHOWN_FIELDS, SettingsForm

PREVIEW_CHARS = 1500
NARROW_WIDTH = 110  # below this the preview column is left out
STACKED_WIDTH = 72  # below this (e.g. 80 columns with the keys panel open) the columns stack and scroll


class CorpusColumns(Horizontal):
    """The screen's columns; their own width (not the terminal's: a docked keys panel takes some) picks
    the arrangement."""

    def on_resize(self, event: events.Resize) -> None:
        screen = self.screen
        if isinstance(screen, CorpusScreen):
            screen.fit(event.size.width)


class CorpusScreen(Screen):
    """Posts what the user asks for; the app, which owns the training run, acts on it."""

    class TrainRequested(Message):
        """Train a new run on `corpus` with `config`, sized by `sizing` (the default preset) or not (None)."""

        def __init__(self, corpus: Corpus, config: TrainConfig, sizing: Sizing | None = None) -> None:
            super().__init__()
            self.corpus, self.config, self.sizing = corpus, config, sizing

    class ContinueRequested(Message):
        """Train the saved run `run` further."""

        def __init__(self, run: RunSummary) -> None:
            super().__init__()
            self.run = run

    class GenerateRequested(Message):
        """Open generation on the saved run `run`."""

        def __init__(self, run: RunSummary) -> None:
            super().__init__()
            self.run = run

    class ShowTrainingRequested(Message):
        """Go back to the run training in the background."""

    class InspectRequested(Message):
        """Look inside the saved run `run`: surprise and cells on its validation text."""

        def __init__(self, run: RunSummary) -> None:
            super().__init__()
            self.run = run

    class CompareRequested(Message):
        """Show the validation curves of `runs` side by side."""

        def __init__(self, runs: list[RunSummary]) -> None:
            super().__init__()
            self.runs = runs

    class RunsListed(Message):
        """The saved runs, read off the UI thread (`runs.listing.list_runs`), the most recently written first; or
        `error` when the scan itself failed."""

        def __init__(self, runs: list[RunSummary], error: str = "") -> None:
            super().__init__()
            self.runs = runs
            self.error = error

    CSS_PATH = "corpus.tcss"
    BINDINGS = [
        Binding("ctrl+t", "train", "Train", priority=True),
        Binding("ctrl+o", "continue_run", "Continue run", priority=True),
        Binding("ctrl+g", "generate_run", "Generate from run", priority=True),
    ]

    def __init__(
        self,
        corpus: str | None = None,
        preset: str | None = None,
        overrides: dict | None = None,
        encoding: str = "utf-8",
    ) -> None:
        super().__init__()
        self.encoding = encoding
        self.initial_corpus = corpus
        self.preset_name = preset or DEFAULT_PRESET
        self.overrides = overrides or {}
        self.corpus: Corpus | None = None
        self.vocab_size = 0
        self.corpus_error = ""
        self._request = 0
        self.plays: list[BuiltinPlay] = []
        self.runs: list[RunSummary] = []
        self.marked: set[Path] = set()  # saved runs marked for comparison
        self.runs_read = False  # the list shows a finished scan (the first one has ended)
        self._scanning = False
        self._rescan = False  # asked for while a scan was running: one more follows it
        # The default preset's settings sized for the corpus (config.fit_to_corpus), as last put in the form: a
        # field whose value differs from it was typed by the user (`_typed`), and later sizing leaves it alone.
        self._sized: dict[str, object] = {}
        self._typed: set[str] = set()
        self._sizing: Sizing | None = None  # how the form was last sized, handed to the run (it may re-size)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="corpus-running", markup=False)  # shown while a run trains behind this screen
        with CorpusColumns(id="corpus-top"):
            with Vertical(id="corpus-left"):
                yield OptionList(id="plays")
                yield SafeInput(placeholder="path/to/file.txt, then Enter", id="path", suggester=PathSuggester())
                yield Static(id="corpus-info")
                yield BaselineLine(id="corpus-baseline")
            with VerticalScroll(id="preview-box"):
                yield Static(id="preview", markup=False)
            with VerticalScroll(id="corpus-right"):
                yield Select(
                    [(f"preset: {name}", name) for name in PRESETS],
                    value=self.preset_name, allow_blank=False, compact=True, id="preset",
                )  # fmt: skip
                yield Static(id="preset-help")
                yield SettingsForm(id="settings")
                yield Static(id="settings-error", markup=False)
                yield Button("Train  (Ctrl+T)", id="train", variant="primary")
        yield RunList(id="runs")
        yield Static(id="corpus-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "choose a corpus and a model"
        self.query_one("#plays").border_title = "built-in plays"
        self.query_one("#path").border_title = "or a text file (→ completes)"
        self.query_one("#corpus-info").border_title = "corpus"
        self.query_one("#preview-box").border_title = "preview"
        self.query_one("#corpus-right").border_title = "model and training"
        self.query_one("#runs").border_title = "saved runs"
        self.query_one("#runs").border_subtitle = "Enter/Ctrl+O trains on · Ctrl+G generates"
        self.plays = builtin_plays()
        plays = self.query_one("#plays", OptionList)
        for p in self.plays:
            genre = f"  {p.genre}" if len(p.name) + len(p.genre) <= 26 else ""  # a long name keeps its line
            label = Text.assemble(p.name, (genre, "dim"), no_wrap=True, overflow="ellipsis")
            plays.add_option(Option(label, id=p.name))
        self.query_one(SettingsForm).load(self._preset())
        self._show_preset_help()
        # The first scan starts on the ScreenResume that every push sends (on_screen_resume), not here too:
        # two scans at once would read every run folder twice.
        self.query_one("#runs", OptionList).add_option(Option(Text("reading saved runs…", style="dim"), disabled=True))
        self._show_default_hint()
        spec = self.initial_corpus or DEFAULT_CORPUS
        names = [p.name for p in self.plays]
        if spec in names:
            plays.highlighted = names.index(spec)  # its highlight event loads it
        else:
            self.query_one("#path", Input).value = spec
            self.load(spec)
        plays.focus()
        self.app.steady_inputs(self)
        self.fit(self.size.width)
        self._show_running()
        self.set_interval(1.0, self._show_running)

    def on_screen_resume(self) -> None:
        self.refresh_runs()
        self._show_running()

    def fit(self, width: int) -> None:
        """Arrange the columns for `width` cells. Below NARROW_WIDTH the preview gives its room to the
        settings (the corpus's numbers stay, under the list of plays); below STACKED_WIDTH the corpus and
        the settings stack in one scrolling column, so no setting is squeezed out."""
        self.set_class(width < NARROW_WIDTH, "narrow")
        self.set_class(width < STACKED_WIDTH, "stacked")

    def _show_running(self) -> None:
        """Say so when a run trains behind this screen (Esc left it running), and how to get back to it."""
        banner = self.query_one("#corpus-running", Static)
        s = getattr(self.app, "session", None)
        if s is None or not s.active:
            if banner.display:  # it just ended behind this screen: list it with the saved runs
                banner.display = False
                self.refresh_runs()
            return
        step = s.last_step.step if s.last_step else 0
        banner.update(f"A run is training on {s.corpus_name} (step {step:,}): Ctrl+T returns to it.")
        banner.display = True

    def _show_default_hint(self) -> None:
        self.query_one("#corpus-hint", Static).update(
            Text("Tab moves between parts; ↑↓ choose; Ctrl+T trains; Ctrl+Q quits.", style="dim")
        )

    # ---- corpus ------------------------------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "plays" and event.option.id:
            self.load(event.option.id)
        elif event.option_list.id == "runs":
            self._show_run_hint()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # Tabbing to the saved runs must land on one: Ctrl+G and Enter act on the highlighted run.
        runs = event.widget
        if runs.id == "runs" and self.runs and isinstance(runs, OptionList) and runs.highlighted is None:
            runs.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "plays":
            self.query_one("#preset", Select).focus()
        elif event.option_list.id == "runs":
            self.action_continue_run()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "path":
            if event.value.strip():
                self.load(event.value.strip(), is_path=True)
        else:
            self.action_train()

    def load(self, spec: str, is_path: bool = False) -> None:
        self._request += 1
        self.corpus, self.corpus_error = None, ""
        self.query_one("#corpus-info", Static).update(Text(f"loading {one_line(spec)}...", style="yellow"))
        self.query_one("#preview", Static).update("")
        self.query_one(BaselineLine).clear()
        self._validate()
        self._load(self._request, spec, is_path)

    @work(thread=True, exit_on_error=False, group="corpus")
    def _load(self, request: int, spec: str, is_path: bool) -> None:
        # A file can be 100 MB: reading, decoding and counting its characters happens off the UI thread.
        try:
            corpus = load_file(spec, self.encoding) if is_path else load_corpus(spec, self.encoding)
            self.post_message(CorpusLoaded(request, corpus, len(set(corpus.text))))
        except CharRNNError as e:
            self.post_message(CorpusLoaded(request, None, error=str(e)))
        except Exception as e:  # noqa: BLE001 - whatever the file does, the app stays up
            self.post_message(CorpusLoaded(request, None, error=f"cannot load {spec}: {type(e).__name__}: {e}"))

    def on_corpus_loaded(self, message: CorpusLoaded) -> None:
        if message.request != self._request:
            return  # a newer choice is loading
        self.corpus, self.vocab_size, self.corpus_error = message.corpus, message.vocab_size, message.error
        if message.error:
            self.query_one("#corpus-info", Static).update(Text(escape(message.error), style="bold red"))
            self.notify(escape(message.error), title="cannot use this corpus", severity="error", markup=False)
        else:
            self._show_corpus()
            self.query_one(BaselineLine).show_for(message.corpus, self._config_or_preset().val_fraction)
            self._size_for_corpus()
        self._validate()

    def _show_corpus(self) -> None:
        c = self.corpus
        assert c is not None
        cfg = self._config_or_preset()
        train, val = c.split_sizes(cfg.val_fraction)
        source = "built-in" if c.source == "built-in" else Path(c.source).name
        info = Text.assemble(
            (one_line(c.name), "bold"), (f"  ({one_line(source)})\n", "dim"),
            ("characters  ", "dim"), f"{len(c):,}\n",
            ("vocabulary  ", "dim"), f"{self.vocab_size:,} distinct chars\n",
            ("train / val ", "dim"), f"{train:,} / {val:,}",
        )  # fmt: skip
        self.query_one("#corpus-info", Static).update(info)
        self.query_one("#preview", Static).update(escape(c.text[:PREVIEW_CHARS]))
        self.query_one("#preview-box").border_title = "preview"

    # ---- settings -----------------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value in PRESETS and event.value != self.preset_name:
            self.preset_name = str(event.value)
            self._sized, self._typed = {}, set()
            self.query_one(SettingsForm).load(self._preset())
            self._size_for_corpus()
            self._show_preset_help()
            self._validate()
        elif event.select.id and event.select.id.startswith("set-"):
            self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("set-steps", "set-max_seconds"):
            self._size_for_corpus()  # the budget decides how often the text is read
        if event.input.id and event.input.id.startswith("set-"):
            self._validate()

    def _show_preset_help(self) -> None:
        help_text = PRESET_HELP[self.preset_name]
        if self._sized and self.corpus is not None:
            config = self._config_or_preset()
            rate = self._sizing.chars_per_s if self._sizing is not None else NOMINAL_CHARS_PER_S
            epochs = fmt_epochs(planned_epochs(config, self.corpus.split_sizes(config.val_fraction)[0], rate))
            help_text += f" (this corpus: {epochs})"
        self.query_one("#preset-help", Static).update(Text(help_text, style="dim"))

    def _user_set(self, form: TrainConfig) -> set[str]:
        """Sized fields the user typed over (or gave on the command line): sizing keeps them."""
        self._typed |= {f for f, v in self._sized.items() if f in SHOWN_FIELDS and getattr(form, f) != v}
        return self._typed | set(self.overrides)

    def _size_for_corpus(self) -> None:
        """Put the default preset's settings sized for the corpus and budget in the form (fit_to_corpus)."""
        if self.preset_name != DEFAULT_PRESET or self.corpus is None:
            return
        try:
            form = self.query_one(SettingsForm).read(self._preset())
        except CharRNNError:
            return  # a half-typed number: sized again once it reads
        keep = self._user_set(form)
        # Sized from the preset's values, not the form's: those were sized for the last corpus, and sizing only
        # ever lowers the batch (a small text's 5 streams would stay for a play that wants 32).
        preset = self._preset()
        form = form.with_overrides(**{f: getattr(preset, f) for f in FITTED_FIELDS if f not in keep})
        # With the rate this machine measured for the shape (rates.py): the epochs shown are the ones it will read
        self._sizing = Sizing.for_machine(form, self.corpus.split_sizes(form.val_fraction)[0], keep)
        sized = self._sizing.config()
        self._sized = {f: getattr(sized, f) for f in FITTED_FIELDS if f not in keep}
        self.query_one(SettingsForm).load(sized)
        self._show_preset_help()

    def _sizing_of(self, config: TrainConfig) -> Sizing | None:
        """The sizing behind `config`, when the form still holds what it sized (a setting typed since then that
        the sizing does not choose goes into its base)."""
        if self.preset_name != DEFAULT_PRESET or self._sizing is None:
            return None
        base = config.with_overrides(**{f: getattr(self._sizing.base, f) for f in FITTED_FIELDS})
        sizing = replace(self._sizing, base=base, keep=frozenset(self._user_set(config)))
        if sizing.config() != config:
            return None  # sized fields typed over since: the run keeps the form's values as they are
        return sizing

    def _preset(self) -> TrainConfig:
        """The chosen preset with the command line's settings (e.g. --eval-interval) on top."""
        return PRESETS[self.preset_name].with_overrides(**self.overrides)

    def _config_or_preset(self) -> TrainConfig:
        try:
            return self.query_one(SettingsForm).read(self._preset())
        except CharRNNError:
            return self._preset()

    def config(self) -> TrainConfig:
        """The settings as typed, checked by the engine's own rules (and against the corpus, once loaded).
        Sized settings the form does not show (the evaluation interval) are sized here."""
        config = self.query_one(SettingsForm).read(self._preset())
        config = config.with_overrides(**{f: v for f, v in self._sized.items() if f not in SHOWN_FIELDS})
        config.validate()
        if self.corpus is not None:
            config.validate_for(*self.corpus.split_sizes(config.val_fraction))
        return config

    def _validate(self) -> bool:
        error = self.query_one("#settings-error", Static)
        button = self.query_one("#train", Button)
        try:
            self.config()
        except CharRNNError as e:
            error.update(Text(str(e), style="bold red"))
            button.disabled = True
            return False
        ready = self.corpus is not None
        error.update(Text("ready" if ready else self.corpus_error and "choose a usable corpus" or "",
                          style="green" if ready else "red"))  # fmt: skip
        button.disabled = not ready
        return ready

    # ---- start -----------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "train":
            self.action_train()

    def action_train(self) -> None:
        s = getattr(self.app, "session", None)
        if s is not None and s.active:  # one run at a time: Ctrl+T goes back to the one training
            self.post_message(self.ShowTrainingRequested())
            return
        if self.corpus is None:
            self.notify(escape(self.corpus_error) or "the corpus is still loading", severity="warning", markup=False)
            return
        try:
            config = self.config()
        except CharRNNError as e:
            self.notify(str(e), title="cannot start", severity="error")
            return
        self.post_message(self.TrainRequested(self.corpus, config, self._sizing_of(config)))

    # ---- saved runs ------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """Read the saved runs again, in a worker: list_runs opens every run folder's files, which takes long
        with hundreds of runs or a slow or network disk. The list says so meanwhile; a list already shown
        stays usable until the new one arrives. One scan at a time (a thread cannot be interrupted, so
        cancelling would leave it reading): a refresh asked for during a scan runs once that one ends."""
        if self._scanning:
            self._rescan = True
            return
        self._scanning, self._rescan = True, False
        self.query_one("#runs").border_title = "saved runs (reading…)"
        self._list_runs()

    @property
    def reading_runs(self) -> bool:
        """A scan of the saved runs is under way (the list shows the previous one, or says it is reading)."""
        return self._scanning

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs")
    def _list_runs(self) -> None:
        try:
            found, error = list_runs(runs_dir()), ""
        except Exception as e:  # noqa: BLE001 - list_runs should not raise; if it does, the screen stays up
            found, error = [], f"cannot read the saved runs: {type(e).__name__}: {e}"
        if not get_current_worker().is_cancelled:  # the screen went away meanwhile
            self.post_message(self.RunsListed(found, error))

    @on(RunsListed)
    def _runs_listed(self, message: RunsListed) -> None:
        message.stop()
        self._scanning = False
        self.runs_read = True
        self.query_one("#runs").border_title = "saved runs"
        self._show_runs(message.runs, message.error)
        if self._rescan:
            self.refresh_runs()

    def _show_runs(self, found: list[RunSummary], error: str = "") -> None:
        runs = self.query_one("#runs", OptionList)
        # A scan ends whenever the disk allows, maybe while the user moves in the list: keep their run highlighted.
        kept = self._selected_run()
        self.runs = found
        runs.clear_options()
        if error:
            runs.add_option(Option(Text(one_line(error), style="red"), disabled=True))
            return
        if not self.runs:
            runs.add_option(Option(Text("no saved runs yet: train one and it appears here", style="dim"),
                                   disabled=True))  # fmt: skip
            return
        width = max(len(r.name) for r in self.runs)
        self.marked &= {r.path for r in self.runs}
        for r in self.runs:
            runs.add_option(Option(run_label(r, width, r.path in self.marked), id=str(r.path)))
        paths = [r.path for r in self.runs]
        if kept is not None and kept.path in paths:
            runs.highlighted = paths.index(kept.path)
        elif runs.has_focus:  # focused while it was being read: land on a run, as Tab does (on_descendant_focus)
            runs.highlighted = 0

    def action_mark_run(self) -> None:
        """Mark or unmark the highlighted run for the side-by-side curves."""
        run = self._selected_run()
        if run is None:
            return
        self.marked ^= {run.path}
        runs = self.query_one("#runs", OptionList)
        width = max(len(r.name) for r in self.runs)
        runs.replace_option_prompt_at_index(runs.highlighted, run_label(run, width, run.path in self.marked))

    def action_inspect_run(self) -> None:
        if self._no_run_chosen():
            return
        self.post_message(self.InspectRequested(self._selected_run()))

    def action_compare_runs(self) -> None:
        chosen = [r for r in self.runs if r.path in self.marked]
        if len(chosen) < 2:
            self.notify("mark two or more saved runs with m first, then c shows their curves together")
            return
        self.post_message(self.CompareRequested(chosen))

    def _selected_run(self) -> RunSummary | None:
        runs = self.query_one("#runs", OptionList)
        if runs.highlighted is None or not self.runs or runs.highlighted >= len(self.runs):
            return None
        return self.runs[runs.highlighted]

    def _show_run_hint(self) -> None:
        run = self._selected_run()
        if run is None:
            self._show_default_hint()
            return
        self.query_one("#corpus-hint", Static).update(
            Text.assemble(
                (f"{shown_path(run.path)}\n", "bold"),
                (f"Enter/Ctrl+O trains on for another {fmt_budget(run.config)}; Ctrl+G generates. In a shell: ", "dim"),
                generate_command(run.path),
            )
            if not run.problem
            else Text.assemble((f"{shown_path(run.path)}\n", "bold"), (f"damaged: {run.problem}", "red"))
        )

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if event.widget.id == "runs":
            self._show_default_hint()

    def _no_run_chosen(self) -> bool:
        """True (after saying what to do) when no saved run is highlighted."""
        if not self.runs and not self.runs_read:
            self.notify("the saved runs are still being read: try again in a moment", severity="warning")
            return True
        if not self.runs:
            self.notify("there are no saved runs yet: train one (Ctrl+T) and it is listed here", severity="warning")
            return True
        if self._selected_run() is None:
            self.notify("highlight a saved run first (Tab to the list below)", severity="warning")
            return True
        return False

    def action_continue_run(self) -> None:
        if self._no_run_chosen():
            return
        run = self._selected_run()
        assert run is not None
        if not run.has_checkpoint or run.config is None:
            why = run.problem or "it has no checkpoint to continue from"
            self.notify(f"{run.name} cannot be continued: {why}", severity="error")
            return
        self.post_message(self.ContinueRequested(run))

    def action_generate_run(self) -> None:
        if self._no_run_chosen():
            return
        run = self._selected_run()
        assert run is not None
        self.post_message(self.GenerateRequested(run))


class RunList(OptionList):
    """The saved runs; its keys show in the footer while it has focus."""

    BINDINGS = [
        Binding("m", "screen.mark_run", "Mark"),
        Binding("c", "screen.compare_runs", "Compare marked"),
        Binding("i", "screen.inspect_run", "Look inside"),
    ]


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
    else:
        best = f"best val {r.best_val_loss:.3f}" if r.best_val_loss is not None else "no val loss yet"
        state = (f"step {r.step:,}  {best}", "green")
    return Text.assemble(
        ("● " if marked else "  ", "cyan"), (f"{one_line(r.name):<{name_width}}", "bold"), model, "  ", state,
        no_wrap=True, overflow="ellipsis",
    )  # fmt: skip
