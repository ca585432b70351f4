"""Several continuations stepped together, int8 against fp32, and the memory of long generation and of
evaluation with a large vocabulary. Every ratio is measured in the same run, repeats alternating.

1. Rows: `Generator.sample_rows` with 1 row and with 4 rows (temperature 0.8, seeds 0..3; and the four
   temperatures 0, 0.5, 0.8, 1.2; and 4 rows at 0.8 reading every Token's `top`, which sample_rows
   converts only when read), on the default-size model (2x256 LSTM, embedding 64) and the
   tutorial-size one (3x512, one-hot), Hamlet's vocabulary, weights at their initial values (speed does
   not depend on them). chars/s counts the characters of all rows.
2. int8: `charrnn-tui --generate-only` with and without --int8, 300 and 20,000 characters, on a run of
   each preset (trained for 1 step); the process's wall time (start-up, loading, quantising included) and
   its own --stats rate.
3. Memory: the peak RSS of `--generate-only --length 10,000 / 1,000,000` on a tiny run trained on a Korean
   text (652 distinct characters), with this code and with the code before (git archive of BEFORE), and
   the peak RSS of one evaluation of a model with a 20,000-character vocabulary, before and after.

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_generate_rows.py
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import time
from io import BytesIO
from pathlib import Path

import torch

from charrnn_tui.generation.generator import Generator
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.text.vocab import Vocab

LENGTHS = (10_000, 1_000_000)
BEFORE = "58de9f6"  # the commit before rows, bounded text and chunked evaluation
ROOT = Path(__file__).resolve().parent.parent
PRIME = "HAMLET.\n"


def rows_rate(model: CharRNN, vocab: Vocab, temps: list[float], length: int, read_top: bool = False) -> float:
    gen = Generator(model, vocab, rows=len(temps))  # top_n 5, as the generation screen asks
    gen.feed(PRIME)
    t0 = time.perf_counter()
    for step in gen.sample_rows(length, temps, seeds=list(range(len(temps)))):
        if read_top:  # the worst case: every Token's candidates read (the screen reads one per redraw)
            for tok in step:
                tok.top  # noqa: B018
    return length * len(temps) / (time.perf_counter() - t0)


def bench_rows(length: int, repeats: int) -> None:
    vocab = Vocab.from_text(load_corpus("hamlet").text)
    print(f"\n== rows: {length} characters per row, {repeats} repeats alternating ==")
    for name, layers, hidden, embed in (("default 2x256", 2, 256, 64), ("tutorial 3x512", 3, 512, 0)):
        torch.manual_seed(0)
        model = CharRNN(len(vocab), "lstm", layers, hidden, embed).eval()
        modes = {
            "1 row": [0.8],
            "2 rows": [0.8] * 2,
            "4 rows": [0.8] * 4,
            "4 rows, T 0/.5/.8/1.2": [0, 0.5, 0.8, 1.2],
            "4 rows, every top read": [0.8] * 4,
        }
        rates: dict[str, list[float]] = {}
        for _ in range(repeats):
            for mode, temps in modes.items():
                rates.setdefault(mode, []).append(rows_rate(model, vocab, temps, length, "top read" in mode))
        base = statistics.median(rates["1 row"])
        for mode, rs in rates.items():
            med = statistics.median(rs)
            per = ", ".join(f"{r / b:.2f}" for r, b in zip(rs, rates["1 row"], strict=True))
            print(f"  {name:<15} {mode:<24} {med:8,.0f} chars/s  {med / base:5.2f}x  (per repeat {per})", flush=True)


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn_tui", *args], capture_output=True, text=True, check=True, env=env
    )


def ensure_run(run_dir: Path, *flags: str) -> Path:
    if not (run_dir / "checkpoint.pt").exists():
        cli("--train-only", *flags, "--eval-interval", "100000", "--checkpoint-seconds", "0", "--run-dir", str(run_dir))
    return run_dir


def bench_int8(repeats: int) -> None:
    print(f"\n== int8 vs fp32, --generate-only, {repeats} repeats alternating ==")
    for preset in ("fast", "tutorial"):
        run = ensure_run(Path(f"/tmp/charrnn-bench-{preset}-1step"), "--preset", preset, "--steps", "1")
        for length in (300, 20_000):
            walls: dict[str, list[float]] = {}
            stats: dict[str, list[float]] = {}
            for _ in range(repeats):
                for weights in ("fp32", "int8"):
                    flags = ["--int8"] if weights == "int8" else []
                    t0 = time.perf_counter()
                    err = cli(
                        "--generate-only", "--run-dir", str(run), "--length", str(length), "--temperature", "0",
                        "--prime", PRIME, "--stats", *flags,
                    ).stderr  # fmt: skip
                    walls.setdefault(weights, []).append(time.perf_counter() - t0)
                    stats.setdefault(weights, []).append(float(re.search(r"\((\d+) chars/s\)", err)[1]))
            w32, w8 = statistics.median(walls["fp32"]), statistics.median(walls["int8"])
            s32, s8 = statistics.median(stats["fp32"]), statistics.median(stats["int8"])
            print(
                f"  {preset:<9} {length:>6} chars: wall fp32 {w32:6.2f} s, int8 {w8:6.2f} s ({w32 / w8:4.2f}x); "
                f"--stats fp32 {s32:7,.0f}, int8 {s8:7,.0f} chars/s ({s8 / s32:4.2f}x)",
                flush=True,
            )


def old_tree() -> Path:
    dest = Path(f"/tmp/charrnn-tui-{BEFORE}")
    if not dest.exists():
        blob = subprocess.run(["git", "archive", BEFORE, "charrnn_tui"], cwd=ROOT, capture_output=True, check=True)
        tarfile.open(fileobj=BytesIO(blob.stdout)).extractall(dest, filter="data")
    return dest


def peak_rss_mb(cmd: list[str], env: dict) -> float:
    """The peak resident memory of `cmd`, from the kernel's accounting of a waited-for child (MB)."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    # cwd outside the repository: `python -m` and `-c` put the cwd first on sys.path, ahead of PYTHONPATH.
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env, check=True, cwd="/"
    )
    return int(out.stdout.split()[-1]) / 1024


EVAL_CODE = """
import resource, torch
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.scoring.evaluate import evaluate
torch.manual_seed(0)
model = CharRNN(20_000, "lstm", 2, 256, 64)
data = torch.randint(0, 20_000, (200_000,))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
loss = evaluate(model, data, torch.device("cpu"))
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, loss)
"""


def bench_memory() -> None:
    print("\n== memory (peak RSS) ==")
    run = ensure_run(
        Path("/tmp/charrnn-bench-korean-tiny"), "--corpus", str(ROOT / "benchmarks/data/korean.txt"),
        "--preset", "tiny", "--steps", "30",
    )  # fmt: skip
    trees = {"before": old_tree(), "after": ROOT}
    for length in LENGTHS:
        for name, tree in trees.items():
            env = os.environ | {"PYTHONPATH": str(tree)}
            check = "import charrnn_tui, sys; print(charrnn_tui.__file__)"
            where = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, cwd="/")
            assert where.stdout.startswith(str(tree)), where.stdout  # the tree meant, not the installed one
            cmd = [sys.executable, "-m", "charrnn_tui", "--generate-only", "--run-dir", str(run)]
            cmd += ["--length", str(length), "--temperature", "0.8", "--seed", "1"]
            t0 = time.perf_counter()
            mb = peak_rss_mb(cmd, env)
            print(f"  --generate-only --length {length:>9,}  {name:<6} peak RSS {mb:7.1f} MB "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    for name, tree in trees.items():
        env = os.environ | {"PYTHONPATH": str(tree)}
        out = subprocess.run(
            [sys.executable, "-c", EVAL_CODE], capture_output=True, text=True, env=env, check=True, cwd="/"
        )
        before, peak, loss = out.stdout.split()
        print(
            f"  evaluate(), vocabulary 20,000, 2x256 embed 64, 200,000 ids  {name:<6} peak RSS "
            f"{int(peak) / 1024:7.1f} MB (before the call {int(before) / 1024:.1f} MB), loss {float(loss):.5f}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=("rows", "int8", "memory"))
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.only in (None, "rows"):
        bench_rows(args.length, args.repeats)
    if args.only in (None, "int8"):
        bench_int8(args.repeats)
    if args.only in (None, "memory"):
        bench_memory()


if __name__ == "__main__":
    main()
