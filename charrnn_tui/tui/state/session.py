"""One training run as the app sees it: the trainer in a worker thread, and the state its screen draws.

The trainer's callback runs in the worker thread. It records every event here (under a lock, so the
history is complete) and posts a message that only wakes the UI; the screen redraws from this state at
its own bounded rate. Tests feed scripted events through the same `on_event` without torch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.message import Message

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.control import TrainingControl
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import (
    CheckpointSaved,
    Evaluated,
    Event,
    Failed,
    Finished,
    Paused,
    Sample,
    Started,
    Step,
    Unpaused,
)
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.rates import Sizing
from charrnn_tui.tui.messages import TrainerEvent

# Step and Sample messages only wake the UI (the state is recorded here), so a few a second are enough;
# each message costs the UI thread a cycle, and on a 2-core laptop that cycle is taken from training.
WAKE_INTERVAL_S = 0.2
SAMPLES_KEPT = 3  # what the panel shows at 120x36 with the presets' windows


class TrainingSession:
    def __init__(
        self,
        corpus: Corpus | str | None,
        config: TrainConfig,
        run_dir: Path | None,
        post: Callable[[Message], object],
        resume: bool = False,
        corpus_name: str = "",
        sizing: Sizing | None = None,
    ) -> None:
        """`corpus` is a loaded Corpus, or for a saved run the spec the user pointed to (None: the one its
        record names), loaded in the worker (a file can be large)."""
        self.corpus: Corpus | None = corpus if isinstance(corpus, Corpus) else None
        self.corpus_spec = corpus.name if isinstance(corpus, Corpus) else corpus
        self.corpus_name = corpus.name if isinstance(corpus, Corpus) else corpus_name or Path(corpus or "?").stem
        self.config = config
        self.sizing = sizing  # how the default preset sized `config` (the run may re-size itself)
        self.run_dir = run_dir
        self.resume = resume
        self._post = post
        self._lock = threading.Lock()
        self.control = TrainingControl()  # exists before the trainer does: stop works while torch imports
        self.trainer = None  # built in the worker thread: importing torch there keeps the UI painting
        self._last_wake = 0.0
        self.version = 0  # bumped on every recorded event; the screen redraws when it moved
        self.status = "starting"  # running, paused, stopping, finished, failed
        self.started: Started | None = None
        self.last_step: Step | None = None
        self.train_points: list[tuple[int, float]] = []
        self.val_points: list[tuple[int, float]] = []
        self.samples: deque[Sample] = deque(maxlen=SAMPLES_KEPT)
        self.best_val: float | None = None
        self.last_val: float | None = None
        self.last_checkpoint: CheckpointSaved | None = None
        self.result: Finished | Failed | None = None

    # ---- the worker thread ------------------------------------------------------------------------
    def run(self) -> Finished | Failed:
        if self.corpus is None:
            from charrnn_tui.runs.corpus_of_run import corpus_for_run

            try:
                self.corpus = corpus_for_run(self.run_dir, self.corpus_spec)
            except CharRNNError as e:
                failed = Failed(0, str(e), str(self.run_dir) if self.run_dir else None, None)
                self.on_event(failed)
                return failed
        from charrnn_tui.training.trainer import Trainer

        trainer = Trainer(
            self.corpus,
            self.config,
            self.run_dir,
            on_event=self.on_event,
            resume=self.resume,
            control=self.control,
            sizing=self.sizing,
        )
        self.trainer = trainer
        result = trainer.run()
        if self.result is None:  # the trainer always emits its result; this covers a silent return
            self.on_event(result)
        return result

    def on_event(self, ev: Event) -> None:
        """The trainer's callback (any thread): record, then wake the UI (per-step events a few times a
        second; a queued one is replaced by the next, see TrainerEvent.can_replace)."""
        self.record(ev)
        if isinstance(ev, Step | Sample):
            now = time.monotonic()
            if now - self._last_wake < WAKE_INTERVAL_S:
                return
            self._last_wake = now
        self._post(TrainerEvent(ev))

    def record(self, ev: Event) -> None:
        """Fold one event into the state (any thread, under the lock); an event it does not show (Logged: the
        metrics file has it, the curve is drawn from every Step) only moves `version`."""
        with self._lock:
            handle = self._RECORDERS.get(type(ev))
            if handle is not None:
                handle(self, ev)
            self.version += 1

    def _started(self, ev: Started) -> None:
        self.started = ev
        self.status = "running"
        self.train_points.clear()
        self.val_points.clear()
        for row in ev.history:  # a resumed run's curve so far
            if "train_loss" in row:
                self.train_points.append((row["step"], row["train_loss"]))
            if "val_loss" in row:
                self.val_points.append((row["step"], row["val_loss"]))
        if self.val_points:
            self.best_val = min(v for _, v in self.val_points)
            self.last_val = self.val_points[-1][1]

    def _step(self, ev: Step) -> None:
        self.last_step = ev
        self.train_points.append((ev.step, ev.train_loss))

    def _sample(self, ev: Sample) -> None:
        self.samples.append(ev)

    def _evaluated(self, ev: Evaluated) -> None:
        self.val_points.append((ev.step, ev.val_loss))
        self.best_val, self.last_val = ev.best_val_loss, ev.val_loss

    def _checkpoint_saved(self, ev: CheckpointSaved) -> None:
        self.last_checkpoint = ev

    def _paused(self, ev: Paused) -> None:
        self.status = "paused" if not self.control.stopping else "stopping"

    def _unpaused(self, ev: Unpaused) -> None:
        self.status = "running" if not self.control.stopping else "stopping"

    def _finished(self, ev: Finished) -> None:
        self.result, self.status = ev, "finished"

    def _failed(self, ev: Failed) -> None:
        self.result, self.status = ev, "failed"

    _RECORDERS: ClassVar[dict[type, Callable[[TrainingSession, Any], None]]] = {
        Started: _started,
        Step: _step,
        Sample: _sample,
        Evaluated: _evaluated,
        CheckpointSaved: _checkpoint_saved,
        Paused: _paused,
        Unpaused: _unpaused,
        Finished: _finished,
        Failed: _failed,
    }

    def curves(self) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        with self._lock:
            return list(self.train_points), list(self.val_points)

    # ---- control, from the UI thread ----------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.status in ("starting", "running", "paused", "stopping")

    def toggle_pause(self) -> None:
        if not self.active or self.control.stopping:
            return
        self.control.unpause() if self.control.paused else self.control.pause()

    def request_checkpoint(self) -> bool:
        if self.trainer is None or not self.active or self.run_dir is None:
            return False
        self.control.request_save()
        return True

    def stop(self, save: bool = True) -> None:
        """Ask the trainer to stop after the current step; `save=False` keeps the last checkpoint as is."""
        self.control.stop(save=save)
        with self._lock:
            if self.active:
                self.status = "stopping"
                self.version += 1

    def checkpoint_on_disk(self) -> int | None:
        """The step of the checkpoint in the run folder now (also one written before the app started), read
        from disk rather than from this session's events; None when there is none."""
        saved = self.last_checkpoint
        if self.run_dir is None or not self.run_dir.is_dir():  # no folder (yet, or a scripted run): its own record
            return saved.step if saved else None
        from charrnn_tui.runs.records import read_checkpoint_info

        info = read_checkpoint_info(self.run_dir)
        if info is not None:
            return info.step
        # A checkpoint from before checkpoint.json was written beside it: this session's own record, if any.
        return saved.step if saved and (self.run_dir / "checkpoint.pt").exists() else None

    def snapshot(self):
        """The current weights (a CPU copy) and vocabulary, for generation beside the running trainer."""
        if self.trainer is None:
            raise CharRNNError("the model is not built yet; wait for training to start")
        return self.trainer.snapshot()

    def best_snapshot(self):
        """A CPU copy of the best evaluation's weights, its vocabulary and step, or None (see Trainer)."""
        return self.trainer.best_snapshot() if self.trainer is not None else None

    def default_prime(self, vocab_chars: str) -> str:
        """The corpus's first line, in characters of `vocab_chars` (see sampling.default_prime)."""
        from charrnn_tui.generation.settings import default_prime

        head = self.corpus.text[:200] if self.corpus is not None else ""
        return default_prime(head, vocab_chars)
