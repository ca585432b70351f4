"""keep_best: the weights of the best evaluation so far, so a run that ends past its best (overfitting)
can end on them. Kept in the checkpoint, so a continued run compares against the same best."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class BestWeights:
    """Validation losses in nats/char. `weights` is a CPU copy of the evaluated model's state_dict at
    `best_step` when keeping is on (else only the losses are tracked)."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.best_val: float | None = None
        self.last_val: float | None = None
        self.best_step: int | None = None
        self.weights: dict[str, torch.Tensor] | None = None

    def observe(self, val: float, step: int, model: nn.Module) -> bool:
        """Record an evaluation; returns whether it is a new best."""
        self.last_val = val
        if self.best_val is not None and val >= self.best_val:
            return False
        self.best_val, self.best_step = val, step
        if self.keep:
            self.weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return True

    @property
    def past_best(self) -> bool:
        """The last evaluation is worse than the best one, whose weights are kept."""
        return self.weights is not None and self.last_val is not None and self.last_val > self.best_val

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"best_val_loss": self.best_val, "last_val_loss": self.last_val}
        if self.weights is not None:
            state.update(best_weights=self.weights, best_step=self.best_step)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_val, self.last_val = state.get("best_val_loss"), state.get("last_val_loss")
        self.best_step = state.get("best_step")
        self.weights = state.get("best_weights") if self.keep else None
