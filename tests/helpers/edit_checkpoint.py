"""Checkpoints changed the way a user or another program might change them: read raw, edited, written back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def edit_checkpoint(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> bytes:
    """Apply `change` to the raw payload of `run_dir`'s checkpoint.pt (no checks: torch.load as any script would)
    and write it back with torch.save; returns the new file's bytes."""
    path = run_dir / "checkpoint.pt"
    payload = torch.load(path, map_location="cpu", weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path.read_bytes()
