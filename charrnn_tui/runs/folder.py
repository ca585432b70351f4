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
    tmp = temporary_name(path)
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


def temporary_name(path: Path) -> Path:
    """The temporary that an atomic write of `path` goes through (remove_temporaries knows the pattern)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


class StagedWrites:
    """Several files replaced together: every new file is written whole to its temporary (`stage`) before any
    old one is replaced (`commit`, renames in the order given), so a full disk or a read-only folder fails before
    anything on disk has changed, and a kill leaves only temporaries that remove_temporaries cleans. Raises
    DiskError (its path the file that failed); every temporary is removed when staging or committing fails."""

    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}

    def stage(self, path: Path, data: bytes | memoryview) -> os.stat_result:
        """Write `data` whole to `path`'s temporary and fsync it; returns the temporary's stat, whose mtime is
        made to differ from the file it replaces (a record of the old file never matches the new one, even
        within one tick of a coarse clock)."""
        tmp = temporary_name(path)
        self._staged[path] = tmp
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                _distinct_mtime(f.fileno(), path)
                os.fsync(f.fileno())
            return tmp.stat()
        except OSError as e:
            self.discard()
            raise disk_error(path, e) from None

    def commit(self, *order: Path) -> None:
        """Rename the staged temporaries over their files, in `order`, then make the renames durable."""
        try:
            for path in order:
                os.replace(self._staged[path], path)
        except OSError as e:
            self.discard()
            raise disk_error(path, e) from None
        self._staged.clear()
        _fsync_dir(order[0].parent)

    def discard(self) -> None:
        for tmp in self._staged.values():
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only folder: remove_temporaries takes it once the folder is writable
        self._staged.clear()


def _distinct_mtime(fd: int, old_path: Path) -> None:
    try:
        old = old_path.stat()
    except OSError:
        return
    new = os.fstat(fd)
    # Records match a file by (size, mtime): a same-sized file written within the clock's tick would match both.
    for later in (1_000_000, 2_000_000_000):  # 1 ms, then 2 s for a filesystem that keeps coarse times
        if (new.st_size, new.st_mtime_ns) != (old.st_size, old.st_mtime_ns):
            return
        os.utime(fd, ns=(new.st_atime_ns, old.st_mtime_ns + later))
        new = os.fstat(fd)


class DiskError(CharRNNError):
    """A write the disk refused: `path` the file, `why` the system's words, `remedy` what frees the way
    ("free some space", "make the folder writable again")."""

    def __init__(self, message: str, path: Path | None = None, why: str = "", remedy: str = "free some space") -> None:
        super().__init__(message)  # the message alone in args: the error pickles like any other
        self.path, self.why, self.remedy = path, why, remedy


def disk_error(path: Path, e: OSError) -> DiskError:
    """A failed write as a message that says what to do."""
    why = e.strerror or str(e)
    if e.errno == errno.EDQUOT:  # the user's share is full, not the disk: say which one to free
        remedy = "free some space under the disk quota or have it raised"
        hint = f"the disk quota is full; {remedy}, or choose another folder with --run-dir"
    elif e.errno in (errno.ENOSPC, errno.EFBIG):
        remedy, hint = "free some space", "free some space or choose another folder with --run-dir"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        remedy = "make the folder writable again"
        hint = "the folder is not writable; choose another one with --run-dir (or set CHARRNN_TUI_HOME)"
    else:
        remedy, hint = "check the disk", "choose another folder with --run-dir (or set CHARRNN_TUI_HOME)"
    return DiskError(f"cannot write {display_path(path)}: {why}; {hint}", path, why, remedy)


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
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only folder: the writes that follow say so


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
