"""Poisson sources in exact mode (`evsim.exact.poisson`): the drawn spike times against the closed form of a
Poisson process (rate, CV 1, exponential intervals by Kolmogorov-Smirnov, Poisson counts), Campbell's theorem for
the membrane they drive, seeding, and their delivery as ordinary input events."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import evsim
from evsim import exact
from evsim.errors import NetworkError, ResourceLimitError
from evsim.exact.poisson import poisson_events, poisson_source, poisson_times

MS = 1e-3


def test_poisson_times_follow_the_closed_form():
    rate, n, T = 40.0, 400, 5.0
    t, i = poisson_times(rate, n, T, np.random.default_rng(7))
    assert t.dtype == np.float64 and np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < T
    mean = n * rate * T  # 80,000 expected events: the count is Poisson, sd sqrt(mean)
    assert abs(t.size - mean) < 4 * np.sqrt(mean)
    isi = np.concatenate([np.diff(t[i == k]) for k in range(n)])
    assert abs(isi.mean() - 1 / rate) < 4 * (1 / rate) / np.sqrt(isi.size)
    cv = isi.std() / isi.mean()
    assert abs(cv - 1.0) < 0.02  # an exponential interval has CV 1
    assert stats.kstest(isi, stats.expon(scale=1 / rate).cdf).pvalue > 0.01
    counts = np.bincount(i, minlength=n)  # per neuron: Poisson(rate T), Fano factor 1
    assert abs(counts.var(ddof=1) / counts.mean() - 1.0) < 0.25
    # the times of one neuron are uniform over [0, T) (Poisson arrival times, given the count)
    assert stats.kstest(t / T, "uniform").pvalue > 0.01


def _driven(n: int, rate: float, w: float, tau: float, delay: float = 0.0) -> evsim.Network:
    """``n`` leaky integrators (no threshold), each driven by its own Poisson neuron: jumps of ``w``."""
    pops = (poisson_source("noise", n, rate), evsim.Population("v", n, exact.LI(n, tau_m=tau)))
    proj = evsim.Projection.from_synapses("noise->v", "noise", "v", np.arange(n), np.arange(n), w, delay, n)
    return evsim.Network(pops, (proj,), (), ("v",))


def test_campbell_theorem_for_the_driven_membrane():
    """Shot noise: v(T) = sum_k w exp(-(T - t_k) / tau) has mean rate w tau (1 - exp(-T/tau)) and variance
    rate w^2 tau / 2 (1 - exp(-2T/tau)) (Campbell's theorem)."""
    n, rate, w, tau, T = 2000, 500.0, 0.1, 10 * MS, 0.05
    res = evsim.run(_driven(n, rate, w, tau), duration=T, seed=11)
    v = res.final_state["v"][1]
    mean = rate * w * tau * (1 - np.exp(-T / tau))
    var = rate * w**2 * tau / 2 * (1 - np.exp(-2 * T / tau))
    assert abs(v.mean() - mean) < 4 * np.sqrt(var / n)
    assert abs(v.var(ddof=1) / var - 1.0) < 4 * np.sqrt(2 / (n - 1))
    assert res.spikes["noise"].times.dtype == np.float64


def test_seeded_deterministic_and_sample_b_uses_seed_plus_b():
    net = _driven(20, 300.0, 0.1, 5 * MS)
    a = evsim.run(net, duration=0.02, seed=5)
    b = evsim.run(net, duration=0.02, seed=5)
    c = evsim.run(net, duration=0.02, seed=6)
    assert np.array_equal(a.spikes["noise"].times, b.spikes["noise"].times)
    assert np.array_equal(a.final_state["v"][1], b.final_state["v"][1])
    assert not np.array_equal(a.spikes["noise"].times, c.spikes["noise"].times)
    t, n, _ = poisson_events(net, 0.02, 6)  # the draw of seed 6, global neuron index (the source comes first)
    assert np.array_equal(c.spikes["noise"].times, t) and np.array_equal(c.spikes["noise"].indices, n)


def test_poisson_events_reach_targets_as_ordinary_inputs():
    """A Poisson source with delays and a spiking target equals the same net fed the same times as input."""
    n, T = 30, 0.05
    lif = exact.LIF(3, tau_m=10 * MS, v_th=1.0, refractory=1 * MS)
    rng = np.random.default_rng(0)
    pre, post = np.arange(n), rng.integers(0, 3, n)
    w, d = rng.uniform(0.1, 0.5, n), rng.uniform(0.1, 2.0, n) * MS
    proj = evsim.Projection.from_synapses("s->o", "s", "o", pre, post, w, d, n)
    pois = evsim.Network((poisson_source("s", n, 200.0), evsim.Population("o", 3, lif)), (proj,), (), ("o",))
    fed = evsim.Network((evsim.Population("s", n), evsim.Population("o", 3, lif)), (proj,), ("s",), ("o",))
    a = evsim.run(pois, duration=T, seed=2)
    t, i, _ = poisson_events(pois, T, 2)
    b = evsim.run(fed, evsim.EventStream(t, i), duration=T)
    assert len(a.spikes["o"]) > 5
    assert np.array_equal(a.spikes["o"].times, b.spikes["o"].times)
    assert np.array_equal(a.spikes["o"].indices, b.spikes["o"].indices)


def test_poisson_limits_and_errors():
    with pytest.raises(NetworkError, match="finite number of Hz"):
        poisson_source("p", 3, -1.0)
    net = _driven(10, 1e12, 0.1, 5 * MS)  # 1e13 events per second
    with pytest.raises(ResourceLimitError, match="Poisson"):
        evsim.run(net, duration=1.0)
    assert "Poisson 1e+12 Hz" in repr(net)
