"""Many saved runs at once: one real tiny training's folder copied into thousands, as a data dir holds them
after months of use. Used by tests/runs/test_many_runs.py and benchmarks/bench_many_runs.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

from charrnn_tui.runs.folder import CHECKPOINT_INFO_NAME, CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME


def train_template(run_dir: Path) -> Path:
    """A real run folder: the tiny preset trained 4 steps on the head of Hamlet (a ~50 kB checkpoint)."""
    from charrnn_tui.core.config import TINY
    from charrnn_tui.text.corpus import Corpus, load_builtin
    from charrnn_tui.training.trainer import Trainer

    corpus = Corpus("hamlet-head", load_builtin("hamlet").text[:20_000], "built-in")
    cfg = TINY.with_overrides(device="cpu", steps=4, eval_interval=2, log_interval=1, checkpoint_seconds=0)
    Trainer(corpus, cfg, run_dir).run()
    return run_dir


def metrics_rows(rows: int) -> str:
    """`rows` metrics.jsonl lines as a run logging every 10 steps writes them, an evaluation every 10th."""
    out = []
    for k in range(1, rows + 1):
        row = {"step": 10 * k, "train_loss": 2.0 + 1.0 / k, "lr": 0.01, "chars_per_s": 50_000.0, "elapsed_s": 0.5 * k}
        if k % 10 == 0:
            row["val_loss"] = 2.1 + 1.0 / k
        out.append(json.dumps(row) + "\n")
    return "".join(out)


def copy_runs(template: Path, root: Path, n: int, rows: int = 100, start: int = 0) -> list[Path]:
    """`n` run folders under `root` made from `template`'s files: its config and checkpoint byte for byte,
    `rows` metrics rows, and a checkpoint.json that describes each copy (its own size and mtime), so each
    folder is a whole saved run. Names hold their number; mtimes grow with it, so the newest is the last."""
    config = (template / CONFIG_NAME).read_bytes()
    weights = (template / CHECKPOINT_NAME).read_bytes()
    info = json.loads((template / CHECKPOINT_INFO_NAME).read_text(encoding="utf-8"))
    metrics = metrics_rows(rows).encode()
    root.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(start, start + n):
        run = root / f"hamlet-20260101-{i:06d}"
        run.mkdir()
        (run / CONFIG_NAME).write_bytes(config)
        (run / METRICS_NAME).write_bytes(metrics)
        (run / CHECKPOINT_NAME).write_bytes(weights)
        stamp = 1_700_000_000_000_000_000 + i * 1_000_000_000
        for name in (CONFIG_NAME, METRICS_NAME, CHECKPOINT_NAME):
            os.utime(run / name, ns=(stamp, stamp))
        st = (run / CHECKPOINT_NAME).stat()
        record = {**info, "step": 10 * rows + i, "checkpoint_size": st.st_size, "checkpoint_mtime_ns": st.st_mtime_ns}
        (run / CHECKPOINT_INFO_NAME).write_text(json.dumps(record), encoding="utf-8")
        os.utime(run / CHECKPOINT_INFO_NAME, ns=(stamp, stamp))
        made.append(run)
    return made
