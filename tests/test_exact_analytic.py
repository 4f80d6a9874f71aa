"""Exact mode against closed forms: LIF period under constant current, one exponential PSP's peak, off-grid
delay chains, the leak between two inputs, and input arriving exactly at the end of a refractory period.

Weights follow NEST's meaning where neurons come from `evsim.exact.from_nest` (iaf_psc_delta: a jump of V in mV;
iaf_psc_exp: a step of the synaptic current in pA, dV/dt = -(V - E_L)/tau_m + (I + I_e)/C_m); times are seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

import evsim

exact = pytest.importorskip("evsim.exact", reason="evsim.exact (the exact engine) is not in this tree yet")

DELTA = dict(E_L=0.0, V_m=0.0, V_reset=0.0, V_th=10.0, C_m=250.0, tau_m=10.0, t_ref=2.0, I_e=0.0)


def _run(pops: dict, projs: list, times=(), indices=(), duration=0.05):
    """pops: {name: neuron params, or an int: an input population of that size}, in order (the first is the
    input "in"); projs: (source, target, pre, post, weight, delay_s)."""
    populations = tuple(
        evsim.Population(name, nu) if isinstance(nu, int) else evsim.Population(name, int(nu.size), nu)
        for name, nu in pops.items()
    )
    sizes = {p.name: p.size for p in populations}
    projections = tuple(
        evsim.Projection.from_synapses(f"{s}->{t}", s, t, pre, post, w, d, n_source=sizes[s])
        for s, t, pre, post, w, d in projs
    )
    net = evsim.Network(populations, projections, ("in",), (populations[-1].name,))
    stream = evsim.EventStream(np.asarray(times, dtype=np.float64), np.asarray(indices, dtype=np.int64))
    return evsim.run(net, stream, duration=duration)


def _spikes(res, name: str, neuron: int = 0) -> np.ndarray:
    s = res.spikes[name]
    return np.sort(np.asarray(s.times, dtype=np.float64)[np.asarray(s.indices) == neuron])


# ------------------------------------------------------------------ LIF period under constant current
@pytest.mark.parametrize("t_ref", [0.0, 2e-3])
def test_lif_period_constant_current(t_ref):
    """From v = v_reset = v_rest the first spike comes at T = tau ln(R I / (R I - theta)); then every T + t_ref."""
    tau, r, theta = 0.01, 2.0, 1.0
    bias = np.array([0.55, 0.8, 1.5, 4.0])  # R I = 1.1 ... 8: all above threshold
    nu = exact.LIF(bias.size, tau_m=tau, v_th=theta, v_reset=0.0, v_rest=0.0, r=r, refractory=t_ref, bias=bias)
    res = _run({"in": 1, "L": nu}, [], duration=0.2)
    for k, b in enumerate(bias):
        period = tau * math.log(r * b / (r * b - theta))
        got = _spikes(res, "L", k)
        n = np.arange(1, 200)
        expect = n * period + (n - 1) * t_ref
        expect = expect[expect < 0.2 - 1e-9]
        assert expect.size >= 3 and got.size == expect.size
        np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-15)


def test_lif_below_threshold_current_never_fires():
    nu = exact.LIF(1, tau_m=0.01, v_th=1.0, v_reset=0.0, r=1.0, bias=0.999999)
    res = _run({"in": 1, "L": nu}, [], duration=0.5)
    assert len(res.spikes["L"]) == 0


def test_nest_bias_period():
    """iaf_psc_delta_ps with I_e: R = tau_m / C_m; 400 pA -> R I = 16 mV over a 10 mV threshold."""
    p = dict(DELTA, I_e=400.0)
    res = _run({"in": 1, "L": exact.from_nest("iaf_psc_delta_ps", 1, p)}, [], duration=0.2)
    period_ms = 10.0 * math.log(16.0 / (16.0 - 10.0))
    got = _spikes(res, "L") * 1e3
    n = np.arange(1, got.size + 1)
    assert got.size >= 5
    np.testing.assert_allclose(got, n * period_ms + (n - 1) * 2.0, rtol=1e-12)


# ------------------------------------------------------------------ one exponential PSP
def _psp(s, w_over_c: float, tau_m: float, tau_s: float):
    """V - E_L at s ms after a current step of w pA (iaf_psc_exp), in mV."""
    if tau_s == tau_m:
        return w_over_c * s * np.exp(-s / tau_m)
    return w_over_c * tau_s * tau_m / (tau_m - tau_s) * (np.exp(-s / tau_m) - np.exp(-s / tau_s))


def _peak(tau_m: float, tau_s: float) -> float:
    return tau_m if tau_s == tau_m else tau_s * tau_m / (tau_m - tau_s) * math.log(tau_m / tau_s)


@pytest.mark.parametrize("tau_s", [2.0, 10.0, 25.0])
@pytest.mark.parametrize("fraction", [1 - 1e-6, 1 - 1e-9, 1 + 1e-9])
def test_exponential_psp_peak_time_and_height(tau_s, fraction):
    """A threshold just under the PSP's peak is crossed once, at the analytic crossing time (close to the peak
    time); one just above it is never crossed (the crossing must be found between input events)."""
    tau_m, w, C = 10.0, 1000.0, 250.0
    t0, d = 0.5e-3, 1.0e-3  # input spike time and delay (s)
    s_peak = _peak(tau_m, tau_s)
    v_peak = float(_psp(s_peak, w / C, tau_m, tau_s))
    p = dict(DELTA, V_th=v_peak * fraction, tau_syn_ex=tau_s, tau_syn_in=tau_s)
    nu = exact.from_nest("iaf_psc_exp_ps", 1, p)
    res = _run({"in": 1, "L": nu}, [("in", "L", [0], [0], w, d)], [t0], [0], duration=0.2)
    got = _spikes(res, "L")
    if fraction > 1:
        assert got.size == 0, f"the PSP peaks at {v_peak} mV, under the threshold, yet the neuron fired at {got}"
        return
    assert got.size == 1
    s_cross = brentq(lambda s: _psp(s, w / C, tau_m, tau_s) - v_peak * fraction, 0.0, s_peak, xtol=1e-15, rtol=1e-15)
    s_got = (got[0] - t0 - d) * 1e3  # ms after the input's arrival
    if fraction < 1 - 1e-7:
        assert abs(s_got - s_cross) < 1e-9  # ms
    else:  # 1e-9 under the peak: the crossing is ill-conditioned in time, but it lies close to the peak time
        assert abs(s_got - s_cross) < 1e-6 and abs(s_got - s_peak) < 0.002


# ------------------------------------------------------------------ off-grid delays and the leak between inputs
def test_off_grid_delay_chain():
    """in -> A -> B -> C with delays no grid can hold; each spike is suprathreshold, so each neuron fires the
    moment its input arrives: the spike times are the running sums of the delays."""
    nu = exact.from_nest("iaf_psc_delta_ps", 1, DELTA)
    t0, d = 4.321e-4, [1.2345678e-3, 3.45678901e-4, 2.718281828e-3]
    res = _run(
        {"in": 1, "A": nu, "B": nu, "C": nu},
        [("in", "A", [0], [0], 50.0, d[0]), ("A", "B", [0], [0], 50.0, d[1]), ("B", "C", [0], [0], 50.0, d[2])],
        [t0],
        [0],
    )
    for name, k in (("A", 1), ("B", 2), ("C", 3)):
        got = _spikes(res, name)
        assert got.size == 1
        assert abs(got[0] - (t0 + sum(d[:k]))) < 1e-15, name


@pytest.mark.parametrize("margin, fires", [(-1e-9, True), (1e-9, False)])
def test_leak_between_two_off_grid_inputs(margin, fires):
    """Two 6 mV inputs Delta ms apart reach 10 mV iff 6 exp(-Delta/tau) + 6 >= 10, i.e. Delta <= tau ln 1.5."""
    gap_ms = 10.0 * math.log(1.5) + margin
    nu = exact.from_nest("iaf_psc_delta_ps", 1, DELTA)
    t0 = 3.3333e-4
    res = _run(
        {"in": 2, "L": nu}, [("in", "L", [0, 1], [0, 0], 6.0, [1.1e-3, 1.1e-3 + gap_ms * 1e-3])], [t0, t0], [0, 1]
    )
    got = _spikes(res, "L")
    if fires:
        assert got.size == 1 and abs(got[0] - (t0 + 1.1e-3 + gap_ms * 1e-3)) < 1e-15
    else:
        assert got.size == 0


# ------------------------------------------------------------------ the end of the refractory period
@pytest.mark.parametrize("early, second_spike", [(0.0, True), (1e-10, False)])
def test_input_at_end_of_refractory_period_counts(early, second_spike):
    """X fires at t0 + 0.7 + 0.1 ms (via R0) and is refractory for 2 ms; a second strong input reaches it via
    R1 at t0 + 0.2 + 2.6 ms, exactly the end of the refractory period in exact arithmetic (with plain float sums
    of these delays it lands 4e-19 s early). NEST (iaf_psc_delta_ps) counts input arriving exactly
    at the end: X fires again. Arriving 0.1 ns earlier, the input is discarded."""
    t0 = 1.23e-5
    path_a, path_b = (0.7e-3, 0.1e-3), (0.2e-3, 2.6e-3 - early)
    nu = exact.from_nest("iaf_psc_delta_ps", 1, DELTA)
    relay = exact.from_nest("iaf_psc_delta_ps", 2, DELTA)
    res = _run(
        {"in": 1, "R": relay, "X": nu},
        [
            ("in", "R", [0, 0], [0, 1], 50.0, [path_a[0], path_b[0]]),
            ("R", "X", [0, 1], [0, 0], 50.0, [path_a[1], path_b[1]]),
        ],
        [t0],
        [0],
    )
    got = _spikes(res, "X")
    first = t0 + 0.8e-3
    if second_spike:
        assert got.size == 2 and abs(got[0] - first) < 1e-15 and abs(got[1] - (first + 2e-3)) < 1e-15
    else:
        assert got.size == 1 and abs(got[0] - first) < 1e-15


def test_refractory_case_is_sensitive_to_float_sums():
    """The case above is only a test if plain float sums of the two paths disagree with each other."""
    t0 = 1.23e-5
    end_of_refractory = ((t0 + 0.7e-3) + 0.1e-3) + 2e-3
    arrival = (t0 + 0.2e-3) + 2.6e-3
    assert arrival < end_of_refractory  # by 4.3e-19 s: a plain float engine would discard it


# ------------------------------------------------------------------ the kernels' expm1
def test_expm1_within_one_ulp_everywhere():
    """`evsim.exact.expm1` (inlined in the kernels instead of libm's) against NumPy's long double expm1: below one
    ulp on its short path (|x| < 1/8), across the reductions (k = +-1, larger k, huge), and libm's special values."""
    from numba import njit

    from evsim.exact.expm1 import expm1

    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        pytest.skip("NumPy's long double is no wider than double on this platform: no reference to measure ulps by")

    @njit
    def over(xs, out):
        for j in range(xs.shape[0]):
            out[j] = expm1(xs[j])

    rng = np.random.default_rng(7)
    mag = 10 ** rng.uniform(-18, math.log10(700.0), 300_000)
    edges = np.array([1 / 64, 0.125, 0.34657359027997264, 1.0397207708399179, 38.816242111356935, 20 * math.log(2)])
    near = (edges[:, None] * (1 + np.linspace(-1e-12, 1e-12, 9))[None, :]).ravel()
    xs = np.concatenate(
        [mag, -mag, rng.uniform(-0.125, 0.125, 100_000), rng.uniform(-1 / 64, 1 / 64, 100_000), near, -near]
    )
    got = np.empty_like(xs)
    over(xs, got)
    ref = np.expm1(xs.astype(np.longdouble))
    ok = np.isfinite(np.expm1(xs)) & (np.expm1(xs) != 0)
    ulps = np.abs(got[ok] - ref[ok]) / np.spacing(np.abs(np.expm1(xs[ok])))
    assert float(ulps.max()) < 1.0
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 709.78, 709.79, -745.0, 1e-300, -1e-300, -50.0])
    out = np.empty_like(special)
    over(special, out)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, np.expm1(special))
    assert math.copysign(1.0, out[1]) == -1.0  # (-0.0 stays -0.0)
