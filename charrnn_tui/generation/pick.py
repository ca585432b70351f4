"""The choice of the next character from the logits, and the random draws it inverts.

`pick` is the one token choice: the one-row and the many-row paths of `Generator` both call it, so a
row with seed s writes what batch 1 writes with seed s.

Every draw comes from a torch.Generator of generation's own (`own_generator`), never from torch's global one:
the trainer's dropout draws from that, so a draw taken from it while a run trains would change the run (the
same seed must give the same run bit for bit, whatever the user generates meanwhile).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import torch

# Below this temperature sampling is argmax: logits / temperature would overflow float32 (1e-40 gives inf,
# and softmax of inf is NaN), and long before that the distribution is one-hot (odds e^-100 at a gap of 0.01).
MIN_TEMPERATURE = 1e-4


class Choice(NamedTuple):
    """One step's choice for every row.

    ids: (rows, 1) int64, the chosen characters; probs: (rows, vocab) float32, softmax at temperature 1;
    top_p, top_i: (rows, top_n) the likeliest characters' probabilities and ids, None when top_n is 0.
    """

    ids: torch.Tensor
    probs: torch.Tensor
    top_p: torch.Tensor | None
    top_i: torch.Tensor | None


def pick(
    logits: torch.Tensor,
    temps: torch.Tensor,
    uniforms: torch.Tensor | None,
    greedy: torch.Tensor | None = None,
    top_k: int = 0,
    top_n: int = 0,
) -> Choice:
    """Choose one character per row; pure: the same arguments give the same Choice.

    logits: (rows, vocab) float32 on the CPU. temps: (rows, 1) float32, > 0; a greedy row holds 1.
    uniforms: (rows, 1) draws in (0, 1] (`uniform`, `RowDraws`), or None when every row is greedy
    (argmax, no draw). greedy: (rows, 1) bool, the greedy rows where only some are, else None.
    top_k > 0 and below vocab keeps each row's k likeliest characters; top_n: candidates to list.
    """
    probs = torch.softmax(logits, -1)
    top_p = top_i = None
    if top_n:
        top_p, top_i = probs.topk(top_n, -1)
    if uniforms is None:
        return Choice(_argmax(probs, top_i), probs, top_p, top_i)
    # Greedy rows divide by 1 and search at u = 1, then take the argmax instead: one op per step for all rows.
    scaled = logits / temps
    if 0 < top_k < logits.shape[-1]:
        kth = scaled.topk(top_k, -1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    cdf = torch.softmax(scaled, -1).cumsum_(-1)
    ids = torch.searchsorted(cdf, uniforms.mul(cdf[:, -1:]))
    if greedy is not None:
        ids = torch.where(greedy, _argmax(probs, top_i), ids)
    return Choice(ids, probs, top_p, top_i)


def _argmax(probs: torch.Tensor, top_i: torch.Tensor | None) -> torch.Tensor:
    # topk already ranked the likeliest: its first id is the argmax, ties broken the same way as before.
    return top_i[:, :1] if top_i is not None else probs.argmax(-1, keepdim=True)


class RowDraws:
    """Each row's uniforms in (0, 1], from the row's own generator, as `uniform` draws them, taken from
    the generators in blocks: `next()` is the (rows, 1) draws of one step, 1 for rows that do not draw.

    A block of n draws from a CPU generator is the same numbers as n single draws (tested), so row i
    draws what batch 1 draws with its seed; one call per row per BLOCK steps instead of one per step.
    """

    BLOCK = 256

    def __init__(self, seeds: Sequence[int | None], skip: Sequence[bool]) -> None:
        """seeds: one per row, None for a fresh one (`own_generator`); skip: the rows that never draw."""
        self.gens = [own_generator(s) for s in seeds]
        self.skip = skip
        self.at = self.BLOCK

    def next(self) -> torch.Tensor:
        if self.at == self.BLOCK:
            self.block = torch.ones(self.BLOCK, len(self.gens), 1)  # new, so that earlier steps' rows stay put
            for r, (gen, skip) in enumerate(zip(self.gens, self.skip, strict=True)):
                if not skip:
                    self.block[:, r, 0] = torch.rand(self.BLOCK, generator=gen).neg_().add_(1)
            self.at = 0
        self.at += 1
        return self.block[self.at - 1]


SEED_BITS = 63  # settings.SEED_MAX: the seeds a user may type, so a fresh one is one of those


def fresh_seed() -> int:
    """A seed from the system's entropy (os.urandom), 0 to 2**63 - 1: a different one every call."""
    return int.from_bytes(os.urandom(8), "little") >> (64 - SEED_BITS)


def own_generator(seed: int | None) -> torch.Generator:
    """A CPU torch.Generator for one stream of draws, seeded with `seed` (0 to 2**63 - 1), or with a fresh
    seed when it is None: never torch's global generator, which the trainer's dropout draws from."""
    return torch.Generator().manual_seed(fresh_seed() if seed is None else seed)


def uniform(gen: torch.Generator) -> torch.Tensor:
    """One draw in (0, 1], shape (1,).

    A character is drawn by inverting the cumulative distribution at it: the first index whose cumulative
    probability reaches u x total. u > 0 never lands on a character of probability 0 (top-k's cut), and
    u x total <= total never runs past the end. One draw costs a few us where torch.multinomial draws one
    exponential per vocabulary entry (~20 us a call here).
    """
    return torch.rand(1, generator=gen).neg_().add_(1)
