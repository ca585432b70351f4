"""The trainer's named parts, each on its own: milliseconds, no training."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from charrnn_tui.core.config import TINY, TrainConfig, continuation
from charrnn_tui.core.control import TrainingControl
from charrnn_tui.training.best_weights import BestWeights
from charrnn_tui.training.clock import RunClock
from charrnn_tui.training.lr_schedule import learning_rate
from charrnn_tui.training.meter import IntervalMeter


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_learning_rate_warms_up_then_follows_the_cosine_to_its_floor() -> None:
    cfg = TrainConfig(lr=1.0, warmup_steps=4, lr_schedule="cosine", min_lr_frac=0.1)
    assert [learning_rate(cfg, s, 0.0) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert learning_rate(cfg, 10, 0.0) == pytest.approx(1.0)
    assert learning_rate(cfg, 10, 0.5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert learning_rate(cfg, 10, 1.0) == pytest.approx(0.1)
    assert learning_rate(cfg, 10, None) == 1.0  # no budget: stays at the peak
    assert learning_rate(TrainConfig(lr=0.3, lr_schedule="constant", warmup_steps=0), 99, 0.9) == 0.3


def test_run_clock_counts_sessions_excludes_pauses_and_keeps_room_for_the_last_evaluation() -> None:
    now = FakeTime()
    clock = RunClock(elapsed_before=50.0, now=now)
    now.t += 10
    clock.add_pause(4)
    assert clock.session_elapsed() == 6 and clock.elapsed() == 56
    cfg = TrainConfig(steps=0, max_seconds=10.0)
    clock.record_step(1.0)
    clock.eval_seconds, clock.save_seconds = 2.0, 0.5
    assert not clock.out_of_time(cfg, 1000, 100)  # 6 + 1 + 2 + 0.5 < 10
    now.t += 1
    assert clock.out_of_time(cfg, 1000, 100)  # 7 + 3.5 >= 10
    assert clock.eta(cfg, 0, 1000, 100) == pytest.approx(3.0)
    clock.agreed = 5.0
    assert clock.progress(cfg, 0) == pytest.approx(55 / 60)  # the time budget is per session
    assert clock.progress(TrainConfig(steps=40, max_seconds=0), 10) == 0.25
    assert clock.progress(TrainConfig(steps=0, max_seconds=0), 10) is None


def test_run_clock_guesses_the_first_evaluation_from_the_step_time() -> None:
    clock = RunClock(now=FakeTime())
    clock.record_step(0.3)
    assert clock.eval_cost(eval_chars=3000, chars_per_step=1000) == pytest.approx(0.3)
    clock.record_step(0.5)
    assert clock.step_time == pytest.approx(0.32)  # a moving average, not the last step


def test_best_weights_keeps_a_copy_of_the_best_and_round_trips() -> None:
    model = torch.nn.Linear(2, 1)
    best = BestWeights(keep=True)
    assert best.observe(2.0, 10, model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not best.observe(2.5, 20, model)
    assert best.past_best and best.best_step == 10
    assert not torch.equal(best.weights["weight"], model.weight)  # a copy, not a view of the live weights
    again = BestWeights(keep=True)
    again.load_state_dict(best.state_dict())
    assert (again.best_val, again.last_val, again.best_step) == (2.0, 2.5, 10)
    assert torch.equal(again.weights["weight"], best.weights["weight"])
    only_losses = BestWeights(keep=False)
    only_losses.observe(1.0, 5, model)
    assert only_losses.weights is None and not only_losses.past_best and "best_weights" not in only_losses.state_dict()


def test_interval_meter_rows() -> None:
    meter = IntervalMeter(step=10)
    assert not meter.pending
    meter.add(2.0, 0.5)
    meter.add(1.0, 0.5)
    row = meter.row(12, lr=0.01, elapsed_s=3.14159, chars_per_step=100, val_loss=1.7)
    assert row == {"step": 12, "train_loss": 1.5, "lr": 0.01, "chars_per_s": 200.0, "elapsed_s": 3.142, "val_loss": 1.7}
    assert not meter.pending and meter.start_step == 12


def test_control_pause_unpause_stop_and_save_requests_across_threads() -> None:
    control = TrainingControl()
    control.pause()
    assert control.paused
    waited = []
    waiter = threading.Thread(target=lambda: waited.append(control.wait_while_paused()))
    waiter.start()
    control.stop(save=False)  # stopping a paused run lets it end
    waiter.join(5)
    assert not waiter.is_alive() and waited[0] >= 0
    assert control.stopping and not control.save_on_stop and not control.paused
    control.pause()
    assert not control.paused  # a stopping run is not paused again
    assert not control.take_save_request()
    control.request_save()
    assert control.take_save_request() and not control.take_save_request()


def test_continuation_budget_counts_steps_from_the_start_and_seconds_per_session() -> None:
    assert continuation(TINY.with_overrides(steps=200, max_seconds=0), 200).steps == 400
    timed = continuation(TINY.with_overrides(steps=0, max_seconds=60.0), 350)
    assert (timed.steps, timed.max_seconds) == (0, 60.0)
    assert math.isclose(continuation(TINY, 0).lr, TINY.lr)
