"""A run's live training state, and the checkpoint payload beside its restore: what `checkpoint_payload`
writes, `restore` reads back, so that a resumed run continues exactly where it stopped."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any

import torch

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.charrnn import CharRNN, State
from charrnn_tui.runs.records import CorpusRecord
from charrnn_tui.scoring.evaluate import EVALUATION
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training.batches import RandomWindows, Streams
from charrnn_tui.training.best_weights import BestWeights
from charrnn_tui.training.clock import RunClock

HEAD_CHARS = 200  # the corpus's opening, kept in checkpoints for the default prime


@dataclass
class TrainingState:
    """`model` holds the trained weights; `eval_model` is what is evaluated, saved for generation and shown:
    the model itself, or a running average of its weights when `config.ema` is set. `carry` is the recurrent
    state carried between truncated-BPTT windows. `kept_step` is set when the run ended on the weights of an
    earlier, better evaluation (keep_best)."""

    config: TrainConfig
    vocab: Vocab
    model: CharRNN
    eval_model: CharRNN
    optimizer: torch.optim.Optimizer
    batches: RandomWindows | Streams
    generator: torch.Generator
    best: BestWeights
    clock: RunClock
    device: torch.device
    world_size: int
    corpus: CorpusRecord
    corpus_head: str
    step: int = 0
    carry: State | None = None
    kept_step: int | None = None

    def budget_spent(self, eval_chars: int, chars_per_step: int) -> str | None:
        """Why the run's budget is spent ("steps", "time", "patience"), or None; the time budget is spent while
        the last evaluation of `eval_chars` and its checkpoint still fit in it."""
        cfg = self.config
        if cfg.steps and self.step >= cfg.steps:
            return "steps"
        if self.clock.out_of_time(cfg, eval_chars, chars_per_step):
            return "time"
        if cfg.early_stop_after and self.best.stalled >= cfg.early_stop_after:
            # Only rank 0 evaluates, so only it counts; ctx.agree stops the other ranks with it ("stopped"
            # there, which they neither report nor act on). The trainer's end then goes to the best weights.
            return "patience"
        return None


def checkpoint_payload(s: TrainingState) -> dict[str, Any]:
    """Everything a resume needs, as plain tensors and primitives (checkpoint.save adds format and version)."""
    parts = () if s.carry is None else s.carry if isinstance(s.carry, tuple) else (s.carry,)
    payload = {
        "model": s.model.state_dict(),
        **({"eval_model": s.eval_model.state_dict()} if s.eval_model is not s.model else {}),
        **s.best.state_dict(),
        "evaluation": EVALUATION,  # what its losses measure: a resume re-scores those of an older measure
        "kept_step": s.kept_step,
        "optimizer": s.optimizer.state_dict(),
        "vocab": s.vocab.chars,
        "config": s.config.to_dict(),
        "step": s.step,
        "elapsed_s": s.clock.elapsed(),
        "rng_torch": torch.get_rng_state(),
        "rng_data": s.generator.get_state(),
        "batches": s.batches.state_dict(),
        "carry": [t.detach().cpu() for t in parts],
        "world_size": s.world_size,
        "corpus": {"name": s.corpus.name, "source": s.corpus.source_label, "head": s.corpus_head},
    }
    if s.device.type == "cuda":
        payload["rng_cuda"] = torch.cuda.get_rng_state(s.device)
    return payload


def restore(s: TrainingState, ckpt: dict[str, Any], is_main: bool, fresh_streams: bool) -> None:
    """Put a checkpoint's training state into `s`. `fresh_streams` starts the batch streams (and the carried
    state) afresh: the corpus changed, so old positions mean nothing. A batch position that does not fit the
    text also starts them afresh. Raises KeyError, ValueError, TypeError or RuntimeError when the checkpoint's
    training state is damaged."""
    s.model.load_state_dict(ckpt["model"])
    if s.eval_model is not s.model:
        s.eval_model.load_state_dict(ckpt.get("eval_model") or ckpt["model"])
    s.optimizer.load_state_dict(ckpt["optimizer"])
    s.best.load_state_dict(ckpt)
    s.step = ckpt["step"]
    s.clock.elapsed_before = float(ckpt.get("elapsed_s", 0.0))
    if is_main:  # other ranks draw their own streams (see Trainer._build)
        torch.set_rng_state(ckpt["rng_torch"])
        s.generator.set_state(ckpt["rng_data"])
        if s.device.type == "cuda" and isinstance(ckpt.get("rng_cuda"), torch.Tensor):
            torch.cuda.set_rng_state(ckpt["rng_cuda"], s.device)
    # A position in a share of another size can lie past its end.
    same_ranks = ckpt.get("world_size", 1) == s.world_size
    if fresh_streams or not same_ranks:
        return
    try:
        s.batches.load_state_dict(ckpt.get("batches", {}))
    except ValueError:
        return  # starts afresh, without the carried state that belonged to the old position
    if ckpt.get("carry") and is_main:
        carry = [t.to(s.device) for t in ckpt["carry"]]
        s.carry = tuple(carry) if len(carry) == 2 else carry[0]


class WeightsView:
    """The weights a front end may copy from another thread while training changes them: `model` is the one in use
    (the evaluated or kept best weights), `vocab` its vocabulary; `lock` is held while the weights change, so that a
    copy is of one step."""

    def __init__(self) -> None:
        self.model: CharRNN | None = None
        self.vocab: Vocab | None = None
        self.lock = threading.Lock()

    def snapshot(self) -> tuple[CharRNN, Vocab]:
        """A CPU copy of `model` in eval mode. Raises CharRNNError before the model is built."""
        if self.model is None or self.vocab is None:
            raise CharRNNError("the model is not built yet; wait for training to start")
        with self.lock:
            model = copy.deepcopy(self.model)
        return model.cpu().eval(), self.vocab

    def best_snapshot(self, state: TrainingState | None) -> tuple[CharRNN, Vocab, int] | None:
        """A CPU copy of the best evaluation's weights so far (keep_best) in eval mode, with that evaluation's
        step; None when no best weights are kept (keep_best off, or no evaluation yet)."""
        with self.lock:  # a new best replaces the dict rather than changing it, so this reads one
            weights, step = (state.best.weights, state.best.best_step) if state is not None else (None, None)
            model = copy.deepcopy(state.eval_model) if weights is not None else None
        if model is None:
            return None
        model = model.cpu()
        model.load_state_dict(weights)
        return model.eval(), state.vocab, step
