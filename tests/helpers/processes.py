"""Several independent subprocesses started at once and waited for, for tests that need more than one."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


def run_all(cmds: Sequence[Sequence[str]], env: dict[str, str], timeout: float) -> list[subprocess.CompletedProcess]:
    """Start every command at once (text output captured), wait for each within `timeout` seconds, and return
    their results in order; a process still running when this returns or raises is killed."""
    procs = [
        subprocess.Popen(list(c), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in cmds
    ]
    try:
        done = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
        return done
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
