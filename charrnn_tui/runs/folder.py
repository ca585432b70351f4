"""The run folder itself: its file names, atomic writes, the disk's errors in words, creating a run's folder,
and the lock held by the one process that writes it."""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.present.safetext import display_path

CHECKPOINT_NAME = "checkpoint.pt"


CHECKPOINT_INFO_NAME = "checkpoint.json"


CONFIG_NAME = "config.json"


METRICS_NAME = "metrics.jsonl"


LOCK_NAME = ".lock"


RUN_FILES = (CHECKPOINT_NAME, CHECKPOINT_INFO_NAME, CONFIG_NAME, METRICS_NAME)


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
