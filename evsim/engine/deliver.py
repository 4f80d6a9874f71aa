"""Delivery of events along explicit synapses into the calendar ring (the loop's `_send`); `_touch`, which lists a
neuron of a listed population as reached in a ring slot; `_gather_inputs`, a step's input events into the batch
that `_send` delivers.

The ring (`evsim.engine.loop.new_state`): ``acc[slot * N + n]`` sums neuron ``n``'s input due at that slot;
for a *listed* population ``p``, ``tl[slot * N + pop_off[p] : ... + tl_n[slot * P + p]]`` lists the neurons
reached (``mark`` says whether a neuron is already listed); for a *stepped* population ``tl_n[slot * P + p]``
is only a flag: something is due. Both helpers are inlined into the loop (`njit_inline`): a real call passing
these arrays costs reference counting on every event.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit_inline
from .prefetch import prefetch


@njit_inline
def _touch(
    slot: int, n: int, p: int, N: int, P: int, pop_off: np.ndarray, mark: np.ndarray, tl: np.ndarray, tl_n: np.ndarray
) -> None:
    b = slot * N + n
    if mark[b] == 0:
        mark[b] = 1
        sp = slot * P + p
        tl[slot * N + pop_off[p] + tl_n[sp]] = n
        tl_n[sp] += 1


@njit_inline
def _send(
    src_n: np.ndarray,
    src_v: np.ndarray,
    lo: int,
    hi: int,
    t: int,
    T: int,
    N: int,
    P: int,
    mask: int,
    syn: tuple,
    ring: tuple,
    listed: np.ndarray | None,
    sparse: np.ndarray | None,
) -> None:
    """Deliver the events ``src_n[lo:hi]`` (neuron) of values ``src_v[lo:hi]`` sent at step ``t`` along every
    outgoing synapse. Inlined where it is used, once per batch of simultaneous events (a real call passing these
    dozens of arrays cost ~200 ns: 10% of feedforward). ``listed``: None when no population is listed (the
    listed-target path is then pruned by Numba, not compiled); ``sparse``: None when every explicit projection has
    full rows (``q_full``: only their path is compiled)."""
    # fmt: off
    (pop_of, pop_off, out_ptr, out_proj, ip_off, tgt_pop, rowptr, delays, q_mind, q_maxd, q_full, targets,
     weights, conv_of, scan, unit, user_of) = syn  # see run_discrete
    # fmt: on
    acc, mark, tl, tl_n, sops = ring
    k = lo
    while k < hi:  # runs of events from one population (one run for a population's spikes)
        src_p = pop_of[src_n[k]]
        k_end = k + 1
        while k_end < hi and pop_of[src_n[k_end]] == src_p:
            k_end += 1
        for qi in range(out_ptr[src_p], out_ptr[src_p + 1]):  # projection by projection: its constants stay
            q = out_proj[qi]  # in registers and its synapse count in a local
            if conv_of[q] >= 0:
                continue  # implicit convolutions: `_send_conv`
            tp = tgt_pop[q]
            toff = pop_off[tp]
            row0 = ip_off[q] - pop_off[src_p]
            unit_p = unit[src_p]
            used = 0
            checked = t + q_maxd[q] >= T  # near the end some synapses arrive too late: test each one
            # one delay for every synapse of q: no row reads its delays (one cache miss per row less)
            one = q_mind[q] == q_maxd[q]
            if one and checked:
                continue  # (all too late)
            if scan[tp]:  # the target population is stepped: just accumulate
                d_lo, d_hi = T, -1
                for kk in range(k, k_end):
                    val = src_v[kk]
                    row = row0 + user_of[src_n[kk]]  # (rows in the network's order of the sources)
                    e0, e1 = rowptr[row], rowptr[row + 1]
                    if kk + 1 < k_end:  # the next row's start asked for now: its cache misses overlap this row
                        e_next = rowptr[row0 + user_of[src_n[kk + 1]]]
                        prefetch(targets, e_next)
                        prefetch(weights, e_next)
                    if checked:
                        e = e0
                        while e < e1 and t + delays[e] < T:  # (rows are sorted by delay)
                            e += 1
                        e1 = e
                    if e1 > e0:
                        d0 = q_maxd[q] if one else delays[e0]  # the row's first and last delays
                        d1 = q_maxd[q] if one else delays[e1 - 1]
                        # unsigned indices spare Numba's negative-index test on each of the four accesses (2x)
                        # one delay (rows are sorted by delay): one ring slot for the whole row (1.3x)
                        if sparse is None or d0 == d1:
                            b = ((t + d0) & mask) * N + toff
                            if sparse is None or q_full[q]:  # every target in order: contiguous adds (SIMD; w*1 == w)
                                for j in range(e1 - e0):
                                    acc[np.uint64(b + j)] += weights[np.uint64(e0 + j)] * val
                            elif unit_p:  # spikes of a single-spike population: value 1, no multiplication
                                for j in range(e1 - e0):
                                    e = np.uint64(e0 + j)
                                    acc[np.uint64(b + targets[e])] += weights[e]
                            else:
                                for j in range(e1 - e0):
                                    e = np.uint64(e0 + j)
                                    acc[np.uint64(b + targets[e])] += weights[e] * val
                        elif unit_p:  # spikes of a single-spike population: value 1, no multiplication
                            for j in range(e1 - e0):
                                e = np.uint64(e0 + j)
                                acc[np.uint64(((t + delays[e]) & mask) * N + toff + targets[e])] += weights[e]
                        else:
                            for j in range(e1 - e0):
                                e = np.uint64(e0 + j)
                                acc[np.uint64(((t + delays[e]) & mask) * N + toff + targets[e])] += weights[e] * val
                        d_lo = min(d_lo, d0)
                        d_hi = max(d_hi, d1)
                    used += e1 - e0
                # mark the steps between the batch's first and last arrival as having input (a superset when rows
                # skip delays: a quiet population is then stepped once too often, no harm)
                for td in range(t + d_lo, t + d_hi + 1):
                    tl_n[(td & mask) * P + tp] = 1
            elif listed is not None:  # list the neurons reached, once each
                for kk in range(k, k_end):
                    val = src_v[kk]
                    row = row0 + user_of[src_n[kk]]  # (rows in the network's order of the sources)
                    e0, e1 = rowptr[row], rowptr[row + 1]
                    if checked:
                        e = e0
                        while e < e1 and t + delays[e] < T:
                            e += 1
                        e1 = e
                    for e in range(e0, e1):
                        sl = (t + delays[e]) & mask
                        tgt = targets[e]
                        b2 = sl * N + toff + tgt
                        sp = sl * P + tp
                        if mark[b2] == 0:
                            mark[b2] = 1
                            tl[sl * N + toff + tl_n[sp]] = toff + tgt
                            tl_n[sp] += 1
                        acc[b2] += weights[e] * val
                    used += e1 - e0
            sops[q] += used
        k = k_end


@njit_inline
def _gather_inputs(
    t: int,
    ie: int,
    ev_t: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    perm: np.ndarray,
    sb_n: np.ndarray,
    sb_v: np.ndarray,
) -> tuple:
    """The input events of step ``t`` (from position ``ie`` of the sorted ``ev_*``) into ``sb_n``/``sb_v``, their
    neurons in the engine's order (``perm``); returns how many and the next position."""
    m = 0
    n_ev = ev_t.shape[0]
    while ie < n_ev and ev_t[ie] == t:
        sb_n[m] = perm[ev_n[ie]]
        sb_v[m] = ev_val[ie]
        m += 1
        ie += 1
    return m, ie
