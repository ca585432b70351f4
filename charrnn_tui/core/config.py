"""Training configuration: one flat dataclass, named presets, and the checks that refuse nonsense."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from charrnn_tui.core.errors import CharRNNError

CELLS = ("lstm", "gru", "rnn")
SAMPLINGS = ("random", "tbptt")
SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "adamw")
DEVICES = ("auto", "cpu", "cuda", "mps")
# The number format of the training step's forward pass and loss (charrnn_tui/training/precision.py); weights stay fp32.
PRECISIONS = ("auto", "fp32", "bf16")
# Settings a resumed run may change; everything else comes from its checkpoint. Precision may change: the
# weights, optimiser state and checkpoints are fp32 whatever it is.
RESUME_OVERRIDABLE = (
    "steps", "max_seconds", "patience", "eval_interval", "log_interval", "checkpoint_seconds", "device", "precision",
)  # fmt: skip

# Caps that a laptop with 8 GB can hold, with room: the largest model allowed has MAX_PARAMS parameters,
# 400 MB of fp32 weights (training keeps about four copies: weights, gradients and Adam's two moments).
# A checkpoint's settings are checked against them before any of its tensors is read.
MAX_PARAMS = 100_000_000
MAX_LAYERS = 16
MAX_HIDDEN = 8192
MAX_EMBED = 8192
MAX_BATCH = 1 << 17
MAX_SEQ_LEN = 1 << 16
# Characters per step (batch x sequence): the corpus must hold them anyway (validate_for), and a step's
# activations grow with them times hidden x layers; 4M is already minutes a step on a laptop CPU.
MAX_STEP_CHARS = 1 << 22
MAX_COUNT = 2**53  # steps and intervals: beyond this a float can no longer count them
SEED_MAX = 2**63 - 1  # torch's generators take 64-bit seeds; the trainer adds the rank and step to it
GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # weight blocks per recurrent layer


@dataclass(frozen=True)
class TrainConfig:
    # model
    cell: str = "lstm"
    n_layers: int = 2
    hidden: int = 256
    embed: int = 64  # 0 feeds one-hot vectors, as the tutorial did
    dropout: float = 0.5  # Hamlet is ~160K chars: 180 s on a CPU is ~40 epochs, so regularise hard
    # Merity et al. 2017's regularisers (charrnn_tui/model/charrnn.py); their defaults are off, so that a run saved
    # before they existed resumes as it trained
    weight_drop: float = 0.0  # DropConnect on the hidden-to-hidden weights, one mask per step
    embed_dropout: float = 0.0  # drop whole characters' embedding vectors
    locked_dropout: bool = False  # `dropout` with one mask per sequence instead of one per time step
    # data
    batch_size: int = 32
    seq_len: int = 100
    sampling: str = "tbptt"  # "random": random windows (the tutorial); "tbptt": state carried across windows
    val_fraction: float = 0.1
    # optimiser: Adam with L2 weight decay, or AdamW's decoupled decay (Loshchilov & Hutter 2019)
    optimizer: str = "adam"
    lr: float = 1.2e-2  # higher than usual: its noise generalises better here than 2e-3 to 8e-3 (docs/quality.md)
    lr_schedule: str = "cosine"
    warmup_steps: int = 50
    min_lr_frac: float = 0.05  # cosine decays to lr * min_lr_frac at the end of the budget
    grad_clip: float = 1.0  # 0 turns clipping off
    weight_decay: float = 3e-5  # L2 (Adam's): keeps the val loss from climbing in the second half of a run
    # Adam's beta2, the decay of its running mean of squared gradients (Kingma & Ba 2015). 0.999 (PyTorch's
    # default, and what runs saved before this setting trained with) remembers ~1000 steps: longer than a short
    # run, whose per-weight step sizes then still carry the large gradients of its first steps.
    adam_beta2: float = 0.999
    # weights that are evaluated, saved for generation and shown: a running average of the trained ones
    ema: float = 0.995  # per-step decay of that average (~200 steps); 0 uses the trained weights as they are
    keep_best: bool = True  # when the budget ends, keep the evaluated weights with the lowest val loss
    # budget: whichever comes first; 0 means no limit of that kind
    steps: int = 0
    max_seconds: float = 180.0
    # an early stop: after this many evaluations without a lower val loss the run ends, on the best weights
    # (keep_best; ignored without it). 0 (never) here, so that a run saved before it resumes as it trained.
    patience: int = 0
    # bookkeeping
    eval_interval: int = 100
    eval_max_chars: int = 200_000  # validation beyond this is skipped (huge corpora)
    log_interval: int = 10
    checkpoint_seconds: float = 30.0
    seed: int = 1234
    device: str = "auto"
    precision: str = "auto"  # "auto": bf16 where the CPU/GPU has it and it pays (charrnn_tui/training/precision.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def early_stop_after(self) -> int:
        """Evaluations without a lower validation loss after which the run stops early; 0 when it never does
        (patience 0, or keep_best off: there are no best weights to end on)."""
        return self.patience if self.keep_best else 0

    def validate(self) -> None:
        """Raise a CharRNNError listing every setting that cannot work, with the reason.

        Every number must be of its kind (a whole number where one is counted, never a bool) and finite
        (NaN and infinity are refused everywhere), within the caps at the top of this module: a model of at
        most MAX_LAYERS x MAX_HIDDEN and MAX_PARAMS parameters, batches of at most MAX_STEP_CHARS characters.
        """
        check = _Problems(self)
        _check_model(check)
        _check_training(check)
        _check_budget_and_schedule(check)
        if not check.problems:
            _check_sizes(check)
        if check.problems:
            raise CharRNNError("invalid settings: " + "; ".join(check.problems))

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


class _Problems:
    """What `TrainConfig.validate` found wrong with `cfg` so far, in the order it checked, and the checks that
    add to it."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.problems: list[str] = []

    def need(self, ok: bool, msg: str) -> None:
        if not ok:
            self.problems.append(msg)

    def whole(self, name: str, label: str, low: int, high: int, low_rule: str = "") -> None:
        v = getattr(self.cfg, name)
        if not _is_int(v):
            self.problems.append(f"{label} must be a whole number (got {v!r})")
        elif v < low:
            self.problems.append(f"{label} must be {low_rule or f'at least {low:,}'} (got {v})")
        elif v > high:
            self.problems.append(f"{label} must be at most {high:,} (got {v})")

    def real(self, name: str, label: str, ok, rule: str) -> None:
        v = getattr(self.cfg, name)
        if not _is_real(v):
            self.problems.append(f"{label} must be a finite number (got {v!r})")
        elif not ok(v):
            self.problems.append(f"{label} must be {rule} (got {v})")


def _check_model(check: _Problems) -> None:
    """The model's shape and its regularisers."""
    cfg = check.cfg
    check.need(cfg.cell in CELLS, f"cell must be one of {', '.join(CELLS)} (got {cfg.cell!r})")
    check.whole("n_layers", "layers", 1, MAX_LAYERS)
    check.whole("hidden", "hidden size", 1, MAX_HIDDEN)
    check.whole("embed", "embedding size", 0, MAX_EMBED, "0 (one-hot) or more")
    check.real("dropout", "dropout", lambda v: 0 <= v < 1, "in [0, 1)")
    check.real("weight_drop", "weight drop", lambda v: 0 <= v < 1, "in [0, 1)")
    check.real("embed_dropout", "embedding dropout", lambda v: 0 <= v < 1, "in [0, 1)")
    check.need(
        isinstance(cfg.locked_dropout, bool), f"locked dropout must be true or false (got {cfg.locked_dropout!r})"
    )


def _check_training(check: _Problems) -> None:
    """The optimiser, the batches and the learning-rate schedule."""
    cfg = check.cfg
    check.need(cfg.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {cfg.optimizer!r})")
    check.whole("batch_size", "batch size", 1, MAX_BATCH)
    check.whole("seq_len", "sequence length", 1, MAX_SEQ_LEN)
    check.need(cfg.sampling in SAMPLINGS, f"sampling must be one of {', '.join(SAMPLINGS)}")
    check.real("val_fraction", "validation fraction", lambda v: 0 < v < 1, "in (0, 1)")
    check.real("lr", "learning rate", lambda v: v > 0, "positive")
    check.need(cfg.lr_schedule in SCHEDULES, f"lr schedule must be one of {', '.join(SCHEDULES)}")
    check.whole("warmup_steps", "warm-up steps", 0, MAX_COUNT, "0 or more")
    check.real("min_lr_frac", "min lr fraction", lambda v: 0 <= v <= 1, "in [0, 1]")
    check.real("grad_clip", "gradient clip", lambda v: v >= 0, "0 (off) or positive")
    check.real("weight_decay", "weight decay", lambda v: 0 <= v <= 1, "in [0, 1]")
    check.real("adam_beta2", "Adam beta2", lambda v: 0 <= v < 1, "in [0, 1)")
    check.real("ema", "weight averaging decay", lambda v: 0 <= v < 1, "in [0, 1)")
    check.need(isinstance(cfg.keep_best, bool), f"keep best must be true or false (got {cfg.keep_best!r})")


def _check_budget_and_schedule(check: _Problems) -> None:
    """The budget, the schedule of evaluations, logs and checkpoints, the seed and where to train."""
    cfg = check.cfg
    check.whole("steps", "steps", 0, MAX_COUNT, "0 (no limit) or more")
    check.real("max_seconds", "max seconds", lambda v: v >= 0, "0 (no limit) or more")
    check.whole("patience", "patience", 0, MAX_COUNT, "0 (never stop early) or more")
    check.whole("eval_interval", "eval interval", 1, MAX_COUNT, "at least 1")
    check.whole("eval_max_chars", "evaluation characters", 1, MAX_COUNT, "at least 1")
    check.whole("log_interval", "log interval", 1, MAX_COUNT, "at least 1")
    check.real("checkpoint_seconds", "checkpoint interval", lambda v: v >= 0, "0 (evaluations only) or more")
    check.whole("seed", "seed", 0, SEED_MAX, "0 or more, below 2**63")
    check.need(cfg.device in DEVICES, f"device must be one of {', '.join(DEVICES)} (got {cfg.device!r})")
    check.need(cfg.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)} (got {cfg.precision!r})")


def _check_sizes(check: _Problems) -> None:
    """Once every setting is of its kind: the characters a step and the parameters are within their caps."""
    cfg = check.cfg
    chars = cfg.batch_size * cfg.seq_len
    check.need(
        chars <= MAX_STEP_CHARS,
        f"batch {cfg.batch_size} x sequence {cfg.seq_len} is {chars:,} characters a step, more than "
        f"the {MAX_STEP_CHARS:,} allowed; lower --batch-size or --seq-len",
    )
    # The recurrent layers alone (a vocabulary of 0): the full count is checked once the vocabulary
    # is known (parameter_count), by the checkpoint loader.
    n = parameter_count(cfg, 0)
    check.need(n <= MAX_PARAMS, f"the model would have {n:,} parameters, more than the {MAX_PARAMS:,} allowed")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parameter_count(config: TrainConfig, vocab_size: int) -> int:
    """The number of parameters CharRNN.from_config(vocab_size, config) has, without building it:
    embedding (vocab x embed), per layer gates x hidden x (input + hidden) weights and two gate-sized
    biases (PyTorch's layout), and the head (hidden x vocab + vocab). Settings must be validated types."""
    gates, hidden = GATES.get(config.cell, 4), config.hidden
    n = vocab_size * config.embed
    n_in = config.embed or vocab_size
    for _ in range(config.n_layers):
        n += gates * hidden * (n_in + hidden) + 2 * gates * hidden
        n_in = hidden
    return n + hidden * vocab_size + vocab_size


# The reference: the classic TensorFlow Char-RNN tutorial, exactly. Slow to learn on a CPU.
TUTORIAL = TrainConfig(
    cell="lstm", n_layers=3, hidden=512, embed=0, dropout=0.0,
    batch_size=200, seq_len=30, sampling="random",
    lr=1e-3, lr_schedule="constant", warmup_steps=0, grad_clip=0.0, weight_decay=0.0,
    ema=0.0, keep_best=False, eval_interval=50, log_interval=1,
    precision="fp32",  # the original trained in fp32; bf16 stays a flag away (--precision bf16)
)  # fmt: skip

# The default: what learned Hamlet best in 180 s on a 2-core CPU (docs/quality.md): 2x256 LSTM, embed 64,
# tbptt streams, cosine over the budget, L2 3e-5, clip 1.0, evaluated on an average of the weights (ema
# 0.995) and ending on the best evaluation (keep_best); locked dropout 0.3 and weight drop 0.2, the values
# fit_to_corpus gives Hamlet's 180 s, which a new run sizes for its own corpus and budget; lr 3e-2, which beat
# 2e-2 at Hamlet's 60 s and 180 s in steps (round 4; 2e-2 had beaten 1.2e-2 in round 3). Patience 10: a
# small text that overfits (evaluated about every 2 epochs) stops ~20 epochs after its best instead of training
# the whole budget for nothing; no measured run found a new best after more than 1 evaluation without one, so 10
# leaves a wide margin (docs/quality.md, "Early stop (patience)"). Adam's beta2 is PyTorch's 0.999; fit_to_corpus
# lowers it to 0.99 for a run planned for at most 1000 steps (Hamlet's 60 s; round 5).
FAST = TrainConfig(dropout=0.3, weight_drop=0.2, locked_dropout=True, lr=3e-2, patience=10)

# For tests and quick demos: learns something in seconds.
TINY = TrainConfig(
    n_layers=1, hidden=64, embed=16, dropout=0.0, batch_size=16, seq_len=32,
    lr=1e-2, weight_decay=0.0, ema=0.0, keep_best=False, warmup_steps=0,
    steps=200, max_seconds=0, eval_interval=50, log_interval=10,
)  # fmt: skip

PRESETS: dict[str, TrainConfig] = {"fast": FAST, "tutorial": TUTORIAL, "tiny": TINY}
PRESET_HELP = {
    "fast": "default: 2x256 LSTM for a laptop CPU (2x384 on a long budget), sized for the corpus and budget",
    "tutorial": "the original TensorFlow tutorial: 3x512 LSTM, one-hot, batch 200, seq 30, Adam 1e-3",
    "tiny": "1x64 LSTM for tests and demos: trains in seconds",
}
DEFAULT_PRESET = "fast"


# What makes a preset the preset: the model, the data and the optimiser (not the budget or bookkeeping).
# Patience is part of the budget (when to stop), as steps and max_seconds are: a default run saved before it
# existed (patience 0) is still "fast", and so is one given --patience.
_PRESET_FIELDS = (
    "cell", "n_layers", "hidden", "embed", "dropout", "weight_drop", "embed_dropout", "locked_dropout",
    "batch_size", "seq_len", "sampling", "lr", "lr_schedule", "warmup_steps", "min_lr_frac", "grad_clip",
    "optimizer", "weight_decay", "adam_beta2", "ema", "keep_best",
)  # fmt: skip


def preset_name(config: TrainConfig) -> str:
    """The preset `config` was made from, recognised by its model, data and optimiser settings; "custom"
    when it matches none (a setting was changed). The default preset's FITTED_FIELDS are not compared."""
    for name, p in PRESETS.items():
        # the default preset's sized settings (fit_to_corpus) differ from run to run and still make it the preset
        compared = [f for f in _PRESET_FIELDS if name != DEFAULT_PRESET or f not in FITTED_FIELDS]
        widths = DEFAULT_WIDTHS if name == DEFAULT_PRESET else (p.hidden,)
        windows = DEFAULT_WINDOWS if name == DEFAULT_PRESET else (p.seq_len,)
        shaped = config.hidden in widths and config.seq_len in windows
        if all(getattr(config, f) == getattr(p, f) for f in compared) and shaped:
            return name
    return "custom"


# What the fast preset trains per second on a 2-core laptop CPU (2x256 LSTM, bf16 where the CPU has it): the
# yardstick that turns a time budget into epochs until this machine's own rate is known (charrnn_tui/training/rates.py
# keeps the rate each run measured, per machine and model shape; a run that meets another rate re-sizes once).
# Measured on the reference machine (AVX-512 BF16), quiet: 41,700 chars/s without weight drop, 37,000 with it
# (docs/quality.md, round 4); an AVX2-only AMD Zen 2 trains at about half of it.
NOMINAL_CHARS_PER_S = 40_000
# The settings fit_to_corpus sizes; the others stay the preset's.
FITTED_FIELDS = ("dropout", "weight_drop", "batch_size", "eval_interval", "adam_beta2", "hidden", "seq_len")
# A run planned for at most SHORT_RUN_STEPS steps trains with Adam's beta2 at SHORT_RUN_ADAM_BETA2 instead of
# the preset's 0.999, whose ~1000-step memory of squared gradients is longer than the run. Measured on Hamlet at
# equal steps (docs/quality.md, round 5): at 600 steps (60 s on a busy machine) 0.99 ended 0.008 nats/char below
# 0.999, lower on each of 4 seeds; at 740 steps 0.002 below (3 seeds); at 2000 steps (180 s) 0.002 above.
SHORT_RUN_STEPS = 1000
SHORT_RUN_ADAM_BETA2 = 0.99
# How much faster an evaluation of the fast preset reads characters than training does (forward only, fp32):
# measured on the reference machine, 97,000 chars/s on all the plays' 200,000 capped characters and 72,000 on
# Hamlet's 17,635 (docs/quality.md, round 7), against about 40,000 in training. With it the sizing keeps
# evaluation to at most EVAL_SHARE of a run's time: every 100 steps, a 60 s run on all the plays spent 14 s of its
# budget evaluating.
EVAL_RATE_RATIO = 2.0
NOMINAL_EVAL_CHARS_PER_S = NOMINAL_CHARS_PER_S * EVAL_RATE_RATIO
EVAL_SHARE = 0.1


def planned_steps(config: TrainConfig, chars_per_s: float = NOMINAL_CHARS_PER_S) -> float:
    """How many steps a run with these settings makes: exact for a step budget, through `chars_per_s` (training
    characters a second) for a time budget (the smaller of the two when both are set, infinity when neither is)."""
    budgets = []
    if config.steps:
        budgets.append(float(config.steps))
    if config.max_seconds:
        budgets.append(config.max_seconds * chars_per_s / (config.batch_size * config.seq_len))
    return min(budgets) if budgets else math.inf


def planned_epochs(config: TrainConfig, train_chars: int, chars_per_s: float = NOMINAL_CHARS_PER_S) -> float:
    """How many times a run with these settings reads a training text of `train_chars` characters
    (`planned_steps` of batch_size x seq_len characters each, at `chars_per_s`)."""
    return planned_steps(config, chars_per_s) * config.batch_size * config.seq_len / max(1, train_chars)


def fit_to_corpus(
    config: TrainConfig, train_chars: int, keep: Collection[str] = (), chars_per_s: float = NOMINAL_CHARS_PER_S
) -> TrainConfig:
    """The default preset sized for a corpus of `train_chars` training characters and the run's budget, for a
    machine that trains `chars_per_s` characters a second.

    - dropout and weight drop grow with the epochs the budget allows (`planned_epochs`): a run that reads the
      text a few times is limited by how fast it learns, one that reads it dozens of times by overfitting
      (REGULARISATION_BY_EPOCHS, measured in docs/quality.md, round 3);
    - a text too small for 16 batches an epoch gets a smaller batch (at least 4 streams), so that it still
      has several updates per pass rather than one or two;
    - evaluation comes about every 2 epochs on a small text (at least every 10 steps, at most every 100),
      so that the best weights (keep_best) are not missed between evaluations, and on a large one no more
      often than keeps it to EVAL_SHARE of the run's time (`eval_interval_for_cost`), yet at least three
      times in the planned steps, so that a short run still draws a validation curve;
    - a short run (at most SHORT_RUN_STEPS planned steps) gets Adam's beta2 SHORT_RUN_ADAM_BETA2.

    Fields named in `keep` (the ones the user set) are left as they are. Returns a new TrainConfig.
    """
    fitted = config
    if "batch_size" not in keep and config.batch_size * config.seq_len * 16 > train_chars:
        fitted = fitted.with_overrides(batch_size=max(4, min(config.batch_size, train_chars // (16 * config.seq_len))))
    epochs = planned_epochs(fitted, train_chars, chars_per_s)
    for field, value in zip(("dropout", "weight_drop"), _regularisation_for(epochs), strict=True):
        if field not in keep:
            fitted = fitted.with_overrides(**{field: value})
    planned = planned_steps(fitted, chars_per_s)
    if "eval_interval" not in keep:
        steps_per_epoch = train_chars / (fitted.batch_size * fitted.seq_len)
        by_epochs = min(config.eval_interval, max(10, 10 * round(steps_per_epoch / 5)))
        interval = max(by_epochs, eval_interval_for_cost(fitted, train_chars))
        if math.isfinite(planned):  # ... but a short run still draws its validation curve: 3 points at least
            interval = min(interval, max(10, 10 * math.floor(planned / 30)))
        fitted = fitted.with_overrides(eval_interval=interval)
    if "adam_beta2" not in keep and planned <= SHORT_RUN_STEPS:
        fitted = fitted.with_overrides(adam_beta2=min(config.adam_beta2, SHORT_RUN_ADAM_BETA2))
    return fitted


# The width the default preset widens to where its budget affords it (core/sizing.py, docs/quality.md round 9).
WIDE_HIDDEN = 384
DEFAULT_WIDTHS = (256, WIDE_HIDDEN)  # the widths the default preset trains at (preset_name)
# The window the default preset shortens to where its budget allows few steps (core/sizing.py, round 11).
SHORT_WINDOW = 50
DEFAULT_WINDOWS = (100, SHORT_WINDOW)  # the windows the default preset trains on (preset_name)


def eval_interval_for_cost(config: TrainConfig, train_chars: int) -> int:
    """The fewest steps between evaluations (a multiple of 10) that keep evaluating to at most EVAL_SHARE of
    the run's time, for a text of `train_chars` training characters: an evaluation reads the validation split
    (val_fraction of the text, at most eval_max_chars) EVAL_RATE_RATIO times as fast as a step trains on its
    batch_size x seq_len characters, whatever the machine's rate. 290 for all the plays with the fast preset, 30
    for Hamlet."""
    val_chars = train_chars * config.val_fraction / (1 - config.val_fraction)
    if config.eval_max_chars:
        val_chars = min(val_chars, config.eval_max_chars)
    eval_in_steps = val_chars / EVAL_RATE_RATIO / (config.batch_size * config.seq_len)
    return max(10, 10 * math.ceil(eval_in_steps * (1 - EVAL_SHARE) / EVAL_SHARE / 10))


# (epochs, locked dropout, weight drop), log-linear in between: measured on Hamlet at equal steps with lr 3e-2,
# the best at 15 epochs is 0.2 / 0.1 (against 0.1 / 0) and at 40 epochs 0.3 / 0.2 (against 0.35 / 0.25), where
# weight drop keeps the validation loss falling to the end (docs/quality.md, rounds 3 and 4); beyond, more of
# both, checked on Macbeth and a 10K-character Korean text.
REGULARISATION_BY_EPOCHS = ((3.0, 0.0, 0.0), (15.0, 0.2, 0.1), (40.0, 0.3, 0.2), (100.0, 0.4, 0.3), (300.0, 0.5, 0.4))


def _regularisation_for(epochs: float) -> tuple[float, float]:
    """(dropout, weight drop) for a run that reads its text `epochs` times, to the nearest 0.05."""
    points = REGULARISATION_BY_EPOCHS
    if epochs <= points[0][0]:
        return points[0][1:]
    for (e0, *r0), (e1, *r1) in zip(points, points[1:], strict=False):
        if epochs <= e1:
            t = math.log(epochs / e0) / math.log(e1 / e0)
            d, w = (a + t * (b - a) for a, b in zip(r0, r1, strict=True))
            return round(d * 20) / 20, round(w * 20) / 20
    return points[-1][1:]


def continuation(config: TrainConfig, steps_done: int) -> TrainConfig:
    """The settings for training a saved run further by another budget as long as its first: steps count from
    the run's start (so `steps_done + steps`), seconds per session (so `max_seconds` again)."""
    return config.with_overrides(steps=steps_done + config.steps if config.steps else 0)


def preset(name: str) -> TrainConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise CharRNNError(f"no preset named {name!r}; presets: {', '.join(PRESETS)}") from None
