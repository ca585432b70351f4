"""Training precision: fp32 against bf16 autocast, in a bare PyTorch loop and in our Trainer; and intra-op threads.

Speed: per preset, each repeat runs bare fp32, bare bf16, Trainer fp32, Trainer bf16 one after the other
(the order flips every repeat), so that drift of a shared machine hits both precisions alike. Each run times
`--steps` steps after `--warmup` untimed ones. bf16 is `torch.autocast("cpu", dtype=torch.bfloat16)` around the
forward pass and the loss; weights, gradients and Adam stay fp32. The bare loop is the one anyone would write
(`nn.LSTM`, one-hot or `nn.Embedding`, dropout, cross-entropy, Adam, clipping where the preset clips, random
windows of Hamlet, `loss.item()` each step); the Trainer is timed by the wall clock between its Step events,
with an event handler attached as the app and the CLI attach one.

Curve: one Trainer run per precision of `--curve-steps` steps from the same seed (eval at the end only, in fp32
for both): the training loss averaged over blocks of 50 steps, and the validation loss at the end.

Threads (`--threads`): the Trainer in the preset's own precision pinned to 1 and to 2 intra-op threads
(OMP_NUM_THREADS set, so the trainer's chooser stands aside) and choosing for itself
(charrnn_tui/training/cpu_threads.py),
the order reversed every repeat; `--busy` adds a process spinning on one core throughout, `--neighbour` during
the middle third of the timed steps only.

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_precision.py --preset tutorial
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_precision.py --preset fast --steps 60 --warmup 20
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_precision.py --preset fast --sized 60
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_precision.py --threads --preset fast --steps 600
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_precision.py --threads --neighbour --preset fast
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from charrnn_tui.core.config import DEFAULT_PRESET, PRESETS, TrainConfig, fit_to_corpus
from charrnn_tui.core.events import Finished, Logged, Step
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training.trainer import Trainer

BLOCK = 50  # steps per block of the loss curve


def _autocast(bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def bare_loop(cfg: TrainConfig, data: torch.Tensor, vocab_size: int, warmup: int, steps: int, bf16: bool) -> float:
    """Returns chars/s over the timed steps."""
    torch.manual_seed(cfg.seed)
    emb = nn.Embedding(vocab_size, cfg.embed) if cfg.embed else None
    rnn = nn.LSTM(cfg.embed or vocab_size, cfg.hidden, cfg.n_layers, batch_first=True,
                  dropout=cfg.dropout if cfg.n_layers > 1 else 0.0)  # fmt: skip
    drop, head = nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, vocab_size)
    params = [*rnn.parameters(), *head.parameters(), *(emb.parameters() if emb else ())]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    offsets = torch.arange(cfg.seq_len + 1)
    t0 = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            t0 = time.perf_counter()
        starts = torch.randint(0, len(data) - cfg.seq_len, (cfg.batch_size,), generator=gen)
        win = data[starts[:, None] + offsets].long()
        x, y = win[:, :-1], win[:, 1:]
        with _autocast(bf16):
            inp = emb(x) if emb else F.one_hot(x, vocab_size).float()
            out, _ = rnn(inp)
            logits = head(drop(out))
            loss = F.cross_entropy(logits.float().reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        loss.item()
    return steps * cfg.batch_size * cfg.seq_len / (time.perf_counter() - t0)


def trainer_run(
    corpus, cfg: TrainConfig, warmup: int, steps: int, on_step: Callable[[int], None] | None = None
) -> tuple[float, list[float], float | None]:
    """Our Trainer in-process. Returns chars/s over the timed steps, the per-step training losses and the
    final validation loss. `on_step(step)` is called at each Step event."""
    stamps: list[float] = []
    losses: list[float] = []
    val: list[float] = []

    def on_event(ev) -> None:
        if isinstance(ev, Step):
            stamps.append(time.perf_counter())
            losses.append(ev.train_loss)
            if on_step is not None:
                on_step(ev.step)
        elif isinstance(ev, Logged) and ev.row.get("val_loss") is not None:
            val.append(ev.row["val_loss"])

    cfg = cfg.with_overrides(steps=warmup + steps, max_seconds=0, eval_interval=10**9, checkpoint_seconds=0)
    result = Trainer(corpus, cfg, run_dir=None, on_event=on_event).run()
    if not isinstance(result, Finished):
        raise SystemExit(f"the Trainer failed: {result.message}")
    rate = steps * cfg.batch_size * cfg.seq_len / (stamps[warmup + steps - 1] - stamps[warmup - 1]) if warmup else 0.0
    return rate, losses, (val[-1] if val else None)


def speed(name: str, cfg: TrainConfig, corpus, data, vocab_size: int, args) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {}
    order = [("bare", False), ("bare", True), ("Trainer", False), ("Trainer", True)]
    for r in range(args.repeats):
        seq = order if r % 2 == 0 else order[::-1]
        for kind, bf16 in seq:
            if kind == "bare":
                rate = bare_loop(cfg, data, vocab_size, args.warmup, args.steps, bf16)
            else:
                rate = trainer_run(corpus, cfg.with_overrides(precision="bf16" if bf16 else "fp32"),
                                   args.warmup, args.steps)[0]  # fmt: skip
            key = f"{kind} {'bf16' if bf16 else 'fp32'}"
            runs.setdefault(key, []).append(rate)
            print(f"  [{name} r{r + 1}] {key:<13} {rate:9,.0f} chars/s", flush=True)
    return runs


def speed_table(name: str, cfg: TrainConfig, runs: dict[str, list[float]]) -> None:
    chars = cfg.batch_size * cfg.seq_len
    base = statistics.median(runs["bare fp32"])
    print(f"\n{name}: medians ({len(runs['bare fp32'])} repeats)")
    print("| loop | s/step | chars/s | vs bare fp32 | per repeat |")
    print("|---|---:|---:|---:|---|")
    for key, rates in runs.items():
        med = statistics.median(rates)
        each = ", ".join(f"{x:,.0f}" for x in rates)
        print(f"| {key} | {chars / med:.4f} | {med:,.0f} | {med / base:.3f}x | {each} |")
    for kind in ("bare", "Trainer"):
        pairs = [b / f for f, b in zip(runs[f"{kind} fp32"], runs[f"{kind} bf16"], strict=True)]
        each = ", ".join(f"{p:.3f}" for p in pairs)
        print(f"{kind}: bf16/fp32 per repeat {each}; median {statistics.median(pairs):.3f}x")


def curve(name: str, cfg: TrainConfig, corpus, steps: int) -> None:
    out = {}
    for prec in ("fp32", "bf16"):
        t0 = time.perf_counter()
        _, losses, val = trainer_run(corpus, cfg.with_overrides(precision=prec), 0, steps)
        out[prec] = (losses, val, time.perf_counter() - t0)
    (l32, v32, t32), (l16, v16, t16) = out["fp32"], out["bf16"]
    print(f"\n{name}: loss curve, {steps} steps, seed {cfg.seed} (run time fp32 {t32:.0f} s, bf16 {t16:.0f} s)")
    print("| steps | fp32 train loss | bf16 train loss | bf16/fp32 - 1 |")
    print("|---|---:|---:|---:|")
    worst = 0.0
    for a in range(0, steps, BLOCK):
        m32, m16 = statistics.fmean(l32[a : a + BLOCK]), statistics.fmean(l16[a : a + BLOCK])
        worst = max(worst, abs(m16 / m32 - 1))
        print(f"| {a + 1}-{min(a + BLOCK, steps)} | {m32:.4f} | {m16:.4f} | {m16 / m32 - 1:+.2%} |")
    print(f"| val loss at {steps} (fp32 eval) | {v32:.4f} | {v16:.4f} | {v16 / v32 - 1:+.2%} |")
    print(f"largest block difference {worst:.2%}")


def _spin(stop) -> None:
    while not stop.is_set():
        pass


class Neighbour:
    """A process spinning on one core, started and stopped at will: the busy neighbour of a shared machine."""

    def __init__(self) -> None:
        self._stop: multiprocessing.synchronize.Event | None = None
        self._proc: multiprocessing.Process | None = None

    def start(self) -> None:
        if self._proc is None:
            self._stop = multiprocessing.Event()
            self._proc = multiprocessing.Process(target=_spin, args=(self._stop,), daemon=True)
            self._proc.start()

    def stop(self) -> None:
        if self._proc is not None:
            self._stop.set()
            self._proc.join()
            self._proc = None


# The arms of the thread comparison: a pinned count (OMP_NUM_THREADS set, as a user pins it, so the trainer's
# chooser stands aside) or the chooser (charrnn_tui/training/cpu_threads.py) starting from PyTorch's default count.
THREAD_ARMS = ("1", "2", "auto")


def _pin(arm: str, cores: int) -> None:
    if arm == "auto":
        os.environ.pop("OMP_NUM_THREADS", None)
        torch.set_num_threads(cores)
    else:
        os.environ["OMP_NUM_THREADS"] = arm
        torch.set_num_threads(int(arm))


def threads(names: list[str], corpus, args) -> None:
    """Each preset in its default precision, the arms in turn (order reversed every repeat). --busy: a neighbour
    spins on one core throughout; --neighbour: it spins during the middle third of the timed steps only."""
    cores = torch.get_num_threads()
    neighbour = Neighbour()
    scene = "beside a busy process" if args.busy else "a neighbour for the middle third" if args.neighbour else "alone"
    lo, hi = args.warmup + args.steps // 3, args.warmup + 2 * args.steps // 3

    def on_step(step: int) -> None:
        if args.neighbour and step == lo:
            neighbour.start()
        elif args.neighbour and step == hi:
            neighbour.stop()

    try:
        for name in names:
            cfg = PRESETS[name]

            runs: dict[str, list[float]] = {arm: [] for arm in THREAD_ARMS}
            for r in range(args.repeats):
                for arm in THREAD_ARMS if r % 2 == 0 else THREAD_ARMS[::-1]:
                    _pin(arm, cores)
                    if args.busy:
                        neighbour.start()
                    runs[arm].append(trainer_run(corpus, cfg, args.warmup, args.steps, on_step)[0])
                    neighbour.stop()
                    print(f"  [{name} r{r + 1}] {arm:>4} {runs[arm][-1]:9,.0f} chars/s", flush=True)
            med = {arm: statistics.median(v) for arm, v in runs.items()}
            per = "; ".join(f"{', '.join(f'{x:,.0f}' for x in runs[arm])}" for arm in THREAD_ARMS)
            print(f"| {name}, {scene} | {med['1']:,.0f} | {med['2']:,.0f} | {med['auto']:,.0f} "
                  f"| {med['auto'] / max(med['1'], med['2']):.3f}x | {per} |", flush=True)  # fmt: skip
    finally:
        _pin("auto", cores)
        neighbour.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", action="append", choices=list(PRESETS), help="repeatable (default: tutorial, fast)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=40, help="timed steps per run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--curve-steps", type=int, default=300, help="steps of the loss-curve pair (0: skip)")
    ap.add_argument("--no-speed", action="store_true", help="only the loss curves")
    ap.add_argument("--threads", action="store_true", help="time 1 and 2 intra-op threads and the chooser instead")
    ap.add_argument("--busy", action="store_true", help="with --threads: beside a process spinning on one core")
    ap.add_argument("--neighbour", action="store_true", help="with --threads: that process for the middle third")
    ap.add_argument("--sized", type=float, default=0, metavar="S",
                    help="the fast preset as a run of S seconds on Hamlet gets it (fit_to_corpus: dropout, weight "
                         "drop, beta2); the schedule still follows the steps")  # fmt: skip
    args = ap.parse_args()
    names = args.preset or ["tutorial", "fast"]

    corpus = load_corpus("hamlet")
    vocab = Vocab.from_text(corpus.text)
    data = vocab.encode_tensor(corpus.text)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, AVX-512 BF16 "
        f"{torch.cpu._is_avx512_bf16_supported()}, AMX {torch.cpu._is_amx_tile_supported()}; "
        f"{args.warmup} warm-up + {args.steps} timed steps x {args.repeats} repeats"
    )
    if args.threads:
        print(
            "| preset, load | 1 thread | 2 threads | chosen | chosen / best pinned | per repeat: 1; 2; chosen |\n"
            "|---|---:|---:|---:|---:|---|"
        )
        threads(names, corpus, args)
        return
    for name in names:
        cfg = PRESETS[name]
        train = data[: len(data) - int(len(data) * cfg.val_fraction)]
        if args.sized and name == DEFAULT_PRESET:
            cfg = fit_to_corpus(cfg.with_overrides(max_seconds=args.sized), len(train))
            name = f"{name}, sized for {args.sized:g} s"
            print(f"{name}: dropout {cfg.dropout:g} (locked {cfg.locked_dropout}), weight drop {cfg.weight_drop:g}, "
                  f"beta2 {cfg.adam_beta2:g}, lr {cfg.lr:g}")  # fmt: skip
        if not args.no_speed:
            speed_table(name, cfg, speed(name, cfg, corpus, train, len(vocab), args))
        if args.curve_steps:
            curve(name, cfg, corpus, args.curve_steps)


if __name__ == "__main__":
    main()
