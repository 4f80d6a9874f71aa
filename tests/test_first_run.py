"""The first-run notice (`evsim.engine.first_run`): said before a kernel compiles, not when Numba's disk cache has it.

A tiny cached kernel in a temporary module stands in for the engine's loop (which takes many seconds to compile);
each process starts with the same temporary NUMBA_CACHE_DIR, so the second finds what the first compiled.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

KERNEL = """
import numba
@numba.njit(cache=True)
def twice(a, k=1):
    return a * 2 * k
"""

DRIVER = """
import numpy as np, kernel
from evsim.engine import first_run
first_run.ON_COMPILE = lambda: print("NOTICE")
said = first_run.prepare(kernel.twice, (np.arange(3.0),), {"k": 3})
print("result", kernel.twice(np.arange(3.0), k=3).tolist(), said, sum(kernel.twice.stats.cache_misses.values()))
"""


def test_notice_only_when_compiling(tmp_path):
    (tmp_path / "kernel.py").write_text(KERNEL)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}", NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def run() -> list[str]:
        p = subprocess.run([sys.executable, "-c", DRIVER], env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return p.stdout.splitlines()

    first = run()
    assert first[0] == "NOTICE" and first[1] == "result [0.0, 6.0, 12.0] True 1"
    second = run()  # loaded from the disk cache by `prepare`: no notice, and the call found the loaded overload
    assert second == ["result [0.0, 6.0, 12.0] False 0"]  # (0: the call compiled nothing)
