"""The character-level recurrent language model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from charrnn_tui.config import TrainConfig

_RNNS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

# LSTM state is (h, c); GRU and vanilla RNN state is h alone.
State = tuple[torch.Tensor, torch.Tensor] | torch.Tensor


class CharRNN(nn.Module):
    """Embedding (or one-hot) -> stacked recurrent layers -> linear head over the vocabulary."""

    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        n_layers: int = 2,
        hidden: int = 256,
        embed: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.cell = cell
        self.n_layers = n_layers
        self.hidden = hidden
        self.embed = nn.Embedding(vocab_size, embed) if embed else None
        self.rnn = _RNNS[cell](
            embed or vocab_size,
            hidden,
            n_layers,
            batch_first=True,
            dropout=dropout if n_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    @classmethod
    def from_config(cls, vocab_size: int, cfg: TrainConfig) -> CharRNN:
        return cls(vocab_size, cfg.cell, cfg.n_layers, cfg.hidden, cfg.embed, cfg.dropout)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            return self.embed(x)
        return F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """x: (batch, time) character ids. Returns logits (batch, time, vocab) and the new state."""
        out, state = self.rnn(self.inputs(x), state)
        return self.head(self.drop(out)), state

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State | None) -> State | None:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
