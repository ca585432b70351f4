"""How much context the validation loss gives its characters, and what that costs (docs/quality.md, round 7).

`evaluate()` reads the validation text as up to 32 parts side by side; each part but the first first reads
its WARM_UP preceding characters unscored. On the checkpoint of a trained run this prints the loss with
blank starts (warm-up 0: the evaluation before round 7, except that it also scores the few characters that one
left out), with warm-ups of 32 to 512 characters, and read as one unbroken
stream (the exact value, by definition); then the time of an evaluation with blank starts and with the
default warm-up, as a ratio measured in the same run (median of 10 alternating repeats).

    charrnn-tui --train-only --corpus hamlet --max-seconds 60 --run-dir /tmp/r60
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_evaluate.py /tmp/r60
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from charrnn_tui.model.checkpoint import load_model
from charrnn_tui.runs.records import read_config
from charrnn_tui.scoring import evaluate as evaluation
from charrnn_tui.text.corpus import load_corpus

CPU = torch.device("cpu")


@torch.no_grad()
def one_stream(model: torch.nn.Module, data: torch.Tensor, chunk: int = 4096) -> float:
    total, state, n = 0.0, None, len(data) - 1
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        logits, state = model(data[start:end].view(1, -1).long(), state)
        total += F.cross_entropy(logits[0], data[start + 1 : end + 1].long(), reduction="sum").item()
    return total / n


def with_warm_up(model: torch.nn.Module, data: torch.Tensor, warm_up: int) -> float:
    default, evaluation.WARM_UP = evaluation.WARM_UP, warm_up
    try:
        return evaluation.evaluate(model, data, CPU)
    finally:
        evaluation.WARM_UP = default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="the folder of a trained run (charrnn-tui --train-only --run-dir ...)")
    args = parser.parse_args()
    model, vocab, _ = load_model(args.run_dir)
    model.eval()
    record = read_config(Path(args.run_dir))
    text = load_corpus(record.corpus.spec, record.corpus.encoding).text
    cut = len(text) - int(len(text) * record.config.val_fraction)
    data = vocab.encode_tensor(text)[cut:]
    print(f"{len(data):,} validation characters, {evaluation.MAX_STREAMS} parts at most")
    print(f"| blank starts | {with_warm_up(model, data, 0):.5f} |")
    for warm_up in (32, 64, 128, 256, 512):
        print(f"| warm-up {warm_up} | {with_warm_up(model, data, warm_up):.5f} |")
    t0 = time.perf_counter()
    exact = one_stream(model, data)
    print(f"| one unbroken stream ({time.perf_counter() - t0:.2f} s) | {exact:.5f} |")
    times: dict[str, list[float]] = {"blank": [], "warm": []}
    for i in range(13):
        for name, warm_up in (("blank", 0), ("warm", evaluation.WARM_UP)):
            t0 = time.perf_counter()
            with_warm_up(model, data, warm_up)
            if i >= 3:  # the first repeats warm the caches and the allocator
                times[name].append(time.perf_counter() - t0)
    blank, warm = (statistics.median(times[k]) for k in ("blank", "warm"))
    print(f"evaluation: blank starts {blank * 1000:.0f} ms, warm-up {evaluation.WARM_UP}: {warm * 1000:.0f} ms "
          f"({warm / blank:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
