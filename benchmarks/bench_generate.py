"""Generation speed, batch 1, with the tutorial-size model (3x512 LSTM, one-hot input).

The baseline is the Generator as first written: model.forward (nn.LSTM) once per character, the same
per-token work (softmax, top-n, Token). It runs beside today's Generator in the same process, repeats
alternating, and the characters of the two must be identical: argmax, and seeded sampling at T=0.8.
"raw steps" is the stepper alone (argmax, no Token), so the difference to "Generator" is the per-token
cost. `charrnn-tui --generate-only --stats` is run on the same checkpoint and its own figure read back.

The model is a tutorial run trained for --train-steps (default 150) and kept in --run-dir for the next
time; speed does not depend on the weights, but a trained model makes the equality check meaningful.

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_generate.py
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

import charrnn_tui.generation.stepper as stepper_module
from charrnn_tui.generation.generator import Generator
from charrnn_tui.generation.pick import uniform
from charrnn_tui.generation.tokens import Token
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.model.checkpoint import load_model
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.text.vocab import Vocab

PRIME = "HAMLET.\n"


@torch.no_grad()
def baseline_sample(
    model: CharRNN, vocab: Vocab, prime: str, length: int, temperature: float, seed: int | None
) -> Iterator[Token]:
    """The first Generator's loop: one model.forward per character."""
    logits, state = model(torch.tensor([vocab.encode(prime)]), None)
    logits = logits[0, -1]
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    chars = vocab.chars
    for _ in range(length):
        probs = torch.softmax(logits, -1)
        top_p, top_i = probs.topk(5)
        if temperature <= 0:
            idx = int(top_i[0])
        else:  # the Generator's own draw (pick.uniform inverted through the CDF), so the characters can match
            cdf = torch.softmax(logits / temperature, -1).cumsum(-1)
            idx = int(torch.searchsorted(cdf, uniform(gen).mul(cdf[-1:])))
        top = tuple(zip((chars[i] for i in top_i.tolist()), top_p.tolist(), strict=True))
        token = Token(chars[idx], float(probs[idx]), top)
        out, state = model(torch.tensor([[idx]]), state)
        logits = out[0, -1]
        yield token


def generator_sample(model, vocab, prime, length, temperature, seed, **kw) -> Iterator[Token]:
    gen = Generator(model, vocab, **kw)
    gen.feed(prime)
    return gen.sample(length, temperature, seed=seed)


def on_small_pages(model, vocab, prime, length, temperature, seed) -> Iterator[Token]:
    """The Generator with its weights on ordinary 4 KB pages, to show what huge pages buy."""
    keep = stepper_module.on_huge_pages
    stepper_module.on_huge_pages = lambda tensors: [t.contiguous().clone() for t in tensors]
    try:
        return generator_sample(model, vocab, prime, length, temperature, seed)
    finally:
        stepper_module.on_huge_pages = keep


@torch.no_grad()
def raw_steps(model: CharRNN, vocab: Vocab, prime: str, length: int, weights: str = "fp32") -> str:
    gen = Generator(model, vocab, weights=weights)
    gen.feed(prime)
    step, out = gen._stepper.step, []
    idx = int(gen.logits.argmax())
    for _ in range(length):
        out.append(idx)
        idx = int(step(idx).argmax())
    return vocab.decode(out)


def timed(fn) -> tuple[str, float]:
    t0 = time.perf_counter()
    result = fn()
    text = result if isinstance(result, str) else "".join(t.char for t in result)
    return text, len(text) / (time.perf_counter() - t0)


def ensure_run(run_dir: Path, steps: int) -> None:
    if (run_dir / "checkpoint.pt").exists():
        return
    print(f"training the tutorial preset for {steps} steps into {run_dir} ...", flush=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn_tui",
            "--train-only",
            "--preset",
            "tutorial",
            "--steps",
            str(steps),
            "--eval-interval",
            "100000",
            "--log-interval",
            "50",
            "--checkpoint-seconds",
            "0",
            "--run-dir",
            str(run_dir),
        ],
        check=True,
        env={**os.environ, "CHARRNN_TUI_HOME": str(run_dir)},
    )


def cli_rate(run_dir: Path, length: int) -> float:
    cmd = [
        sys.executable,
        "-m",
        "charrnn_tui",
        "--generate-only",
        "--run-dir",
        str(run_dir),
        "--length",
        str(length),
        "--temperature",
        "0",
        "--prime",
        PRIME,
        "--stats",
    ]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    m = re.search(r"generated (\d+) chars in ([\d.]+) s \((\d+) chars/s\)", err)
    return float(m[3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", type=Path, default=Path("/tmp/charrnn-bench-tutorial"))
    ap.add_argument("--train-steps", type=int, default=150)
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    ensure_run(args.run_dir, args.train_steps)
    model, vocab, _ = load_model(args.run_dir)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {model.n_layers}x{model.hidden} "
        f"{model.cell.upper()}, embed {model.embed.embedding_dim if model.embed else 'one-hot'}, "
        f"{model.num_params():,} parameters; {args.length} chars per run, {args.repeats} repeats"
    )

    modes = {
        "baseline (forward/char)": lambda: baseline_sample(model, vocab, PRIME, args.length, 0, None),
        "Generator": lambda: generator_sample(model, vocab, PRIME, args.length, 0, None),
        "Generator, 4 KB pages": lambda: on_small_pages(model, vocab, PRIME, args.length, 0, None),
        "raw steps (no Token)": lambda: raw_steps(model, vocab, PRIME, args.length),
        "Generator int8": lambda: generator_sample(model, vocab, PRIME, args.length, 0, None, weights="int8"),
        "raw steps int8": lambda: raw_steps(model, vocab, PRIME, args.length, "int8"),
    }
    rates: dict[str, list[float]] = {}
    texts: dict[str, str] = {}
    for r in range(args.repeats):
        for name, fn in modes.items():
            texts[name], rate = timed(fn)
            rates.setdefault(name, []).append(rate)
            print(f"  repeat {r + 1}  {name:<26} {rate:8,.0f} chars/s", flush=True)
        rates.setdefault("charrnn-tui --generate-only", []).append(cli_rate(args.run_dir, args.length))
        print(
            f"  repeat {r + 1}  {'charrnn-tui --generate-only':<26} {rates['charrnn-tui --generate-only'][-1]:8,.0f}"
            " chars/s (its --stats line)",
            flush=True,
        )

    base = statistics.median(rates["baseline (forward/char)"])
    print("\nmedians (chars/s, ratio to the baseline):")
    for name, rs in rates.items():
        med = statistics.median(rs)
        print(f"  {name:<28} {med:8,.0f}  {med / base:5.2f}x")

    ref = texts["baseline (forward/char)"]
    print(
        f"\nargmax, {args.length} chars: Generator identical to baseline: {texts['Generator'] == ref}; "
        f"raw steps identical: {texts['raw steps (no Token)'] == ref}; distinct chars {len(set(ref))}"
    )
    a = "".join(t.char for t in baseline_sample(model, vocab, PRIME, args.length, 0.8, 1))
    b = "".join(t.char for t in generator_sample(model, vocab, PRIME, args.length, 0.8, 1))
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a))
    # Sampling follows the logits' last bits: a draw that lands between two nearly equal probabilities goes the
    # other way when the two paths sum a step in another order (the stepper's kernels against nn.LSTM's).
    print(f"sampling T=0.8 seed 1, {args.length} chars: identical: {a == b} (for the first {first} chars)")
    q = texts["Generator int8"]
    same = next((i for i, (x, y) in enumerate(zip(q, ref, strict=True)) if x != y), len(ref))
    assert texts["raw steps int8"] == texts["Generator int8"]
    print(f"int8, argmax free-running: identical for the first {same} of {len(ref)} chars")
    val = load_corpus("hamlet").text[-args.length - 1 :]
    for weights in ("fp32", "int8"):
        miss, ce = teacher_forced(model, vocab, val, weights)
        print(
            f"teacher-forced on the last {args.length} chars of Hamlet, {weights}: argmax differs from the "
            f"baseline's at {miss * 100:.2f}% of steps; cross-entropy {ce:.4f} nats/char"
        )
    print(f"sample: {ref[:120]!r}")


@torch.no_grad()
def teacher_forced(model: CharRNN, vocab: Vocab, text: str, weights: str) -> tuple[float, float]:
    """Feed `text` one char at a time; how often the argmax differs from model.forward's, and the loss."""
    logits_ref, _ = model(torch.tensor([vocab.encode(text[:-1])]))
    ref = logits_ref[0].argmax(-1).tolist()
    gen = Generator(model, vocab, weights=weights)
    miss, ce = 0, 0.0
    for i, ch in enumerate(text[:-1]):
        gen.feed(ch)
        miss += int(gen.logits[0].argmax()) != ref[i]
        ce += float(torch.nn.functional.cross_entropy(gen.logits, torch.tensor([vocab.index[text[i + 1]]])))
    return miss / (len(text) - 1), ce / (len(text) - 1)


if __name__ == "__main__":
    main()
