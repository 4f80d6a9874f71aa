"""The shared benchmark workloads as correctness checks: evsim against the SPEC's own NumPy reference."""

import sys

import numpy as np

from conftest import REPO

sys.path.insert(0, str(REPO))
from benchmarks import workloads  # noqa: E402
from benchmarks.evsim_networks import layered_network  # noqa: E402
from benchmarks.evsim_runner import feedforward  # noqa: E402


def test_feedforward_one_second_matches_spec_reference():
    wl = workloads.feedforward(n_samples=1, seed=0)
    _, _, counts, n_events, mem = feedforward(wl)
    assert counts == workloads.dense_reference(wl)  # every population's spike count, exactly
    assert n_events == workloads.synaptic_events(wl, counts)
    assert mem["array_bytes"] <= 12.0  # the target: at most 12 bytes per synapse
    assert 0.04 < counts["h1"] / (1000 * 256) < 0.07  # ~5.5% per bin, as SPEC says
    assert np.isclose(counts["in"] / (1000 * 700), 0.01, rtol=0.05)


def test_conv_workload_matches_the_dense_reference():
    # the CNN workload every simulator runs (expanded convolutions, single-spike IF layers): evsim's counts and
    # synaptic events against evsim's dense clock-driven reference on the same arrays
    from evsim import reference

    wl = workloads.conv(n_samples=1)
    assert workloads.n_synapses(wl) == 1_122_848
    _, _, counts, n_events, mem = feedforward(wl)
    names = list(wl["populations"])
    net = layered_network(wl)
    x = np.zeros((wl["T_steps"], wl["populations"]["in"]))
    np.add.at(x, (wl["input_steps"], wl["input_index"]), 1.0)
    ref = reference.simulate(net, {"in": x}, wl["T_steps"])
    want = {n: int(ref.spikes[n].sum()) for n in names[1:]}
    assert {n: counts[n] for n in names[1:]} == want
    assert counts["in"] == int(x.sum()) and all(c > 0 for c in counts.values())
    per_neuron = {"in": x.sum(axis=0)} | {n: ref.spikes[n].sum(axis=0) for n in names[1:]}
    assert n_events == workloads.synaptic_events(wl, per_neuron)
    assert mem["array_bytes"] <= 12.0
    # the same network with the convolutions implicit (kernels, as `--implicit` runs it): the same spikes
    _, _, counts_i, n_events_i, _ = feedforward(wl, implicit=True)
    assert counts_i == counts and n_events_i == n_events
