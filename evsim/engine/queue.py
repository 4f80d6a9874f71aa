"""The engine's priority queues.

evsim's discrete mode orders events by (time step, sequence number) with two structures:

**Calendar ring** (for spikes in flight). Delays are bounded integers (``0 <= d <= max_delay``), so events live
in a ring of ``D`` slots, ``D`` a power of two ``> max_delay``; slot ``t & (D - 1)`` holds every event due at
step ``t``. Invariants while step ``t`` is processed:

* slots hold only events due in ``[t, t + D)``; a slot is emptied when its step is processed, before it can be
  reused for step ``t + D``;
* ``acc[slot, n]`` is the summed weight of the events due to neuron ``n`` at that step, added in arrival order
  (the sequence order), so simultaneous events to one neuron are delivered as one input, exactly as a
  clock-driven simulator sums them;
* which neurons have something due is known in one of two ways, chosen per population when the network is
  compiled (`evsim.engine.SCAN_MAX`):
  - *stepped* populations (up to 32k neurons): ``tl_n[slot, p] > 0`` says the population may have input or
    wakes at that step (a spike marks every step between its row's first and last arrival: a superset, which
    only costs an update of the population with no input); processing updates every neuron of the population,
    those without input included (cheaper than finding the others: a delivery is then one add). A population
    that can act with no input (bias, synaptic current, recorded membrane) is stepped at every step;
  - *listed* populations: ``mark[slot, n]`` says whether ``n`` is already listed and ``tl[slot]`` lists the marked
    neurons, in the segment of the population's global indices, ``tl_n[slot, p]`` entries long, in the order their
    first event arrived. A step then costs only the neurons it reaches, however large the population;
* insertion and removal are O(1); no comparison is ever made.

A binary heap would cost O(log n) per event for no gain when every delay is a whole number of steps below a known
bound: the ring is the queue for the job.

**Wake heap** (for predicted threshold crossings). A neuron with a constant drive may cross threshold with no
input, at a step arbitrarily far ahead, beyond the ring's horizon. These rare self-scheduled events go into a
binary min-heap of int64 keys ``time * n_neurons + neuron`` (ties broken by neuron index, so the order is
deterministic). A prediction made obsolete by a later input is not removed: ``wake_t[n]`` holds each neuron's
current prediction, and a popped key whose time differs is ignored.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit


@njit
def heap_push(heap: np.ndarray, size: int, key: int) -> int:
    """Push ``key``; returns the new size. The caller makes room (``size < heap.shape[0]``) beforehand, outside
    its hot loops: an array reallocated in a loop makes Numba count references there."""
    j = size
    heap[j] = key
    while j > 0:
        parent = (j - 1) >> 1
        if heap[parent] <= heap[j]:
            break
        heap[parent], heap[j] = heap[j], heap[parent]
        j = parent
    return size + 1


@njit
def heap_pop(heap: np.ndarray, size: int) -> tuple[int, int]:
    """Remove the smallest key; returns ``(key, new_size)``. ``size`` must be > 0."""
    top = heap[0]
    size -= 1
    heap[0] = heap[size]
    j = 0
    while True:
        left = 2 * j + 1
        if left >= size:
            break
        c = left
        if left + 1 < size and heap[left + 1] < heap[left]:
            c = left + 1
        if heap[j] <= heap[c]:
            break
        heap[j], heap[c] = heap[c], heap[j]
        j = c
    return top, size
