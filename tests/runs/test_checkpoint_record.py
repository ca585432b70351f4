"""checkpoint.json and checkpoint.pt written as a pair (records.write_checkpoint): the record vouches for the
checkpoint beside it, and only for that one."""

from __future__ import annotations

import json
import os
from pathlib import Path

from charrnn_tui.runs.folder import _distinct_mtime
from charrnn_tui.runs.records import read_checkpoint_info, write_checkpoint

VALUES = dict(best_val_loss=2.0, last_val_loss=2.1, elapsed_s=1.0, kept_step=None, best_step=4)


def test_a_new_file_of_the_same_size_and_time_is_told_apart(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(b"a" * 1000)
    new.write_bytes(b"b" * 1000)
    st = old.stat()
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))  # what two writes within one tick of the clock get
    with open(new, "rb+") as f:
        _distinct_mtime(f.fileno(), old)
    assert new.stat().st_mtime_ns != old.stat().st_mtime_ns


def test_the_record_carries_the_checkpoint_it_replaced(tmp_path: Path) -> None:
    first = write_checkpoint(tmp_path, b"x" * 500, step=4, **VALUES)
    first_bytes = (tmp_path / "checkpoint.pt").read_bytes()
    second = write_checkpoint(tmp_path, b"y" * 500, step=8, **VALUES)
    assert read_checkpoint_info(tmp_path) == second
    assert (second.checkpoint_size, second.checkpoint_mtime_ns) != (first.checkpoint_size, first.checkpoint_mtime_ns)
    # checkpoint.json is renamed first: the old checkpoint.pt beside the new record is still described.
    (tmp_path / "checkpoint.pt").write_bytes(first_bytes)
    os.utime(tmp_path / "checkpoint.pt", ns=(first.checkpoint_mtime_ns, first.checkpoint_mtime_ns))
    assert read_checkpoint_info(tmp_path) == first
    record = json.loads((tmp_path / "checkpoint.json").read_text())
    assert record["previous"]["step"] == 4 and "previous" not in record["previous"]  # one back, never a chain
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.json", "checkpoint.pt"]
