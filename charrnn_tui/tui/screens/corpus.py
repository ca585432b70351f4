"""The first screen: choose what to learn from, how big a model, and start; or pick up a saved run."""

from __future__ import annotations

from dataclasses import dataclass, replace
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
from charrnn_tui.present.formatting import fmt_epochs
from charrnn_tui.present.safetext import escape, one_line
from charrnn_tui.runs.listing import RunSummary
from charrnn_tui.text.corpus import DEFAULT_CORPUS, BuiltinPlay, Corpus, builtin_plays, load_corpus, load_file
from charrnn_tui.training.rates import Sizing
from charrnn_tui.tui.widgets.baseline_line import BaselineLine
from charrnn_tui.tui.widgets.path_suggester import PathSuggester
from charrnn_tui.tui.widgets.runs_panel import RunsPanel, run_hint
from charrnn_tui.tui.widgets.safe_input import SafeInput
from charrnn_tui.tui.widgets.settings_form import SHOWN_FIELDS, SettingsForm
from charrnn_tui.tui.widgets.train_plan import TrainPlan

PREVIEW_CHARS = 1500
EXCERPT_CHARS = 300  # the narrow layout's few lines of the text, under the corpus's numbers
NARROW_WIDTH = 110  # below this the preview column is left out
STACKED_WIDTH = 72  # below this (e.g. 80 columns with the keys panel open) the columns stack and scroll


class CorpusColumns(Horizontal):
    """The screen's columns: their own width (not the terminal's: a docked keys panel takes some) decides."""

    def on_resize(self, event: events.Resize) -> None:
        screen = self.screen
        if isinstance(screen, CorpusScreen):
            screen.fit(event.size.width)


class CorpusScreen(Screen):
    """Posts what the user asks for; the app, which owns the training run, acts on it."""

    @dataclass
    class TrainRequested(Message):
        """Train a new run on `corpus` with `config`, sized by `sizing` (the default preset) or not (None)."""

        corpus: Corpus
        config: TrainConfig
        sizing: Sizing | None = None

    class ShowTrainingRequested(Message):
        """Go back to the run training in the background."""

    @dataclass
    class CorpusLoaded(Message):
        """A corpus finished loading off the UI thread (or failed to: `error` says why); `request` numbers the
        choice it answers, so that an older load finishing late is dropped."""

        request: int
        corpus: Corpus | None
        vocab_size: int = 0
        error: str = ""

    CSS_PATH = "corpus.tcss"
    BINDINGS = [
        Binding("ctrl+t", "train", "Train", priority=True),
        Binding("ctrl+o", "continue_run", "Continue run", priority=True),
        Binding("ctrl+g", "generate_run", "Generate from run", priority=True),
        Binding("escape", "baseline('cancel')", "Cancel baseline"),
        Binding("ctrl+r", "baseline('restart')", "Baseline"),
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
                # One row, no border: at 80x24 the rows go to the plays and the text's first lines.
                yield SafeInput(
                    placeholder="or a file path, then Enter", id="path", suggester=PathSuggester(),
                    compact=True,
                )  # fmt: skip
                with Vertical(id="corpus-box"):
                    yield Static(id="corpus-info")
                    yield BaselineLine(id="corpus-baseline")
                    yield Static(id="corpus-excerpt", markup=False)  # the preview, where it has no column
            with VerticalScroll(id="preview-box"):
                yield Static(id="preview", markup=False)
            with VerticalScroll(id="corpus-right"):
                yield TrainPlan(id="train-plan")
                yield Select(
                    [(f"preset: {name}", name) for name in PRESETS],
                    value=self.preset_name, allow_blank=False, compact=True, id="preset",
                )  # fmt: skip
                yield Static(id="preset-help")
                yield SettingsForm(id="settings")
                yield Static(id="settings-error", markup=False)
                yield Button("Train  (Ctrl+T)", id="train", variant="primary")
        yield RunsPanel(id="runs")
        yield Static(id="corpus-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "choose a corpus and a model"
        self.query_one("#plays").border_title = "built-in plays"
        self.query_one("#corpus-box").border_title = "corpus"
        self.query_one("#preview-box").border_title = "preview"
        self.query_one("#corpus-right").border_title = "model and training"
        self.plays = builtin_plays()
        plays = self.query_one("#plays", OptionList)
        for p in self.plays:
            genre = f"  {p.genre}" if len(p.name) + len(p.genre) <= 26 else ""  # a long name keeps its line
            label = Text.assemble(p.name, (genre, "dim"), no_wrap=True, overflow="ellipsis")
            plays.add_option(Option(label, id=p.name))
        self.query_one(SettingsForm).load(self._preset())
        self._show_preset_help()
        self.query_one(BaselineLine).hold()  # until the saved runs' first page (see below)
        # The first scan of the saved runs starts on every push's ScreenResume, not here too: it would read them twice.
        self._show_default_hint()
        spec = self.initial_corpus or DEFAULT_CORPUS
        names = [p.name for p in self.plays]
        if spec in names:
            plays.highlighted = names.index(spec)  # its highlight event loads it
        else:
            self.query_one("#path", Input).value = spec
            self.load(spec)
        plays.focus()
        self.fit(self.size.width)
        self._show_running()
        self.set_interval(1.0, self._show_running)

    def on_screen_resume(self) -> None:
        self.query_one(RunsPanel).scan()
        self._show_running()

    def fit(self, width: int) -> None:
        """Arrange the columns for `width` cells. Below NARROW_WIDTH the preview gives its room to the settings (the
        corpus's numbers stay, under the plays); below STACKED_WIDTH they stack in one scrolling column."""
        self.set_class(width < NARROW_WIDTH, "narrow")
        self.set_class(width < STACKED_WIDTH, "stacked")

    def _show_running(self) -> None:
        """Say so when a run trains behind this screen (Esc left it running), and how to get back to it."""
        banner = self.query_one("#corpus-running", Static)
        s = getattr(self.app, "session", None)
        if s is None or not s.active:
            if banner.display:  # it just ended behind this screen: list it with the saved runs
                banner.display = False
                self.query_one(RunsPanel).scan()
                self._validate()  # and Ctrl+T trains a new run again
            return
        step = s.last_step.step if s.last_step else 0
        banner.update(f"A run is training on {s.corpus_name} (step {step:,}): Ctrl+T returns to it.")
        banner.display = True
        self.query_one(TrainPlan).show(None, None, training_on=s.corpus_name)

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

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "plays":
            self.query_one(BaselineLine).restart()  # choosing the corpus again brings a cancelled baseline back
            self.query_one("#preset", Select).focus()

    def on_runs_panel_first_shown(self) -> None:  # the fit holds the GIL the scan needs (docs/benchmarks.md)
        self.query_one(BaselineLine).release()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "baseline":  # False hides the key and lets Esc go on (a menu, the keys panel, a selection)
            line = self.query_one(BaselineLine)
            return line.cancellable if parameters == ("cancel",) else line.cancelled
        return True

    def action_baseline(self, verb: str) -> None:
        getattr(self.query_one(BaselineLine), verb)()

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
        self.query_one("#corpus-excerpt", Static).update("")
        self.query_one(BaselineLine).clear()
        self._validate()
        self._load(self._request, spec, is_path)

    @work(thread=True, exit_on_error=False, group="corpus")
    def _load(self, request: int, spec: str, is_path: bool) -> None:
        # A file can be 100 MB: reading, decoding and counting its characters happens off the UI thread.
        try:
            corpus = load_file(spec, self.encoding) if is_path else load_corpus(spec, self.encoding)
            self.post_message(self.CorpusLoaded(request, corpus, len(set(corpus.text))))
        except CharRNNError as e:
            self.post_message(self.CorpusLoaded(request, None, error=str(e)))
        except Exception as e:  # noqa: BLE001 - whatever the file does, the app stays up
            self.post_message(self.CorpusLoaded(request, None, error=f"cannot load {spec}: {type(e).__name__}: {e}"))

    @on(CorpusLoaded)
    def _corpus_loaded(self, message: CorpusLoaded) -> None:
        if message.request != self._request:
            return  # a newer choice is loading
        self.corpus, self.vocab_size, self.corpus_error = message.corpus, message.vocab_size, message.error
        if message.error:
            self.query_one("#corpus-info", Static).update(Text(escape(message.error), style="bold red"))
            self.notify(escape(message.error), title="cannot use this corpus", severity="error", markup=False)
        else:
            self._show_corpus()
            val_fraction = self._config_or_preset().val_fraction
            self.query_one(BaselineLine).show_for(message.corpus, val_fraction, self.app.baselines)
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
            ("characters  ", "dim"), f"{len(c):,}", ("  distinct ", "dim"), f"{self.vocab_size:,}\n",
            ("train / val ", "dim"), f"{train:,} / {val:,}",
        )  # fmt: skip
        self.query_one("#corpus-info", Static).update(info)
        self.query_one("#preview", Static).update(escape(c.text[:PREVIEW_CHARS]))
        self.query_one("#corpus-excerpt", Static).update(excerpt(c.text))
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
        plan = self.query_one(TrainPlan)
        s = getattr(self.app, "session", None)
        training_on = s.corpus_name if s is not None and s.active else None
        corpus_name = self.corpus.name if self.corpus is not None else None
        try:
            config = self.config()
        except CharRNNError as e:
            error.update(Text(str(e), style="bold red"))
            button.disabled = True
            plan.show(corpus_name, None, training_on)
            return False
        plan.show(corpus_name, config, training_on)
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

    # ---- saved runs: the panel asks the app for what is chosen there ----------------------------------
    @property
    def runs(self) -> list[RunSummary]:
        """The saved runs listed, the most recently written first (empty until the first scan ends)."""
        return self.query_one(RunsPanel).runs

    @property
    def marked(self) -> set[Path]:
        """The folders of the saved runs marked for the side-by-side curves."""
        return self.query_one(RunsPanel).marked

    # The screen's keys and the command palette run these on the screen, whichever widget has the focus.
    def action_continue_run(self) -> None:
        self.query_one(RunsPanel).request_continue()

    def action_generate_run(self) -> None:
        self.query_one(RunsPanel).request_generate()

    def action_inspect_run(self) -> None:
        self.query_one(RunsPanel).action_inspect_run()

    def action_mark_run(self) -> None:
        self.query_one(RunsPanel).action_mark_run()

    def action_compare_runs(self) -> None:
        self.query_one(RunsPanel).action_compare_runs()

    def _show_run_hint(self) -> None:
        run = self.query_one(RunsPanel).selected
        if run is None:
            self._show_default_hint()
        else:
            self.query_one("#corpus-hint", Static).update(run_hint(run))

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if event.widget.id == "runs":
            self._show_default_hint()


def excerpt(text: str) -> str:
    """The text's first characters as a few dense lines: line breaks shown as ↵, runs of blank lines as one, so
    two rows say more than a title and an empty line; escaped, since a corpus is untrusted."""
    return " ↵ ".join(line.strip() for line in escape(text[:EXCERPT_CHARS]).splitlines() if line.strip())
