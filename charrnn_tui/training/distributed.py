"""torch.distributed glue. A single process gets a no-op context, so the trainer reads the same
either way. Launch several with `torchrun --nproc_per_node=N -m charrnn_tui --train-only ...`
(docs/scaling.md): gloo between CPU processes, NCCL between GPUs, one process per GPU."""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from charrnn_tui.core.errors import CharRNNError

# How long a rank waits in a collective before giving up. Only rank 0 evaluates and saves, and the
# others wait for it in the next collective, so this must outlast the longest evaluation plus a save.
# A rank that dies is noticed sooner: gloo sees the closed socket, and torchrun stops the others.
TIMEOUT_ENV = "CHARRNN_TUI_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0


def is_main_process() -> bool:
    """Rank 0, or not launched by torchrun at all: who prints and writes. Readable before the
    process group exists, e.g. by a front end deciding whether to print."""
    try:
        return int(os.environ.get("RANK") or 0) == 0
    except ValueError:
        return True  # from_environment will refuse it with a message; until then, speak


def world_size() -> int:
    """How many ranks torchrun launched (1 without it), readable before the process group exists."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE") or 1))
    except ValueError:
        return 1  # from_environment refuses it with a message


class DistContext:
    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0, backend: str | None = None) -> None:
        self.rank, self.world_size, self.local_rank, self.backend = rank, world_size, local_rank, backend
        # NCCL only reduces CUDA tensors and gloo only CPU ones (it cannot reach MPS memory), so the
        # small control collectives run on the backend's device, whatever device the model trains on.
        self.comm_device = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, data: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of `data`: N ranks reading streams over their own shares
        make one batch of N times the streams over the whole text, not N copies of one batch."""
        if not self.enabled:
            return data
        share = len(data) // self.world_size
        return data[self.rank * share : (self.rank + 1) * share]

    def any(self, flag: bool, device: torch.device | None = None) -> bool:
        """True on every rank when any rank says True: how ranks agree to stop together.
        (`device` is accepted for old callers and ignored: see comm_device.)"""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.comm_device)
        self._all_reduce(t, dist.ReduceOp.MAX)
        return bool(t.item())

    def agree(self, flag: bool, seconds: float) -> tuple[bool, float]:
        """One all-reduce per step: whether any rank wants to stop, and the largest clock. A schedule
        that follows each rank's own clock gives each rank its own learning rate, and the ranks'
        weights drift apart; following the agreed clock keeps them identical."""
        if not self.enabled:
            return flag, seconds
        t = torch.tensor([1.0 if flag else 0.0, seconds], dtype=torch.float64, device=self.comm_device)
        self._all_reduce(t, dist.ReduceOp.MAX)
        return bool(t[0].item()), float(t[1].item())

    def mean(self, value: float, device: torch.device | None = None) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.comm_device)
        self._all_reduce(t, dist.ReduceOp.SUM)
        return float(t.item()) / self.world_size

    def _all_reduce(self, t: torch.Tensor, op: dist.ReduceOp) -> None:
        try:
            dist.all_reduce(t, op=op)
        except RuntimeError as e:  # DistBackendError and friends: a peer left, or never answered
            raise CharRNNError(
                f"rank {self.rank} lost contact with the other ranks: one of them stopped or failed (its own "
                f"messages say why), or took longer than {TIMEOUT_ENV} allows ({_first_line(e)})"
            ) from None

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group. Safe after a failure: a peer that already died must not turn a
        clean message into a second traceback on the way out."""
        if self.enabled and dist.is_initialized():
            try:
                if sys.exc_info()[0] is None:
                    # Leaving cleanly: wait for the others (rank 0 is still saving), so that no rank
                    # tears its connections down under one still using them.
                    dist.barrier()
            except Exception:  # noqa: BLE001 - a peer already gone; leave all the same
                pass
            try:
                dist.destroy_process_group()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass


def _first_line(e: Exception) -> str:
    """The gist of a c10d/gloo error: its first sentence, without the source-file prefix."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return re.sub(r"^\[[^\]]*\]\s*", "", text).split(". ")[0]


def _timeout() -> timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise CharRNNError(f"{TIMEOUT_ENV} must be a number of seconds (got {raw!r})") from None
    if seconds <= 0:
        raise CharRNNError(f"{TIMEOUT_ENV} must be positive (got {raw!r})")
    return timedelta(seconds=seconds)


def from_environment(device_type: str) -> DistContext:
    """Join the process group torchrun describes in the environment, if any."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return DistContext()
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError):
        raise CharRNNError(
            "WORLD_SIZE, RANK or LOCAL_RANK is missing or not a number; launch several processes with "
            "torchrun (docs/scaling.md)"
        ) from None
    if device_type == "mps":
        raise CharRNNError(
            "multi-process training runs on CPUs (gloo) or CUDA GPUs (NCCL), not MPS; use --device cpu, or one process"
        )
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        if not dist.is_nccl_available():
            raise CharRNNError("this PyTorch has no NCCL, which multi-GPU training needs; use --device cpu")
        if local_rank >= torch.cuda.device_count():
            raise CharRNNError(
                f"local rank {local_rank} has no GPU of its own (this machine has {torch.cuda.device_count()}); "
                "start at most one process per GPU: --nproc_per_node=<number of GPUs>"
            )
        # Before joining, so NCCL's first collectives land on this rank's GPU and not all on GPU 0.
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend=backend, timeout=_timeout())
        except (RuntimeError, ValueError) as e:  # DistNetworkError and DistStoreError are RuntimeErrors
            where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
            raise CharRNNError(
                f"rank {rank} of {world_size} could not join the others at {where} ({backend}): {_first_line(e)}"
            ) from None
    return DistContext(rank, world_size, local_rank, backend)
