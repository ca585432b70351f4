"""The character vocabulary: the sorted set of characters of a text, with encoding both ways."""

from __future__ import annotations

from typing import TYPE_CHECKING

from charrnn_tui.core.errors import CharRNNError

if TYPE_CHECKING:
    import torch

# Encoding goes through UTF-32 code points in chunks so that a 100 MB corpus never becomes
# a Python list of ints (about 36 bytes per character).
_CHUNK = 1 << 20


class Vocab:
    def __init__(self, chars: str) -> None:
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def missing(self, text: str) -> list[str]:
        """The characters of `text` that the vocabulary lacks, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    def check(self, text: str) -> None:
        """Raise a CharRNNError naming every character of `text` the model never saw."""
        missing = self.missing(text)
        if missing:
            shown = " ".join(repr(c) for c in missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise CharRNNError(
                f"the model never saw these characters: {shown}{more}; "
                "remove or replace them (the vocabulary comes from the training corpus)"
            )

    def encode(self, text: str) -> list[int]:
        self.check(text)
        return [self.index[c] for c in text]

    def decode(self, ids) -> str:
        chars = self.chars
        return "".join(chars[int(i)] for i in ids)

    def encode_tensor(self, text: str) -> torch.Tensor:
        """Encode a whole corpus into the smallest integer dtype that holds the vocabulary."""
        import torch

        dtype = torch.uint8 if len(self) <= 256 else torch.int32
        table = torch.tensor([ord(c) for c in self.chars], dtype=torch.int64)
        out = torch.empty(len(text), dtype=dtype)
        for start in range(0, len(text), _CHUNK):
            piece = text[start : start + _CHUNK]
            points = torch.frombuffer(bytearray(piece.encode("utf-32-le")), dtype=torch.int32).long()
            ids = torch.searchsorted(table, points).clamp_(max=len(self) - 1)
            # A character outside the vocabulary lands on a neighbour: checking the round trip here is
            # much cheaper than a Python-level pass over a huge text.
            if not torch.equal(table[ids], points):
                self.check(piece)
            out[start : start + len(piece)] = ids.to(dtype)
        return out
