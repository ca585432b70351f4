"""When a run overfits: its validation loss has risen well above its best and stays there."""

from __future__ import annotations

from dataclasses import dataclass

# "Well above": more than this many nats/char AND this fraction above the best, on the last N evaluations.
MARGIN_NATS = 0.1
MARGIN_FRACTION = 0.05
EVALUATIONS = 2


@dataclass(frozen=True)
class Overfit:
    best_step: int
    best_loss: float  # nats/char
    last_loss: float  # nats/char


def overfitting(val_points: list[tuple[int, float]]) -> Overfit | None:
    """`val_points` are (step, validation loss in nats/char) in order. Returns the best and the last when
    each of the last EVALUATIONS points is more than MARGIN_NATS and MARGIN_FRACTION above the best
    before them, else None. One noisy evaluation is not enough."""
    if len(val_points) <= EVALUATIONS:
        return None
    earlier, last = val_points[:-EVALUATIONS], val_points[-EVALUATIONS:]
    best_step, best = min(earlier, key=lambda p: p[1])
    if all(v > best + MARGIN_NATS and v > best * (1 + MARGIN_FRACTION) for _, v in last):
        return Overfit(best_step, best, last[-1][1])
    return None
