"""Training batches: the tutorial's random windows, or karpathy-style streams for truncated BPTT."""

from __future__ import annotations

import torch


class RandomWindows:
    """Each batch row is an independent window at a random offset; no state is carried."""

    carries_state = False

    def __init__(self, data: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator) -> None:
        self.data, self.batch_size, self.seq_len, self.generator = data, batch_size, seq_len, generator
        self._offsets = torch.arange(seq_len + 1)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        high = len(self.data) - self.seq_len
        starts = torch.randint(0, high, (self.batch_size,), generator=self.generator)
        windows = self.data[starts[:, None] + self._offsets].long()
        return windows[:, :-1], windows[:, 1:], True

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Streams:
    """The text cut into `batch_size` contiguous streams read window by window, so the recurrent
    state of one window is the right start for the next. At the end of the streams they restart at a
    new random phase, and the state is reset."""

    carries_state = True

    def __init__(self, data: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator) -> None:
        self.data, self.batch_size, self.seq_len, self.generator = data, batch_size, seq_len, generator
        self.stream_len = (len(data) - 1) // batch_size
        self.phase = 0
        self.pos = 0
        self._layout()

    def _layout(self) -> None:
        n = self.stream_len * self.batch_size
        start = self.phase
        self._x = self.data[start : start + n].view(self.batch_size, -1)
        self._y = self.data[start + 1 : start + 1 + n].view(self.batch_size, -1)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Returns x, y and whether the recurrent state must be reset before this batch."""
        reset = self.pos == 0
        end = self.pos + self.seq_len
        x = self._x[:, self.pos : end].long()
        y = self._y[:, self.pos : end].long()
        self.pos = end
        if self.pos + self.seq_len > self._x.shape[1]:
            spare = len(self.data) - 1 - self.stream_len * self.batch_size
            self.phase = int(torch.randint(0, spare + 1, (1,), generator=self.generator))
            self.stream_len = (len(self.data) - 1 - self.phase) // self.batch_size
            self.pos = 0
            self._layout()
        return x, y, reset

    def state_dict(self) -> dict:
        return {"phase": self.phase, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        """Raises ValueError when the position does not fit this text (another or a changed corpus, another
        batch or sequence size): the caller then starts the streams afresh."""
        phase, pos = int(state["phase"]), int(state["pos"])
        stream_len = (len(self.data) - 1 - phase) // self.batch_size
        if not (
            0 <= phase <= len(self.data) - 1 - self.batch_size * self.seq_len and 0 <= pos and pos % self.seq_len == 0
        ):
            raise ValueError(f"batch position (phase {phase}, position {pos}) does not fit this text")
        if pos + self.seq_len > stream_len:
            raise ValueError(f"batch position {pos} lies past the end of streams of {stream_len} characters")
        self.phase, self.pos, self.stream_len = phase, pos, stream_len
        self._layout()


def make_batches(kind: str, data: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator):
    return (Streams if kind == "tbptt" else RandomWindows)(data, batch_size, seq_len, generator)
