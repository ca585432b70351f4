"""The training loop. It runs in whatever thread calls `run()`, reports through events, and is steered from
any other thread through its `TrainingControl` (pause, unpause, stop, save now).

The parts live beside it: the learning-rate schedule (lr_schedule.py), the run clock (run_clock.py), the
best-weights keeper (best_weights.py), the checkpoint payload and its restore (train_state.py), metrics rows
(metrics.py) and everything on disk (py).
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from charrnn_tui.core.config import RESUME_OVERRIDABLE, TrainConfig
from charrnn_tui.core.control import TrainingControl
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import (
    CheckpointSaved,
    Evaluated,
    Event,
    Failed,
    Finished,
    Logged,
    Notice,
    Paused,
    Sample,
    Started,
    Step,
    ThreadsChanged,
    Unpaused,
)
from charrnn_tui.model import checkpoint
from charrnn_tui.model.charrnn import CharRNN, State, detach_state
from charrnn_tui.model.memory_bounds import check_step_logits
from charrnn_tui.present.formatting import fmt_sized
from charrnn_tui.present.safetext import display_path
from charrnn_tui.runs.folder import CHECKPOINT_NAME, CONFIG_NAME, LOCK_NAME, METRICS_NAME, RunLock, remove_temporaries
from charrnn_tui.runs.metrics_log import MetricsLog
from charrnn_tui.runs.records import CorpusRecord, read_config, record_corpus, write_checkpoint_info, write_config
from charrnn_tui.scoring.evaluate import EVALUATION, evaluate
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training import distributed, rates
from charrnn_tui.training.batches import make_batches
from charrnn_tui.training.best_weights import BestWeights
from charrnn_tui.training.clock import RunClock
from charrnn_tui.training.cpu_threads import ThreadChooser, thread_candidates
from charrnn_tui.training.lr_schedule import learning_rate
from charrnn_tui.training.meter import IntervalMeter
from charrnn_tui.training.precision import resolve_precision
from charrnn_tui.training.state import HEAD_CHARS, TrainingState, checkpoint_payload, restore


def resolve_device(name: str) -> torch.device:
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


# What a run that meets another rate than its plan's sizes again, mid-run (rates.Sizing)
RESIZED_FIELDS = ("dropout", "weight_drop", "eval_interval")


class Diverged(Exception):
    """Training blew up (NaN or inf): the weights are lost, the last checkpoint is the good one."""


class Trainer:
    def __init__(
        self,
        corpus: Corpus,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        on_event: Callable[[Event], None] | None = None,
        resume: bool = False,
        resume_overrides: dict[str, Any] | None = None,
        control: TrainingControl | None = None,
        sizing: rates.Sizing | None = None,
    ) -> None:
        """With `resume`, the run keeps its checkpoint's settings except the RESUME_OVERRIDABLE ones:
        those named in `resume_overrides` when it is given (what a user typed), else `config`'s. `sizing`: how
        `config` was sized (the default preset, rates.Sizing); a new run with it measures its rate once and, when
        that is far from the plan's, re-sizes its regularisation and evaluation interval (RESIZED_FIELDS)."""
        self.corpus = corpus
        self.config = config
        self.run_dir = Path(run_dir) if run_dir else None
        self.on_event = on_event
        self.resume_run = resume
        self.resume_overrides = resume_overrides
        self.control = control or TrainingControl()
        self.history: list[dict[str, Any]] = []  # metrics rows of the whole run, as in metrics.jsonl
        self.last_checkpoint: str | None = None
        self.vocab: Vocab | None = None
        self._state: TrainingState | None = None
        self._model: CharRNN | None = None  # what snapshot() copies: the evaluated (or kept best) weights
        self._model_lock = threading.Lock()  # held while the weights change, so a snapshot is of one step
        self._run_lock = RunLock(self.run_dir) if self.run_dir else None
        self._metrics = MetricsLog(self.run_dir) if self.run_dir else None
        self._writes = False  # this process writes the run folder (rank 0 with a folder)
        self._opened = False  # ... and has started writing it
        self._config_written = False
        self._notices: list[str] = []  # told once the run has started (a changed corpus, skipped rows)
        self._recovered = False  # the folder was made again: save the weights in memory at once
        self._is_main, self._rank = True, 0
        self._threads, self._fixed_threads = ThreadChooser(()), None  # set for the device when the run starts
        self.sizing = sizing
        self._rate_check: rates.RateCheck | None = None  # a sized new run's one look at its rate

    @property
    def step(self) -> int:
        return self._state.step if self._state else 0

    def snapshot(self) -> tuple[CharRNN, Vocab]:
        """A CPU copy of the current weights in eval mode, safe to use beside the running trainer."""
        if self._model is None or self.vocab is None:
            raise CharRNNError("the model is not built yet; wait for training to start")
        with self._model_lock:
            model = copy.deepcopy(self._model)
        return model.cpu().eval(), self.vocab

    def best_snapshot(self) -> tuple[CharRNN, Vocab, int] | None:
        """A CPU copy of the best evaluation's weights so far (keep_best) in eval mode, with that evaluation's
        step; None when no best weights are kept (keep_best off, or no evaluation yet)."""
        s = self._state
        with self._model_lock:  # a new best replaces the dict rather than changing it, so this reads one
            weights, step = (s.best.weights, s.best.best_step) if s is not None else (None, None)
            model = copy.deepcopy(s.eval_model) if weights is not None else None
        if model is None:
            return None
        model = model.cpu()
        model.load_state_dict(weights)
        return model.eval(), s.vocab, step

    # ---- the run --------------------------------------------------------------------------------
    def run(self) -> Finished | Failed:
        """Train until the budget is spent or the control says stop. Never raises: failures become a
        Failed event (also returned), with the last good checkpoint named."""
        try:
            return self._train()
        except CharRNNError as e:
            result: Finished | Failed = self._failed(str(e))
        except Diverged as e:
            result = self._failed(
                f"{e}: training diverged; {self._kept()}. Try a lower learning rate (--lr) or gradient "
                "clipping (--grad-clip)"
            )
        except Exception as e:  # a bug or an environment fault: report it, keep the front end alive
            import traceback

            result = self._failed(f"training failed: {type(e).__name__}: {e}", traceback.format_exc())
        try:
            self._emit(result)
        except Exception:
            pass  # the front end's own handler failed too; the result is returned all the same
        return result

    def _train(self) -> Finished | Failed:
        device = resolve_device(self.config.device)
        ctx = distributed.from_environment(device.type)
        self._threads = ThreadChooser(thread_candidates(device, ctx.enabled))
        self._fixed_threads = torch.get_num_threads() if device.type == "cpu" else None
        try:
            return self._train_in(ctx, device)
        finally:
            self._threads.restore()
            ctx.close()
            self._close_folder()

    def _train_in(self, ctx: distributed.DistContext, device: torch.device) -> Finished:
        self._is_main, self._rank = ctx.is_main, ctx.rank
        if device.type == "cuda" and ctx.enabled:
            device = torch.device("cuda", ctx.local_rank)
            torch.cuda.set_device(device)
        self._writes = ctx.is_main and self.run_dir is not None
        if self._writes:
            self._run_lock.acquire()  # before reading: another writer's files are not ours to read or clean
        ckpt = self._load_checkpoint() if self.resume_run else self._refuse_overwrite()
        s = self._build(ctx, device, ckpt)
        train_model = ctx.wrap(s.model, device)
        if self._writes:
            self._open_folder(s, ckpt)
        self._emit_started(s, ckpt is not None)
        reason = None
        while True:
            reason = self._stop_reason(s)
            stop, s.clock.agreed = ctx.agree(reason is not None, s.clock.session_elapsed())
            if stop:
                break
            if self.control.paused:
                self._wait_while_paused(s)
                continue
            self._train_step(s, train_model)
            self._after_step(s, ctx)
        return self._finish(s, ctx, reason or "stopped")

    def _stop_reason(self, s: TrainingState) -> str | None:
        cfg = s.config
        if self.control.stopping:
            return "stopped"
        if cfg.steps and s.step >= cfg.steps:
            return "steps"
        if s.clock.out_of_time(cfg, self._eval_chars, self._chars_per_step):
            return "time"  # stop while the last evaluation and checkpoint still fit in the budget
        if cfg.early_stop_after and s.best.stalled >= cfg.early_stop_after:
            # Only rank 0 evaluates, so only it counts; ctx.agree stops the other ranks with it ("stopped"
            # there, which they neither report nor act on).
            return "patience"  # past its best for long enough: _finish ends on the best weights
        return None

    def _wait_while_paused(self, s: TrainingState) -> None:
        self._emit(Paused(s.step))
        s.clock.add_pause(self.control.wait_while_paused())
        self._emit(Unpaused(s.step))

    def _train_step(self, s: TrainingState, train_model: torch.nn.Module) -> None:
        self._threads.before_step()
        cfg, t0 = s.config, time.perf_counter()
        x, y, reset = s.batches.next()
        if reset:
            s.carry = None
        self._lr = learning_rate(cfg, s.step, s.clock.progress(cfg, s.step))
        for group in s.optimizer.param_groups:
            group["lr"] = self._lr
        with self._model_lock:
            # bf16 autocast covers the forward pass and the loss only: weights, gradients and Adam stay fp32.
            with self._precision(s.device):
                logits, new_state = train_model(x.to(s.device), s.carry)
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1).to(s.device))
            s.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.grad_clip)
            s.optimizer.step()
            if cfg.ema:
                _update_average(s.eval_model, s.model, min(cfg.ema, (1 + s.step) / (10 + s.step)))
        # fp32 whatever the precision, so that checkpoints hold fp32 only (bf16 -> fp32 loses nothing)
        s.carry = _to_float(detach_state(new_state)) if s.batches.carries_state else None
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            # Nothing is saved: the weights are already poisoned, the last checkpoint is the good one.
            raise Diverged(f"the loss became {loss_value} at step {s.step + 1}")
        if loss_value > diverged_loss(len(s.vocab)):
            raise Diverged(
                f"the loss became {loss_value:.1f} nats/char at step {s.step + 1}, more than twice the "
                f"{math.log(len(s.vocab)):.2f} of a uniform guess over the {len(s.vocab)} characters"
            )
        s.step += 1
        dt = time.perf_counter() - t0
        choice = self._threads.after_step(dt)
        s.clock.record_step(dt)
        self._meter.add(loss_value, dt)
        eta = s.clock.eta(cfg, s.step, self._eval_chars, self._chars_per_step)
        rate = self._chars_per_step / s.clock.step_time
        progress = s.clock.progress(cfg, s.step)
        self._emit(Step(s.step, loss_value, self._lr, rate, s.clock.elapsed(), eta, progress, self._thread_count))
        if choice is not None:
            self._emit(ThreadsChanged(s.step, choice.threads, choice.previous, choice.step_seconds))
        if self.on_event is not None and self._is_main:
            pred = logits[0].detach().argmax(-1)
            self._emit(Sample(s.step, s.vocab.decode(x[0]), s.vocab.decode(y[0]), s.vocab.decode(pred)))

    @property
    def _thread_count(self) -> int | None:
        return self._threads.threads if self._threads.active else self._fixed_threads

    def _precision(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self._autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self._autocast)

    def _after_step(self, s: TrainingState, ctx: distributed.DistContext) -> None:
        if self._rate_check is not None:
            self._resize_if_off_plan(s, ctx)
        cfg = s.config
        last_step = bool(cfg.steps) and s.step >= cfg.steps
        val = self._evaluate(s) if ctx.is_main and (s.step % cfg.eval_interval == 0 or last_step) else None
        if val is not None or s.step % cfg.log_interval == 0:
            self._log_row(s, val)
        if val is not None:
            self._save(s, "eval")
        elif self.control.take_save_request():
            self._save(s, "request")
        elif cfg.checkpoint_seconds and time.perf_counter() - self._last_save >= cfg.checkpoint_seconds:
            self._save(s, "timer")

    def _resize_if_off_plan(self, s: TrainingState, ctx: distributed.DistContext) -> None:
        """Once, RESIZE_AT_SHARE into a sized run: when the rate it trains at is more than RESIZE_FACTOR away from
        the plan's, size the RESIZED_FIELDS again (not the batch, which depends on the text only). All
        ranks decide at the same step (the agreed clock) on the same figure (their mean)."""
        seconds = self._rate_check.seconds_per_step(s.clock.agreed, s.clock.steps_timed, s.clock.seconds_in_steps)
        if seconds is None:
            return
        self._rate_check = None
        rate = self._chars_per_step / ctx.mean(seconds)
        resized = self.sizing.resized(rate)
        if resized is None:
            return
        fitted = resized.config()
        # Not Adam's beta2: its second-moment average was built with the old one, and Adam's bias correction
        # (1 - beta2^t) under a new beta2 would scale every step size at once (0.99 -> 0.999 at step 60: 4x smaller).
        changes = {f: getattr(fitted, f) for f in RESIZED_FIELDS}
        s.config = s.config.with_overrides(**changes)
        for model in {id(s.model): s.model, id(s.eval_model): s.eval_model}.values():
            model.set_regularisation(s.config.dropout, s.config.weight_drop)
        planned, self.sizing = self.sizing.chars_per_s, resized
        self._emit(Notice(s.step, (
            f"this machine trains at {rate:,.0f} chars/s, not the {planned:,.0f} the run was planned "
            f"for: re-{fmt_sized(s.config, self._train_chars, rate, True)}"
        )))  # fmt: skip

    def _finish(self, s: TrainingState, ctx: distributed.DistContext, reason: str) -> Finished:
        if ctx.is_main and self.run_dir is not None and s.clock.seconds_in_steps > 0:
            # What this machine trains this shape at, for the next run's plan (rates.py)
            rate = self._chars_per_step * s.clock.steps_timed / s.clock.seconds_in_steps
            rates.record_rate(s.config, rate, s.device.type, ctx.world_size)
        if ctx.is_main:
            if self._last_eval_step != s.step:
                val = self._evaluate(s)
                if self._meter.pending or not self.history or self.history[-1]["step"] != s.step:
                    self._log_row(s, val)
                else:  # this step already has its row: give it the validation loss rather than add a second
                    self.history[-1]["val_loss"] = val
                    self._rewrite_metrics()
            elif self._meter.pending:
                self._log_row(s, None)
            if reason != "stopped" and s.best.past_best:
                self._end_on_best(s)
            if self._saved_step != s.step and (reason != "stopped" or self.control.save_on_stop):
                self._save(s, "final")
        self.control.take_save_request()
        final_val = s.best.best_val if s.kept_step is not None else s.best.last_val
        result = Finished(
            s.step, reason, s.clock.elapsed(), final_val, s.best.best_val,
            str(self.run_dir) if self.run_dir else None, self.last_checkpoint, s.kept_step, s.best.stalled,
        )  # fmt: skip
        self._emit(result)
        return result

    # ---- building and restoring -------------------------------------------------------------------------
    def _refuse_overwrite(self) -> None:
        if self.run_dir is not None and (self.run_dir / CHECKPOINT_NAME).exists():
            # Hours of training may live there: never overwrite a run by accident.
            raise CharRNNError(
                f"{display_path(self.run_dir)} already holds a trained run; continue it with --resume, "
                "or choose a new --run-dir"
            )

    def _load_checkpoint(self) -> dict[str, Any]:
        if self.run_dir is None:
            raise CharRNNError("--resume needs --run-dir: the folder of the run to continue")
        ckpt = checkpoint.load(self.run_dir / CHECKPOINT_NAME)
        if self.resume_overrides is None:
            overrides = {k: getattr(self.config, k) for k in RESUME_OVERRIDABLE}
        else:
            overrides = {k: v for k, v in self.resume_overrides.items() if k in RESUME_OVERRIDABLE}
        self.config = ckpt["config_obj"].with_overrides(**overrides)
        if self.config.steps and ckpt["step"] >= self.config.steps:
            raise CharRNNError(
                f"this run has already done {ckpt['step']} steps of its {self.config.steps}; "
                "give a larger --steps (or --steps 0 and --max-seconds S) to train it further"
            )
        return ckpt

    def _build(self, ctx: distributed.DistContext, device: torch.device, ckpt: dict | None) -> TrainingState:
        cfg, text = self.config, self.corpus.text
        cfg.validate()
        record = record_corpus(self.corpus.name, text, self.corpus.source, getattr(self.corpus, "encoding", "utf-8"))
        changed = False
        if ckpt is None:
            vocab = Vocab.from_text(text)
        else:
            vocab = ckpt["vocab_obj"]
            changed = self._check_resumed_corpus(vocab, record)
        data = vocab.encode_tensor(text)
        cut = len(text) - int(len(text) * cfg.val_fraction)
        train_data, self._val_data = data[:cut], data[cut:]
        cfg.validate_for(len(train_data), len(self._val_data))
        check_step_logits(cfg.batch_size, cfg.seq_len, len(vocab), cfg.embed)  # before a step allocates them

        self._autocast = resolve_precision(cfg.precision, device, cfg)
        torch.manual_seed(cfg.seed)
        model = CharRNN.from_config(len(vocab), cfg).to(device)
        optimizer = make_optimizer(cfg, model)
        generator = torch.Generator().manual_seed(cfg.seed + 1_000_003 * ctx.rank)
        # Streams all start at the text's beginning: each rank takes its own share, so that the ranks
        # together read one batch of batch_size * world_size streams, not world_size copies of one.
        rank_data = ctx.shard(train_data) if cfg.sampling == "tbptt" else train_data
        if len(rank_data) < cfg.batch_size * cfg.seq_len + 1:
            raise CharRNNError(
                f"each of {ctx.world_size} ranks streams through 1/{ctx.world_size} of the training text "
                f"({len(rank_data):,} chars), too little for batch {cfg.batch_size} x sequence {cfg.seq_len}; "
                "use fewer ranks, a smaller --batch-size or --seq-len, or --sampling random"
            )
        s = TrainingState(
            config=cfg, vocab=vocab, model=model, eval_model=copy.deepcopy(model) if cfg.ema else model,
            optimizer=optimizer, batches=make_batches(cfg.sampling, rank_data, cfg.batch_size, cfg.seq_len, generator),
            generator=generator, best=BestWeights(cfg.keep_best), clock=RunClock(), device=device,
            world_size=ctx.world_size, corpus=record, corpus_head=text[:HEAD_CHARS],
        )  # fmt: skip
        if ckpt is not None:
            try:
                restore(s, ckpt, ctx.is_main, fresh_streams=changed)
            except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as e:
                raise CharRNNError(
                    f"{display_path(self.run_dir)} holds a checkpoint whose training state is damaged "
                    f"({type(e).__name__}); it can still generate text, but cannot be resumed"
                ) from None
            if ctx.is_main and ckpt.get("evaluation", 1) < EVALUATION:
                self._rescore(s)
            if cfg.early_stop_after and s.best.since_best >= cfg.early_stop_after and s.best.best_step is not None:
                # Training on a run that stopped early starts past its best: say so, and what it ends on.
                self._notices.append(
                    f"this run stopped early: no better validation loss in {s.best.since_best} evaluations after "
                    f"step {s.best.best_step:,}. Training on continues from its last weights (step {s.step:,}), "
                    f"past its best, and ends on the best weights again unless it beats them"
                )
        if ctx.rank:
            # Other ranks draw their own dropout masks too; after a resume they start afresh (only rank 0's
            # random state is saved) rather than replay the windows of their first session.
            torch.manual_seed(cfg.seed + 1_000_003 * ctx.rank + s.step)
            generator.manual_seed(cfg.seed + 1_000_003 * ctx.rank + s.step)
        s.clock.start()  # this session's clock starts now, after the set-up
        self._train_chars = len(train_data)
        self._chars_per_step = cfg.batch_size * cfg.seq_len * ctx.world_size
        self._eval_chars = min(len(self._val_data), cfg.eval_max_chars or len(self._val_data))
        self._meter = IntervalMeter(s.step)
        self._lr = learning_rate(cfg, s.step, s.clock.progress(cfg, s.step))
        self._last_eval_step = s.step if ckpt is not None else -1
        self._saved_step = s.step if ckpt is not None else -1
        self._last_save = time.perf_counter()
        at = self.sizing.resize_at() if self.sizing is not None and ckpt is None else None
        self._rate_check = rates.RateCheck(at) if at is not None else None
        self._state, self._model, self.vocab = s, s.eval_model, vocab
        return s

    def _rescore(self, s: TrainingState) -> None:
        """The checkpoint does not record the evaluation that reads every validation part with its context: its
        losses were measured with parts that started blank (about 0.01 nats/char higher on Hamlet), or the
        record is damaged. Score its current and best weights again, so that the evaluations to come are
        compared with like, and say so with both figures."""
        old_last, old_best = s.best.last_val, s.best.best_val
        if old_last is None:
            return  # never evaluated: nothing to compare with
        s.best.last_val = self._val_loss(s, s.eval_model)
        note = (
            f"this run's checkpoint was saved before the evaluation read every part of the validation text with "
            f"its context, so its losses were scored again: the weights of step {s.step:,} {old_last:.4f} then, "
            f"{s.best.last_val:.4f} now"
        )
        if old_best is not None and s.best.weights is not None:
            s.best.best_val = self._val_loss(s, s.best.copy_of(s.eval_model))
            note += f"; its best (step {s.best.best_step:,}) {old_best:.4f} then, {s.best.best_val:.4f} now"
        elif old_best is not None:  # no best weights kept: move the best figure by the difference just measured
            s.best.best_val = old_best - (old_last - s.best.last_val)
            note += f"; its best {old_best:.4f} then, about {s.best.best_val:.4f} now (its weights are not kept)"
        self._notices.append(note)

    def _check_resumed_corpus(self, vocab: Vocab, record: CorpusRecord) -> bool:
        """Refuse a corpus the model cannot read; returns whether its content changed since the run's record
        (then the batch streams restart)."""
        missing = vocab.missing(self.corpus.text)
        if missing:
            raise CharRNNError(
                "this corpus is not the one the run was trained on (it has characters the model never saw, "
                f"e.g. {sorted(missing)[:5]}); resume with the same corpus, or train a new run on this one"
            )
        try:
            old = read_config(self.run_dir).corpus
        except CharRNNError:
            return False
        if old.sha256 is None or old.sha256 == record.sha256:
            return False
        self._notices.append(
            f"the corpus changed since this run last trained on it (was {old.chars or '?'} characters, now "
            f"{record.chars}); its characters fit the model, so training goes on with it and the batch streams "
            "start afresh"
        )
        return True

    # ---- the run folder ---------------------------------------------------------------------------------
    def _open_folder(self, s: TrainingState, ckpt: dict | None) -> None:
        """Start writing the run folder. Called only once the run is known to work (built and restored)."""
        remove_temporaries(self.run_dir)
        self._opened = True
        if ckpt is None:
            self._write_config(s)
            self.history = []
        else:
            read = self._metrics.read(up_to_step=s.step)
            # Rows logged after the checkpoint (a crash, a kill) are dropped: the run continues from there.
            self.history = read.rows
            note = read.note(self._metrics.path)
            if note:
                self._notices.append(note)
            self.last_checkpoint = str(self.run_dir / CHECKPOINT_NAME)
        self._rewrite_metrics()

    def _write_config(self, s: TrainingState) -> None:
        write_config(self.run_dir, s.config, s.corpus)
        self._config_written = True

    def _rewrite_metrics(self) -> None:
        if self._writes:
            self._ensure_folder()
            self._metrics.rewrite(self.history)

    def _ensure_folder(self) -> None:
        """A run folder deleted during training is made again from what is in memory."""
        if self.run_dir.is_dir():
            return
        self._run_lock.release()
        self._run_lock.acquire()  # creates the folder, and refuses if another writer took it meanwhile
        s = self._state
        self._write_config(s)
        self._metrics.rewrite(self.history)
        self._saved_step = -1
        self._emit(Notice(s.step, f"the run folder {display_path(self.run_dir)} was deleted during "
                                  "training; it was made again and the weights in memory are saved there"))  # fmt: skip
        self._recovered = True

    def _log_row(self, s: TrainingState, val_loss: float | None) -> None:
        row = self._meter.row(s.step, self._lr, s.clock.elapsed(), self._chars_per_step, val_loss)
        if self._thread_count is not None:
            row["threads"] = self._thread_count
        if not self._is_main:
            return
        if self._writes:
            self._ensure_folder()  # before the row joins the history: a folder made again gets the history
        self.history.append(row)
        if self._writes:
            self._metrics.append(row)
            if self._recovered:
                self._recovered = False
                self._save(s, "recovered")
        self._emit(Logged(row))

    def _save(self, s: TrainingState, reason: str) -> None:
        self._last_save = time.perf_counter()
        if not self._writes:
            return
        t0 = time.perf_counter()
        # A step can leave NaN weights behind a finite loss; such weights must never replace a good file.
        if not all(torch.isfinite(p).all() for p in s.model.parameters()):
            raise Diverged(f"the weights became NaN or infinite at step {s.step}")
        self._ensure_folder()
        path = self.run_dir / CHECKPOINT_NAME
        checkpoint.save(path, checkpoint_payload(s))
        write_checkpoint_info(
            self.run_dir, step=s.step, best_val_loss=s.best.best_val, last_val_loss=s.best.last_val,
            elapsed_s=round(s.clock.elapsed(), 3), kept_step=s.kept_step,
        )  # fmt: skip
        if not self._config_written:  # a resumed run's record changes only once its checkpoint does
            self._write_config(s)
        self.last_checkpoint, self._saved_step = str(path), s.step
        s.clock.save_seconds = time.perf_counter() - t0
        self._emit(CheckpointSaved(s.step, str(path), reason))

    def _close_folder(self) -> None:
        """Release the run; a new run that failed before its first checkpoint leaves no folder behind."""
        if self._run_lock is None or not self._run_lock.held:
            return
        try:
            if not self.resume_run and not (self.run_dir / CHECKPOINT_NAME).exists():
                for name in (CONFIG_NAME, METRICS_NAME, LOCK_NAME):
                    (self.run_dir / name).unlink(missing_ok=True)
                self.run_dir.rmdir()  # only when nothing else is in it
        except OSError:
            pass
        finally:
            self._run_lock.release()

    # ---- evaluation and the end ------------------------------------------------------------------------
    def _val_loss(self, s: TrainingState, model: CharRNN) -> float:
        """`model`'s loss on this run's validation split, in nats/char (evaluate())."""
        return evaluate(model, self._val_data, s.device, s.config.eval_max_chars)

    def _evaluate(self, s: TrainingState) -> float:
        t0 = time.perf_counter()
        with self._model_lock:
            val = self._val_loss(s, s.eval_model)
        s.clock.eval_seconds = time.perf_counter() - t0
        if not math.isfinite(val):
            raise Diverged(f"the validation loss became {val} at step {s.step}")
        s.best.observe(val, s.step, s.eval_model)
        self._last_eval_step = s.step
        self._emit(Evaluated(s.step, val, s.best.best_val, s.clock.elapsed()))
        return val

    def _end_on_best(self, s: TrainingState) -> None:
        """The run ended past its best evaluation (overfitting): end on the best weights. The trained and
        averaged weights stay as they are in the checkpoint, so --resume continues the optimisation itself."""
        self._model, s.kept_step, self._saved_step = s.best.copy_of(s.eval_model), s.best.best_step, -1
        if self.history:  # the last row keeps its own evaluation; it also says what the run ends with
            self.history[-1].update(kept_step=s.kept_step, final_val_loss=s.best.best_val)
            self._rewrite_metrics()

    # ---- events -----------------------------------------------------------------------------------------
    def _emit_started(self, s: TrainingState, resumed: bool) -> None:
        self._emit(Started(
            step=s.step, config=s.config.to_dict(), corpus_name=self.corpus.name,
            run_dir=str(self.run_dir) if self.run_dir else None, device=str(s.device),
            n_params=s.model.num_params(), vocab_size=len(s.vocab), train_chars=self._train_chars,
            val_chars=len(self._val_data), world_size=s.world_size, resumed=resumed, history=tuple(self.history),
            threads=self._thread_count, threads_chosen=self._threads.active,
        ))  # fmt: skip
        for note in self._notices:
            self._emit(Notice(s.step, note))

    def _emit(self, event: Event) -> None:
        # Only rank 0 reports, except failures: a rank's own error must not be lost behind the others'
        # "connection closed" when it leaves.
        if self.on_event is not None and (self._is_main or isinstance(event, Failed)):
            self.on_event(event)

    def _checkpoint_on_disk(self) -> str | None:
        """The last checkpoint this run saved, if it is still there (its folder may have been deleted)."""
        return self.last_checkpoint if self.last_checkpoint and Path(self.last_checkpoint).exists() else None

    def _kept(self) -> str:
        kept = self._checkpoint_on_disk()
        return f"the last good checkpoint ({kept}) is kept" if kept else "no checkpoint had been saved yet"

    def _failed(self, message: str, details: str = "") -> Failed:
        if self._rank:
            message = f"rank {self._rank}: {message}"
        return Failed(
            self.step, message, str(self.run_dir) if self.run_dir else None, self._checkpoint_on_disk(), details
        )


def diverged_loss(vocab_size: int) -> float:
    """The training loss (nats/char) above which a run has diverged: twice ln(vocab_size), what a uniform guess
    costs and about where a new model starts, plus 1 nat so that a 2-character vocabulary has room. A model that
    learns stays below ln(vocab_size) after its first steps; one that crosses this line (a learning rate or an
    optimiser setting that blows the weights up) only wastes its budget, even while its loss is still finite."""
    return 2 * math.log(max(1, vocab_size)) + 1


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam with `weight_decay` as an L2 term in the gradient (the original default), or AdamW, whose decay
    shrinks the weights directly by lr x weight_decay per step, apart from Adam's scaling (Loshchilov &
    Hutter, "Decoupled Weight Decay Regularization", 2019). Either with beta1 0.9 and `cfg.adam_beta2`."""
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.adam_beta2), weight_decay=cfg.weight_decay)


def _to_float(state: State | None) -> State | None:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(t.float() for t in state)
    return state.float()


@torch.no_grad()
def _update_average(avg_model: torch.nn.Module, model: torch.nn.Module, keep: float) -> None:
    """avg <- keep * avg + (1 - keep) * weights: an exponential moving average of the weights (Polyak averaging).
    The warm-up of `keep` (min(ema, (1+t)/(10+t))) trusts the new weights more while they are poor."""
    for avg, p in zip(avg_model.parameters(), model.parameters(), strict=True):
        avg.lerp_(p, 1 - keep)
