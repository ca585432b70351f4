"""Checkpoints: written atomically, read without unpickling code, validated before use.

A checkpoint is a plain dict of tensors and primitives, so `torch.load(weights_only=True)` can read
it and a crafted pickle that would run code is refused.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import pickletools
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from charrnn_tui.core.config import MAX_COUNT, MAX_PARAMS, TrainConfig, parameter_count
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.runs.folder import CHECKPOINT_NAME, atomic_write, disk_error
from charrnn_tui.runs.records import checkpoint_file
from charrnn_tui.text.vocab import Vocab

FORMAT = "charrnn-tui"
VERSION = 1
CHECKPOINT_NAME = CHECKPOINT_NAME


def save(path: Path, payload: dict[str, Any]) -> None:
    payload = {"format": FORMAT, "version": VERSION, **payload}
    # Serialise in memory first: torch.save reports a failed write (a full disk) as an opaque RuntimeError,
    # while a plain file write says what went wrong.
    buf = io.BytesIO()
    torch.save(payload, buf)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(buf.getbuffer()))
    except OSError as e:
        raise disk_error(path, e) from None


# Bounds on what a checkpoint may make the loader read and allocate. A file written by save() holds one
# zip entry per tensor storage (a few hundred for the largest model allowed), all stored uncompressed,
# and a pickle of a few kilobytes plus the vocabulary (at most 0x110000 characters, 4 bytes each in UTF-8).
MAX_ENTRIES = 10_000
MAX_PICKLE_BYTES = 16 << 20
MAX_VOCAB = 0x110000  # every Unicode code point
MAX_NESTING = 32  # a payload nests 4 deep (optimizer -> state -> index -> moment)
# Tensor bytes allowed: per value the settings imply (weights of the model, eval and best copies, Adam's
# two moments and one spare; the carried state), 8 bytes (fp64 at most), plus room for the random states.
WEIGHT_SETS = 6
BYTES_PER_VALUE = 8
SLACK_BYTES = 16 << 20
_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD", "EXT1", "EXT2",
                 "EXT4", "PERSID", "BINPERSID"}  # fmt: skip


def tensor_budget(config: TrainConfig, vocab_size: int) -> int:
    """The most bytes of tensor storage a checkpoint with these (validated) settings may hold: WEIGHT_SETS
    copies of the parameters and the carried recurrent state, BYTES_PER_VALUE each, plus SLACK_BYTES."""
    carry = 2 * config.n_layers * config.batch_size * config.hidden
    return BYTES_PER_VALUE * (WEIGHT_SETS * parameter_count(config, vocab_size) + carry) + SLACK_BYTES


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint; every way it can be bad becomes a CharRNNError.

    Bounded cost: the zip's directory is checked before torch reads it (at most MAX_ENTRIES entries, all
    stored uncompressed as torch writes them, a pickle of at most MAX_PICKLE_BYTES), tensors are mapped
    rather than read (torch.load mmap=True) until the settings are validated (caps in config.py) and the
    storage the tensors claim is within tensor_budget() of those settings; only then is anything copied.
    """
    path = checkpoint_file(path)
    _check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on odd pickle protocols are noise for users
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        # weights_only names the global it refused to import: that is a file that asked to run code.
        # Anything else it chokes on is damage (random or flipped bytes).
        if "GLOBAL" in str(e):
            raise _runs_code(path) from None
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
        OverflowError,
        RecursionError,
    ) as e:
        raise _corrupt(path, e) from None
    return validate(ckpt, path)


def _runs_code(path: Path) -> CharRNNError:
    return CharRNNError(
        f"{path} holds objects other than weights and was refused unopened (it could run code); "
        "only load checkpoints written by charrnn-tui"
    )


def _check_archive(path: Path) -> None:
    """Refuse, from the zip's directory alone, a file that would make torch.load read or inflate much."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # the end record only: its entry count comes before any entry is read
            if end is None:
                _check_bare_pickle(path, f)
                raise CharRNNError(f"{path} is not a charrnn-tui checkpoint (not a zip archive)")
            if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_ENTRIES:
                raise CharRNNError(f"{path} is not a charrnn-tui checkpoint: it has more than {MAX_ENTRIES} entries")
            infos = zipfile.ZipFile(f).infolist()
    except CharRNNError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error, UnicodeDecodeError) as e:
        raise _corrupt(path, e) from None
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            # torch.save stores every entry as it is; a deflated one could inflate to any size.
            raise CharRNNError(f"{path} is not a charrnn-tui checkpoint: it holds compressed entries")
        if info.filename.endswith("data.pkl") and info.file_size > MAX_PICKLE_BYTES:
            raise CharRNNError(
                f"{path} is not a charrnn-tui checkpoint: its pickle is over {MAX_PICKLE_BYTES >> 20} MB"
            )
        total += info.file_size
    if len(infos) > MAX_ENTRIES or total > size:
        raise _corrupt(path, ValueError("entry sizes"))


def _check_bare_pickle(path: Path, f) -> None:
    """A file that is not a zip is never ours; say whether it is a pickle that would import code."""
    f.seek(0)
    data = f.read(1 << 20)
    out = io.StringIO()
    try:
        pickletools.dis(data, out=out)  # parses without running anything; raises on damage
    except Exception as e:  # noqa: BLE001 - any parse failure of unknown bytes is damage
        raise _corrupt(path, e) from None
    if any(op.name in _CODE_OPCODES for op, _, _ in pickletools.genops(data)):
        raise _runs_code(path)


def _corrupt(path: Path, e: BaseException) -> CharRNNError:
    if isinstance(e, PermissionError):
        return CharRNNError(f"cannot read {path}: permission denied")
    return CharRNNError(f"{path} is corrupt or truncated ({type(e).__name__}); use an earlier copy or train again")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate(ckpt: Any, path: Path) -> dict[str, Any]:
    """Check a loaded payload entry by entry; returns it with tensors copied out of the file, optional
    entries that are malformed dropped (or set to None), and `config_obj`, `model_obj`, `vocab_obj` added.

    Required entries (format, version, model, vocab, config, step, and eval_model / best_weights /
    best_step when present) that are malformed raise a CharRNNError.
    """
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CharRNNError(f"{path} is not a charrnn-tui checkpoint")
    version = ckpt.get("version")
    if not _is_int(version) or version < 1:
        raise CharRNNError(f"{path} is damaged: its format version {version!r} is not a version")
    if version > VERSION:
        raise CharRNNError(f"{path} was written by a newer charrnn-tui (format {version}); upgrade charrnn-tui")
    for key, kind in (("model", dict), ("vocab", str), ("config", dict), ("step", int)):
        if not isinstance(ckpt.get(key), kind) or isinstance(ckpt.get(key), bool):
            raise CharRNNError(f"{path} is damaged: its {key!r} entry is missing or malformed")
    if not 0 <= ckpt["step"] <= MAX_COUNT:
        raise CharRNNError(f"{path} is damaged: its step {ckpt['step']} is out of range")
    chars = ckpt["vocab"]
    if not chars or len(chars) > MAX_VOCAB or len(set(chars)) != len(chars):
        raise CharRNNError(f"{path} is damaged: its vocabulary is empty or repeats characters")
    try:
        config = TrainConfig.from_dict(ckpt["config"])
        config.validate()
    except (TypeError, ValueError, CharRNNError) as e:
        raise CharRNNError(f"{path} is damaged: bad settings ({e})") from None
    n_params = parameter_count(config, len(chars))
    if n_params > MAX_PARAMS:
        raise CharRNNError(
            f"{path} is damaged: bad settings (a model of {n_params:,} parameters for its vocabulary of "
            f"{len(chars):,}; at most {MAX_PARAMS:,} are allowed)"
        )
    for key in ("eval_model", "best_weights"):
        if key in ckpt and not isinstance(ckpt[key], dict) and not (key == "best_weights" and ckpt[key] is None):
            raise CharRNNError(f"{path} is damaged: its {key!r} entry is malformed")
    best_step = ckpt.get("best_step")
    if best_step is not None and (not _is_int(best_step) or not 0 <= best_step <= ckpt["step"]):
        raise CharRNNError(f"{path} is damaged: its 'best_step' entry is malformed")
    ckpt = _copy_tensors(ckpt, tensor_budget(config, len(chars)), path)
    for key in ("model", "eval_model", "best_weights"):
        if isinstance(ckpt.get(key), dict):
            _check_weights(ckpt[key], chars, config, path)
    _drop_malformed_optional(ckpt, config)
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


def _copy_tensors(ckpt: dict, budget: int, path: Path) -> dict:
    """The payload with every tensor copied into memory of its own, after checking, without reading any of
    them, that the storage they claim fits `budget` bytes: each tensor a plain dense CPU tensor that lies
    in its storage without gaps or repeats (no stride-0 `expand` views, no overlapping views), the storages
    together at most `budget` bytes. Containers nest at most MAX_NESTING deep."""
    tensors: list[torch.Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(ckpt, 0)]
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, torch.Tensor):
            tensors.append(obj)
        elif isinstance(obj, dict | list | tuple):
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if depth >= MAX_NESTING:
                raise CharRNNError(f"{path} is damaged: its entries nest more than {MAX_NESTING} deep")
            items = [*obj.keys(), *obj.values()] if isinstance(obj, dict) else obj
            stack.extend((x, depth + 1) for x in items)
    storages: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for t in tensors:
        if type(t) not in (torch.Tensor, torch.nn.Parameter) or t.layout != torch.strided or t.is_quantized:
            raise CharRNNError(f"{path} is damaged: it holds a {type(t).__name__} that is not a plain tensor")
        if t.device.type != "cpu" or not t.is_contiguous():
            raise CharRNNError(
                f"{path} is damaged: a tensor of shape {tuple(t.shape)} claims more values than it stores "
                "(a strided or expanded view)"
            )
        st = t.untyped_storage()
        start = t.storage_offset() * t.element_size()
        storages.setdefault((st.data_ptr(), st.nbytes()), []).append((start, start + t.numel() * t.element_size()))
    total = 0
    for (_, nbytes), spans in storages.items():
        total += nbytes
        last_end = 0
        for start, end in sorted(set(spans)):  # one tensor saved twice is one span
            if start < last_end:
                raise CharRNNError(f"{path} is damaged: its tensors overlap in storage")
            last_end = end
    if total > budget:
        raise CharRNNError(
            f"{path} is damaged: it holds {total:,} bytes of tensors, more than its settings need "
            f"(at most {budget:,}); it was not written by charrnn-tui"
        )
    copies: dict[int, Any] = {}

    def copy(obj: Any) -> Any:
        if id(obj) in copies:
            return copies[id(obj)]
        if isinstance(obj, torch.Tensor):
            out = obj.detach().clone()
        elif isinstance(obj, dict):
            out = type(obj)() if type(obj) in (dict, collections.OrderedDict) else {}
            copies[id(obj)] = out
            for k, v in obj.items():
                out[copy(k)] = copy(v)
            return out
        elif isinstance(obj, list):
            out = []
            copies[id(obj)] = out
            out.extend(copy(x) for x in obj)
            return out
        elif isinstance(obj, tuple):
            out = tuple(copy(x) for x in obj)
        else:
            return obj
        copies[id(obj)] = out
        return out

    try:
        return copy(ckpt)
    except (RuntimeError, OSError, TypeError) as e:  # a storage whose bytes lie past the end of the file
        raise _corrupt(path, e) from None


def _drop_malformed_optional(ckpt: dict, config: TrainConfig) -> None:
    """Optional entries of the wrong kind are ignored rather than trusted: a malformed training state
    (optimizer, random states, batch position, carried state) is dropped, so that resuming says it is
    damaged while generating still works; malformed metadata is dropped or set to None."""
    corpus = ckpt.get("corpus")
    ckpt["corpus"] = (
        {k: v for k, v in corpus.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(corpus, dict)
        else {}
    )
    for key in ("best_val_loss", "last_val_loss"):
        if not _is_real(ckpt.get(key)):
            ckpt[key] = None
    kept = ckpt.get("kept_step")
    if kept is not None and not (
        _is_int(kept) and 0 <= kept <= ckpt["step"] and isinstance(ckpt.get("best_weights"), dict)
    ):
        ckpt["kept_step"] = None  # without its weights, the run ends on the evaluated ones
    checks = {
        "elapsed_s": lambda v: _is_real(v) and v >= 0,
        "world_size": lambda v: _is_int(v) and v >= 1,
        "evals_since_best": lambda v: _is_int(v) and 0 <= v <= MAX_COUNT,
        "evaluation": lambda v: _is_int(v) and 1 <= v <= MAX_COUNT,
        "rng_torch": _is_byte_state,
        "rng_data": _is_byte_state,
        "rng_cuda": _is_byte_state,
        "batches": lambda v: (
            isinstance(v, dict) and all(isinstance(k, str) and _is_int(x) and 0 <= x <= MAX_COUNT for k, x in v.items())
        ),
        "carry": lambda v: (
            isinstance(v, list | tuple)
            and len(v) <= 2
            and all(
                isinstance(t, torch.Tensor)
                and t.is_floating_point()
                and t.dim() == 3
                and t.shape[0] == config.n_layers
                and t.shape[2] == config.hidden
                for t in v
            )
        ),
        "optimizer": lambda v: _is_adam_state(v, ckpt["model"]),
    }
    for key, ok in checks.items():
        if key in ckpt and not ok(ckpt[key]):
            del ckpt[key]


def generation_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a run ended on: the best evaluation's when keep_best went back to them (`kept_step`), else
    the evaluated ones (the running average when the run kept one), else the trained ones."""
    if ckpt.get("kept_step") is not None and isinstance(ckpt.get("best_weights"), dict):
        return ckpt["best_weights"]
    return ckpt.get("eval_model") or ckpt["model"]


def _is_byte_state(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1


def _is_adam_state(opt: Any, weights: dict) -> bool:
    """Whether `opt` is an optimizer state_dict for parameters shaped like `weights` (in order)."""
    if (
        not isinstance(opt, dict)
        or not isinstance(opt.get("state"), dict)
        or not isinstance(opt.get("param_groups"), list)
    ):
        return False
    shapes = [tuple(v.shape) for v in weights.values()]
    ids = []
    for group in opt["param_groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            return False
        ids.extend(group["params"])
    if sorted(i for i in ids if _is_int(i)) != list(range(len(shapes))) or len(ids) != len(shapes):
        return False
    for i, state in opt["state"].items():
        if not _is_int(i) or not 0 <= i < len(shapes) or not isinstance(state, dict):
            return False
        for name, t in state.items():
            if not isinstance(t, torch.Tensor):
                return False
            if name == "step":
                if t.numel() != 1:
                    return False
            elif tuple(t.shape) != shapes[i]:
                return False
    return True


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
    if not all(v.is_floating_point() for v in weights.values()):
        raise CharRNNError(f"{path} is damaged: its weights are not floating-point numbers")
    if not all(torch.isfinite(v).all() for v in weights.values()):
        raise CharRNNError(f"{path} is damaged: its weights hold NaN or infinite values")


def load_model(path: str | Path) -> tuple[CharRNN, Vocab, dict[str, Any]]:
    """The model (eval mode, on CPU), its vocabulary and the checkpoint's metadata."""
    ckpt = load(path)
    model = ckpt["model_obj"].eval()
    return model, ckpt["vocab_obj"], ckpt
