"""Predicted threshold crossings ("wakes"): a neuron that can cross threshold with no input (a constant drive, a
late reset to apply) has its crossing step predicted and pushed on a binary heap of keys ``step * N + n``
(`evsim.engine.queue.heap_push`); ``wake_t[n]`` is the neuron's current prediction, so an outdated heap entry is
recognised and dropped when popped.

Only *listed* populations use the heap: `_first_wakes` predicts their crossings from the initial state (once per
sample; later ones they predict themselves, `evsim.engine.listed`); `_pop_wakes` pops the wakes due at a step and
lists their neurons in the ring. Models without a listed population compile neither (`run_discrete` gets
``undriven=None``). A *stepped* population needs no prediction: one that can act without input is stepped at
every step anyway, and the others are quiet (`evsim.engine._quiet`: no drive, so below threshold the state only
decays towards 0, and a neuron that does not cross at the first step never does); `_first_steps` marks such a
population as due at the first step when one of its neurons starts at or above its threshold.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, njit_inline
from .deliver import _touch
from .gap import V_TH, _crossing_n
from .queue import heap_pop, heap_push
from .record import grown


@njit
def _first_wakes(
    T: int,
    N: int,
    P: int,
    pop_off: np.ndarray,
    is_input: np.ndarray,
    scan: np.ndarray,
    ge: np.ndarray,
    prm: np.ndarray,
    i: np.ndarray,
    v: np.ndarray,
    wake_t: np.ndarray,
    heap: np.ndarray,
    hsize: int,
) -> tuple:
    """The first wake of every neuron of a listed population that crosses threshold from its initial state with no
    input at all; returns the heap (it may have grown) and its size."""
    for p in range(P):
        if is_input[p] or scan[p]:
            continue
        for n in range(pop_off[p], pop_off[p + 1]):
            k = _crossing_n(n, T, ge[p], prm, i, v)
            if k > 0:
                wake_t[n] = k - 1
                if hsize == heap.shape[0]:
                    heap = grown(heap, hsize + 1)
                hsize = heap_push(heap, hsize, (k - 1) * N + n)
    return heap, hsize


@njit
def _first_steps(
    s: int,
    P: int,
    pop_off: np.ndarray,
    is_input: np.ndarray,
    always: np.ndarray,
    scan: np.ndarray,
    prm: np.ndarray,
    v: np.ndarray,
    tl_n: np.ndarray,
) -> None:
    """A quiet stepped population (not stepped at every step) with a neuron starting at or above its threshold is
    due at the first step (ring slot ``s``): stepped there, that neuron fires if it crosses at all."""
    for p in range(P):
        if is_input[p] or always[p] or not scan[p]:
            continue
        for n in range(pop_off[p], pop_off[p + 1]):
            if not v[n] < prm[n, V_TH]:
                tl_n[s * P + p] = 1
                break


@njit_inline
def _pop_wakes(
    t: int,
    s: int,
    N: int,
    P: int,
    heap: np.ndarray,
    hsize: int,
    wake_t: np.ndarray,
    pop_of: np.ndarray,
    pop_off: np.ndarray,
    scan: np.ndarray,
    mark: np.ndarray,
    tl: np.ndarray,
    tl_n: np.ndarray,
) -> int:
    """Pop the wakes due at step ``t`` (ring slot ``s``): a stepped population is flagged as due (its scan finds
    the neuron through ``wake_t``), a listed neuron is listed. Returns the heap size."""
    while hsize > 0 and heap[0] // N <= t:
        key, hsize = heap_pop(heap, hsize)
        n = key % N
        if key // N == t and wake_t[n] == t:
            if scan[pop_of[n]]:
                tl_n[s * P + pop_of[n]] = 1
            else:
                _touch(s, n, pop_of[n], N, P, pop_off, mark, tl, tl_n)
    return hsize
