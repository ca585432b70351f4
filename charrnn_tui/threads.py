"""How many intra-op threads a CPU training step uses: the count that trains fastest now, found by timing steps.

PyTorch's default, one thread per core, is the fastest only while the cores are free. On a machine whose cores
are shared, every parallel region waits for its slowest thread, and a thread whose core another process holds
is descheduled: beside one busy process on 2 cores, one thread trained the default preset 2.4x faster than two,
while alone two were 1.43x faster than one (docs/benchmarks.md, "Intra-op threads"). Neither count suits every
moment, and neighbours come and go, so the trainer times a few steps with each candidate count, keeps the
fastest, and times them again every RECHECK_SECONDS of training or as soon as its step time drifts.

The count changes no result: oneDNN and MKL split a step's work across threads without changing the order of
any sum, so a run's losses are bit-identical with 1 or 2 threads (tests/test_threads.py checks it).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Mapping, Sequence

import torch

WARMUP_STEPS = 5  # the first steps build oneDNN's kernels and are slow whatever the count: never timed
PROBE_STEPS = 3  # timed steps per candidate in one probe, the candidates interleaved; the median counts
RECHECK_SECONDS = 30.0  # seconds of training after which the candidates are timed again
DRIFT = 0.3  # ...or sooner, once the step time has moved this fraction away from what the probe measured
_SMOOTHING = 0.2  # weight of the newest step in the running step time that the drift is read from

# Set by the user (or by torchrun, which sets OMP_NUM_THREADS for its ranks): their choice stands.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def thread_candidates(
    device: torch.device, distributed: bool, default: int | None = None, environ: Mapping[str, str] = os.environ
) -> tuple[int, ...]:
    """The intra-op thread counts worth timing, the default first: PyTorch's default (one per core) and its
    halvings down to 1, e.g. (2, 1) on 2 cores, (8, 4, 2, 1) on 8. Empty where the choice is not the trainer's:
    not a CPU, one of several ranks (torchrun shares the cores out), a count set in THREAD_ENV, or one core."""
    if device.type != "cpu" or distributed or any(environ.get(name) for name in THREAD_ENV):
        return ()
    count = default if default is not None else torch.get_num_threads()
    if count <= 1:
        return ()
    candidates = [count]
    while candidates[-1] > 1:
        candidates.append(candidates[-1] // 2)
    return tuple(candidates)


class ThreadChooser:
    """Times training steps with each candidate thread count and trains on with the fastest.

    The trainer calls `before_step()` before each step (it sets the count for that step) and `after_step(s)`
    after it with the step's wall-clock seconds. A probe times PROBE_STEPS steps per candidate, interleaved so
    that a change of load hits every candidate alike, after the first WARMUP_STEPS; the fastest median wins,
    ties to the larger count. With no candidates it does nothing. `threads` is the count it trains on: the
    default until the first probe ends, then each probe's winner (a probe's own steps try the others).
    """

    def __init__(self, candidates: Sequence[int], set_threads: Callable[[int], None] = torch.set_num_threads) -> None:
        self.candidates = tuple(candidates)
        self.threads: int | None = self.candidates[0] if self.candidates else None
        self._applied = self.threads  # the count set now: during a probe, the candidate being timed
        self.probes = 0  # probes finished so far
        self._set_threads = set_threads
        self._warmup = WARMUP_STEPS
        self._plan: list[int] = []  # the counts of the probe's steps still to come
        self._timings: dict[int, list[float]] = {}
        self._probed_time: float | None = None  # the winner's median step seconds at the last probe
        self._running_time: float | None = None  # the smoothed step seconds since
        self._since_probe = 0.0  # seconds trained since the last probe

    @property
    def active(self) -> bool:
        return len(self.candidates) > 1

    def before_step(self) -> None:
        if not self.active or self._warmup:
            return
        if not self._plan and self._probe_due():
            self._plan = [n for _ in range(PROBE_STEPS) for n in self.candidates]
            self._timings = {n: [] for n in self.candidates}
        if self._plan:
            self._use(self._plan[0])

    def after_step(self, seconds: float) -> None:
        if not self.active:
            return
        if self._warmup:
            self._warmup -= 1
            return
        if self._plan:
            self._timings[self._plan.pop(0)].append(seconds)
            if not self._plan:
                self._choose()
            return
        self._since_probe += seconds
        self._running_time = (1 - _SMOOTHING) * self._running_time + _SMOOTHING * seconds

    def restore(self) -> None:
        """Back to the default count, for whatever runs in this process after the training."""
        if self.active:
            self._use(self.candidates[0])

    def _probe_due(self) -> bool:
        if self._probed_time is None:
            return True
        drift = abs(self._running_time / self._probed_time - 1)
        return self._since_probe >= RECHECK_SECONDS or drift >= DRIFT

    def _choose(self) -> None:
        medians = {n: statistics.median(times) for n, times in self._timings.items()}
        best = min(self.candidates, key=lambda n: medians[n])  # min keeps the first of equals: the larger count
        self._use(best)
        self.threads = best
        self._probed_time = self._running_time = medians[best]
        self._since_probe = 0.0
        self.probes += 1

    def _use(self, count: int) -> None:
        if count != self._applied:
            self._set_threads(count)
            self._applied = count
