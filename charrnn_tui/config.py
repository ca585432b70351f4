"""Training configuration: one flat dataclass, named presets, and the checks that refuse nonsense."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from charrnn_tui.errors import CharRNNError

CELLS = ("lstm", "gru", "rnn")
SAMPLINGS = ("random", "tbptt")
SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")
# The number format of the training step's forward pass and loss (charrnn_tui/precision.py); weights stay fp32.
PRECISIONS = ("auto", "fp32", "bf16")
# Settings a resumed run may change; everything else comes from its checkpoint. Precision may change: the
# weights, optimiser state and checkpoints are fp32 whatever it is.
RESUME_OVERRIDABLE = (
    "steps", "max_seconds", "eval_interval", "log_interval", "checkpoint_seconds", "device", "precision",
)  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    # model
    cell: str = "lstm"
    n_layers: int = 2
    hidden: int = 256
    embed: int = 64  # 0 feeds one-hot vectors, as the tutorial did
    dropout: float = 0.5  # Hamlet is ~160K chars: 180 s on a CPU is ~40 epochs, so regularise hard
    # data
    batch_size: int = 32
    seq_len: int = 100
    sampling: str = "tbptt"  # "random": random windows (the tutorial); "tbptt": state carried across windows
    val_fraction: float = 0.1
    # optimiser (Adam)
    lr: float = 1.2e-2  # higher than usual: its noise generalises better here than 2e-3 to 8e-3 (docs/quality.md)
    lr_schedule: str = "cosine"
    warmup_steps: int = 50
    min_lr_frac: float = 0.05  # cosine decays to lr * min_lr_frac at the end of the budget
    grad_clip: float = 1.0  # 0 turns clipping off
    weight_decay: float = 3e-5  # L2 (Adam's): keeps the val loss from climbing in the second half of a run
    # weights that are evaluated, saved for generation and shown: a running average of the trained ones
    ema: float = 0.995  # per-step decay of that average (~200 steps); 0 uses the trained weights as they are
    keep_best: bool = True  # when the budget ends, keep the evaluated weights with the lowest val loss
    # budget: whichever comes first; 0 means no limit of that kind
    steps: int = 0
    max_seconds: float = 180.0
    # bookkeeping
    eval_interval: int = 100
    eval_max_chars: int = 200_000  # validation beyond this is skipped (huge corpora)
    log_interval: int = 10
    checkpoint_seconds: float = 30.0
    seed: int = 1234
    device: str = "auto"
    precision: str = "auto"  # "auto": bf16 where the CPU/GPU has it and it pays (charrnn_tui/precision.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def validate(self) -> None:
        """Raise a CharRNNError listing every setting that cannot work."""
        problems = []

        def need(ok: bool, msg: str) -> None:
            if not ok:
                problems.append(msg)

        need(self.cell in CELLS, f"cell must be one of {', '.join(CELLS)} (got {self.cell!r})")
        need(self.n_layers >= 1, f"layers must be at least 1 (got {self.n_layers})")
        need(self.hidden >= 1, f"hidden size must be at least 1 (got {self.hidden})")
        need(self.embed >= 0, f"embedding size must be 0 (one-hot) or more (got {self.embed})")
        need(0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})")
        need(self.batch_size >= 1, f"batch size must be at least 1 (got {self.batch_size})")
        need(self.seq_len >= 1, f"sequence length must be at least 1 (got {self.seq_len})")
        need(self.sampling in SAMPLINGS, f"sampling must be one of {', '.join(SAMPLINGS)}")
        need(0 < self.val_fraction < 1, f"validation fraction must be in (0, 1) (got {self.val_fraction})")
        need(self.lr > 0, f"learning rate must be positive (got {self.lr})")
        need(self.lr_schedule in SCHEDULES, f"lr schedule must be one of {', '.join(SCHEDULES)}")
        need(self.warmup_steps >= 0, f"warm-up steps must be 0 or more (got {self.warmup_steps})")
        need(0 <= self.min_lr_frac <= 1, f"min lr fraction must be in [0, 1] (got {self.min_lr_frac})")
        need(self.grad_clip >= 0, f"gradient clip must be 0 (off) or positive (got {self.grad_clip})")
        need(self.weight_decay >= 0, f"weight decay must be 0 or more (got {self.weight_decay})")
        need(0 <= self.ema < 1, f"weight averaging decay must be in [0, 1) (got {self.ema})")
        need(self.steps >= 0, f"steps must be 0 (no limit) or more (got {self.steps})")
        need(self.max_seconds >= 0, f"max seconds must be 0 (no limit) or more (got {self.max_seconds})")
        need(self.eval_interval >= 1, f"eval interval must be at least 1 (got {self.eval_interval})")
        need(self.log_interval >= 1, f"log interval must be at least 1 (got {self.log_interval})")
        need(self.checkpoint_seconds >= 0, "checkpoint interval must be 0 (evaluations only) or more")
        need(self.device in DEVICES, f"device must be one of {', '.join(DEVICES)} (got {self.device!r})")
        need(self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})")
        if problems:
            raise CharRNNError("invalid settings: " + "; ".join(problems))

    def validate_for(self, train_chars: int, val_chars: int) -> None:
        """Refuse settings that the corpus is too small for."""
        self.validate()
        if train_chars < self.seq_len + 1:
            raise CharRNNError(
                f"the training text has {train_chars} characters, too short for one window of "
                f"{self.seq_len + 1}; use a longer corpus or a shorter --seq-len"
            )
        if self.batch_size * self.seq_len + 1 > train_chars:
            raise CharRNNError(
                f"batch {self.batch_size} x sequence {self.seq_len} needs {self.batch_size * self.seq_len + 1} "
                f"training characters but the corpus has {train_chars}; lower --batch-size or --seq-len"
            )
        if val_chars < 2:
            raise CharRNNError(
                f"the validation split has {val_chars} characters; use a longer corpus or a larger --val-fraction"
            )


# The reference: the classic TensorFlow Char-RNN tutorial, exactly. Slow to learn on a CPU.
TUTORIAL = TrainConfig(
    cell="lstm", n_layers=3, hidden=512, embed=0, dropout=0.0,
    batch_size=200, seq_len=30, sampling="random",
    lr=1e-3, lr_schedule="constant", warmup_steps=0, grad_clip=0.0, weight_decay=0.0,
    ema=0.0, keep_best=False, eval_interval=50, log_interval=1,
    precision="fp32",  # the original trained in fp32; bf16 stays a flag away (--precision bf16)
)  # fmt: skip

# The default: what learned Hamlet best in 180 s on a 2-core CPU (docs/quality.md): 2x256 LSTM, embed 64,
# tbptt streams, cosine over the budget, dropout 0.5, lr 1.2e-2, L2 3e-5, clip 1.0, evaluated on an
# average of the weights (ema 0.995) and ending on the best evaluation (keep_best).
FAST = TrainConfig()

# For tests and quick demos: learns something in seconds.
TINY = TrainConfig(
    n_layers=1, hidden=64, embed=16, dropout=0.0, batch_size=16, seq_len=32,
    lr=1e-2, weight_decay=0.0, ema=0.0, keep_best=False, warmup_steps=0,
    steps=200, max_seconds=0, eval_interval=50, log_interval=10,
)  # fmt: skip

PRESETS: dict[str, TrainConfig] = {"fast": FAST, "tutorial": TUTORIAL, "tiny": TINY}
PRESET_HELP = {
    "fast": "default: 2x256 LSTM tuned to learn quickly on a laptop CPU",
    "tutorial": "the original TensorFlow tutorial: 3x512 LSTM, one-hot, batch 200, seq 30, Adam 1e-3",
    "tiny": "1x64 LSTM for tests and demos: trains in seconds",
}
DEFAULT_PRESET = "fast"


def continuation(config: TrainConfig, steps_done: int) -> TrainConfig:
    """The settings for training a saved run further by another budget as long as its first: steps count from
    the run's start (so `steps_done + steps`), seconds per session (so `max_seconds` again)."""
    return config.with_overrides(steps=steps_done + config.steps if config.steps else 0)


def preset(name: str) -> TrainConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise CharRNNError(f"no preset named {name!r}; presets: {', '.join(PRESETS)}") from None
