"""The first screen: choose what to learn from, how big a model, and start; or pick up a saved run."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from charrnn_tui.config import DEFAULT_PRESET, PRESET_HELP, PRESETS, TrainConfig
from charrnn_tui.corpus import DEFAULT_CORPUS, BuiltinPlay, Corpus, builtin_plays, load_corpus, load_file
from charrnn_tui.errors import CharRNNError
from charrnn_tui.paths import runs_dir
from charrnn_tui.tui.messages import CorpusLoaded
from charrnn_tui.tui.runs import SavedRun, list_runs
from charrnn_tui.tui.suggest import PathSuggester
from charrnn_tui.tui.widgets.baseline_line import BaselineLine
from charrnn_tui.tui.widgets.settings_form import SettingsForm

PREVIEW_CHARS = 1500


class CorpusScreen(Screen):
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
        self.runs: list[SavedRun] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="corpus-top"):
            with Vertical(id="corpus-left"):
                yield OptionList(id="plays")
                yield Input(placeholder="path/to/file.txt, then Enter", id="path", suggester=PathSuggester())
            with Vertical(id="corpus-mid"):
                yield Static(id="corpus-info")
                yield BaselineLine(id="corpus-baseline")
                with VerticalScroll(id="preview-box"):
                    yield Static(id="preview", markup=False)
            with Vertical(id="corpus-right"):
                yield Select(
                    [(f"preset: {name}", name) for name in PRESETS],
                    value=self.preset_name, allow_blank=False, id="preset",
                )  # fmt: skip
                yield Static(id="preset-help")
                yield SettingsForm(id="settings")
                yield Static(id="settings-error", markup=False)
                yield Button("Train  (Ctrl+T)", id="train", variant="primary")
        yield OptionList(id="runs")
        yield Static(id="corpus-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "choose a corpus and a model"
        self.query_one("#plays").border_title = "built-in plays"
        self.query_one("#path").border_title = "or a text file (→ completes)"
        self.query_one("#corpus-mid").border_title = "corpus"
        self.query_one("#corpus-right").border_title = "model and training"
        self.query_one("#runs").border_title = "saved runs: Enter or Ctrl+O continues training, Ctrl+G generates"
        self.plays = builtin_plays()
        plays = self.query_one("#plays", OptionList)
        for p in self.plays:
            genre = f"  {p.genre}" if len(p.name) + len(p.genre) <= 26 else ""  # a long name keeps its line
            label = Text.assemble(p.name, (genre, "dim"), no_wrap=True, overflow="ellipsis")
            plays.add_option(Option(label, id=p.name))
        self.query_one(SettingsForm).load(self._preset())
        self._show_preset_help()
        self.refresh_runs()
        self.query_one("#corpus-hint", Static).update(
            Text("Tab moves between parts; ↑↓ choose; Ctrl+T trains; Ctrl+Q quits.", style="dim")
        )
        spec = self.initial_corpus or DEFAULT_CORPUS
        names = [p.name for p in self.plays]
        if spec in names:
            plays.highlighted = names.index(spec)  # its highlight event loads it
        else:
            self.query_one("#path", Input).value = spec
            self.load(spec)
        plays.focus()
        self.app.steady_inputs(self)

    def on_screen_resume(self) -> None:
        self.refresh_runs()

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
        self.query_one("#corpus-info", Static).update(Text(f"loading {spec}...", style="yellow"))
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
            self.query_one("#corpus-info", Static).update(Text(message.error, style="bold red"))
            self.notify(message.error, title="cannot use this corpus", severity="error")
        else:
            self._show_corpus()
            self.query_one(BaselineLine).show_for(message.corpus, self._config_or_preset().val_fraction)
        self._validate()

    def _show_corpus(self) -> None:
        c = self.corpus
        assert c is not None
        cfg = self._config_or_preset()
        train, val = len(c) - int(len(c) * cfg.val_fraction), int(len(c) * cfg.val_fraction)
        source = "built-in" if c.source == "built-in" else Path(c.source).name
        info = Text.assemble(
            (c.name, "bold"), (f"  ({source})\n", "dim"),
            ("characters  ", "dim"), f"{len(c):,}\n",
            ("vocabulary  ", "dim"), f"{self.vocab_size:,} distinct characters\n",
            ("train / val ", "dim"), f"{train:,} / {val:,} chars",
        )  # fmt: skip
        self.query_one("#corpus-info", Static).update(info)
        self.query_one("#preview", Static).update(c.text[:PREVIEW_CHARS])
        self.query_one("#preview-box").border_title = "preview"

    # ---- settings -----------------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value in PRESETS and event.value != self.preset_name:
            self.preset_name = str(event.value)
            self.query_one(SettingsForm).load(self._preset())
            self._show_preset_help()
            self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("set-"):
            self._validate()

    def _show_preset_help(self) -> None:
        self.query_one("#preset-help", Static).update(Text(PRESET_HELP[self.preset_name], style="dim"))

    def _preset(self) -> TrainConfig:
        """The chosen preset with the command line's settings (e.g. --eval-interval) on top."""
        return PRESETS[self.preset_name].with_overrides(**self.overrides)

    def _config_or_preset(self) -> TrainConfig:
        try:
            return self.query_one(SettingsForm).read(self._preset())
        except CharRNNError:
            return self._preset()

    def config(self) -> TrainConfig:
        """The settings as typed, checked by the engine's own rules (and against the corpus, once loaded)."""
        config = self.query_one(SettingsForm).read(self._preset())
        config.validate()
        if self.corpus is not None:
            n_val = int(len(self.corpus) * config.val_fraction)
            config.validate_for(len(self.corpus) - n_val, n_val)
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
        if self.corpus is None:
            self.notify(self.corpus_error or "the corpus is still loading", severity="warning")
            return
        try:
            config = self.config()
        except CharRNNError as e:
            self.notify(str(e), title="cannot start", severity="error")
            return
        self.app.start_training(self.corpus, config)

    # ---- saved runs ------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        self.runs = list_runs(runs_dir())
        runs = self.query_one("#runs", OptionList)
        runs.clear_options()
        if not self.runs:
            runs.add_option(Option(Text("no saved runs yet: train one and it appears here", style="dim"),
                                   disabled=True))  # fmt: skip
            return
        for r in self.runs:
            cfg = r.config
            best = f"best val {r.best_val_loss:.3f}" if r.best_val_loss is not None else "no val loss yet"
            label = Text.assemble(
                (f"{r.name:<34}", "bold"), f" {r.corpus_name:<18} ",
                f"{cfg.cell.upper()} {cfg.n_layers}x{cfg.hidden}  ", f"step {r.steps:>6,}  ", (best, "green"),
                ("" if r.has_checkpoint else "  (no checkpoint)", "red"),
            )  # fmt: skip
            runs.add_option(Option(label, id=str(r.path)))

    def _selected_run(self) -> SavedRun | None:
        runs = self.query_one("#runs", OptionList)
        if runs.highlighted is None or not self.runs or runs.highlighted >= len(self.runs):
            return None
        return self.runs[runs.highlighted]

    def _show_run_hint(self) -> None:
        run = self._selected_run()
        if run is not None:
            self.query_one("#corpus-hint", Static).update(
                Text(f"{run.name}: Enter/Ctrl+O trains on for {budget(run.config)}, Ctrl+G generates", style="dim")
            )

    def action_continue_run(self) -> None:
        run = self._selected_run()
        if run is None:
            self.notify("highlight a saved run first (Tab to the list below)", severity="warning")
            return
        if not run.has_checkpoint:
            self.notify(f"{run.name} has no checkpoint to continue from", severity="error")
            return
        self.app.continue_run(run)

    def action_generate_run(self) -> None:
        run = self._selected_run()
        if run is None:
            self.notify("highlight a saved run first (Tab to the list below)", severity="warning")
            return
        self.app.generate_from_run(run)


def budget(config: TrainConfig) -> str:
    parts = []
    if config.steps:
        parts.append(f"{config.steps:,} more steps")
    if config.max_seconds:
        parts.append(f"{config.max_seconds:g} s")
    return " or ".join(parts) or "ever (Esc stops)"
