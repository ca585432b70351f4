"""The trainer, for real: tiny models trained for a few steps on a small text."""

from __future__ import annotations

import json
import math
import re
import threading
from pathlib import Path

import pytest

from charrnn_tui.core.events import (
    CheckpointSaved,
    Evaluated,
    Failed,
    Finished,
    Logged,
    Paused,
    Sample,
    Started,
    Step,
    Unpaused,
)
from charrnn_tui.generation.generator import Generator
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import read_metrics
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training.step import diverged_loss
from charrnn_tui.training.trainer import Trainer


def train(corpus, cfg, run_dir=None, resume=False, on_event=None, **kw):
    events = []

    def collect(ev):
        events.append(ev)
        if on_event is not None:
            on_event(ev, trainer)

    trainer = Trainer(corpus, cfg, run_dir, collect, resume=resume, **kw)
    result = trainer.run()
    return result, events


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_tiny_training_learns_and_reports(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    cfg = tiny(steps=40, eval_interval=20, log_interval=10)
    result, events = train(small_corpus, cfg, tmp_path / "run")
    assert isinstance(result, Finished), result
    assert (result.reason, result.step) == ("steps", 40)
    assert isinstance(events[0], Started) and events[-1] is result
    started = events[0]
    assert (started.step, started.resumed, started.vocab_size) == (0, False, len(set(small_corpus.text)))
    assert started.train_chars + started.val_chars == len(small_corpus.text)

    steps = of(events, Step)
    assert [s.step for s in steps] == list(range(1, 41))
    assert steps[-1].train_loss < steps[0].train_loss - 0.5  # it learns
    assert steps[0].train_loss == pytest.approx(math.log(started.vocab_size), rel=0.15)  # starts near uniform
    assert all(s.chars_per_s > 0 and s.eta_s is not None and 0 < s.progress <= 1 for s in steps)
    assert steps[-1].progress == 1

    samples = of(events, Sample)
    assert len(samples) == 40
    s = samples[-1]
    assert len(s.input) == len(s.target) == len(s.prediction) == cfg.seq_len
    assert s.input[1:] == s.target[:-1]  # the target is the input shifted by one

    assert [e.step for e in of(events, Evaluated)] == [20, 40]
    assert result.last_val_loss == of(events, Evaluated)[-1].val_loss
    assert result.best_val_loss == min(e.val_loss for e in of(events, Evaluated))
    assert [e.reason for e in of(events, CheckpointSaved)] == ["eval", "eval"]
    assert result.checkpoint == str(tmp_path / "run" / "checkpoint.pt")


def test_metrics_jsonl_rows(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    result, events = train(small_corpus, tiny(steps=30, eval_interval=10, log_interval=4), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [e.row for e in of(events, Logged)]
    assert [r["step"] for r in rows] == [4, 8, 10, 12, 16, 20, 24, 28, 30]
    for r in rows:
        assert {"step", "train_loss", "chars_per_s", "elapsed_s", "lr"} <= r.keys()
        assert r["chars_per_s"] > 0 and r["elapsed_s"] >= 0 and r["train_loss"] > 0
        assert ("val_loss" in r) == (r["step"] in (10, 20, 30))
    assert [r["elapsed_s"] for r in rows] == sorted(r["elapsed_s"] for r in rows)
    # train_loss is the mean of the interval's step losses
    losses = {e.step: e.train_loss for e in of(events, Step)}
    assert rows[0]["train_loss"] == pytest.approx(sum(losses[i] for i in range(1, 5)) / 4)
    assert rows[2]["train_loss"] == pytest.approx(sum(losses[i] for i in range(9, 11)) / 2)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["config"]["steps"] == 30 and config["corpus"]["name"] == "hamlet-head"


def test_save_resume_generate_round_trip(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    first, _ = train(small_corpus, tiny(steps=20), tmp_path)
    model, vocab, ckpt = checkpoint.load_model(tmp_path)
    assert (ckpt["step"], vocab.chars) == (20, "".join(sorted(set(small_corpus.text))))
    assert ckpt["corpus"]["head"] == small_corpus.text[:200]

    second, events = train(small_corpus, tiny(steps=30), tmp_path, resume=True)
    assert isinstance(second, Finished) and second.step == 30
    started = events[0]
    assert started.resumed and started.step == 20
    assert [r["step"] for r in started.history] == [5, 10, 15, 20]
    assert [e.step for e in of(events, Step)] == list(range(21, 31))
    assert second.elapsed_s > first.elapsed_s  # the clock carries on
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [5, 10, 15, 20, 25, 30]

    model, vocab, ckpt = checkpoint.load_model(tmp_path)
    assert ckpt["step"] == 30
    gen = Generator(model, vocab)
    gen.feed("HAMLET")
    text = "".join(t.char for t in gen.sample(50, temperature=0.8, seed=3))
    assert len(text) == 50 and set(text) <= set(vocab.chars)
    gen2 = Generator(model, vocab)
    gen2.feed("HAMLET")
    assert "".join(t.char for t in gen2.sample(50, temperature=0.8, seed=3)) == text  # seeded


# Merity et al.'s regularisers draw their masks from the same generator as dropout, and AdamW keeps its own
# state: a resume must replay both.
MERITY = {
    "dropout": 0.3, "locked_dropout": True, "weight_drop": 0.3, "embed_dropout": 0.1,
    "optimizer": "adamw", "weight_decay": 0.01,
}  # fmt: skip


@pytest.mark.parametrize("sampling", ["random", "tbptt"])
@pytest.mark.parametrize(
    "regularisers", [{"dropout": 0.0}, {"dropout": 0.3}, MERITY], ids=["none", "dropout", "merity"]
)
def test_resume_is_exact(small_corpus: Corpus, tiny, tmp_path: Path, sampling: str, regularisers: dict) -> None:
    # Two layers so that dropout acts between them as well as before the head; eval at 7 so that the
    # stop falls between evaluations (its extra evaluation must not disturb anything).
    cfg = tiny(steps=24, sampling=sampling, n_layers=2, hidden=32, log_interval=1, eval_interval=7, **regularisers)
    whole, events = train(small_corpus, cfg, tmp_path / "whole")
    one_go = [(e.step, e.train_loss) for e in of(events, Step)]

    def stop_at_half(ev, trainer):
        if isinstance(ev, Step) and ev.step == 12:
            trainer.control.stop()  # what Ctrl+C does

    half, events = train(small_corpus, cfg, tmp_path / "split", on_event=stop_at_half)
    assert (half.reason, half.step) == ("stopped", 12)
    rest, more = train(small_corpus, cfg, tmp_path / "split", resume=True)
    assert rest.step == 24
    split = [(e.step, e.train_loss) for e in of(events, Step) + of(more, Step)]
    assert split == one_go
    rows = [(r["step"], r["train_loss"]) for r in read_metrics(tmp_path / "split" / "metrics.jsonl")]
    assert rows == one_go
    assert rest.last_val_loss == whole.last_val_loss


def test_a_finite_loss_far_above_a_uniform_guess_ends_the_run_as_diverged(
    small_corpus: Corpus, tiny, tmp_path: Path
) -> None:
    # Adam without a mean of squared gradients (beta2 0) blows the weights up within a few steps, yet the loss
    # stays finite: the run must not go on to report 100+ nats/char as if it had trained.
    cfg = tiny(steps=60, lr=3e-2, adam_beta2=0.0, log_interval=1)
    result, events = train(small_corpus, cfg, tmp_path)
    assert isinstance(result, Failed), result
    vocab = len(Vocab.from_text(small_corpus.text))
    assert f"more than twice the {math.log(vocab):.2f} of a uniform guess over the {vocab} characters" in result.message
    assert "training diverged" in result.message and "--lr" in result.message
    assert all(e.train_loss <= diverged_loss(vocab) for e in of(events, Step))  # it stopped at the first
    assert not of(events, Finished)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    # A learning rate near float32's limit and no clipping: the weights overflow within a few steps.
    cfg = tiny(steps=30, lr=1e37, grad_clip=0.0, warmup_steps=0, checkpoint_seconds=1e-9, log_interval=1)
    result, events = train(small_corpus, cfg, tmp_path)
    assert isinstance(result, Failed), result
    assert "training diverged" in result.message and "--lr" in result.message
    assert result.checkpoint == str(tmp_path / "checkpoint.pt")
    assert f"last good checkpoint ({result.checkpoint}) is kept" in result.message
    saved = of(events, CheckpointSaved)
    assert saved and saved[-1].step < result.step + 1
    ckpt = checkpoint.load(tmp_path)  # loadable, and its weights are finite (load checks)
    assert ckpt["step"] == saved[-1].step
    assert not of(events, Finished)


def test_an_exception_inside_the_trainer_becomes_a_failed_event(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    def explode(ev, trainer):
        if isinstance(ev, Step) and ev.step == 12:
            raise ZeroDivisionError("boom")

    result, events = train(small_corpus, tiny(steps=20), tmp_path, on_event=explode)
    assert isinstance(result, Failed) and events[-1] is result
    assert result.message == "training failed: ZeroDivisionError: boom"
    assert "Traceback" in result.details and "explode" in result.details
    assert result.step == 12 and result.checkpoint == str(tmp_path / "checkpoint.pt")  # the step-10 eval's
    assert checkpoint.load(tmp_path)["step"] == 10


def test_a_broken_front_end_cannot_make_run_raise(small_corpus: Corpus, tiny) -> None:
    def always(ev):
        raise RuntimeError("the UI is gone")

    result = Trainer(small_corpus, tiny(steps=5), None, always).run()
    assert isinstance(result, Failed) and "the UI is gone" in result.message


def test_pause_resume_stop_from_another_thread(small_corpus: Corpus, tiny) -> None:
    seen, paused = [], threading.Event()
    trainer = Trainer(small_corpus, tiny(steps=0, max_seconds=0), None, lambda ev: on(ev))

    def on(ev):
        seen.append(ev)
        if isinstance(ev, Step) and ev.step == 3:
            trainer.control.pause()
        elif isinstance(ev, Paused):
            paused.set()

    worker = threading.Thread(target=trainer.run)
    worker.start()
    assert paused.wait(30)
    assert trainer.control.paused
    steps_while_paused = len(of(seen, Step))
    worker.join(0.3)
    assert len(of(seen, Step)) == steps_while_paused == 3  # nothing moves while paused
    trainer.control.unpause()
    trainer.control.stop()
    worker.join(30)
    assert not worker.is_alive()
    kinds = [type(e) for e in seen if isinstance(e, (Paused, Unpaused, Finished))]
    assert kinds == [Paused, Unpaused, Finished]
    assert seen[-1].reason == "stopped"


def test_snapshot_and_checkpoint_request(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    snaps = []

    def on(ev, trainer):
        if isinstance(ev, Step) and ev.step == 3:
            snaps.append(trainer.snapshot())
            trainer.control.request_save()

    result, events = train(small_corpus, tiny(steps=6), tmp_path, on_event=on)
    model, vocab = snaps[0]
    assert not model.training and next(model.parameters()).device.type == "cpu"
    gen = Generator(model, vocab)
    gen.feed("The ")
    assert len("".join(t.char for t in gen.sample(10, 0))) == 10
    assert [(e.step, e.reason) for e in of(events, CheckpointSaved)] == [(3, "request"), (6, "eval")]


def test_time_budget_ends_with_an_evaluation(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    result, events = train(small_corpus, tiny(steps=0, max_seconds=0.5, eval_interval=10_000), tmp_path)
    assert isinstance(result, Finished) and result.reason == "time"
    assert result.last_val_loss is not None and of(events, Evaluated)[-1].step == result.step
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows[-1]["step"] == result.step and "val_loss" in rows[-1]
    assert len({r["step"] for r in rows}) == len(rows)  # one row per step, no duplicate for the last one


def test_an_existing_run_is_never_overwritten(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    train(small_corpus, tiny(steps=5), tmp_path)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    result, _ = train(small_corpus, tiny(steps=5), tmp_path)
    assert isinstance(result, Failed) and "already holds a trained run; continue it with --resume" in result.message
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_resume_past_its_budget_says_what_to_do(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    train(small_corpus, tiny(steps=5), tmp_path)
    result, _ = train(small_corpus, tiny(steps=5), tmp_path, resume=True)
    assert isinstance(result, Failed) and "already done 5 steps of its 5; give a larger --steps" in result.message


def test_resume_keeps_the_runs_settings(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    train(small_corpus, tiny(steps=5, hidden=48), tmp_path)
    result, events = train(
        small_corpus, tiny(steps=5, hidden=16, lr=0.5), tmp_path, resume=True, resume_overrides={"steps": 8, "lr": 0.5}
    )
    assert isinstance(result, Finished) and result.step == 8
    assert events[0].config["hidden"] == 48 and events[0].config["lr"] == tiny().lr


def test_resume_with_another_corpus_is_refused(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    train(small_corpus, tiny(steps=5), tmp_path)
    other = Corpus("other", small_corpus.text + "\u00e9\u00e8", "x")
    result, _ = train(other, tiny(steps=10), tmp_path, resume=True)
    assert isinstance(result, Failed) and "not the one the run was trained on" in result.message


def test_rows_after_the_checkpoint_are_dropped_on_resume(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    train(small_corpus, tiny(steps=10), tmp_path)
    # What a kill -9 after the last checkpoint leaves: rows logged past it, and a torn last line.
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 15, "train_loss": 1.0, "chars_per_s": 1, "elapsed_s": 9}) + "\n")
        f.write('{"step": 20, "train_lo')
    result, events = train(small_corpus, tiny(steps=12, log_interval=1), tmp_path, resume=True)
    assert [r["step"] for r in events[0].history] == [5, 10]
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [5, 10, 11, 12]


def test_weight_averaging_is_what_is_evaluated_saved_and_generated(small_corpus: Corpus, tiny, tmp_path) -> None:
    from charrnn_tui.model.checkpoint import load_model
    from charrnn_tui.scoring.evaluate import evaluate

    cfg = tiny(steps=60, eval_interval=20, ema=0.9)
    result, events = train(small_corpus, cfg, tmp_path / "run")
    assert isinstance(result, Finished), result
    ckpt = checkpoint.load(tmp_path / "run")
    trained, averaged = ckpt["model"], ckpt["eval_model"]
    assert any(not (trained[k] == averaged[k]).all() for k in trained)  # two sets of weights
    model, vocab, _ = load_model(tmp_path / "run")
    data = vocab.encode_tensor(small_corpus.text)
    cut = len(data) - int(len(data) * cfg.val_fraction)
    # The reported loss is the averaged weights' loss, and those are the ones generation gets.
    assert evaluate(model, data[cut:], model.head.weight.device) == pytest.approx(result.last_val_loss, rel=1e-5)


def as_saved_by_the_older_evaluation(path: Path) -> dict:
    """Rewrite a checkpoint as one saved before round 7 would be: no version of the measure, and losses that read
    high (by 0.5 here, for a clear difference). Returns the payload written."""
    import torch

    payload = torch.load(path, weights_only=True)
    assert payload["evaluation"] == 2
    del payload["evaluation"]
    payload["best_val_loss"] += 0.5
    payload["last_val_loss"] += 0.5
    checkpoint.save(path, {k: v for k, v in payload.items() if k not in ("format", "version")})
    return payload


def test_a_run_saved_by_the_older_evaluation_is_scored_again_on_resume(small_corpus: Corpus, tiny, tmp_path) -> None:
    import torch

    from charrnn_tui.core.events import Notice
    from charrnn_tui.scoring.evaluate import evaluate

    def resumed_notes(steps: int) -> tuple[Finished, list[str]]:
        cfg = tiny(steps=steps, eval_interval=1000, keep_best=True)
        result, events = train(small_corpus, cfg, tmp_path / "run", resume=True)
        assert isinstance(result, Finished), result
        return result, [e.message for e in of(events, Notice) if "scored again" in e.message]

    train(small_corpus, tiny(steps=40, eval_interval=20, keep_best=True), tmp_path / "run")
    path = tmp_path / "run" / "checkpoint.pt"
    payload = as_saved_by_the_older_evaluation(path)
    ckpt = checkpoint.load(path)
    best = ckpt["model_obj"]
    best.load_state_dict(ckpt["best_weights"])
    data = ckpt["vocab_obj"].encode_tensor(small_corpus.text)
    want = evaluate(best, data[len(data) - int(len(data) * 0.1) :], torch.device("cpu"))

    result, notes = resumed_notes(41)
    assert len(notes) == 1 and f"{payload['best_val_loss']:.4f} then, {want:.4f} now" in notes[0]
    assert result.best_val_loss <= want + 1e-6  # compared with the new figure, not the inflated one
    # Saved again, by this measure: not scored again.
    assert torch.load(path, weights_only=True)["evaluation"] == 2
    assert resumed_notes(42)[1] == []


def test_without_kept_best_weights_the_old_best_moves_by_the_measured_difference(
    small_corpus: Corpus, tiny, tmp_path
) -> None:

    from charrnn_tui.core.events import Notice

    train(small_corpus, tiny(steps=40, eval_interval=20, keep_best=False), tmp_path / "run")
    payload = as_saved_by_the_older_evaluation(tmp_path / "run" / "checkpoint.pt")
    result, events = train(small_corpus, tiny(steps=41, eval_interval=1000), tmp_path / "run", resume=True)
    notes = [e.message for e in of(events, Notice) if "scored again" in e.message]
    assert len(notes) == 1 and "not kept" in notes[0]
    # The best moved down by what the current weights' figure moved: "... 2.9 then, 2.4 now; its best 2.9 then,
    # about 2.4 now".
    last_then, last_now, best_then, best_now = (float(x) for x in re.findall(r"(\d+\.\d{4})", notes[0]))
    assert (last_then, best_then) == (round(payload["last_val_loss"], 4), round(payload["best_val_loss"], 4))
    assert best_now == pytest.approx(best_then - (last_then - last_now), abs=2e-4)
    assert result.best_val_loss <= best_now + 1e-4


def test_keep_best_ends_on_the_best_evaluation(tiny, tmp_path) -> None:
    from charrnn_tui.model.checkpoint import load_model
    from charrnn_tui.scoring.evaluate import evaluate

    # A short text and a high learning rate overfit within a few hundred steps: the val loss turns up.
    text = Corpus("short", (("To be, or not to be, that is the question. " * 3) + "\n") * 40, "built-in")
    cfg = tiny(steps=300, eval_interval=25, lr=0.03, hidden=128, batch_size=8, seq_len=16, keep_best=True)
    result, events = train(text, cfg, tmp_path / "run")
    assert isinstance(result, Finished), result
    evals = of(events, Evaluated)
    assert result.kept_step is not None and result.kept_step < result.step
    assert evals[-1].val_loss > result.best_val_loss == result.last_val_loss
    assert result.kept_step == min(evals, key=lambda e: e.val_loss).step
    model, vocab, ckpt = load_model(tmp_path / "run")
    data = vocab.encode_tensor(text.text)
    cut = len(data) - int(len(data) * cfg.val_fraction)
    assert evaluate(model, data[cut:], model.head.weight.device) == pytest.approx(result.best_val_loss, rel=1e-5)
    last = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert (last["kept_step"], last["final_val_loss"]) == (result.kept_step, result.best_val_loss)
