"""The headless front end: `--train-only`, `--generate-only` and `--list-corpora`, plain text out."""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from charrnn_tui.core.config import (
    DEFAULT_PRESET,
    TrainConfig,
    preset,
)
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import (
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    Logged,
    Notice,
    Started,
    Step,
    ThreadsChanged,
)
from charrnn_tui.core.requests import BaselineRequest, GenerateRequest, TrainRequest
from charrnn_tui.generation.settings import MAX_SAMPLES, GenerationSettings, default_prime
from charrnn_tui.present.formatting import (
    LN2,
    fmt_duration,
    fmt_sized,
    fmt_thread_count,
    fmt_why_ended,
    generate_command,
    resume_command,
)
from charrnn_tui.present.safetext import TextOut, write_line
from charrnn_tui.text.corpus import Corpus, builtin_plays, load_corpus
from charrnn_tui.training.rates import Sizing

if TYPE_CHECKING:
    from charrnn_tui.generation.generator import Generator, Token
    from charrnn_tui.training.trainer import Trainer


def list_corpora() -> int:
    """Print the built-in corpora with their genre and size in characters; 1 if the package's data is missing."""
    plays = builtin_plays()
    if not plays:
        write_line("no built-in corpora: the package's data folder is missing; reinstall charrnn-tui", sys.stderr)
        return 1
    write_line(f"{'name':<34} {'genre':<11} {'size':>15}", sys.stdout)
    for p in plays:
        mark = " (default)" if p.name == "hamlet" else ""
        write_line(f"{p.name:<34} {p.genre:<11} {p.size:>9,} chars{mark}", sys.stdout)
    write_line(
        "\nor give the path of any text file: --corpus path/to/file.txt (--encoding if it is not UTF-8)", sys.stdout
    )
    return 0


class ProgressPrinter:
    """Turns trainer events into plain lines on stdout."""

    def __init__(self, out=sys.stdout) -> None:
        self.out = out
        self.val_loss: float | None = None
        self.steps = 0
        self.eta: float | None = None

    def __call__(self, ev: Event) -> None:
        handle = self._HANDLERS.get(type(ev))
        if handle is not None:
            handle(self, ev)

    def print(self, line: str, err: bool = False) -> None:
        # Escaped (a corpus or folder name can hold control characters) and never failing on the encoding:
        # a progress line that cannot print must not end the training.
        write_line(line, sys.stderr if err else self.out)

    def _on_step(self, ev: Step) -> None:
        self.eta = ev.eta_s

    def _on_started(self, ev: Started) -> None:
        self.steps = ev.config["steps"]
        for line in started_lines(ev):
            self.print(line)

    def _on_logged(self, ev: Logged) -> None:
        if "val_loss" in ev.row:
            self.val_loss = ev.row["val_loss"]
        self.print(logged_line(ev.row, self.val_loss, self.eta, self.steps))

    def _on_threads_changed(self, ev: ThreadsChanged) -> None:
        self.print(threads_changed_line(ev))

    def _on_failed(self, ev: Failed) -> None:
        self.print(f"charrnn-tui: error: {ev.message}", err=True)

    def _on_notice(self, ev: Notice) -> None:
        self.print(f"note: {ev.message}", err=True)

    def _on_checkpoint_saved(self, ev: CheckpointSaved) -> None:
        if ev.reason in ("request", "recovered"):
            self.print(f"checkpoint saved at step {ev.step}: {ev.path}")

    # The events the printer shows, by type (the events are plain dataclasses, none a subclass of another).
    _HANDLERS: ClassVar[dict[type, Callable[[ProgressPrinter, Any], None]]] = {
        Step: _on_step,
        Started: _on_started,
        Logged: _on_logged,
        ThreadsChanged: _on_threads_changed,
        Failed: _on_failed,
        Notice: _on_notice,
        CheckpointSaved: _on_checkpoint_saved,
    }


def budget_text(config: dict[str, Any]) -> str:
    """A run's budget as the start line says it, e.g. "500 steps or 60 s"."""
    budget = []
    if config["steps"]:
        budget.append(f"{config['steps']} steps")
    if config["max_seconds"]:
        budget.append(f"{config['max_seconds']:g} s")
    return " or ".join(budget) or "none (Ctrl+C to stop)"


def fmt_ranks(started: Started) -> str:
    """The start line's ranks under torchrun, e.g. " x2 ranks (batch 32 x 2 = 64 sequences a step)"; empty on one."""
    if started.world_size <= 1:
        return ""
    batch = started.config["batch_size"]
    return (
        f" x{started.world_size} ranks (batch {batch} x {started.world_size} = "
        f"{batch * started.world_size} sequences a step)"
    )


def started_line(ev: Started) -> str:
    """The line that opens a training: the model, the corpus, the device and the budget."""
    cfg = ev.config
    what = "resuming" if ev.resumed else "training"
    return (
        f"{what} {cfg['cell'].upper()} {cfg['n_layers']}x{cfg['hidden']} ({ev.n_params:,} parameters) "
        f"on {ev.corpus_name}: {ev.train_chars:,} train / {ev.val_chars:,} val chars, "
        f"vocabulary {ev.vocab_size}, device {ev.device}{fmt_threads(ev)}{fmt_ranks(ev)}"
        f", budget {budget_text(cfg)}"
    )


def started_lines(ev: Started) -> list[str]:
    """`started_line`, then the run folder and the step a resumed run continues from, where they apply."""
    lines = [started_line(ev)]
    if ev.run_dir:
        lines.append(f"run folder: {ev.run_dir}")
    if ev.resumed:
        lines.append(f"continuing from step {ev.step}")
    return lines


def logged_line(row: dict[str, Any], val_loss: float | None, eta: float | None, steps: int) -> str:
    """One metrics row as a progress line; `val_loss` is the latest evaluation's (None before the first), `eta`
    the latest step's estimate and `steps` the step budget (0 for none)."""
    of = f"/{steps}" if steps else ""
    parts = [f"step {row['step']:>6}{of}"]
    if "train_loss" in row:
        parts.append(f"loss {row['train_loss']:.3f}")
    parts.append(f"val {val_loss:.3f}" if val_loss is not None else "val   -  ")
    parts.append(f"{row['chars_per_s']:>9,.0f} chars/s")
    parts.append(f"elapsed {fmt_duration(row['elapsed_s'])}")
    parts.append(f"ETA {fmt_duration(eta)}")
    return "  ".join(parts)


def fmt_threads(started: Started) -> str:
    """The start line's thread count, e.g. ", 2 threads (fewer while other programs keep the cores busy)"; empty
    on a GPU."""
    if started.threads is None:
        return ""
    how = " (fewer while other programs keep the cores busy)" if started.threads_chosen else ""
    return f", {fmt_thread_count(started.threads)}{how}"


def threads_changed_line(ev: ThreadsChanged) -> str:
    """The line that says training moved to another thread count, and the timings that made it move."""
    why = "the cores are busy with other work" if ev.threads < ev.previous else "the cores are free again"
    timed = ", ".join(f"{s:.3f} s on {n}" for n, s in ev.step_seconds)
    return f"step {ev.step}: training on {fmt_thread_count(ev.threads)} from here on ({why}; a step took {timed})"


def summary(result: Finished) -> str:
    why = fmt_why_ended(result.reason, result.stalled_evals)
    val = ""
    if result.last_val_loss is not None:
        val = (
            f"val loss {result.last_val_loss:.4f} nats/char ({result.last_val_loss / LN2:.4f} bits/char), "
            f"best {result.best_val_loss:.4f}; "
        )
        if result.kept_step is not None:
            val += f"kept the weights of step {result.kept_step}, the best evaluation; "
    return (
        f"done ({why}) at step {result.step} after {fmt_duration(result.elapsed_s)} "
        f"({result.elapsed_s:.1f} s): {val}checkpoint {result.checkpoint}"
    )


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
    from charrnn_tui.training.trainer import resolve_device

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
    notes = _plan_notes(req, config, train_chars, sizing, main)
    return TrainingPlan(config, corpus, run_dir, main, sizing, notes)


def _training_corpus(req: TrainRequest) -> Corpus:
    """The corpus to train on: a resumed run's own, else the one the request names."""
    from charrnn_tui.runs.corpus_of_run import corpus_for_run

    if req.resume:
        return corpus_for_run(req.run_dir, req.corpus, req.encoding)
    return load_corpus(req.corpus, req.encoding or "utf-8")


def _plan_notes(
    req: TrainRequest, config: TrainConfig, train_chars: int, sizing: Sizing | None, main: bool
) -> tuple[tuple[str, bool], ...]:
    """The lines printed before training, each with whether it goes to stderr: what the sizing chose, and the
    settings that are ignored."""
    notes = []
    if sizing is not None and main:
        notes.append((fmt_sized(config, train_chars, sizing.chars_per_s, sizing.measured), False))
    if req.ignored_on_resume:
        notes.append((f"note: {', '.join(req.ignored_on_resume)} ignored: a resumed run keeps its own settings", True))
    if main and req.overrides.get("patience") and not config.keep_best:
        # The early stop ends a run on its best weights; without keeping them there is nothing to end on.
        notes.append(("note: --patience is ignored without --keep-best: the run trains its whole budget", True))
    return tuple(notes)


@contextmanager
def stop_on_signals(trainer: Trainer, printer: ProgressPrinter, main: bool) -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM stop `trainer` after its step (it saves a checkpoint); a second one
    raises KeyboardInterrupt, except under torchrun. Yields the list of the signals received; the previous
    handlers are back on leaving."""
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

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        for s, h in old.items():
            signal.signal(s, h)


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
    """The exit status of a run stopped by `signum`: 130 for SIGINT, 143 for SIGTERM, as a shell reports them."""
    return 130 if signum == signal.SIGINT else 143


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
    with stop_on_signals(trainer, printer, plan.main) as signals:
        result = trainer.run()
    if isinstance(result, Failed):
        return 1
    if plan.main:
        for line in next_steps_lines(result, trainer.run_dir, interrupted=bool(signals)):
            printer.print(line)
    return signal_exit_code(signals[0]) if signals else 0


def generation_settings(args: GenerateRequest) -> GenerationSettings:
    """The request's settings, checked (by the same code as the app's fields) before torch is imported."""
    settings = GenerationSettings(args.length, args.temperature, args.top_k, args.seed).validate(flags=True)
    samples = args.num_samples
    if not 1 <= samples <= MAX_SAMPLES:
        raise CharRNNError(f"--num-samples must be 1 to {MAX_SAMPLES} (got {samples})")
    return settings


def _load_generator(path: Path, args: GenerateRequest) -> tuple[Generator, str]:
    """The generator for the checkpoint at `path`, stepping `args.num_samples` rows, and the prime it starts from."""
    from charrnn_tui.generation.generator import Generator
    from charrnn_tui.model.checkpoint import load_model

    model, vocab, ckpt = load_model(path)
    prime = args.prime if args.prime else default_prime(ckpt["corpus"].get("head", ""), vocab.chars)
    prime = prime.replace("\\n", "\n")
    vocab.check(prime)
    # top_n=0: the CLI shows no candidates, and not listing them saves time per character.
    gen = Generator(model, vocab, top_n=0, weights="int8" if args.int8 else "fp32", rows=args.num_samples)
    return gen, prime


class SampleOutput:
    """Where `generate` writes: sample 1 straight to `out`, the others into temporary files until the end."""

    def __init__(self, out: TextOut, prime: str, samples: int, temperature: float) -> None:
        import tempfile

        self.out = out
        self.prime = prime
        self.samples = samples
        self.temperature = temperature
        self.held = [tempfile.TemporaryFile("w+", encoding="utf-8", newline="") for _ in range(samples - 1)]

    def header(self, i: int) -> None:
        if self.samples > 1:
            self.out.write(f"--- sample {i + 1} (temperature {self.temperature:g}) ---\n")

    def start(self) -> None:
        """Sample 1's header and prime, flushed."""
        self.header(0)
        self.out.write(self.prime)
        self.out.flush()

    def write_step(self, step: Sequence[Token]) -> None:
        """One character of each sample."""
        self.out.write(step[0].char)
        for f, tok in zip(self.held, step[1:], strict=True):
            f.write(tok.char)

    def finish(self) -> None:
        """End sample 1, then write out the held ones, each with its header and prime, and flush."""
        self.out.write("\n")
        for i, f in enumerate(self.held, 1):
            self.header(i)
            self.out.write(self.prime)
            f.seek(0)
            while chunk := f.read(1 << 16):
                self.out.write(chunk)
            self.out.write("\n")
            f.close()
        self.out.flush()


def _stream_samples(
    gen: Generator, settings: GenerationSettings, seeds: list[int | None], output: SampleOutput, t0: float
) -> int:
    """Step the samples into `output`, flushing sample 1 every 50 ms; returns the characters generated."""
    samples = output.samples
    n = 0
    last_flush = t0
    for step in gen.sample_rows(settings.length, [settings.temperature] * samples, settings.top_k, seeds):
        output.write_step(step)
        n += samples
        now = time.perf_counter()
        if now - last_flush > 0.05:
            output.out.flush()
            last_flush = now
    return n


def stats_line(n: int, seconds: float, samples: int) -> str:
    """--stats: how many characters were generated, in how long."""
    rate = n / seconds if seconds > 0 else float("inf")
    of = f" ({samples} samples of {n // samples})" if samples > 1 else ""
    return f"generated {n} chars{of} in {seconds:.2f} s ({rate:.0f} chars/s)"


def generate(args: GenerateRequest) -> int:
    """--generate-only: the prime, then the continuation, on stdout. With --num-samples N > 1, N continuations
    of the one prime are stepped together (one read of the weights per step for all) and printed one after
    another, each headed `--- sample i (temperature T) ---`; sample i draws with seed + i - 1, so sample 1 is
    what N = 1 prints. Sample 1 streams; the others wait in temporary files (memory stays flat)."""
    settings = generation_settings(args)
    from charrnn_tui.runs.records import checkpoint_file

    path = checkpoint_file(args.run_dir)  # a missing checkpoint is said at once, not after importing torch
    gen, prime = _load_generator(path, args)
    samples = args.num_samples
    seeds = [None if settings.seed is None else settings.seed + i for i in range(samples)]
    # Escaped on a terminal, unchanged into a file or a pipe.
    output = SampleOutput(TextOut(sys.stdout), prime, samples, settings.temperature)
    output.start()
    t0 = time.perf_counter()
    gen.feed(prime)
    try:
        n = _stream_samples(gen, settings, seeds, output, t0)
    except KeyboardInterrupt:
        output.finish()
        write_line("charrnn-tui: generation interrupted", sys.stderr)
        return 130
    seconds = time.perf_counter() - t0
    output.finish()
    if args.stats:
        write_line(stats_line(n, seconds, samples), sys.stderr)
    return 0


def baseline(req: BaselineRequest) -> int:
    """`--baseline`: the Kneser-Ney n-gram table on the corpus's validation split, as the trainer splits it."""
    from charrnn_tui.scoring.baseline import corpus_baseline

    val_fraction = req.val_fraction if req.val_fraction is not None else preset(DEFAULT_PRESET).val_fraction
    corpus = load_corpus(req.corpus, req.encoding or "utf-8")
    result = corpus_baseline(corpus, val_fraction)
    write_line(
        f"Kneser-Ney character n-grams on {corpus.name}: {result.train_chars:,} training characters, "
        f"{result.val_chars - 1:,} validation characters predicted (the last {val_fraction * 100:g}% of the text)",
        sys.stdout,
    )
    note = result.cap_note()
    if note:
        write_line(f"note: {note}", sys.stdout)
    if result.unseen_val:
        write_line(
            f"note: {result.unseen_val:,} validation characters never occur in training (scored as one symbol)",
            sys.stdout,
        )
    write_line(f"{'order':>5}  {'nats/char':>9}  {'bits/char':>9}  {'perplexity':>10}", sys.stdout)
    for order, loss in result.losses.items():
        mark = "  <- best" if order == result.best_order else ""
        write_line(f"{order:>5}  {loss:>9.4f}  {loss / LN2:>9.4f}  {math.exp(loss):>10.3f}{mark}", sys.stdout)
    write_line(f"({result.seconds:.1f} s)", sys.stdout)
    return 0
