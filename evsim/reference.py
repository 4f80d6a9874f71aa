"""A deliberately plain, dense, clock-driven NumPy simulator of a `Network`: the oracle the engine must match.

It shares nothing with the engine but the `Network` data: no closed forms, no queue, no lazy updates. Every step,
every neuron of every population is updated with the per-step equations of `evsim.neurons` (module docstring),
in `Network.order`; input that a projection delivers with delay ``d`` is added to a dense buffer ``d`` steps
ahead. It is slow (O(T x neurons + spikes x synapses) with dense matrices) and meant for tests and `evsim verify`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from .errors import EvsimError
from .network import ConvProjection, Network


@dataclasses.dataclass
class ReferenceResult:
    spikes: dict[str, np.ndarray]  # population -> spike counts [T, n]
    v: dict[str, np.ndarray]  # population -> membrane [T, n] (after reset, as the engine stores it)
    i: dict[str, np.ndarray]  # population -> current [T, n]


def delay_matrices(net: Network) -> dict[str, list[tuple[int, sp.csr_matrix]]]:
    """Per projection, one sparse weight matrix ``[source, target]`` per delay value (reusable across samples)."""
    pops = {p.name: p for p in net.populations}
    out: dict[str, list[tuple[int, sp.csr_matrix]]] = {}
    for q in net.projections:
        shape = (pops[q.source].size, pops[q.target].size)
        if isinstance(q, ConvProjection):
            pre, post, w = q.spec.expand()
            d = np.full(w.shape, q.delay)
        else:
            pre, post, w, d = np.repeat(np.arange(shape[0]), np.diff(q.indptr)), q.targets, q.weights, q.delays
        out[q.name] = []
        for delay in np.unique(d[w != 0]):
            sel = (d == delay) & (w != 0)
            out[q.name].append((int(delay), sp.csr_matrix((w[sel], (pre[sel], post[sel])), shape=shape)))
    return out


def simulate(
    net: Network,
    inputs: dict[str, np.ndarray],
    T: int,
    init: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    matrices: dict[str, list[tuple[int, sp.csr_matrix]]] | None = None,
) -> ReferenceResult:
    """``inputs[name]``: dense values ``[T, n]`` of each input population. ``init[name] = (i0, v0)``.
    ``matrices``: `delay_matrices(net)`, when several samples are simulated."""
    init = init or {}
    if any(p.poisson_rate is not None for p in net.populations):
        raise EvsimError(
            "the dense reference does not model Poisson sources (their random streams are the "
            "engine's own); compare on explicit inputs"
        )
    pops = {p.name: p for p in net.populations}
    if matrices is None:
        matrices = delay_matrices(net)
    max_d = net.max_delay
    buf = {p.name: np.zeros((T + max_d + 1, p.size)) for p in net.populations}
    spikes = {p.name: np.zeros((T, p.size)) for p in net.populations}
    vrec = {p.name: np.zeros((T, p.size)) for p in net.populations}
    irec = {p.name: np.zeros((T, p.size)) for p in net.populations}
    state = {}
    for p in net.populations:
        if p.neuron is not None:
            v_init = np.zeros(p.size) if p.neuron.v_init is None else p.neuron.v_init
            i0, v0 = init.get(p.name, (np.zeros(p.size), v_init))
            state[p.name] = dict(
                i=np.array(i0, float), v=np.array(v0, float), ref=np.zeros(p.size, int), pending=np.zeros(p.size)
            )
    for t in range(T):
        for name in net.order:
            p = pops[name]
            if p.neuron is None:
                out = inputs[name][t].astype(float)
            else:
                nu = p.neuron
                st = state[name]
                x = buf[name][t]
                refr = st["ref"] > 0
                x_i = x if nu.refractory_keeps_current else np.where(refr, 0.0, x)
                x = np.where(refr, 0.0, x)
                i_prev = st["i"]
                i_new = nu.alpha * i_prev + nu.in_gain * x_i + nu.i_bias
                v_new = nu.beta * st["v"] + nu.g_i * i_prev + nu.g_x * x + nu.v_bias
                v_new = np.maximum(v_new, nu.v_min)
                sub = nu.reset == "subtract"
                has_pending = st["pending"] > 0
                if has_pending.any():
                    v_new = np.where(has_pending, v_new - nu.v_th * st["pending"], v_new)
                    v_new = np.maximum(v_new, nu.v_min)
                st["pending"] = np.zeros(p.size)
                v_new = np.where(refr, nu.v_reset, v_new)
                theta = nu.v_th
                if nu.overshoot_rule:  # snnTorch: 2 theta after a step whose stored membrane stayed above theta
                    theta = np.where(st["v"] > nu.v_th, 2.0 * nu.v_th, nu.v_th)
                if not nu.spiking:
                    fire = np.zeros(p.size, dtype=bool)
                elif nu.threshold_op == ">=":
                    fire = v_new >= theta
                else:
                    fire = v_new > theta
                fire &= ~refr
                if nu.multi_spike:
                    count = np.where(fire, np.maximum(np.floor(v_new / np.where(fire, nu.v_th, 1.0)), 1.0), 0.0)
                else:
                    count = fire.astype(float)
                if nu.reset_delay and sub:
                    st["pending"] = count
                elif sub:
                    v_new = v_new - count * np.where(fire, nu.v_th, 0.0)  # no inf * 0 for silent neurons
                else:
                    v_new = np.where(fire, nu.v_reset, v_new)
                st["ref"] = np.where(refr, st["ref"] - 1, np.where(fire, nu.refractory, 0))
                st["i"], st["v"] = i_new, v_new
                vrec[name][t], irec[name][t] = v_new, i_new
                out = count
            spikes[name][t] = out
            if not out.any():
                continue
            for q in net.projections:
                if q.source != name:
                    continue
                for delay, w_d in matrices[q.name]:
                    if t + delay < T:
                        buf[q.target][t + delay] += w_d.T @ out
    return ReferenceResult(spikes, vrec, irec)
