"""A real disk quota in a temp dir: a btrfs file system on a loop device with a qgroup limit on one subvolume,
so writes past the limit fail with EDQUOT ("Disk quota exceeded") as they do under a user's quota.

Why btrfs and not ext4's quotas: this kernel is built without CONFIG_QFMT_V2, so ext4 refuses to mount a file
system with its quota feature, and tmpfs has no quota option (CONFIG_TMPFS_QUOTA is not set). Btrfs qgroups are
part of btrfs itself and bind root too (no CAP_SYS_RESOURCE exemption), so the writer needs no other uid.

Needs root, loop devices and btrfs-progs (`mkfs.btrfs`, `btrfs`; Debian's package btrfs-progs); where any is
missing the test is skipped, saying which."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TOOLS = ("losetup", "mount", "umount", "mkfs.btrfs", "btrfs")


class QuotaMount:
    """A mounted btrfs subvolume, `path`, whose referenced bytes are limited by a qgroup."""

    def __init__(self, mount_point: Path) -> None:
        self.mount_point = mount_point
        self.path = mount_point / "quota"

    def set_limit(self, limit: int | None) -> None:
        """Limit the bytes the subvolume may hold (data and its metadata), or lift the limit with None."""
        _run("btrfs", "qgroup", "limit", "none" if limit is None else str(limit), str(self.path))

    def used(self) -> int:
        """The bytes the subvolume holds now, as the quota counts them; syncs first, because btrfs accounts
        freed and written extents when its transaction commits."""
        _run("btrfs", "filesystem", "sync", str(self.path))
        out = _run("btrfs", "qgroup", "show", "--raw", "-rf", str(self.path))
        # The last line is the subvolume's own qgroup: "0/256  <referenced>  <exclusive>  <limit> ..."
        return int(out.strip().splitlines()[-1].split()[1])


@contextmanager
def quota_mount(tmp: Path, size_mb: int = 128) -> Iterator[QuotaMount]:
    """Make a sparse `size_mb` MiB image in `tmp`, attach it to a loop device, make btrfs on it with quotas
    enabled, mount it at `tmp/mnt` and yield a QuotaMount whose subvolume has no limit yet (set_limit). It is
    always unmounted and its loop device detached, even when the test or the setup fails. Skips the test
    (pytest.skip, naming what is missing) without root, loop devices, btrfs-progs or btrfs quotas."""
    if os.geteuid() != 0:
        pytest.skip("a loop mount with a quota needs root")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"a quota mount needs {', '.join(missing)} (Debian: apt-get install btrfs-progs)")
    image, mount_point = tmp / "quota.img", tmp / "mnt"
    with open(image, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)  # sparse: takes no real space until written
    mount_point.mkdir()
    loop, mounted = "", False
    try:
        loop = _setup("attach a loop device", "losetup", "--find", "--show", str(image)).strip()
        # --mixed: data and metadata share 4 KiB blocks, so a small image works and the quota counts finely.
        _setup("make btrfs", "mkfs.btrfs", "-q", "--mixed", loop)
        _setup("mount btrfs", "mount", loop, str(mount_point))
        mounted = True
        _setup("enable btrfs quotas", "btrfs", "quota", "enable", str(mount_point))
        quota = QuotaMount(mount_point)
        _setup("create a subvolume", "btrfs", "subvolume", "create", str(quota.path))
        yield quota
    finally:
        if mounted:
            _unmount(mount_point)
        if loop:  # a busy device is detached as soon as it is released (losetup sets autoclear)
            subprocess.run(["losetup", "--detach", loop], capture_output=True)
        image.unlink(missing_ok=True)


def _unmount(path: Path) -> None:
    done = subprocess.run(["umount", str(path)], capture_output=True)
    if done.returncode:  # still busy (a process of the test not yet gone): detach it now, freed when it is
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _setup(what: str, *cmd: str) -> str:
    """Run a setup step; a refusal skips the test with the tool's own words."""
    try:
        return _run(*cmd)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot {what} here: {e.stderr.strip() or e}")


def _run(*cmd: str) -> str:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=True).stdout
