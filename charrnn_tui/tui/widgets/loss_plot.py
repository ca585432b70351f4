"""The live loss curve: train and validation loss against the step, on one plotext plot."""

from __future__ import annotations

from textual_plotext import PlotextPlot


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
    DEFAULT_CSS = """
    LossPlot { height: 1fr; min-height: 8; }
    """

    def on_mount(self) -> None:
        self.set_curves([], [])

    def set_curves(self, train: list[tuple[int, float]], val: list[tuple[int, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title("loss (nats per character)")
        plt.xlabel("step")
        width = max(self.size.width, 40)
        train = downsample(train, 2 * width)
        if train:
            plt.plot([s for s, _ in train], [v for _, v in train], label="train", color="cyan", marker="braille")
        if val:
            plt.plot([s for s, _ in val], [v for _, v in val], label="validation", color="orange", marker="braille")
        if not train and not val:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        else:
            plt.xlim(None, None)
            plt.ylim(None, None)
        self.refresh()
