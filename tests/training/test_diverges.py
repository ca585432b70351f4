"""Training that goes wrong: a learning rate that climbs (a long warm-up to a rate far too high) makes a tiny real
training learn, then diverge. The run stops with one clear message that names what it keeps, and the last good
checkpoint and its best weights stay on disk byte for byte, loadable, and generate; so does the headless CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from charrnn_tui.core.events import CheckpointSaved, Evaluated, Failed, Finished
from charrnn_tui.generation.generator import Generator
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import read_metrics
from charrnn_tui.runs.records import read_checkpoint_info
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.trainer import Trainer

# Adam's rate ramps to 20 over 200 steps with no clipping: the loss falls for ten steps, climbs, and passes twice
# a uniform guess's near step 40 (at lr ~4); evaluations every 5 steps keep the early best.
CLIMBING = dict(steps=400, lr=20.0, warmup_steps=200, grad_clip=0.0, eval_interval=5, log_interval=5, keep_best=True)
FLAGS = ["--steps", "400", "--lr", "20", "--warmup", "200", "--grad-clip", "0", "--eval-interval", "5",
         "--log-interval", "5", "--keep-best"]  # fmt: skip


def test_a_rate_that_diverges_stops_the_run_and_keeps_the_last_checkpoint_and_the_best_weights(
    small_corpus: Corpus, tiny, tmp_path: Path
) -> None:
    saved: dict[int, tuple[bytes, bytes]] = {}
    events: list = []

    def on_event(e) -> None:
        events.append(e)
        if isinstance(e, CheckpointSaved):  # the files as they were right after this save
            saved[e.step] = ((tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / "checkpoint.json").read_bytes())

    result = Trainer(small_corpus, tiny(**CLIMBING), tmp_path, on_event=on_event).run()
    assert isinstance(result, Failed), result
    assert not any(isinstance(e, Finished) for e in events)
    evaluated = [e for e in events if isinstance(e, Evaluated)]
    best = min(evaluated, key=lambda e: e.val_loss)
    last = max(saved)
    assert best.step < last < result.step + 1  # it learned, saved past its best, then diverged
    assert "\n" not in result.message and "training diverged" in result.message and "--lr" in result.message
    assert f"the last good checkpoint ({tmp_path / 'checkpoint.pt'}) is kept, of step {last:,}" in result.message
    assert f"with the best weights (step {best.step:,}, val loss {best.val_loss:.4f})" in result.message
    # Byte for byte what the last good save wrote: nothing after it replaced either file.
    assert ((tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / "checkpoint.json").read_bytes()) == saved[last]
    ckpt = checkpoint.load(tmp_path)  # loadable: its weights are finite (load checks)
    assert ckpt["step"] == last and ckpt["best_step"] == best.step
    assert all(torch.isfinite(v).all() for v in ckpt["best_weights"].values())
    info = read_checkpoint_info(tmp_path)
    assert info is not None and (info.step, info.best_step, info.best_weights) == (last, best.step, "checkpoint.pt")
    assert all(r["step"] <= result.step for r in read_metrics(tmp_path / "metrics.jsonl"))
    model, vocab, _ = checkpoint.load_model(tmp_path)
    gen = Generator(model, vocab, top_n=0)  # the kept weights still write text
    gen.feed("the ")
    assert len(list(gen.sample(20, temperature=0.0))) == 20


def test_the_headless_run_that_diverges_says_so_in_one_line_and_keeps_its_checkpoint(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "charrnn_tui", "--train-only", "--corpus", str(small_text_file), "--preset", "tiny",
         "--device", "cpu", *FLAGS, "--run-dir", str(run)],
        capture_output=True, text=True, env=cli_environ, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("charrnn-tui: error:")]
    assert len(errors) == 1 and "training diverged" in errors[0] and "is kept" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    ckpt = checkpoint.load(run)
    assert ckpt["best_step"] is not None and ckpt["best_step"] < ckpt["step"]
