"""The app: a corpus screen, a training screen fed by a worker thread, and a generation screen.

The App owns the one training run (a TrainingSession) so that it outlives screen changes, and so that
quitting can stop it and wait for its thread.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from charrnn_tui.core.config import TrainConfig, continuation
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import Failed, Finished
from charrnn_tui.core.paths import runs_dir
from charrnn_tui.core.requests import AppRequest
from charrnn_tui.present.formatting import fmt_weights
from charrnn_tui.present.safetext import display_path, escape, one_line
from charrnn_tui.runs.corpus_of_run import missing_corpus
from charrnn_tui.runs.folder import create_run_dir
from charrnn_tui.runs.listing import RunSummary, summarize
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.rates import Sizing
from charrnn_tui.tui.commands import AppCommands, SystemCommands, close_keys_panel, keys_panel_open
from charrnn_tui.tui.hangup import HangupGuard, watch_terminal
from charrnn_tui.tui.messages import InspectionLoaded, ModelLoaded, TrainerEvent
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.inside.base import InsideScreen
from charrnn_tui.tui.screens.quit import QuitScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.state.baselines import BaselineCache
from charrnn_tui.tui.state.session import TrainingSession
from charrnn_tui.tui.state.weight_sets import session_weights, weight_sets
from charrnn_tui.tui.terminal_driver import guarded_driver
from charrnn_tui.tui.widgets.runs_panel import RunsPanel


class CharRNNApp(App):
    TITLE = "charrnn-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("escape", "close_keys", show=False, priority=True),  # before any screen's Esc, while it is open
    ]
    COMMANDS = {SystemCommands, AppCommands}  # the palette (Ctrl+P) holds the app's commands with their keys

    def __init__(
        self,
        corpus: str | None = None,
        preset: str | None = None,
        overrides: dict | None = None,
        run_dir: str | Path | None = None,
        resume: bool = False,
        encoding: str | None = None,
        test_mode: bool = False,
    ) -> None:
        super().__init__()
        self.initial = (corpus, preset, overrides or {})
        self.run_dir = Path(run_dir) if run_dir else None  # used by the first run started, if given
        self.resume_at_start = resume
        self.encoding = encoding or "utf-8"
        self.test_mode = test_mode  # no animations: snapshots must be stable (tests/tui/conftest.py stops the cursors)
        self.session: TrainingSession | None = None
        self.training_worker: Worker | None = None
        self.baselines = BaselineCache()  # the n-gram baselines computed so far, shared by the screens
        self.quitting = False
        self.guard: HangupGuard | None = None  # run_app sets it: a signal or a dead terminal saves and ends the app

    @classmethod
    def from_request(cls, request: AppRequest, test_mode: bool = False) -> CharRNNApp:
        """The one way the CLI and the tests build the app."""
        return cls(
            corpus=request.corpus, preset=request.preset, overrides=dict(request.overrides),
            run_dir=request.run_dir, resume=request.resume, encoding=request.encoding, test_mode=test_mode,
        )  # fmt: skip

    def on_mount(self) -> None:
        if self.test_mode:
            self.animation_level = "none"
        corpus, preset, overrides = self.initial
        self.push_screen(CorpusScreen(corpus, preset, overrides, self.encoding))
        if self.resume_at_start and self.run_dir is not None:
            run = summarize(self.run_dir)
            if run is None or run.config is None:
                why = run.problem if run else "it holds no run"
                self.notify(
                    escape(f"cannot continue {display_path(self.run_dir)}: {why}"),
                    severity="error",
                    timeout=10,
                    markup=False,
                )
            else:
                self.continue_run(run)

    def action_close_keys(self) -> None:
        close_keys_panel(self)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return keys_panel_open(self) if action == "close_keys" else True

    # ---- training -------------------------------------------------------------------------------------
    def _run_dir_for(self, name: str) -> Path:
        if self.run_dir is not None:
            run_dir, self.run_dir = self.run_dir, None
            return run_dir
        return create_run_dir(runs_dir(), name)

    def start_training(
        self,
        corpus: Corpus | str | None,
        config: TrainConfig,
        run_dir: Path | None = None,
        resume: bool = False,
        scripted: bool = False,
        corpus_name: str = "",
        sizing: Sizing | None = None,
    ) -> TrainingSession | None:
        """Open the training screen on a new run. `scripted` starts no trainer: a test feeds the session
        events through `session.on_event`, exactly as the trainer's thread would."""
        if self.session is not None and self.session.active:
            self.notify("a run is still training: Ctrl+T returns to it (x there stops it)", severity="warning")
            return None
        name = corpus.name if isinstance(corpus, Corpus) else corpus_name or Path(corpus or "run").stem
        if run_dir is None and not scripted:
            try:
                run_dir = self._run_dir_for(name)
            except CharRNNError as e:
                self.notify(str(e), title="cannot start", severity="error", timeout=10)
                return None
        session = TrainingSession(
            corpus, config, run_dir, self.post_message, resume=resume, corpus_name=name, sizing=sizing
        )
        self.session = session
        self.push_screen(TrainingScreen(session))
        if not scripted:
            self.training_worker = self.run_worker(
                session.run, name="training", group="training", thread=True, exit_on_error=False
            )
        return session

    def continue_run(self, run: RunSummary, corpus: str | None = None) -> None:
        """Train a saved run further, on its recorded corpus or on `corpus` (a path the user pointed to)."""
        if run.config is None or run.corpus is None:
            self.notify(f"{run.name} cannot be continued: {run.problem}", severity="error", timeout=10)
            return
        if corpus is None and missing_corpus(run) is not None:
            from charrnn_tui.tui.screens.locate import LocateCorpusScreen

            def located(path: str | None) -> None:
                if path:
                    self.continue_run(run, path)

            self.push_screen(LocateCorpusScreen(run.corpus.shown), located)
            return
        config = continuation(run.config, run.step or 0)
        self.start_training(corpus, config, run_dir=run.path, resume=True, corpus_name=run.corpus.name)

    def show_training(self) -> None:
        """Back to the run's training screen (Esc left it training behind the corpus screen)."""
        if self.session is not None and not any(isinstance(s, TrainingScreen) for s in self.screen_stack):
            self.push_screen(TrainingScreen(self.session))

    @on(CorpusScreen.TrainRequested)
    def _train_requested(self, message: CorpusScreen.TrainRequested) -> None:
        self.start_training(message.corpus, message.config, sizing=message.sizing)

    @on(RunsPanel.ContinueRequested)
    def _continue_requested(self, message: RunsPanel.ContinueRequested) -> None:
        self.continue_run(message.run)

    @on(RunsPanel.GenerateRequested)
    def _generate_requested(self, message: RunsPanel.GenerateRequested) -> None:
        self.generate_from_run(message.run)

    @on(CorpusScreen.ShowTrainingRequested)
    def _show_training_requested(self) -> None:
        self.show_training()

    @on(RunsPanel.InspectRequested)
    def _inspect_requested(self, message: RunsPanel.InspectRequested) -> None:
        run = message.run
        if not run.has_checkpoint or run.problem:
            self.notify(escape(f"{run.name}: {run.problem or 'no checkpoint yet'}"), severity="error", markup=False)
            return
        self.notify(f"loading {one_line(run.name)} and its validation text...", markup=False)
        self._load_for_inspection(run)

    @work(thread=True, exit_on_error=False, group="model")
    def _load_for_inspection(self, run: RunSummary) -> None:
        # The checkpoint and the corpus (maybe a large file) are read off the UI thread.
        try:
            from charrnn_tui.model.checkpoint import load_model
            from charrnn_tui.runs.corpus_of_run import corpus_for_run

            model, vocab, ckpt = load_model(run.path)
            corpus = corpus_for_run(run.path)
            _, val_text = corpus.split(ckpt["config_obj"].val_fraction)
            text = "".join(c for c in val_text if c in vocab.index)  # a changed corpus may hold new characters
        except CharRNNError as e:
            self.post_message(ModelLoaded(error=str(e)))
            return
        self.post_message(InspectionLoaded(model, vocab, text, f"{run.name}, step {ckpt['step']}"))

    def on_inspection_loaded(self, message: InspectionLoaded) -> None:
        self._push_inside(message.model, message.vocab, message.text, message.title)

    @on(GenerationScreen.InspectRequested)
    def _inspect_generated(self, message: GenerationScreen.InspectRequested) -> None:
        self._push_inside(message.model, message.vocab, message.text, message.title)

    def _push_inside(self, model: Any, vocab: Any, text: str, title: str) -> None:
        # Imported here: the views' engine (inside/) needs torch, which the app loads only once a model is in hand
        from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen

        self.push_screen(SurpriseScreen(model, vocab, text, title))

    @on(InsideScreen.ViewRequested)
    def _other_view(self, message: InsideScreen.ViewRequested) -> None:
        """The app is the one place that knows which screen follows which: surprise and cells swap in place."""
        from charrnn_tui.tui.screens.inside.cells import CellsScreen
        from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen

        view = CellsScreen if message.view == "cells" else SurpriseScreen
        self.switch_screen(view(message.model, message.vocab, message.text, message.title))

    @on(RunsPanel.CompareRequested)
    def _compare_requested(self, message: RunsPanel.CompareRequested) -> None:
        from charrnn_tui.tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(message.runs))

    @on(TrainingScreen.GenerateRequested)
    def _generate_from_session_requested(self, message: TrainingScreen.GenerateRequested) -> None:
        self.open_generation_from_session(best=message.best)

    def on_trainer_event(self, message: TrainerEvent) -> None:
        shown = False
        for screen in self.screen_stack:
            if isinstance(screen, TrainingScreen) and screen.session is self.session:
                screen.handle_event(message.event)
                shown = True
        if not shown and isinstance(message.event, Finished | Failed):  # it ended behind another screen
            why = "failed" if isinstance(message.event, Failed) else "finished"
            self.notify(f"the run in the background {why}: it is in the list of saved runs", timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self.training_worker and event.state in (
            WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED,
        ):  # fmt: skip
            if event.state == WorkerState.ERROR:  # Trainer.run never raises; this is a bug in the app's glue
                error = escape(f"training worker failed: {event.worker.error}")
                self.notify(error, severity="error", timeout=10, markup=False)
            if self.quitting:
                self.exit()

    # ---- generation ------------------------------------------------------------------------------------
    def open_generation_from_session(self, best: bool = False) -> None:
        """Generation on a copy of the run's current weights, or of its best evaluation's (`best`)."""
        s = self.session
        if s is None or s.trainer is None or s.started is None:
            self.notify("the model is not built yet: wait for the first step", severity="warning")
            return
        self.notify("copying the best weights so far..." if best else "copying the current weights...")
        self._snapshot(s, best=best)

    @work(thread=True, exit_on_error=False, group="model")
    def _snapshot(self, session: TrainingSession, refresh: bool = False, best: bool = False) -> None:
        # The copy waits for the trainer's current step (it holds the model's lock), so not on the UI thread.
        try:
            sets, vocab = session_weights(session, best=best)  # the current and best weights, copied
        except CharRNNError as e:
            self.post_message(ModelLoaded(error=str(e)))
            return
        prime, live = session.default_prime(vocab.chars), session.active
        self.post_message(
            ModelLoaded(sets.model, vocab, prime, sets.title, step=sets.step, live=live, refresh=refresh, weights=sets)
        )

    @on(GenerationScreen.RefreshWeights)
    def _refresh_weights(self) -> None:
        s = self.session
        if s is None or s.trainer is None:
            self.notify("no training run to copy fresh weights from", severity="warning")
            return
        self._snapshot(s, refresh=True)

    def generate_from_run(self, run: RunSummary) -> None:
        if not run.has_checkpoint:
            self.notify(f"{one_line(run.name)} has no checkpoint yet", severity="error", markup=False)
            return
        self.notify(f"loading {one_line(run.name)}...", markup=False)
        self._load_run(run)

    @work(thread=True, exit_on_error=False, group="model")
    def _load_run(self, run: RunSummary) -> None:
        try:
            from charrnn_tui.generation.settings import default_prime
            from charrnn_tui.model.checkpoint import load_model

            model, vocab, ckpt = load_model(run.path)
            prime = default_prime(ckpt["corpus"].get("head", ""), vocab.chars)
            sets = weight_sets(run.name, model, ckpt)  # the best weights, or the last, offered beside them
        except CharRNNError as e:
            self.post_message(ModelLoaded(error=str(e)))
            return
        except Exception as e:  # noqa: BLE001 - a bug must not leave "loading ..." on screen forever
            self.post_message(ModelLoaded(error=f"cannot load {run.name}: {type(e).__name__}: {e}"))
            return
        kept = ckpt.get("kept_step")  # the model generates with its best weights then (generation_weights)
        title = f"{run.name}, {fmt_weights(ckpt['step'], kept)}"
        step = kept if kept is not None else ckpt["step"]
        self.post_message(ModelLoaded(model, vocab, prime, title, step=step, weights=sets))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        if message.error:
            self.notify(escape(message.error), title="cannot generate", severity="error", timeout=10, markup=False)
        elif message.refresh and isinstance(self.screen, GenerationScreen):
            self.screen.use_weights(message.model, message.step, message.title, message.weights)
        elif not isinstance(self.screen, GenerationScreen):
            m = message
            self.push_screen(
                GenerationScreen(m.model, m.vocab, m.prime, m.title, step=m.step, live=m.live, weights=m.weights)
            )

    # ---- quitting ---------------------------------------------------------------------------------------
    def stop_for_ending(self) -> None:
        """The process is ending (a signal, a dead terminal): the run stops after its step with a checkpoint.
        Any thread: it touches only the session's thread-safe control."""
        s = self.session
        if s is not None and s.active:
            s.stop(save=True)

    def training_done(self) -> bool:
        """True when no training thread is running (any thread)."""
        s, worker = self.session, self.training_worker
        return s is None or (not s.active and (worker is None or worker.is_finished))

    def exit_from_thread(self, code: int) -> None:
        """Ask the app to exit with `code` through its loop, without waiting (any thread; the loop may be gone)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(lambda: self.exit(return_code=code))
            except RuntimeError:
                pass  # the loop closed meanwhile: the process is ending anyway

    def stop_terminal_input(self) -> None:
        stop = getattr(self._driver, "stop_input", None)
        if stop is not None:
            stop()

    async def action_quit(self) -> None:
        s = self.session
        if s is None or not s.active:
            self.exit()
            return
        if self.quitting or isinstance(self.screen, QuitScreen):
            return
        self.push_screen(QuitScreen(s), self._quit_chosen)

    def _quit_chosen(self, choice: str | None) -> None:
        s = self.session
        if choice not in ("save", "discard") or s is None:
            return
        self.quitting = True
        s.stop(save=choice == "save")
        # The trainer ends its current step (and saves, if asked); the worker's end exits the app, so the
        # process never waits on a live thread.
        if self.training_worker is None or self.training_worker.is_finished:
            self.exit()
        else:
            self.notify("finishing the current step" + (" and saving..." if choice == "save" else "..."))


def run_app(request: AppRequest) -> int:
    """Run the app on this terminal; a signal or a dead terminal saves the run and ends the process within
    seconds (see tui/hangup.py). Returns the exit status."""
    app = CharRNNApp.from_request(request)
    guard = HangupGuard(app.stop_for_ending, app.training_done, app.exit_from_thread, app.stop_terminal_input)
    app.guard = guard
    app.driver_class = guarded_driver(app.driver_class, guard.terminal_gone)
    guard.install()
    if sys.__stdin__ is not None:
        watch_terminal(sys.__stdin__.fileno(), guard)
    try:
        app.run()
    finally:
        guard.uninstall()
    saved = app.session.last_checkpoint if app.session is not None else None
    if guard.ending is not None and saved is not None and not guard.terminal_dead:
        try:
            print(f"charrnn-tui: saved a checkpoint at step {saved.step} before ending", file=sys.stderr)
        except OSError:
            pass
    return guard.ending.code if guard.ending is not None else app.return_code or 0
