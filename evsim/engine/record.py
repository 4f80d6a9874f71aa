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
