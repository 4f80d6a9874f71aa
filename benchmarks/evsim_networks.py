"""The evsim networks of the SPEC's workloads (layered: feedforward, conv; brunel), built from the same arrays as
the peers' (`benchmarks/workloads.py`): used by the harness's runners, the latency, edge, dense-PyTorch and thread
benchmarks and the workload tests."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import evsim


def layered_network(wl: dict, neuron: Callable[[int], Any] | None = None, seconds: bool = False) -> evsim.Network:
    """The SPEC's LIF layers (zero reset; ``neuron(n)`` builds them instead when given) on the workload's synapses.
    ``seconds``: an exact-time network (delays in seconds, no dt); else integer step delays and dt from the
    workload."""
    nu = wl["neuron"]
    if neuron is None:
        beta = float(np.exp(-wl["dt_ms"] / nu["tau_m"]))

        def neuron(n: int) -> Any:
            return evsim.LIF(n, beta, nu["v_th"], reset="zero", v_reset=nu["v_reset"])

    names = list(wl["populations"])
    pops = [evsim.Population("in", wl["populations"]["in"])]
    pops += [evsim.Population(name, wl["populations"][name], neuron(wl["populations"][name])) for name in names[1:]]
    step = wl["dt_ms"] * 1e-3
    projs = [
        evsim.Projection.from_synapses(
            p["name"],
            p["source"],
            p["target"],
            p["pre"],
            p["post"],
            p["weight"],
            p["delay_steps"] * step if seconds else p["delay_steps"],
            wl["populations"][p["source"]],
        )
        for p in wl["projections"]
    ]
    return evsim.Network(tuple(pops), tuple(projs), ("in",), (names[-1],), dt=None if seconds else step)


def brunel_network(wl: dict) -> evsim.Network:
    """iaf_psc_delta semantics: decay, add this step's input, V >= theta, reset to V_reset, 2 ms refractory
    (input discarded); the external drive is a Poisson source (mean 2 events per step per neuron, weight J,
    delay one step as NEST's poisson_generator connection)."""
    nu, N = wl["neuron"], wl["N"]
    beta = float(np.exp(-wl["dt_ms"] / nu["tau_m"]))
    lif = evsim.LIF(
        N, beta, nu["v_th"], reset="zero", v_reset=nu["v_reset"], threshold_op=">=", refractory=nu["t_ref_steps"]
    )
    p = wl["projections"][0]
    pops = (
        evsim.Population("ext", N, poisson_rate=wl["ext_rate_hz"] * wl["dt_ms"] * 1e-3),
        evsim.Population("all", N, lif),
    )
    projs = (
        evsim.Projection.from_synapses("ext->all", "ext", "all", np.arange(N), np.arange(N), wl["J"], 1, N),
        evsim.Projection.from_synapses("all->all", "all", "all", p["pre"], p["post"], p["weight"], p["delay_steps"], N),
    )
    return evsim.Network(pops, projs, (), ("all",), dt=wl["dt_ms"] * 1e-3)
