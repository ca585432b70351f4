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

from charrnn_tui import runfolder
from charrnn_tui.config import TrainConfig
from charrnn_tui.errors import CharRNNError
from charrnn_tui.model import CharRNN
from charrnn_tui.vocab import Vocab

FORMAT = "charrnn-tui"
VERSION = 1
CHECKPOINT_NAME = runfolder.CHECKPOINT_NAME


def save(path: Path, payload: dict[str, Any]) -> None:
    payload = {"format": FORMAT, "version": VERSION, **payload}
    # Serialise in memory first: torch.save reports a failed write (a full disk) as an opaque RuntimeError,
    # while a plain file write says what went wrong.
    buf = io.BytesIO()
    torch.save(payload, buf)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        runfolder.atomic_write(path, lambda f: f.write(buf.getbuffer()))
    except OSError as e:
        raise runfolder.disk_error(path, e) from None


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint; every way it can be bad becomes a CharRNNError."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise CharRNNError(f"no checkpoint at {path}; train first, or check --run-dir")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on odd pickle protocols are noise for users
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only names the global it refused to import: that is a file that asked to run code.
        # Anything else it chokes on is damage (random or flipped bytes).
        if "GLOBAL" in str(e):
            raise CharRNNError(
                f"{path} holds objects other than weights and was refused unopened (it could run code); "
                "only load checkpoints written by charrnn-tui"
            ) from None
        raise _corrupt(path, e) from None
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
    ) as e:
        raise _corrupt(path, e) from None
    return validate(ckpt, path)


def _corrupt(path: Path, e: BaseException) -> CharRNNError:
    if isinstance(e, PermissionError):
        return CharRNNError(f"cannot read {path}: permission denied")
    return CharRNNError(f"{path} is corrupt or truncated ({type(e).__name__}); use an earlier copy or train again")


def validate(ckpt: Any, path: Path) -> dict[str, Any]:
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CharRNNError(f"{path} is not a charrnn-tui checkpoint")
    version = ckpt.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CharRNNError(f"{path} is damaged: its format version {version!r} is not a version")
    if version > VERSION:
        raise CharRNNError(f"{path} was written by a newer charrnn-tui (format {version}); upgrade charrnn-tui")
    for key, kind in (("model", dict), ("vocab", str), ("config", dict), ("step", int)):
        if not isinstance(ckpt.get(key), kind):
            raise CharRNNError(f"{path} is damaged: its {key!r} entry is missing or malformed")
    if ckpt["step"] < 0:
        raise CharRNNError(f"{path} is damaged: its step is negative")
    chars = ckpt["vocab"]
    if not chars or len(set(chars)) != len(chars):
        raise CharRNNError(f"{path} is damaged: its vocabulary is empty or repeats characters")
    try:
        config = TrainConfig.from_dict(ckpt["config"])
        config.validate()
    except (TypeError, ValueError, CharRNNError) as e:
        raise CharRNNError(f"{path} is damaged: bad settings ({e})") from None
    for key in ("model", "eval_model", "best_weights"):
        if key in ckpt and not isinstance(ckpt[key], dict):
            raise CharRNNError(f"{path} is damaged: its {key!r} entry is malformed")
        if key in ckpt:
            _check_weights(ckpt[key], chars, config, path)
    model = CharRNN.from_config(len(chars), config)
    try:
        model.load_state_dict(generation_weights(ckpt))
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CharRNNError(f"{path} does not match its own settings: {first}") from None
    ckpt["config_obj"] = config
    ckpt["model_obj"] = model
    ckpt["vocab_obj"] = Vocab(chars)
    return ckpt


def generation_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a run ended on: the best evaluation's when keep_best went back to them (`kept_step`), else
    the evaluated ones (the running average when the run kept one), else the trained ones."""
    if ckpt.get("kept_step") is not None and isinstance(ckpt.get("best_weights"), dict):
        return ckpt["best_weights"]
    return ckpt.get("eval_model") or ckpt["model"]


def _check_weights(weights: dict, chars: str, config: TrainConfig, path: Path) -> None:
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise CharRNNError(f"{path} is damaged: its weights are not all tensors")
    # Compare shapes on a weightless model first: settings that claim a huge model must not allocate it.
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in CharRNN.from_config(len(chars), config).state_dict().items()}
    except (RuntimeError, TypeError, ValueError) as e:
        raise CharRNNError(f"{path} is damaged: bad settings ({type(e).__name__}: {e})") from None
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if found != expected:
        diff = sorted(set(found) ^ set(expected)) or [k for k in expected if found[k] != expected[k]]
        raise CharRNNError(
            f"{path} does not match its own settings (vocabulary {len(chars)}, {config.cell} "
            f"{config.n_layers}x{config.hidden}): wrong or missing weights {', '.join(diff[:3])}"
        )
    if not all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point()):
        raise CharRNNError(f"{path} is damaged: its weights hold NaN or infinite values")


def load_model(path: str | Path) -> tuple[CharRNN, Vocab, dict[str, Any]]:
    """The model (eval mode, on CPU), its vocabulary and the checkpoint's metadata."""
    ckpt = load(path)
    model = ckpt["model_obj"].eval()
    return model, ckpt["vocab_obj"], ckpt
