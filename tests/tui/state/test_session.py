"""TrainingSession: `record` gives each event type its one handler (a dispatch, as headless/progress.py's
ProgressPrinter has), and the state each leaves is what the screen draws; the app's view of a run is what is
on disk (a continued run knows the checkpoint written before the app started). No app runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from charrnn_tui.core import events
from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import (
    CheckpointSaved,
    Evaluated,
    Failed,
    Finished,
    Logged,
    Notice,
    Paused,
    Sample,
    Started,
    Step,
    ThreadsChanged,
    Unpaused,
)
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.trainer import Trainer
from charrnn_tui.tui.state.session import SAMPLES_KEPT, TrainingSession

CONFIG = replace(TINY, steps=200, device="cpu")


def started(history: tuple[dict, ...] = ()) -> Started:
    return Started(0, CONFIG.to_dict(), "hamlet", None, "cpu", 26_176, 64, 158_715, 17_635, history=history)


def session() -> TrainingSession:
    return TrainingSession("hamlet", CONFIG, Path("run"), post=lambda message: None)


def test_every_event_the_session_shows_has_its_own_handler_and_the_rest_are_known() -> None:
    event_types = set(events.Event.__args__)  # the union the trainer's callback takes
    handled = set(TrainingSession._RECORDERS)
    shown_elsewhere = {Logged, Notice, ThreadsChanged}  # the metrics file, the screen's notices, the Step's threads
    assert handled | shown_elsewhere == event_types and not handled & shown_elsewhere


def test_a_resumed_start_draws_its_curve_so_far_and_its_best_and_last_evaluation() -> None:
    s = session()
    s.record(Step(1, 9.0, 0.01, 1.0, 1.0, None, None))  # a point from before the start is dropped
    history = ({"step": 10, "train_loss": 3.0}, {"step": 20, "train_loss": 2.5, "val_loss": 2.7},
               {"step": 30, "train_loss": 2.4, "val_loss": 2.8})  # fmt: skip
    s.record(started(history))
    assert s.status == "running" and s.started is not None
    assert s.curves() == ([(10, 3.0), (20, 2.5), (30, 2.4)], [(20, 2.7), (30, 2.8)])
    assert (s.best_val, s.last_val) == (2.7, 2.8)


def test_steps_samples_evaluations_and_checkpoints_each_land_where_the_screen_reads_them() -> None:
    s = session()
    s.record(started())
    step = Step(5, 2.5, 0.01, 100.0, 1.0, 3.0, 0.1)
    s.record(step)
    for i in range(SAMPLES_KEPT + 2):
        s.record(Sample(5 + i, "ab", "bc", "bb"))
    s.record(Evaluated(5, 2.6, 2.55, 1.0))
    saved = CheckpointSaved(5, "run/checkpoint.pt", "eval")
    s.record(saved)
    assert s.last_step is step and s.curves() == ([(5, 2.5)], [(5, 2.6)])
    assert [x.step for x in s.samples] == [7, 8, 9]  # the newest SAMPLES_KEPT
    assert (s.best_val, s.last_val) == (2.55, 2.6) and s.last_checkpoint is saved


def test_pause_and_resume_follow_a_stop_that_was_asked_for() -> None:
    s = session()
    s.record(started())
    s.record(Paused(3))
    assert s.status == "paused"
    s.record(Unpaused(3))
    assert s.status == "running"
    s.control.stop(save=True)
    s.record(Paused(4))
    assert s.status == "stopping"
    s.record(Unpaused(4))
    assert s.status == "stopping"


def test_the_end_is_kept_as_the_result_and_every_event_moves_the_version() -> None:
    for end, status in ((Finished(9, "steps", 1.0, None, None, None, None), "finished"),
                        (Failed(9, "the loss is nan", None, None), "failed")):  # fmt: skip
        s = session()
        s.record(started())
        before = s.version
        s.record(Logged({"step": 9}))  # no state of its own: the screen still learns something happened
        s.record(Notice(9, "a note"))
        s.record(end)
        assert s.result is end and s.status == status and not s.active
        assert s.version == before + 3


def test_a_continued_run_knows_the_checkpoint_on_disk(small_corpus: Corpus, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = TINY.with_overrides(device="cpu", steps=20, eval_interval=10, log_interval=5, checkpoint_seconds=0)
    assert Trainer(small_corpus, cfg, run).run().step == 20
    session = TrainingSession(None, cfg.with_overrides(steps=40), run, lambda message: None, resume=True)
    assert session.last_checkpoint is None  # this session saved nothing yet
    assert session.checkpoint_on_disk() == 20
    assert TrainingSession(None, cfg, tmp_path / "empty", lambda m: None).checkpoint_on_disk() is None
