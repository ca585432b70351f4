"""The training loop. It runs in whatever thread calls `run()`, reports through events, and can be
paused, resumed, stopped or asked for a checkpoint from any other thread."""

from __future__ import annotations

import copy
import json
import math
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from charrnn_tui import checkpoint, distributed
from charrnn_tui.batches import make_batches
from charrnn_tui.config import TrainConfig
from charrnn_tui.corpus import Corpus
from charrnn_tui.errors import CharRNNError
from charrnn_tui.evaluate import evaluate
from charrnn_tui.events import (
    CheckpointSaved,
    Evaluated,
    Event,
    Failed,
    Finished,
    Logged,
    Paused,
    Resumed,
    Sample,
    Started,
    Step,
)
from charrnn_tui.metrics import read_metrics
from charrnn_tui.model import CharRNN, detach_state
from charrnn_tui.vocab import Vocab

# Settings a resumed run may change; everything else comes from its checkpoint.
RESUME_OVERRIDABLE = ("steps", "max_seconds", "eval_interval", "log_interval", "checkpoint_seconds", "device")
HEAD_CHARS = 200  # the corpus's opening, kept in checkpoints as the default prime


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


class Trainer:
    def __init__(
        self,
        corpus: Corpus,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        on_event: Callable[[Event], None] | None = None,
        resume: bool = False,
        resume_overrides: dict[str, Any] | None = None,
    ) -> None:
        """With `resume`, the run keeps its checkpoint's settings except the RESUME_OVERRIDABLE ones:
        those named in `resume_overrides` when it is given (what a user typed), else `config`'s."""
        self.corpus = corpus
        self.config = config
        self.run_dir = Path(run_dir) if run_dir else None
        self.on_event = on_event
        self.resume_run = resume
        self.resume_overrides = resume_overrides
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.last_checkpoint: str | None = None
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._save_request = threading.Event()
        self._save_on_stop = True
        self._lock = threading.Lock()
        self._model: CharRNN | None = None
        self.vocab: Vocab | None = None

    # ---- control, from any thread -------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self, save: bool = True) -> None:
        """Stop after the current step; save=False skips the final checkpoint (earlier ones are kept)."""
        self._save_on_stop = save
        self._stop.set()
        self._running.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_checkpoint(self) -> None:
        self._save_request.set()

    def snapshot(self) -> tuple[CharRNN, Vocab]:
        """A CPU copy of the current weights in eval mode, safe to use beside the running trainer."""
        if self._model is None or self.vocab is None:
            raise CharRNNError("the model is not built yet; wait for training to start")
        with self._lock:
            model = copy.deepcopy(self._model)
        return model.cpu().eval(), self.vocab

    # ---- the run --------------------------------------------------------------------------------
    def run(self) -> Finished | Failed:
        """Train until the budget is spent or stop() is called. Never raises: failures become a
        Failed event (also returned), with the last good checkpoint named."""
        try:
            return self._train()
        except CharRNNError as e:
            result: Finished | Failed = self._failed(str(e))
        except Diverged as e:
            kept = (
                f"the last good checkpoint ({self.last_checkpoint}) is kept"
                if self.last_checkpoint
                else "no checkpoint had been saved yet"
            )
            result = self._failed(
                f"{e}: training diverged; {kept}. Try a lower learning rate (--lr) or gradient clipping (--grad-clip)"
            )
        except Exception as e:  # a bug or an environment fault: report it, keep the front end alive
            result = self._failed(f"training failed: {type(e).__name__}: {e}", traceback.format_exc())
        try:
            self._emit(result)
        except Exception:
            pass  # the front end's own handler failed too; the result is returned all the same
        return result

    def _failed(self, message: str, details: str = "") -> Failed:
        if getattr(self, "_rank", 0):
            message = f"rank {self._rank}: {message}"
        return Failed(self.step, message, str(self.run_dir) if self.run_dir else None, self.last_checkpoint, details)

    def _emit(self, event: Event) -> None:
        # Only rank 0 reports, except failures: a rank's own error must not be lost behind the others'
        # "connection closed" when it leaves.
        if self.on_event is not None and (getattr(self, "_is_main", True) or isinstance(event, Failed)):
            self.on_event(event)

    def _train(self) -> Finished | Failed:
        cfg = self.config
        device = resolve_device(cfg.device)
        ctx = distributed.from_environment(device.type)
        try:
            return self._train_in(ctx, device)
        finally:
            ctx.close()

    def _load_resume(self) -> dict[str, Any]:
        if self.run_dir is None:
            raise CharRNNError("--resume needs --run-dir: the folder of the run to continue")
        ckpt = checkpoint.load(self.run_dir / checkpoint.CHECKPOINT_NAME)
        saved: TrainConfig = ckpt["config_obj"]
        if self.resume_overrides is None:
            overrides = {k: getattr(self.config, k) for k in RESUME_OVERRIDABLE}
        else:
            overrides = {k: v for k, v in self.resume_overrides.items() if k in RESUME_OVERRIDABLE}
        self.config = saved.with_overrides(**overrides)
        if self.config.steps and ckpt["step"] >= self.config.steps:
            raise CharRNNError(
                f"this run has already done {ckpt['step']} steps of its {self.config.steps}; "
                "give a larger --steps (or --steps 0 and --max-seconds S) to train it further"
            )
        return ckpt

    def _train_in(self, ctx: distributed.DistContext, device: torch.device) -> Finished | Failed:
        self._is_main, self._rank = ctx.is_main, ctx.rank
        if device.type == "cuda" and ctx.enabled:
            device = torch.device("cuda", ctx.local_rank)
            torch.cuda.set_device(device)
        if self.resume_run:
            ckpt = self._load_resume()
        else:
            ckpt = None
            if self.run_dir is not None and (self.run_dir / checkpoint.CHECKPOINT_NAME).exists():
                # Hours of training may live there: never overwrite a run by accident.
                raise CharRNNError(
                    f"{self.run_dir} already holds a trained run; continue it with --resume, or choose a new --run-dir"
                )
        cfg = self.config
        cfg.validate()

        text = self.corpus.text
        vocab = Vocab.from_text(text)
        if ckpt is not None and ckpt["vocab_obj"] != vocab:
            extra = set(vocab.chars) - set(ckpt["vocab"])
            raise CharRNNError(
                "this corpus is not the one the run was trained on (its vocabulary differs"
                + (f", e.g. {sorted(extra)[:5]}" if extra else "")
                + "); resume with the same corpus"
            )
        data = vocab.encode_tensor(text)
        cut = len(text) - int(len(text) * cfg.val_fraction)
        train_data, val_data = data[:cut], data[cut:]
        cfg.validate_for(len(train_data), len(val_data))

        torch.manual_seed(cfg.seed)
        model = CharRNN.from_config(len(vocab), cfg).to(device)
        # The weights that are evaluated, saved for generation and shown: a running average of the
        # trained ones when cfg.ema is set (smoother, and they generalise better), else those themselves.
        eval_model = copy.deepcopy(model) if cfg.ema else model
        best_weights: dict[str, torch.Tensor] | None = None  # of eval_model at its best val loss (keep_best)
        best_step = None
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
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
        batches = make_batches(cfg.sampling, rank_data, cfg.batch_size, cfg.seq_len, generator)
        state = None
        elapsed_before = 0.0
        best_val = last_val = None
        if ckpt is not None:
            try:
                model.load_state_dict(ckpt["model"])
                if cfg.ema:
                    eval_model.load_state_dict(ckpt.get("eval_model") or ckpt["model"])
                optimizer.load_state_dict(ckpt["optimizer"])
                elapsed_before = float(ckpt.get("elapsed_s", 0.0))
                best_val, last_val = ckpt.get("best_val_loss"), ckpt.get("last_val_loss")
                if ctx.is_main:
                    torch.set_rng_state(ckpt["rng_torch"])
                    generator.set_state(ckpt["rng_data"])
                    if device.type == "cuda" and isinstance(ckpt.get("rng_cuda"), torch.Tensor):
                        torch.cuda.set_rng_state(ckpt["rng_cuda"], device)
                same_ranks = ckpt.get("world_size", 1) == ctx.world_size
                if same_ranks:  # a position in a share of another size can lie past its end
                    batches.load_state_dict(ckpt.get("batches", {}))
                if ckpt.get("carry") and same_ranks and ctx.is_main:
                    carry = [t.to(device) for t in ckpt["carry"]]
                    state = tuple(carry) if len(carry) == 2 else carry[0]
            except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as e:
                raise CharRNNError(
                    f"{self.run_dir} holds a checkpoint whose training state is damaged "
                    f"({type(e).__name__}); it can still generate text, but cannot be resumed"
                ) from None
            self.step = ckpt["step"]
        if ctx.rank:
            # Other ranks draw their own dropout masks too; after a resume they start afresh (only rank 0's
            # random state is saved) rather than replay the windows of their first session.
            torch.manual_seed(cfg.seed + 1_000_003 * ctx.rank + self.step)
            generator.manual_seed(cfg.seed + 1_000_003 * ctx.rank + self.step)
        self._model, self.vocab = eval_model, vocab
        train_model = ctx.wrap(model, device)

        metrics_path = self.run_dir / checkpoint.METRICS_NAME if self.run_dir else None
        saved_step = self.step if ckpt is not None else -1

        def rewrite_metrics() -> None:
            if metrics_path is None or not ctx.is_main:
                return
            rows = "".join(json.dumps(r) + "\n" for r in self.history)
            try:
                checkpoint.atomic_write(metrics_path, lambda f: f.write(rows.encode()))
            except OSError as e:
                raise checkpoint._disk_error(metrics_path, e) from None

        if ctx.is_main and self.run_dir is not None:
            corpus_info = {"name": self.corpus.name, "source": self.corpus.source}
            checkpoint.write_config(self.run_dir, cfg, corpus_info)
            _remove_stale_temporaries(self.run_dir)
            # Rows logged after the checkpoint (a crash, a kill) are dropped: the run continues from there.
            self.history = read_metrics(metrics_path, self.step) if ckpt is not None else []
            rewrite_metrics()
            if ckpt is not None:
                self.last_checkpoint = str(self.run_dir / checkpoint.CHECKPOINT_NAME)

        def save(reason: str) -> None:
            nonlocal save_seconds, saved_step
            if not ctx.is_main or self.run_dir is None:
                return
            t0 = time.perf_counter()
            # A step can leave NaN weights behind a finite loss; such weights must never replace a good file.
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                raise Diverged(f"the weights became NaN or infinite at step {self.step}")
            parts = () if state is None else state if isinstance(state, tuple) else (state,)
            carry = [t.detach().cpu() for t in parts]
            payload = {
                "model": model.state_dict(),
                **({"eval_model": eval_model.state_dict()} if eval_model is not model else {}),
                "optimizer": optimizer.state_dict(),
                "vocab": vocab.chars,
                "config": cfg.to_dict(),
                "step": self.step,
                "elapsed_s": elapsed(),
                "rng_torch": torch.get_rng_state(),
                "rng_data": generator.get_state(),
                "batches": batches.state_dict(),
                "carry": carry,
                "world_size": ctx.world_size,
                "corpus": {"name": self.corpus.name, "source": self.corpus.source, "head": text[:HEAD_CHARS]},
                "best_val_loss": best_val,
                "last_val_loss": last_val,
            }
            if device.type == "cuda":
                payload["rng_cuda"] = torch.cuda.get_rng_state(device)
            path = self.run_dir / checkpoint.CHECKPOINT_NAME
            checkpoint.save(path, payload)
            self.last_checkpoint, saved_step = str(path), self.step
            save_seconds = time.perf_counter() - t0
            self._emit(CheckpointSaved(self.step, str(path), reason))

        self._emit(Started(
            step=self.step, config=cfg.to_dict(), corpus_name=self.corpus.name,
            run_dir=str(self.run_dir) if self.run_dir else None, device=str(device),
            n_params=model.num_params(), vocab_size=len(vocab), train_chars=len(train_data),
            val_chars=len(val_data), world_size=ctx.world_size, resumed=ckpt is not None,
            history=tuple(self.history),
        ))  # fmt: skip

        chars_per_step = cfg.batch_size * cfg.seq_len * ctx.world_size
        clock = 0.0  # this session's seconds as all ranks agree on them: what the lr schedule follows
        session_start = time.perf_counter()
        paused_for = 0.0

        def session_elapsed() -> float:
            return time.perf_counter() - session_start - paused_for

        def elapsed() -> float:
            return elapsed_before + session_elapsed()

        def progress() -> float | None:
            parts = []
            if cfg.steps:
                parts.append(self.step / cfg.steps)
            if cfg.max_seconds:
                parts.append((elapsed_before + clock) / (elapsed_before + cfg.max_seconds))
            return min(1.0, max(parts)) if parts else None

        def lr_now() -> float:
            if self.step < cfg.warmup_steps:
                return cfg.lr * (self.step + 1) / cfg.warmup_steps
            p = progress()
            if cfg.lr_schedule == "constant" or p is None:
                return cfg.lr
            return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

        step_time = None  # moving average of a step's seconds, for throughput and ETA
        eval_seconds = None  # the last evaluation's cost, kept in hand so the budget holds
        save_seconds = 0.0  # likewise the last checkpoint's
        eval_chars = min(len(val_data), cfg.eval_max_chars or len(val_data))
        last_lr = lr_now()

        def eval_cost() -> float:
            if eval_seconds is not None:
                return eval_seconds
            # Before the first evaluation, guess from the step time: a forward pass is about a third of
            # a training step's forward, backward and update.
            return (step_time or 0.0) * eval_chars / chars_per_step / 3

        last_save = time.perf_counter()
        interval_losses: list[float] = []
        interval_start, interval_train_s = self.step, 0.0
        last_eval_step = self.step if ckpt is not None else -1
        reason = None
        kept_step = None  # the step whose weights the run ended on, when keep_best went back to them

        def log_row(val_loss: float | None) -> None:
            nonlocal interval_losses, interval_start, interval_train_s
            row: dict[str, Any] = {"step": self.step}
            if interval_losses:
                row["train_loss"] = sum(interval_losses) / len(interval_losses)
            row["lr"] = last_lr
            done = (self.step - interval_start) * chars_per_step
            row["chars_per_s"] = done / interval_train_s if interval_train_s > 0 else 0.0
            row["elapsed_s"] = round(elapsed(), 3)
            if val_loss is not None:
                row["val_loss"] = val_loss
            interval_losses, interval_start, interval_train_s = [], self.step, 0.0
            if not ctx.is_main:
                return
            self.history.append(row)
            if metrics_path is not None:
                try:
                    with open(metrics_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(row) + "\n")
                except OSError as e:
                    raise checkpoint._disk_error(metrics_path, e) from None
            self._emit(Logged(row))

        def run_eval() -> float:
            nonlocal best_val, last_val, eval_seconds, last_eval_step, best_weights, best_step
            t0 = time.perf_counter()
            with self._lock:
                val = evaluate(eval_model, val_data, device, cfg.eval_max_chars)
            eval_seconds = time.perf_counter() - t0
            if not math.isfinite(val):
                raise Diverged(f"the validation loss became {val} at step {self.step}")
            last_val, last_eval_step = val, self.step
            if best_val is None or val < best_val:
                best_val = val
                if cfg.keep_best:
                    best_weights = {k: v.detach().cpu().clone() for k, v in eval_model.state_dict().items()}
                    best_step = self.step
            self._emit(Evaluated(self.step, val, best_val, elapsed()))
            return val

        while True:
            if self._stop.is_set():
                reason = "stopped"
            elif cfg.steps and self.step >= cfg.steps:
                reason = "steps"
            elif cfg.max_seconds and (
                session_elapsed() + (step_time or 0) + eval_cost() + save_seconds >= cfg.max_seconds
            ):
                # Stop while the last evaluation and checkpoint still fit in the budget.
                reason = "time"
            stop, clock = ctx.agree(reason is not None, session_elapsed())
            if stop:
                reason = reason or "stopped"
                break
            if not self._running.is_set():
                self._emit(Paused(self.step))
                t0 = time.perf_counter()
                self._running.wait()
                paused_for += time.perf_counter() - t0
                self._emit(Resumed(self.step))
                continue

            t0 = time.perf_counter()
            x, y, reset = batches.next()
            if reset:
                state = None
            lr = last_lr = lr_now()
            for group in optimizer.param_groups:
                group["lr"] = lr
            with self._lock:
                logits, new_state = train_model(x.to(device), state)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                if cfg.ema:
                    # Warm-up of the average: early weights are poor, so trust the new ones more at first.
                    keep = min(cfg.ema, (1 + self.step) / (10 + self.step))
                    with torch.no_grad():
                        for avg, p in zip(eval_model.parameters(), model.parameters(), strict=True):
                            avg.lerp_(p, 1 - keep)
            state = detach_state(new_state) if batches.carries_state else None
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                # Nothing is saved: the weights are already poisoned, the last checkpoint is the good one.
                raise Diverged(f"the loss became {loss_value} at step {self.step + 1}")
            self.step += 1
            dt = time.perf_counter() - t0
            step_time = dt if step_time is None else 0.9 * step_time + 0.1 * dt
            interval_losses.append(loss_value)
            interval_train_s += dt

            eta = None
            if cfg.steps:
                left_steps = max(0, cfg.steps - self.step)
                evals_left = left_steps // cfg.eval_interval + 1
                eta = left_steps * step_time + evals_left * eval_cost() + save_seconds
            if cfg.max_seconds:
                left = max(0.0, cfg.max_seconds - session_elapsed())
                eta = left if eta is None else min(eta, left)
            self._emit(Step(self.step, loss_value, lr, chars_per_step / step_time, elapsed(), eta, progress()))
            if self.on_event is not None and ctx.is_main:
                pred = logits[0].detach().argmax(-1)
                self._emit(Sample(self.step, vocab.decode(x[0]), vocab.decode(y[0]), vocab.decode(pred)))

            val = None
            last_step = bool(cfg.steps) and self.step >= cfg.steps
            if (self.step % cfg.eval_interval == 0 or last_step) and ctx.is_main:
                val = run_eval()
            if val is not None or self.step % cfg.log_interval == 0:
                log_row(val)
            if val is not None:
                save("eval")
                last_save = time.perf_counter()
            elif self._save_request.is_set() or (
                cfg.checkpoint_seconds and time.perf_counter() - last_save >= cfg.checkpoint_seconds
            ):
                save("request" if self._save_request.is_set() else "timer")
                self._save_request.clear()
                last_save = time.perf_counter()

        if ctx.is_main:
            if last_eval_step != self.step:
                val = run_eval()
                if interval_losses or not self.history or self.history[-1]["step"] != self.step:
                    log_row(val)
                else:
                    # This step already has its row: give it the validation loss rather than add a
                    # second row for the same step.
                    self.history[-1]["val_loss"] = val
                    rewrite_metrics()
            elif interval_losses:
                log_row(None)
            if reason != "stopped" and best_weights is not None and last_val > best_val:
                # The run ended past its best (overfitting): end on the best evaluated weights instead.
                # The trained weights stay as they are, so --resume continues the optimisation itself.
                if eval_model is model:
                    eval_model = copy.deepcopy(model)
                eval_model.load_state_dict(best_weights)
                self._model, last_val = eval_model, best_val
                kept_step = best_step
                saved_step = -1
                if self.history:
                    # The last row keeps its own evaluation; it also says what the run ends with.
                    self.history[-1].update(kept_step=kept_step, final_val_loss=best_val)
                    rewrite_metrics()
            if saved_step != self.step and (reason != "stopped" or self._save_on_stop):
                save("final")
        self._save_request.clear()
        result = Finished(
            self.step, reason, elapsed(), last_val, best_val,
            str(self.run_dir) if self.run_dir else None, self.last_checkpoint, kept_step,
        )  # fmt: skip
        self._emit(result)
        return result


class Diverged(Exception):
    """Training blew up (NaN or inf): the weights are lost, the last checkpoint is the good one."""


def _remove_stale_temporaries(run_dir: Path) -> None:
    """Half-written files a killed run left behind (see checkpoint.atomic_write)."""
    for name in (checkpoint.CHECKPOINT_NAME, checkpoint.CONFIG_NAME, checkpoint.METRICS_NAME):
        for tmp in run_dir.glob(f".{name}.tmp*"):
            tmp.unlink(missing_ok=True)
