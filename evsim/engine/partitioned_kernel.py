"""The compiled block of `evsim.engine.partitioned`: thread ``k``'s share of one sample over steps ``t0 .. t1 - 1``.

Thread ``k`` owns, in every neuron population ``p``, the neurons ``bounds[p, k] : bounds[p, k + 1]`` (the engine
treats them as sub-population ``p * nt + k``, so the stepping kernels of `evsim.engine.stepped` run on them as
they are) and, of every synapse row, the synapses whose target it owns: ``rp[k, row] : rp[k, row + 1]`` of
``targets``, ``weights``, ``delays`` (the network's rows split by owner, each part in the row's order). Its own
ring ``acc``/``tl_n`` and neuron state are full-size arrays of which it touches only its neurons.

Order (what keeps the sums bit for bit those of the one-thread loop): a target's input of a ring slot is summed in
the order the one-thread loop adds it: by sending step, and within a step in its batch order (external events,
then each population's spikes in ``order``; projection by projection; sources in neuron order; a row's synapses
in their order). Every thread delivers every batch (restricted to its targets) in that order: the spikes of steps
``t0 - d_blk .. t0 - 1`` (all threads', from the shared ``spk``) at the block start, the Poisson events of a step
(drawn one block ahead, shared ``pc``) at that step. That is the one-thread order as long as the spikes arrive
``>= d_blk`` steps after they are sent, plus the external delay (`evsim.engine.partitioned.block_steps`).
The steps at which a quiet population is stepped (``tl_n``) are those of the one-thread loop: the span of a batch's
delays is taken over the whole rows (``rfirst``/``rlast``; near the end, over every thread's part of the rows).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, njit_inline
from .gap import _catch_up
from .poisson import GUIDE, _uniform
from .record import _grown
from .stepped import _step_plain


@njit_inline
def _row(row: int, val: float, t: int, T: int, checked: bool, toff: int, k: int, mask: int, N: int, syn: tuple,
         acc: np.ndarray, wtab: np.ndarray | None) -> int:  # fmt: skip
    """One event (source row ``row``, value ``val``, sent at ``t``) along thread ``k``'s part of the row; returns
    the synapses used. ``wtab``: the distinct weights, the split ``weights`` their codes (or None: the weights)."""
    rp, targets, weights, delays, _, _ = syn
    e0, e1 = rp[k, row], rp[k, row + 1]
    if checked:  # near the end: the synapses arriving in time (rows are sorted by delay)
        while e1 > e0 and t + delays[e1 - 1] >= T:
            e1 -= 1
    for j in range(e1 - e0):  # (unsigned indices: no negative-index tests, as `evsim.engine.deliver._send`)
        e = np.uint64(e0 + j)
        w = weights[e] if wtab is None else wtab[np.uint64(weights[e])]
        acc[np.uint64(((t + delays[e]) & mask) * N + toff + targets[e])] += w * val
    return e1 - e0


@njit_inline
def _span(row: int, t: int, T: int, checked: bool, syn: tuple) -> tuple:
    """The span of delays of the whole row (every thread's part) that arrive before ``T`` (empty: ``T, -1``):
    what the one-thread loop marks as due for the target population."""
    rp, _, _, delays, rfirst, rlast = syn
    if not checked:
        return rfirst[row], rlast[row]
    d_lo, d_hi = T, -1
    for j in range(rp.shape[0]):
        a, b = rp[j, row], rp[j, row + 1]
        while b > a and t + delays[b - 1] >= T:
            b -= 1
        if b > a:
            d_lo = min(d_lo, int(delays[a]))
            d_hi = max(d_hi, int(delays[b - 1]))
    return d_lo, d_hi


@njit_inline
def _mark(t: int, d_lo: int, d_hi: int, p2: int, P2: int, mask: int, tl_n: np.ndarray) -> None:
    """Sub-population ``p2`` has something due at steps ``t + d_lo .. t + d_hi``."""
    for td in range(t + d_lo, t + d_hi + 1):
        tl_n[(td & mask) * P2 + p2] = 1


@njit
def run_block(k: int, t0: int, t1: int, t_end: int, tb: int, T: int, net: tuple, syn: tuple, own: tuple, rec: tuple,
              shared: tuple, each2: np.ndarray | None, uniform2: np.ndarray | None,
              wtab: np.ndarray | None) -> tuple:  # fmt: skip
    """Thread ``k``: deliver every thread's spikes of the ``d_blk`` steps before ``t0``, draw its share of the
    Poisson counts of the block after this one, run steps ``t0 .. t1 - 1`` of its neurons. ``rec``: its spike
    record (returned, grown if needed); ``own[-1]``: ``[spikes recorded, neuron updates]``. ``each2``,
    ``uniform2``: the plain kinds of the sub-populations, or None; ``wtab``: the distinct weights when the split
    weights are their codes, else None (arguments, not in ``net``: Numba prunes the branches for an argument that
    is None, not for a tuple's item)."""
    # fmt: off
    (N, P, nt, d_blk, R, mask, pop_off, pop_off2, bounds, order, is_input, always, out_ptr, out_proj, ip_off, tgt_pop,
     q_maxd, ge, prm, prmc, refractory, keep_i2, rec_mode2, user_of, pois) = net
    # fmt: on
    poisson, pm_off, pm_share, pcdf, pcdf_off, pguide, rng0, M, psrc, psrc_off, q_mind = pois
    acc, tl_n, i, v, t_last, ref_until, pending, fired, sb_n, sb_v, cnt, sops, ctr = own
    rec_t, rec_n, rec_c = rec
    spk, spk_cnt, pc = shared
    P2 = P * nt
    fired_w = fired.view(np.uint64)
    n_spk, n_updates = ctr[0], ctr[1]
    # 1. every thread's spikes of the previous block, step by step, population by population (one batch each)
    for tt in range(max(tb, t0 - d_blk), t0):
        r = tt % R
        for oi in range(P):
            p = order[oi]
            if is_input[p]:
                continue
            for qi in range(out_ptr[p], out_ptr[p + 1]):
                q = out_proj[qi]
                tp = tgt_pop[q]
                toff = pop_off[tp]
                row0 = ip_off[q] - pop_off[p]
                checked = tt + q_maxd[q] >= T
                used = 0
                d_lo, d_hi = T, -1
                for j in range(nt):
                    lo = bounds[p, j]
                    for x in range(lo, lo + spk_cnt[r, p, j]):
                        row = row0 + spk[r, x]  # (`fits`: the engine's order of the neurons is the network's)
                        used += _row(row, 1.0, tt, T, checked, toff, k, mask, N, syn, acc, wtab)
                        a, b = _span(row, tt, T, checked, syn)
                        d_lo, d_hi = min(d_lo, a), max(d_hi, b)
                _mark(tt, d_lo, d_hi, tp * nt + k, P2, mask, tl_n)
                sops[q] += used
    # 2. this thread's share of the Poisson counts of the next block (SplitMix64 jumps ahead: draw number d of
    # the sample is the state rng0 + d * golden, as `evsim.engine.poisson._draw_poisson` draws them one by one)
    for t in range(t1, min(t1 + d_blk, t_end) if M > 0 else t1):
        r = t % R
        for p in range(P):
            lo_c, hi_c = pcdf_off[p], pcdf_off[p + 1]
            for m in range(max(pm_off[p], pm_share[k]), min(pm_off[p + 1], pm_share[k + 1])):
                _, uu = _uniform(rng0 + np.uint64((t - tb) * M + m) * np.uint64(0x9E3779B97F4A7C15))
                c = pguide[p * GUIDE + int(uu * GUIDE)]
                while lo_c + c < hi_c and uu > pcdf[lo_c + c]:
                    c += 1
                pc[r, m] = c
    # 3. the steps
    for t in range(t0, t1):
        s = t & mask
        r = t % R
        for p in range(P if M > 0 else 0):  # the Poisson events of step t (the external batch)
            if poisson[p] <= 0.0:
                continue
            for qi in range(out_ptr[p], out_ptr[p + 1]):
                q = out_proj[qi]
                tp = tgt_pop[q]
                toff = pop_off[tp]
                row0 = ip_off[q]  # (sources by local index)
                checked = t + q_maxd[q] >= T
                used = 0
                for x in range(psrc_off[q, k], psrc_off[q, k + 1]):  # the sources with synapses into thread k
                    c = pc[r, pm_off[p] + psrc[x]]
                    if c > 0:
                        used += _row(row0 + psrc[x], float(c), t, T, checked, toff, k, mask, N, syn, acc, wtab)
                d_lo, d_hi = T, -1
                for jn in range(pm_off[p + 1] - pm_off[p]):  # the span over every source that fired: done
                    if pc[r, pm_off[p] + jn] > 0:  # when it reaches the projection's delays
                        a, b = _span(row0 + jn, t, T, checked, syn)
                        d_lo, d_hi = min(d_lo, a), max(d_hi, b)
                        if d_lo <= q_mind[q] and d_hi >= q_maxd[q]:
                            break
                _mark(t, d_lo, d_hi, tp * nt + k, P2, mask, tl_n)
                sops[q] += used
        for oi in range(P):
            p = order[oi]
            if is_input[p]:
                continue
            p2 = p * nt + k
            spk_cnt[r, p, k] = 0
            sp = s * P2 + p2
            if tl_n[sp] == 0 and not always[p]:
                continue
            tl_n[sp] = 0
            lo, hi = pop_off2[p2], pop_off2[p2 + 1]
            if hi == lo:  # (a population smaller than the number of threads)
                continue
            if n_spk + hi - lo > rec_t.shape[0]:
                rec_t, rec_n, rec_c = _grown(rec_t, rec_n, rec_c, n_spk + hi - lo)
            _catch_up(p2, t, pop_off2, t_last, ref_until, prm, i, v)
            t_last[lo] = t
            m, n_spk, n_updates, hot = _step_plain(p2, t, s, N, pop_off2, keep_i2, each2, uniform2, None, ge[p],
                                                   False, acc, i, v, ref_until, pending, refractory, prmc, fired,
                                                   fired_w, sb_n, sb_v, rec_mode2, rec_t, rec_n, rec_c, cnt, user_of,
                                                   n_spk, n_updates)  # fmt: skip
            if hot and t + 1 < T:  # (not for the populations `evsim.engine.partitioned` takes: see `fits`)
                tl_n[((t + 1) & mask) * P2 + p2] = 1
            for j in range(m):
                spk[r, bounds[p, k] + j] = sb_n[j]
            spk_cnt[r, p, k] = m
    ctr[0], ctr[1] = n_spk, n_updates
    return rec_t, rec_n, rec_c
