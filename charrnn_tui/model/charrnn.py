"""The character-level recurrent language model, and the regularisers of small-data recurrent LMs.

The regularisers are those of Merity, Keskar & Socher, "Regularizing and Optimizing LSTM Language Models"
(ICLR 2018, arXiv:1708.02182), as their AWD-LSTM code applies them: DropConnect on the hidden-to-hidden
weights ("weight drop", one mask per forward pass, shared by every time step), locked (variational) dropout
(one mask per sequence, shared by every time step; Gal & Ghahramani 2016), and embedding dropout (whole
characters' embedding vectors dropped; the same paper, section 4.3). All of them act in training only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from charrnn_tui.core.config import TrainConfig

_RNNS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_LAYER_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

# LSTM state is (h, c); GRU and vanilla RNN state is h alone.
State = tuple[torch.Tensor, torch.Tensor] | torch.Tensor


class CharRNN(nn.Module):
    """Embedding (or one-hot) -> stacked recurrent layers -> linear head over the vocabulary.

    `dropout` acts between the recurrent layers and before the head: a fresh mask per time step, or with
    `locked_dropout` one mask per sequence. `weight_drop` drops hidden-to-hidden weights (DropConnect) and
    `embed_dropout` whole characters' embeddings, both in training only. The parameters are those of one
    `nn.LSTM` (`GRU`, `RNN`) whatever the regularisers, so checkpoints, generation and inspection read every
    model the same way.
    """

    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        n_layers: int = 2,
        hidden: int = 256,
        embed: int = 64,
        dropout: float = 0.0,
        weight_drop: float = 0.0,
        embed_dropout: float = 0.0,
        locked_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.cell = cell
        self.n_layers = n_layers
        self.hidden = hidden
        self.dropout = dropout
        self.weight_drop = weight_drop
        self.embed_dropout = embed_dropout if embed else 0.0
        self.locked_dropout = locked_dropout
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
        # One-layer modules of the same cell that run one layer of `self.rnn` with its weights handed in
        # (torch.func.functional_call). On the meta device they hold no memory of their own, and a list, not
        # a ModuleList, keeps them out of the parameters and the checkpoints.
        self._layer_cells = [
            _RNNS[cell](embed or vocab_size if k == 0 else hidden, hidden, 1, batch_first=True, device="meta")
            for k in range(n_layers)
        ]

    @classmethod
    def from_config(cls, vocab_size: int, cfg: TrainConfig) -> CharRNN:
        return cls(
            vocab_size, cfg.cell, cfg.n_layers, cfg.hidden, cfg.embed, cfg.dropout,
            cfg.weight_drop, cfg.embed_dropout, cfg.locked_dropout,
        )  # fmt: skip

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, time) character ids -> (batch, time, embed) vectors, or one-hot (batch, time, vocab)."""
        if self.embed is None:
            return F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)
        weight = self.embed.weight
        if self.training and self.embed_dropout:
            weight = embedding_dropout(weight, self.embed_dropout)
        return F.embedding(x, weight)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """x: (batch, time) character ids. Returns logits (batch, time, vocab) and the new state, (h, c) of
        shape (layers, batch, hidden) each for an LSTM, h alone for the others."""
        if self.training and (self.weight_drop or self.locked_dropout):
            return self._regularised_forward(x, state)
        out, state = self.rnn(self.inputs(x), state)
        return self.head(self.drop(out)), state

    def _regularised_forward(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """The forward pass one layer at a time, so that each layer's weights can be dropped and the
        activations between layers share one mask over time."""
        out, new_states = self.inputs(x), []
        for k, layer in enumerate(self._layer_cells):
            if k:
                out = self._dropout_between(out)
            weights = {f"{name}_l0": getattr(self.rnn, f"{name}_l{k}") for name in _LAYER_WEIGHTS}
            if self.weight_drop:
                weights["weight_hh_l0"] = F.dropout(weights["weight_hh_l0"], self.weight_drop, training=True)
            out, layer_state = functional_call(layer, weights, (out, _layer_state(state, k)))
            new_states.append(layer_state)
        return self.head(self._dropout_between(out)), _stack_states(new_states)

    def _dropout_between(self, out: torch.Tensor) -> torch.Tensor:
        if not self.dropout:
            return out
        if not self.locked_dropout:
            return F.dropout(out, self.dropout, training=True)
        return locked_dropout(out, self.dropout)

    def set_regularisation(self, dropout: float, weight_drop: float) -> None:
        """Change the dropout between layers and the weight drop of a built model (a run that re-sizes itself),
        as if it had been built with them; both are probabilities in [0, 1)."""
        self.dropout, self.weight_drop = dropout, weight_drop
        self.drop.p = dropout
        self.rnn.dropout = dropout if self.n_layers > 1 else 0.0

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def locked_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Variational dropout of x (batch, time, features): one mask per sequence and feature, the same at every
    time step, survivors scaled by 1/(1-p) (Gal & Ghahramani 2016; Merity et al. 2017, section 4.2)."""
    keep = 1 - p
    return x * x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(keep) / keep


def embedding_dropout(weight: torch.Tensor, p: float) -> torch.Tensor:
    """The embedding matrix (vocab, embed) with whole rows (characters) zeroed with probability p, the rest
    scaled by 1/(1-p): a dropped character is unknown throughout the batch (Merity et al. 2017, section 4.3)."""
    keep = 1 - p
    return weight * weight.new_empty(weight.shape[0], 1).bernoulli_(keep) / keep


def map_state(fn: Callable[[torch.Tensor], torch.Tensor], state: State | None) -> State | None:
    """`fn` applied to each tensor of a recurrent state: h, or an LSTM's (h, c); None stays None."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(fn(t) for t in state)
    return fn(state)


def _layer_state(state: State | None, k: int) -> State | None:
    return map_state(lambda t: t[k : k + 1], state)


def _stack_states(states: list[State]) -> State:
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*states, strict=True))
    return torch.cat(states)
