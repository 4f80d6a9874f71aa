"""Delivery for the step-by-step exact loop (`evsim.engine.exact_steps`): a step's input events and spikes sent
along their synapses into the arrival calendar (`evsim.engine.queue`), and the per-neuron table of CSR rows it
walks. Split from the loop by concept (where an event is delivered); the loop opens steps and integrates."""

from __future__ import annotations

import numpy as np

from .._jit import njit
from ..control import halted
from .exact_neuron import NEVER, grid_point
from .queue import CFREE, CHUNK, CRING

EXACT_POLL = 1 << 16  # events between two polls of the run control inside a step
# ``st``, the stages' cursors and counters (`evsim.engine.exact_steps`), and their statuses
K_, J_, NSP, WSZ, UPD, SINCE, IE, STATUS = range(8)
OK, ROOM, STOP = 0, 1, 2


@njit
def _rows_by_neuron(N: int, pop_off: np.ndarray, out_ptr: np.ndarray, out_proj: np.ndarray, ip_off: np.ndarray,
                    tgt_pop: np.ndarray) -> tuple:  # fmt: skip
    """Each neuron's population (``pop_of``) and its CSR rows, one per outgoing projection: rows
    ``nrow[nrow_ptr[n]:nrow_ptr[n + 1]]`` of projections ``nrow_q[...]``; ``q_toff[q]``: the global index of
    projection ``q``'s first target (one lookup per event instead of six)."""
    P = pop_off.shape[0] - 1
    pop_of = np.empty(N, dtype=np.int64)
    nrow_ptr = np.zeros(N + 1, dtype=np.int64)
    for p in range(P):
        pop_of[pop_off[p] : pop_off[p + 1]] = p
        nrow_ptr[pop_off[p] + 1 : pop_off[p + 1] + 1] = out_ptr[p + 1] - out_ptr[p]
    nrow_ptr = np.cumsum(nrow_ptr)
    nrow, nrow_q = np.empty(nrow_ptr[N], np.int64), np.empty(nrow_ptr[N], np.int64)
    for n in range(N):
        p = pop_of[n]
        for j in range(out_ptr[p + 1] - out_ptr[p]):
            q = out_proj[out_ptr[p] + j]
            nrow[nrow_ptr[n] + j] = ip_off[q] + n - pop_off[p]
            nrow_q[nrow_ptr[n] + j] = q
    q_toff = np.empty(tgt_pop.shape[0], np.int64)
    for q in range(tgt_pop.shape[0]):
        q_toff[q] = pop_off[tgt_pop[q]]
    return pop_of, nrow_ptr, nrow, nrow_q, q_toff


@njit
def delay_runs(rowptr: np.ndarray, dk: np.ndarray, doff: np.ndarray) -> tuple:
    """The CSR rows cut into runs of one delay (rows are sorted by delay, so a delay's synapses in a row are
    consecutive): row ``r``'s runs are ``rptr[r]:rptr[r + 1]``, run ``u`` holds synapses ``rstart[u]:rstart[u + 1]``
    of delay ``(rdk[u], rdoff[u])``. Delivery then computes an arrival time and its bucket once per run, and reads
    only targets and weights per synapse."""
    nrows = rowptr.shape[0] - 1
    nsyn = rowptr[nrows] if nrows >= 0 else 0
    rptr = np.zeros(max(nrows, 0) + 1, np.int64)
    nruns = 0
    for r in range(nrows):
        for e in range(rowptr[r], rowptr[r + 1]):
            if e == rowptr[r] or dk[e] != dk[e - 1] or doff[e] != doff[e - 1]:
                nruns += 1
        rptr[r + 1] = nruns
    rstart = np.empty(nruns + 1, np.int64)
    rdk, rdoff = np.empty(nruns, np.int64), np.empty(nruns)
    u = 0
    for r in range(nrows):
        for e in range(rowptr[r], rowptr[r + 1]):
            if e == rowptr[r] or dk[e] != dk[e - 1] or doff[e] != doff[e - 1]:
                rstart[u], rdk[u], rdoff[u] = e, dk[e], doff[e]
                u += 1
    rstart[nruns] = nsyn
    return rptr, rstart, rdk, rdoff


@njit
def _deliver_step(cur: int, end_s: int, end_o: float, h: float, ev_t: np.ndarray, ev_n: np.ndarray,
                  ev_val: np.ndarray, sp_o: np.ndarray, sp_n: np.ndarray, nrow_ptr: np.ndarray,
                  nrow: np.ndarray, nrow_q: np.ndarray, q_toff: np.ndarray, rowptr: np.ndarray,
                  targets: np.ndarray, weights: np.ndarray, rptr: np.ndarray, rstart: np.ndarray,
                  rdk: np.ndarray, rdoff: np.ndarray, coff: np.ndarray, ctgt: np.ndarray, cw: np.ndarray,
                  cnext: np.ndarray,
                  cfill: np.ndarray, cfree: np.ndarray, bhead: np.ndarray, btail: np.ndarray, bcnt: np.ndarray,
                  cc: np.ndarray, need_c: int, sops: np.ndarray, ctl: np.ndarray, nrec: int,
                  st: np.ndarray) -> None:  # fmt: skip
    """Send the step's input events (from ``st[IE]``; times in seconds, put on the grid here; ``ev_val`` of length
    1: every event's value) and its ``st[NSP]`` sorted spikes (from ``st[K_]``), merged by (offset, neuron), along
    the rows' runs of one delay (`delay_runs`). Stops with ROOM when fewer than ``need_c`` chunks are free, STOP on
    the run control."""
    n_ev = ev_t.shape[0]
    one = ev_val.shape[0] == 1
    ie, k, nsp, since = st[IE], st[K_], st[NSP], st[SINCE]
    st[STATUS] = OK
    mask = bhead.shape[0] - 1
    nfree, ring = cc[CFREE], cc[CRING]
    # the bucket being appended to, kept across rows and events (rows are sorted by delay, and a step's events
    # mostly go to the same buckets: runs), closed (the chunk's fill and the bucket's count written back) when
    # another bucket or a new chunk is needed, and before returning
    lb, c, j, run = -1, -1, 0, 0
    es, eo = grid_point(ev_t[ie], h) if ie < n_ev else (NEVER, 0.0)  # the next input event
    while True:
        if nfree < need_c:
            st[STATUS] = ROOM
            break
        if es == cur and (k >= nsp or eo < sp_o[k] or (eo == sp_o[k] and ev_n[ie] < sp_n[k])):
            n, o, x = ev_n[ie], eo, ev_val[0] if one else ev_val[ie]
            ie += 1
            es, eo = grid_point(ev_t[ie], h) if ie < n_ev else (NEVER, 0.0)
            if cur == end_s and o >= end_o:
                continue  # at or after the end of the run
        elif k < nsp:
            n, o, x = sp_n[k], sp_o[k], 1.0
            k += 1
        else:
            break
        # the synapses, written out here: an inlined helper taking the arrays costs reference counting per event
        for kk in range(nrow_ptr[n], nrow_ptr[n + 1]):  # n's rows, one per outgoing projection
            q = nrow_q[kk]
            toff = q_toff[q]
            row = nrow[kk]
            e = e0 = rowptr[row]
            for u in range(rptr[row], rptr[row + 1]):  # the row's runs of one delay, in order of delay
                s2 = cur + rdk[u]
                o2 = o + rdoff[u]
                if o2 >= h:
                    o2 -= h
                    s2 += 1
                if s2 > end_s or (s2 == end_s and o2 >= end_o):
                    break  # the rest of the row arrives later still
                b = s2 & mask  # append the run to bucket b (`evsim.engine.queue`: chunked, append-only)
                if b != lb:
                    if lb >= 0:  # close the bucket's run
                        cfill[c] = j
                        bcnt[lb] += run
                    lb, c, j, run = b, btail[b], CHUNK, 0
                    if c >= 0:
                        j = cfill[c]
                e1 = rstart[u + 1]
                while e < e1:
                    if j == CHUNK:  # a new chunk (the bucket's tail, if any, is full)
                        if c >= 0:
                            cfill[c] = j
                        nfree -= 1
                        c2 = cfree[nfree]
                        cfill[c2] = 0
                        cnext[c2] = -1
                        if c < 0:
                            bhead[b] = c2
                        else:
                            cnext[c] = c2
                        btail[b] = c2
                        c, j = c2, 0
                    m = min(e1 - e, CHUNK - j)
                    for i in range(m):
                        coff[c, j + i] = o2
                        ctgt[c, j + i] = toff + targets[e + i]
                        cw[c, j + i] = weights[e + i] * x
                    j += m
                    run += m
                    e += m
            used = e - e0
            sops[q] += used
            since += used
            ring += used
        if since >= EXACT_POLL:
            since = 0
            if halted(ctl, sops, nrec):
                st[STATUS] = STOP
                break
    if lb >= 0:  # close the last run
        cfill[c] = j
        bcnt[lb] += run
    st[IE], st[K_], st[SINCE] = ie, k, since
    cc[CFREE], cc[CRING] = nfree, ring
