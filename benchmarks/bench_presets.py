"""Compare presets and variants at an equal wall-clock budget: each one trains for real through the CLI
(`charrnn-tui --train-only`), one at a time under the shared CPU lock, and its final validation loss is
read back from the run's metrics.jsonl.

    python benchmarks/bench_presets.py --variants fast tutorial --budgets 60 180
    python benchmarks/bench_presets.py --variants fast tutorial --budgets 180 --corpus macbeth
    python benchmarks/bench_presets.py --table             # the table of everything measured so far
    python benchmarks/bench_presets.py --list              # the variants

The loss "at 60 s" is the final loss of a run given a 60 s budget, not a point on a longer run's curve:
the cosine schedule ends exactly at the budget, so a run's curve at 60 s says little about a 60 s run.
A 600 s run holds the lock for ten minutes, so 600 is only measured when asked for (--budgets ... 600
or --long). For constant-lr variants (the tutorial) the loss at 60/180/600 s can also be read off a
single run's curve (--curve), since their schedule does not depend on the budget.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import subprocess
import sys
import time
from pathlib import Path

LN2 = math.log(2)
LOCK = "/tmp/charrnn-cpu.lock"

# The first guess at the fast preset, as flags, so that the variants below stay what was measured
# whatever the preset becomes: 2x256 LSTM, embed 64, tbptt, batch 32, seq 100, cosine, clip 1.0.
V0 = (
    "--preset fast --layers 2 --hidden 256 --embed 64 --dropout 0.2 --lr 4e-3 --weight-decay 0 --ema 0 --no-keep-best"
).split()

R3 = "--preset fast --no-locked-dropout --dropout 0.5 --weight-drop 0 --embed-dropout 0 --optimizer adam".split()

# name -> CLI flags. "fast" and "tutorial" are the presets as they stand in config.py; "v0..." are the
# first guess plus the named changes (a later flag wins).
VARIANTS: dict[str, list[str]] = {
    "fast": ["--preset", "fast"],  # as it stands, sized for the corpus and budget
    "tutorial": ["--preset", "tutorial"],
    # the reference point: plain 2x256 LSTM, random windows, constant lr, no regularisation
    "plain": V0 + "--dropout 0 --sampling random --lr-schedule constant --warmup 0 --grad-clip 0".split(),
    "v0": V0,
    "v0-d0.5": V0 + ["--dropout", "0.5"],
    "v0-d0.5-h384": V0 + "--dropout 0.5 --hidden 384".split(),
    "v0-d0.5-h512": V0 + "--dropout 0.5 --hidden 512".split(),
    "v0-d0.5-random": V0 + "--dropout 0.5 --sampling random".split(),
    "v0-d0.5-lr2e-3": V0 + "--dropout 0.5 --lr 2e-3".split(),
    "v0-d0.5-lr8e-3": V0 + "--dropout 0.5 --lr 8e-3".split(),
    "v0-d0.5-wd1e-4": V0 + "--dropout 0.5 --weight-decay 1e-4".split(),
    "v0-d0.5-lr8e-3-wd1e-4": V0 + "--dropout 0.5 --lr 8e-3 --weight-decay 1e-4".split(),
    "v0-d0.5-lr1.2e-2-wd3e-5": V0 + "--dropout 0.5 --lr 1.2e-2 --weight-decay 3e-5".split(),
    # Round 2: evaluate an average of the weights and end on the best evaluation (the current fast).
    "v0-d0.5-lr8e-3-wd1e-4-ema": V0 + "--dropout 0.5 --lr 8e-3 --weight-decay 1e-4 --ema 0.995 --keep-best".split(),
    "v0-d0.5-lr8e-3-wd5e-4-ema": V0 + "--dropout 0.5 --lr 8e-3 --weight-decay 5e-4 --ema 0.995 --keep-best".split(),
    "v0-d0.5-lr1.2e-2-wd3e-5-ema": V0 + "--dropout 0.5 --lr 1.2e-2 --weight-decay 3e-5 --ema 0.995 --keep-best".split(),
    "v0-d0.5-gru": V0 + "--dropout 0.5 --cell gru".split(),
    "v0-d0.5-b16": V0 + "--dropout 0.5 --batch-size 16".split(),
    "v0-d0.4-h192": V0 + "--dropout 0.4 --hidden 192".split(),
    # Round 3 (issue 15): Merity et al.'s regularisers on the round-2 fast preset (dropout 0.5 per time step,
    # no weight drop), one at a time, then together. R3 pins every setting round 3 varies, so that the names
    # keep meaning what was measured now that the preset is sized (a flag given is never sized).
    **{
        f"fast-{name}": R3 + flags.split()
        for name, flags in {
            "locked": "--locked-dropout",
            "wdrop0.2": "--weight-drop 0.2",
            "locked-wdrop0.3": "--locked-dropout --weight-drop 0.3",
            "locked-d0": "--locked-dropout --dropout 0",
            "locked-d0.1": "--locked-dropout --dropout 0.1",
            "locked-d0.2": "--locked-dropout --dropout 0.2",
            "locked-d0.3": "--locked-dropout --dropout 0.3",
            "locked-d0.4": "--locked-dropout --dropout 0.4",
            "locked-d0.2-wdrop0.2": "--locked-dropout --dropout 0.2 --weight-drop 0.2",
            "locked-d0.3-wdrop0.2": "--locked-dropout --dropout 0.3 --weight-drop 0.2",
            "locked-d0.3-wdrop0.3": "--locked-dropout --dropout 0.3 --weight-drop 0.3",
            "locked-d0.3-edrop0.1": "--locked-dropout --dropout 0.3 --embed-dropout 0.1",
            "locked-d0.3-wdrop0.2-edrop0.1": "--locked-dropout --dropout 0.3 --weight-drop 0.2 --embed-dropout 0.1",
            "locked-d0.3-adamw0.1": "--locked-dropout --dropout 0.3 --optimizer adamw --weight-decay 0.1",
        }.items()
    },
    # The corpus grid: the sized default against fixed regularisation (batch and evaluation still sized).
    **{
        f"grid-d{d}-w{w}": ["--preset", "fast", "--dropout", d, "--weight-drop", w]
        for d, w in (("0.1", "0"), ("0.3", "0.2"), ("0.5", "0.4"))
    },
    # Short budgets (round 3): Hamlet's 60 s sizing (dropout 0.1, no weight drop) with a shorter weight
    # average or another learning rate, compared at equal steps.
    "s60": "--preset fast --dropout 0.1 --weight-drop 0".split(),
    "s60-ema0.99": "--preset fast --dropout 0.1 --weight-drop 0 --ema 0.99".split(),
    "s60-ema0.98": "--preset fast --dropout 0.1 --weight-drop 0 --ema 0.98".split(),
    "s60-lr2e-2": "--preset fast --dropout 0.1 --weight-drop 0 --lr 2e-2".split(),
    "s180-lr2e-2": "--preset fast --dropout 0.3 --weight-drop 0.2 --lr 2e-2".split(),
    "fast-lr2e-2": "--preset fast --lr 2e-2".split(),  # sized, with the higher learning rate
    "fast-r2": R3,  # the round-2 default as it was, unsized, for a comparison in the same session
    "fast-unsized-b32": "--preset fast --batch-size 32 --eval-interval 100".split(),
    # Round 4: Hamlet's budgets as this machine reads them (60 s ~ 740 steps, 15 epochs; 180 s ~ 2,000 steps,
    # 40 epochs), dropout / weight drop / learning rate around the sized default, compared at equal steps.
    **{
        f"r4-d{d}-w{w}-lr{lr}": f"--preset fast --dropout {d} --weight-drop {w} --lr {lr}".split()
        for d, w, lr in (
            ("0.1", "0", "2e-2"),
            ("0.2", "0", "2e-2"),
            ("0.2", "0.1", "2e-2"),
            ("0.1", "0", "3e-2"),
            ("0.2", "0", "3e-2"),
            ("0.2", "0.1", "3e-2"),
            ("0.3", "0.2", "2e-2"),
            ("0.3", "0.2", "3e-2"),
            ("0.4", "0.2", "2e-2"),
            ("0.3", "0.3", "2e-2"),
            ("0.1", "0", "4e-2"),
            ("0.1", "0", "5e-2"),
            ("0.2", "0.1", "4e-2"),
            ("0.3", "0.2", "4e-2"),
            ("0.3", "0.2", "5e-2"),
            ("0.1", "0", "7e-2"),
            ("0.35", "0.25", "3e-2"),
            ("0.35", "0.25", "4e-2"),
        )
    },
    # Round 5: Adam's beta2 (and a few settings beside it) around the round-4 default at Hamlet's budgets on a
    # busy machine (600 steps ~ 60 s, 2000 ~ 180 s), compared at equal steps over several seeds.
    **{
        f"r5-d{d}-w{w}-beta2-{b2}{extra.replace(' --', '-').replace('--', '-').replace(' ', '')}": (
            f"--preset fast --dropout {d} --weight-drop {w} --adam-beta2 {b2} {extra}".split()
        )
        for d, w, b2, extra in (
            ("0.2", "0.1", "0.999", ""),
            ("0.2", "0.1", "0.99", ""),
            ("0.2", "0.1", "0.95", ""),
            ("0.2", "0.1", "0.95", "--warmup 20"),
            ("0.2", "0.1", "0.95", "--weight-decay 1e-4"),
            ("0.2", "0.1", "0.95", "--embed 128"),
            ("0.3", "0.2", "0.999", ""),
            ("0.3", "0.2", "0.99", ""),
            ("0.3", "0.2", "0.95", ""),
        )
    },
    # Round 6: narrower LSTMs at Hamlet's 60 s (bf16 asked for: auto keeps fp32 below 256 wide), sized as the
    # default or with the regularisation their larger step count reads as epochs
    **{
        f"r6-h{h}{name}": f"--preset fast --hidden {h} --precision bf16 {flags}".split()
        for h, name, flags in (
            ("128", "", ""),
            ("160", "", ""),
            ("192", "", ""),
            ("160", "-d0.3-w0.2-beta2-0.999", "--dropout 0.3 --weight-drop 0.2 --adam-beta2 0.999"),
            ("160", "-d0.25-w0.15", "--dropout 0.25 --weight-drop 0.15"),
            ("192", "-d0.25-w0.15", "--dropout 0.25 --weight-drop 0.15"),
        )
    },
    # sized, with and without round 5's short-run beta2 whatever the budget
    "fast-beta2-0.999": "--preset fast --adam-beta2 0.999".split(),
    "fast-beta2-0.99": "--preset fast --adam-beta2 0.99".split(),
}


def run_variant(
    name: str, corpus: str, seconds: float, out_root: Path, lock: str, seed: int | None, steps: int = 0
) -> dict:
    """One training; `steps` > 0 budgets it in steps instead of seconds (`seconds` is then ignored), a
    comparison that a busy machine cannot disturb, for variants that cost the same per step."""
    flags = VARIANTS[name]
    tag = Path(corpus).stem
    budget = ["--steps", str(steps), "--max-seconds", "0"] if steps else ["--max-seconds", str(seconds)]
    run_dir = out_root / (f"{name}-{tag}-{steps}steps" if steps else f"{name}-{tag}-{seconds:g}s")
    cmd = [sys.executable, "-m", "charrnn_tui", "--train-only", "--corpus", corpus, *flags,
           *budget, "--run-dir", str(run_dir), "--log-interval", "100"]  # fmt: skip
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists: move it away or pick another --out")
    print("$", " ".join(cmd), flush=True)
    # The lock is taken per training (flock(2), the same lock as `flock LOCK cmd`), so a long benchmark
    # lets others run between its trainings, and timings are never taken beside another heavy job.
    with open(lock, "a") if lock else open("/dev/null") as lock_file:
        if lock:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if "val_loss" in r]
    summary = next(line for line in proc.stdout.splitlines() if line.startswith("done ("))
    print(summary, flush=True)
    return {
        "variant": name, "corpus": tag, "budget_s": -steps if steps else seconds, "flags": " ".join(flags),
        # what the run ends with: with keep_best, the kept evaluation's loss (final_val_loss), not the last one
        "val_loss": rows[-1].get("final_val_loss", vals[-1]["val_loss"]),
        "best_val_loss": min(r["val_loss"] for r in vals),
        "steps": rows[-1]["step"], "train_s": rows[-1]["elapsed_s"], "wall_s": round(wall, 1),
        "chars_per_s": round(sum(r["chars_per_s"] for r in rows[1:]) / max(1, len(rows) - 1)),
        "curve": [(r["elapsed_s"], r["val_loss"]) for r in vals], "summary": summary,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip


def loss_at(curve: list[tuple[float, float]], seconds: float) -> float | None:
    """The last validation loss measured by `seconds` into a run (None if the run was shorter)."""
    if not curve or curve[-1][0] < seconds * 0.97:
        return None
    return [v for t, v in curve if t <= seconds * 1.03][-1]


def _constant_lr(flags: str) -> bool:
    return "--preset tutorial" in flags or "--lr-schedule constant" in flags


def table(results: list[dict], curve: bool) -> str:
    """One row per variant and corpus; a column per budget, each the final loss of the run with that budget
    (the latest run wins). With `curve`, a constant-lr run's missing budgets are read off a longer run's
    curve, marked '~'."""
    # a budget of N steps is kept as -N (the results file's format predates step budgets)
    budgets = sorted({r["budget_s"] for r in results} | {60.0, 180.0, 600.0}, key=lambda b: (b < 0, abs(b)))
    latest: dict[tuple[str, str], dict[float, dict]] = {}
    for r in results:
        latest.setdefault((r["variant"], r["corpus"]), {})[r["budget_s"]] = r
    cols = [f"{-b:g} steps" if b < 0 else f"{b:g} s" for b in budgets]
    cols += ["best", "steps", "chars/s", "train s", "wall s"]
    head = "| variant | corpus | " + " | ".join(cols) + " |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for (variant, corpus), by_budget in latest.items():
        cells = []
        for b in budgets:
            r = by_budget.get(b)
            if r is not None:
                cells.append(f"{r['val_loss']:.3f} ({r['val_loss'] / LN2:.2f})")
                continue
            # only a constant-lr run's curve says what a shorter run would have reached
            longer = [x for x in by_budget.values() if b > 0 and x["budget_s"] > b and _constant_lr(x["flags"])]
            v = loss_at(longer[0]["curve"], b) if curve and longer else None
            cells.append(f"~{v:.3f} ({v / LN2:.2f})" if v is not None else "-")
        last = by_budget[max(by_budget, key=abs)]
        lines.append(
            f"| {variant} | {corpus} | "
            + " | ".join(cells)
            + f" | {last['best_val_loss']:.3f} | {last['steps']} | {last['chars_per_s']:,}"
            + f" | {last['train_s']:.1f} | {last['wall_s']:.1f} |"
        )
    return "\n".join(lines) + (
        "\n\nval loss in nats/char (bits/char) at the end of a run with that budget; best (the lowest evaluation"
        " during the run), steps, chars/s and times are the longest run's."
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["fast", "tutorial"], choices=list(VARIANTS), metavar="NAME")
    p.add_argument("--budgets", nargs="+", type=float, default=[60, 180], metavar="S")
    p.add_argument("--steps", nargs="+", type=int, default=[], metavar="N", help="step budgets instead of --budgets")
    p.add_argument("--long", action="store_true", help="also a 600 s run per variant (holds the lock 10 min)")
    p.add_argument("--corpus", default="hamlet", help="a built-in play or a text file")
    p.add_argument("--seed", type=int, default=None, help="default: the preset's")
    p.add_argument("--out", default="/tmp/charrnn-bench", help="run folders and results.jsonl go here")
    p.add_argument("--lock", default=LOCK, help="the shared CPU lock file ('' for none)")
    p.add_argument("--table", action="store_true", help="print the table of the results so far and exit")
    p.add_argument("--curve", action="store_true", help="fill missing budgets from longer runs' curves")
    p.add_argument("--list", action="store_true", help="list the variants and exit")
    args = p.parse_args()

    out = Path(args.out)
    results_path = out / "results.jsonl"
    if args.list:
        for name, flags in VARIANTS.items():
            print(f"{name:<26} {' '.join(flags)}")
        return 0
    if not args.table:
        out.mkdir(parents=True, exist_ok=True)
        budgets = args.budgets + ([600.0] if args.long and 600 not in args.budgets else [])
        runs = [(0.0, n) for n in args.steps] or [(seconds, 0) for seconds in budgets]
        for seconds, steps in runs:
            for name in args.variants:
                result = run_variant(name, args.corpus, seconds, out, args.lock, args.seed, steps)
                with open(results_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(result) + "\n")
    results = [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.exists() else []
    print(table(results, args.curve))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
