"""A run's set-up, before its first step: the device, the text split into training and validation ids, the model,
optimiser, random generators and batches as one TrainingState, and a frozen record of the run's data (RunData).
Resuming a checkpoint into that state is resuming.py's."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.model.memory_bounds import check_step_logits
from charrnn_tui.runs.records import CorpusRecord
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training import distributed
from charrnn_tui.training.batches import make_batches
from charrnn_tui.training.best_weights import BestWeights
from charrnn_tui.training.clock import RunClock
from charrnn_tui.training.precision import resolve_precision
from charrnn_tui.training.state import HEAD_CHARS, TrainingState

RANK_SEED_STRIDE = 1_000_003  # rank r seeds with seed + r * this: streams that never meet


def resolve_device(name: str) -> torch.device:
    """The device for the `device` setting ("auto": CUDA, else MPS, else CPU). Raises CharRNNError, saying what
    to use instead, for a device PyTorch cannot see."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise CharRNNError("--device cuda was asked for, but PyTorch sees no CUDA GPU; use --device cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise CharRNNError("--device mps was asked for, but this PyTorch has no MPS support; use --device cpu")
    return torch.device(name)


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam with `weight_decay` as an L2 term in the gradient (the original default), or AdamW, whose decay
    shrinks the weights directly by lr x weight_decay per step, apart from Adam's scaling (Loshchilov &
    Hutter, "Decoupled Weight Decay Regularization", 2019). Either with beta1 0.9 and `cfg.adam_beta2`."""
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.adam_beta2), weight_decay=cfg.weight_decay)


@dataclass(frozen=True)
class RunData:
    """What the loop reads of the run's text, fixed for the session: `train_chars` training characters, the
    validation ids `val_data` (1-D int64), the characters a step trains on across all ranks (batch x sequence x
    ranks), the validation characters an evaluation scores (at most eval_max_chars), and the dtype the forward
    pass autocasts to (None: fp32)."""

    train_chars: int
    val_data: torch.Tensor
    chars_per_step: int
    eval_chars: int
    autocast: torch.dtype | None


def split_text(cfg: TrainConfig, vocab: Vocab, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The text as ids, cut into training and validation (the last val_fraction); refuses settings the text is too
    small for, and a step whose logits would not fit in memory, before anything is allocated."""
    data = vocab.encode_tensor(text)
    cut = len(text) - int(len(text) * cfg.val_fraction)
    train_data, val_data = data[:cut], data[cut:]
    cfg.validate_for(len(train_data), len(val_data))
    check_step_logits(cfg.batch_size, cfg.seq_len, len(vocab), cfg.embed)
    return train_data, val_data


def build_state(
    cfg: TrainConfig, vocab: Vocab, text: str, record: CorpusRecord, ctx: distributed.DistContext,
    device: torch.device,
) -> tuple[TrainingState, RunData]:  # fmt: skip
    """A new run's state (model, optimiser, generators, batches) and its data, seeded by `cfg.seed` and the rank.
    Raises CharRNNError for settings that cannot work here (the text, the precision, a rank's share)."""
    train_data, val_data = split_text(cfg, vocab, text)
    autocast = resolve_precision(cfg.precision, device, cfg)
    torch.manual_seed(cfg.seed)
    model = CharRNN.from_config(len(vocab), cfg).to(device)
    generator = torch.Generator().manual_seed(cfg.seed + RANK_SEED_STRIDE * ctx.rank)
    # Streams all start at the text's beginning: each rank takes its own share, so that the ranks
    # together read one batch of batch_size * world_size streams, not world_size copies of one.
    rank_data = ctx.shard(train_data) if cfg.sampling == "tbptt" else train_data
    if len(rank_data) < cfg.batch_size * cfg.seq_len + 1:
        raise CharRNNError(
            f"each of {ctx.world_size} ranks streams through 1/{ctx.world_size} of the training text "
            f"({len(rank_data):,} chars), too little for batch {cfg.batch_size} x sequence {cfg.seq_len}; "
            "use fewer ranks, a smaller --batch-size or --seq-len, or --sampling random"
        )
    state = TrainingState(
        config=cfg, vocab=vocab, model=model, eval_model=copy.deepcopy(model) if cfg.ema else model,
        optimizer=make_optimizer(cfg, model),
        batches=make_batches(cfg.sampling, rank_data, cfg.batch_size, cfg.seq_len, generator),
        generator=generator, best=BestWeights(cfg.keep_best), clock=RunClock(), device=device,
        world_size=ctx.world_size, corpus=record, corpus_head=text[:HEAD_CHARS],
    )  # fmt: skip
    eval_chars = min(len(val_data), cfg.eval_max_chars or len(val_data))
    chars_per_step = cfg.batch_size * cfg.seq_len * ctx.world_size
    return state, RunData(len(train_data), val_data, chars_per_step, eval_chars, autocast)


def seed_other_rank(state: TrainingState, ctx: distributed.DistContext) -> None:
    """Other ranks draw their own dropout masks too; after a resume they start afresh (only rank 0's random state
    is saved) rather than replay the windows of their first session."""
    if ctx.rank:
        seed = state.config.seed + RANK_SEED_STRIDE * ctx.rank + state.step
        torch.manual_seed(seed)
        state.generator.manual_seed(seed)
