"""How a training step does its arithmetic: the number format of its forward pass (fp32, or bf16 autocast).
A pure choice from the settings and the hardware's facts (`Bf16Facts`, found once and cheaply at start); the
trainer applies it (the thread count, which is measured during the run instead, is threads.py's).
Measurements behind it: docs/benchmarks.md, "Training precision"."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.errors import CharRNNError


@dataclass(frozen=True)
class Bf16Facts:
    """What a device can do in bf16. native: bf16 arithmetic in hardware (a CPU with AVX-512 BF16 or AMX
    tiles; a GPU of the Ampere generation or later). lstm_kernel: PyTorch's LSTM layer runs under bf16 autocast
    there. On x86 CPUs without AVX-512 (an AMD Zen 2, most laptops before 2022) oneDNN has no bf16 LSTM
    primitive and the layer raises "could not create a primitive descriptor for the LSTM forward propagation";
    elsewhere bf16 is emulated where it is not native: correct, but slower than fp32."""

    native: bool
    lstm_kernel: bool

    def describe(self) -> str:
        """The facts in words, for the start line and the docs: "native bf16, a bf16 LSTM kernel"."""
        native = "native bf16" if self.native else "no native bf16"
        return f"{native}, {'a' if self.lstm_kernel else 'no'} bf16 LSTM kernel"


@functools.cache
def cpu_bf16_facts() -> Bf16Facts:
    """This CPU's bf16 facts, found once per process: the CPU flags PyTorch reads, and a tiny LSTM forward and
    backward under bf16 autocast (about 1 ms) that shows whether the kernel exists."""
    cpu = torch.cpu
    native = bool(
        getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
    )
    return Bf16Facts(native=native, lstm_kernel=_bf16_lstm_runs())


def _bf16_lstm_runs() -> bool:
    layer = torch.nn.LSTM(2, 2, 1)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, _ = layer(torch.zeros(1, 1, 2, requires_grad=True))
        out.float().sum().backward()
    except RuntimeError:
        return False
    return True


def device_bf16_facts(device: torch.device) -> Bf16Facts:
    """The bf16 facts of `device`: the CPU's (cpu_bf16_facts), a CUDA GPU's (its bf16 support covers cuDNN's
    LSTM), or none on MPS."""
    if device.type == "cuda":
        native = bool(torch.cuda.is_bf16_supported())
        return Bf16Facts(native=native, lstm_kernel=native)
    if device.type == "mps":
        return Bf16Facts(native=False, lstm_kernel=False)
    return cpu_bf16_facts()


def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively (AVX-512 BF16 or AMX tiles). Without it PyTorch emulates
    bf16 and autocast is slower than fp32."""
    return cpu_bf16_facts().native


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
    name: str, device: torch.device, cfg: TrainConfig, facts: Bf16Facts | None = None
) -> torch.dtype | None:
    """The autocast dtype for a training step's forward pass and loss, or None for plain fp32.

    name: "fp32", "bf16" or "auto". device: where the model trains. facts: what the device can do in bf16
    (default: `device_bf16_facts(device)`; tests inject them). "auto" picks bf16 only where it is native, the
    LSTM kernel exists and `bf16_pays(cfg)`, so it never picks a path that can fail. "bf16" is honoured on a
    CPU even without native bf16 (emulated: correct, but slower) wherever the model's layers run in it: an LSTM
    needs the bf16 LSTM kernel. On CUDA it needs a GPU with bf16 (Ampere or later). MPS trains in fp32 only.
    Raises CharRNNError, in one line that says what the device lacks, for an unknown name or for bf16 where the
    device cannot run this model in it."""
    if name == "fp32":
        return None
    if name not in ("auto", "bf16"):
        raise CharRNNError(f"precision must be one of auto, fp32, bf16 (got {name!r})")
    if device.type == "mps":
        if name == "bf16":
            raise CharRNNError("--precision bf16 is not supported on MPS (Apple GPUs); use --precision fp32")
        return None
    facts = facts or device_bf16_facts(device)
    if device.type == "cuda":
        if name == "bf16" and not facts.native:
            raise CharRNNError("--precision bf16 was asked for, but this GPU has no bf16; use --precision fp32")
        return torch.bfloat16 if facts.native else None
    if name == "bf16":
        if cfg.cell == "lstm" and not facts.lstm_kernel:
            lacks = "" if facts.native else " (it has neither AVX-512 BF16 nor AMX)"
            raise CharRNNError(
                f"--precision bf16 cannot train an LSTM on this CPU: PyTorch has no bf16 LSTM kernel for it{lacks}; "
                "use --precision fp32"
            )
        return torch.bfloat16
    return torch.bfloat16 if facts.native and facts.lstm_kernel and bf16_pays(cfg) else None
