"""This machine's training rate, measured by the runs it trained, per model shape: what the default preset's
sizing (config.fit_to_corpus) plans with instead of a constant measured elsewhere, and the one decision of
when a run re-sizes itself. Torch-free: the CLI reads it before torch loads.

The rates live in `rates.json` in the data dir, one entry per machine (CPU model, usable cores) and shape
(cell, layers x hidden, embedding, batch x sequence, precision setting, device, ranks), each the rate the last
run of that shape measured over its steps (evaluations and pauses excluded). A damaged or unreadable file is
treated as empty, and a failed write loses nothing but the figure: the next run measures it again.
"""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from charrnn_tui.core.config import NOMINAL_CHARS_PER_S, TrainConfig, fit_to_corpus
from charrnn_tui.core.paths import data_dir
from charrnn_tui.core.sizing import WIDE_COST, afforded_width, afforded_window
from charrnn_tui.present.formatting import fmt_sized

if TYPE_CHECKING:  # the state holds torch objects; this module stays torch-free for the CLI
    from charrnn_tui.training.state import TrainingState

RATES_NAME = "rates.json"
MAX_ENTRIES = 200  # the file stays small however many shapes a user tries: the oldest go first
MAX_FILE_BYTES = 1 << 20  # a larger file is not ours, or not whole: ignored
# A run whose measured rate is more than this factor away from its plan's re-sizes once (Sizing.resized): the
# sizing's rules change at 3x in epochs (REGULARISATION_BY_EPOCHS), so 1.25x moves dropout by at most 0.05.
RESIZE_FACTOR = 1.25
# When a run measures its rate: after RESIZE_AT_SHARE of its time budget, and at least RESIZE_MIN_S seconds
# in, so that the thread chooser's first timings (threads.py) and the first steps' warm-up are behind it.
RESIZE_AT_SHARE = 0.1
RESIZE_MIN_S = 4.0


def machine_name() -> str:
    """The CPU model (Linux's /proc/cpuinfo, else platform.processor()) and the cores this process may use."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "Model", "Hardware")):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return f"{model}, {cores} cores"


def shape_key(config: TrainConfig, device: str = "cpu", ranks: int = 1) -> str:
    """What a training step's cost depends on, as one line: the regularisation the sizing chooses is left out
    (weight drop costs about 12%, well inside RESIZE_FACTOR)."""
    return (
        f"{config.cell} {config.n_layers}x{config.hidden} embed {config.embed} batch {config.batch_size}x"
        f"{config.seq_len} precision {config.precision} on {device} x{ranks}"
    )


def _path() -> Path:
    return data_dir() / RATES_NAME


def _read_all() -> dict[str, dict[str, float]]:
    try:
        path = _path()
        if path.stat().st_size > MAX_FILE_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {m: shapes for m, shapes in data.items() if isinstance(m, str) and isinstance(shapes, dict)}


def read_rate(config: TrainConfig, device: str = "cpu", ranks: int = 1) -> float | None:
    """Training characters a second that the last run of this shape measured on this machine, or None."""
    rate = _read_all().get(machine_name(), {}).get(shape_key(config, device, ranks))
    ok = isinstance(rate, int | float) and not isinstance(rate, bool) and math.isfinite(rate) and rate > 0
    return float(rate) if ok else None


def record_rate(config: TrainConfig, chars_per_s: float, device: str = "cpu", ranks: int = 1) -> None:
    """Keep `chars_per_s` as this machine's rate for the shape. Never raises: a figure that cannot be written
    is measured again by the next run."""
    if not (math.isfinite(chars_per_s) and chars_per_s > 0):
        return
    from charrnn_tui.runs.folder import atomic_write

    try:
        data = _read_all()
        shapes = data.setdefault(machine_name(), {})
        key = shape_key(config, device, ranks)
        shapes.pop(key, None)
        shapes[key] = round(chars_per_s, 1)  # last written, last in order: the oldest leave first
        while sum(len(v) for v in data.values()) > MAX_ENTRIES:
            oldest_machine = next(m for m, v in data.items() if v)
            data[oldest_machine].pop(next(iter(data[oldest_machine])))
            data = {m: v for m, v in data.items() if v}
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8")
        atomic_write(path, lambda f: f.write(text))
    except (OSError, ValueError):
        pass


@dataclass(frozen=True)
class Sizing:
    """How the default preset's run is sized (fit_to_corpus): its settings before sizing (the preset and what the
    user set, in the shape the budget affords), the training text's size in characters, the fields the user set
    (left alone), the rate in training characters a second, whether that rate was measured on this machine for
    this shape or is the nominal one, `widened` when the width is the wider one the budget affords
    (sizing.afforded_width) and `windowed` when the window is the shorter one (sizing.afforded_window). Until this
    machine has measured such a shape, its rate is estimated from the preset shape's: over WIDE_COST for the wider
    model, the same for the shorter window (it was measured 1.0-1.2x as fast per character)."""

    base: TrainConfig
    train_chars: int
    keep: frozenset[str] = frozenset()
    chars_per_s: float = NOMINAL_CHARS_PER_S
    measured: bool = False
    widened: bool = False
    windowed: bool = False

    @classmethod
    def for_machine(cls, base: TrainConfig, train_chars: int, keep=(), device: str = "cpu", ranks: int = 1) -> Sizing:
        """Sized with this machine's measured rate for the preset's shape (read_rate), else the nominal one; in the
        shape the budget affords at that rate (afforded_width, afforded_window), which is chosen here, once: a
        re-size keeps it."""
        keep = frozenset(keep)
        rate = read_rate(base, device, ranks)
        planned = rate or NOMINAL_CHARS_PER_S
        shaped = afforded_window(afforded_width(base, train_chars, keep, planned), train_chars, keep, planned)
        if shaped == base:
            return cls(base, train_chars, keep, planned, rate is not None)
        widened, windowed = shaped.hidden != base.hidden, shaped.seq_len != base.seq_len
        shaped_rate = read_rate(shaped, device, ranks)
        estimate = planned / WIDE_COST if widened else planned
        return cls(shaped, train_chars, keep, shaped_rate or estimate, shaped_rate is not None, widened, windowed)

    def config(self) -> TrainConfig:
        return fit_to_corpus(self.base, self.train_chars, self.keep, self.chars_per_s)

    def describe(self, config: TrainConfig) -> str:
        """The sizing line for `config` (this sizing's config, or a running run's after apply_sizing): the text's
        size, the rate and whether it was measured, the shape chosen and the settings (fmt_sized)."""
        return fmt_sized(config, self.train_chars, self.chars_per_s, self.measured, self.widened, self.windowed)

    def resized(self, measured_chars_per_s: float) -> Sizing | None:
        """The sizing for the rate a run met, when it is more than RESIZE_FACTOR away from this one's; else None."""
        if not (math.isfinite(measured_chars_per_s) and measured_chars_per_s > 0):
            return None
        if max(measured_chars_per_s / self.chars_per_s, self.chars_per_s / measured_chars_per_s) <= RESIZE_FACTOR:
            return None
        return replace(self, chars_per_s=measured_chars_per_s, measured=True)

    def resize_at(self) -> float | None:
        """Seconds into the run at which it measures its rate; None when its plan does not depend on the rate
        (no time budget)."""
        if not self.base.max_seconds:
            return None
        return max(RESIZE_MIN_S, RESIZE_AT_SHARE * self.base.max_seconds)


class RateCheck:
    """The one measurement a sized run makes of its own rate: the mean seconds a step took between half of `at_s`
    and `at_s` seconds of training (the first half is warm-up and the thread chooser's timings)."""

    def __init__(self, at_s: float) -> None:
        self.at_s = at_s
        self._mark: tuple[int, float] | None = None  # (steps, seconds in steps) at half of at_s

    def seconds_per_step(self, elapsed_s: float, steps: int, seconds_in_steps: float) -> float | None:
        """Called after every step with the session's elapsed seconds (the same on every rank) and its running
        totals of steps and of seconds spent in them; the mean step time, once, when `elapsed_s` reaches `at_s`."""
        if self._mark is None:
            if elapsed_s >= self.at_s / 2:
                self._mark = (steps, seconds_in_steps)
            return None
        if elapsed_s < self.at_s or steps <= self._mark[0]:
            return None
        return (seconds_in_steps - self._mark[1]) / (steps - self._mark[0])


# What a run that meets another rate than its plan's sizes again, mid-run. Not Adam's beta2: its second-moment
# average was built with the old one, and Adam's bias correction (1 - beta2^t) under a new beta2 would scale every
# step size at once (0.99 -> 0.999 at step 60: about 4x smaller steps).
RESIZED_FIELDS = ("dropout", "weight_drop", "eval_interval")


def apply_sizing(state: TrainingState, sizing: Sizing) -> None:
    """Give a running `state` the RESIZED_FIELDS of `sizing`: its config, and the dropout and weight drop of the
    trained and the averaged model (the batch depends on the text only and stays)."""
    fitted = sizing.config()
    state.config = state.config.with_overrides(**{f: getattr(fitted, f) for f in RESIZED_FIELDS})
    for model in {id(state.model): state.model, id(state.eval_model): state.eval_model}.values():
        model.set_regularisation(state.config.dropout, state.config.weight_drop)


class Resizer:
    """A sized new run's one look at its own rate (RateCheck) and the re-sizing it may lead to; `sizing` is the
    sizing in force."""

    def __init__(self, sizing: Sizing, at_s: float) -> None:
        self.sizing = sizing
        self._check: RateCheck | None = RateCheck(at_s)

    def after_step(self, state: TrainingState, chars_per_step: int, mean) -> str | None:
        """Called after every step; `mean(x)` averages a figure over the ranks (DistContext.mean). When the rate
        met is more than RESIZE_FACTOR off the plan's, applies the new sizing to `state` and returns the notice."""
        if self._check is None:
            return None
        clock = state.clock
        seconds = self._check.seconds_per_step(clock.agreed, clock.steps_timed, clock.seconds_in_steps)
        if seconds is None:
            return None
        self._check = None
        rate = chars_per_step / mean(seconds)
        resized = self.sizing.resized(rate)
        if resized is None:
            return None
        apply_sizing(state, resized)
        planned, self.sizing = self.sizing.chars_per_s, resized
        return (
            f"this machine trains at {rate:,.0f} chars/s, not the {planned:,.0f} the run was planned for: "
            f"re-{resized.describe(state.config)}"
        )


def record_session_rate(state: TrainingState, chars_per_step: int, ranks: int) -> None:
    """Keep the rate this session trained at (steps only: evaluations and saves excluded) for the next run's plan."""
    if state.clock.seconds_in_steps > 0:
        rate = chars_per_step * state.clock.steps_timed / state.clock.seconds_in_steps
        record_rate(state.config, rate, state.device.type, ranks)
