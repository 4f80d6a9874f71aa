"""The exact-time event loop, step by step (NEST's precise-spike scheme), for networks whose delays are all at least
one grid step ``h``: the engine `evsim.engine.exact_compile.run_sample_exact` uses for them (`run_exact` of
`evsim.engine.exact` serves the others: sub-step delays need a global event order inside a step).

With every delay ``>= h``, all arrivals due in step ``s`` are known when ``s`` opens, and neurons do not act on one
another inside a step (Morrison et al. 2007). So a step (`run_exact_steps`) is:

1. **open** the step's bucket of the arrival calendar (`evsim.engine.queue`: chunked, append-only), the input
   events whose arrivals are due in it when they skip the calendar, and the wakes due (`evsim.engine.exact_open`);
   group the arrivals by target neuron (a counting sort, stable: arrival order kept);
2. **integrate** each neuron that has arrivals or a wake: its arrivals in time order (a tiny insertion sort per
   neuron; for a quiet neuron only of the bucket's, merged with its input arrivals, in order already, as they are
   integrated), simultaneous ones summed, the state advanced in closed form between them (`evsim.engine.exact._bring`,
   `evsim.exact.dynamics.evolve`); with delta synapses the threshold tested at each input; a neuron that can cross
   between inputs fires at its predicted crossing (`evsim.engine.exact.predict`, computed only when the bound
   `evsim.exact.dynamics.may_cross` does not rule it out) before any later input. Delta-synapse neurons that
   cannot cross on their own (the common case) take a short path with no prediction at all;
3. **fire**: the step's spikes, kept at their exact offsets, are sorted by (offset, neuron), recorded, then
   **delivered** together with the step's input events, merged in that order (`evsim.engine.exact_deliver` walks
   the CSR rows of `evsim.engine.CompiledNetwork`'s packed arrays, sorted by delay, straight into later buckets);
4. the **next step** is the first one holding arrivals, an input event or a wake.

A neuron whose input-free trajectory crosses the threshold after the step (tonic firing, a current still charging)
is woken at that step through the wake heap (`evsim.engine.queue.pair_push`); ``reg[n]`` remembers the step of its
newest heap entry, and an entry is acted on only if it is still the neuron's prediction.

Run control: `evsim.control.halted` is polled when each step opens and every `EXACT_POLL` events (arrivals
integrated, synapses delivered) inside one, so Ctrl-C and budgets take effect within a bounded amount of work. A
run stopped while neurons were integrated reports the step as not done, and its spikes are not recorded.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import njit, njit_inline
from ..control import halted
from ..exact.expm1 import expm1
from .exact_neuron import (
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
    B,
    grid_point,
    _bring,
    _lt,
    predict,
)
from .exact_deliver import (
    EXACT_POLL,
    IE,
    J_,
    K_,
    NSP,
    OK,
    ROOM,
    SINCE,
    STATUS,
    STOP,
    UPD,
    WSZ,
    _deliver_step,
    _rows_by_neuron,
    delay_runs,
)
from .exact_open import _arrival, count_step, direct_rows, fill_step, input_end
from .borrow import borrow as b
from .queue import CHUNK, CRING, calendar, grown_calendar, pair_push


@njit_inline
def _spike(n: int, s: int, o: float, h: float, sf: np.ndarray, si: np.ndarray, prm: np.ndarray, ref_k: np.ndarray,
           once: np.ndarray) -> None:  # fmt: skip
    """Neuron ``n`` fires at ``(s, o)``: brought there, reset, made refractory (for ever if it fires once)."""
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


@njit
def _merge_sort(so: np.ndarray, sw: np.ndarray, a0: int, a1: int) -> None:
    """Sort one neuron's arrivals ``[a0, a1)`` by offset, stably (equal offsets keep their arrival order)."""
    order = np.argsort(so[a0:a1], kind="mergesort")
    so[a0:a1] = so[a0:a1][order]
    sw[a0:a1] = sw[a0:a1][order]


@njit
def _sort_spikes(sp_o: np.ndarray, sp_n: np.ndarray, m: int) -> None:
    """Order the step's ``m`` spikes by (offset, neuron)."""
    if m > 32:
        by_n = np.argsort(sp_n[:m], kind="mergesort")
        o, nn = sp_o[:m][by_n], sp_n[:m][by_n]
        order = np.argsort(o, kind="mergesort")
        sp_o[:m], sp_n[:m] = o[order], nn[order]
        return
    for j in range(1, m):
        o, n = sp_o[j], sp_n[j]
        r = j - 1
        while r >= 0 and (sp_o[r] > o or (sp_o[r] == o and sp_n[r] > n)):
            sp_o[r + 1], sp_n[r + 1] = sp_o[r], sp_n[r]
            r -= 1
        sp_o[r + 1], sp_n[r + 1] = o, n


@njit
def _grown(a: np.ndarray, need: int) -> np.ndarray:
    b = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    b[: a.shape[0]] = a
    return b


# The three stages of a step are separate functions that never reallocate: an array rebound inside a hot loop makes
# Numba count references on every use (measured: 3x slower delivery). They stop and report when they need room
# (``st[STATUS] = ROOM``), the driver (`run_exact_steps`) grows the arrays and calls again: each resumes where it
# stopped. ``st`` holds their cursors and counters.


@njit
def _integrate(cur: int, nt: int, touched: np.ndarray, start: np.ndarray, cntn: np.ndarray, so: np.ndarray,
               sw: np.ndarray, mid: np.ndarray, sp_o: np.ndarray, sp_n: np.ndarray, quiet: np.ndarray,
               v_inf: np.ndarray, delta: np.ndarray, prm: np.ndarray, ref_k: np.ndarray, once: np.ndarray,
               sf: np.ndarray, si: np.ndarray, h: float, end_s: int, end_o: float, wh_s: np.ndarray,
               wh_n: np.ndarray, reg: np.ndarray, ctl: np.ndarray, sops: np.ndarray, nrec: int,
               st: np.ndarray) -> None:  # fmt: skip
    """Integrate the touched neurons ``st[K_]..nt - 1`` of step ``cur``, each through its arrivals in time order
    (from arrival ``st[J_]`` for the first); spikes go to ``sp_o, sp_n`` (``st[NSP]`` of them). Stops with ROOM
    when the spike buffer or the wake heap is full, with STOP when the run control says so."""
    nsp, wsz, upd, since = st[NSP], st[WSZ], st[UPD], st[SINCE]
    cap = sp_o.shape[0]
    st[STATUS] = OK
    k = st[K_]
    j = st[J_]
    while k < nt:
        n = touched[k]
        a0, a1 = start[n], cntn[n]
        if j < 0:  # a neuron not yet begun: its arrivals by offset, stably (an insertion sort written out here, a
            # merge sort for long runs). A quiet neuron's input arrivals ``[mid[n], a1)`` are in order already: only
            # the bucket's are sorted, and the two merged as they are integrated
            z = mid[n] if quiet[n] else a1
            if z - a0 > 64:
                _merge_sort(so, sw, a0, z)
            else:
                for jj in range(a0 + 1, z):
                    o, w = so[jj], sw[jj]
                    r = jj - 1
                    while r >= a0 and so[r] > o:
                        so[r + 1], sw[r + 1] = so[r], sw[r]
                        r -= 1
                    so[r + 1], sw[r + 1] = o, w
            j = a0
        if nsp + (a1 - j) + 2 > cap or wsz == wh_s.shape[0]:
            st[STATUS] = ROOM
            break
        if quiet[n]:  # the common case: no prediction; the state in locals (the same steps as `_bring`, `_spike`)
            th, jv, vr, lam, bb = prm[n, V_TH], prm[n, JUMP_V], prm[n, V_RESET], prm[n, LAM], prm[n, B]
            vinf = v_inf[n]
            v, ts, to, rs, ro = sf[n, V], si[n, T_STEP], sf[n, T_OFF], si[n, R_STEP], sf[n, R_OFF]
            jm = i2 = mid[n]  # the bucket's arrivals [j, jm), the input arrivals [i2, a1): the least offset first,
            # the bucket's first at equal offsets (they were sent first); simultaneous arrivals are one input, summed
            # in that order
            while j < jm or i2 < a1:
                if i2 >= a1 or (j < jm and so[j] <= so[i2]):
                    o = so[j]
                    x = sw[j]
                    j += 1
                    while j < jm and so[j] == o:
                        x += sw[j]
                        j += 1
                else:
                    o = so[i2]
                    x = sw[i2]
                    i2 += 1
                while i2 < a1 and so[i2] == o:
                    x += sw[i2]
                    i2 += 1
                upd += 1
                if _lt(cur, o, rs, ro):
                    continue  # refractory: the input is discarded
                if _lt(ts, to, rs, ro):  # the refractory period ended since the last update
                    v = vr
                    ts, to = rs, ro
                dt = (cur - ts) * h + (o - to)
                if dt > 0.0:  # `evolve` with no current, written out
                    v = v + (v - vinf) * expm1(-lam * dt) if lam > 0.0 else v + bb * dt
                v += jv * x
                ts, to = cur, o
                if v >= th:  # fire: reset, refractory period (for ever if it fires once)
                    v = vr
                    si[n, FIRED] += 1
                    if once[n]:
                        rs, ro = NEVER, 0.0
                    else:
                        rs, ro = cur + ref_k[n], o + prm[n, REF_OFF]
                        if ro >= h:
                            ro -= h
                            rs += 1
                    sp_o[nsp], sp_n[nsp] = o, n
                    nsp += 1
            sf[n, V], si[n, T_STEP], sf[n, T_OFF], si[n, R_STEP], sf[n, R_OFF] = v, ts, to, rs, ro
        else:
            full = False
            while True:
                og = so[j] if j < a1 else math.inf
                while si[n, W_STEP] == cur and sf[n, W_OFF] <= og:  # a predicted crossing comes first
                    if nsp == cap:
                        full = True
                        break
                    wo = sf[n, W_OFF]
                    _spike(n, cur, wo, h, sf, si, prm, ref_k, once)
                    sp_o[nsp], sp_n[nsp] = wo, n
                    nsp += 1
                    predict(n, end_s, end_o, h, sf, si, prm)
                if full or j >= a1:
                    break
                x = sw[j]
                j += 1
                while j < a1 and so[j] == og:
                    x += sw[j]
                    j += 1
                upd += 1
                if delta[n] and _lt(cur, og, si[n, R_STEP], sf[n, R_OFF]):
                    continue  # delta synapses: input during the refractory period is discarded
                _bring(n, cur, og, h, sf, si, prm)
                if delta[n]:
                    sf[n, V] += prm[n, JUMP_V] * x
                    if sf[n, V] >= prm[n, V_TH]:
                        _spike(n, cur, og, h, sf, si, prm, ref_k, once)
                        sp_o[nsp], sp_n[nsp] = og, n
                        nsp += 1
                else:
                    sf[n, CUR] += prm[n, JUMP_I] * x  # (while refractory too: the current integrates)
                predict(n, end_s, end_o, h, sf, si, prm)
            if full:
                st[STATUS] = ROOM
                break
            ws = si[n, W_STEP]
            if ws != NEVER and reg[n] != ws:  # a crossing in a later step: woken then
                wsz = pair_push(wh_s, wh_n, wsz, ws, n)
                reg[n] = ws
        since += a1 - a0
        k += 1
        j = -1
        if since >= EXACT_POLL:
            since = 0
            if halted(ctl, sops, nrec):
                st[STATUS] = STOP
                break
    st[K_], st[J_], st[NSP], st[WSZ], st[UPD], st[SINCE] = k, j, nsp, wsz, upd, since


@njit
def run_exact_steps(
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
    ev_t: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    ctl: np.ndarray,
    rec_mode: np.ndarray,
    counts: np.ndarray,
    in_dk: int = -1,
    in_doff: float = 0.0,
):
    """Run one sample over ``[0, end)``, every delay at least ``h`` (``dk >= 1``); arguments and results as
    `evsim.engine.exact.run_exact` (``ctl[3]`` receives ``end_s + 1``, or the first step not completed), except
    that the input events are times ``ev_t`` in seconds (in order on the grid: `grid_point`), ``ev_val`` of length
    1 gives every event that value, and ``in_dk >= 0``: the input synapses' one delay ``(in_dk, in_doff)``, their
    arrivals taken straight from the events (`evsim.engine.exact_open`)."""
    pop_of, nrow_ptr, nrow, nrow_q, q_toff = _rows_by_neuron(N, pop_off, out_ptr, out_proj, ip_off, tgt_pop)
    coff, ctgt, cw, cnext, cfill, cfree, bhead, btail, bcnt, cc = calendar(D, max(64, 2 * D))
    rptr, rstart, rdk, rdoff = delay_runs(rowptr, dk, doff)
    need_c = min(max_out, D) + max_out // CHUNK + 2  # chunks one event's delivery can open
    sops = np.zeros(ip_off.shape[0], dtype=np.int64)
    sf = np.zeros((N, 5))
    si = np.zeros((N, 5), dtype=np.int64)
    sf[:, V] = v0
    si[:, R_STEP] = -1
    si[:, W_STEP] = NEVER
    si[:, W_SEQ] = -1
    # quiet: delta synapses, no held current, resting and reset potentials below threshold: the neuron can cross
    # only at an input, and needs no prediction
    quiet = np.zeros(N, dtype=np.bool_)
    v_inf = np.zeros(N)  # a quiet neuron's resting potential (its state relaxes to it)
    for n in range(N):
        lam, be = prm[n, LAM], prm[n, B]
        rest = be / lam if lam > 0.0 else (np.inf if be > 0.0 else -np.inf)
        v_inf[n] = rest if lam > 0.0 else 0.0
        quiet[n] = delta[n] and prm[n, I_INF] == 0.0 and rest < prm[n, V_TH] and prm[n, V_RESET] < prm[n, V_TH]
    rec_s, rec_o, rec_n = np.empty(1024, np.int64), np.empty(1024), np.empty(1024, np.int64)
    nrec = 0
    wh_s, wh_n = np.empty(N + 64, np.int64), np.empty(N + 64, np.int64)  # the wake heap
    st = np.zeros(8, np.int64)
    reg = np.full(N, -1, np.int64)
    touched = np.empty(N, np.int64)
    stamp = np.full(N, -1, np.int64)
    cntn = np.zeros(N, np.int64)
    start = np.zeros(N, np.int64)
    mid = np.zeros(N, np.int64)
    so, sw = np.empty(1024), np.empty(1024)
    sp_o, sp_n = np.empty(1024), np.empty(1024, np.int64)
    # t = 0: neurons at or above threshold fire (NEST: at the start of the first step), sent before the step's
    # input; the others predict
    nsp = 0
    for n in range(N):
        if is_input_n[n]:
            continue
        if sf[n, V] >= prm[n, V_TH]:
            if nsp == sp_o.shape[0]:
                sp_o, sp_n = _grown(sp_o, 0), _grown(sp_n, 0)
            sp_o[nsp], sp_n[nsp] = 0.0, n
            nsp += 1
            _spike(n, 0, 0.0, h, sf, si, prm, ref_k, once)
        if not quiet[n]:
            predict(n, end_s, end_o, h, sf, si, prm)
            if si[n, W_STEP] != NEVER:
                if st[WSZ] == wh_s.shape[0]:
                    wh_s, wh_n = _grown(wh_s, 0), _grown(wh_n, 0)
                st[WSZ] = pair_push(wh_s, wh_n, st[WSZ], si[n, W_STEP], n)
                reg[n] = si[n, W_STEP]
    rec_s, rec_o, rec_n = _grown(rec_s, nsp), _grown(rec_o, nsp), _grown(rec_n, nsp)
    for k in range(nsp):
        n = sp_n[k]
        mode = rec_mode[pop_of[n]]
        if mode == 2:
            rec_s[nrec], rec_o[nrec], rec_n[nrec] = 0, 0.0, n
            nrec += 1
        elif mode == 1:
            counts[n] += 1
    st[K_], st[NSP] = 0, nsp
    while True:
        _deliver_step(0, end_s, end_o, h, ev_t[:0], ev_n[:0], ev_val, sp_o, sp_n, nrow_ptr, nrow, nrow_q, q_toff,
                      rowptr, targets, weights, rptr, rstart, rdk, rdoff, coff, ctgt, cw, cnext, cfill, cfree, bhead,
                      btail, bcnt, cc, need_c, sops, ctl, nrec, st)  # fmt: skip
        if st[STATUS] != ROOM:
            break
        coff, ctgt, cw, cnext, cfill, cfree = grown_calendar(coff, ctgt, cw, cnext, cfill, cfree, cc, need_c)
    n_ev = ev_t.shape[0]
    n_lo, n_hi = N, 0  # the neurons that can have arrivals or wakes: those of the non-input populations
    for n in range(N):
        if not is_input_n[n]:
            n_lo, n_hi = min(n_lo, n), n + 1
    direct = in_dk >= 0
    dptr, dtgt, dw, dq = direct_rows(N, is_input_n & direct, nrow_ptr, nrow, nrow_q, q_toff, rowptr, targets, weights)
    max_in = max(np.max(dptr[1:] - dptr[:-1]), 1)
    a_t, a_o, a_w = np.empty(256, np.int64), np.empty(256), np.empty(256)  # a step's input arrivals
    n_del = 0 if direct else n_ev  # the input events delivery sends (none when they arrive directly)
    cur = 0
    done = 0
    stopped = False
    while cur <= end_s:
        if halted(ctl, sops, nrec):
            stopped, done = True, cur
            break
        st[SINCE] = 0
        ie0 = ie1 = st[IE]
        if direct:  # the input events whose arrivals are due in this step (the rest of the run's, in the last)
            ls, lo = (cur + 1, 0.0) if cur < end_s else (end_s, end_o)
            ie1 = input_end(ie0, ev_t, h, in_dk, in_doff, ls, lo)
            st[IE] = ie1 if cur < end_s else n_ev
        na = (ie1 - ie0) * max_in
        if na > a_t.shape[0]:
            a_t, a_o, a_w = _grown(a_t, na), _grown(a_o, na), _grown(a_w, na)
        dense = bcnt[cur & (D - 1)] + na > (n_hi - n_lo) >> 3  # (na: the input arrivals' bound)
        nt, na = count_step(cur, ie0, ie1, b(ev_t), b(ev_n), b(ev_val), h, in_doff, b(dptr), b(dtgt), b(dw), b(dq),
                            b(sops), b(a_t), b(a_o), b(a_w), b(ctgt), b(cnext), b(cfill), b(bhead), b(wh_s), b(wh_n),
                            b(st), b(reg), b(si), b(touched), b(stamp), b(cntn), dense, n_lo, n_hi)  # fmt: skip
        m = bcnt[cur & (D - 1)] + na
        if m > so.shape[0]:
            so, sw = _grown(so, m), _grown(sw, m)
        fill_step(cur, nt, na, b(a_t), b(a_o), b(a_w), b(coff), b(ctgt), b(cw), b(cnext), b(cfill), b(cfree),
                  b(bhead), b(btail), b(bcnt), b(cc), b(touched), b(cntn), b(start), b(mid), b(so), b(sw))  # fmt: skip
        st[K_], st[J_], st[NSP] = 0, -1, 0
        while True:
            _integrate(cur, nt, b(touched), b(start), b(cntn), b(so), b(sw), b(mid), b(sp_o), b(sp_n), b(quiet),
                       b(v_inf), b(delta), b(prm), b(ref_k), b(once), b(sf), b(si), h, end_s, end_o, b(wh_s),
                       b(wh_n), b(reg), b(ctl), b(sops), nrec, b(st))  # fmt: skip
            if st[STATUS] != ROOM:
                break
            if st[WSZ] + 1 >= wh_s.shape[0]:
                wh_s, wh_n = _grown(wh_s, 0), _grown(wh_n, 0)
            else:
                sp_o, sp_n = _grown(sp_o, so.shape[0] + 2), _grown(sp_n, so.shape[0] + 2)
        if st[STATUS] == STOP:
            stopped, done = True, cur
            break
        # --- the step's spikes by (offset, neuron), recorded, then sent with the step's input events
        nsp = st[NSP]
        if nsp > 1:
            _sort_spikes(sp_o, sp_n, nsp)
        if nrec + nsp > rec_s.shape[0]:
            rec_s, rec_o, rec_n = _grown(rec_s, nrec + nsp), _grown(rec_o, nrec + nsp), _grown(rec_n, nrec + nsp)
        for k in range(nsp):
            n = sp_n[k]
            mode = rec_mode[pop_of[n]]
            if mode == 2:
                rec_s[nrec], rec_o[nrec], rec_n[nrec] = cur, sp_o[k], n
                nrec += 1
            elif mode == 1:
                counts[n] += 1
        st[K_] = 0
        while True:
            _deliver_step(cur, end_s, end_o, h, b(ev_t[:n_del]), b(ev_n), b(ev_val), b(sp_o), b(sp_n), b(nrow_ptr),
                          b(nrow), b(nrow_q), b(q_toff), b(rowptr), b(targets), b(weights), b(rptr), b(rstart),
                          b(rdk), b(rdoff), b(coff), b(ctgt), b(cw), b(cnext), b(cfill), b(cfree), b(bhead),
                          b(btail), b(bcnt), b(cc), need_c, b(sops), b(ctl), nrec, b(st))  # fmt: skip
            if st[STATUS] != ROOM:
                break
            coff, ctgt, cw, cnext, cfill, cfree = grown_calendar(coff, ctgt, cw, cnext, cfill, cfree, cc, need_c)
        if st[STATUS] == STOP:
            stopped, done = True, cur + 1  # (the step's neurons are done; some deliveries are not)
            break
        # --- the next step holding arrivals, an input event or a wake
        nxt = NEVER
        if st[IE] < n_ev:
            nxt = _arrival(ev_t[st[IE]], h, in_dk, in_doff)[0] if direct else grid_point(ev_t[st[IE]], h)[0]
        if st[WSZ] > 0:
            nxt = min(nxt, wh_s[0])
        if cc[CRING] > 0:
            for j in range(1, D):
                if bcnt[(cur + j) & (D - 1)] > 0:
                    nxt = min(nxt, cur + j)
                    break
        cur = nxt
    ctl[3] = done if stopped else end_s + 1
    for n in range(0 if stopped else N):  # every neuron to the end of the run, for the final state
        if not is_input_n[n]:
            _bring(n, end_s, end_o, h, sf, si, prm)
    m = nrec
    return rec_s[:m].copy(), rec_o[:m].copy(), rec_n[:m].copy(), sf[:, V].copy(), sf[:, CUR].copy(), st[UPD], sops
