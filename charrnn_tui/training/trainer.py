"""The training loop. It runs in whatever thread calls `run()`, reports through events, and is steered from
any other thread through its `TrainingControl` (pause, unpause, stop, save now). Its parts are the modules beside
it; docs/architecture.md maps them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from charrnn_tui.core import events as ev
from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.control import TrainingControl
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.runs.records import record_corpus
from charrnn_tui.scoring.evaluate import evaluate
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training import distributed, rates, resuming
from charrnn_tui.training import step as one_step
from charrnn_tui.training.cpu_threads import ThreadChooser, thread_candidates
from charrnn_tui.training.lr_schedule import learning_rate
from charrnn_tui.training.meter import IntervalMeter
from charrnn_tui.training.run_writer import RunWriter
from charrnn_tui.training.setup import RunData, build_state, resolve_device, seed_other_rank
from charrnn_tui.training.state import TrainingState, WeightsView


class Trainer:
    def __init__(
        self, corpus: Corpus, config: TrainConfig, run_dir: str | Path | None = None,
        on_event: Callable[[ev.Event], None] | None = None, resume: bool = False,
        resume_overrides: dict[str, Any] | None = None, control: TrainingControl | None = None,
        sizing: rates.Sizing | None = None,
    ) -> None:  # fmt: skip
        """With `resume`, the run keeps its checkpoint's settings except the RESUME_OVERRIDABLE ones: those named in
        `resume_overrides` when it is given (what a user typed), else `config`'s. `sizing`: how the default preset
        sized `config` (rates.Sizing); a new run with it re-sizes once when its rate is far from the plan's."""
        self.corpus, self.config = corpus, config
        self.run_dir = Path(run_dir) if run_dir else None
        self.on_event, self.control = on_event, control or TrainingControl()
        self.resume_run, self.resume_overrides = resume, resume_overrides
        self._sizing = sizing  # the plan's; a new run's _resizer holds the one in force
        self.writer = RunWriter(self.run_dir, self._emit)
        self._state: TrainingState | None = None
        self._data: RunData | None = None  # the session's fixed facts of the text, set up with the state
        self.weights = WeightsView()  # what other threads may copy while the weights change
        self._notices: list[str] = []  # told once the run has started (a changed corpus, skipped rows)
        self._is_main, self._rank = True, 0
        self._threads, self._fixed_threads = ThreadChooser(()), None  # set for the device when the run starts
        self._resizer: rates.Resizer | None = None  # a sized new run's one look at its rate
        self._meter = IntervalMeter(0)  # the rows' means since the last row
        self._lr = 0.0  # the learning rate of the last step
        self._last_eval_step = -1

    @property
    def step(self) -> int:
        return self._state.step if self._state else 0

    @property
    def sizing(self) -> rates.Sizing | None:
        """How the run is sized now: the plan's, or what it re-sized to."""
        return self._resizer.sizing if self._resizer is not None else self._sizing

    @property
    def history(self) -> list[dict[str, Any]]:
        """The run's metrics rows, as in metrics.jsonl."""
        return self.writer.history

    def snapshot(self) -> tuple[CharRNN, Vocab]:
        """A CPU copy of the weights in use, in eval mode (WeightsView.snapshot)."""
        return self.weights.snapshot()

    def best_snapshot(self) -> tuple[CharRNN, Vocab, int] | None:
        """A CPU copy of the best evaluation's weights so far, with its step (WeightsView.best_snapshot)."""
        return self.weights.best_snapshot(self._state)

    # ---- the run --------------------------------------------------------------------------------
    def run(self) -> ev.Finished | ev.Failed:
        """Train until the budget is spent or the control says stop. Never raises: failures become a
        Failed event (also returned), with the last good checkpoint named."""
        try:
            return self._train()
        except Exception as e:  # a bug or an environment fault too: report it, keep the front end alive
            result = self._failed(*one_step.failure_message(e, self._kept()))
        try:
            self._emit(result)
        except Exception:
            pass  # the front end's own handler failed too; the result is returned all the same
        return result

    def _train(self) -> ev.Finished | ev.Failed:
        device = resolve_device(self.config.device)
        ctx = distributed.from_environment(device.type)
        self._threads = ThreadChooser(thread_candidates(device, ctx.enabled))
        self._fixed_threads = torch.get_num_threads() if device.type == "cpu" else None
        try:
            return self._train_in(ctx, device)
        finally:
            self._threads.restore()
            ctx.close()
            self.writer.close(self.resume_run)

    def _train_in(self, ctx: distributed.DistContext, device: torch.device) -> ev.Finished:
        self._is_main, self._rank = ctx.is_main, ctx.rank
        if device.type == "cuda" and ctx.enabled:
            device = torch.device("cuda", ctx.local_rank)
            torch.cuda.set_device(device)
        if ctx.is_main and self.run_dir is not None:
            self.writer.acquire()  # before reading: another writer's files are not ours to read or clean
        s = self._build(ctx, device)
        data, train_model = self._data, ctx.wrap(s.model, device)
        if self.writer.writes:
            self._notices += self.writer.open(s, resumed=self.resume_run)
        self._emit_started(s)
        reason = None
        while True:
            reason = "stopped" if self.control.stopping else s.budget_spent(data.eval_chars, data.chars_per_step)
            stop, s.clock.agreed = ctx.agree(reason is not None, s.clock.session_elapsed())
            if stop:
                break
            if self.control.paused:
                self._emit(ev.Paused(s.step))
                s.clock.add_pause(self.control.wait_while_paused())
                self._emit(ev.Unpaused(s.step))
                continue
            self._train_step(s, train_model)
            self._after_step(s, ctx)
        return self._finish(s, ctx, reason or "stopped")

    def _build(self, ctx: distributed.DistContext, device: torch.device) -> TrainingState:
        """The run's state, new or resumed from its checkpoint, and this session's counters."""
        ckpt = None
        if self.resume_run:
            ckpt, self.config = resuming.load_for_resume(self.run_dir, self.config, self.resume_overrides)
        else:
            resuming.refuse_overwrite(self.run_dir)
        cfg, text = self.config, self.corpus.text
        cfg.validate()
        record = record_corpus(self.corpus.name, text, self.corpus.source, getattr(self.corpus, "encoding", "utf-8"))
        vocab = ckpt["vocab_obj"] if ckpt is not None else Vocab.from_text(text)
        changed = ckpt is not None and resuming.check_resumed_corpus(text, vocab, record, self.run_dir)
        s, self._data = build_state(cfg, vocab, text, record, ctx, device)
        if ckpt is not None:
            self._notices += [changed] if changed else []
            val_loss = lambda model: self._val_loss(s, model)  # noqa: E731
            self._notices += resuming.resume_into(s, ckpt, self.run_dir, ctx.is_main, bool(changed), val_loss)
        seed_other_rank(s, ctx)
        s.clock.start()  # this session's clock starts now, after the set-up
        self._meter, self._last_eval_step = IntervalMeter(s.step), s.step if ckpt is not None else -1
        self._lr = learning_rate(cfg, s.step, s.clock.progress(cfg, s.step))
        at = self._sizing.resize_at() if self._sizing is not None and ckpt is None else None
        self._resizer = rates.Resizer(self._sizing, at) if at is not None else None
        self._state, self.weights.model, self.weights.vocab = s, s.eval_model, vocab
        return s

    def _train_step(self, s: TrainingState, train_model: torch.nn.Module) -> None:
        self._threads.before_step()
        cfg, data, t0 = s.config, self._data, time.perf_counter()
        x, y, reset = s.batches.next()
        if reset:
            s.carry = None
        self._lr = learning_rate(cfg, s.step, s.clock.progress(cfg, s.step))
        for group in s.optimizer.param_groups:
            group["lr"] = self._lr
        with self.weights.lock:
            loss, logits = one_step.optimise(s, train_model, x, y, data.autocast)
        loss_value = loss.item()
        one_step.check_loss(loss_value, s.step + 1, len(s.vocab))
        s.step += 1
        dt = time.perf_counter() - t0
        choice = self._threads.after_step(dt)
        s.clock.record_step(dt)
        self._meter.add(loss_value, dt)
        eta = s.clock.eta(cfg, s.step, data.eval_chars, data.chars_per_step)
        rate, progress = data.chars_per_step / s.clock.step_time, s.clock.progress(cfg, s.step)
        self._emit(ev.Step(s.step, loss_value, self._lr, rate, s.clock.elapsed(), eta, progress, self._thread_count))
        if choice is not None:
            self._emit(ev.ThreadsChanged(s.step, choice.threads, choice.previous, choice.step_seconds))
        if self.on_event is not None and self._is_main:
            pred = logits[0].detach().argmax(-1)
            self._emit(ev.Sample(s.step, s.vocab.decode(x[0]), s.vocab.decode(y[0]), s.vocab.decode(pred)))

    @property
    def _thread_count(self) -> int | None:
        return self._threads.threads if self._threads.active else self._fixed_threads

    def _after_step(self, s: TrainingState, ctx: distributed.DistContext) -> None:
        if self._resizer is not None:
            note = self._resizer.after_step(s, self._data.chars_per_step, ctx.mean)
            if note:
                self._emit(ev.Notice(s.step, note))
        cfg = s.config
        last_step = bool(cfg.steps) and s.step >= cfg.steps
        val = self._evaluate(s) if ctx.is_main and (s.step % cfg.eval_interval == 0 or last_step) else None
        if val is not None or s.step % cfg.log_interval == 0:
            self._log_row(s, val)
        if val is not None:
            self.writer.save(s, "eval")
        elif self.control.take_save_request():
            self.writer.save(s, "request")
        elif cfg.checkpoint_seconds and time.perf_counter() - self.writer.last_save >= cfg.checkpoint_seconds:
            self.writer.save(s, "timer")

    def _finish(self, s: TrainingState, ctx: distributed.DistContext, reason: str) -> ev.Finished:
        if ctx.is_main and self.run_dir is not None:  # what this machine trains the shape at, for the next plan
            rates.record_session_rate(s, self._data.chars_per_step, ctx.world_size)
        if ctx.is_main:
            self._last_evaluation(s)
            if reason != "stopped" and s.best.past_best:
                self._end_on_best(s)
            self.writer.end = (reason, s.best.stalled)  # in checkpoint.json: why it ended, for every later view
            if self.writer.saved_step != s.step and (reason != "stopped" or self.control.save_on_stop):
                self.writer.save(s, "final")
            else:
                self.writer.record_end(s)
        self.control.take_save_request()
        final_val = s.best.best_val if s.kept_step is not None else s.best.last_val
        result = ev.Finished(
            s.step, reason, s.clock.elapsed(), final_val, s.best.best_val,
            str(self.run_dir) if self.run_dir else None, self.writer.last_checkpoint, s.kept_step, s.best.stalled,
        )  # fmt: skip
        self._emit(result)
        return result

    def _last_evaluation(self, s: TrainingState) -> None:
        """The run's last step is evaluated and has its row, once."""
        if self._last_eval_step != s.step:
            val = self._evaluate(s)
            if self._meter.pending or not self.history or self.history[-1]["step"] != s.step:
                self._log_row(s, val)
            else:  # this step already has its row: give it the validation loss rather than add a second
                self.history[-1]["val_loss"] = val
                self.writer.rewrite_metrics(s)
        elif self._meter.pending:
            self._log_row(s, None)

    def _log_row(self, s: TrainingState, val_loss: float | None) -> None:
        row = self._meter.row(s.step, self._lr, s.clock.elapsed(), self._data.chars_per_step, val_loss)
        if self._thread_count is not None:
            row["threads"] = self._thread_count
        if not self._is_main:
            return
        self.writer.append(s, row)
        self._emit(ev.Logged(row))

    # ---- evaluation and the end ------------------------------------------------------------------------
    def _val_loss(self, s: TrainingState, model: CharRNN) -> float:
        """`model`'s loss on this run's validation split, in nats/char (evaluate())."""
        return evaluate(model, self._data.val_data, s.device, s.config.eval_max_chars)

    def _evaluate(self, s: TrainingState) -> float:
        t0 = time.perf_counter()
        with self.weights.lock:
            val = one_step.check_val_loss(self._val_loss(s, s.eval_model), s.step)
        s.clock.eval_seconds = time.perf_counter() - t0
        s.best.observe(val, s.step, s.eval_model)
        self._last_eval_step = s.step
        self._emit(ev.Evaluated(s.step, val, s.best.best_val, s.clock.elapsed()))
        return val

    def _end_on_best(self, s: TrainingState) -> None:
        """The run ended past its best evaluation (overfitting): end on the best weights. The trained and
        averaged weights stay as they are in the checkpoint, so --resume continues the optimisation itself."""
        self.weights.model, s.kept_step = s.best.copy_of(s.eval_model), s.best.best_step
        self.writer.saved_step = -1
        if self.history:  # the last row keeps its own evaluation; it also says what the run ends with
            self.history[-1].update(kept_step=s.kept_step, final_val_loss=s.best.best_val)
            self.writer.rewrite_metrics(s)

    # ---- events -----------------------------------------------------------------------------------------
    def _emit_started(self, s: TrainingState) -> None:
        self._emit(ev.Started(
            step=s.step, config=s.config.to_dict(), corpus_name=self.corpus.name,
            run_dir=str(self.run_dir) if self.run_dir else None, device=str(s.device),
            n_params=s.model.num_params(), vocab_size=len(s.vocab), train_chars=self._data.train_chars,
            val_chars=len(self._data.val_data), world_size=s.world_size, resumed=self.resume_run,
            history=tuple(self.history), threads=self._thread_count, threads_chosen=self._threads.active,
        ))  # fmt: skip
        for note in self._notices:
            self._emit(ev.Notice(s.step, note))

    def _emit(self, event: ev.Event) -> None:
        # Only rank 0 reports, except failures: a rank's own error must not be lost behind the others'
        # "connection closed" when it leaves.
        if self.on_event is not None and (self._is_main or isinstance(event, ev.Failed)):
            self.on_event(event)

    def _kept(self) -> str:
        return one_step.kept_words(self.writer.checkpoint_on_disk(), self.run_dir)

    def _failed(self, message: str, details: str = "") -> ev.Failed:
        if self._rank:
            message = f"rank {self._rank}: {message}"
        run_dir = str(self.run_dir) if self.run_dir else None
        return ev.Failed(self.step, message, run_dir, self.writer.checkpoint_on_disk(), details)
