"""One optimisation step of a Char-RNN, as a function of the training state: the forward pass (under bf16 autocast
where the run uses it), the cross-entropy loss in nats/char, the backward pass, clipping, Adam and the weight
average; and the checks that say a run has diverged."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.charrnn import map_state
from charrnn_tui.runs.records import read_checkpoint_info
from charrnn_tui.training.state import TrainingState


class Diverged(Exception):
    """Training blew up (NaN or inf): the weights are lost, the last checkpoint is the good one."""


def diverged_loss(vocab_size: int) -> float:
    """The training loss (nats/char) above which a run has diverged: twice ln(vocab_size), what a uniform guess
    costs and about where a new model starts, plus 1 nat so that a 2-character vocabulary has room. A model that
    learns stays below ln(vocab_size) after its first steps; one that crosses this line (a learning rate or an
    optimiser setting that blows the weights up) only wastes its budget, even while its loss is still finite."""
    return 2 * math.log(max(1, vocab_size)) + 1


def check_loss(loss: float, step: int, vocab_size: int) -> None:
    """Raises Diverged for a loss that is not finite or above diverged_loss, at training step `step`."""
    if not math.isfinite(loss):
        # Nothing is saved: the weights are already poisoned, the last checkpoint is the good one.
        raise Diverged(f"the loss became {loss} at step {step}")
    if loss > diverged_loss(vocab_size):
        raise Diverged(
            f"the loss became {loss:.1f} nats/char at step {step}, more than twice the "
            f"{math.log(vocab_size):.2f} of a uniform guess over the {vocab_size} characters"
        )


def check_val_loss(val: float, step: int) -> float:
    """`val` (nats/char); raises Diverged when it is not finite."""
    if not math.isfinite(val):
        raise Diverged(f"the validation loss became {val} at step {step}")
    return val


def kept_words(kept: str | None, run_dir: Path | None) -> str:
    """What a failed run still has on disk, for its message: the checkpoint `kept` (a path, None: none saved yet),
    its step and the best weights it holds, as its checkpoint.json records them."""
    if not kept:
        return "no checkpoint had been saved yet"
    words = f"the last good checkpoint ({kept}) is kept"
    info = read_checkpoint_info(run_dir) if run_dir is not None else None
    if info is None:
        return words
    words += f", of step {info.step:,}"
    if info.best_step is not None and info.best_weights is not None and info.best_val_loss is not None:
        words += f" with the best weights (step {info.best_step:,}, val loss {info.best_val_loss:.4f})"
    return words


def failure_message(error: Exception, kept: str) -> tuple[str, str]:
    """What a run that ended on `error` tells its user, and the details (a traceback for a bug): a refused
    setting's own words, a divergence with what is kept (`kept`) and what to try, anything else by its type."""
    if isinstance(error, CharRNNError):
        return str(error), ""
    if isinstance(error, Diverged):
        return (
            f"{error}: training diverged; {kept}. Try a lower learning rate (--lr) or gradient clipping (--grad-clip)",
            "",
        )
    import traceback

    details = "".join(traceback.format_exception(error))
    return f"training failed: {type(error).__name__}: {error}", details


def check_weights(model: torch.nn.Module, step: int) -> None:
    """Raises Diverged when any weight is NaN or infinite: a step can leave such weights behind a finite loss, and
    they must never replace a good checkpoint."""
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise Diverged(f"the weights became NaN or infinite at step {step}")


def optimise(
    s: TrainingState, train_model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, autocast: torch.dtype | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of `s.model` (and `s.eval_model`'s average) on ids x, y of shape (batch, time), the learning
    rate already set in the optimiser. Carries the recurrent state in `s.carry`. Returns the loss (a 0-d tensor,
    nats/char) and the logits (batch, time, vocab)."""
    cfg = s.config
    # bf16 autocast covers the forward pass and the loss only: weights, gradients and Adam stay fp32.
    cast = torch.autocast(s.device.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()
    with cast:
        logits, new_state = train_model(x.to(s.device), s.carry)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1).to(s.device))
    s.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.grad_clip)
    s.optimizer.step()
    if cfg.ema:
        update_average(s.eval_model, s.model, min(cfg.ema, (1 + s.step) / (10 + s.step)))
    # fp32 whatever the precision, so that checkpoints hold fp32 only (bf16 -> fp32 loses nothing)
    s.carry = map_state(lambda t: t.detach().float(), new_state) if s.batches.carries_state else None
    return loss, logits


@torch.no_grad()
def update_average(avg_model: torch.nn.Module, model: torch.nn.Module, keep: float) -> None:
    """avg <- keep * avg + (1 - keep) * weights: an exponential moving average of the weights (Polyak averaging).
    The warm-up of `keep` (min(ema, (1+t)/(10+t))) trusts the new weights more while they are poor."""
    for avg, p in zip(avg_model.parameters(), model.parameters(), strict=True):
        avg.lerp_(p, 1 - keep)
