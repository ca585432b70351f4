"""Thousands of saved runs: the listing (`runs/listing.list_runs`) and the app's corpus screen, 10 against 3,000.

The run folders are real: one tiny training's folder (config.json, checkpoint.json, metrics.jsonl, a ~50 kB
checkpoint.pt) copied into each, with `--rows` metrics rows and a checkpoint.json describing each copy
(`tests/helpers/run_folders.py`). Both sizes are made once in one temp dir, and measured alternately in the
same run so that the drift of a shared machine hits both alike:

- "listing": `list_runs` in this process, the files in the page cache (as after a first start);
- "app": a fresh `charrnn-tui` app process (App.run_test, 120x36) from its start to the corpus screen's list
  of saved runs showing its first rows ("first screen": a screenful, or every run when there are fewer), then
  every run, then the corpus screen's n-gram baseline line (Hamlet's) showing its result, and, in the same
  child, how much of that was `list_runs` itself. "key while filling" is how long
  a key (down, in the list) takes to be answered right after the first rows show, while the rest are added.

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_many_runs.py
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_many_runs.py --small 10 --large 3000 --repeats 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.monotonic()  # the child's own start, before the app's imports

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def time_listing(root: Path) -> tuple[float, int]:
    from charrnn_tui.runs.listing import list_runs

    t0 = time.perf_counter()
    runs = list_runs(root)
    return time.perf_counter() - t0, len(runs)


def time_first_page(root: Path) -> float:
    """Until `iter_runs` hands over its first page (the newest PAGE runs): what a paged list waits for."""
    from charrnn_tui.runs.listing import iter_runs

    t0 = time.perf_counter()
    next(iter_runs(root), None)
    return time.perf_counter() - t0


def app_child(home: Path, expected: int) -> None:
    """In a fresh process: start the app on `home` and print when its saved-runs list showed its first rows and
    every run, and how long a key took meanwhile."""
    os.environ["CHARRNN_TUI_HOME"] = str(home)
    from textual import events

    from charrnn_tui.tui.app import CharRNNApp

    async def main() -> dict[str, float]:
        app = CharRNNApp(test_mode=True)
        async with app.run_test(size=(120, 36)) as pilot:

            async def baseline_done() -> float:  # watched from the start: it may show before the list ends
                await _until(pilot, lambda: _baseline_result(app) is not None)
                return time.monotonic() - START

            watch_baseline = asyncio.create_task(baseline_done())
            await _until(pilot, lambda: _runs(app) is not None and _runs(app).option_count >= min(expected, FIRST_ROWS)
                         and not _runs(app).get_option_at_index(0).disabled)  # fmt: skip
            first = time.monotonic() - START
            panel = _runs(app)

            async def whole() -> float:  # watched beside the key, so that its wait does not count here
                await _until(pilot, lambda: panel.option_count >= expected and _listed(app.screen, panel))
                return time.monotonic() - START

            watch = asyncio.create_task(whole())
            panel.focus()
            await asyncio.sleep(0.02)
            before = panel.highlighted
            t0 = time.monotonic()
            # Not pilot.press: it returns once the process is idle, which it is not while the list fills.
            app.post_message(events.Key("down", None))
            await _until(pilot, lambda: panel.highlighted != before, poll=0.001)
            key = time.monotonic() - t0
            shown = await watch
            baseline = await watch_baseline
        listing, _ = time_listing(home / "runs")  # list_runs alone, same process, warm as the app left it
        return {"first_s": first, "key_s": key, "shown_s": shown, "baseline_s": baseline, "list_runs_s": listing}

    print(json.dumps(asyncio.run(main())))


FIRST_ROWS = 30  # more than a 120x36 screen shows of the list: the first screen is whole


def _runs(app):
    found = app.screen.query("#runs")
    return found.first() if found else None


def _baseline_result(app):
    found = app.screen.query("#corpus-baseline")
    return found.first().result if found else None


async def _until(pilot, condition, poll: float = 0.01) -> None:
    # asyncio.sleep, not pilot.pause: that waits for every widget's queue, and so for the list's pages too.
    while not condition():
        await asyncio.sleep(poll)
        if time.monotonic() - START > 300:
            raise TimeoutError("the saved runs were not listed within 300 s")


def _listed(screen, runs) -> bool:
    # The list's owner says when a scan has ended (the panel, or the corpus screen before the panel existed).
    done = getattr(runs, "listed", None)
    if done is None:
        done = getattr(screen, "runs_read", False)
    reading = getattr(runs, "reading", None)
    if reading is None:
        reading = getattr(screen, "reading_runs", False)
    return bool(done) and not reading


def time_app(home: Path, expected: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--app-child", str(home), "--expected", str(expected)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"the app child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_homes(base: Path, sizes: list[int], rows: int) -> dict[int, Path]:
    from helpers.run_folders import copy_runs, train_template

    template = train_template(base / "template")
    homes = {}
    for n in sizes:
        homes[n] = base / f"home-{n}"
        copy_runs(template, homes[n] / "runs", n, rows=rows)
    return homes


def report(name: str, small: int, large: int, values: dict[int, list[float]]) -> None:
    a, b = statistics.median(values[small]), statistics.median(values[large])
    print(
        f"{name:<26} {small:>5} runs {a * 1e3:9.1f} ms   {large:>5} runs {b * 1e3:9.1f} ms   "
        f"ratio {b / a:6.1f}   per run {(b - a) / (large - small) * 1e3:.3f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=10)
    ap.add_argument("--large", type=int, default=3000)
    ap.add_argument("--rows", type=int, default=100, help="metrics rows per run (100: a 1,000-step run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-app", action="store_true", help="time the listing only")
    ap.add_argument("--app-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--expected", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.app_child:
        app_child(args.app_child, args.expected)
        return
    sizes = [args.small, args.large]
    with tempfile.TemporaryDirectory(prefix="charrnn-many-runs-") as tmp:
        t0 = time.perf_counter()
        homes = make_homes(Path(tmp), sizes, args.rows)
        print(f"made {sum(sizes)} run folders in {time.perf_counter() - t0:.1f} s ({args.rows} metrics rows each)")
        for n in sizes:
            time_listing(homes[n] / "runs")  # the page cache warmed for both
        listing: dict[int, list[float]] = {n: [] for n in sizes}
        first: dict[int, list[float]] = {n: [] for n in sizes}
        shown: dict[int, list[float]] = {n: [] for n in sizes}
        first_rows: dict[int, list[float]] = {n: [] for n in sizes}
        key: dict[int, list[float]] = {n: [] for n in sizes}
        inner: dict[int, list[float]] = {n: [] for n in sizes}
        baseline: dict[int, list[float]] = {n: [] for n in sizes}
        for _ in range(args.repeats):
            for n in sizes:
                seconds, found = time_listing(homes[n] / "runs")
                assert found == n, (found, n)
                listing[n].append(seconds)
                first[n].append(time_first_page(homes[n] / "runs"))
                if not args.no_app:
                    figures = time_app(homes[n], n)
                    shown[n].append(figures["shown_s"])
                    first_rows[n].append(figures["first_s"])
                    key[n].append(figures["key_s"])
                    inner[n].append(figures["list_runs_s"])
                    baseline[n].append(figures["baseline_s"])
        report("list_runs", *sizes, listing)
        report("iter_runs, first page", *sizes, first)
        if not args.no_app:
            report("app start -> first screen", *sizes, first_rows)
            report("key while filling", *sizes, key)
            report("app start -> all runs shown", *sizes, shown)
            report("app start -> baseline shown", *sizes, baseline)
            report("list_runs in the app", *sizes, inner)


if __name__ == "__main__":
    main()
