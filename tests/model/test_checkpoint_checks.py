"""The named checks on an untrusted payload, each on its own: the header, the required entries, the walk over
the payload's tensors and the budget on the storage they claim."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.checkpoint_checks import (
    FORMAT,
    MAX_NESTING,
    VERSION,
    check_header,
    check_required,
    check_tensor_budget,
    copy_tensors,
    find_tensors,
)

PATH = Path("x.pt")


def test_the_header() -> None:
    check_header({"format": FORMAT, "version": VERSION}, PATH)
    with pytest.raises(CharRNNError, match="is not a charrnn-tui checkpoint"):
        check_header(["not", "a", "dict"], PATH)
    with pytest.raises(CharRNNError, match="its format version True is not a version"):
        check_header({"format": FORMAT, "version": True}, PATH)
    with pytest.raises(CharRNNError, match="written by a newer charrnn-tui"):
        check_header({"format": FORMAT, "version": VERSION + 1}, PATH)


def test_the_required_entries() -> None:
    ok = {"model": {}, "vocab": "ab", "config": {}, "step": 3}
    check_required(ok, PATH)
    with pytest.raises(CharRNNError, match="its 'step' entry is missing or malformed"):
        check_required({**ok, "step": False}, PATH)
    with pytest.raises(CharRNNError, match="its step -1 is out of range"):
        check_required({**ok, "step": -1}, PATH)
    with pytest.raises(CharRNNError, match="vocabulary is empty or repeats characters"):
        check_required({**ok, "vocab": "aa"}, PATH)


def test_the_walk_finds_every_tensor_once_keys_included() -> None:
    t = torch.zeros(3)
    shared = [t]
    payload = {"a": shared, "b": shared, "c": ({"k": torch.ones(2)},), torch.zeros(1): 1}
    found = find_tensors(payload, PATH)
    assert sorted(x.numel() for x in found) == [1, 2, 3]


def test_the_walk_stops_at_deep_nesting() -> None:
    deep: list = []
    for _ in range(MAX_NESTING + 1):
        deep = [deep]
    with pytest.raises(CharRNNError, match=f"nest more than {MAX_NESTING} deep"):
        find_tensors({"x": deep}, PATH)


def test_the_budget() -> None:
    t = torch.zeros(4)  # 16 bytes
    check_tensor_budget([t, t], 16, PATH)  # one tensor twice is its storage once
    with pytest.raises(CharRNNError, match="holds 16 bytes of tensors, more than its settings need"):
        check_tensor_budget([t], 15, PATH)
    base = torch.zeros(4)
    with pytest.raises(CharRNNError, match="its tensors overlap in storage"):
        check_tensor_budget([base[0:3], base[1:4]], 1 << 20, PATH)
    with pytest.raises(CharRNNError, match="claims more values than it stores"):
        check_tensor_budget([torch.zeros(1).expand(100)], 1 << 20, PATH)


def test_copies_are_the_files_own_and_keep_sharing() -> None:
    t = torch.arange(3.0)
    shared = {"w": t}
    out = copy_tensors({"a": shared, "b": shared}, 1 << 20, PATH)
    assert out["a"] is out["b"] and out["a"]["w"].untyped_storage().data_ptr() != t.untyped_storage().data_ptr()
    assert torch.equal(out["a"]["w"], t)
