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

**Exact mode: calendar buckets with exact offsets** (`evsim.engine.exact`). A time is a pair ``(step, off)``: an
integer step of width ``h`` (the network's ``dt``, the resolution) and a float64 offset ``0 <= off < h`` inside
it, ``t = step * h + off``. Every delay is stored the same way (``dk`` steps plus ``doff``, snapped to the grid when
it lies on it within rounding), and an arrival is ``(s + dk, o + doff)``, carried once if ``o + doff >= h``. So
a delay on the grid adds an integer and leaves the offset untouched: arrival times that are equal in exact
arithmetic (a spike time plus 2.0 ms reached through two paths, or the end of a refractory period) are bitwise
equal, and comparisons between them are exact (NEST's precise-spike scheme: Morrison et al. 2007). Off-grid
delays add their offsets in float64 (a relative error of ~1e-16 of ``h``).

Events live in a pool (struct of arrays, slots recycled through a free stack): ``qi[e] = (step, target, seq,
next, kind)``, ``qf[e] = (off, weight)``; ``kind`` is an arrival (``target`` receives ``weight``), a wake (a
predicted threshold crossing of ``target``; stale unless ``seq`` is the neuron's current prediction) or an emission
(an input neuron's event, sent along its synapses). Three places hold them:

* the **ring**: ``D`` buckets (a power of two above the largest delay in steps plus one), bucket ``s & (D - 1)``
  an unsorted linked list of the events due in step ``s``; O(1) insertion, for every event due in ``(cur, cur +
  D)`` while step ``cur`` is processed;
* the **far heap**: a binary min-heap by ``(step, off, target, seq)`` for events due at or beyond ``cur + D``
  (predicted crossings far ahead);
* the **current step**: opening step ``cur`` sorts its ring list and the far heap's events due in ``cur`` by
  ``(off, target, seq)`` into an array (`open_step`); events made while ``cur`` is processed and due in ``cur``
  (zero or sub-step delays, wakes) go into the **bucket heap**, a binary min-heap by the same key (kept in the
  heap's own arrays); the input events of ``cur`` are a third sorted source. The loop pops the least of the three
  heads, so every event is popped in nondecreasing ``(step, off)`` order.

Ties (equal ``(step, off)``) are broken by target neuron, then by ``seq``, a counter incremented at every insertion
(insertion order; input events: by input neuron, then stream order). Each pop is the least pending event by
``(step, off, target, seq)``; an event made at time ``t`` for time ``t`` (zero delay) comes after the events of ``t``
already handled. Deterministic, and simultaneous arrivals at one neuron are adjacent, so the loop sums them
before testing the threshold (NEST's ``iaf_psc_delta_ps`` rule). ``seq`` enters the tie key modulo 2**32.

**Exact mode, step-synchronous** (`evsim.engine.exact_steps`, for networks whose every delay is ``>= h``: then an
event at ``(s, o)`` arrives in a later step, all arrivals of step ``s`` are known when ``s`` opens, and no heap is
needed). Times and delays are ``(step, off)`` pairs as above, added the same way (so the same bitwise equalities
hold). Two structures:

* the **arrival calendar**: ``D`` buckets (``D`` a power of two above the largest delay in steps), bucket ``s &
  (D - 1)`` holding the arrivals due in step ``s`` as a list of chunks of `CHUNK` events, each chunk a row of
  three arrays (``coff`` offset, ``ctgt`` target, ``cw`` weight: struct of arrays), filled in order and never
  reordered. Invariants while step ``cur`` is processed: a bucket holds only arrivals due in ``(cur, cur + D)``
  (so ``D`` steps never alias); ``bcnt[b]`` counts bucket ``b``'s arrivals and ``cc[CRING]`` all of them; a
  bucket's chunks go back to the free stack (``cfree``, ``cc[CFREE]`` of them) when its step opens. Appending is
  O(1) and sequential in memory; opening a step reads each chunk twice (a counting sort by target);
* the **wake heap**: a binary min-heap of ``(step, neuron)`` pairs (`pair_push`, `pair_pop`) for neurons that
  cross the threshold with no input (tonic firing, a current still charging the membrane) in a later step. An
  entry is acted on only if it still equals the neuron's current prediction (``W_STEP``); stale ones are dropped
  when popped.

Tie rule (deterministic): inside a step, each neuron takes its arrivals in order of offset; arrivals with equal
offsets are summed, in the order they were appended, into one input before the threshold is tested. They were
appended in delivery order: steps in order; inside a step, the input events and the spikes merged by (offset,
neuron index) (input events of one neuron at one offset in stream order), each event's synapses in row order (by
delay, then CSR order). This is the order of `run_exact`'s ``seq`` whenever both apply, so both loops give the same
spikes bit for bit (tests/test_exact_steps.py). Input arrivals that skip the calendar (`evsim.engine.exact_open`:
input delays shorter than the others by more than a step) keep this order: they were sent after every arrival in
the bucket, so they come after them at equal offsets. A neuron's predicted crossing at or before an input's offset fires
first.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, njit_inline


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


# ---------------------------------------------------------------------------------------------------------------
# Exact mode: the calendar of (step, offset) events (see the module docstring). ``cnt`` holds the counters:
# free slots, bucket-heap size, far-heap size, next seq, events in the ring.
# ---------------------------------------------------------------------------------------------------------------
ARRIVE, WAKE, EMIT = 0, 1, 2
NFREE, BSIZE, FSIZE, SEQ, NRING = range(5)
# an event's fields: ``qi[e, Q_STEP]`` etc. (int64), ``qf[e, Q_OFF]``, ``qf[e, Q_W]`` (float64)
Q_STEP, Q_TGT, Q_SEQ, Q_NEXT, Q_KIND = range(5)
Q_OFF, Q_W = range(2)


@njit
def _before(qi: np.ndarray, qf: np.ndarray, a: int, b: int) -> bool:
    """Whether event ``a`` comes before ``b`` in the far heap: by (step, off, target, seq)."""
    if qi[a, Q_STEP] != qi[b, Q_STEP]:
        return qi[a, Q_STEP] < qi[b, Q_STEP]
    if qf[a, Q_OFF] != qf[b, Q_OFF]:
        return qf[a, Q_OFF] < qf[b, Q_OFF]
    if qi[a, Q_TGT] != qi[b, Q_TGT]:
        return qi[a, Q_TGT] < qi[b, Q_TGT]
    return qi[a, Q_SEQ] < qi[b, Q_SEQ]


@njit
def far_push(heap: np.ndarray, size: int, e: int, qi: np.ndarray, qf: np.ndarray) -> int:
    j = size
    heap[j] = e
    while j > 0:
        parent = (j - 1) >> 1
        if not _before(qi, qf, heap[j], heap[parent]):
            break
        heap[parent], heap[j] = heap[j], heap[parent]
        j = parent
    return size + 1


@njit
def far_pop(heap: np.ndarray, size: int, qi: np.ndarray, qf: np.ndarray) -> int:
    """Remove the first event (the caller reads it from ``heap[0]`` first); returns the new size."""
    size -= 1
    heap[0] = heap[size]
    j = 0
    while True:
        c = 2 * j + 1
        if c >= size:
            break
        if c + 1 < size and _before(qi, qf, heap[c + 1], heap[c]):
            c += 1
        if not _before(qi, qf, heap[c], heap[j]):
            break
        heap[j], heap[c] = heap[c], heap[j]
        j = c
    return size


@njit_inline
def bucket_push(hev: np.ndarray, hoff: np.ndarray, htie: np.ndarray, size: int, e: int, off: float, tie: int) -> int:
    """Push event ``e`` on the bucket heap, keyed by ``(off, tie)`` held in the heap's own arrays (no indirection:
    ``tie = target << 32 | (seq & 0xFFFFFFFF)``); returns the new size."""
    j = size
    while j > 0:
        parent = (j - 1) >> 1
        if hoff[parent] < off or (hoff[parent] == off and htie[parent] <= tie):
            break
        hev[j], hoff[j], htie[j] = hev[parent], hoff[parent], htie[parent]
        j = parent
    hev[j], hoff[j], htie[j] = e, off, tie
    return size + 1


@njit_inline
def bucket_pop(hev: np.ndarray, hoff: np.ndarray, htie: np.ndarray, size: int) -> int:
    """Remove the first event (read ``hev[0]`` first); returns the new size."""
    size -= 1
    e, off, tie = hev[size], hoff[size], htie[size]
    j = 0
    while True:
        c = 2 * j + 1
        if c >= size:
            break
        if c + 1 < size and (hoff[c + 1] < hoff[c] or (hoff[c + 1] == hoff[c] and htie[c + 1] < htie[c])):
            c += 1
        if off < hoff[c] or (off == hoff[c] and tie <= htie[c]):
            break
        hev[j], hoff[j], htie[j] = hev[c], hoff[c], htie[c]
        j = c
    hev[j], hoff[j], htie[j] = e, off, tie
    return size


@njit_inline
def _tie(qi: np.ndarray, e: int) -> int:
    return (qi[e, Q_TGT] << 32) | (qi[e, Q_SEQ] & 0xFFFFFFFF)


@njit_inline
def schedule(
    qi: np.ndarray,
    qf: np.ndarray,
    free: np.ndarray,
    head: np.ndarray,
    hev: np.ndarray,
    hoff: np.ndarray,
    htie: np.ndarray,
    fheap: np.ndarray,
    cnt: np.ndarray,
    cur: int,
    step: int,
    off: float,
    target: int,
    weight: float,
    kind: int,
) -> int:
    """Insert an event due at ``(step, off) >= (cur, 0)``; returns its seq. The caller has made sure a slot is
    free (``cnt[NFREE] > 0``). ``hev, hoff, htie``: the bucket heap's arrays (passed one by one, not as a tuple:
    taking arrays out of a tuple costs reference counting on every event)."""
    cnt[NFREE] -= 1
    e = free[cnt[NFREE]]
    seq = cnt[SEQ]
    cnt[SEQ] += 1
    qi[e, Q_STEP] = step
    qi[e, Q_TGT] = target
    qi[e, Q_SEQ] = seq
    qi[e, Q_KIND] = kind
    qf[e, Q_OFF] = off
    qf[e, Q_W] = weight
    D = head.shape[0]  # (head[b] = first event of bucket b's list, number of events in it)
    if step == cur:
        cnt[BSIZE] = bucket_push(hev, hoff, htie, cnt[BSIZE], e, off, _tie(qi, e))
    elif step < cur + D:
        b = step & (D - 1)
        qi[e, Q_NEXT] = head[b, 0]
        head[b, 0] = e
        head[b, 1] += 1
        cnt[NRING] += 1
    else:
        cnt[FSIZE] = far_push(fheap, cnt[FSIZE], e, qi, qf)
    return seq


@njit
def open_step(
    qi: np.ndarray, qf: np.ndarray, head: np.ndarray, fheap: np.ndarray, cnt: np.ndarray, cur: int, buf: tuple
) -> tuple:
    """The events due in step ``cur`` that are already known (the ring bucket and the far heap's), sorted by
    ``(off, target, seq)`` into ``buf = (events, offsets, ties, weights, kinds)`` (grown if needed); returns
    ``(count, buf)``. One sort per step costs less than a heap operation per event, and the loop then reads the
    events' fields in order from these arrays instead of from scattered pool slots."""
    bev, boff, btie, bw, bkind = buf
    b = cur & (head.shape[0] - 1)
    need = head[b, 1] + cnt[FSIZE]
    if need > bev.shape[0]:
        size = max(need, 2 * bev.shape[0])
        bev, boff, btie = np.empty(size, np.int64), np.empty(size), np.empty(size, np.int64)
        bw, bkind = np.empty(size), np.empty(size, np.int64)
    k = 0
    e = head[b, 0]
    head[b, 0] = -1
    cnt[NRING] -= head[b, 1]
    head[b, 1] = 0
    while e >= 0 or (cnt[FSIZE] > 0 and qi[fheap[0], Q_STEP] == cur):
        if e < 0:  # then the far heap's events due now
            e = fheap[0]
            cnt[FSIZE] = far_pop(fheap, cnt[FSIZE], qi, qf)
            nxt = -1
        else:
            nxt = qi[e, Q_NEXT]
        bev[k] = e
        boff[k] = qf[e, Q_OFF]
        btie[k] = _tie(qi, e)
        bw[k] = qf[e, Q_W]
        bkind[k] = qi[e, Q_KIND]
        k += 1
        e = nxt
    if k > 1:
        _permute(np.argsort(boff[:k]), 0, bev, boff, btie, bw, bkind)
    j = 0
    while j < k - 1:  # runs of equal offsets (all of a step's events when every time is on the grid): by tie
        r = j + 1
        while r < k and boff[r] == boff[j]:
            r += 1
        if r - j > 1:
            _permute(np.argsort(btie[j:r]), j, bev, boff, btie, bw, bkind)
        j = r
    return k, (bev, boff, btie, bw, bkind)


@njit
def _permute(order: np.ndarray, j: int, bev: np.ndarray, boff: np.ndarray, btie: np.ndarray, bw: np.ndarray,
             bkind: np.ndarray) -> None:  # fmt: skip
    """Reorder ``[j, j + len(order))`` of the step's arrays by ``order``."""
    r = j + order.shape[0]
    bev[j:r] = bev[j:r][order]
    boff[j:r] = boff[j:r][order]
    btie[j:r] = btie[j:r][order]
    bw[j:r] = bw[j:r][order]
    bkind[j:r] = bkind[j:r][order]


@njit
def grown_pool(qi: np.ndarray, qf: np.ndarray, free: np.ndarray, hb: tuple, fheap: np.ndarray, cnt: np.ndarray,
               need: int) -> tuple:  # fmt: skip
    """The pool with at least ``need`` free slots (capacity doubled; heaps sized to the pool)."""
    cap = qi.shape[0]
    new = max(2 * cap, cap + need)
    qi2 = np.empty((new, 5), dtype=np.int64)
    qf2 = np.empty((new, 2))
    qi2[:cap] = qi
    qf2[:cap] = qf
    free2 = np.empty(new, dtype=np.int64)
    nf = cnt[NFREE]
    free2[:nf] = free[:nf]
    for k in range(new - cap):
        free2[nf + k] = new - 1 - k
    cnt[NFREE] = nf + new - cap
    hev, hoff, htie = np.empty(new, dtype=np.int64), np.empty(new), np.empty(new, dtype=np.int64)
    hev[:cap] = hb[0]
    hoff[:cap] = hb[1]
    htie[:cap] = hb[2]
    f2 = np.empty(new, dtype=np.int64)
    f2[:cap] = fheap
    return qi2, qf2, free2, (hev, hoff, htie), f2


# ---------------------------------------------------------------------------------------------------------------
# Exact mode, step-synchronous (`evsim.engine.exact_steps`): the arrival calendar (chunked append-only buckets)
# and the wake heap of (step, neuron) pairs. See "Exact mode, step-synchronous" in the module docstring.
# ``cc`` holds the calendar's counters: free chunks, events in the ring.
# ---------------------------------------------------------------------------------------------------------------
CHUNK = 256  # events per chunk
CFREE, CRING = 0, 1


@njit
def calendar(D: int, chunks: int) -> tuple:
    """An empty calendar of ``D`` buckets over a pool of ``chunks`` chunks: ``(coff, ctgt, cw, cnext, cfill, cfree,
    bhead, btail, bcnt, cc)``."""
    cfree = np.arange(chunks - 1, -1, -1).astype(np.int64)
    cc = np.zeros(2, dtype=np.int64)
    cc[CFREE] = chunks
    return (np.empty((chunks, CHUNK)), np.empty((chunks, CHUNK), np.int64), np.empty((chunks, CHUNK)),
            np.full(chunks, -1, np.int64), np.zeros(chunks, np.int64), cfree, np.full(D, -1, np.int64),
            np.full(D, -1, np.int64), np.zeros(D, np.int64), cc)  # fmt: skip


@njit
def grown_calendar(coff: np.ndarray, ctgt: np.ndarray, cw: np.ndarray, cnext: np.ndarray, cfill: np.ndarray,
                   cfree: np.ndarray, cc: np.ndarray, need: int) -> tuple:  # fmt: skip
    """The chunk pool with at least ``need`` free chunks (capacity doubled): ``(coff, ctgt, cw, cnext, cfill,
    cfree)``; the buckets' chunk indices stay valid."""
    cap = coff.shape[0]
    new = max(2 * cap, cap + need)
    o2, t2, w2 = np.empty((new, CHUNK)), np.empty((new, CHUNK), np.int64), np.empty((new, CHUNK))
    o2[:cap], t2[:cap], w2[:cap] = coff, ctgt, cw
    n2, f2 = np.full(new, -1, np.int64), np.zeros(new, np.int64)
    n2[:cap], f2[:cap] = cnext, cfill
    fr = np.empty(new, np.int64)
    nf = cc[CFREE]
    fr[:nf] = cfree[:nf]
    for k in range(new - cap):
        fr[nf + k] = new - 1 - k
    cc[CFREE] = nf + new - cap
    return o2, t2, w2, n2, f2, fr


@njit_inline
def pair_push(hs: np.ndarray, hn: np.ndarray, size: int, s: int, n: int) -> int:
    """Push ``(s, n)`` on the wake heap (ordered by step, then neuron); returns the new size (room made by the
    caller)."""
    j = size
    while j > 0:
        parent = (j - 1) >> 1
        if hs[parent] < s or (hs[parent] == s and hn[parent] <= n):
            break
        hs[j], hn[j] = hs[parent], hn[parent]
        j = parent
    hs[j], hn[j] = s, n
    return size + 1


@njit_inline
def pair_pop(hs: np.ndarray, hn: np.ndarray, size: int) -> int:
    """Remove the least pair (read ``hs[0], hn[0]`` first); returns the new size."""
    size -= 1
    s, n = hs[size], hn[size]
    j = 0
    while True:
        c = 2 * j + 1
        if c >= size:
            break
        if c + 1 < size and (hs[c + 1] < hs[c] or (hs[c + 1] == hs[c] and hn[c + 1] < hn[c])):
            c += 1
        if s < hs[c] or (s == hs[c] and n <= hn[c]):
            break
        hs[j], hn[j] = hs[c], hn[c]
        j = c
    hs[j], hn[j] = s, n
    return size
