"""The run folder: the one module that knows what a run keeps on disk and how.

A run lives in one folder::

    config.json       the settings and the record of the corpus it was trained on (`CorpusRecord`)
    checkpoint.pt     the training state (written by checkpoint.py, which needs torch)
    checkpoint.json   what that checkpoint holds (step, losses), readable without torch (`CheckpointInfo`)
    metrics.jsonl     one JSON object per logged step (`MetricsLog`)
    .lock             held by the one process that writes the run (`RunLock`)

Every write is atomic (a temporary file renamed over the old one), so a crash leaves the old file or the
new one. Nothing here imports torch or textual: the app lists runs and the CLI checks them at once.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import math
import os
import re
import socket
import sys
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from charrnn_tui.config import TrainConfig
from charrnn_tui.errors import CharRNNError

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_INFO_NAME = "checkpoint.json"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
LOCK_NAME = ".lock"
RUN_FILES = (CHECKPOINT_NAME, CHECKPOINT_INFO_NAME, CONFIG_NAME, METRICS_NAME)
CONFIG_FORMAT = 2  # 1: {"config", "corpus": {"name", "source"}}; 2 adds the corpus record's path, encoding, hash


# ---- atomic writes ------------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write through a temporary file in the same folder, fsync it, then rename it over `path`:
    a crash at any moment leaves either the old file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def disk_error(path: Path, e: OSError) -> CharRNNError:
    """A failed write as a message that says what to do."""
    why = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        hint = "free some space or choose another folder with --run-dir"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "the folder is not writable; choose another one with --run-dir (or set CHARRNN_TUI_HOME)"
    else:
        hint = "choose another folder with --run-dir (or set CHARRNN_TUI_HOME)"
    return CharRNNError(f"cannot write {display_path(path)}: {why}; {hint}")


def _write_json(path: Path, data: Any) -> None:
    # ensure_ascii: a path that is not valid UTF-8 holds lone surrogates, which only escaped JSON can carry.
    text = json.dumps(data, indent=2, ensure_ascii=True)
    try:
        atomic_write(path, lambda f: f.write(text.encode("ascii")))
    except OSError as e:
        raise disk_error(path, e) from None


def remove_temporaries(run_dir: Path) -> None:
    """Half-written files that a killed run left behind (see atomic_write). Call it holding the lock:
    another writer's temporary file is not stale."""
    for name in RUN_FILES:
        for tmp in run_dir.glob(f".{name}.tmp*"):
            tmp.unlink(missing_ok=True)


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text that can be printed: bytes that are not valid UTF-8 (a Latin-1 file name on a
    UTF-8 system) show as \\xNN escapes instead of failing to encode."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


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


# ---- metrics.jsonl --------------------------------------------------------------------------------------
@dataclass
class MetricsRead:
    rows: list[dict[str, Any]]
    skipped: list[int] = field(default_factory=list)  # 1-based line numbers of rows that were not usable

    def note(self, path: Path) -> str | None:
        """A line for the user when rows were skipped, else None."""
        if not self.skipped:
            return None
        lines = ", ".join(map(str, self.skipped[:5])) + (" ..." if len(self.skipped) > 5 else "")
        return f"skipped {len(self.skipped)} unreadable row(s) of {display_path(path)} (line {lines})"


def _good_row(row: Any) -> bool:
    if not isinstance(row, dict) or not _is_count(row.get("step")):
        return False
    for key in ("train_loss", "val_loss", "lr", "chars_per_s", "elapsed_s", "final_val_loss"):
        v = row.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)):
            return False
    return True


class MetricsLog:
    """metrics.jsonl: one JSON object per logged step; losses are nats/char."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / METRICS_NAME

    def read(self, up_to_step: int | None = None) -> MetricsRead:
        """The usable rows (up to `up_to_step` when given). A torn last line (a crash mid-write) or an edited
        row is skipped and its line number reported, never raised."""
        out = MetricsRead([])
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return out
        except OSError as e:
            raise CharRNNError(f"cannot read {display_path(self.path)}: {e.strerror or e}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not _good_row(row):
                out.skipped.append(n)
            elif up_to_step is None or row["step"] <= up_to_step:
                out.rows.append(row)
        return out

    def append(self, row: dict[str, Any]) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        except OSError as e:
            raise disk_error(self.path, e) from None

    def rewrite(self, rows: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in rows)
        try:
            atomic_write(self.path, lambda f: f.write(text.encode("utf-8")))
        except OSError as e:
            raise disk_error(self.path, e) from None


# ---- checkpoint.json ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointInfo:
    """What checkpoint.pt holds, written beside it after each save; losses in nats/char.

    `checkpoint_size`/`checkpoint_mtime_ns` are checkpoint.pt's at the time: when they no longer match, the
    checkpoint was replaced without this file (an older version, or a crash between the two writes)."""

    step: int
    best_val_loss: float | None
    last_val_loss: float | None
    elapsed_s: float
    kept_step: int | None  # set when the run ended on an earlier step's (best) weights
    checkpoint_size: int
    checkpoint_mtime_ns: int


def write_checkpoint_info(run_dir: Path, **values: Any) -> CheckpointInfo:
    st = (run_dir / CHECKPOINT_NAME).stat()
    info = CheckpointInfo(**values, checkpoint_size=st.st_size, checkpoint_mtime_ns=st.st_mtime_ns)
    _write_json(run_dir / CHECKPOINT_INFO_NAME, asdict(info))
    return info


def read_checkpoint_info(run_dir: Path) -> CheckpointInfo | None:
    """checkpoint.json when it describes the checkpoint.pt on disk; None when either is missing, the
    info is damaged, or it belongs to another checkpoint."""
    try:
        st = (run_dir / CHECKPOINT_NAME).stat()
        data = json.loads((run_dir / CHECKPOINT_INFO_NAME).read_text(encoding="utf-8"))
        info = CheckpointInfo(**data)
    except (OSError, ValueError, TypeError):
        return None
    floats = (info.best_val_loss, info.last_val_loss)
    if (
        not _is_count(info.step)
        or not all(v is None or (isinstance(v, int | float) and math.isfinite(v)) for v in floats)
        or (info.checkpoint_size, info.checkpoint_mtime_ns) != (st.st_size, st.st_mtime_ns)
    ):
        return None
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


# ---- listing saved runs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary:
    """A run folder as a list shows it. `problem` says what is damaged (the run can still be listed)."""

    path: Path
    config: TrainConfig | None
    corpus: CorpusRecord | None
    checkpoint: CheckpointInfo | None  # None: no checkpoint, or one whose details are not known
    has_checkpoint: bool
    problem: str | None = None
    mtime: float = 0.0

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def step(self) -> int | None:
        return self.checkpoint.step if self.checkpoint else None

    @property
    def best_val_loss(self) -> float | None:
        return self.checkpoint.best_val_loss if self.checkpoint else None


def summarize(run_dir: Path) -> RunSummary | None:
    """The run in `run_dir`, or None when the folder holds no run at all. Never raises."""
    try:
        names = {p.name for p in run_dir.iterdir()}
    except OSError:
        return None
    if not names & {CONFIG_NAME, CHECKPOINT_NAME}:
        return None
    problems, config, corpus = [], None, None
    try:
        rc = read_config(run_dir)
        config, corpus = rc.config, rc.corpus
    except CharRNNError as e:
        problems.append(str(e))
    has_ckpt = CHECKPOINT_NAME in names
    info = read_checkpoint_info(run_dir) if has_ckpt else None
    if has_ckpt and not checkpoint_looks_whole(run_dir):
        problems.append(f"{CHECKPOINT_NAME} is damaged (not a complete archive)")
        info = None
    try:
        skipped = MetricsLog(run_dir).read().skipped
    except CharRNNError as e:
        problems.append(str(e))
    else:
        if skipped:
            problems.append(f"{METRICS_NAME} has {len(skipped)} unreadable row(s)")
    try:
        mtime = max((run_dir / n).stat().st_mtime for n in names & set(RUN_FILES))
    except (OSError, ValueError):
        mtime = 0.0
    return RunSummary(run_dir, config, corpus, info, has_ckpt, "; ".join(problems) or None, mtime)


def list_runs(root: Path) -> list[RunSummary]:
    """The runs under `root`, the most recently written first. Damaged runs are listed with their problem."""
    try:
        folders = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    runs = [r for r in map(summarize, folders) if r is not None]
    return sorted(runs, key=lambda r: (r.mtime, r.name), reverse=True)


def create_run_dir(root: Path, corpus_name: str, now: float | None = None) -> Path:
    """Create and return a fresh `root/<corpus>-<timestamp>[-n]/`. mkdir is atomic, so two runs started in
    the same second get two folders."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", corpus_name).strip("-.") or "corpus"
    base = f"{slug}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(root, e) from None
    for n in range(1, 10_000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise disk_error(path, e) from None
    raise CharRNNError(f"cannot find a free run folder name under {display_path(root)}")


# ---- the writer's lock ----------------------------------------------------------------------------------
class RunLock:
    """An exclusive lock on a run folder, so one process at a time writes it.

    It is the operating system's advisory lock on `.lock` (flock on POSIX, msvcrt.locking on Windows): the
    kernel releases it when the holder exits or is killed, so a stale lock never blocks. The holder writes
    its pid, host and command line into the file, so a refused writer can say who holds it.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Raises CharRNNError naming the other process when the run is being written by one."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise disk_error(self.path, e) from None
        try:
            _lock_fd(fd)
        except OSError:
            os.close(fd)
            raise CharRNNError(
                f"another process is writing the run in {display_path(self.path.parent)} ({self.holder()}); "
                "wait for it to finish or stop it, or choose another --run-dir"
            ) from None
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "argv": sys.argv, "since": time.time()}
        data = json.dumps(owner, ensure_ascii=True).encode("ascii")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0) if hasattr(os, "pwrite") else os.write(fd, data)
        self._fd = fd

    def holder(self) -> str:
        """Who holds the lock, as the holder wrote it (best effort)."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            cmd = " ".join(map(str, info.get("argv") or []))[:120]
            since = time.strftime("%H:%M:%S", time.localtime(float(info["since"])))
            return f"pid {int(info['pid'])} on {info.get('host', '?')}, since {since}: {cmd}"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that has not said who it is yet"

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock_fd(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """The usable rows of the metrics file at `path` (see MetricsLog.read)."""
    return MetricsLog(path.parent).read(up_to_step).rows
