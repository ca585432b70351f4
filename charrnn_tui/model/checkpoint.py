"""Checkpoints: written atomically, read without unpickling code, validated before use.

A checkpoint is a plain dict of tensors and primitives, so `torch.load(weights_only=True)` can read
it and a crafted pickle that would run code is refused.
"""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.model.checkpoint_checks import (
    FORMAT,
    MAX_ENTRIES,
    VERSION,
    check_archive,
    check_best_entries,
    check_header,
    check_required,
    check_settings,
    check_weights,
    copy_tensors,
    corrupt,
    drop_malformed_optional,
    resume_problem,
    runs_code,
    tensor_budget,
)
from charrnn_tui.runs.folder import CHECKPOINT_NAME, atomic_write, disk_error
from charrnn_tui.runs.records import checkpoint_file
from charrnn_tui.text.vocab import Vocab

CHECKPOINT_NAME = CHECKPOINT_NAME
# Re-exported: the format, the bounds and the budget of what a checkpoint may hold are checkpoint_checks.py's.
__all__ = ["CHECKPOINT_NAME", "FORMAT", "MAX_ENTRIES", "VERSION", "TrainConfig", "generation_weights", "load",
           "load_model", "save", "serialise", "tensor_budget", "validate", "weights_of"]  # fmt: skip


def serialise(payload: dict[str, Any]) -> memoryview:
    """The checkpoint file's bytes for `payload` (format and version added), made in memory: torch.save reports a
    failed write (a full disk) as an opaque RuntimeError, while a plain file write says what went wrong."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buf)
    return buf.getbuffer()


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` as a checkpoint at `path`, atomically (runs/folder.atomic_write). Raises DiskError. A run's
    own checkpoint is written with its record instead (runs/records.write_checkpoint)."""
    data = serialise(payload)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(data))
    except OSError as e:
        raise disk_error(path, e) from None


def load(path: str | Path, resuming: bool = False) -> dict[str, Any]:
    """Read and validate a checkpoint; every way it can be bad becomes a CharRNNError. With `resuming`, the
    training state is checked against the settings too (checkpoint_checks.resume_problem): the result's
    `resume_problem` says why training cannot continue from it (None: it can), while generation still may.

    Bounded cost: the zip's directory is checked before torch reads it (at most MAX_ENTRIES entries, all
    stored uncompressed as torch writes them, a pickle of at most MAX_PICKLE_BYTES), tensors are mapped
    rather than read (torch.load mmap=True) until the settings are validated (caps in config.py) and the
    storage the tensors claim is within tensor_budget() of those settings; only then is anything copied.
    """
    path = checkpoint_file(path)
    check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on odd pickle protocols are noise for users
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        # weights_only names the global it refused to import: that is a file that asked to run code.
        # Anything else it chokes on is damage (random or flipped bytes).
        if "GLOBAL" in str(e):
            raise runs_code(path) from None
        raise corrupt(path, e) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        UnicodeDecodeError,
        MemoryError,
        OverflowError,
        RecursionError,
    ) as e:
        raise corrupt(path, e) from None
    return validate(ckpt, path, resuming)


def validate(ckpt: Any, path: Path, resuming: bool = False) -> dict[str, Any]:
    """Check a loaded payload entry by entry; returns it with tensors copied out of the file, optional
    entries that are malformed dropped (or set to None), and `config_obj`, `model_obj`, `vocab_obj` added.

    Required entries (format, version, model, vocab, config, step, and eval_model / best_weights /
    best_step when present) that are malformed raise a CharRNNError. With `resuming`, `resume_problem` is set
    (the words of checkpoint_checks.resume_problem, or None), before malformed optional entries are dropped.
    """
    check_header(ckpt, path)
    check_required(ckpt, path)
    chars = ckpt["vocab"]
    config = check_settings(ckpt["config"], chars, path)
    check_best_entries(ckpt, path)
    ckpt = copy_tensors(ckpt, tensor_budget(config, len(chars)), path)
    for key in ("model", "eval_model", "best_weights"):
        if isinstance(ckpt.get(key), dict):
            check_weights(ckpt[key], chars, config, path)
    problem = resume_problem(ckpt, config) if resuming else None
    drop_malformed_optional(ckpt, config)
    ckpt["resume_problem"] = problem
    model = _model_of(ckpt, chars, config, path)
    ckpt["config_obj"] = config
    ckpt["model_obj"] = model
    ckpt["vocab_obj"] = Vocab(chars)
    return ckpt


def _model_of(ckpt: dict[str, Any], chars: str, config: TrainConfig, path: Path) -> CharRNN:
    """The model the checked payload describes, with the weights it generates with."""
    # Made without random initial weights (the load replaces each one): torch's global generator is a training
    # run's, for its dropout, and a model loaded beside it must not draw from it (tests/generation/test_training_rng).
    with torch.device("meta"):
        model = CharRNN.from_config(len(chars), config)
    model = model.to_empty(device="cpu")
    try:
        model.load_state_dict(generation_weights(ckpt))
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CharRNNError(f"{path} does not match its own settings: {first}") from None
    return model


def generation_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a run ended on: the best evaluation's when keep_best went back to them (`kept_step`), else
    the evaluated ones (the running average when the run kept one), else the trained ones."""
    if ckpt.get("kept_step") is not None and isinstance(ckpt.get("best_weights"), dict):
        return ckpt["best_weights"]
    return ckpt.get("eval_model") or ckpt["model"]


def weights_of(ckpt: dict[str, Any], which: str) -> tuple[dict[str, torch.Tensor], int] | None:
    """One of a checked checkpoint's two sets of weights, with its step: "best", the best evaluation's (kept
    with keep_best, of `best_step`); "last", the last step's (the evaluated ones, as generation_weights reads
    them). None when the checkpoint holds no best weights."""
    if which == "last":
        return ckpt.get("eval_model") or ckpt["model"], ckpt["step"]
    best, step = ckpt.get("best_weights"), ckpt.get("best_step")
    return (best, step) if isinstance(best, dict) and step is not None else None


def load_model(path: str | Path) -> tuple[CharRNN, Vocab, dict[str, Any]]:
    """The model (eval mode, on CPU), its vocabulary and the checkpoint's metadata."""
    ckpt = load(path)
    model = ckpt["model_obj"].eval()
    return model, ckpt["vocab_obj"], ckpt
