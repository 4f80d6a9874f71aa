"""The shared benchmark workloads as correctness checks: evsim against the SPEC's own NumPy reference."""

import sys

import numpy as np

from conftest import REPO

sys.path.insert(0, str(REPO))
from benchmarks import workloads  # noqa: E402
from benchmarks.evsim_runner import feedforward  # noqa: E402


def test_feedforward_one_second_matches_spec_reference():
    wl = workloads.feedforward(n_samples=1, seed=0)
    _, _, counts, n_events, mem = feedforward(wl)
    assert counts == workloads.dense_reference(wl)  # every population's spike count, exactly
    assert n_events == workloads.synaptic_events(wl, counts)
    assert mem["array_bytes"] <= 12.0  # the target: at most 12 bytes per synapse
    assert 0.04 < counts["h1"] / (1000 * 256) < 0.07  # ~5.5% per bin, as SPEC says
    assert np.isclose(counts["in"] / (1000 * 700), 0.01, rtol=0.05)
