"""A saved run that trained on past its best evaluation and was stopped there, so that its checkpoint holds two
different sets of weights: its last step's, which it generates with, and the best step's, kept by keep_best."""

from __future__ import annotations

from pathlib import Path

from charrnn_tui.core import events as ev
from charrnn_tui.core.config import TINY
from charrnn_tui.core.control import TrainingControl
from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.training.trainer import Trainer


def train_past_best(run_dir: Path) -> ev.Finished:
    """Train a 1x16 LSTM on 3,000 characters of Hamlet at a learning rate high enough that the validation loss
    climbs again, and stop it at its first evaluation worse than the best one (a stop ends on the last weights;
    a spent budget would end on the best). Returns the Finished event; its step is past the best one."""
    corpus = Corpus("hamlet-past-best", load_builtin("hamlet").text[:3000], "built-in")
    cfg = TINY.with_overrides(
        device="cpu", hidden=16, embed=8, batch_size=8, seq_len=16, lr=0.08, steps=400, eval_interval=5,
        log_interval=5, checkpoint_seconds=0, keep_best=True, val_fraction=0.2,
    )  # fmt: skip
    control = TrainingControl()
    seen: list[ev.Event] = []

    def on_event(event: ev.Event) -> None:
        seen.append(event)
        if isinstance(event, ev.Evaluated) and event.val_loss > event.best_val_loss:
            control.stop(save=True)

    Trainer(corpus, cfg, run_dir, on_event=on_event, control=control).run()
    finished = next(e for e in seen if isinstance(e, ev.Finished))
    if finished.kept_step is not None or finished.reason != "stopped":
        raise AssertionError(f"the run did not end past its best: {finished}")
    return finished
