"""The checks on a checkpoint file, which may come from anywhere: its zip directory before torch reads it, then
the payload torch.load mapped (header, required entries, settings, the storage its tensors claim), then the
weights and the optional entries. Each way a file can be bad is a CharRNNError that says so."""

from __future__ import annotations

import collections
import io
import math
import pickletools
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from charrnn_tui.core.config import MAX_COUNT, MAX_PARAMS, TrainConfig, parameter_count
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.charrnn import CharRNN

FORMAT = "charrnn-tui"
VERSION = 1

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


def runs_code(path: Path) -> CharRNNError:
    return CharRNNError(
        f"{path} holds objects other than weights and was refused unopened (it could run code); "
        "only load checkpoints written by charrnn-tui"
    )


def check_archive(path: Path) -> None:
    """Refuse, from the zip's directory alone, a file that would make torch.load read or inflate much."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # the end record only: its entry count comes before any entry is read
            if end is None:
                check_bare_pickle(path, f)
                raise CharRNNError(f"{path} is not a charrnn-tui checkpoint (not a zip archive)")
            if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_ENTRIES:
                raise CharRNNError(f"{path} is not a charrnn-tui checkpoint: it has more than {MAX_ENTRIES} entries")
            infos = zipfile.ZipFile(f).infolist()
    except CharRNNError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error, UnicodeDecodeError) as e:
        raise corrupt(path, e) from None
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
        raise corrupt(path, ValueError("entry sizes"))


def check_bare_pickle(path: Path, f) -> None:
    """A file that is not a zip is never ours; say whether it is a pickle that would import code."""
    f.seek(0)
    data = f.read(1 << 20)
    out = io.StringIO()
    try:
        pickletools.dis(data, out=out)  # parses without running anything; raises on damage
    except Exception as e:  # noqa: BLE001 - any parse failure of unknown bytes is damage
        raise corrupt(path, e) from None
    if any(op.name in _CODE_OPCODES for op, _, _ in pickletools.genops(data)):
        raise runs_code(path)


def corrupt(path: Path, e: BaseException) -> CharRNNError:
    if isinstance(e, PermissionError):
        return CharRNNError(f"cannot read {path}: permission denied")
    return CharRNNError(f"{path} is corrupt or truncated ({type(e).__name__}); use an earlier copy or train again")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_header(ckpt: Any, path: Path) -> None:
    """A payload of ours: a dict of this format, at a version this charrnn-tui reads."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CharRNNError(f"{path} is not a charrnn-tui checkpoint")
    version = ckpt.get("version")
    if not _is_int(version) or version < 1:
        raise CharRNNError(f"{path} is damaged: its format version {version!r} is not a version")
    if version > VERSION:
        raise CharRNNError(f"{path} was written by a newer charrnn-tui (format {version}); upgrade charrnn-tui")


def check_required(ckpt: dict, path: Path) -> None:
    """The entries every checkpoint has, each of its kind: model, vocab, config and step (in range), the
    vocabulary of distinct characters."""
    for key, kind in (("model", dict), ("vocab", str), ("config", dict), ("step", int)):
        if not isinstance(ckpt.get(key), kind) or isinstance(ckpt.get(key), bool):
            raise CharRNNError(f"{path} is damaged: its {key!r} entry is missing or malformed")
    if not 0 <= ckpt["step"] <= MAX_COUNT:
        raise CharRNNError(f"{path} is damaged: its step {ckpt['step']} is out of range")
    chars = ckpt["vocab"]
    if not chars or len(chars) > MAX_VOCAB or len(set(chars)) != len(chars):
        raise CharRNNError(f"{path} is damaged: its vocabulary is empty or repeats characters")


def check_settings(settings: dict, chars: str, path: Path) -> TrainConfig:
    """The settings as a validated TrainConfig, whose model for the vocabulary `chars` is within MAX_PARAMS."""
    try:
        config = TrainConfig.from_dict(settings)
        config.validate()
    except (TypeError, ValueError, CharRNNError) as e:
        raise CharRNNError(f"{path} is damaged: bad settings ({e})") from None
    n_params = parameter_count(config, len(chars))
    if n_params > MAX_PARAMS:
        raise CharRNNError(
            f"{path} is damaged: bad settings (a model of {n_params:,} parameters for its vocabulary of "
            f"{len(chars):,}; at most {MAX_PARAMS:,} are allowed)"
        )
    return config


def check_best_entries(ckpt: dict, path: Path) -> None:
    """The evaluated and best weights, when present, are dicts (best_weights may be None); best_step, when set,
    a step no later than the checkpoint's."""
    for key in ("eval_model", "best_weights"):
        if key in ckpt and not isinstance(ckpt[key], dict) and not (key == "best_weights" and ckpt[key] is None):
            raise CharRNNError(f"{path} is damaged: its {key!r} entry is malformed")
    best_step = ckpt.get("best_step")
    if best_step is not None and (not _is_int(best_step) or not 0 <= best_step <= ckpt["step"]):
        raise CharRNNError(f"{path} is damaged: its 'best_step' entry is malformed")


def copy_tensors(ckpt: dict, budget: int, path: Path) -> dict:
    """The payload with every tensor copied into memory of its own, after checking, without reading any of
    them, that the storage they claim fits `budget` bytes: each tensor a plain dense CPU tensor that lies
    in its storage without gaps or repeats (no stride-0 `expand` views, no overlapping views), the storages
    together at most `budget` bytes. Containers nest at most MAX_NESTING deep."""
    check_tensor_budget(find_tensors(ckpt, path), budget, path)
    try:
        return _deep_copy(ckpt, {})
    except (RuntimeError, OSError, TypeError) as e:  # a storage whose bytes lie past the end of the file
        raise corrupt(path, e) from None


def find_tensors(ckpt: dict, path: Path) -> list[torch.Tensor]:
    """Every tensor in the payload, keys included, each container walked once; containers nest at most
    MAX_NESTING deep."""
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
    return tensors


def check_tensor_budget(tensors: list[torch.Tensor], budget: int, path: Path) -> None:
    """Each tensor plain and dense in its storage, no two overlapping, the storages together at most `budget`
    bytes; nothing is read."""
    storages: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for t in tensors:
        _check_plain_tensor(t, path)
        st = t.untyped_storage()
        start = t.storage_offset() * t.element_size()
        storages.setdefault((st.data_ptr(), st.nbytes()), []).append((start, start + t.numel() * t.element_size()))
    total = 0
    for (_, nbytes), spans in storages.items():
        total += nbytes
        _check_no_overlap(spans, path)
    if total > budget:
        raise CharRNNError(
            f"{path} is damaged: it holds {total:,} bytes of tensors, more than its settings need "
            f"(at most {budget:,}); it was not written by charrnn-tui"
        )


def _check_plain_tensor(t: torch.Tensor, path: Path) -> None:
    """A plain dense CPU tensor, contiguous: it claims no more values than it stores."""
    if type(t) not in (torch.Tensor, torch.nn.Parameter) or t.layout != torch.strided or t.is_quantized:
        raise CharRNNError(f"{path} is damaged: it holds a {type(t).__name__} that is not a plain tensor")
    if t.device.type != "cpu" or not t.is_contiguous():
        raise CharRNNError(
            f"{path} is damaged: a tensor of shape {tuple(t.shape)} claims more values than it stores "
            "(a strided or expanded view)"
        )


def _check_no_overlap(spans: list[tuple[int, int]], path: Path) -> None:
    """The byte spans of one storage's tensors do not overlap."""
    last_end = 0
    for start, end in sorted(set(spans)):  # one tensor saved twice is one span
        if start < last_end:
            raise CharRNNError(f"{path} is damaged: its tensors overlap in storage")
        last_end = end


def _deep_copy(obj: Any, copies: dict[int, Any]) -> Any:
    """`obj` with its tensors cloned and its containers rebuilt, each once (`copies`, by id, keeps shared and
    cyclic ones shared); other values are kept as they are."""
    if id(obj) in copies:
        return copies[id(obj)]
    if isinstance(obj, torch.Tensor):
        out = obj.detach().clone()
    elif isinstance(obj, dict):
        out = type(obj)() if type(obj) in (dict, collections.OrderedDict) else {}
        copies[id(obj)] = out
        for k, v in obj.items():
            out[_deep_copy(k, copies)] = _deep_copy(v, copies)
        return out
    elif isinstance(obj, list):
        out = []
        copies[id(obj)] = out
        out.extend(_deep_copy(x, copies) for x in obj)
        return out
    elif isinstance(obj, tuple):
        out = tuple(_deep_copy(x, copies) for x in obj)
    else:
        return obj
    copies[id(obj)] = out
    return out


def drop_malformed_optional(ckpt: dict, config: TrainConfig) -> None:
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


def check_weights(weights: dict, chars: str, config: TrainConfig, path: Path) -> None:
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
        raise CharRNNError(
            f"{path} does not match its own settings (vocabulary {len(chars)}, {config.cell} {config.n_layers}x"
            f"{config.hidden}): wrong or missing weights {_weights_difference(found, expected)}; it was edited or put "
            "together from two runs, so use the run's own checkpoint (or an earlier copy of it), or train again"
        )
    if not all(v.is_floating_point() for v in weights.values()):
        raise CharRNNError(f"{path} is damaged: its weights are not floating-point numbers")
    if not all(torch.isfinite(v).all() for v in weights.values()):
        raise CharRNNError(f"{path} is damaged: its weights hold NaN or infinite values")


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def _weights_difference(found: dict[str, tuple], expected: dict[str, tuple]) -> str:
    """The first three differences between the weight shapes a file holds and those its settings need, in words:
    "rnn.weight_ih_l0 (256x64 where they need 512x64), head.bias (missing)"."""
    words = [f"{k} ({_dims(found[k])} where they need {_dims(v)})" if k in found else f"{k} (missing)"
             for k, v in expected.items() if found.get(k) != v]  # fmt: skip
    words += [f"{k} (not in this model)" for k in found if k not in expected]
    return ", ".join(words[:3])


def resume_problem(ckpt: dict, config: TrainConfig) -> str | None:
    """Why this checkpoint's training state (optimizer, carried recurrent state, random states) cannot continue
    training with its settings `config`, in words that name what differs; None when it can. Called on a payload
    whose settings and weights are already checked (the model's weights fit `config`), before malformed optional
    entries are dropped: a file edited or mixed from two runs (another batch size, another model's optimizer)
    would otherwise fail inside the first step with PyTorch's own words."""
    for key in ("optimizer", "rng_torch", "rng_data"):
        if key not in ckpt:
            return f"has no {key.replace('_', ' ')} state"
    if not _is_adam_state(ckpt["optimizer"], ckpt["model"]):
        return "holds an optimizer state that does not fit its weights (another model's, or damaged)"
    moments = [t for st in ckpt["optimizer"]["state"].values() for t in st.values()]
    if not all(t.is_floating_point() and torch.isfinite(t).all() for t in moments):
        return "holds an optimizer state with NaN or infinite values (the run diverged before it was saved)"
    for key in ("rng_torch", "rng_data"):
        if not _is_byte_state(ckpt[key]):
            return f"holds a malformed {key.replace('_', ' ')} state"
    return _carry_problem(ckpt.get("carry"), config)


def _carry_problem(carry: Any, config: TrainConfig) -> str | None:
    """Why the carried recurrent state (truncated BPTT) does not fit `config`; None when it fits or is absent."""
    if carry is None or (isinstance(carry, list | tuple) and not carry):
        return None
    parts = 2 if config.cell == "lstm" else 1
    if not isinstance(carry, list | tuple) or len(carry) != parts:
        return f"holds a carried recurrent state that is not the {parts} tensor(s) of a {config.cell.upper()}"
    if not all(isinstance(t, torch.Tensor) for t in carry):
        return f"holds a carried recurrent state that is not the {parts} tensor(s) of a {config.cell.upper()}"
    need = (config.n_layers, config.batch_size, config.hidden)
    for t in carry:
        if tuple(t.shape) != need:
            return (
                f"holds a carried recurrent state of shape {_dims(tuple(t.shape))} (layers x batch x hidden) where "
                f"its settings ({config.cell.upper()} {config.n_layers}x{config.hidden}, batch {config.batch_size}) "
                f"need {_dims(need)}"
            )
        if not t.is_floating_point() or not torch.isfinite(t).all():
            return "holds a carried recurrent state with NaN or infinite values"
    return None
