"""Generation: feed a prime once, then one recurrent step per new character, the state carried."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from charrnn_tui.model import CharRNN, State
from charrnn_tui.vocab import Vocab


@dataclass(frozen=True)
class Token:
    char: str
    prob: float  # the probability the model gave this character
    top: tuple[tuple[str, float], ...]  # the most likely next characters before this one was drawn


class Generator:
    """Holds a model's recurrent state between calls, so text can be continued where it stopped."""

    def __init__(self, model: CharRNN, vocab: Vocab, top_n: int = 5) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.top_n = min(top_n, len(vocab))
        self.device = next(model.parameters()).device
        self.reset()

    def reset(self) -> None:
        self.state: State | None = None
        self.logits: torch.Tensor | None = None
        self.text = ""

    @torch.no_grad()
    def feed(self, text: str) -> None:
        """Advance the state over `text` in one pass (the prime, or user text typed mid-stream)."""
        if not text:
            return
        ids = torch.tensor([self.vocab.encode(text)], device=self.device)
        logits, self.state = self.model(ids, self.state)
        self.logits = logits[0, -1]
        self.text += text

    @torch.no_grad()
    def _step(self, idx: int) -> None:
        x = torch.tensor([[idx]], device=self.device)
        logits, self.state = self.model(x, self.state)
        self.logits = logits[0, -1]

    @torch.no_grad()
    def sample(
        self, length: int, temperature: float = 1.0, top_k: int = 0, seed: int | None = None
    ) -> Iterator[Token]:
        """Yield `length` characters. temperature 0 is argmax (the tutorial's way); top_k > 0 keeps only
        the k most likely characters. Stop early by no longer iterating: the state stays consistent."""
        if self.logits is None:
            raise ValueError("feed a prime before sampling")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        chars = self.vocab.chars
        for _ in range(length):
            logits = self.logits.float().cpu()
            probs = torch.softmax(logits, -1)
            top_p, top_i = probs.topk(self.top_n)
            if temperature <= 0:
                idx = int(top_i[0])
            else:
                scaled = logits / temperature
                if 0 < top_k < len(chars):
                    kth = scaled.topk(top_k).values[-1]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                idx = int(torch.multinomial(torch.softmax(scaled, -1), 1, generator=gen))
            top = tuple(zip((chars[i] for i in top_i.tolist()), top_p.tolist(), strict=True))
            token = Token(chars[idx], float(probs[idx]), top)
            self._step(idx)
            self.text += token.char
            yield token
