"""Generation settings and the default prime: checked before torch is imported, the same for the CLI
and the app's fields.

Torch-free: `--generate-only --temperature nan` must be refused at once, and the app checks what is
typed into its fields with this same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from charrnn_tui.core.errors import CharRNNError

# Caps, each with its reason:
MAX_LENGTH = 1_000_000_000  # characters per --generate-only call; streamed, so only time bounds it
MAX_TEMPERATURE = 100.0  # past ~10 every character is about equally likely; beyond 100 is a typo
MAX_TOP_K = 0x110000  # the number of Unicode code points: no vocabulary can have more characters
SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes 64-bit seeds; the trainer adds rank and step to it
FALLBACK_PRIME = "\n"


MAX_SAMPLES = 8  # continuations stepped together: --num-samples and the app's columns (generate.MAX_ROWS)


@dataclass(frozen=True)
class GenerationSettings:
    """length: characters to generate; temperature: divides the logits (0 is argmax); top_k: sample from
    the k likeliest characters (0 keeps all); seed: for torch.Generator, None draws a fresh one."""

    length: int = 500
    temperature: float = 0.8
    top_k: int = 0
    seed: int | None = None

    @classmethod
    def parse(cls, length: str, temperature: str, top_k: str, seed: int | None = None) -> GenerationSettings:
        """From text fields (empty means 0); raises a CharRNNError naming the field that is not a number."""
        values = []
        for name, text, kind in (("length", length, int), ("temperature", temperature, float), ("top-k", top_k, int)):
            text = text.strip() or "0"
            try:
                values.append(kind(text))
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise CharRNNError(f"{name} must be {what} (got {text!r})") from None
        return cls(values[0], values[1], values[2], seed)

    def validate(self, min_length: int = 0, max_length: int = MAX_LENGTH, flags: bool = False) -> GenerationSettings:
        """Raise a CharRNNError listing every setting that cannot work (named as command-line flags when
        `flags`); returns self. NaN and infinity are refused; every count must be a whole number."""
        p = "--" if flags else ""
        problems = []

        def whole(name: str, value: object, low: int, high: int, low_rule: str) -> None:
            if not _is_int(value):
                problems.append(f"{p}{name} must be a whole number (got {value})")
            elif not low <= value <= high:
                problems.append(f"{p}{name} must be {low_rule}, up to {high:,} (got {value})")

        whole("length", self.length, min_length, max_length, f"{min_length} or more")
        t = self.temperature
        if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
            problems.append(f"{p}temperature must be a finite number (got {t})")
        elif not 0 <= t <= MAX_TEMPERATURE:
            problems.append(f"{p}temperature must be 0 (argmax) or more, up to {MAX_TEMPERATURE:g} (got {t:g})")
        whole("top-k", self.top_k, 0, MAX_TOP_K, "0 (all) or more")
        if self.seed is not None:
            whole("seed", self.seed, 0, SEED_MAX, "0 or more")
        if problems:
            raise CharRNNError("; ".join(problems))
        return self


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def default_prime(head: str, vocab_chars: str) -> str:
    """The prime used when none is given: the corpus's first line (with its newline), as the tutorial
    started from the corpus's opening.

    Only characters the model knows are used: a first line holding others is cut before the first
    unknown character; when nothing is left, the first of "\\n", " " or the vocabulary's first
    character that the model knows. Never empty when `vocab_chars` is not.
    """
    known = set(vocab_chars)
    first, newline, _ = head.partition("\n")
    cut = next((i for i, ch in enumerate(first) if ch not in known), len(first))
    usable = first[:cut]
    if usable and usable == first and newline and "\n" in known:
        return usable + "\n"
    if usable:
        return usable
    for ch in (FALLBACK_PRIME, " "):
        if ch in known:
            return ch
    return vocab_chars[:1] or FALLBACK_PRIME
