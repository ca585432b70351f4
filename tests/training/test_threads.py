"""The intra-op thread count: which counts are candidates, how the chooser times and picks them (fed step
times from a model of a shared machine), and a real training whose results the count does not change."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
import torch

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import Finished, Started, Step, ThreadsChanged
from charrnn_tui.headless.progress import ProgressPrinter
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.cpu_threads import (
    DRIFT,
    PROBE_SHARE,
    PROBE_STEPS,
    RECHECK_FEWER_SECONDS,
    RECHECK_SECONDS,
    WARMUP_STEPS,
    IdleMeter,
    ThreadChoice,
    ThreadChooser,
    thread_candidates,
)
from charrnn_tui.training.trainer import Trainer

CPU = torch.device("cpu")


def test_the_candidates_are_the_default_count_and_its_halvings() -> None:
    assert thread_candidates(CPU, False, default=2, environ={}) == (2, 1)
    assert thread_candidates(CPU, False, default=8, environ={}) == (8, 4, 2, 1)
    assert thread_candidates(CPU, False, default=6, environ={}) == (6, 3, 1)


def test_a_value_pytorch_ignores_pins_nothing() -> None:
    for value in ("", "abc", "0", " "):
        assert thread_candidates(CPU, False, default=2, environ={"OMP_NUM_THREADS": value}) == (2, 1), value


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
    """Step seconds by thread count, alone and beside a busy process, about those of docs/benchmarks.md's
    thread table for the fast preset on 2 cores (3,200 characters a step; alone about 33K chars/s on 2 threads
    and 23.5K on 1, beside a busy process about 10K and 23K). `busy_steps` are the step indices the neighbour
    runs during."""

    busy_steps: range = range(0)
    alone: dict[int, float] = field(default_factory=lambda: {2: 0.095, 1: 0.136})
    busy: dict[int, float] = field(default_factory=lambda: {2: 0.323, 1: 0.133})
    applied: list[int] = field(default_factory=lambda: [2])
    choices: list[ThreadChoice] = field(default_factory=list)  # what the chooser reported
    clock: float = 0.0  # seconds trained
    idle: float = 0.0  # core-seconds the 2 cores sat idle: the core one thread leaves free, when alone

    def chooser(self) -> ThreadChooser:
        """A chooser of 1 or 2 threads on this machine, which reads this machine's idle time and clock."""
        return ThreadChooser((2, 1), self.set_threads, IdleMeter(lambda: self.idle, lambda: self.clock))

    def set_threads(self, count: int) -> None:
        self.applied.append(count)

    def run(self, chooser: ThreadChooser, steps: int) -> tuple[float, list[int]]:
        """Trains `steps` steps; returns the seconds they took and the count each ran on."""
        total, counts = 0.0, []
        for i in range(steps):
            chooser.before_step()
            count = self.applied[-1]
            seconds = (self.busy if i in self.busy_steps else self.alone)[count]
            if (choice := chooser.after_step(seconds)) is not None:
                self.choices.append(choice)
            self.clock += seconds
            self.idle += 0.0 if i in self.busy_steps else seconds * (2 - count)
            total, counts = total + seconds, [*counts, count]
        return total, counts


def test_warm_up_steps_are_not_timed_then_the_candidates_are_timed_interleaved() -> None:
    machine = SharedMachine()
    chooser = machine.chooser()
    _, counts = machine.run(chooser, WARMUP_STEPS + 2 * PROBE_STEPS + 1)
    assert counts[:WARMUP_STEPS] == [2] * WARMUP_STEPS
    assert counts[WARMUP_STEPS:-1] == [1, 2] * PROBE_STEPS  # the count in use comes last
    assert (chooser.probes, chooser.threads, counts[-1]) == (1, 2, 2)  # alone, the default wins
    assert machine.choices == []  # and nothing changed


def test_beside_a_busy_process_two_slow_steps_give_up_on_two_threads() -> None:
    machine = SharedMachine(busy_steps=range(10_000))
    chooser = machine.chooser()
    _, counts = machine.run(chooser, WARMUP_STEPS + 5)
    # 2 threads' probe steps took 0.323 s against 1 thread's 0.133, more than ABANDON times twice: no more of
    # them, and the probe is decided on its fifth step rather than its sixth
    assert counts[WARMUP_STEPS:] == [1, 2, 1, 2, 1]
    assert (chooser.probes, chooser.threads) == (1, 1)
    assert machine.choices == [ThreadChoice(threads=1, previous=2, step_seconds=((1, 0.133), (2, 0.323)))]


def test_one_slow_step_of_a_count_that_is_otherwise_fine_does_not_decide() -> None:
    """A hiccup (a step of twice the usual time on 2 threads, in the app when the screen redraws) sets off a
    probe, but that one step does not give up on 2 threads: the probe times them again and keeps them."""
    machine = SharedMachine(busy_steps=range(100, 101))  # one slow step, at step 100
    chooser = machine.chooser()
    _, counts = machine.run(chooser, 200)
    assert counts[100:107] == [2, 1, 2, 1, 2, 1, 2]  # the drifted step counts as one of 2's timings
    assert chooser.probes == 2 and chooser.threads == 2 and machine.choices == []


def test_equal_times_keep_the_larger_count() -> None:
    level = SharedMachine(alone={2: 0.1, 1: 0.1})
    chooser = level.chooser()
    level.run(chooser, 40)
    assert (chooser.probes, chooser.threads) == (1, 2)


def test_a_neighbour_that_comes_and_goes_is_followed() -> None:
    """The neighbour arrives at step 300 and leaves at 900: the step time drifts at once when it comes, so the
    chooser times the counts again and goes to one thread; when it leaves, one thread's steps do not change, so
    the re-check, every RECHECK_FEWER_SECONDS on one thread, finds that two are faster again."""
    machine = SharedMachine(busy_steps=range(300, 900))
    chooser = machine.chooser()
    total, counts = machine.run(chooser, 1500)
    assert all(c == 2 for c in counts[WARMUP_STEPS + 2 * PROBE_STEPS : 300])
    busy_seconds = 600 * machine.busy[1]
    # two slow steps when it arrives (the one that drifts, one in the probe), then two per re-check
    assert counts[300:305] == [2, 1, 2, 1, 1]
    assert counts[300:900].count(2) <= 2 + 2 * (busy_seconds / RECHECK_FEWER_SECONDS)
    # Once the neighbour has left, the core one thread leaves out sits idle: a re-check comes as soon as
    # RECHECK_FEWER_SECONDS have passed since the last probe.
    back = 900 + int(RECHECK_FEWER_SECONDS / machine.alone[1]) + 2 * PROBE_STEPS + 2
    assert all(c == 2 for c in counts[back::7])
    # Against the best count known in advance at every step, probing and following cost under 5%:
    oracle = 300 * 0.095 + 600 * 0.133 + 600 * 0.095
    stuck_on_default = 300 * 0.095 + 600 * 0.323 + 600 * 0.095
    assert total < 1.05 * oracle < stuck_on_default


def test_where_two_threads_stall_re_checks_are_spaced_to_cost_at_most_their_share() -> None:
    """In the app, beside a busy process, two threads' steps took seconds (the UI wants a core too): a re-check
    every 10 s would spend half the time on them, so re-checks wait until one slow step is PROBE_SHARE of the
    time trained since the last."""
    machine = SharedMachine(busy_steps=range(100, 10_000), busy={2: 5.0, 1: 0.14})
    chooser = machine.chooser()
    total, counts = machine.run(chooser, 3000)
    assert counts[100:110] == [2] + [1] * 9  # the stall costs the one step that shows it
    slow = counts[101:].count(2)
    assert slow * (5.0 - 0.14) <= PROBE_SHARE * (total - 100 * 0.095)  # then re-checks cost at most their share
    assert chooser.threads == 1 and slow >= 2  # (and it still re-checks)


def test_after_a_stall_the_free_cores_bring_two_threads_back_within_seconds() -> None:
    """A newcomer's case: in the app a 2-thread step beside a busy process took 8 s, so re-checks are spaced
    minutes apart to keep their cost in bounds; when the neighbour leaves, the idle core says so, and two threads
    come back within RECHECK_FEWER_SECONDS rather than minutes later."""
    machine = SharedMachine(busy_steps=range(100, 400), busy={2: 8.0, 1: 0.14})
    chooser = machine.chooser()
    _, counts = machine.run(chooser, 1200)
    assert counts[100:103] == [2, 1, 1]  # one stalled step, then re-checks spaced out beyond the busy spell
    assert counts[101:400].count(2) == 0
    back = 400 + int(RECHECK_FEWER_SECONDS / machine.alone[1]) + 2 * PROBE_STEPS + 2
    assert counts[back : back + 200].count(1) == 0


def test_without_the_idle_signal_the_spaced_re_check_still_comes() -> None:
    machine = SharedMachine(busy_steps=range(100, 400), busy={2: 1.0, 1: 0.14})
    chooser = ThreadChooser((2, 1), machine.set_threads, IdleMeter(lambda: None))
    _, counts = machine.run(chooser, 1500)
    spaced = (1.0 - 0.14) / PROBE_SHARE  # 28.7 s of training on one thread after the probe that chose it
    assert counts[400:].count(1) > RECHECK_FEWER_SECONDS / machine.alone[1]  # later than with the signal...
    assert counts[-100:].count(1) <= PROBE_STEPS and spaced < 1100 * machine.alone[1]  # ...but it comes


def test_a_steady_machine_is_only_re_timed_every_recheck_interval() -> None:
    machine = SharedMachine()
    chooser = machine.chooser()
    steps = int(3.5 * RECHECK_SECONDS / machine.alone[2])
    machine.run(chooser, steps)
    assert chooser.probes == 4  # the first and one per RECHECK_SECONDS: steady steps never drift by DRIFT
    assert abs(machine.busy[2] / machine.alone[2] - 1) > DRIFT  # (the neighbour of the test above does)


def test_restore_returns_to_the_default_count() -> None:
    machine = SharedMachine(busy_steps=range(10_000))
    chooser = machine.chooser()
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


def test_the_cli_says_how_many_threads_train_and_why_the_count_changes() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out)
    printer(Started(0, TINY.to_dict(), "hamlet", None, "cpu", 1000, 65, 100, 10, threads=2, threads_chosen=True))
    printer(ThreadsChanged(20, 1, 2, ((1, 0.133), (2, 0.323))))
    printer(ThreadsChanged(400, 2, 1, ((2, 0.095), (1, 0.136))))
    printer(Started(0, TINY.to_dict(), "hamlet", None, "cpu", 1000, 65, 100, 10, threads=1))
    printer(Started(0, TINY.to_dict(), "hamlet", None, "cuda", 1000, 65, 100, 10))
    lines = out.getvalue().splitlines()
    assert ", device cpu, 2 threads (fewer while other programs keep the cores busy), budget" in lines[0], lines[0]
    assert lines[1:3] == [
        "step 20: training on 1 thread from here on (the cores are busy with other work; a step took 0.133 s on 1, "
        "0.323 s on 2)",
        "step 400: training on 2 threads from here on (the cores are free again; a step took 0.095 s on 2, 0.136 s "
        "on 1)",
    ]
    assert ", device cpu, 1 thread, budget" in lines[3], lines[3]  # pinned (OMP_NUM_THREADS): no timing
    assert ", device cuda, budget" in lines[4], lines[4]
