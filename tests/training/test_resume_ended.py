"""Continuing a run says why it ended from what it recorded (checkpoint.json's end_reason), in the words its end
used, not a story inferred from the evaluations since its best (issue 26 item 2: a run that ran out of budget
was said to have "stopped early")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import Finished, Notice
from charrnn_tui.headless.progress import summary
from charrnn_tui.model import checkpoint
from charrnn_tui.present.formatting import fmt_weights
from charrnn_tui.runs.folder import CHECKPOINT_INFO_NAME
from charrnn_tui.runs.records import read_checkpoint_info
from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.training.trainer import Trainer

# An overfitting run on 3,000 characters: its best evaluation is at step 180, the two after it are worse, so its
# step budget of 200 ends past its best and it goes back to the weights of step 180 (0.3 s).
CORPUS = Corpus("hamlet-past-best", load_builtin("hamlet").text[:3000], "built-in")
CFG = TINY.with_overrides(
    device="cpu", hidden=32, embed=8, batch_size=8, seq_len=16, lr=0.03, lr_schedule="constant", steps=200,
    eval_interval=10, log_interval=10, checkpoint_seconds=0, keep_best=True, val_fraction=0.2, patience=0,
)  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pinned thread count: the trainer tries no other mid-run, so the losses, and where the best is, repeat.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def train(run_dir: Path, resume: bool = False, **overrides) -> tuple[Finished, list[str]]:
    events: list = []
    result = Trainer(CORPUS, CFG.with_overrides(**overrides), run_dir, events.append, resume=resume).run()
    assert isinstance(result, Finished), result
    return result, [e.message for e in events if isinstance(e, Notice)]


def test_a_run_that_spent_its_budget_past_its_best_is_said_to_have_spent_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first, _ = train(run)
    stalled = checkpoint.load(run)["evals_since_best"]
    assert first.reason == "steps" and first.kept_step is not None and stalled >= 2, (first, stalled)
    info = read_checkpoint_info(run)
    assert info is not None and (info.end_reason, info.kept_step) == ("steps", first.kept_step)
    # Continued with a patience its stalled evaluations already reach: the old notice said "stopped early".
    _, notices = train(run, resume=True, steps=first.step + 10, patience=2)
    told = [n for n in notices if "when this run ended" in n]
    assert told == [
        f"when this run ended at step {first.step:,} (step budget reached), it held its "
        f"{fmt_weights(first.step, first.kept_step)}. Training on continues from its last weights (step "
        f"{first.step:,}), past its best, and ends on the best weights again unless it beats them"
    ], notices
    assert not any("stopped early" in n for n in notices)
    assert "(step budget reached)" in summary(first) and fmt_weights(first.step, first.kept_step) in summary(first)


def test_a_record_without_an_end_says_what_the_weights_are_and_no_reason(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first, _ = train(run)
    record = json.loads((run / CHECKPOINT_INFO_NAME).read_text())
    (run / CHECKPOINT_INFO_NAME).write_text(json.dumps({**record, "end_reason": "exploded"}))  # not one we write
    assert read_checkpoint_info(run).end_reason is None
    _, notices = train(run, resume=True, steps=first.step + 10)
    told = [n for n in notices if "when this run ended" in n]
    assert len(told) == 1 and told[0].startswith(
        f"when this run ended at step {first.step:,}, it held its {fmt_weights(first.step, first.kept_step)}."
    ), notices
