"""What a front end is asked to do: the command line parses into one of these typed requests, and the
headless runner or the app takes it. Torch-free and Textual-free, so both front ends can import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainRequest:
    """`--train-only`: `overrides` are TrainConfig fields the user set (None: the preset's); `encoding` None
    means "as the run recorded it" on resume, UTF-8 otherwise; `ignored_on_resume` are the flags a resumed
    run does not take (it keeps its own settings), to say so."""

    corpus: str | None = None
    encoding: str | None = None
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    resume: bool = False
    ignored_on_resume: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerateRequest:
    """`--generate-only`: `prime` None means the corpus's opening line."""

    run_dir: Path
    prime: str | None = None
    length: int = 500
    temperature: float = 0.8
    top_k: int = 0
    seed: int | None = None
    stats: bool = False
    int8: bool = False
    num_samples: int = 1  # continuations of the one prime, stepped together
    weights: str | None = None  # "best" or "last"; None: the ones the run ends on


@dataclass(frozen=True)
class AppRequest:
    """The app, optionally on a corpus and settings, or continuing the run in `run_dir` (`resume`)."""

    corpus: str | None = None
    encoding: str | None = None
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    resume: bool = False


@dataclass(frozen=True)
class ListCorporaRequest:
    pass


@dataclass(frozen=True)
class BaselineRequest:
    """`--baseline`: the Kneser-Ney n-gram table on `corpus`'s validation split (`val_fraction` None: the
    default preset's)."""

    corpus: str | None = None
    encoding: str | None = None
    val_fraction: float | None = None


Request = TrainRequest | GenerateRequest | AppRequest | ListCorporaRequest | BaselineRequest
