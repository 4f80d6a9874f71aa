"""TTFS coding (evsim.ttfs): the latency code against its formula, bad input, first-spike decoding."""

import numpy as np
import pytest

import evsim
from evsim.ttfs import first_spike_class, ttfs_encode


def test_encode_one_sample_larger_value_fires_earlier():
    ev = ttfs_encode([0.0, 1.0, 0.25, 0.5, 2.0, -1.0], t_max=0.01)
    # zeros (and values clipped to x_min) are silent; 2.0 clips to x_max and fires at t_min = 0 with feature 1
    assert list(ev.indices) == [1, 4, 3, 2]
    np.testing.assert_allclose(ev.times, [0.0, 0.0, 0.005, 0.0075], rtol=0, atol=1e-18)
    assert ev.times.dtype == np.float64


def test_encode_batch_matches_formula(rng):
    x = rng.random((5, 8, 8))
    t_min, t_max, lo, hi = 1e-3, 9e-3, 0.1, 0.9
    evs = ttfs_encode(x, t_max, t_min=t_min, x_min=lo, x_max=hi, silent_at_min=False)
    assert isinstance(evs, list) and len(evs) == 5
    for b, ev in enumerate(evs):
        flat = np.clip(x[b].ravel(), lo, hi)
        expect = t_min + (t_max - t_min) * (hi - flat) / (hi - lo)
        assert sorted(ev.indices) == list(range(64))  # every feature fires once (silent_at_min=False)
        np.testing.assert_allclose(ev.times, expect[ev.indices], rtol=1e-15)
        assert np.all(np.diff(ev.times) >= 0)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(x=[0.5], t_max=0.0), "t_min < t_max"),
        (dict(x=[0.5], t_max=np.inf), "t_min < t_max"),
        (dict(x=[0.5], t_max=1.0, t_min=-1.0), "t_min < t_max"),
        (dict(x=[0.5], t_max=1.0, x_min=1.0, x_max=1.0), "x_min < x_max"),
        (dict(x=[np.nan], t_max=1.0), "NaN"),
        (dict(x=[], t_max=1.0), "non-empty"),
    ],
)
def test_encode_rejects_bad_input(kw, match):
    with pytest.raises(evsim.InputError, match=match):
        ttfs_encode(**kw)


def test_first_spike_class():
    t = np.array([[3.0, 1.0, np.inf], [np.inf, np.inf, np.inf], [2.0, np.nan, 2.0]])
    assert list(first_spike_class(t)) == [1, -1, 0]
    assert first_spike_class([np.inf, 0.5]) == 1
    with pytest.raises(evsim.InputError):
        first_spike_class(np.zeros((2, 2, 2)))


def test_predictions_by_first_spike_in_exact_mode():
    """Three fire-once neurons driven at known times: the class is the one whose input comes first."""
    nu = evsim.exact.LIF(3, tau_m=0.01, v_th=1.0, once=True)
    proj = evsim.Projection.from_synapses("in->out", "in", "out", [0, 1, 2], [0, 1, 2], 2.0, 1e-3, n_source=3)
    net = evsim.Network((evsim.Population("in", 3), evsim.Population("out", 3, nu)), (proj,), ("in",), ("out",))
    ev = [
        evsim.EventStream(np.array([3e-3, 1e-3, 2e-3, 4e-3]), np.array([0, 2, 1, 2])),  # neuron 2 first
        evsim.EventStream(np.array([5e-3]), np.array([0])),
        evsim.EventStream(np.zeros(0), np.zeros(0, np.int64)),  # nothing fires
    ]
    res = evsim.run(net, ev, duration=0.01)
    assert list(res.first_spike_predictions()) == [2, 0, -1]
    np.testing.assert_allclose(res.first_spike_times("out")[0], [4e-3, 3e-3, 2e-3])
    assert res.spike_counts("out")[0].tolist() == [1, 1, 1]  # once=True: the second input to neuron 2 is ignored
