"""The app: a corpus screen, a training screen fed by a worker thread, and a generation screen.

The App owns the one training run (a TrainingSession) so that it outlives screen changes, and so that
quitting can stop it and wait for its thread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from charrnn_tui.config import TrainConfig
from charrnn_tui.corpus import Corpus
from charrnn_tui.errors import CharRNNError
from charrnn_tui.paths import new_run_dir
from charrnn_tui.safetext import escape, one_line
from charrnn_tui.tui.messages import ModelLoaded, TrainerEvent
from charrnn_tui.tui.runs import SavedRun, read_run
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.quit import QuitScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.session import TrainingSession


class CharRNNApp(App):
    TITLE = "charrnn-tui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        corpus: str | None = None,
        preset: str | None = None,
        overrides: dict | None = None,
        run_dir: str | Path | None = None,
        resume: bool = False,
        encoding: str = "utf-8",
        test_mode: bool = False,
    ) -> None:
        super().__init__()
        self.initial = (corpus, preset, overrides or {})
        self.run_dir = Path(run_dir) if run_dir else None  # used by the first run started, if given
        self.resume_at_start = resume
        self.encoding = encoding
        self.test_mode = test_mode  # no blinking cursors or animations: snapshots must be stable
        self.session: TrainingSession | None = None
        self.training_worker: Worker | None = None
        self.quitting = False

    def on_mount(self) -> None:
        if self.test_mode:
            self.animation_level = "none"
        corpus, preset, overrides = self.initial
        self.push_screen(CorpusScreen(corpus, preset, overrides, self.encoding))
        if self.resume_at_start and self.run_dir is not None:
            run = read_run(self.run_dir)
            if run is None:
                name = one_line(self.run_dir.name)
                self.notify(f"{name} is not a run folder (no config.json)", severity="error", markup=False)
            else:
                self.continue_run(run)

    def steady_inputs(self, screen) -> None:
        """In test mode, cursors do not blink: a blink caught mid-way would change a snapshot."""
        if self.test_mode:
            for inp in screen.query(Input):
                inp.cursor_blink = False

    # ---- training -------------------------------------------------------------------------------------
    def _run_dir_for(self, name: str) -> Path:
        if self.run_dir is not None:
            run_dir, self.run_dir = self.run_dir, None
            return run_dir
        return new_run_dir(name)

    def start_training(
        self,
        corpus: Corpus | str,
        config: TrainConfig,
        run_dir: Path | None = None,
        resume: bool = False,
        scripted: bool = False,
    ) -> TrainingSession | None:
        """Open the training screen on a new run. `scripted` starts no trainer: a test feeds the session
        events through `session.on_event`, exactly as the trainer's thread would."""
        if self.session is not None and self.session.active:
            self.notify("a run is still training: stop it first (x on its screen)", severity="warning")
            return None
        name = corpus.name if isinstance(corpus, Corpus) else Path(corpus).stem
        if run_dir is None and not scripted:
            run_dir = self._run_dir_for(name)
        session = TrainingSession(corpus, config, run_dir, self.post_message, resume=resume)
        self.session = session
        self.push_screen(TrainingScreen(session))
        if not scripted:
            self.training_worker = self.run_worker(
                session.run, name="training", group="training", thread=True, exit_on_error=False
            )
        return session

    def continue_run(self, run: SavedRun) -> None:
        cfg = run.config
        # Another budget as long as the first: steps count from the run's start, seconds per session.
        config = cfg.with_overrides(steps=run.steps + cfg.steps if cfg.steps else 0)
        self.start_training(run.corpus_spec, config, run_dir=run.path, resume=True)

    def on_trainer_event(self, message: TrainerEvent) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, TrainingScreen) and screen.session is self.session:
                screen.handle_event(message.event)

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
    def open_generation_from_session(self) -> None:
        s = self.session
        if s is None or s.trainer is None or s.started is None:
            self.notify("the model is not built yet: wait for the first step", severity="warning")
            return
        self.notify("copying the current weights...")
        self._snapshot(s)

    @work(thread=True, exit_on_error=False, group="model")
    def _snapshot(self, session: TrainingSession) -> None:
        # The copy waits for the trainer's current step (it holds the model's lock), so not on the UI thread.
        try:
            model, vocab = session.snapshot()
        except CharRNNError as e:
            self.post_message(ModelLoaded(error=str(e)))
            return
        step = session.last_step.step if session.last_step else 0
        title = f"{session.corpus_name}, weights of step {step}"
        self.post_message(ModelLoaded(model, vocab, session.default_prime(vocab.chars), title))

    def generate_from_run(self, run: SavedRun) -> None:
        if not run.has_checkpoint:
            self.notify(f"{one_line(run.name)} has no checkpoint yet", severity="error", markup=False)
            return
        self.notify(f"loading {one_line(run.name)}...", markup=False)
        self._load_run(run)

    @work(thread=True, exit_on_error=False, group="model")
    def _load_run(self, run: SavedRun) -> None:
        try:
            from charrnn_tui.checkpoint import load_model
            from charrnn_tui.sampling import default_prime

            model, vocab, ckpt = load_model(run.path)
            prime = default_prime(ckpt["corpus"].get("head", ""), vocab.chars)
        except CharRNNError as e:
            self.post_message(ModelLoaded(error=str(e)))
            return
        except Exception as e:  # noqa: BLE001 - a bug must not leave "loading ..." on screen forever
            self.post_message(ModelLoaded(error=f"cannot load {run.name}: {type(e).__name__}: {e}"))
            return
        title = f"{run.name}, step {ckpt['step']}"
        self.post_message(ModelLoaded(model, vocab, prime, title))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        if message.error:
            self.notify(escape(message.error), title="cannot generate", severity="error", timeout=10, markup=False)
        elif not isinstance(self.screen, GenerationScreen):
            self.push_screen(GenerationScreen(message.model, message.vocab, message.prime, message.title))

    # ---- quitting ---------------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        s = self.session
        if s is None or not s.active:
            self.exit()
            return
        if self.quitting or isinstance(self.screen, QuitScreen):
            return
        step = s.last_step.step if s.last_step else 0
        saved = s.last_checkpoint.step if s.last_checkpoint else None
        self.push_screen(QuitScreen(step, saved), self._quit_chosen)

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


def run_app(args: argparse.Namespace) -> int:
    from charrnn_tui.cli import config_overrides

    app = CharRNNApp(
        corpus=args.corpus,
        preset=args.preset,
        overrides=config_overrides(args),
        run_dir=args.run_dir,
        resume=args.resume,
        encoding=args.encoding,
    )
    app.run()
    return app.return_code or 0
