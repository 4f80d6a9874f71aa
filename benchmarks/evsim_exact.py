"""evsim's exact (continuous-time) mode on the precise workload variants, beside NEST's ``*_ps`` models.

Called by benchmarks/evsim_runner.py for ``feedforward-precise`` and ``brunel-*-precise`` (benchmarks/workloads.py,
`precise`). Neurons come from NEST's own parameter dicts (`evsim.exact.from_nest("iaf_psc_delta_ps", ...)`), so the
weights keep NEST's meaning (a jump of V in mV); times and delays are seconds.

feedforward-precise: the off-grid input times straight into the first layer (NEST relays them through a
parrot_neuron_ps, 1 ms later, and simulates 1 ms longer: the same window); t_ref = 0.1 ms.
brunel-*-precise: the external drive is an input population with one synapse per neuron (weight J, delay 0.1 ms,
as NEST's poisson_generator_ps connection); its off-grid Poisson trains (20 kHz per neuron) are drawn here before
the clock starts and are part of the timed run, as NEST's generator's are. Its events are not counted (SPEC).
"""

from __future__ import annotations

import time

import numpy as np
from common import rss_mb, workloads
from evsim_networks import layered_network

import evsim


def _lif(n: int, nu: dict, t_ref_ms: float, v0: object = 0.0) -> object:
    params = dict(E_L=nu["e_l"], V_m=v0, V_reset=nu["v_reset"], V_th=nu["v_th"], tau_m=nu["tau_m"], t_ref=t_ref_ms)
    return evsim.exact.from_nest("iaf_psc_delta_ps", n, params)


def _warm_up(net: evsim.Network, x: evsim.EventStream) -> None:
    """One short run, so that the timed run finds the Numba kernels compiled (or loaded from the cache): with an
    event of the input's index type (the input check is compiled per type) and its spikes split by population."""
    res = evsim.run(net, evsim.EventStream(np.array([1e-4]), np.zeros(1, x.indices.dtype)), duration=1e-3)
    for name in res.spikes:
        len(res.spikes[name])


def feedforward(wl: dict) -> tuple[float, float, dict, int, dict]:
    rss0 = rss_mb()
    t0 = time.perf_counter()
    names = list(wl["populations"])
    net = layered_network(wl, lambda n: _lif(n, wl["neuron"], 0.1), seconds=True)
    build_s = time.perf_counter() - t0
    mem = dict(build_rss_mb=rss_mb() - rss0)
    x = evsim.EventStream(wl["input_times_ms"] * 1e-3, wl["input_index"])
    _warm_up(net, x)
    t1 = time.perf_counter()
    res = evsim.run(net, x, duration=wl["sim_time_ms"] * 1e-3)
    counts = {name: len(res.spikes[name]) for name in names}  # (split by population when read: timed)
    wall_s = time.perf_counter() - t1
    return build_s, wall_s, counts, workloads.synaptic_events(wl, counts), mem


def poisson_drive(N: int, rate_hz: float, T_s: float, seed: int) -> evsim.EventStream:
    """Independent Poisson trains of ``rate_hz`` for N neurons over [0, T_s): off-grid float64 times (seconds)."""
    rng = np.random.default_rng([seed, 5])
    n = rng.poisson(N * rate_hz * T_s)
    t = np.sort(rng.uniform(0.0, T_s, size=n))
    return evsim.EventStream(t, rng.integers(0, N, size=n).astype(np.int32))


def brunel(wl: dict, seed: int = 0) -> tuple[float, float, dict, int, dict]:
    rss0 = rss_mb()
    t0 = time.perf_counter()
    nu, N = wl["neuron"], wl["N"]
    p = wl["projections"][0]
    lif = _lif(N, nu, nu["t_ref_steps"] * wl["dt_ms"], wl["v0"])  # V_m: the initial membranes
    dt_s = wl["dt_ms"] * 1e-3
    pops = (evsim.Population("ext", N), evsim.Population("all", N, lif))
    projs = (
        evsim.Projection.from_synapses("ext->all", "ext", "all", np.arange(N), np.arange(N), wl["J"], dt_s, n_source=N),
        evsim.Projection.from_synapses(
            "all->all", "all", "all", p["pre"], p["post"], p["weight"], p["delay_steps"] * dt_s, n_source=N
        ),
    )
    net = evsim.Network(pops, projs, ("ext",), ("all",))
    build_s = time.perf_counter() - t0
    mem = dict(build_rss_mb=rss_mb() - rss0)
    T_s = wl["sim_time_ms"] * 1e-3
    drive = poisson_drive(N, wl["ext_rate_hz"], T_s, seed)
    _warm_up(net, drive)
    t1 = time.perf_counter()
    res = evsim.run(net, drive, duration=T_s)
    spikes = res.spikes["all"]  # (split by population when read: timed)
    wall_s = time.perf_counter() - t1
    per_neuron = np.bincount(spikes.indices, minlength=N)
    counts = {"E": int(per_neuron[: wl["NE"]].sum()), "I": int(per_neuron[wl["NE"] :].sum())}
    return build_s, wall_s, counts, workloads.synaptic_events(wl, {"per_neuron": per_neuron}), mem
