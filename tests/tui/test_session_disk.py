"""The app's view of a run is what is on disk: a continued run knows the checkpoint written before the app
started."""

from __future__ import annotations

from pathlib import Path

from charrnn_tui.core.config import TINY
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.trainer import Trainer
from charrnn_tui.tui.state.session import TrainingSession


def test_a_continued_run_knows_the_checkpoint_on_disk(small_corpus: Corpus, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = TINY.with_overrides(device="cpu", steps=20, eval_interval=10, log_interval=5, checkpoint_seconds=0)
    assert Trainer(small_corpus, cfg, run).run().step == 20
    session = TrainingSession(None, cfg.with_overrides(steps=40), run, lambda message: None, resume=True)
    assert session.last_checkpoint is None  # this session saved nothing yet
    assert session.checkpoint_on_disk() == 20
    assert TrainingSession(None, cfg, tmp_path / "empty", lambda m: None).checkpoint_on_disk() is None
