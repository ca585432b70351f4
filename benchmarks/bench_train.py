"""Training throughput: our Trainer against a bare PyTorch loop of the same model and batches.

Both train the tutorial preset (3x512 LSTM, one-hot input, batch 200, seq 30, Adam 1e-3, random
windows of Hamlet). Repeats alternate bare / Trainer so that drift of a shared machine hits both alike;
each repeat times `--steps` steps after `--warmup` untimed ones. The Trainer is timed from outside, by
the wall clock between its Step events, with an event handler attached as the app and the CLI attach one
(so the per-step Sample event is paid). `--cli` also runs `charrnn-tui --train-only` once and reads the
chars/s it prints per step.

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_train.py
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_train.py --variants   # bare-loop variants
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from charrnn_tui.core.config import TUTORIAL
from charrnn_tui.core.events import Step
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training import cpu_threads
from charrnn_tui.training.trainer import Trainer

CFG = TUTORIAL
CHARS_PER_STEP = CFG.batch_size * CFG.seq_len


def bare_loop(
    data: torch.Tensor, vocab_size: int, warmup: int, steps: int, time_major: bool = False, embed: bool = False
) -> float:
    """The loop anyone would write from the tutorial; returns chars/s over the timed steps."""
    torch.manual_seed(CFG.seed)
    emb = nn.Embedding(vocab_size, vocab_size) if embed else None
    rnn = nn.LSTM(vocab_size, CFG.hidden, CFG.n_layers, batch_first=not time_major)
    head = nn.Linear(CFG.hidden, vocab_size)
    params = list(rnn.parameters()) + list(head.parameters()) + (list(emb.parameters()) if emb else [])
    opt = torch.optim.Adam(params, lr=CFG.lr)
    gen = torch.Generator().manual_seed(CFG.seed)
    offsets = torch.arange(CFG.seq_len + 1)
    t0 = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            t0 = time.perf_counter()
        starts = torch.randint(0, len(data) - CFG.seq_len, (CFG.batch_size,), generator=gen)
        win = data[starts[:, None] + offsets].long()
        x, y = win[:, :-1], win[:, 1:]
        if time_major:
            x, y = x.t(), y.t()
        inp = emb(x) if emb else F.one_hot(x, vocab_size).float()
        out, _ = rnn(inp)
        loss = F.cross_entropy(head(out).reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # every real loop reads its loss, and the sync belongs to the step
    return steps * CHARS_PER_STEP / (time.perf_counter() - t0)


def engine(corpus, warmup: int, steps: int) -> float:
    """Our Trainer, in-process, with an event handler attached; returns chars/s over the timed steps."""
    stamps: list[float] = []

    def on_event(ev) -> None:
        if isinstance(ev, Step):
            stamps.append(time.perf_counter())

    cfg = CFG.with_overrides(steps=warmup + steps, max_seconds=0, eval_interval=10**9, checkpoint_seconds=0)
    t_start = time.perf_counter()
    Trainer(corpus, cfg, run_dir=None, on_event=on_event).run()
    stamps.insert(0, t_start)
    # stamps[k] is the end of step k; time steps warmup+1 .. warmup+steps
    return steps * CHARS_PER_STEP / (stamps[warmup + steps] - stamps[warmup])


def cli(steps: int, warmup: int) -> float:
    """`charrnn-tui --train-only`: the median of the per-step chars/s it prints after the warm-up."""
    home = tempfile.mkdtemp(prefix="charrnn-bench-")
    cmd = [
        sys.executable,
        "-m",
        "charrnn_tui",
        "--train-only",
        "--preset",
        "tutorial",
        "--steps",
        str(warmup + steps),
        "--run-dir",
        os.path.join(home, "run"),
        "--checkpoint-seconds",
        "0",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "CHARRNN_TUI_HOME": home}, check=True
    ).stdout
    rates = [float(m[1].replace(",", "")) for m in re.finditer(r"([\d,]+) chars/s", out)]
    return statistics.median(rates[warmup:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # The Trainer times its thread counts first (training/cpu_threads.py: untimed warm-up steps, then a few steps
    # on each count): steps on a count that is not the fastest belong to the thread choice, not to the step, so
    # the default warm-up lets them pass. `--warmup 3` shows what they cost.
    probe = cpu_threads.WARMUP_STEPS + cpu_threads.PROBE_STEPS * len(
        cpu_threads.thread_candidates(torch.device("cpu"), distributed=False)
    )
    ap.add_argument("--warmup", type=int, default=probe + 1)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time charrnn-tui --train-only once")
    ap.add_argument("--variants", action="store_true", help="bare-loop variants: time-major, embedding")
    args = ap.parse_args()

    corpus = load_corpus("hamlet")
    vocab = Vocab.from_text(corpus.text)
    data = vocab.encode_tensor(corpus.text)
    data = data[: len(data) - int(len(data) * CFG.val_fraction)]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, tutorial preset, vocabulary {len(vocab)}, "
        f"{args.warmup} warm-up + {args.steps} timed steps x {args.repeats} repeats"
    )

    runs: dict[str, list[float]] = {}

    def record(name: str, rate: float) -> None:
        runs.setdefault(name, []).append(rate)
        print(f"  {name:<22} {rate:8,.0f} chars/s", flush=True)

    for r in range(args.repeats):
        print(f"repeat {r + 1}")
        record("bare loop", bare_loop(data, len(vocab), args.warmup, args.steps))
        record("Trainer", engine(corpus, args.warmup, args.steps))
        if args.variants:
            record("bare, time-major", bare_loop(data, len(vocab), args.warmup, args.steps, time_major=True))
            record("bare, embedding", bare_loop(data, len(vocab), args.warmup, args.steps, embed=True))
    if args.cli:
        record("charrnn-tui --train-only", cli(args.steps, args.warmup))

    base = statistics.median(runs["bare loop"])
    print("\nmedians (chars/s, ratio to the bare loop):")
    for name, rates in runs.items():
        med = statistics.median(rates)
        print(
            f"  {name:<26} {med:8,.0f}  {med / base:.3f}x   ({len(rates)} runs: "
            + ", ".join(f"{x:,.0f}" for x in rates)
            + ")"
        )
    pairs = [t / b for b, t in zip(runs["bare loop"], runs["Trainer"], strict=True)]
    print(
        f"  Trainer / bare loop, per repeat: {', '.join(f'{p:.3f}' for p in pairs)}; "
        f"median {statistics.median(pairs):.3f}x"
    )


if __name__ == "__main__":
    main()
