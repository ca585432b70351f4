"""What the app's training screen costs the trainer: the same run with the app on screen and headless.

Both run in a real terminal (a detached 120x36 tmux pane), as a user runs them: `charrnn-tui
--train-only ...` printing its progress, and `charrnn-tui ...` with the same flags, where the benchmark
presses Ctrl+T on the corpus screen and the training screen then draws the run. Repeats alternate the two
so that drift of a shared machine hits both alike. Throughput is read afterwards from each run's
metrics.jsonl (a row every step): characters trained between the first row after `--warmup` and the last
row before the final evaluation, over the trainer's own clock between them, so everything the trainer's
process does meanwhile (event callbacks, the UI thread's frames) counts. The cost is the median over
repeats of 1 - app/headless.

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_tui.py                     # tutorial preset
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_tui.py --preset fast --steps 300 --warmup 30
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = Path(sys.executable).with_name("charrnn-tui")
SIZE = ("120", "36")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def wait_for(predicate, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.05)


def final_row_written(metrics: Path, steps: int) -> bool:
    if not metrics.exists():
        return False
    lines = metrics.read_text().splitlines()
    return bool(lines) and lines[-1].endswith("}") and json.loads(lines[-1]).get("step") == steps


def run_once(ui: bool, flags: list[str], steps: int, home: str, timeout: float) -> Path:
    run_dir = Path(tempfile.mkdtemp(dir=home)) / "run"
    name = f"charrnn-bench-tui-{os.getpid()}"
    mode = [] if ui else ["--train-only"]
    cmd = " ".join([f"CHARRNN_TUI_HOME={home}", str(EXE), *mode, *flags, "--run-dir", str(run_dir)])
    tmux("new-session", "-d", "-s", name, "-x", SIZE[0], "-y", SIZE[1], cmd + "; sleep 600")
    try:
        if ui:
            # Ctrl+T does nothing until the corpus has loaded: press it until the training screen shows.
            def training_shown() -> bool:
                tmux("send-keys", "-t", name, "C-t")
                time.sleep(0.5)
                return "loss curve" in tmux("capture-pane", "-p", "-t", name)

            wait_for(training_shown, 30, "training screen")
        wait_for(lambda: final_row_written(run_dir / "metrics.jsonl", steps), timeout, "finished run")
        if ui:
            time.sleep(0.5)
            tmux("send-keys", "-t", name, "C-q")
            time.sleep(0.5)
    finally:
        tmux("kill-session", "-t", name)
    return run_dir


def throughput(run_dir: Path, warmup: int, chars_per_step: int) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "val_loss" not in r]  # the final row's clock includes the evaluation
    first = next(r for r in rows if r["step"] >= warmup)
    last = rows[-1]
    return (last["step"] - first["step"]) * chars_per_step / (last["elapsed_s"] - first["elapsed_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tutorial")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    from charrnn_tui.core.config import PRESETS

    cfg = PRESETS[args.preset]
    chars_per_step = cfg.batch_size * cfg.seq_len
    # A row every step, no evaluation or timed checkpoint until the end: both runs do the same work.
    flags = [
        "--corpus",
        "hamlet",
        "--preset",
        args.preset,
        "--steps",
        str(args.steps),
        "--log-interval",
        "1",
        "--eval-interval",
        str(args.steps),
        "--checkpoint-seconds",
        "0",
        "--seed",
        "1",
    ]
    rates: dict[str, list[float]] = {"headless": [], "app": []}
    with tempfile.TemporaryDirectory() as home:
        for r in range(args.repeats):
            for label in ("headless", "app"):
                run_dir = run_once(label == "app", flags, args.steps, home, args.timeout)
                rates[label].append(throughput(run_dir, args.warmup, chars_per_step))
            ratio = rates["app"][-1] / rates["headless"][-1]
            print(
                f"repeat {r + 1}: headless {rates['headless'][-1]:9,.0f}  app {rates['app'][-1]:9,.0f} chars/s"
                f"  app/headless {ratio:.3f}",
                flush=True,
            )
    head, app = statistics.median(rates["headless"]), statistics.median(rates["app"])
    # Each repeat's two runs are neighbours in time, so their ratio is the steadier figure.
    ratios = [a / h for a, h in zip(rates["app"], rates["headless"], strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"{args.preset}: headless median {head:,.0f} chars/s, app {app:,.0f} chars/s; app/headless per repeat "
        f"{', '.join(f'{x:.3f}' for x in ratios)}, median {ratio:.3f}: the training screen costs "
        f"{100 * (1 - ratio):.1f}%"
    )


if __name__ == "__main__":
    main()
