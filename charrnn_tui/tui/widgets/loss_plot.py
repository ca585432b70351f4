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
    points: tuple[int, int] = (0, 0)

    DEFAULT_CSS = """
    LossPlot { height: 1fr; min-height: 8; }
    """

    def on_mount(self) -> None:
        self.set_curves([], [])

    def set_curves(self, train: list[tuple[int, float]], val: list[tuple[int, float]]) -> None:
        self.points = (len(train), len(val))  # what was last drawn, for tests and the curious
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
            last = max(p[-1][0] for p in (train, val) if p)
            ticks = step_ticks(last)
            plt.xticks(ticks, [f"{t:,}" for t in ticks])
        self.refresh()


def step_ticks(last: int, n: int = 5) -> list[int]:
    """Round step numbers for the x axis (plotext would label 102.2, 201.5, ...)."""
    if last <= 0:
        return [0]
    raw = last / n
    magnitude = 10 ** (len(str(int(raw))) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return list(range(0, last + 1, step))
