"""`--generate-only`: the prime, then the continuation, on stdout, streamed; several samples stepped together."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.requests import GenerateRequest
from charrnn_tui.generation.settings import MAX_SAMPLES, GenerationSettings, default_prime
from charrnn_tui.present.safetext import TextOut, write_line

if TYPE_CHECKING:  # torch loads only once the settings are checked
    from charrnn_tui.generation.generator import Generator
    from charrnn_tui.generation.tokens import Token


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
    if args.weights is not None:
        model.load_state_dict(chosen_weights(ckpt, args.weights))
    prime = args.prime if args.prime else default_prime(ckpt["corpus"].get("head", ""), vocab.chars)
    prime = prime.replace("\\n", "\n")
    vocab.check(prime)
    # top_n=0: the CLI shows no candidates, and not listing them saves time per character.
    gen = Generator(model, vocab, top_n=0, weights="int8" if args.int8 else "fp32", rows=args.num_samples)
    return gen, prime


def chosen_weights(ckpt: dict, which: str) -> dict:
    """--weights: the state_dict `which` ("best" or "last") names in a loaded checkpoint. Raises CharRNNError for
    "best" when the run kept no best weights (trained without --keep-best)."""
    from charrnn_tui.model.checkpoint import weights_of

    found = weights_of(ckpt, which)
    if found is None:
        raise CharRNNError(
            "--weights best: this run holds no best weights (it was trained without --keep-best); "
            "leave --weights out, or give --weights last"
        )
    return found[0]


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
