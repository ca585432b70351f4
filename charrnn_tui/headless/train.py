"""`--train-only`: plan the run (preset, corpus, sizing, folder), train it with SIGINT/SIGTERM/SIGHUP or a vanished
reader of its output stopping it after the step with a checkpoint, and print what to do next."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from charrnn_tui.core.config import DEFAULT_PRESET, TrainConfig, preset
from charrnn_tui.core.events import (
    Failed,
    Finished,
)
from charrnn_tui.core.requests import TrainRequest
from charrnn_tui.headless.progress import ProgressPrinter, summary
from charrnn_tui.present.formatting import (
    generate_command,
    resume_command,
)
from charrnn_tui.text.corpus import Corpus, load_corpus
from charrnn_tui.training.rates import Sizing

if TYPE_CHECKING:  # torch loads only once the settings and corpus are checked
    from charrnn_tui.training.trainer import Trainer


@dataclass(frozen=True)
class TrainingPlan:
    """What `train` runs: the checked and sized settings, the corpus, the run folder (None on a rank other than
    the main one, or when the trainer makes it), and the lines to print before training, each with whether it
    goes to stderr."""

    config: TrainConfig
    corpus: Corpus
    run_dir: Path | None
    main: bool
    sizing: Sizing | None
    notes: tuple[tuple[str, bool], ...]


def plan_training(req: TrainRequest) -> TrainingPlan:
    """The preset with the request's settings, checked; the corpus; the default preset's sizing for this machine;
    the run folder; and the notes to print. Settings and corpus are checked before torch is imported, so that
    mistakes are reported at once."""
    from charrnn_tui.core.paths import runs_dir
    from charrnn_tui.runs.folder import create_run_dir

    config = preset(req.preset or DEFAULT_PRESET).with_overrides(**req.overrides)
    config.validate()
    corpus = _training_corpus(req)
    train_chars = corpus.split_sizes(config.val_fraction)[0]
    from charrnn_tui.training.distributed import is_main_process, world_size
    from charrnn_tui.training.setup import resolve_device

    sizing = None
    if not req.resume and (req.preset or DEFAULT_PRESET) == DEFAULT_PRESET:
        # Sized with the rate this machine measured for the shape (rates.py), else a nominal one; the run
        # re-sizes once if the rate it meets is far from the plan's.
        device = resolve_device(config.device).type
        sizing = Sizing.for_machine(config, train_chars, req.overrides, device, world_size())
        config = sizing.config()
    main = is_main_process()
    run_dir = req.run_dir
    if run_dir is None:
        run_dir = create_run_dir(runs_dir(), corpus.name) if main else None
    notes = _plan_notes(req, config, sizing, main)
    return TrainingPlan(config, corpus, run_dir, main, sizing, notes)


def _training_corpus(req: TrainRequest) -> Corpus:
    """The corpus to train on: a resumed run's own, else the one the request names."""
    from charrnn_tui.runs.corpus_of_run import corpus_for_run

    if req.resume:
        return corpus_for_run(req.run_dir, req.corpus, req.encoding)
    return load_corpus(req.corpus, req.encoding or "utf-8")


def _plan_notes(
    req: TrainRequest, config: TrainConfig, sizing: Sizing | None, main: bool
) -> tuple[tuple[str, bool], ...]:
    """The lines printed before training, each with whether it goes to stderr: what the sizing chose, and the
    settings that are ignored."""
    notes = []
    if sizing is not None and main:
        notes.append((sizing.describe(config), False))
    if req.ignored_on_resume:
        notes.append((f"note: {', '.join(req.ignored_on_resume)} ignored: a resumed run keeps its own settings", True))
    if main and req.overrides.get("patience") and not config.keep_best:
        # The early stop ends a run on its best weights; without keeping them there is nothing to end on.
        notes.append(("note: --patience is ignored without --keep-best: the run trains its whole budget", True))
    return tuple(notes)


@contextmanager
def stop_on_signals(trainer: Trainer, printer: ProgressPrinter, main: bool) -> Iterator[list[int]]:
    """While inside, SIGINT, SIGTERM and SIGHUP (a closed terminal or a dropped SSH connection) stop `trainer`
    after its step (it saves a checkpoint); a second one raises KeyboardInterrupt, except under torchrun. A SIGHUP
    that is ignored (`nohup`) stays ignored. Yields the list of the signals received; the previous handlers are
    back on leaving."""
    signals: list[int] = []
    # Under torchrun a rank can get the same signal twice (from a scheduler and from the launcher passing it
    # on); the launcher escalates to SIGKILL itself after its --shutdown-timeout.
    launched = "TORCHELASTIC_RUN_ID" in os.environ

    def on_signal(signum, frame) -> None:
        signals.append(signum)
        if len(signals) == 1:
            name = "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name
            if main:
                printer.print(f"\n{name}: stopping after this step and saving a checkpoint...", err=True)
            trainer.control.stop()
        elif not launched:
            raise KeyboardInterrupt  # a second Ctrl+C: the user really wants out

    old = {s: signal.signal(s, on_signal) for s in handled_signals()}
    try:
        yield signals
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def handled_signals() -> list[int]:
    """The signals that stop a run cleanly: SIGINT, SIGTERM, and SIGHUP where it exists and is not ignored."""
    sigs = [signal.SIGINT, signal.SIGTERM]
    hup = getattr(signal, "SIGHUP", None)  # not on Windows
    if hup is not None and signal.getsignal(hup) is not signal.SIG_IGN:
        sigs.append(hup)
    return sigs


def stop_when_reader_gone(trainer: Trainer, printer: ProgressPrinter, main: bool) -> list[str]:
    """Makes `printer` stop `trainer` (after its step, with a checkpoint) when the reader of its output goes away,
    as a closed terminal's SIGHUP does. Returns the list that gets the reason, once it happens."""
    gone: list[str] = []

    def on_gone(why: str) -> None:
        if not gone:
            gone.append(why)
            if main:
                printer.print(f"charrnn-tui: {why}: stopping after this step and saving a checkpoint", err=True)
            trainer.control.stop()

    printer.on_reader_gone = on_gone
    return gone


def next_steps_lines(result: Finished, run_dir: str | os.PathLike[str], interrupted: bool) -> list[str]:
    """The summary of a finished run, then what to do next: resume an interrupted run; generate from, or train
    further, a run that left a checkpoint."""
    lines = [summary(result)]
    if interrupted:
        lines.append(f"resume with: {resume_command(run_dir)}")
    elif result.checkpoint:
        # What a newcomer does next: the run is only useful once it generates, or trains further.
        lines.append(f"generate with: {generate_command(run_dir)}")
        lines.append(f"train further with: {resume_command(run_dir)}")
    return lines


def signal_exit_code(signum: int) -> int:
    """The exit status of a run stopped by `signum`, as a shell reports it: 128 + the signal's number (130 for
    SIGINT, 143 for SIGTERM, 129 for SIGHUP, 141 for SIGPIPE: the reader of the output went away)."""
    return 128 + int(signum)


def train(req: TrainRequest) -> int:
    """--train-only: plan, train with progress lines on stdout, then the summary and what to do next."""
    plan = plan_training(req)
    from charrnn_tui.training.trainer import Trainer

    printer = ProgressPrinter()
    for line, err in plan.notes:
        printer.print(line, err=err)
    trainer = Trainer(
        plan.corpus,
        plan.config,
        plan.run_dir,
        printer,
        resume=req.resume,
        resume_overrides=req.overrides,
        sizing=plan.sizing,
    )
    gone = stop_when_reader_gone(trainer, printer, plan.main)
    with stop_on_signals(trainer, printer, plan.main) as signals:
        result = trainer.run()
    if isinstance(result, Failed):
        return 1
    if plan.main:
        for line in next_steps_lines(result, trainer.run_dir, interrupted=bool(signals or gone)):
            printer.print(line, err=bool(gone) or printer.out in printer.lost)  # stdout failed: they go to stderr
    if signals:
        return signal_exit_code(signals[0])
    return signal_exit_code(getattr(signal, "SIGPIPE", 13)) if gone else 0
