"""The headless front end: `--train-only`, `--generate-only` and `--list-corpora`, plain text out."""

from __future__ import annotations

import math
import os
import signal
import sys
import time

from charrnn_tui.core.config import (
    DEFAULT_PRESET,
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
from charrnn_tui.text.corpus import builtin_plays, load_corpus
from charrnn_tui.training.rates import Sizing


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
        if isinstance(ev, Step):
            self.eta = ev.eta_s
        elif isinstance(ev, Started):
            cfg = ev.config
            budget = []
            if cfg["steps"]:
                budget.append(f"{cfg['steps']} steps")
            if cfg["max_seconds"]:
                budget.append(f"{cfg['max_seconds']:g} s")
            self.steps = cfg["steps"]
            what = "resuming" if ev.resumed else "training"
            self.print(
                f"{what} {cfg['cell'].upper()} {cfg['n_layers']}x{cfg['hidden']} ({ev.n_params:,} parameters) "
                f"on {ev.corpus_name}: {ev.train_chars:,} train / {ev.val_chars:,} val chars, "
                f"vocabulary {ev.vocab_size}, device {ev.device}{fmt_threads(ev)}"
                + (
                    f" x{ev.world_size} ranks (batch {cfg['batch_size']} x {ev.world_size} = "
                    f"{cfg['batch_size'] * ev.world_size} sequences a step)"
                    if ev.world_size > 1
                    else ""
                )
                + f", budget {' or '.join(budget) or 'none (Ctrl+C to stop)'}"
            )
            if ev.run_dir:
                self.print(f"run folder: {ev.run_dir}")
            if ev.resumed:
                self.print(f"continuing from step {ev.step}")
        elif isinstance(ev, Logged):
            row = ev.row
            if "val_loss" in row:
                self.val_loss = row["val_loss"]
            of = f"/{self.steps}" if self.steps else ""
            parts = [f"step {row['step']:>6}{of}"]
            if "train_loss" in row:
                parts.append(f"loss {row['train_loss']:.3f}")
            parts.append(f"val {self.val_loss:.3f}" if self.val_loss is not None else "val   -  ")
            parts.append(f"{row['chars_per_s']:>9,.0f} chars/s")
            parts.append(f"elapsed {fmt_duration(row['elapsed_s'])}")
            parts.append(f"ETA {fmt_duration(self.eta)}")
            self.print("  ".join(parts))
        elif isinstance(ev, ThreadsChanged):
            self.print(threads_changed_line(ev))
        elif isinstance(ev, Failed):
            self.print(f"charrnn-tui: error: {ev.message}", err=True)
        elif isinstance(ev, Notice):
            self.print(f"note: {ev.message}", err=True)
        elif isinstance(ev, CheckpointSaved) and ev.reason in ("request", "recovered"):
            self.print(f"checkpoint saved at step {ev.step}: {ev.path}")

    def print(self, line: str, err: bool = False) -> None:
        # Escaped (a corpus or folder name can hold control characters) and never failing on the encoding:
        # a progress line that cannot print must not end the training.
        write_line(line, sys.stderr if err else self.out)


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


def train(req: TrainRequest) -> int:
    from charrnn_tui.core.paths import runs_dir
    from charrnn_tui.runs.corpus_of_run import corpus_for_run
    from charrnn_tui.runs.folder import create_run_dir

    # Settings and corpus are checked before torch is imported, so that mistakes are reported at once.
    config = preset(req.preset or DEFAULT_PRESET).with_overrides(**req.overrides)
    config.validate()
    if req.resume:
        corpus = corpus_for_run(req.run_dir, req.corpus, req.encoding)
    else:
        corpus = load_corpus(req.corpus, req.encoding or "utf-8")
    sizing = None
    train_chars = corpus.split_sizes(config.val_fraction)[0]
    from charrnn_tui.training.distributed import is_main_process, world_size
    from charrnn_tui.training.trainer import Trainer, resolve_device

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
    printer = ProgressPrinter()
    if sizing is not None and main:
        printer.print(fmt_sized(config, train_chars, sizing.chars_per_s, sizing.measured))
    if req.ignored_on_resume:
        printer.print(
            f"note: {', '.join(req.ignored_on_resume)} ignored: a resumed run keeps its own settings", err=True
        )
    if main and req.overrides.get("patience") and not config.keep_best:
        # The early stop ends a run on its best weights; without keeping them there is nothing to end on.
        printer.print("note: --patience is ignored without --keep-best: the run trains its whole budget", err=True)
    trainer = Trainer(
        corpus, config, run_dir, printer, resume=req.resume, resume_overrides=req.overrides, sizing=sizing
    )
    signals = []
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
        result = trainer.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if isinstance(result, Failed):
        return 1
    if main:
        printer.print(summary(result))
    if signals:
        if main:
            printer.print(f"resume with: {resume_command(trainer.run_dir)}")
        return 130 if signals[0] == signal.SIGINT else 143
    if main and result.checkpoint:
        # What a newcomer does next: the run is only useful once it generates, or trains further.
        printer.print(f"generate with: {generate_command(trainer.run_dir)}")
        printer.print(f"train further with: {resume_command(trainer.run_dir)}")
    return 0


def generate(args: GenerateRequest) -> int:
    """--generate-only: the prime, then the continuation, on stdout. With --num-samples N > 1, N continuations
    of the one prime are stepped together (one read of the weights per step for all) and printed one after
    another, each headed `--- sample i (temperature T) ---`; sample i draws with seed + i - 1, so sample 1 is
    what N = 1 prints. Sample 1 streams; the others wait in temporary files (memory stays flat)."""
    # Checked before torch is imported, by the same code as the app's fields.
    settings = GenerationSettings(args.length, args.temperature, args.top_k, args.seed).validate(flags=True)
    samples = args.num_samples
    if not 1 <= samples <= MAX_SAMPLES:
        raise CharRNNError(f"--num-samples must be 1 to {MAX_SAMPLES} (got {samples})")
    from charrnn_tui.runs.records import checkpoint_file

    path = checkpoint_file(args.run_dir)  # a missing checkpoint is said at once, not after importing torch
    import tempfile

    from charrnn_tui.generation.generator import Generator
    from charrnn_tui.model.checkpoint import load_model

    model, vocab, ckpt = load_model(path)
    prime = args.prime if args.prime else default_prime(ckpt["corpus"].get("head", ""), vocab.chars)
    prime = prime.replace("\\n", "\n")
    vocab.check(prime)
    # top_n=0: the CLI shows no candidates, and not listing them saves time per character.
    gen = Generator(model, vocab, top_n=0, weights="int8" if args.int8 else "fp32", rows=samples)
    seeds = [None if settings.seed is None else settings.seed + i for i in range(samples)]
    out = TextOut(sys.stdout)  # escaped on a terminal, unchanged into a file or a pipe
    held = [tempfile.TemporaryFile("w+", encoding="utf-8", newline="") for _ in range(samples - 1)]

    def header(i: int) -> None:
        if samples > 1:
            out.write(f"--- sample {i + 1} (temperature {settings.temperature:g}) ---\n")

    def write_held() -> None:
        for i, f in enumerate(held, 1):
            header(i)
            out.write(prime)
            f.seek(0)
            while chunk := f.read(1 << 16):
                out.write(chunk)
            out.write("\n")
            f.close()

    header(0)
    out.write(prime)
    out.flush()
    t0 = time.perf_counter()
    gen.feed(prime)
    n = 0
    last_flush = t0
    try:
        for step in gen.sample_rows(settings.length, [settings.temperature] * samples, settings.top_k, seeds):
            out.write(step[0].char)
            for f, tok in zip(held, step[1:], strict=True):
                f.write(tok.char)
            n += samples
            now = time.perf_counter()
            if now - last_flush > 0.05:
                out.flush()
                last_flush = now
    except KeyboardInterrupt:
        out.write("\n")
        write_held()
        out.flush()
        write_line("charrnn-tui: generation interrupted", sys.stderr)
        return 130
    seconds = time.perf_counter() - t0
    out.write("\n")
    write_held()
    out.flush()
    if args.stats:
        rate = n / seconds if seconds > 0 else float("inf")
        of = f" ({samples} samples of {n // samples})" if samples > 1 else ""
        write_line(f"generated {n} chars{of} in {seconds:.2f} s ({rate:.0f} chars/s)", sys.stderr)
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
