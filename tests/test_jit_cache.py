"""Numba's disk cache and evsim's guard against stale kernels (`evsim._jit.purge_stale_kernels`): a cached kernel
is keyed on its own file only, so a change to a helper it inlines from another file is not seen by Numba."""

import os
import subprocess
import sys
import textwrap

import pytest

from evsim._jit import purge_stale_kernels

from conftest import REPO

KERNEL = """
from evsim._jit import njit
from pkg.helper import f

@njit
def g(x):
    return f(x) + 1
"""
HELPER = """
from evsim._jit import njit_inline

@njit_inline
def f(x):
    return x * {k}
"""
RUN = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from evsim._jit import purge_stale_kernels
if {purge}:
    purge_stale_kernels(Path({root!r}) / "pkg")
from pkg.kernel import g
print(g(10))
"""


def _run(root, purge, cache_dir=None):
    code = textwrap.dedent(RUN.format(root=str(root), purge=purge))
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


@pytest.mark.parametrize("where", ["__pycache__", "NUMBA_CACHE_DIR"])
def test_a_changed_inlined_helper_reaches_the_cached_kernel_only_with_the_purge(tmp_path, where):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "kernel.py").write_text(KERNEL)
    (pkg / "helper.py").write_text(HELPER.format(k=2))
    cache = tmp_path / "numba-cache" if where == "NUMBA_CACHE_DIR" else None
    assert _run(tmp_path, True, cache) == 21  # compiled and cached
    assert list((cache or pkg).glob("**/kernel.g-*.nbi"))
    assert cache is None or not list(pkg.glob("__pycache__/*.nbi"))
    (pkg / "helper.py").write_text(HELPER.format(k=3))
    assert _run(tmp_path, False, cache) == 21  # Numba alone: the stale kernel, from its cache
    assert _run(tmp_path, True, cache) == 31  # the digest changed: caches deleted, recompiled
    assert _run(tmp_path, True, cache) == 31


def test_purge_only_when_the_sources_change(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    cache = tmp_path / "sub" / "__pycache__"
    cache.mkdir()
    nb = [cache / "b.k-3.py311.nbi", cache / "b.k-3.py311.1.nbc"]
    for f in nb:
        f.write_bytes(b"")
    assert purge_stale_kernels(tmp_path) and not any(f.exists() for f in nb)  # first time: no digest yet
    for f in nb:
        f.write_bytes(b"")
    assert not purge_stale_kernels(tmp_path) and all(f.exists() for f in nb)
    (tmp_path / "sub" / "b.py").write_text("y = 3\n")
    assert purge_stale_kernels(tmp_path) and not any(f.exists() for f in nb)
