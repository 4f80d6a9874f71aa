"""The event loop in exact (continuous) time, compiled with Numba, built from four named stages: the general loop,
for networks with a delay below the grid step ``h`` (the others run `evsim.engine.exact_steps`; both bring neurons
forward and predict their crossings with `evsim.engine.exact_neuron`).

Times are ``(step, off)`` pairs on the calendar of `evsim.engine.queue` (its docstring states the invariants and
the tie rule). The loop (`run_exact`) opens one step after the other (skipping empty ones) and pops its events in
time order; each popped event goes to one stage:

* **deliver** (`_deliver`): a spike (or an input event) walks the network's CSR rows (`evsim.engine.CompiledNetwork`
  layout: the same packed ``targets``/``weights`` arrays the discrete loop reads, rows sorted by delay) and
  schedules one arrival per synapse at ``spike time + delay``; the rest of a row past the end of the run is cut off;
* **integrate** (`_receive`): the simultaneous arrivals at one neuron, summed; the neuron is brought to the arrival
  time in closed form (`evsim.exact.dynamics.evolve`; refractory periods respected), the input applied, and with
  delta synapses the threshold tested;
* **fire** (`_fire`): a spike at an exact time: recorded, the neuron reset and made refractory, the spike delivered;
* **predict** (`_predict`): after every change of a neuron's state, the time its input-free trajectory reaches the
  threshold (`evsim.exact.dynamics.first_crossing`) is scheduled as a wake; a later input supersedes it (the wake's
  seq no longer matches and it is ignored when popped). An arrival that finds its neuron's prediction due at or
  before it fires the neuron there first.

The per-neuron state ``sf``, ``si`` and coefficients ``prm`` are laid out in `evsim.engine.exact_neuron`.
"""

from __future__ import annotations


import numpy as np

from .._jit import njit, njit_inline
from ..control import halted
from ..exact.dynamics import evolve
from .exact_deliver import EXACT_POLL
from .exact_neuron import (
    B,
    C,
    CUR,
    FIRED,
    I_INF,
    JUMP_I,
    JUMP_V,
    LAM,
    NEVER,
    R_OFF,
    R_STEP,
    REF_OFF,
    T_OFF,
    T_STEP,
    V,
    V_RESET,
    V_TH,
    W_OFF,
    W_SEQ,
    W_STEP,
    _bring,
    _lt,
    predict,
)
from .queue import (
    ARRIVE,
    BSIZE,
    FSIZE,
    NFREE,
    NRING,
    Q_KIND,
    Q_OFF,
    Q_SEQ,
    Q_TGT,
    Q_W,
    WAKE,
    bucket_pop,
    grown_pool,
    open_step,
    schedule,
)
from .record import grown

# counters beyond the queue's (`evsim.engine.queue`: 0..4)
N_SPK, N_UPD = 5, 6


@njit
def _predict(
    n: int, end_s: int, end_o: float, h: float, sf: np.ndarray, si: np.ndarray, prm: np.ndarray, Q: tuple, cur: int
) -> None:
    """`predict`, scheduled as a wake (superseding any earlier one)."""
    predict(n, end_s, end_o, h, sf, si, prm)
    if si[n, W_STEP] != NEVER:
        qi, qf, free, head, hb, fheap, cnt = Q
        si[n, W_SEQ] = schedule(qi, qf, free, head, hb[0], hb[1], hb[2], fheap, cnt, cur, si[n, W_STEP],
                                sf[n, W_OFF], n, 0.0, WAKE)  # fmt: skip


@njit_inline
def _deliver(
    n: int,
    s: int,
    o: float,
    val: float,
    end_s: int,
    end_o: float,
    h: float,
    pop_of: np.ndarray,
    pop_off: np.ndarray,
    out_ptr: np.ndarray,
    out_proj: np.ndarray,
    ip_off: np.ndarray,
    tgt_pop: np.ndarray,
    rowptr: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    dk: np.ndarray,
    doff: np.ndarray,
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
    sops: np.ndarray,
) -> None:
    """Schedule the arrivals of neuron ``n``'s event at ``(s, o)`` (value ``val``) along every outgoing synapse.
    Inlined where it is used, with the arrays one by one: taking them out of tuples, or passing them to a real
    call, costs reference counting on every event (measured: ~100 ns an input event)."""
    p = pop_of[n]
    for k in range(out_ptr[p], out_ptr[p + 1]):
        q = out_proj[k]
        toff = pop_off[tgt_pop[q]]
        row = ip_off[q] + n - pop_off[p]
        used = 0
        for e in range(rowptr[row], rowptr[row + 1]):
            s2 = s + dk[e]
            o2 = o + doff[e]
            if o2 >= h:
                o2 -= h
                s2 += 1
            if s2 > end_s or (s2 == end_s and o2 >= end_o):
                break  # rows are sorted by delay: the rest arrive later still
            schedule(qi, qf, free, head, hev, hoff, htie, fheap, cnt, cur, s2, o2, toff + targets[e],
                     weights[e] * val, ARRIVE)  # fmt: skip
            used += 1
        sops[q] += used


@njit
def _fire(
    n: int,
    s: int,
    o: float,
    end_s: int,
    end_o: float,
    h: float,
    sf: np.ndarray,
    si: np.ndarray,
    prm: np.ndarray,
    ref_k: np.ndarray,
    once: np.ndarray,
    net: tuple,
    Q: tuple,
    cur: int,
    sops: np.ndarray,
    rec: tuple,
) -> None:
    """Neuron ``n`` spikes at ``(s, o)``: record (or count), reset, refractory period, deliver, predict the next
    crossing."""
    rec_s, rec_o, rec_n, rec_mode, counts = rec
    cnt = Q[6]
    mode = rec_mode[net[0][n]]
    if mode == 2:
        m = cnt[N_SPK]
        rec_s[m], rec_o[m], rec_n[m] = s, o, n
        cnt[N_SPK] = m + 1
    elif mode == 1:
        counts[n] += 1
    _bring(n, s, o, h, sf, si, prm)
    sf[n, V] = prm[n, V_RESET]
    si[n, FIRED] += 1
    if once[n]:
        si[n, R_STEP], sf[n, R_OFF] = NEVER, 0.0
    else:
        rs = s + ref_k[n]
        ro = o + prm[n, REF_OFF]
        if ro >= h:
            ro -= h
            rs += 1
        si[n, R_STEP], sf[n, R_OFF] = rs, ro
    pop_of, pop_off, out_ptr, out_proj, ip_off, tgt_pop, rowptr, targets, weights, dk, doff = net
    qi, qf, free, head, hb, fheap, cnt = Q
    hev, hoff, htie = hb
    _deliver(n, s, o, 1.0, end_s, end_o, h, pop_of, pop_off, out_ptr, out_proj, ip_off, tgt_pop, rowptr, targets,
             weights, dk, doff, qi, qf, free, head, hev, hoff, htie, fheap, cnt, cur, sops)  # fmt: skip
    _predict(n, end_s, end_o, h, sf, si, prm, Q, cur)


@njit_inline
def _receive(
    n: int,
    s: int,
    o: float,
    x: float,
    end_s: int,
    end_o: float,
    h: float,
    sf: np.ndarray,
    si: np.ndarray,
    prm: np.ndarray,
    ref_k: np.ndarray,
    once: np.ndarray,
    delta: np.ndarray,
    quiet: np.ndarray,
    net: tuple,
    Q: tuple,
    cur: int,
    sops: np.ndarray,
    rec: tuple,
) -> None:
    """Summed input ``x`` reaches neuron ``n`` at ``(s, o)``. (Inlined into the loop: a call passing the state
    arrays costs more than the update itself.) ``quiet[n]``: delta synapses and a resting drive below threshold,
    so the neuron can cross only at an input and needs no prediction."""
    Q[6][N_UPD] += 1
    if si[n, W_STEP] != NEVER and not _lt(s, o, si[n, W_STEP], sf[n, W_OFF]):
        _fire(n, si[n, W_STEP], sf[n, W_OFF], end_s, end_o, h, sf, si, prm, ref_k, once, net, Q, cur, sops, rec)
    refractory = _lt(s, o, si[n, R_STEP], sf[n, R_OFF])
    if refractory and delta[n]:
        return  # delta synapses: input during the refractory period is discarded
    _bring(n, s, o, h, sf, si, prm)
    if delta[n]:
        sf[n, V] += prm[n, JUMP_V] * x
        if sf[n, V] >= prm[n, V_TH]:
            _fire(n, s, o, end_s, end_o, h, sf, si, prm, ref_k, once, net, Q, cur, sops, rec)
            return
    else:
        sf[n, CUR] += prm[n, JUMP_I] * x  # (while refractory too: the current integrates, v is held)
    if not quiet[n]:
        _predict(n, end_s, end_o, h, sf, si, prm, Q, cur)


@njit
def _ring(D: int) -> np.ndarray:
    r = np.zeros((D, 2), dtype=np.int64)
    r[:, 0] = -1
    return r


@njit
def _first(h0: bool, off0: float, tie0: int, h1: bool, off1: float, tie1: int, h2: bool, off2: float, tie2: int) -> int:
    """Which of three sources holds the least head by (off, tie): 0 the step's sorted events, 1 the input stream
    (tie: input neuron, then stream order), 2 the bucket heap; -1 none. (Scalars only: no reference counting.)"""
    src = -1
    off = np.inf
    tie = 0
    if h0:
        src, off, tie = 0, off0, tie0
    if h1 and (src < 0 or off1 < off or (off1 == off and tie1 < tie)):
        src, off, tie = 1, off1, tie1
    if h2 and (src < 0 or off2 < off or (off2 == off and tie2 < tie)):
        src = 2
    return src


@njit
def _room(Q: tuple, rec: tuple, need_ev: int, need_spk: int) -> tuple:
    """Grow the event pool and the spike record, outside the stages, so that they never reallocate."""
    qi, qf, free, head, hb, fheap, cnt = Q
    if cnt[NFREE] < need_ev:
        qi, qf, free, hb, fheap = grown_pool(qi, qf, free, hb, fheap, cnt, need_ev)
    rec_s, rec_o, rec_n, rec_mode, counts = rec
    need = cnt[N_SPK] + need_spk
    if need > rec_s.shape[0]:
        rec_s, rec_o, rec_n = grown(rec_s, need), grown(rec_o, need), grown(rec_n, need)
    return (qi, qf, free, head, hb, fheap, cnt), (rec_s, rec_o, rec_n, rec_mode, counts)


@njit
def run_exact(
    end_s: int,
    end_o: float,
    h: float,
    D: int,
    N: int,
    pop_off: np.ndarray,
    is_input_n: np.ndarray,
    out_ptr: np.ndarray,
    out_proj: np.ndarray,
    ip_off: np.ndarray,
    tgt_pop: np.ndarray,
    rowptr: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    dk: np.ndarray,
    doff: np.ndarray,
    max_out: int,
    prm: np.ndarray,
    ref_k: np.ndarray,
    once: np.ndarray,
    delta: np.ndarray,
    v0: np.ndarray,
    ev_s: np.ndarray,
    ev_o: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    ctl: np.ndarray,
    rec_mode: np.ndarray,
    counts: np.ndarray,
):
    """Run one sample over ``[0, end)`` (``end = (end_s, end_o)``); returns spikes (step, offset, neuron), final
    ``v`` and ``I`` (at ``end``), updates and synaptic operations per projection.

    Run control as in the discrete loop (`evsim.engine.loop.run_discrete`, `evsim.control`): ``ctl`` is ``[stop,
    max_events, max_spikes, steps_done]``, polled (`evsim.control.halted`) before each grid step that holds
    events and every `EXACT_POLL` events inside one; ``steps_done`` receives ``end_s + 1`` when the run
    finished, else the step it stopped in. ``rec_mode[p]``: 2 records each spike of population ``p``, 1 only adds
    it to ``counts[n]``, 0 neither."""
    P = pop_off.shape[0] - 1
    pop_of = np.empty(N, dtype=np.int64)
    for p in range(P):
        pop_of[pop_off[p] : pop_off[p + 1]] = p
    net = (pop_of, pop_off, out_ptr, out_proj, ip_off, tgt_pop, rowptr, targets, weights, dk, doff)
    cap = 1024
    cnt = np.zeros(8, dtype=np.int64)
    cnt[NFREE] = cap
    free = np.arange(cap - 1, -1, -1).astype(np.int64)
    hb = (np.empty(cap, np.int64), np.empty(cap), np.empty(cap, np.int64))
    Q = (np.zeros((cap, 5), np.int64), np.zeros((cap, 2)), free, _ring(D), hb,
         np.empty(cap, np.int64), cnt)  # fmt: skip
    rec = (np.empty(1024, np.int64), np.empty(1024), np.empty(1024, np.int64), rec_mode, counts)
    sops = np.zeros(ip_off.shape[0], dtype=np.int64)
    sf = np.zeros((N, 5))
    si = np.zeros((N, 5), dtype=np.int64)
    sf[:, V] = v0
    si[:, R_STEP] = -1
    si[:, W_STEP] = NEVER
    si[:, W_SEQ] = -1
    need = 2 * max_out + 4
    quiet = np.zeros(N, dtype=np.bool_)
    for n in range(N):
        lam, be = prm[n, LAM], prm[n, B] + prm[n, C] * prm[n, I_INF]
        rest = be / lam if lam > 0.0 else (np.inf if be > 0.0 else -np.inf)
        quiet[n] = delta[n] and rest < prm[n, V_TH] and prm[n, V_RESET] < prm[n, V_TH]
    # neurons at or above threshold at t = 0 fire then (NEST: at the start of the first step); the others predict
    for n in range(N):
        if is_input_n[n]:
            continue
        Q, rec = _room(Q, rec, need, 2)
        if sf[n, V] >= prm[n, V_TH]:
            _fire(n, 0, 0.0, end_s, end_o, h, sf, si, prm, ref_k, once, net, Q, 0, sops, rec)
        else:
            _predict(n, end_s, end_o, h, sf, si, prm, Q, 0)
    ie = 0
    n_ev = ev_s.shape[0]
    cur = 0
    buf = (np.empty(1024, np.int64), np.empty(1024), np.empty(1024, np.int64), np.empty(1024), np.empty(1024, np.int64))
    stopped = False
    polls = 0
    while cur <= end_s:
        if halted(ctl, sops, Q[6][N_SPK]):
            stopped = True
            break
        qi, qf, free, head, hb, fheap, cnt = Q
        k, buf = open_step(qi, qf, head, fheap, cnt, cur, buf)
        bev, boff, btie, bw, bkind = buf
        hev, hoff, htie = hb
        rec_cap = rec[0].shape[0]
        pb = 0
        # --- pop: the events of step `cur` in (offset, target, seq) order, from three sorted sources: the step's
        # sorted events (buf), the input stream, the bucket heap (events made during the step for the step)
        while True:
            src = _first(
                    pb < k, boff[min(pb, k - 1)] if k > 0 else 0.0, btie[min(pb, k - 1)] if k > 0 else 0,
                    ie < n_ev and ev_s[min(ie, n_ev - 1)] == cur, ev_o[min(ie, n_ev - 1)] if n_ev > 0 else 0.0,
                    ((ev_n[min(ie, n_ev - 1)] << 32) | (ie & 0xFFFFFFFF)) if n_ev > 0 else 0,
                    cnt[BSIZE] > 0, hoff[0], htie[0],
                )  # fmt: skip
            if src < 0:
                break
            polls += 1
            if polls >= EXACT_POLL:  # (a bounded response inside a long step)
                polls = 0
                if halted(ctl, sops, cnt[N_SPK]):
                    stopped = True
                    break
            if cnt[NFREE] < need or cnt[N_SPK] + 2 > rec_cap:  # room made here, outside the stages
                Q, rec = _room(Q, rec, need, 2)
                qi, qf, free, head, hb, fheap, cnt = Q
                hev, hoff, htie = hb
                rec_cap = rec[0].shape[0]
            if src == 1:  # an input event: sent along its synapses
                n, o, x = ev_n[ie], ev_o[ie], ev_val[ie]
                ie += 1
                if not (cur == end_s and o >= end_o):
                    _deliver(n, cur, o, x, end_s, end_o, h, pop_of, pop_off, out_ptr, out_proj, ip_off, tgt_pop,
                             rowptr, targets, weights, dk, doff, qi, qf, free, head, hev, hoff, htie, fheap, cnt,
                             cur, sops)  # fmt: skip
                continue
            if src == 0:  # (read in order from the step's arrays)
                e = bev[pb]
                o, n, kind, x = boff[pb], btie[pb] >> 32, bkind[pb], bw[pb]
                pb += 1
            else:
                e = hev[0]
                cnt[BSIZE] = bucket_pop(hev, hoff, htie, cnt[BSIZE])
                o, n, kind, x = qf[e, Q_OFF], qi[e, Q_TGT], qi[e, Q_KIND], qf[e, Q_W]
            seq = qi[e, Q_SEQ] if kind == WAKE else 0
            free[cnt[NFREE]] = e
            cnt[NFREE] += 1
            if cur == end_s and o >= end_o:
                continue  # at or after the end of the run
            if kind == WAKE:
                if seq == si[n, W_SEQ]:
                    _fire(n, cur, o, end_s, end_o, h, sf, si, prm, ref_k, once, net, Q, cur, sops, rec)
                continue
            # simultaneous arrivals at one neuron are adjacent (ties by target): summed, one input
            while True:
                src = _first(
                    pb < k, boff[min(pb, k - 1)] if k > 0 else 0.0, btie[min(pb, k - 1)] if k > 0 else 0,
                    ie < n_ev and ev_s[min(ie, n_ev - 1)] == cur, ev_o[min(ie, n_ev - 1)] if n_ev > 0 else 0.0,
                    ((ev_n[min(ie, n_ev - 1)] << 32) | (ie & 0xFFFFFFFF)) if n_ev > 0 else 0,
                    cnt[BSIZE] > 0, hoff[0], htie[0],
                )  # fmt: skip
                if src == 0:
                    if bkind[pb] != ARRIVE or btie[pb] >> 32 != n or boff[pb] != o:
                        break
                    e2 = bev[pb]
                    x += bw[pb]
                    pb += 1
                elif src == 2:
                    e2 = hev[0]
                    if qi[e2, Q_KIND] != ARRIVE or qi[e2, Q_TGT] != n or qf[e2, Q_OFF] != o:
                        break
                    cnt[BSIZE] = bucket_pop(hev, hoff, htie, cnt[BSIZE])
                    x += qf[e2, Q_W]
                else:
                    break
                free[cnt[NFREE]] = e2
                cnt[NFREE] += 1
            if quiet[n]:  # the common case written out here (no call, no array passed: ~2x faster per arrival):
                # delta synapses, no prediction; the same steps as `_receive`
                cnt[N_UPD] += 1
                rs, ro = si[n, R_STEP], sf[n, R_OFF]
                if _lt(cur, o, rs, ro):
                    continue  # refractory: the input is discarded
                ts, to = si[n, T_STEP], sf[n, T_OFF]
                v = sf[n, V]
                if _lt(ts, to, rs, ro):  # the refractory period ended since the last update
                    v = prm[n, V_RESET]
                    ts, to = rs, ro
                v = evolve(v, 0.0, (cur - ts) * h + (o - to), prm[n, LAM], 0.0, prm[n, B], 0.0, 0.0)[0]
                v += prm[n, JUMP_V] * x
                sf[n, V] = v
                si[n, T_STEP], sf[n, T_OFF] = cur, o
                if v >= prm[n, V_TH]:
                    _fire(n, cur, o, end_s, end_o, h, sf, si, prm, ref_k, once, net, Q, cur, sops, rec)
                continue
            _receive(n, cur, o, x, end_s, end_o, h, sf, si, prm, ref_k, once, delta, quiet, net, Q, cur, sops, rec)
        if stopped:
            break
        # --- next step with something due (skipping empty ones)
        if cnt[NRING] > 0:
            cur += 1
        else:
            nxt = NEVER
            if ie < n_ev:
                nxt = ev_s[ie]
            if cnt[FSIZE] > 0:
                nxt = min(nxt, Q[0][Q[5][0], 0])
            cur = max(cur + 1, nxt)
    ctl[3] = cur if stopped else end_s + 1
    for n in range(0 if stopped else N):  # every neuron to the end of the run, for the final state
        if not is_input_n[n]:
            _bring(n, end_s, end_o, h, sf, si, prm)
    cnt = Q[6]
    m = cnt[N_SPK]
    return rec[0][:m].copy(), rec[1][:m].copy(), rec[2][:m].copy(), sf[:, V].copy(), sf[:, CUR].copy(), cnt[N_UPD], sops
