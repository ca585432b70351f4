"""Start-up: `charrnn-tui --help` (it must not import torch) and the time to the app's first screen.

The first screen is timed in a real terminal: the app starts in a detached tmux session and the pane
is read every 10 ms until the corpus screen's list of plays shows. Without tmux only --help is timed.

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_startup.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = Path(sys.executable).with_name("charrnn-tui")
TORCH_CHECK = """import sys
from charrnn_tui.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print("torch imported:", "torch" in sys.modules, file=sys.stderr)
"""


def time_help() -> float:
    t0 = time.perf_counter()
    subprocess.run([str(EXE), "--help"], capture_output=True, check=True)
    return time.perf_counter() - t0


def time_first_screen(home: str, marker: str = "built-in plays", timeout: float = 30.0) -> float:
    name = f"charrnn-bench-{os.getpid()}"
    cmd = f"CHARRNN_TUI_HOME={home} {EXE}"
    t0 = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "36", cmd], check=True)
    try:
        while time.perf_counter() - t0 < timeout:
            pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
            if marker in pane:
                return time.perf_counter() - t0
            time.sleep(0.01)
        raise TimeoutError(f"the app showed no {marker!r} within {timeout} s")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    check = subprocess.run([sys.executable, "-c", TORCH_CHECK], capture_output=True, text=True, check=True)
    print(check.stderr.strip().splitlines()[-1])
    time_help()  # the first run pays for cold disk caches
    helps = [time_help() for _ in range(args.repeats)]
    print(f"charrnn-tui --help: median {statistics.median(helps):.3f} s ({', '.join(f'{t:.3f}' for t in helps)})")

    if shutil.which("tmux") is None:
        print("tmux not found: first-screen time not measured")
        return
    with tempfile.TemporaryDirectory() as home:
        time_first_screen(home)
        firsts = [time_first_screen(home) for _ in range(args.repeats)]
    print(
        f"first screen (tmux, 120x36): median {statistics.median(firsts):.3f} s "
        f"({', '.join(f'{t:.3f}' for t in firsts)})"
    )


if __name__ == "__main__":
    main()
