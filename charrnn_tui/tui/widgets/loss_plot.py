"""The live loss curve: train and validation loss against the step, on one plotext plot, with the best
Markov (n-gram) model's validation loss as a labelled horizontal line: the RNN is worth its keep below it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.message import Message
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from charrnn_tui.scoring.baseline import BaselineResult
from charrnn_tui.text.corpus import Corpus

if TYPE_CHECKING:
    from charrnn_tui.tui.state.baselines import BaselineCache

# Rows plotext takes beside the plot area: the frame's two edges and the x tick labels. The title, the axis
# label and the legend are in the border (issue 26: at 80x24 a legend inside covered most of a 5-row curve).
FRAME_ROWS = 3
CURVE_COLOURS = {"train": "cyan", "validation": "orange", "baseline": "green"}  # plotext's names
LEGEND_COLOURS = {"train": "cyan", "validation": "dark_orange", "baseline": "green"}  # the same, in Rich's


def downsample(points: list[tuple[int, float]], n: int) -> list[tuple[int, float]]:
    """At most `n` points: bucket means, so the curve keeps its shape while plotext's build stays cheap
    (its cost grows with the points, and it runs on the UI thread at every repaint)."""
    if len(points) <= n:
        return points
    out = []
    size = len(points) / n
    for i in range(n):
        bucket = points[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out.append((bucket[-1][0], sum(v for _, v in bucket) / len(bucket)))
    return out


class LossPlot(PlotextPlot):
    @dataclass
    class BaselineKnown(Message):
        """The plot's worker found the n-gram baseline for its corpus (loss None: it could not)."""

        loss: float | None
        label: str

    points: tuple[int, int] = (0, 0)

    DEFAULT_CSS = """
    LossPlot { height: 1fr; min-height: 8; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._train: list[tuple[int, float]] = []
        self._val: list[tuple[int, float]] = []
        self.baseline: tuple[float, str] | None = None  # (nats/char, legend label)
        self.yticks: list[float] = []  # what was last drawn, for tests

    def on_mount(self) -> None:
        self.set_curves([], [])

    def on_resize(self) -> None:
        # The number of y ticks follows the height.
        self.set_curves(self._train, self._val)

    # ---- the baseline --------------------------------------------------------------------------------
    def set_baseline(self, loss: float | None, label: str = "") -> None:
        """Draw `loss` (nats/char) as a horizontal line named `label` in the legend; None removes it."""
        self.baseline = None if loss is None or not math.isfinite(loss) else (loss, label)
        self.set_curves(self._train, self._val)

    def follow_baseline(
        self, corpus: Corpus | str | None, val_fraction: float, baselines: BaselineCache, encoding: str = "utf-8"
    ) -> None:
        """Show the n-gram baseline of `corpus` (a Corpus, or a spec loaded off the UI thread) on this split:
        at once if `baselines` (the app's cache) knows it, else when a worker has it (kept there)."""
        if corpus is None:
            return
        if isinstance(corpus, Corpus):
            known = baselines.get(corpus, val_fraction)
            if known is not None:
                self.set_baseline(known.best_loss, baseline_label(known))
                return
        self._find_baseline(corpus, val_fraction, baselines, encoding)

    @work(thread=True, exclusive=True, exit_on_error=False, group="baseline")
    def _find_baseline(
        self, corpus: Corpus | str, val_fraction: float, baselines: BaselineCache, encoding: str
    ) -> None:
        from charrnn_tui.core.errors import Cancelled, CharRNNError
        from charrnn_tui.text.corpus import load_corpus

        worker = get_current_worker()
        try:
            if not isinstance(corpus, Corpus):
                corpus = load_corpus(corpus, encoding)
            result = baselines.compute(corpus, val_fraction, lambda: worker.is_cancelled)
        except (CharRNNError, Cancelled, OSError, MemoryError):
            return  # the plot simply goes without its line; the corpus screen says why
        self.post_message(self.BaselineKnown(result.best_loss, baseline_label(result)))

    def on_loss_plot_baseline_known(self, message: BaselineKnown) -> None:
        message.stop()
        self.set_baseline(message.loss, message.label)

    # ---- drawing ------------------------------------------------------------------------------------
    def set_curves(self, train: list[tuple[int, float]], val: list[tuple[int, float]]) -> None:
        self._train, self._val = train, val
        self.points = (len(train), len(val))  # what was last drawn, for tests and the curious
        plt = self.plt
        plt.clear_data()
        width = max(self.size.width, 40)
        train = downsample(train, 2 * width)
        if train:
            plt.plot([s for s, _ in train], [v for _, v in train], color=CURVE_COLOURS["train"], marker="braille")
        if val:
            plt.plot([s for s, _ in val], [v for _, v in val], color=CURVE_COLOURS["validation"], marker="braille")
        self.border_subtitle = self.legend()
        if not train and not val:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            plt.yticks([0, 1])
            self.yticks = []
        else:
            first = min(p[0][0] for p in (train, val) if p)
            last = max(p[-1][0] for p in (train, val) if p)
            values = [v for _, v in train] + [v for _, v in val]
            if self.baseline is not None:
                loss = self.baseline[0]
                values.append(loss)
                plt.plot([first, max(last, first + 1)], [loss, loss], color=CURVE_COLOURS["baseline"], marker="braille")
            plt.xlim(None, None)
            lo, hi = min(values), max(values)
            if hi - lo < 1e-9:
                lo, hi = lo - 0.5, hi + 0.5
            plt.ylim(lo, hi)
            rows = max(self.size.height - FRAME_ROWS, 2)
            self.yticks = value_ticks(lo, hi, max(2, rows // 2))
            plt.yticks(self.yticks, tick_labels(self.yticks))
            ticks = step_ticks(last)
            plt.xticks(ticks, [f"{t:,}" for t in ticks])
        self.refresh()

    def legend(self) -> Text:
        """The curves' names in their colours, for the border: "━ train ━ val ━ 5-gram baseline 1.579"."""
        names = [("train", "train"), ("val", "validation")]
        if self.baseline is not None:
            label = self.baseline[1]
            if len(label) + 16 > self.size.width - 4:  # the border's corners and spaces take 4 cells
                label = label.replace(" baseline", "")  # "5-gram 1.579": the number whole, not "1.5…"
            names.append((label, "baseline"))
        legend = Text(no_wrap=True, overflow="ellipsis")
        for i, (name, curve) in enumerate(names):
            legend.append(("" if i == 0 else " ") + "━ ", style=LEGEND_COLOURS[curve])
            legend.append(name)
        return legend


def baseline_label(result: BaselineResult) -> str:
    """The legend's name for the line (one short line inside the plot): "5-gram baseline 1.579"."""
    return f"{result.best_order}-gram baseline {result.best_loss:.3f}"


def step_ticks(last: int, n: int = 5) -> list[int]:
    """Round step numbers for the x axis (plotext would label 102.2, 201.5, ...)."""
    if last <= 0:
        return [0]
    raw = last / n
    magnitude = 10 ** (len(str(int(raw))) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return list(range(0, last + 1, step))


def value_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Evenly spaced round values (steps of 1, 2, 2.5 or 5 times a power of ten) inside [lo, hi], at most
    `max_ticks` of them. plotext's own ticks are not round, and on a short plot it drops one when two fall
    on the same row (issue 13: 4.13, 3.70, 3.28, 2.42); fewer ticks than half the rows never collide."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    max_ticks = max(2, max_ticks)
    raw = (hi - lo) / (max_ticks - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10, 20):
        step = m * magnitude
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        if last - first + 1 <= max_ticks:
            break
    # Multiples of the step, rounded so that labels and spacing are exact.
    digits = max(0, -math.floor(math.log10(step)) + (1 if m in (2.5,) else 0))
    return [round(k * step, digits + 2) for k in range(first, last + 1)]


def tick_labels(ticks: list[float]) -> list[str]:
    """Labels with just enough decimals to tell the ticks apart, the same number for all."""
    if len(ticks) < 2:
        return [f"{t:.2f}" for t in ticks]
    step = ticks[1] - ticks[0]
    digits = 0
    while digits < 6 and abs(round(step, digits) - step) > 1e-9:
        digits += 1
    return [f"{t:.{digits}f}" for t in ticks]
