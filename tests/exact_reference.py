"""An independent, deliberately plain reference for exact-time networks (tests only).

It shares nothing with the engine but the `Network` data: each neuron's linear ODE is propagated with the matrix
exponential of its 3x3 system (`scipy.linalg.expm`, not the engine's closed forms), events are kept in a Python
heap with float times (``t + delay``, no grid), the threshold is checked at every event and on a fine grid of
``dt`` seconds, and a crossing found in between is located by bisection. A crossing that goes up and back down
within one grid cell is missed, so tests use smooth, non-chaotic settings.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy.linalg import expm


class _Neuron:
    def __init__(self, nrn, j):  # noqa: ANN001
        tm, ts = nrn.tau_m[j], nrn.tau_syn[j]
        lam = 0.0 if math.isinf(tm) else 1.0 / tm
        c = nrn.r[j] * lam if lam > 0 else nrn.r[j]
        ls = 1.0 / ts if ts > 0 else 0.0
        # y = (I, v, 1):  I' = ls (i_inf - I),  v' = -lam v + lam v_rest + c (I + bias)
        self.A = np.array(
            [
                [-ls, 0.0, ls * nrn.i_inf[j]],
                [c, -lam, lam * nrn.v_rest[j] + c * nrn.bias[j]],
                [0.0, 0.0, 0.0],
            ]
        )
        self.Ar = self.A.copy()  # refractory: v held
        self.Ar[1] = 0.0
        self.delta = ts == 0
        self.th, self.v_reset, self.ref = nrn.v_th[j], nrn.v_reset[j], nrn.refractory[j]
        self.jv, self.ji, self.once = nrn.jump_v[j], nrn.jump_i[j], nrn.once
        self.y = np.array([0.0, nrn.v_rest[j] if nrn.v_init is None else nrn.v_init[j], 1.0])
        self.t = 0.0
        self.ref_end = -1.0
        self.fired = False
        self.cache: dict = {}

    def _prop(self, held: bool, dt: float) -> np.ndarray:
        key = (held, dt)
        m = self.cache.get(key)
        if m is None:
            m = expm((self.Ar if held else self.A) * dt)
            if len(self.cache) < 64:
                self.cache[key] = m
        return m

    def state_at(self, t: float) -> np.ndarray:
        y, t0 = self.y, self.t
        if t0 < self.ref_end:
            t1 = min(t, self.ref_end)
            y = self._prop(True, t1 - t0) @ y
            y[1] = self.v_reset
            t0 = t1
        if t > t0:
            y = self._prop(False, t - t0) @ y
        return y

    def refractory(self, t: float) -> bool:
        return (self.once and self.fired) or t < self.ref_end


def simulate(net, inputs, duration: float, dt: float = 1e-6) -> list[tuple[float, str, int]]:  # noqa: ANN001
    """Spikes ``(time, population, neuron)`` of ``net`` for ``inputs = (times, indices)`` of its one input port."""
    names = [p.name for p in net.populations]
    neurons = {
        (p.name, j): _Neuron(p.neuron, j) for p in net.populations if p.neuron is not None for j in range(p.size)
    }
    out: dict[str, list] = {n: [] for n in names}
    for q in net.projections:
        for j in range(net.population(q.source).size):
            for e in range(q.indptr[j], q.indptr[j + 1]):
                out[q.source].append((j, q.target, int(q.targets[e]), float(q.weights[e]), float(q.delays[e])))
    heap: list = []
    seq = 0

    def send(t: float, pop: str, j: int, val: float) -> None:
        nonlocal seq
        for src, tgt, k, w, d in out[pop]:
            if src == j and t + d < duration:
                heapq.heappush(heap, (t + d, seq, tgt, k, w * val))
                seq += 1

    spikes: list = []

    def fire(key: tuple, nr: _Neuron, t: float) -> None:
        nr.y = nr.state_at(t)
        nr.y[1] = nr.v_reset
        nr.t = t
        nr.fired = True
        nr.ref_end = t + nr.ref
        spikes.append((t, key[0], key[1]))
        send(t, key[0], key[1], 1.0)

    def check(key: tuple, nr: _Neuron, t: float, move: bool = False) -> None:
        """Fire at the crossing in (nr.t, t] if v(t) >= th; else, with ``move``, bring the state to t."""
        if (nr.once and nr.fired) or t <= nr.t:
            return
        y = nr.state_at(t)
        if not (math.isfinite(nr.th) and y[1] >= nr.th and t >= nr.ref_end):
            if move:
                nr.y, nr.t = y, t
            return
        lo = max(nr.t, nr.ref_end)
        hi = t
        if nr.state_at(lo)[1] >= nr.th:
            fire(key, nr, lo)
            return
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if nr.state_at(mid)[1] >= nr.th:
                hi = mid
            else:
                lo = mid
        fire(key, nr, hi)

    port = net.inputs[0]
    for t, j in sorted(zip(*inputs)):
        send(float(t), port, int(j), 1.0)
    for key, nr in neurons.items():
        if nr.y[1] >= nr.th:
            fire(key, nr, 0.0)
    k = 0
    while k * dt < duration:
        t_end = min((k + 1) * dt, duration)
        while heap and heap[0][0] < t_end:
            t, _, tgt, j, w = heapq.heappop(heap)
            x = w
            while heap and heap[0][0] == t and heap[0][2] == tgt and heap[0][3] == j:
                x += heapq.heappop(heap)[4]
            nr = neurons[(tgt, j)]
            check((tgt, j), nr, t)
            if nr.refractory(t) and nr.delta:
                continue
            nr.y = nr.state_at(t)
            nr.t = t
            if nr.delta:
                nr.y[1] += nr.jv * x
                if nr.y[1] >= nr.th and not (nr.once and nr.fired):
                    fire((tgt, j), nr, t)
            else:
                nr.y[0] += nr.ji * x
        for key, nr in neurons.items():
            check(key, nr, t_end, move=True)
        k += 1
    return sorted(spikes)
