"""Resuming a saved run: loading its checkpoint with the settings a resume may change, refusing to overwrite a
run by accident, checking the corpus against the model, and restoring the checkpoint into a new TrainingState
(scoring an older checkpoint's weights again where its evaluation was another). Each part returns the notices a
user is told once the run has started."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from charrnn_tui.core.config import RESUME_OVERRIDABLE, TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model import checkpoint
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.present.formatting import fmt_weights, fmt_why_ended
from charrnn_tui.present.safetext import display_path
from charrnn_tui.runs.folder import CHECKPOINT_NAME
from charrnn_tui.runs.records import CheckpointInfo, CorpusRecord, read_checkpoint_info, read_config
from charrnn_tui.scoring.evaluate import EVALUATION
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training.state import TrainingState, restore

# What restore() raises on a checkpoint whose training state does not fit (a damaged or hand-edited file)
DAMAGED_STATE_ERRORS = (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError)


def refuse_overwrite(run_dir: Path | None) -> None:
    """Raises CharRNNError when a new run would write into a folder that holds a trained run: hours of training
    may live there."""
    if run_dir is not None and (run_dir / CHECKPOINT_NAME).exists():
        raise CharRNNError(
            f"{display_path(run_dir)} already holds a trained run; continue it with --resume, or choose a new --run-dir"
        )


def load_for_resume(
    run_dir: Path | None, config: TrainConfig, overrides: dict[str, Any] | None
) -> tuple[dict[str, Any], TrainConfig]:
    """The run's checkpoint (checkpoint.load) and the settings it resumes with: its own, except the
    RESUME_OVERRIDABLE ones named in `overrides` (what a user typed), or all of those from `config` when
    `overrides` is None. Raises CharRNNError without a folder, for a checkpoint that cannot be read or whose
    training state does not fit its settings or its folder's (refuse_other_shape), and for a step budget the
    run has already spent."""
    if run_dir is None:
        raise CharRNNError("--resume needs --run-dir: the folder of the run to continue")
    ckpt = checkpoint.load(run_dir / CHECKPOINT_NAME, resuming=True)
    refuse_other_shape(run_dir, ckpt)
    if overrides is None:
        chosen = {k: getattr(config, k) for k in RESUME_OVERRIDABLE}
    else:
        chosen = {k: v for k, v in overrides.items() if k in RESUME_OVERRIDABLE}
    resumed = ckpt["config_obj"].with_overrides(**chosen)
    if resumed.steps and ckpt["step"] >= resumed.steps:
        raise CharRNNError(
            f"this run has already done {ckpt['step']} steps of its {resumed.steps}; "
            "give a larger --steps (or --steps 0 and --max-seconds S) to train it further"
        )
    return ckpt, resumed


# What a model and its training stream are made of: a checkpoint and its folder's config.json differ in these only
# when the checkpoint came from another run (a resume changes RESUME_OVERRIDABLE ones, the re-size regularisation).
SHAPE_FIELDS = ("cell", "n_layers", "hidden", "embed", "batch_size", "seq_len", "sampling")


def refuse_other_shape(run_dir: Path, ckpt: dict[str, Any]) -> None:
    """Raises CharRNNError, saying what differs and what to do, when the checkpoint's training state does not fit
    its own settings (checkpoint.load's `resume_problem`), or its settings describe another model or batch
    shape than the run folder's config.json (a checkpoint copied in from another run). A config.json that is
    missing or damaged is not compared: the checkpoint's own settings are the run's."""
    shown = display_path(run_dir)
    if ckpt.get("resume_problem"):
        raise CharRNNError(
            f"{shown} cannot be resumed: its checkpoint's training state is damaged or of another model (it "
            f"{ckpt['resume_problem']}); it can still generate text (--generate-only), and a new run trains from "
            "the start"
        )
    try:
        recorded = read_config(run_dir).config
    except CharRNNError:
        return
    ours = ckpt["config_obj"]
    differ = [f"{f} {getattr(ours, f)} in checkpoint.pt, {getattr(recorded, f)} in config.json" for f in SHAPE_FIELDS
              if getattr(ours, f) != getattr(recorded, f)]  # fmt: skip
    if differ:
        raise CharRNNError(
            f"{shown} cannot be resumed: its checkpoint is of another model than the run recorded ("
            f"{'; '.join(differ[:3])}): it was copied from another run. Put this run's own checkpoint back, or "
            "continue the other run in its own folder"
        )


def check_resumed_corpus(text: str, vocab: Vocab, record: CorpusRecord, run_dir: Path) -> str | None:
    """Refuse a corpus the model cannot read (CharRNNError); returns a notice when its content changed since the
    run's record (then the batch streams restart), else None."""
    missing = vocab.missing(text)
    if missing:
        raise CharRNNError(
            "this corpus is not the one the run was trained on (it has characters the model never saw, "
            f"e.g. {sorted(missing)[:5]}); resume with the same corpus, or train a new run on this one"
        )
    try:
        old = read_config(run_dir).corpus
    except CharRNNError:
        return None
    if old.sha256 is None or old.sha256 == record.sha256:
        return None
    return (
        f"the corpus changed since this run last trained on it (was {old.chars or '?'} characters, now "
        f"{record.chars}); its characters fit the model, so training goes on with it and the batch streams "
        "start afresh"
    )


def resume_into(
    state: TrainingState, ckpt: dict[str, Any], run_dir: Path, is_main: bool, fresh_streams: bool,
    val_loss: Callable[[CharRNN], float],
) -> list[str]:  # fmt: skip
    """Restore `ckpt` into a newly built `state`; `val_loss(model)` scores weights on the run's validation text
    (nats/char) where an older checkpoint needs it. Returns the notices for the user. Raises CharRNNError for a
    checkpoint whose training state is damaged."""
    try:
        restore(state, ckpt, is_main, fresh_streams=fresh_streams)
    except DAMAGED_STATE_ERRORS as e:
        raise CharRNNError(
            f"{display_path(run_dir)} holds a checkpoint whose training state is damaged "
            f"({type(e).__name__}); it can still generate text, but cannot be resumed"
        ) from None
    notices = []
    if is_main and ckpt.get("evaluation", 1) < EVALUATION:
        notices += [note] if (note := rescore(state, val_loss)) else []
    if is_main and (note := ended_notice(ckpt, read_checkpoint_info(run_dir))):
        notices.append(note)
    return notices


def ended_notice(ckpt: dict[str, Any], info: CheckpointInfo | None) -> str | None:
    """What a resume tells about the end of the run it continues, when that run ended on an earlier step's (best)
    weights (`ckpt["kept_step"]`): training on starts from its last weights instead. Why it ended is the one
    recorded in checkpoint.json (`info.end_reason`, None for older records and killed runs), in the words the
    end of that session used (fmt_why_ended, fmt_weights); None when the run ended on its last weights."""
    step, kept = ckpt["step"], ckpt.get("kept_step")
    if kept is None:
        return None
    why = f" ({fmt_why_ended(info.end_reason, info.stalled_evals)})" if info and info.end_reason else ""
    return (
        f"when this run ended at step {step:,}{why}, it held its {fmt_weights(step, kept)}. Training on continues "
        f"from its last weights (step {step:,}), past its best, and ends on the best weights again unless it beats "
        "them"
    )


def rescore(state: TrainingState, val_loss: Callable[[CharRNN], float]) -> str | None:
    """The checkpoint does not record the evaluation that reads every validation part with its context: its
    losses were measured with parts that started blank (about 0.01 nats/char higher on Hamlet), or the
    record is damaged. Score its current and best weights again, so that the evaluations to come are
    compared with like; returns the notice with both figures (None for a run never evaluated)."""
    best = state.best
    old_last, old_best = best.last_val, best.best_val
    if old_last is None:
        return None  # never evaluated: nothing to compare with
    best.last_val = val_loss(state.eval_model)
    note = (
        f"this run's checkpoint was saved before the evaluation read every part of the validation text with "
        f"its context, so its losses were scored again: the weights of step {state.step:,} {old_last:.4f} then, "
        f"{best.last_val:.4f} now"
    )
    if old_best is not None and best.weights is not None:
        best.best_val = val_loss(best.copy_of(state.eval_model))
        note += f"; its best (step {best.best_step:,}) {old_best:.4f} then, {best.best_val:.4f} now"
    elif old_best is not None:  # no best weights kept: move the best figure by the difference just measured
        best.best_val = old_best - (old_last - best.last_val)
        note += f"; its best {old_best:.4f} then, about {best.best_val:.4f} now (its weights are not kept)"
    return note
