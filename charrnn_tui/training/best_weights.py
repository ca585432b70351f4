"""keep_best: the weights of the best evaluation so far, so a run that ends past its best (overfitting)
can end on them, and the evaluations since that best, for an early stop (patience). Kept in the checkpoint, so
a continued run compares against the same best."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class BestWeights:
    """Validation losses in nats/char. `weights` is a CPU copy of the evaluated model's state_dict at
    `best_step` when keeping is on (else only the losses are tracked). `since_best` counts the evaluations
    after the best one (0 when the last evaluation was the best); it is saved with the run. `session_evals`
    counts this session's evaluations only (a resumed run starts it at 0)."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.best_val: float | None = None
        self.last_val: float | None = None
        self.best_step: int | None = None
        self.weights: dict[str, torch.Tensor] | None = None
        self.since_best = 0
        self.session_evals = 0

    def observe(self, val: float, step: int, model: nn.Module) -> bool:
        """Record an evaluation; returns whether it is a new best."""
        self.last_val = val
        self.session_evals += 1
        if self.best_val is not None and val >= self.best_val:
            self.since_best += 1
            return False
        self.best_val, self.best_step, self.since_best = val, step, 0
        if self.keep:
            self.weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return True

    def copy_of(self, model: nn.Module) -> nn.Module:
        """A copy of `model` holding the best weights (which must be kept: `weights` is not None)."""
        best = copy.deepcopy(model)
        best.load_state_dict(self.weights)
        return best

    @property
    def past_best(self) -> bool:
        """The last evaluation is worse than the best one, whose weights are kept."""
        return self.weights is not None and self.last_val is not None and self.last_val > self.best_val

    @property
    def stalled(self) -> int:
        """Evaluations without a new best, counted from the later of the best and this session's start: what
        patience is compared with. A continued run gets `patience` evaluations of its own before it can stop
        early, rather than stopping at its first evaluation because its earlier session ended past its best."""
        return min(self.since_best, self.session_evals)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "best_val_loss": self.best_val,
            "last_val_loss": self.last_val,
            "evals_since_best": self.since_best,
        }
        if self.weights is not None:
            state.update(best_weights=self.weights, best_step=self.best_step)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_val, self.last_val = state.get("best_val_loss"), state.get("last_val_loss")
        self.best_step = state.get("best_step")
        self.since_best = state.get("evals_since_best") or 0  # absent in checkpoints from before patience
        self.weights = state.get("best_weights") if self.keep else None
