"""How a training step does its arithmetic: the number format of its forward pass (fp32, or bf16 autocast).
A pure choice from the settings and the hardware's facts; the trainer applies it (the thread count, which is
measured during the run instead, is threads.py's). Measurements behind it: docs/benchmarks.md, "Training
precision"."""

from __future__ import annotations

import torch

from charrnn_tui.config import TrainConfig
from charrnn_tui.errors import CharRNNError


def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively (AVX-512 BF16 or AMX tiles). Without it PyTorch emulates
    bf16 and autocast is slower than fp32."""
    cpu = torch.cpu
    return bool(
        getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
    )


# The smallest LSTM width at which bf16 autocast was measured to pay on a CPU with AVX-512 BF16: 2x256
# (the `fast` preset, batch 32) trained 1.37x faster, 3x512 (the tutorial's shape, batch 200) 1.76x, with
# loss curves within 0.08% and 0.39% of fp32's over 300 steps; 1x64 (`tiny`) trained 8% slower: its matrices
# are too small for the bf16 kernels to win back the casts.
BF16_MIN_HIDDEN = 256


def bf16_pays(cfg: TrainConfig) -> bool:
    """Whether bf16 autocast was measured to train this kind of model at least 1.3x faster than fp32 on a CPU
    with native bf16, with a loss curve within 1% of fp32's over 300 steps: LSTMs at least BF16_MIN_HIDDEN
    wide. GRU and vanilla RNN layers were not measured (PyTorch's CPU autocast leaves them in fp32 anyway;
    only the head would change), so they stay fp32."""
    return cfg.cell == "lstm" and cfg.hidden >= BF16_MIN_HIDDEN


def resolve_precision(
    name: str, device: torch.device, cfg: TrainConfig, hardware_bf16: bool | None = None
) -> torch.dtype | None:
    """The autocast dtype for a training step's forward pass and loss, or None for plain fp32.

    name: "fp32", "bf16" or "auto". device: where the model trains. hardware_bf16: whether the device does bf16
    natively (default: asked of the CPU, or of CUDA). "bf16" is honoured on a CPU even without native support
    (PyTorch emulates it: correct, but slower); on CUDA it needs a GPU with bf16 (Ampere or later). "auto" picks
    bf16 only where the hardware has it and `bf16_pays(cfg)`; on CUDA where the GPU has it (untested here: no
    GPU was at hand when this was written). MPS trains in fp32 only.
    Raises CharRNNError for an unknown name, or bf16 where the device cannot do it."""
    if name == "fp32":
        return None
    if name not in ("auto", "bf16"):
        raise CharRNNError(f"precision must be one of auto, fp32, bf16 (got {name!r})")
    if hardware_bf16 is None:
        hardware_bf16 = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16()
    if device.type == "mps":
        if name == "bf16":
            raise CharRNNError("--precision bf16 is not supported on MPS (Apple GPUs); use --precision fp32")
        return None
    if device.type == "cuda":
        if name == "bf16" and not hardware_bf16:
            raise CharRNNError("--precision bf16 was asked for, but this GPU has no bf16; use --precision fp32")
        return torch.bfloat16 if hardware_bf16 else None
    if name == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if hardware_bf16 and bf16_pays(cfg) else None
