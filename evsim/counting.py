"""The loop behind `evsim.accounting`: one compiled pass over a run's recorded spikes per projection.

`evsim.accounting.account` defines what every counter means (its module docstring); this kernel computes a
projection's counters in one pass instead of a dozen NumPy calls and a sort (``np.unique``), which cost a dataset
run's small chunks 20-30% of run + account. (A population's counters stay three ``np.bincount`` calls: a kernel
saved ~0.1 ms per chunk and cost ~0.7 s more compilation on the first run.)
Results are identical to the NumPy formulas, bit for bit: integer counts are summed as integers, and every
floating-point sum adds the same values in the same order as ``np.bincount`` does (the order of the events).

Events arrive as parallel arrays ``s`` (sample), ``t`` (step), ``src`` (neuron), ``vals`` (value, float64): what
`evsim.Spikes` holds. The NeuroBench counters group events by (sample, step): when the events are not ordered by
(sample, step), `projection_counts` walks them through a stable sort for that part only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._jit import njit

if TYPE_CHECKING:
    from .simulation import Spikes


# rows of the kernel's integer and float outputs (one column per sample)
_SOPS, _ACS, _NB_ALL, _NB_MAC = range(4)
_SINABS, _TOTAL_IN = range(2)


@njit
def _projection_kernel(
    s: np.ndarray,
    t: np.ndarray,
    src: np.ndarray,
    vals: np.ndarray,
    order: np.ndarray,
    T: int,
    in_index: np.ndarray,
    fan_nz: np.ndarray,
    fan_all: np.ndarray,
    delay: int,
    delay_key: np.ndarray,
    delay_row0: np.ndarray,
    max_delay: int,
    ints: np.ndarray,
    floats: np.ndarray,
    per_step: np.ndarray,
) -> bool:
    """One projection's counters (see `projection_counts`), added to zeroed outputs: ``ints [4, B]`` (SOPs, ACs,
    NeuroBench's effective operations, those of them that are MACs), ``floats [2, B]`` (Sinabs' synops, sum of
    values), ``per_step [B*T]`` (SOPs). ``order``: the events in (sample, step) order, or empty when they already
    are. Returns False (NeuroBench's rows not counted) when ``order`` is empty and the events turn out not to be in
    (sample, step) order. (Outputs are passed in rather than returned: a third less compilation.)"""
    n_ev = s.shape[0]
    in_order = True
    last = -1
    for e in range(n_ev):
        se, te, j, v = s[e], t[e], src[e], vals[e]
        key = se * T + te
        if key < last:
            in_order = False
        last = key
        entry = in_index[j]
        # SOPs: non-zero synapses the event is delivered along (t + d < T)
        if max_delay > 0:  # explicit with delays: the row's sorted keys row * (D + 2) + d with d < T - t
            lim = min(T - te, max_delay + 1)
            target = j * (max_delay + 2) + lim
            lo = delay_row0[j]
            hi = lo + fan_nz[j]
            while lo < hi:
                mid = (lo + hi) >> 1
                if delay_key[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            ops = lo - delay_row0[j]
        elif entry >= 0 and te + delay < T:
            ops = fan_nz[entry]
        else:
            ops = 0
        ints[_SOPS, se] += ops
        if abs(v) == 1:
            ints[_ACS, se] += ops
        per_step[key] += ops
        floats[_TOTAL_IN, se] += v
        if entry >= 0:
            floats[_SINABS, se] += v * fan_all[entry]
    if not in_order and order.shape[0] == 0:
        return False
    # NeuroBench: the layer's input entries summed per (sample, step); a non-zero entry costs its non-zero fan-out,
    # as MACs when any entry of that (sample, step) is not +-1
    acc = np.empty(fan_nz.shape[0])  # (np.empty and a fill: the variants the event loop compiles too, where
    acc[:] = 0.0  # np.zeros would compile two more on the first run)
    seen = np.empty(fan_nz.shape[0], dtype=np.bool_)
    seen[:] = False
    touched = np.empty(fan_nz.shape[0], dtype=np.int64)
    n_touched = 0
    e = 0
    while e < n_ev:
        first = order[e] if order.shape[0] else e
        key = s[first] * T + t[first]
        while e < n_ev:
            i = order[e] if order.shape[0] else e
            if s[i] * T + t[i] != key:
                break
            entry = in_index[src[i]]
            if entry >= 0:
                if not seen[entry]:
                    seen[entry] = True
                    touched[n_touched] = entry
                    n_touched += 1
                acc[entry] += vals[i]
            e += 1
        ops_all = 0
        real = False
        for k in range(n_touched):
            entry = touched[k]
            if acc[entry] != 0:
                ops_all += fan_nz[entry]
                if abs(acc[entry]) != 1:
                    real = True
            acc[entry] = 0.0
            seen[entry] = False
        n_touched = 0
        sample = key // T
        ints[_NB_ALL, sample] += ops_all
        if real:
            ints[_NB_MAC, sample] += ops_all
    return True


_EMPTY = np.zeros(0, dtype=np.int64)


def projection_counts(sp: Spikes, layer: Any, B: int, T: int, delay: int) -> dict[str, np.ndarray]:
    """The per-event counters of one projection from the spikes ``sp`` of its source (``layer``: its static arrays,
    `evsim.accounting._Layer`; ``delay``: a convolution's delay in steps): ``sops``, ``acs``, ``macs`` ``[B]``,
    ``sops_per_step [B, T]``, ``sinabs`` (values x structural fan-out), ``total_in`` (sum of values),
    ``neurobench_all`` / ``neurobench_macs`` (NeuroBench's effective operations, and those of them that are MACs)."""
    i64 = np.int64
    s, t = np.asarray(sp.samples, dtype=i64), np.asarray(sp.times, dtype=i64)
    src, vals = np.asarray(sp.indices, dtype=i64), np.asarray(sp.counts, dtype=np.float64)
    keys, row0 = (_EMPTY, _EMPTY) if layer.delay_key is None else (layer.delay_key, layer.delay_row0)
    dmax = 0 if layer.delay_key is None else int(layer.max_delay)

    def count(order: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
        ints, floats, per_step = np.zeros((4, B), np.int64), np.zeros((2, B)), np.zeros(B * T, np.int64)
        ok = _projection_kernel(s, t, src, vals, order, T, layer.in_index, layer.fan_nz, layer.fan_all, delay,
                                keys, row0, dmax, ints, floats, per_step)  # fmt: skip
        return ok, ints, floats, per_step

    ok, ints, floats, per_step = count(_EMPTY)
    if not ok:  # not in (sample, step) order: walk a stable sort (same order of sums within a step)
        ok, ints, floats, per_step = count(np.argsort(s * T + t, kind="stable"))
    return {
        "sops": ints[_SOPS],
        "acs": ints[_ACS],
        "macs": ints[_SOPS] - ints[_ACS],
        "sops_per_step": per_step.reshape(B, T),
        "sinabs": floats[_SINABS],
        "total_in": floats[_TOTAL_IN],
        "neurobench_all": ints[_NB_ALL],
        "neurobench_macs": ints[_NB_MAC],
    }
