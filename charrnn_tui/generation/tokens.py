"""What generation yields: a Token per character, its candidates read from tensors only when asked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the TUI paints Tokens without torch loaded
    import torch


class Token:
    """One generated character.

    char: the character; prob: the probability the model gave it (at temperature 1); top: the likeliest
    characters at that step, (character, probability) pairs, likeliest first, () when none were asked for.
    A Token from `Generator.sample_rows` turns its step's candidates into Python objects only when `top`
    is first read (the generation screen reads one per redraw, the CLI none); equal Tokens compare equal.
    """

    __slots__ = ("_row", "_top", "char", "prob")

    def __init__(
        self,
        char: str,
        prob: float,
        top: tuple[tuple[str, float], ...] = (),
        *,
        _rows: RowsTop | None = None,  # sample_rows: the step's candidates, row _row of them read on demand
        _row: int = 0,
    ) -> None:
        self.char, self.prob = char, prob
        self._top, self._row = (top if _rows is None else _rows), _row

    @property
    def top(self) -> tuple[tuple[str, float], ...]:
        if type(self._top) is RowsTop:
            self._top = self._top.row(self._row)
        return self._top

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Token):
            return NotImplemented
        return (self.char, self.prob, self.top) == (other.char, other.prob, other.top)

    def __hash__(self) -> int:
        return hash((self.char, self.prob, self.top))

    def __repr__(self) -> str:
        return f"Token(char={self.char!r}, prob={self.prob!r}, top={self.top!r})"


class RowsTop:
    """One step's candidates for every row, as tensors (rows, top_n), until a Token's `top` asks."""

    __slots__ = ("chars", "ids", "probs")

    def __init__(self, probs: torch.Tensor, ids: torch.Tensor, chars: str | Sequence[str]) -> None:
        self.probs, self.ids, self.chars = probs, ids, chars

    def row(self, r: int) -> tuple[tuple[str, float], ...]:
        chars = self.chars
        return tuple(zip([chars[i] for i in self.ids[r].tolist()], self.probs[r].tolist(), strict=True))
