"""Opening a step of the step-by-step exact loop (`evsim.engine.exact_steps`): the arrivals due in it grouped by
target neuron (a counting sort, stable), and the list of neurons to integrate (those with arrivals or a wake due).

Arrivals come from the step's bucket of the arrival calendar (`evsim.engine.queue`) and, for a network whose input
synapses all have one delay ``in_dk`` steps plus ``in_doff`` (``< h``) that is shorter than every other delay by
more than a step (``in_dk + (in_doff > 0) <`` the other delays' whole steps: `direct_input`), straight from the
sorted input events: an event at ``(s, o)`` arrives at ``(s + in_dk, o + in_doff)`` (carried once), so the events
whose arrivals are due in a step are a contiguous run of the stream (`input_end`), and they never pass through the
calendar. The order is the calendar's (queue.py's tie rule): those input events were sent in a later step than any
arrival in the bucket, so in each neuron's segment the bucket's arrivals (in append order) come first, then the
input arrivals in stream order, each event's synapses in row order; the loop's stable sort by offset keeps that
order among equal offsets.

Two passes: `count_step` counts each touched neuron's arrivals (so the loop can make room), `fill_step` writes them
into their segments ``[start[n], cntn[n])`` of ``so, sw`` and frees the bucket's chunks.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, njit_inline
from .exact_deliver import WSZ
from .exact_neuron import W_STEP, grid_point
from .queue import CFREE, CRING, pair_pop


def direct_input(dk: np.ndarray, doff: np.ndarray, from_input: np.ndarray) -> tuple[int, float]:
    """``(in_dk, in_doff)`` when the synapses ``from_input`` (a mask over the packed synapses: those out of input
    populations) allow the direct path described above, else ``(-1, 0.0)``."""
    if not from_input.any():
        return -1, 0.0
    k, o = dk[from_input], doff[from_input]
    if np.any(k != k[0]) or np.any(o != o[0]):
        return -1, 0.0
    others = dk[~from_input]
    if others.size and int(k[0]) + (o[0] > 0) >= int(others.min()):
        return -1, 0.0
    return int(k[0]), float(o[0])


@njit_inline
def _arrival(t: float, h: float, in_dk: int, in_doff: float) -> tuple[int, float]:
    """Where an input event at time ``t`` arrives through the direct input's delay (as delivery adds a delay)."""
    s, o = grid_point(t, h)
    o2 = o + in_doff
    if o2 >= h:
        return s + in_dk + 1, o2 - h
    return s + in_dk, o2


@njit_inline
def _before(t: float, h: float, in_dk: int, in_doff: float, ls: int, lo: float) -> bool:
    s, o = _arrival(t, h, in_dk, in_doff)
    return s < ls or (s == ls and o < lo)


@njit
def input_end(ie: int, ev_t: np.ndarray, h: float, in_dk: int, in_doff: float, ls: int, lo: float) -> int:
    """The first input event from ``ie`` on whose arrival is not before ``(ls, lo)`` (a galloping search: arrival
    times are nondecreasing along the sorted stream)."""
    n = ev_t.shape[0]
    if ie >= n or not _before(ev_t[ie], h, in_dk, in_doff, ls, lo):
        return ie
    a, d = ie, 1  # event a arrives before the limit
    while a + d < n and _before(ev_t[a + d], h, in_dk, in_doff, ls, lo):
        a += d
        d *= 2
    b = min(a + d, n)  # event b does not (or b == n)
    while b - a > 1:
        m = (a + b) >> 1
        if _before(ev_t[m], h, in_dk, in_doff, ls, lo):
            a = m
        else:
            b = m
    return b


@njit
def direct_rows(N: int, is_input_n: np.ndarray, nrow_ptr: np.ndarray, nrow: np.ndarray, nrow_q: np.ndarray,
                q_toff: np.ndarray, rowptr: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> tuple:  # fmt: skip
    """The input neurons' synapses as one table: neuron ``n``'s are ``dptr[n]:dptr[n + 1]`` (in row order), with
    global targets ``dtgt``, weights ``dw`` and projections ``dq`` (one lookup per arrival instead of five)."""
    dptr = np.zeros(N + 1, np.int64)
    for n in range(N):
        m = 0
        if is_input_n[n]:
            for kk in range(nrow_ptr[n], nrow_ptr[n + 1]):
                m += rowptr[nrow[kk] + 1] - rowptr[nrow[kk]]
        dptr[n + 1] = dptr[n] + m
    dtgt, dw, dq = np.empty(dptr[N], np.int64), np.empty(dptr[N]), np.empty(dptr[N], np.int64)
    for n in range(N):
        if is_input_n[n]:
            p = dptr[n]
            for kk in range(nrow_ptr[n], nrow_ptr[n + 1]):
                q = nrow_q[kk]
                for e2 in range(rowptr[nrow[kk]], rowptr[nrow[kk] + 1]):
                    dtgt[p], dw[p], dq[p] = q_toff[q] + targets[e2], weights[e2], q
                    p += 1
    return dptr, dtgt, dw, dq


@njit
def count_step(cur: int, ie0: int, ie1: int, ev_t: np.ndarray, ev_n: np.ndarray, ev_val: np.ndarray, h: float,
               in_doff: float, dptr: np.ndarray, dtgt: np.ndarray, dw: np.ndarray, dq: np.ndarray, sops: np.ndarray,
               a_t: np.ndarray, a_o: np.ndarray, a_w: np.ndarray, ctgt: np.ndarray, cnext: np.ndarray,
               cfill: np.ndarray, bhead: np.ndarray, wh_s: np.ndarray, wh_n: np.ndarray, st: np.ndarray,
               reg: np.ndarray, si: np.ndarray, touched: np.ndarray, stamp: np.ndarray, cntn: np.ndarray,
               dense: bool, lo: int, hi: int) -> tuple[int, int]:  # fmt: skip
    """Count step ``cur``'s arrivals per target: its bucket's, then those of input events ``[ie0, ie1)`` (written
    to ``a_t, a_o, a_w``: target, offset, weight; room for them made by the caller); pop the wakes due. Returns
    ``(touched neurons, input arrivals)``; ``st[WSZ]`` the wake heap's new size.

    The touched neurons are listed as they are first reached (``stamp[n] == cur`` marks them), or, in a ``dense``
    step (one with many arrivals), in index order by a scan of all neurons after counting (their state is then
    read in memory order, and counting needs no mark). ``[lo, hi)``: the neurons that can have arrivals or wakes
    (those of every non-input population; the dense scan's range)."""
    D = bhead.shape[0]
    b = cur & (D - 1)
    nt = 0
    if dense:
        cntn[lo:hi] = 0
    c = bhead[b]
    while c >= 0:
        for j in range(cfill[c]):
            t = ctgt[c, j]
            if not dense and stamp[t] != cur:
                stamp[t] = cur
                cntn[t] = 0
                touched[nt] = t
                nt += 1
            cntn[t] += 1
        c = cnext[c]
    wsz = st[WSZ]
    while wsz > 0 and wh_s[0] <= cur:
        s0, n = wh_s[0], wh_n[0]
        wsz = pair_pop(wh_s, wh_n, wsz)
        if reg[n] == s0:
            reg[n] = -1
        if si[n, W_STEP] == cur and stamp[n] != cur:
            stamp[n] = cur
            if not dense:
                cntn[n] = 0
            touched[nt] = n
            nt += 1
    st[WSZ] = wsz
    one = ev_val.shape[0] == 1
    a = 0
    for e in range(ie0, ie1):
        n = ev_n[e]
        x = ev_val[0] if one else ev_val[e]
        o2 = grid_point(ev_t[e], h)[1] + in_doff
        if o2 >= h:
            o2 -= h
        for p in range(dptr[n], dptr[n + 1]):
            t = dtgt[p]
            a_t[a], a_o[a], a_w[a] = t, o2, dw[p] * x
            a += 1
            sops[dq[p]] += 1
            if not dense and stamp[t] != cur:
                stamp[t] = cur
                cntn[t] = 0
                touched[nt] = t
                nt += 1
            cntn[t] += 1
    if dense:
        nt = _dense_touched(cur, cntn, stamp, touched, lo, hi)
    return nt, a


@njit_inline
def _dense_touched(cur: int, cntn: np.ndarray, stamp: np.ndarray, touched: np.ndarray, lo: int, hi: int) -> int:
    """List the neurons of ``[lo, hi)`` with arrivals (``cntn[n] > 0``) or a wake due (``stamp[n] == cur``) in
    ``touched``, in index order; returns their number. Branch-free: every neuron is written at the cursor, which
    moves only past those listed (a branch per neuron is mispredicted about as often as not in a dense step)."""
    nt = 0
    for n in range(lo, hi):
        touched[nt] = n
        nt += (cntn[n] > 0) | (stamp[n] == cur)
    return nt


@njit
def fill_step(cur: int, nt: int, na: int, a_t: np.ndarray, a_o: np.ndarray, a_w: np.ndarray, coff: np.ndarray,
              ctgt: np.ndarray, cw: np.ndarray, cnext: np.ndarray, cfill: np.ndarray, cfree: np.ndarray,
              bhead: np.ndarray, btail: np.ndarray, bcnt: np.ndarray, cc: np.ndarray, touched: np.ndarray,
              cntn: np.ndarray, start: np.ndarray, mid: np.ndarray, so: np.ndarray,
              sw: np.ndarray) -> None:  # fmt: skip
    """Write the arrivals `count_step` counted (the bucket's, then the ``na`` input arrivals) into the touched
    neurons' segments ``[start[n], cntn[n])`` of ``so, sw`` (which have room for them), the bucket's in
    ``[start[n], mid[n])`` (in append order), the input arrivals after them (in order of offset); free the bucket's
    chunks."""
    D = bhead.shape[0]
    b = cur & (D - 1)
    pos = 0
    for k in range(nt):
        t = touched[k]
        start[t] = pos
        pos += cntn[t]
        cntn[t] = start[t]  # (now the write cursor; the segment's end once filled)
    c = bhead[b]
    while c >= 0:
        for j in range(cfill[c]):
            t = ctgt[c, j]
            d = cntn[t]
            cntn[t] = d + 1
            so[d] = coff[c, j]
            sw[d] = cw[c, j]
        nc = cnext[c]
        cfree[cc[CFREE]] = c
        cc[CFREE] += 1
        c = nc
    cc[CRING] -= bcnt[b]
    bhead[b], btail[b], bcnt[b] = -1, -1, 0
    for k in range(nt):
        mid[touched[k]] = cntn[touched[k]]
    for a in range(na):
        t = a_t[a]
        d = cntn[t]
        cntn[t] = d + 1
        so[d] = a_o[a]
        sw[d] = a_w[a]
