"""The cost of a training step with Merity et al.'s regularisers against the fused nn.LSTM step.

Locked dropout and weight drop run the layers one at a time (charrnn_tui/model/charrnn.py); the default `dropout`
runs inside the fused multi-layer nn.LSTM. Each variant: the default model's size (2x256 LSTM, embedding
64, Hamlet's 64-character vocabulary), batch 32 x 100, bf16 autocast as the default precision picks on
CPUs that have it (fp32 elsewhere), Adam; the median of 25 timed steps after 3 warm-up ones, 3 repeats
alternating; the ratio is to the fused step with dropout 0.5 in the same repeat (median of the repeats).

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_regularisers.py
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.training.precision import cpu_has_bf16

VOCAB = 64
VARIANTS = {
    "fused, dropout 0.5": {"dropout": 0.5},
    "fused, no dropout": {"dropout": 0.0},
    "locked dropout 0.5": {"dropout": 0.5, "locked_dropout": True},
    "locked 0.3 + weight drop 0.2": {"dropout": 0.3, "locked_dropout": True, "weight_drop": 0.2},
    "dropout 0.5 + weight drop 0.3": {"dropout": 0.5, "weight_drop": 0.3},
}


def step_time(settings: dict, steps: int = 25) -> float:
    torch.manual_seed(0)
    model = CharRNN(VOCAB, "lstm", 2, 256, 64, **settings).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randint(0, VOCAB, (32, 101))
    cast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_has_bf16())
    times = []
    for _ in range(steps + 3):
        t0 = time.perf_counter()
        with cast:
            logits, _ = model(x[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), x[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[3:])


def main() -> None:
    print(f"bf16 autocast: {cpu_has_bf16()}, threads: {torch.get_num_threads()}")
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(3):
        for name, settings in VARIANTS.items():
            results[name].append(step_time(settings))
    base = results["fused, dropout 0.5"]
    for name, times in results.items():
        ratio = statistics.median(t / b for t, b in zip(times, base, strict=True))
        print(f"{name:<32} {' '.join(f'{t * 1000:6.1f}' for t in times)} ms/step   {ratio:.3f}x the time")


if __name__ == "__main__":
    main()
