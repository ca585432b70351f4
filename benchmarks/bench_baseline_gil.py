"""The n-gram baseline's fit on Hamlet: how long it takes, and how long it keeps another thread waiting for the GIL.

The fit is what the corpus screen's worker runs (`corpus_baseline` on the built-in Hamlet, --val-fraction 0.1,
orders 1-10): first timed alone (the counting, `KneserNeyLM`, and the whole of `corpus_baseline` with the
scoring; best of --repeats), then run in a thread, as the app's worker does, beside a probe in the main thread
that sleeps 1 ms in a loop and records how late each sleep ends. A late wake-up is the time the probe waited for
the GIL (plus the sleep's own slack, "probe alone"): what a key pressed during the fit waits, since the UI thread
needs the GIL too. CPython lets a waiting thread in after the switch interval (5 ms) once the holder reaches its
next bytecode, so one long C call (a Counter over a whole text) shows as one long wait. --where names the line
the fit thread stood at when each of the longest waits ended (the line after the C call that held the GIL).

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_baseline_gil.py
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_baseline_gil.py --repeats 5 --where
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import charrnn_tui
from charrnn_tui.scoring.baseline import KneserNeyLM, corpus_baseline
from charrnn_tui.text.corpus import load_builtin

VAL_FRACTION = 0.1  # the app's default split


def _where(frame) -> str:
    """'file:line (function)' of the frame, and of the nearest caller in the package when the frame is not."""
    out = []
    while frame is not None:
        out.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} ({frame.f_code.co_name})")
        if "charrnn_tui" in frame.f_code.co_filename:
            break
        frame = frame.f_back
    return " <- ".join(out[:1] + out[-1:] if len(out) > 1 else out)


def probe(stop: threading.Event, watched: int | None, where: bool) -> list[tuple[float, str]]:
    """Sleep 1 ms until `stop` is set; every wake-up's lateness (s) and, with `where`, the watched thread's line."""
    late: list[tuple[float, str]] = []
    while not stop.is_set():
        t0 = time.perf_counter()
        time.sleep(0.001)
        over = time.perf_counter() - t0 - 0.001
        line = ""
        if where and over > 0.003 and watched is not None:
            line = _where(sys._current_frames().get(watched))
        late.append((over, line))
    return late


def probed_fit(corpus, where: bool) -> tuple[list[tuple[float, str]], float]:
    """corpus_baseline in a thread, the probe in this one: the probe's wake-ups and the fit's seconds."""
    stop, seconds = threading.Event(), []

    def fit() -> None:
        t0 = time.perf_counter()
        corpus_baseline(corpus, VAL_FRACTION)  # the model is freed on return, inside the timed span
        seconds.append(time.perf_counter() - t0)
        stop.set()

    worker = threading.Thread(target=fit)
    worker.start()
    late = probe(stop, worker.ident, where)
    worker.join()
    return late, seconds[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--where", action="store_true", help="name the fit's line at each of the longest waits")
    args = ap.parse_args()

    print(f"charrnn_tui from {Path(charrnn_tui.__file__).parent}, Python {sys.version.split()[0]}")
    corpus = load_builtin("hamlet")
    train, _ = corpus.split(VAL_FRACTION)
    counting, whole = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        lm = KneserNeyLM(train)
        counting.append(time.perf_counter() - t0)
        del lm
        t0 = time.perf_counter()
        corpus_baseline(corpus, VAL_FRACTION)
        whole.append(time.perf_counter() - t0)
    print(f"counting (KneserNeyLM, {len(train):,} chars, orders 1-10): best {min(counting):.3f} s "
          f"({', '.join(f'{t:.3f}' for t in counting)})")  # fmt: skip
    print(f"corpus_baseline (counting + scoring): best {min(whole):.3f} s ({', '.join(f'{t:.3f}' for t in whole)})")

    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    alone = [over for over, _ in probe(stop, None, False)]
    print(f"probe alone, 1 s: longest oversleep {max(alone) * 1e3:.2f} ms, median {statistics.median(alone) * 1e3:.3f}")
    print("probe beside the fit (ms): longest wait, 2nd, median, waits over 10 ms; the fit's own seconds")
    worst: list[tuple[float, str]] = []
    for i in range(args.repeats):
        late, seconds = probed_fit(corpus, args.where)
        overs = sorted((over for over, _ in late), reverse=True)
        over10, median = sum(over > 0.010 for over in overs), statistics.median(overs)
        print(f"  repeat {i + 1}: {overs[0] * 1e3:7.2f} {overs[1] * 1e3:7.2f} {median * 1e3:6.2f} {over10:4d}"
              f"   fit {seconds:.3f} s, {len(overs):,} wake-ups")  # fmt: skip
        worst.extend(late)
    if args.where:
        print("the longest waits of all repeats, and where the fit thread stood when they ended:")
        for over, line in sorted(worst, reverse=True)[:12]:
            print(f"  {over * 1e3:7.2f} ms  {line}")


if __name__ == "__main__":
    main()
