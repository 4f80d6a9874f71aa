"""Exact mode against NEST's precise neurons (`iaf_psc_delta_ps`, `iaf_psc_exp_ps`), spike by spike.

The vendored file tests/data/nest_precise_small.npz holds a small feedforward case (20 -> 10 -> 5, off-grid Poisson
input, grid delays, 200 ms) and NEST 3.10's spikes for both models (its provenance line says how it was made), so CI
compares evsim with NEST without NEST. The live test reruns NEST (validation/nest_precise.py) on a larger chain when
a Python with NEST is there ($NEST_PYTHON, default ../venv-bench/bin/python beside the repository).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

VENDORED = REPO / "tests" / "data" / "nest_precise_small.npz"
# NEST's Python: $NEST_PYTHON, else a venv-bench beside the repository (or beside its parent folder, for a worktree)
_CANDIDATES = [REPO.parent / "venv-bench" / "bin" / "python", REPO.parents[1] / "venv-bench" / "bin" / "python"]
NEST_PY = Path(os.environ.get("NEST_PYTHON", next((p for p in _CANDIDATES if p.exists()), _CANDIDATES[0])))
TOL_MS = 1e-6


def _script(need_exact: bool = True):
    if need_exact:
        pytest.importorskip("evsim.exact", reason="evsim.exact (the exact engine) is not in this tree yet")
    spec = importlib.util.spec_from_file_location("nest_precise", REPO / "validation" / "nest_precise.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_vendored_file_says_where_it_came_from():
    with np.load(VENDORED, allow_pickle=False) as z:
        prov = str(z["provenance"])
    assert "NEST 3.10" in prov and "validation/nest_precise.py" in prov


@pytest.mark.parametrize("model", ["iaf_psc_delta_ps", "iaf_psc_exp_ps"])
def test_matches_vendored_nest_spikes(model):
    m = _script()
    case, nest_out = next((c, d) for c, d in m.vendored_cases(VENDORED) if c["model"] == model)
    rows = m.compare(case, nest_out)
    print(m.table(rows))
    for _, _, pop, n_nest, n_evsim, unmatched, worst in rows:
        assert n_nest > 20, f"{pop}: too few NEST spikes for a meaningful check"
        assert unmatched == 0 and n_nest == n_evsim, f"{model} {pop}: {unmatched} unmatched spikes"
        assert worst < TOL_MS, f"{model} {pop}: spike times differ by {worst} ms"


def test_matching_counts_a_missing_or_moved_spike():
    m = _script(need_exact=False)
    a = (np.array([1.0, 2.0, 3.0, 1.5]), np.array([0, 0, 0, 1]))
    assert m.match(a, a, 10.0) == (4, 4, 0, 0.0)
    b = (np.array([1.0, 2.0 + 1e-5, 1.5]), np.array([0, 0, 1]))  # one spike lost, one moved by 1e-5 ms
    n_a, n_b, unmatched, worst = m.match(a, b, 10.0)
    assert (n_a, n_b, unmatched) == (4, 3, 1) and worst == pytest.approx(1e-5)
    c = (np.array([1.0, 2.0, 3.0, 1.5]), np.array([0, 0, 0, 0]))  # right time, wrong neuron
    assert m.match(a, c, 10.0)[2] == 2


@pytest.mark.validation
@pytest.mark.parametrize("model", ["iaf_psc_delta_ps", "iaf_psc_exp_ps"])
def test_live_nest_chain(model):
    if not NEST_PY.exists():
        pytest.skip(f"no Python with NEST at {NEST_PY} (set NEST_PYTHON)")
    probe = subprocess.run([str(NEST_PY), "-c", "import nest"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"NEST is not importable in {NEST_PY}")
    m = _script()
    case = m.build_case("chain", model, 200.0)
    rows = m.compare(case, m.run_nest(case, str(NEST_PY)))
    print(m.table(rows))
    assert sum(r[3] for r in rows) > 300
    for _, _, pop, _, _, unmatched, worst in rows:
        assert unmatched == 0 and worst < TOL_MS, f"{model} {pop}: {unmatched} unmatched, max |dt| {worst} ms"
