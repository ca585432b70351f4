"""The intra-op thread count: which counts are candidates, how the chooser times and picks them (fed step
times from a model of a shared machine), and a real training whose results the count does not change."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
import torch

from charrnn_tui.corpus import Corpus
from charrnn_tui.events import Finished, Logged, Step
from charrnn_tui.headless import ProgressPrinter
from charrnn_tui.threads import DRIFT, PROBE_STEPS, RECHECK_SECONDS, WARMUP_STEPS, ThreadChooser, thread_candidates
from charrnn_tui.trainer import Trainer

CPU = torch.device("cpu")


def test_the_candidates_are_the_default_count_and_its_halvings() -> None:
    assert thread_candidates(CPU, False, default=2, environ={}) == (2, 1)
    assert thread_candidates(CPU, False, default=8, environ={}) == (8, 4, 2, 1)
    assert thread_candidates(CPU, False, default=6, environ={}) == (6, 3, 1)


@pytest.mark.parametrize(
    ("device", "distributed", "default", "environ"),
    [
        (CPU, False, 1, {}),  # one core: nothing to choose
        (torch.device("cuda"), False, 8, {}),  # the GPU does the arithmetic
        (CPU, True, 8, {}),  # torchrun's ranks share the cores out
        (CPU, False, 8, {"OMP_NUM_THREADS": "3"}),  # the user's (or torchrun's) count stands
        (CPU, False, 8, {"MKL_NUM_THREADS": "2"}),
    ],
)
def test_no_candidates_where_the_count_is_not_the_trainer_s_to_choose(device, distributed, default, environ) -> None:
    assert thread_candidates(device, distributed, default=default, environ=environ) == ()
    assert not ThreadChooser(()).active


@dataclass
class SharedMachine:
    """Step seconds by thread count, alone and beside a busy process: the fast preset's pinned medians on 2 cores
    in docs/benchmarks.md's thread table (3,200 characters a step; alone 2 threads 33,566 chars/s, 1 thread
    23,486; beside a busy process 9,911 and 24,037). `busy_steps` are the step indices the neighbour runs
    during."""

    busy_steps: range = range(0)
    alone: dict[int, float] = field(default_factory=lambda: {2: 0.095, 1: 0.136})
    busy: dict[int, float] = field(default_factory=lambda: {2: 0.323, 1: 0.133})
    applied: list[int] = field(default_factory=lambda: [2])

    def set_threads(self, count: int) -> None:
        self.applied.append(count)

    def run(self, chooser: ThreadChooser, steps: int) -> tuple[float, list[int]]:
        """Trains `steps` steps; returns the seconds they took and the count each ran on."""
        total, counts = 0.0, []
        for i in range(steps):
            chooser.before_step()
            count = self.applied[-1]
            seconds = (self.busy if i in self.busy_steps else self.alone)[count]
            chooser.after_step(seconds)
            total, counts = total + seconds, [*counts, count]
        return total, counts


def test_warm_up_steps_are_not_timed_then_the_candidates_are_timed_interleaved() -> None:
    machine = SharedMachine(busy_steps=range(10_000))
    chooser = ThreadChooser((2, 1), machine.set_threads)
    _, counts = machine.run(chooser, WARMUP_STEPS + 2 * PROBE_STEPS + 1)
    assert counts[:WARMUP_STEPS] == [2] * WARMUP_STEPS
    assert counts[WARMUP_STEPS:-1] == [2, 1] * PROBE_STEPS
    assert (chooser.probes, chooser.threads, counts[-1]) == (1, 1, 1)  # beside a busy process one thread wins


def test_alone_the_default_count_wins_and_equal_times_keep_it() -> None:
    machine = SharedMachine()
    chooser = ThreadChooser((2, 1), machine.set_threads)
    _, counts = machine.run(chooser, 40)
    assert (chooser.probes, chooser.threads, counts[-1]) == (1, 2, 2)

    level = SharedMachine(alone={2: 0.1, 1: 0.1})
    chooser = ThreadChooser((2, 1), level.set_threads)
    level.run(chooser, 40)
    assert chooser.threads == 2


def test_a_neighbour_that_comes_and_goes_is_followed() -> None:
    """The neighbour arrives at step 300 and leaves at 900: the step time drifts at once when it comes, so the
    chooser times the counts again and goes to one thread; when it leaves, one thread's steps do not change, so
    the periodic re-check finds that two are faster again."""
    machine = SharedMachine(busy_steps=range(300, 900))
    chooser = ThreadChooser((2, 1), machine.set_threads)
    total, counts = machine.run(chooser, 1500)
    assert all(c == 2 for c in counts[WARMUP_STEPS + 2 * PROBE_STEPS : 300])
    assert counts[320:900].count(1) > 0.9 * 580  # found within a few steps of the neighbour's arrival
    recheck_steps = int(RECHECK_SECONDS / machine.alone[1]) + 2 * PROBE_STEPS + 1
    assert all(c == 2 for c in counts[900 + recheck_steps :: 7])  # back to two once re-checked
    # Against the best count known in advance at every step, probing and following cost under 10%:
    oracle = 300 * 0.095 + 600 * 0.133 + 600 * 0.095
    stuck_on_default = 300 * 0.095 + 600 * 0.323 + 600 * 0.095
    assert total < 1.10 * oracle < stuck_on_default


def test_a_steady_machine_is_only_re_timed_every_recheck_interval() -> None:
    machine = SharedMachine()
    chooser = ThreadChooser((2, 1), machine.set_threads)
    steps = int(3.5 * RECHECK_SECONDS / machine.alone[2])
    machine.run(chooser, steps)
    assert chooser.probes == 4  # the first and one per RECHECK_SECONDS: steady steps never drift by DRIFT
    assert abs(machine.busy[2] / machine.alone[2] - 1) > DRIFT  # (the neighbour of the test above does)


def test_restore_returns_to_the_default_count() -> None:
    machine = SharedMachine(busy_steps=range(10_000))
    chooser = ThreadChooser((2, 1), machine.set_threads)
    machine.run(chooser, 40)
    assert machine.applied[-1] == 1
    chooser.restore()
    assert machine.applied[-1] == 2


def test_a_real_training_reports_its_count_and_the_count_changes_no_result(
    small_corpus: Corpus, tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two threads to choose from, the run probes (1 and 2 threads interleaved) and reports the count in
    its Step events and metrics rows; its losses are bit-identical to a run pinned to one thread. (The suite
    pins one thread per process: this test gives the trainer two for its own run.)"""
    cfg = tiny(steps=40, eval_interval=20, log_interval=10, hidden=128, batch_size=16)

    def train() -> tuple[Finished, list[Step], list[dict]]:
        events: list = []
        trainer = Trainer(small_corpus, cfg, on_event=events.append)
        result = trainer.run()
        assert isinstance(result, Finished), result
        probes.append(trainer._threads.probes)
        return result, [e for e in events if isinstance(e, Step)], trainer.history

    probes: list[int] = []

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        chosen, steps, rows = train()
        assert {s.threads for s in steps} <= {1, 2} and {r["threads"] for r in rows} <= {1, 2}
        assert torch.get_num_threads() == 2  # given back after the run
        torch.set_num_threads(1)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as the user would pin it: no choosing
        pinned, pinned_steps, pinned_rows = train()
        assert {s.threads for s in pinned_steps} == {1}
        assert probes[0] >= 1 and probes[1] == 0  # the first run timed both counts, the pinned one none
    finally:
        torch.set_num_threads(before)
    assert [s.train_loss for s in steps] == [s.train_loss for s in pinned_steps]
    assert (chosen.last_val_loss, chosen.best_val_loss) == (pinned.last_val_loss, pinned.best_val_loss)


def test_the_cli_progress_says_when_the_count_changes() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out)
    for step, threads in ((10, 2), (20, 2), (30, 1), (40, 1), (50, 2)):
        printer(Logged({"step": step, "train_loss": 2.0, "lr": 0.01, "chars_per_s": 1000.0, "elapsed_s": 1.0,
                        "threads": threads}))  # fmt: skip
    lines = out.getvalue().splitlines()
    told = [line for line in lines if "threads" in line]
    assert told == [
        "intra-op threads: 1 from here on, the fastest when timed just now",
        "intra-op threads: 2 from here on, the fastest when timed just now",
    ], lines
    assert lines.index(told[0]) == 3 and lines.index(told[1]) == 6  # each after the row that first shows it
