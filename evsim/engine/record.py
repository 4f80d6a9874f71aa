"""Recording: the membrane traces of the densely recorded populations (`_record_v`), and growing the loop's buffers
(the spike record, the wake heap) before its per-neuron loops, never inside them.

Lesson of the measurements: an array rebound inside a loop makes Numba count references there (several times
slower), so the loop makes room for a whole population's worth before stepping it.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, njit_inline


@njit
def _grown(rec_t: np.ndarray, rec_n: np.ndarray, rec_c: np.ndarray, need: int) -> tuple:
    """The spike record arrays with room for at least ``need`` spikes (doubled, contents kept)."""
    size = max(need, 2 * rec_t.shape[0])
    t2, n2, c2 = np.empty(size, dtype=rec_t.dtype), np.empty(size, dtype=rec_n.dtype), np.empty(size, dtype=rec_c.dtype)
    for k in range(rec_t.shape[0]):  # (a loop, not a slice copy: that one compiles a shape check and its message,
        t2[k] = rec_t[k]  # ~2 s of the first run)
        n2[k] = rec_n[k]
        c2[k] = rec_c[k]
    return t2, n2, c2


@njit
def _grown_heap(heap: np.ndarray, need: int) -> np.ndarray:
    grown = np.empty(max(need, 2 * heap.shape[0]), dtype=np.int64)
    for k in range(heap.shape[0]):  # (see `_grown`)
        grown[k] = heap[k]
    return grown


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
