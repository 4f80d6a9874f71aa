"""The evsim networks of the SPEC's layered workloads (feedforward, conv), built from the same arrays as the peers'
(`benchmarks/workloads.py`): used by the harness's runners, the latency, edge and dense-PyTorch benchmarks and the
workload tests."""

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
