"""The rows of metrics.jsonl, built from the steps of one log interval. Torch-free."""

from __future__ import annotations

from typing import Any


class IntervalMeter:
    """Collects the training losses (nats/char) and step seconds of one log interval and turns them into a
    row: step, mean train_loss, lr, chars_per_s over the interval's training time, elapsed_s and, at an
    evaluation, val_loss."""

    def __init__(self, step: int) -> None:
        self._reset(step)

    def _reset(self, step: int) -> None:
        self.losses: list[float] = []
        self.start_step, self.train_seconds = step, 0.0

    def add(self, loss: float, seconds: float) -> None:
        self.losses.append(loss)
        self.train_seconds += seconds

    @property
    def pending(self) -> bool:
        """Steps were trained since the last row."""
        return bool(self.losses)

    def row(
        self, step: int, lr: float, elapsed_s: float, chars_per_step: int, val_loss: float | None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {"step": step}
        if self.losses:
            row["train_loss"] = sum(self.losses) / len(self.losses)
        row["lr"] = lr
        done = (step - self.start_step) * chars_per_step
        row["chars_per_s"] = done / self.train_seconds if self.train_seconds > 0 else 0.0
        row["elapsed_s"] = round(elapsed_s, 3)
        if val_loss is not None:
            row["val_loss"] = val_loss
        self._reset(step)
        return row
