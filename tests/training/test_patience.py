"""Patience: a run that is past its best validation loss for `patience` evaluations stops early and ends on the
best weights. Real tiny trainings on a 3,000-character text that a 1x128 LSTM overfits within ~100 steps."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from charrnn_tui.cli import build_parser, to_request
from charrnn_tui.core.config import FAST, TINY, TUTORIAL, TrainConfig, continuation, fit_to_corpus, preset_name
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import Evaluated, Finished, Notice
from charrnn_tui.headless.progress import summary
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import read_metrics
from charrnn_tui.runs.records import read_config
from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.training.best_weights import BestWeights
from charrnn_tui.training.trainer import Trainer

BUDGET = 600  # steps; the overfitting text is at its best near step 70 and never again after ~step 110


@pytest.fixture(scope="module")
def overfit_text() -> Corpus:
    return Corpus("hamlet-3k", load_builtin("hamlet").text[:3000], "built-in")


@pytest.fixture
def overfits(tiny):
    """The tiny preset made to overfit fast: wider, small batches, a high constant learning rate."""

    def make(**overrides) -> TrainConfig:
        base = dict(hidden=128, batch_size=4, lr=2e-2, lr_schedule="constant", steps=BUDGET, eval_interval=10)
        return tiny(**(base | {"keep_best": True, "patience": 3} | overrides))

    return make


def train(corpus: Corpus, cfg: TrainConfig, run_dir: Path | None = None, resume: bool = False, notices=None):
    evals: list[Evaluated] = []

    def on_event(e) -> None:
        if isinstance(e, Evaluated):
            evals.append(e)
        elif isinstance(e, Notice) and notices is not None:
            notices.append(e.message)

    trainer = Trainer(corpus, cfg, run_dir, on_event, resume)
    result = trainer.run()
    assert isinstance(result, Finished), result
    return result, evals, trainer


def stalled_at_end(evals: list[Evaluated]) -> int:
    """Evaluations after the best one, from the events alone."""
    losses = [e.val_loss for e in evals]
    return len(losses) - 1 - losses.index(min(losses))


def test_a_run_past_its_best_stops_early_and_ends_on_the_best_weights(overfit_text, overfits, tmp_path) -> None:
    result, evals, trainer = train(overfit_text, overfits(), tmp_path / "run")
    best = min(evals, key=lambda e: e.val_loss)
    assert result.reason == "patience" and result.stalled_evals == 3
    assert result.step == best.step + 3 * 10 < BUDGET // 2  # the third evaluation after the best, no later
    assert stalled_at_end(evals) == 3 and evals[-1].step == result.step  # no extra evaluation at the end
    assert (result.kept_step, result.last_val_loss, result.best_val_loss) == (best.step, best.val_loss, best.val_loss)
    # What the run ends with, in memory and on disk, is the best evaluation's weights.
    saved = checkpoint.load(tmp_path / "run")
    assert saved["step"] == result.step and saved["kept_step"] == best.step and saved["evals_since_best"] == 3
    model, _ = trainer.snapshot()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved["best_weights"][name]), name
        assert torch.equal(tensor, saved["model_obj"].state_dict()[name]), name
    last = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert (last["step"], last["kept_step"], last["final_val_loss"]) == (result.step, best.step, best.val_loss)
    assert summary(result).startswith(
        f"done (stopped early: no better validation loss in 3 evaluations) at step {result.step} "
    )
    assert f"ends on the best weights, of step {best.step} (trained to step {result.step})" in summary(result)


@pytest.mark.parametrize(
    "settings", [{"patience": 0}, {"keep_best": False}], ids=["patience-0", "patience-ignored-without-keep-best"]
)
def test_without_patience_or_keep_best_the_run_trains_its_whole_budget(overfit_text, overfits, settings) -> None:
    result, evals, _ = train(overfit_text, overfits(steps=300, **settings))
    assert (result.reason, result.step) == ("steps", 300)
    assert stalled_at_end(evals) > 3  # patience 3 would have stopped it


def test_the_count_survives_a_resume_and_a_continued_session_counts_afresh(overfit_text, overfits, tmp_path) -> None:
    run = tmp_path / "run"
    # First session: a step budget that ends 2 evaluations past the best (patience 5 does not stop it).
    probe, probe_evals, _ = train(overfit_text, overfits(patience=0, steps=200))
    best_step = min(probe_evals, key=lambda e: e.val_loss).step
    first, _, _ = train(overfit_text, overfits(patience=5, steps=best_step + 20), run)
    assert (first.reason, first.stalled_evals) == ("steps", 2)
    assert checkpoint.load(run)["evals_since_best"] == 2
    # Continued by another budget: the saved count goes on (2 + this session's evaluations), but the session
    # stops only after 5 evaluations of its own, not at its third as the run's count alone would have it.
    cfg = continuation(read_config(run).config, first.step).with_overrides(steps=first.step + 200)
    notices: list[str] = []
    second, evals, trainer = train(overfit_text, cfg, run, resume=True, notices=notices)
    assert not [n for n in notices if "stopped early" in n]  # it ended on its budget, not early
    assert second.reason == "patience" and second.step == first.step + 5 * 10
    assert len(evals) == 5 and trainer._state.best.since_best == 2 + 5
    assert checkpoint.load(run)["evals_since_best"] == 7
    # A third session after the early stop is not stopped by the old count either.
    cfg = cfg.with_overrides(steps=second.step + 200)
    third, evals, _ = train(overfit_text, cfg, run, resume=True, notices=notices)
    assert third.reason == "patience" and len(evals) == 5 and third.step == second.step + 50
    # and it was told that it trains on from past its best, and what it will end on
    told = [n for n in notices if "stopped early" in n]
    assert told == [  # the second session's own end, as it said it (5 of its evaluations), from checkpoint.json
        f"when this run ended at step {second.step:,} (stopped early: no better validation loss in 5 evaluations), "
        f"it held its best weights, of step {second.kept_step:,} (trained to step {second.step:,}). Training on "
        f"continues from its last weights (step {second.step:,}), past its best, and ends on the best weights again "
        "unless it beats them"
    ], notices


def test_best_weights_count_evaluations_since_the_best_and_restore_them() -> None:
    model = torch.nn.Linear(2, 2)
    best = BestWeights(keep=True)
    for step, val in enumerate((3.0, 2.0, 2.5, 2.0, 2.6), start=1):
        best.observe(val, step, model)
    assert (best.best_step, best.since_best, best.stalled) == (2, 3, 3)  # an equal loss is no better
    again = BestWeights(keep=True)
    again.load_state_dict(best.state_dict())
    assert (again.since_best, again.session_evals, again.stalled) == (3, 0, 0)
    again.observe(2.7, 6, model)
    assert (again.since_best, again.stalled) == (4, 1)
    again.observe(1.0, 7, model)
    assert (again.since_best, again.stalled, again.best_step) == (0, 0, 7)
    old = {k: v for k, v in best.state_dict().items() if k != "evals_since_best"}  # a checkpoint from before
    again.load_state_dict(old)
    assert again.since_best == 0


def test_a_checkpoint_without_or_with_a_bad_count_loads_as_0(overfit_text, overfits, tmp_path) -> None:
    run = tmp_path / "run"
    train(overfit_text, overfits(steps=20), run)
    path = run / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    for bad in (None, -1, 1.5, "3", True):
        if bad is None:
            del payload["evals_since_best"]
        else:
            payload["evals_since_best"] = bad
        torch.save(payload, path)
        loaded = checkpoint.load(run)
        state = BestWeights(keep=True)
        state.load_state_dict(loaded)
        assert state.since_best == 0, bad


def test_a_run_saved_before_patience_loads_and_resumes_with_it_off(overfit_text, overfits, tmp_path) -> None:
    old = {k: v for k, v in FAST.to_dict().items() if k != "patience"}
    assert TrainConfig.from_dict(old).patience == 0
    run = tmp_path / "run"
    first, _, _ = train(overfit_text, overfits(steps=150), run)
    assert first.reason == "patience"
    # The run as a version before patience wrote it: no setting in config.json or the checkpoint, no count.
    data = json.loads((run / "config.json").read_text())
    del data["config"]["patience"]
    (run / "config.json").write_text(json.dumps(data))
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    del payload["config"]["patience"], payload["evals_since_best"]
    torch.save(payload, run / "checkpoint.pt")
    cfg = read_config(run).config
    assert cfg.patience == 0
    second, evals, _ = train(
        overfit_text, continuation(cfg, first.step).with_overrides(steps=first.step + 60), run, True
    )
    assert (second.reason, second.step) == ("steps", first.step + 60)  # as it trained: no early stop


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_bad_patience_is_refused(bad) -> None:
    with pytest.raises(CharRNNError, match="patience must be"):
        replace(TINY, patience=bad).validate()


def test_the_presets_patience() -> None:
    assert (FAST.patience, TINY.patience, TUTORIAL.patience, TrainConfig().patience) == (10, 0, 0, 0)
    sized = fit_to_corpus(FAST, 9_000)
    assert sized.patience == FAST.patience and preset_name(sized) == "fast"
    # patience is part of the budget, like steps: a default run saved before it, or given --patience, is "fast"
    assert preset_name(sized.with_overrides(patience=0)) == preset_name(sized.with_overrides(patience=3)) == "fast"


def test_the_cli_says_why_the_run_stopped_early_and_refuses_a_bad_patience(run_cli_together, tmp_path) -> None:
    text = tmp_path / "short.txt"
    text.write_text(load_builtin("hamlet").text[:3000], encoding="utf-8")
    overfits = "--preset tiny --hidden 128 --batch-size 4 --lr 2e-2 --lr-schedule constant --eval-interval 10".split()
    common = ["--train-only", "--corpus", str(text), *overfits, "--steps", str(BUDGET)]
    stops, refused, ignored = run_cli_together(
        [*common, "--keep-best", "--patience", "3", "--run-dir", str(tmp_path / "run")],
        [*common, "--keep-best", "--patience", "-1", "--run-dir", str(tmp_path / "bad")],
        [*common, "--no-keep-best", "--patience", "1", "--steps", "30", "--run-dir", str(tmp_path / "ignored")],
    )
    assert ignored.returncode == 0, ignored.stderr
    assert "note: --patience is ignored without --keep-best: the run trains its whole budget" in ignored.stderr
    assert ignored.stdout.strip().splitlines()[-3].startswith("done (step budget reached) at step 30 ")
    assert stops.returncode == 0, stops.stderr
    done = stops.stdout.strip().splitlines()[-3]
    assert done.startswith("done (stopped early: no better validation loss in 3 evaluations) at step "), done
    assert int(done.split(" at step ")[1].split()[0]) < BUDGET // 2
    assert "ends on the best weights, of step" in done
    assert refused.returncode == 1 and not (tmp_path / "bad").exists()
    assert "patience must be 0 (never stop early) or more (got -1)" in refused.stderr


def test_a_resumed_run_may_change_its_patience(overfit_text, overfits, tmp_path) -> None:
    args = ["--train-only", "--resume", "--run-dir", str(tmp_path / "run"), "--patience", "0"]
    request = to_request(build_parser().parse_args(args))
    assert request.overrides == {"patience": 0} and request.ignored_on_resume == ()  # not "ignored"
    run = tmp_path / "run"
    first, _, _ = train(overfit_text, overfits(), run)
    assert first.reason == "patience"
    more = continuation(read_config(run).config, first.step).with_overrides(steps=first.step + 60)
    trainer = Trainer(overfit_text, more, run, resume=True, resume_overrides={"patience": 0, "steps": first.step + 60})
    second = trainer.run()
    assert isinstance(second, Finished) and (second.reason, second.step) == ("steps", first.step + 60)
