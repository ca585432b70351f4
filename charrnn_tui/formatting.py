"""Numbers and runs as text, the same in every front end (the CLI's lines and the app's panels)."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from charrnn_tui.config import TrainConfig

LN2 = math.log(2)


def fmt_duration(seconds: float | None) -> str:
    """`m:ss` or `h:mm:ss`; "?" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_loss(value: float | None) -> str:
    """A cross-entropy in nats/char with its bits/char beside it; "-" when unknown."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3f} ({value / LN2:.2f} bits)"


def fmt_budget(config: TrainConfig) -> str:
    """What a run's budget is, e.g. "500 steps or 180 s"."""
    parts = []
    if config.steps:
        parts.append(f"{config.steps:,} steps")
    if config.max_seconds:
        parts.append(f"{config.max_seconds:g} s")
    return " or ".join(parts) or "no limit (stop it yourself)"


def fmt_chars(n: int) -> str:
    """A corpus size: characters are the unit everywhere (a UTF-8 byte count differs for non-Latin text)."""
    return f"{n:,} chars"


def resume_command(run_dir: str | Path) -> str:
    """The shell command that continues a run (the path quoted for a POSIX shell)."""
    return f"charrnn-tui --train-only --resume --run-dir {shlex.quote(str(run_dir))}"


def generate_command(run_dir: str | Path) -> str:
    """The shell command that samples from a run."""
    return f"charrnn-tui --generate-only --run-dir {shlex.quote(str(run_dir))}"
