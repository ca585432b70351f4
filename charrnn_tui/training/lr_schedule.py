"""The learning-rate schedule: linear warm-up, then constant or cosine decay over the run's budget."""

from __future__ import annotations

import math

from charrnn_tui.core.config import TrainConfig


def learning_rate(cfg: TrainConfig, step: int, progress: float | None) -> float:
    """The learning rate for the step after `step` steps are done.

    `progress` is the share of the budget (steps or seconds, whichever is further) spent so far, 0..1, or
    None for a run without a budget (then the cosine schedule stays at the peak). Warm-up ramps linearly to
    `cfg.lr` over `cfg.warmup_steps`; cosine then decays to `cfg.lr * cfg.min_lr_frac` at progress 1
    (Loshchilov & Hutter, "SGDR", 2017, without restarts).
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant" or progress is None:
        return cfg.lr
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))
