"""Recording: the membrane traces of the densely recorded populations (`_record_v`), and growing the loop's buffers
(the spike record, the wake heap) before its per-neuron loops, never inside them.

Lesson of the measurements: an array rebound inside a loop makes Numba count references there (several times
slower), so the loop makes room for a whole population's worth before stepping it.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, njit_inline


@njit_inline
def grown(a: np.ndarray, need: int) -> np.ndarray:
    """``a`` with room for at least ``need`` entries: size doubled (or ``need``), contents kept, same dtype. Every
    buffer the loops grow goes through this one (the spike record and the wake heap here, the exact loop's
    record in `evsim.engine.exact._room`). Inlined: a compiled function of its own would be compiled once per
    dtype (+0.3 s of the first run)."""
    b = np.empty(max(need, 2 * a.shape[0]), dtype=a.dtype)
    for k in range(a.shape[0]):  # (a loop, not a slice copy: that one compiles a shape check and its message,
        b[k] = a[k]  # ~2 s of the first run)
    return b


@njit
def _grown(rec_t: np.ndarray, rec_n: np.ndarray, rec_c: np.ndarray, need: int) -> tuple:
    """The spike record arrays with room for at least ``need`` spikes (`grown` each)."""
    return grown(rec_t, need), grown(rec_n, need), grown(rec_c, need)


@njit_inline
def _record_v(vtrace: np.ndarray, row: int, col: int, lo: int, hi: int, v: np.ndarray) -> None:
    """Membranes ``v[lo:hi]`` into ``vtrace[row, col:]`` (the neurons already brought to the step)."""
    for n in range(lo, hi):
        vtrace[row, col + n - lo] = v[n]


GROUP_KERNEL_MIN = 65536  # records from which `Result` assembly groups them with `group_by_population` (compiling or
# loading it costs more than NumPy's sort spends below this)


@njit
def group_by_population(n: np.ndarray, pop_off: np.ndarray) -> tuple:
    """Records of global neurons ``n`` grouped by population, stable: ``(order, local, starts)``, record
    ``order[j]`` is the j-th of the grouping, ``local[j]`` its neuron within its population, population ``p``'s
    records are ``starts[p]:starts[p + 1]``. A counting sort in two passes: what ``np.argsort(population,
    kind="stable")`` with the population found by ``np.searchsorted`` gives, in ~10 ms instead of ~30 for the 720k
    records of the conv workload (10% of its `evsim.run` with every spike recorded)."""
    P = pop_off.shape[0] - 1
    m = n.shape[0]
    pop = np.empty(m, dtype=np.int32)
    starts = np.zeros(P + 1, dtype=np.int64)
    a = 0
    for k in range(m):
        if n[k] < pop_off[a] or n[k] >= pop_off[a + 1]:  # (records come in runs of one population)
            a, b = 0, P  # pop_off[a] <= n[k] < pop_off[b]
            while b - a > 1:
                c = (a + b) >> 1
                if n[k] >= pop_off[c]:
                    a = c
                else:
                    b = c
        pop[k] = a
        starts[a + 1] += 1
    for p in range(P):
        starts[p + 1] += starts[p]
    pos = np.empty(P, dtype=np.int64)
    for p in range(P):
        pos[p] = starts[p]
    order = np.empty(m, dtype=np.int64)
    local = np.empty(m, dtype=np.int64)
    for k in range(m):
        p = pop[k]
        j = pos[p]
        pos[p] = j + 1
        order[j] = k
        local[j] = n[k] - pop_off[p]
    return order, local, starts
