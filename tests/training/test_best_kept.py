"""Best weights are never lost: a run that ended on its best weights, continued and then saved ("Save and quit")
past that best, keeps those weights in its checkpoint, and checkpoint.json and the runs list say which step's they
are and where. Real tiny trainings of a 1x128 LSTM that overfits a 3,000-character text within ~100 steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charrnn_tui.core.events import Finished, Step
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.listing import summarize
from charrnn_tui.runs.records import read_checkpoint_info
from charrnn_tui.scoring.evaluate import evaluate
from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.training.trainer import Trainer


@pytest.fixture(scope="module")
def overfit_text() -> Corpus:
    return Corpus("hamlet-3k", load_builtin("hamlet").text[:3000], "built-in")


@pytest.fixture
def overfits(tiny):
    base = dict(hidden=128, batch_size=4, lr=2e-2, lr_schedule="constant", eval_interval=10, keep_best=True)
    return lambda **kw: tiny(**(base | {"patience": 3} | kw))


def best_weights_loss(run: Path, text: Corpus) -> float:
    """The validation loss of the checkpoint's kept best weights, scored afresh."""
    _, vocab, ckpt = checkpoint.load_model(run)
    model = ckpt["model_obj"]
    model.load_state_dict(ckpt["best_weights"])
    data = vocab.encode_tensor(text.text)
    cut = len(data) - int(len(data) * ckpt["config_obj"].val_fraction)
    return evaluate(model.eval(), data[cut:], model.head.weight.device)


def test_save_and_quit_of_a_continued_run_keeps_and_names_the_best_weights(
    overfit_text: Corpus, overfits, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    first = Trainer(overfit_text, overfits(steps=600), run).run()
    assert isinstance(first, Finished) and first.reason == "patience" and first.kept_step is not None, first
    best_step, best_val = first.kept_step, first.best_val_loss
    info = json.loads((run / "checkpoint.json").read_text())
    assert (info["kept_step"], info["best_step"], info["best_weights"]) == (best_step, best_step, "checkpoint.pt")

    # Continue it (patience gives the continued run evaluations of its own), then "Save and quit" past the best.
    def save_and_quit(ev) -> None:
        if isinstance(ev, Step) and ev.step == first.step + 25:
            trainer.control.stop(save=True)

    trainer = Trainer(overfit_text, overfits(steps=2000, patience=10), run, save_and_quit, resume=True)
    second = trainer.run()
    assert isinstance(second, Finished) and (second.reason, second.step) == ("stopped", first.step + 25), second
    assert second.kept_step is None  # stopped: the run generates with its last weights, as before
    assert second.best_val_loss == best_val  # a run past its best does not beat it in 25 steps

    info = read_checkpoint_info(run)
    assert info is not None and info.step == second.step and info.kept_step is None
    # Where the old code kept nothing: which step's weights are the best, and where they are.
    assert (info.best_step, info.best_weights, info.best_val_loss) == (best_step, "checkpoint.pt", best_val)
    assert not info.generates_with_best
    ckpt = checkpoint.load(run)
    assert ckpt["best_step"] == best_step and ckpt["step"] == second.step
    assert best_weights_loss(run, overfit_text) == pytest.approx(best_val, rel=1e-5)  # the very weights

    listed = summarize(run)
    assert listed is not None and listed.problem is None
    assert (listed.best_step, listed.best_weights_path) == (best_step, run / "checkpoint.pt")
    assert not listed.generates_with_best

    # Trained on to its own early stop, the run ends on the same best weights again, and says so.
    third = Trainer(overfit_text, overfits(steps=2000, patience=2), run, resume=True).run()
    assert isinstance(third, Finished) and third.reason == "patience" and third.kept_step == best_step, third
    listed = summarize(run)
    assert listed.generates_with_best and listed.best_step == best_step
    model, vocab, ckpt = checkpoint.load_model(run)  # what generation uses is the best weights
    data = vocab.encode_tensor(overfit_text.text)
    cut = len(data) - int(len(data) * ckpt["config_obj"].val_fraction)
    assert evaluate(model, data[cut:], model.head.weight.device) == pytest.approx(best_val, rel=1e-5)


def test_without_keep_best_the_record_says_the_best_weights_are_not_kept(small_corpus: Corpus, tiny, tmp_path) -> None:
    run = tmp_path / "run"
    result = Trainer(small_corpus, tiny(steps=20, eval_interval=10, keep_best=False), run).run()
    assert isinstance(result, Finished)
    info = read_checkpoint_info(run)
    evaluated_best = info.best_step
    assert evaluated_best in (10, 20)
    # The best is the last evaluation: the checkpoint's own weights are it; else they are not kept anywhere.
    assert info.best_weights == ("checkpoint.pt" if evaluated_best == 20 else None)
    assert summarize(run).generates_with_best == (evaluated_best == 20)


def test_an_old_or_hand_edited_record_is_read_without_the_new_fields(small_corpus: Corpus, tiny, tmp_path) -> None:
    run = tmp_path / "run"
    assert isinstance(Trainer(small_corpus, tiny(steps=10), run).run(), Finished)
    data = json.loads((run / "checkpoint.json").read_text())
    old = {k: v for k, v in data.items() if k not in ("best_step", "best_weights", "previous")}
    (run / "checkpoint.json").write_text(json.dumps(old))
    info = read_checkpoint_info(run)
    assert info is not None and (info.step, info.best_step, info.best_weights) == (10, None, None)
    # A file name from disk is untrusted: only checkpoint.pt is ever named, never a path elsewhere.
    (run / "checkpoint.json").write_text(json.dumps(old | {"best_step": 10, "best_weights": "../../etc/passwd"}))
    info = read_checkpoint_info(run)
    assert info is not None and info.best_step == 10 and info.best_weights is None
    (run / "checkpoint.json").write_text(json.dumps(old | {"best_step": "ten"}))
    assert read_checkpoint_info(run) is None
