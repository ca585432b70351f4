"""What a run folder records, torch-free: the corpus it trained on (CorpusRecord), its settings (config.json)
and what its checkpoint holds (checkpoint.json)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import zipfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.present.safetext import display_path
from charrnn_tui.runs.folder import (
    CHECKPOINT_INFO_NAME,
    CHECKPOINT_NAME,
    CONFIG_NAME,
    StagedWrites,
    _write_json,
    disk_error,
)

CONFIG_FORMAT = 2  # 1: {"config", "corpus": {"name", "source"}}; 2 adds the corpus record's path, encoding, hash


# ---- the corpus record ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorpusRecord:
    """What a run was trained on, enough to find and check it again from any working directory.

    `path` is absolute and kept exactly (as its bytes, base64, in config.json), so file names that are
    not valid UTF-8 survive; `sha256` is of the decoded text (UTF-8, surrogates passed), so a file
    re-saved in another encoding with the same text still matches. Old runs lack path bytes, size and
    hash: those fields are then None.
    """

    name: str
    builtin: bool
    path: Path | None = None  # absolute; None for a built-in corpus
    encoding: str = "utf-8"
    size_bytes: int | None = None  # of the file when it was read
    chars: int | None = None
    sha256: str | None = None

    @property
    def spec(self) -> str:
        """What corpus loading takes: a built-in name or the file's path."""
        return self.name if self.builtin or self.path is None else str(self.path)

    @property
    def source_label(self) -> str:
        """ "built-in", or the file's path as text (for display and old readers)."""
        return "built-in" if self.builtin else self.shown

    @property
    def shown(self) -> str:
        return self.name if self.builtin or self.path is None else display_path(self.path)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "source": self.source_label}
        if self.path is not None:
            data["path_b64"] = base64.b64encode(os.fsencode(self.path)).decode("ascii")
        data.update(encoding=self.encoding, size_bytes=self.size_bytes, chars=self.chars, sha256=self.sha256)
        return data

    @classmethod
    def from_json(cls, data: Any) -> CorpusRecord:
        """Raises ValueError when the entry is malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ValueError("the corpus entry has no name")
        builtin = data.get("source") == "built-in"
        path = None
        if not builtin:
            if isinstance(data.get("path_b64"), str):
                path = Path(os.fsdecode(base64.b64decode(data["path_b64"], validate=True)))
            elif isinstance(data.get("source"), str) and data["source"]:
                path = Path(data["source"])  # format 1: the path as typed, maybe relative
            else:
                raise ValueError("the corpus entry names no file")
        encoding = data.get("encoding", "utf-8")
        ints = [data.get(k) for k in ("size_bytes", "chars")]
        if not isinstance(encoding, str) or not all(v is None or _is_count(v) for v in ints):
            raise ValueError("the corpus entry is malformed")
        sha = data.get("sha256")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise ValueError("the corpus entry's hash is malformed")
        return cls(data["name"], builtin, path, encoding, ints[0], ints[1], sha)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def text_sha256(text: str) -> str:
    """SHA-256 of `text` as UTF-8, hashed in slices so a 100 MB corpus is never copied whole."""
    h = hashlib.sha256()
    for i in range(0, len(text), 1 << 20):
        h.update(text[i : i + (1 << 20)].encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def record_corpus(name: str, text: str, source: str, encoding: str = "utf-8") -> CorpusRecord:
    """The record of a corpus just loaded (`source`: "built-in" or the file's path, as loading gave it)."""
    if source == "built-in":
        return CorpusRecord(name, True, None, "utf-8", None, len(text), text_sha256(text))
    path = Path(os.path.abspath(source))
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    return CorpusRecord(name, False, path, encoding, size, len(text), text_sha256(text))


# ---- config.json ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunConfig:
    config: TrainConfig
    corpus: CorpusRecord


def write_config(run_dir: Path, config: TrainConfig, corpus: CorpusRecord) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(run_dir, e) from None
    _write_json(
        run_dir / CONFIG_NAME, {"format": CONFIG_FORMAT, "config": config.to_dict(), "corpus": corpus.to_json()}
    )


def read_config(run_dir: Path) -> RunConfig:
    """The run's settings and corpus record. Raises CharRNNError naming the file when it is missing or
    damaged."""
    path = run_dir / CONFIG_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CharRNNError(f"{display_path(run_dir)} is not a run folder (it has no {CONFIG_NAME})") from None
    except OSError as e:
        raise CharRNNError(f"cannot read {display_path(path)}: {e.strerror or e}") from None
    except ValueError as e:
        raise CharRNNError(f"{display_path(path)} is damaged (not JSON: {e})") from None
    try:
        if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
            raise ValueError("it has no settings")
        config = TrainConfig.from_dict(info["config"])
        config.validate()
        corpus = CorpusRecord.from_json(info.get("corpus"))
    except (ValueError, TypeError, CharRNNError) as e:
        raise CharRNNError(f"{display_path(path)} is damaged: {e}") from None
    return RunConfig(config, corpus)


# ---- checkpoint.json ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointInfo:
    """What checkpoint.pt holds, written beside it with each save; losses in nats/char.

    `checkpoint_size`/`checkpoint_mtime_ns` are checkpoint.pt's: when they no longer match, the checkpoint was
    replaced without this file (an older version, or a copy that did not keep the times). `best_step` is the step
    of the best evaluation (the one `best_val_loss` is of) and `best_weights` the file in the run folder that holds
    that step's weights: checkpoint.pt (its `best_weights` entry, kept with keep_best; or its own weights when the
    best is its last evaluation), None when they are not kept. Both are None in records from before they were kept.
    `end_reason` is why the run ended on this checkpoint (an END_REASONS entry, as Finished.reason says it, with
    `stalled_evals` for "patience"): None while it trains on, for a run that was killed, and in older records.
    """

    step: int
    best_val_loss: float | None
    last_val_loss: float | None
    elapsed_s: float
    kept_step: int | None  # set when the run ended on an earlier step's (best) weights
    checkpoint_size: int
    checkpoint_mtime_ns: int
    best_step: int | None = None
    best_weights: str | None = None
    end_reason: str | None = None
    stalled_evals: int = 0

    @property
    def generates_with_best(self) -> bool:
        """The weights this checkpoint generates with are the best evaluation's."""
        return self.kept_step is not None or (self.best_step is not None and self.best_step == self.step)


def write_checkpoint_info(run_dir: Path, **values: Any) -> CheckpointInfo:
    """checkpoint.json for the checkpoint.pt already in `run_dir` (`values`: CheckpointInfo's fields but the file's
    size and time). Raises DiskError."""
    st = (run_dir / CHECKPOINT_NAME).stat()
    info = CheckpointInfo(**values, checkpoint_size=st.st_size, checkpoint_mtime_ns=st.st_mtime_ns)
    _write_json(run_dir / CHECKPOINT_INFO_NAME, asdict(info))
    return info


def record_end(run_dir: Path, reason: str, stalled_evals: int = 0) -> CheckpointInfo | None:
    """Say in checkpoint.json why the run ended (`reason`, an END_REASONS entry) when its checkpoint.pt was saved
    before the end (at the last step's evaluation, or earlier for a run stopped without a save). Returns the
    record, or None when no checkpoint on disk has one. Raises DiskError."""
    info = read_checkpoint_info(run_dir)
    if info is None:
        return None
    info = replace(info, end_reason=reason, stalled_evals=stalled_evals)
    _write_json(run_dir / CHECKPOINT_INFO_NAME, asdict(info))
    return info


def write_checkpoint(run_dir: Path, data: bytes | memoryview, **values: Any) -> CheckpointInfo:
    """Replace checkpoint.pt with `data` (a serialised checkpoint) and checkpoint.json with its record, together.

    Both are written whole before either is replaced, so a full disk or a read-only folder leaves the old pair byte
    for byte (DiskError is raised). checkpoint.json is renamed first and also carries the record of the checkpoint
    it replaces (`previous`): a kill between the two renames leaves the old checkpoint.pt, which that record
    describes. Returns the new record."""
    ckpt_path, info_path = run_dir / CHECKPOINT_NAME, run_dir / CHECKPOINT_INFO_NAME
    previous = read_checkpoint_info(run_dir)
    staged = StagedWrites()
    st = staged.stage(ckpt_path, data)
    info = CheckpointInfo(**values, checkpoint_size=st.st_size, checkpoint_mtime_ns=st.st_mtime_ns)
    record = asdict(info) | {"previous": asdict(previous) if previous is not None else None}
    staged.stage(info_path, json.dumps(record, indent=2, ensure_ascii=True).encode("ascii"))
    staged.commit(info_path, ckpt_path)
    return info


def read_checkpoint_info(run_dir: Path) -> CheckpointInfo | None:
    """checkpoint.json's record of the checkpoint.pt on disk (its own, or the `previous` one it carries); None
    when either file is missing, the record is damaged, or it belongs to another checkpoint."""
    try:
        st = (run_dir / CHECKPOINT_NAME).stat()
        data = json.loads((run_dir / CHECKPOINT_INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    for record in (data, data.get("previous")):
        info = _checked_info(record)
        if info is not None and (info.checkpoint_size, info.checkpoint_mtime_ns) == (st.st_size, st.st_mtime_ns):
            return info
    return None


_INFO_FIELDS = tuple(f.name for f in fields(CheckpointInfo))
END_REASONS = (None, "steps", "time", "patience", "stopped")  # Finished.reason; None: not ended there


def _checked_info(record: Any) -> CheckpointInfo | None:
    """A record read from disk (untrusted) as a CheckpointInfo, or None when it is malformed."""
    if not isinstance(record, dict):
        return None
    try:
        info = CheckpointInfo(**{k: v for k, v in record.items() if k in _INFO_FIELDS})
    except TypeError:
        return None
    floats = (info.best_val_loss, info.last_val_loss)
    steps = (info.kept_step, info.best_step)
    if (
        not _is_count(info.step)
        or not all(v is None or (isinstance(v, int | float) and math.isfinite(v)) for v in floats)
        or not all(v is None or _is_count(v) for v in steps)
        or not _is_count(info.checkpoint_size)
        or not _is_count(info.checkpoint_mtime_ns)
    ):
        return None
    if info.best_weights not in (None, CHECKPOINT_NAME):  # a file name from disk: only the one we write
        info = replace(info, best_weights=None)
    if info.end_reason not in END_REASONS or not _is_count(info.stalled_evals):  # words shown to the user
        info = replace(info, end_reason=None, stalled_evals=0)
    return info


def checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """The checkpoint that `path` names: a run folder's checkpoint.pt, or the file itself. Torch-free, so a
    front end can say there is none before it pays for importing torch (about 1.5 s).

    Raises CharRNNError when there is no such file."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise CharRNNError(f"no checkpoint at {path}; train first, or check --run-dir")
    return path


def checkpoint_looks_whole(run_dir: Path) -> bool:
    """A cheap, torch-free check: checkpoint.pt is a complete zip archive (torch.save writes one)."""
    try:
        return zipfile.is_zipfile(run_dir / CHECKPOINT_NAME)
    except OSError:
        return False
