"""Colours for the inside views: a sequential scale for surprisal (bits) and a diverging one for activations.

Both colour the background of each character (the foreground stays light and readable) and are quantised
to a few levels, so a text of 50,000 characters shares a handful of Style objects.
"""

from __future__ import annotations

from rich.color import Color
from rich.style import Style
from rich.text import Text

FOREGROUND = Color.from_rgb(235, 235, 235)

# Surprisal in bits, 0 (sure) to SURPRISE_MAX (as surprised as a 1-in-1000 guess) and beyond.
SURPRISE_MAX = 10.0
SURPRISE_LEVELS = 11
_SURPRISE_STOPS = ((0.0, (24, 60, 34)), (0.35, (128, 116, 20)), (0.65, (184, 84, 24)), (1.0, (200, 24, 40)))

# Activation scaled to [-1, 1]: blue below zero, red above (the RdBu ends), dark grey at zero.
DIVERGING_LEVELS = 10  # per side
_NEGATIVE, _NEUTRAL, _POSITIVE = (33, 102, 172), (40, 40, 40), (178, 24, 43)


def _lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _along(stops, t: float) -> tuple[int, int, int]:
    for (t0, c0), (t1, c1) in zip(stops, stops[1:], strict=False):
        if t <= t1:
            return _lerp(c0, c1, (t - t0) / (t1 - t0) if t1 > t0 else 0.0)
    return stops[-1][1]


def _style(rgb: tuple[int, int, int]) -> Style:
    return Style(color=FOREGROUND, bgcolor=Color.from_rgb(*rgb))


SURPRISE_STYLES = [_style(_along(_SURPRISE_STOPS, k / (SURPRISE_LEVELS - 1))) for k in range(SURPRISE_LEVELS)]
NEGATIVE_STYLES = [_style(_lerp(_NEUTRAL, _NEGATIVE, k / DIVERGING_LEVELS)) for k in range(DIVERGING_LEVELS + 1)]
POSITIVE_STYLES = [_style(_lerp(_NEUTRAL, _POSITIVE, k / DIVERGING_LEVELS)) for k in range(DIVERGING_LEVELS + 1)]


def surprise_style(bits: float) -> Style:
    """The colour of a character the model gave `bits` of surprisal (-log2 p)."""
    k = round(min(max(bits, 0.0), SURPRISE_MAX) / SURPRISE_MAX * (SURPRISE_LEVELS - 1))
    return SURPRISE_STYLES[k]


def diverging_style(value: float, scale: float) -> Style:
    """The colour of an activation, `value / scale` clipped to [-1, 1]: blue negative, red positive."""
    t = 0.0 if scale <= 0 else max(-1.0, min(1.0, value / scale))
    k = round(abs(t) * DIVERGING_LEVELS)
    return (POSITIVE_STYLES if t >= 0 else NEGATIVE_STYLES)[k]


def surprise_legend() -> Text:
    out = Text()
    out.append("surprise, bits:\n", style="dim")
    out.append("0 ")
    for style in SURPRISE_STYLES:
        out.append(" ", style)
    out.append(f" {SURPRISE_MAX:g}+")
    return out


def diverging_legend(scale: float) -> Text:
    out = Text(f"{-scale:+.2f} ")
    for style in reversed(NEGATIVE_STYLES[1:]):
        out.append(" ", style)
    out.append(" ", NEGATIVE_STYLES[0])
    for style in POSITIVE_STYLES[1:]:
        out.append(" ", style)
    out.append(f" {scale:+.2f}")
    return out
