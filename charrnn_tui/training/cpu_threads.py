"""How many intra-op threads a CPU training step uses: the count that trains fastest now, found by timing steps.

PyTorch's default, one thread per core, is the fastest only while the cores are free. On a machine whose cores
are shared, every parallel region waits for its slowest thread, and a thread whose core another process holds
is descheduled: beside one busy process on 2 cores, one thread trained the default preset 2.3x faster than two,
while alone two were 1.4x faster than one (docs/benchmarks.md, "Intra-op threads"); in the app, whose own
drawing also wants a core, two threads' steps took seconds. Neither count suits every moment, and neighbours
come and go, so the trainer times a few steps with each candidate count, keeps the fastest, and times them
again now and then, or at once when its step time drifts.

The count changes no result: oneDNN and MKL split a step's work across threads without changing the order of
any sum, so a run's losses are bit-identical with 1 or 2 threads (tests/test_threads.py checks it).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

WARMUP_STEPS = 5  # the first steps build oneDNN's kernels and are slow whatever the count: never timed
PROBE_STEPS = 3  # timed steps per candidate in one probe, the candidates interleaved; the median counts
ABANDON = 2.0  # a candidate whose two steps each take this many times another's best is timed no more...
STALL = 4.0  # ...and one whose single step takes this many times: a stalled count, not a passing hiccup
RECHECK_SECONDS = 30.0  # seconds of training on the default count after which the candidates are timed again
RECHECK_FEWER_SECONDS = 10.0  # ...on fewer threads: the neighbour that made them faster may leave at any time
PROBE_SHARE = 0.03  # ...or later, so that re-timing slower counts costs at most this share of the training time
DRIFT = 0.3  # ...or sooner, once the step time has moved this fraction away from what the probe measured
_SMOOTHING = 0.2  # weight of the newest step in the running step time that the drift is read from
# On fewer threads, a re-check also comes (after RECHECK_FEWER_SECONDS) as soon as the cores left out sat idle
# this share of the time over the last IDLE_WINDOW_SECONDS: the neighbour has gone. One thread's own step time
# cannot show that, and re-checks spaced by PROBE_SHARE after a stall would otherwise wait minutes.
FREE_SHARE = 0.5
IDLE_WINDOW_SECONDS = 1.0

# Set by the user (or by torchrun, which sets OMP_NUM_THREADS for its ranks) to a count: their choice stands.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pinned_by_environment(environ: Mapping[str, str] = os.environ) -> str | None:
    """The THREAD_ENV variable that pins the count (set to a positive whole number, as PyTorch reads it), or None.
    A value PyTorch ignores (empty, "abc", "0") pins nothing."""
    for name in THREAD_ENV:
        value = environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return name
    return None


def usable_cores() -> int:
    """The cores this process may run on now: its CPU affinity, which `taskset`, `os.sched_setaffinity` and a
    cgroup's cpuset (a container's --cpuset-cpus) narrow; os.cpu_count() where the system has no affinity."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fit_threads_to_cores(environ: Mapping[str, str] = os.environ, cores: int | None = None) -> int:
    """PyTorch's intra-op thread count, cut to the cores this process may use (`cores`, else usable_cores()), and
    returned. PyTorch reads the count once, at its start: a process confined later (`taskset -p`, a cpuset
    changed under a running container) would keep a thread per core it can no longer run on, each parallel
    region then waiting for threads that share one core. A count pinned in THREAD_ENV stands."""
    count = torch.get_num_threads()
    if pinned_by_environment(environ):
        return count
    fitted = min(count, cores if cores is not None else usable_cores())
    if fitted != count:
        torch.set_num_threads(fitted)
    return fitted


def thread_candidates(
    device: torch.device, distributed: bool, default: int | None = None, environ: Mapping[str, str] = os.environ
) -> tuple[int, ...]:
    """The intra-op thread counts worth timing, the default first: PyTorch's default (one per core this process
    may use, fit_threads_to_cores) and its halvings down to 1, e.g. (2, 1) on 2 cores, (8, 4, 2, 1) on 8. Empty
    where the choice is not the trainer's: not a CPU, one of several ranks (torchrun shares the cores out), a
    count pinned in THREAD_ENV, or one core."""
    if device.type != "cpu" or distributed or pinned_by_environment(environ):
        return ()
    count = default if default is not None else fit_threads_to_cores(environ)
    if count <= 1:
        return ()
    candidates = [count]
    while candidates[-1] > 1:
        candidates.append(candidates[-1] // 2)
    return tuple(candidates)


def _steps_to_give_up(seconds: float, fastest: float) -> int | None:
    """How many steps of `seconds` each a probe times before it gives up on their count, against `fastest`;
    None: it times them all."""
    if seconds > STALL * fastest:
        return 1
    return 2 if seconds > ABANDON * fastest else None


def system_idle_seconds() -> float | None:
    """Seconds all CPUs of the machine have sat idle since boot, summed over CPUs (psutil), or None where the
    system does not say. Inside a container limited to fewer CPUs than the host has, this is the host's."""
    try:
        import psutil

        return float(psutil.cpu_times().idle)
    except Exception:  # no psutil, or a platform or sandbox that hides the counters: go without the signal
        return None


class IdleMeter:
    """How many cores sat idle, on average, over the last IDLE_WINDOW_SECONDS or more: `free_cores()`.

    `idle_seconds` returns the cumulative idle CPU-seconds of the machine (None: unknown) and `now` the time."""

    def __init__(
        self,
        idle_seconds: Callable[[], float | None] = system_idle_seconds,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle_seconds, self._now = idle_seconds, now
        self._mark: tuple[float, float] | None = None
        self._free: float | None = None

    def free_cores(self) -> float | None:
        idle, now = self._idle_seconds(), self._now()
        if idle is None:
            return None
        if self._mark is None:
            self._mark = (now, idle)
        elif now - self._mark[0] >= IDLE_WINDOW_SECONDS:
            self._free = (idle - self._mark[1]) / (now - self._mark[0])
            self._mark = (now, idle)
        return self._free

    def reset(self) -> None:
        """Forget the window: what follows a probe is measured afresh."""
        self._mark, self._free = None, None


@dataclass(frozen=True)
class ThreadChoice:
    """A probe that changed the count: `threads` from now on instead of `previous`, and the median step
    seconds it measured per count (a count given up on after ABANDON has its one or two steps' median)."""

    threads: int
    previous: int
    step_seconds: tuple[tuple[int, float], ...]  # (count, median seconds a step), fastest first


class ThreadChooser:
    """Times training steps with each candidate thread count and trains on with the fastest.

    The trainer calls `before_step()` before each step (it sets the count for that step) and `after_step(s)`
    after it with the step's wall-clock seconds; `after_step` returns a ThreadChoice when a probe has changed the
    count. A probe comes after the first WARMUP_STEPS, every RECHECK_SECONDS (RECHECK_FEWER_SECONDS on fewer
    threads than the default), whenever the step time drifts by DRIFT, and on fewer threads as soon as the
    cores they leave out sit idle (`idle`, the machine's idle time: the neighbour has gone).

    A probe times PROBE_STEPS steps per candidate, interleaved so that a change of load hits every candidate
    alike, the count in use last (its recent steps are what set the probe off, and a probe set off by drift
    counts the step that drifted). A candidate is dropped once two of its steps took ABANDON times another's
    best, or one step STALL times, so a neighbour that stalls the count in use costs the one step that shows
    it, while one slow step of a count that is otherwise fine (a hiccup) does not decide the probe. Re-checks
    are spaced so that they cost at most PROBE_SHARE of the training time. The fastest median wins, ties to the
    larger count. With fewer than two candidates it does nothing. `threads` is the count it trains on: the
    default until the first probe ends, then each probe's winner (a probe's own steps try the others).
    """

    def __init__(
        self,
        candidates: Sequence[int],
        set_threads: Callable[[int], None] = torch.set_num_threads,
        idle: IdleMeter | None = None,
    ) -> None:
        self.candidates = tuple(candidates)
        self._idle = idle if idle is not None else IdleMeter()
        self.threads: int | None = self.candidates[0] if self.candidates else None
        self.probes = 0  # probes finished so far
        self._set_threads = set_threads
        self._applied = self.threads  # the count set now: during a probe, the candidate being timed
        self._warmup = WARMUP_STEPS
        self._plan: list[int] = []  # the counts of the probe's steps still to come
        self._timings: dict[int, list[float]] = {}
        self._probed_time: float | None = None  # the winner's median step seconds at the last probe
        self._running_time: float | None = None  # the smoothed step seconds since
        self._since_probe = 0.0  # seconds trained since the last probe
        self._last_seconds = 0.0  # the last step's
        self._recheck_after = RECHECK_SECONDS  # seconds of training until the next probe

    @property
    def active(self) -> bool:
        return len(self.candidates) > 1

    def before_step(self) -> None:
        if not self.active or self._warmup:
            return
        if not self._plan and self._probe_due():
            others = [n for n in self.candidates if n != self.threads]
            self._plan = [n for _ in range(PROBE_STEPS) for n in (*others, self.threads)]
            self._timings = {n: [] for n in self.candidates}
            if self._drifted():
                # The step that drifted is a timing of the count in use under the new load: with it, a count
                # that the load has made ABANDON times slower is given up after the others' first step.
                self._timings[self.threads].append(self._last_seconds)
        if self._plan:
            self._use(self._plan[0])

    def after_step(self, seconds: float) -> ThreadChoice | None:
        if not self.active:
            return None
        if self._warmup:
            self._warmup -= 1
            return None
        self._last_seconds = seconds
        if self._plan:
            count = self._plan.pop(0)
            self._timings[count].append(seconds)
            self._abandon_slow()
            return self._choose() if not self._plan else None
        self._since_probe += seconds
        self._running_time = (1 - _SMOOTHING) * self._running_time + _SMOOTHING * seconds
        return None

    def restore(self) -> None:
        """Back to the default count, for whatever runs in this process after the training."""
        if self.active:
            self._use(self.candidates[0])

    def _probe_due(self) -> bool:
        if self._probed_time is None or self._since_probe >= self._recheck_after or self._drifted():
            return True
        return self.threads < self.candidates[0] and self._since_probe >= RECHECK_FEWER_SECONDS and self._freed()

    def _freed(self) -> bool:
        """The cores this count leaves out have sat mostly idle lately: the neighbour has gone."""
        free = self._idle.free_cores()
        return free is not None and free >= FREE_SHARE * (self.candidates[0] - self.threads)

    def _drifted(self) -> bool:
        return self._probed_time is not None and abs(self._running_time / self._probed_time - 1) >= DRIFT

    def _abandon_slow(self) -> None:
        fastest = min(min(t) for t in self._timings.values() if t)
        slow = set()
        for count, times in self._timings.items():
            give_up_after = _steps_to_give_up(min(times), fastest) if times else None
            if give_up_after is not None and len(times) >= give_up_after:
                slow.add(count)
        self._plan = [n for n in self._plan if n not in slow]

    def _choose(self) -> ThreadChoice | None:
        medians = {n: statistics.median(t) for n, t in self._timings.items() if t}
        best = min(medians, key=lambda n: (medians[n], -n))  # the fastest; of equals, the larger count
        self._use(best)
        previous, self.threads = self.threads, best
        self._probed_time = self._running_time = medians[best]
        self._since_probe = 0.0
        self._recheck_after = self._recheck_interval(medians, best)
        self._idle.reset()
        self.probes += 1
        if best == previous:
            return None
        ranked = tuple(sorted(medians.items(), key=lambda item: item[1]))
        return ThreadChoice(best, previous, ranked)

    def _recheck_interval(self, medians: dict[int, float], best: int) -> float:
        """Seconds of training until the next probe: RECHECK_SECONDS on the default count, RECHECK_FEWER_SECONDS
        on fewer, but never so soon that the next probe's steps on the slower counts (as many as it takes to give
        up on them, at most PROBE_STEPS) cost more than PROBE_SHARE of the time in between."""
        base = RECHECK_SECONDS if best == self.candidates[0] else RECHECK_FEWER_SECONDS
        won = medians[best]
        extra = sum((t - won) * (_steps_to_give_up(t, won) or PROBE_STEPS) for n, t in medians.items() if n != best)
        return max(base, extra / PROBE_SHARE)

    def _use(self, count: int) -> None:
        if count != self._applied:
            self._set_threads(count)
            self._applied = count
