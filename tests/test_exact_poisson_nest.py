"""Poisson input in exact mode against NEST 3.10: neurons in the fluctuation-driven regime (mean drive below
threshold, so their rate depends on the input's whole law, not only its mean), each driven by its own Poisson train
(NEST's ``poisson_generator_ps`` sends each target its own precise train; evsim one `poisson_source` neuron per
target). The random streams differ, so the output rates are compared within their statistical error. Runs when a
Python with NEST is there ($NEST_PYTHON, as `tests/test_nest_precise.py`), else skipped."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from test_nest_precise import NEST_PY

import evsim
from evsim import exact

N, T_MS, RATE, W, DELAY_MS = 200, 1000.0, 8000.0, 22.0, 1.0
PARAMS = {"C_m": 250.0, "tau_m": 10.0, "t_ref": 2.0, "E_L": -65.0, "V_th": -50.0, "V_reset": -65.0,
          "tau_syn_ex": 2.0, "tau_syn_in": 2.0}  # fmt: skip
NEST_SCRIPT = f"""
import json, nest
nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.resolution, nest.rng_seed = 0.1, 12
neu = nest.Create("iaf_psc_exp_ps", {N}, params={PARAMS!r})
neu.V_m = -65.0
pg = nest.Create("poisson_generator_ps", params={{"rate": {RATE}}})
sr = nest.Create("spike_recorder")
nest.Connect(pg, neu, syn_spec={{"weight": {W}, "delay": {DELAY_MS}}})
nest.Connect(neu, sr)
nest.Simulate({T_MS})
print(json.dumps({{"spikes": len(sr.get("events")["times"])}}))
"""


@pytest.mark.validation
def test_poisson_driven_rate_matches_nest():
    if not NEST_PY.exists():
        pytest.skip(f"no Python with NEST at {NEST_PY} (set NEST_PYTHON)")
    out = subprocess.run([str(NEST_PY), "-c", NEST_SCRIPT], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        pytest.skip(f"NEST did not run in {NEST_PY}: {out.stderr.strip()[-200:]}")
    n_nest = json.loads(out.stdout.strip().splitlines()[-1])["spikes"]
    pops = (
        exact.poisson_source("pg", N, RATE),
        evsim.Population("neu", N, exact.from_nest("iaf_psc_exp_ps", N, PARAMS)),
    )
    proj = evsim.Projection.from_synapses("pg->neu", "pg", "neu", np.arange(N), np.arange(N), W, DELAY_MS * 1e-3, N)
    net = evsim.Network(pops, (proj,), (), ("neu",), dt=1e-4)
    res = evsim.run(net, duration=T_MS * 1e-3, seed=12)
    n_evsim = len(res.spikes["neu"])
    print(f"spikes over {N} neurons x {T_MS:g} ms: NEST {n_nest}, evsim {n_evsim}")
    assert n_nest > 1000  # the regime is the one meant: a few Hz to tens of Hz per neuron
    assert abs(n_nest - n_evsim) < 5 * np.sqrt(n_nest + n_evsim)
