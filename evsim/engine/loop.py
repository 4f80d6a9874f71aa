"""The one event loop (discrete mode), compiled with Numba.

Events are spikes (or input values) in flight, each delivered individually along each outgoing synapse with that
synapse's own delay into the calendar ring (`evsim.engine.queue`). At step ``t`` the loop pops slot ``t``: the
wakes due at ``t`` (predicted threshold crossings), then the input events of ``t``, then, population by
population in zero-delay order, the populations with something due:

* a *stepped* population (up to `evsim.engine.SCAN_MAX` neurons) updates all its neurons with the per-step
  equations (after idle steps, first brought to ``t - 1`` together): one tight loop, cheaper than finding the
  neurons with input. A population that can act without input (bias, synaptic current, recorded membrane) is
  stepped at every step; a quiet one only at steps with input, and at the step after one that left a neuron at
  threshold or with a late reset pending;
* a *listed* population touches only the neurons reached: each is brought from its last update to ``t`` in
  closed form (`evsim.neurons.advance`), the summed input is added, threshold and reset are applied, and, when
  the neuron has a constant drive, its next input-free crossing is predicted and pushed on the wake heap.

Spikes are sent population by population (`_send`). Lesson of the measurements, kept in the code: the per-neuron
and per-synapse loops contain no call that passes arrays and no array reallocation (both make Numba count
references in the loop, 2-3x slower); buffers are grown before the loops.

All arrays are flattened over a global neuron index (populations laid out one after the other); Python builds
them once per network (`evsim.engine.compile_network`).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit
from ..control import halted
from ..neurons import RESET_SUBTRACT, advance, next_crossing, spike_count, step_from
from .conv import _send_conv
from .deliver import _send, _touch
from .poisson import GUIDE, _uniform
from .queue import heap_pop, heap_push
from .record import _grown, _grown_heap, _sorted_records
from .step import _step_late, _step_uniform

# columns of the per-neuron coefficient rows `prm` (the order of `evsim.engine._PARAM_FIELDS`)
ALPHA, BETA, IN_GAIN, G_I, G_X, I_BIAS, V_BIAS, V_TH, V_RESET, V_MIN = range(10)


@njit
def _gap(
    i: float,
    v: float,
    t0: int,
    t: int,
    ref_until: int,
    alpha: float,
    beta: float,
    g_i: float,
    i_bias: float,
    v_bias: float,
    v_reset: float,
    v_min: float,
) -> tuple[float, float]:
    """State at step ``t`` of a neuron last updated at ``t0``, with no input in between (refractory steps up to
    ``ref_until`` hold v at v_reset while the current evolves). Scalars only: cheap to call from the loop.

    The loop repeats ``i[n], v[n] = _gap(...)`` at several places on purpose: a helper taking the state arrays
    made the loop twice as slow (it passes arrays: reference counting in the loop; measured)."""
    if t0 >= t:
        return i, v
    if ref_until > t0:
        held = min(ref_until, t) - t0
        i, _ = advance(i, 0.0, held, alpha, 0.0, 0.0, i_bias, 0.0, -np.inf)
        v = v_reset
        t0 += held
    if t > t0:
        i, v = advance(i, v, t - t0, alpha, beta, g_i, i_bias, v_bias, v_min)
    return i, v


@njit
def new_state(N: int, P: int, D: int, i0: np.ndarray, v0: np.ndarray, seed: int) -> tuple:
    """The state `run_discrete` starts a sample from (see its docstring): currents ``i0``, membranes ``v0``
    (float64 arrays, copied), nothing in flight, Poisson generator seeded with ``seed``."""
    rng = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)  # (wraps modulo 2**64)
    return (
        np.zeros(D * N),  # acc: summed input per ring slot and neuron
        np.zeros(D * N, dtype=np.uint8),  # mark: listed neuron already in its slot's list
        np.empty(D * N, dtype=np.int32),  # tl: the neurons reached, per slot and population
        np.zeros(D * P, dtype=np.int32),  # tl_n: how many (stepped population: something due)
        i0.copy(),  # i
        v0.copy(),  # v
        np.full(N, -1, dtype=np.int64),  # t_last: step of each neuron's last update
        np.full(N, -1, dtype=np.int64),  # ref_until
        np.zeros(N, dtype=np.int64),  # pending late resets
        np.full(N, -1, dtype=np.int64),  # wake_t: each neuron's current predicted crossing
        np.empty(64, dtype=np.int64),  # heap of wakes
        np.zeros(2, dtype=np.int64),  # hs: heap size, started (the first wakes predicted)
        np.full(1, rng, dtype=np.uint64),  # rngs
    )


@njit
def run_discrete(
    T: int,
    t_begin: int,
    t_end: int,
    state: tuple,
    finish: bool,
    N: int,
    P: int,
    pop_off: np.ndarray,
    order: np.ndarray,
    is_input: np.ndarray,
    poisson: np.ndarray,
    pcdf: np.ndarray,
    pcdf_off: np.ndarray,
    pguide: np.ndarray,
    reset_mode: np.ndarray,
    ge: np.ndarray,
    multi: np.ndarray,
    rdelay: np.ndarray,
    overshoot: np.ndarray,
    keep_i: np.ndarray,
    record_v: np.ndarray,
    rec_off: np.ndarray,
    n_rec: int,
    prm: np.ndarray,
    prmc: np.ndarray,
    refractory: np.ndarray,
    out_ptr: np.ndarray,
    out_proj: np.ndarray,
    ip_off: np.ndarray,
    tgt_pop: np.ndarray,
    rowptr: np.ndarray,
    delays: np.ndarray,
    q_maxd: np.ndarray,
    q_full: np.ndarray,
    perm: np.ndarray,
    user_of: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    D: int,
    scan: np.ndarray,
    always: np.ndarray,
    plain: np.ndarray,
    conv_of: np.ndarray,
    conv_par: np.ndarray,
    conv_w: np.ndarray,
    conv_tab: np.ndarray,
    conv_delay: np.ndarray,
    ev_t: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    ctl: np.ndarray,
    rec_mode: np.ndarray,
    cnt: np.ndarray,
):
    """Run one sample for steps ``t_begin .. t_end - 1`` of ``T``; returns spikes, dense traces of those steps, the
    final state, counters and the wake heap (it may have grown).

    ``state`` (`new_state`) holds everything that carries over from one step to the next: the calendar ring
    (``acc``, ``mark``, ``tl``, ``tl_n``), the neurons (``i``, ``v``, last update, refractory end, late resets,
    predicted wakes), the wake heap, ``hs = [heap size, started]`` and the Poisson generator ``rng``; the loop
    updates it in place, so a run split at any step into several calls (streaming) does what one call does.
    ``T`` is the horizon: nothing is delivered or predicted at or beyond it. ``finish`` brings every neuron to
    step ``t_end - 1`` at the end (the final state of a whole run; a stream leaves them where they are).

    Run control (`evsim.control`): ``ctl`` (int64) is ``[stop, max_events, max_spikes, steps_done]``; the loop
    checks it before every step and stops when ``stop`` is set (by another thread: Ctrl-C, a wall-clock budget)
    or when the sample's synaptic events or recorded spikes pass a non-negative limit (it then sets ``stop`` to 2
    or 3); ``steps_done`` receives the steps completed (the final state is that of the last one).
    ``rec_mode[p]``: 2 records each spike of population ``p``, 1 only adds its counts to ``cnt[n]``, 0 neither.
    The loop never calls back into Python (no object-mode code, nothing boxed): it can run in a worker thread
    while the main thread waits for Ctrl-C.

    ``prm[n]`` holds neuron ``n``'s coefficients in `evsim.engine._PARAM_FIELDS` order (alpha, beta, in_gain,
    g_i, g_x, i_bias, v_bias, v_th, v_reset, v_min): one row per neuron, so an update reads one or two cache lines.
    """
    mask = D - 1
    acc, mark, tl, tl_n, i, v, t_last, ref_until, pending, wake_t, heap, hs, rngs = state
    rng = rngs[0]
    hsize = hs[0]
    pop_of = np.empty(N, dtype=np.int64)
    for p in range(P):
        pop_of[pop_off[p] : pop_off[p + 1]] = p
    rec_t = np.empty(1024, dtype=np.int64)
    rec_n = np.empty(1024, dtype=np.int32)
    rec_c = np.empty(1024, dtype=np.int64)
    n_spk = 0
    vtrace = np.zeros((t_end - t_begin, n_rec))
    n_updates = 0
    sops = np.zeros(ip_off.shape[0], dtype=np.int64)
    has_conv = np.zeros(P, dtype=np.bool_)
    for q in range(conv_of.shape[0]):
        if conv_of[q] >= 0:
            for p in range(P):
                for qi in range(out_ptr[p], out_ptr[p + 1]):
                    if out_proj[qi] == q:
                        has_conv[p] = True
    unit = ~is_input & ~multi  # populations whose events all have the value 1 (single spikes)
    # no constant drive: below threshold, such a neuron can only decay towards 0 (no crossing to predict)
    undriven = (prm[:, V_BIAS] == 0.0) & (prm[:, I_BIAS] == 0.0) & (prm[:, V_TH] > 0.0)
    # what `_send` needs, passed as two tuples
    # fmt: off
    syn = (pop_of, pop_off, out_ptr, out_proj, ip_off, tgt_pop, rowptr, delays, q_maxd, q_full, targets, weights,
           conv_of, conv_par, conv_w, conv_tab, conv_delay, has_conv, scan, unit, user_of)
    # fmt: on
    ring = (acc, mark, tl, tl_n, sops)
    fired = np.zeros((N + 7) // 8 * 8, dtype=np.bool_)  # (whole 64-bit words: `fired_w`)
    fired_w = fired.view(np.uint64)  # eight neurons' flags at a time: the spikes found by skipping zero words
    n_x = 0  # room for the external events of one step: the most input events in a step, and every Poisson source
    run = 0
    for k in range(ev_t.shape[0]):
        run = run + 1 if k > 0 and ev_t[k] == ev_t[k - 1] else 1
        n_x = max(n_x, run)
    for p in range(P):
        if poisson[p] > 0.0:
            n_x += pop_off[p + 1] - pop_off[p]
    sb_n = np.empty(max(N, n_x), dtype=np.int64)  # the events of one batch (one population, or the external
    sb_v = np.empty(max(N, n_x))  # events, of one step)

    moved = False  # some populations stored channel-last (`evsim.engine.conv.channel_last`): the state that
    moved_p = np.zeros(P, dtype=np.bool_)  # `new_state` made in the network's order goes to the engine's at the
    for n in range(N):  # first call, and the final state back; input events, spikes and counts are mapped one by
        if perm[n] != n:  # one, and a step's recorded spikes of such a population sorted back
            moved = True
            moved_p[pop_of[n]] = True
    if moved and hs[1] == 0:
        i0, v0 = i.copy(), v.copy()
        for n in range(N):
            i[perm[n]] = i0[n]
            v[perm[n]] = v0[n]

    # Neurons that can cross threshold from their initial state with no input at all get a first wake.
    for p in range(P if hs[1] == 0 else 0):
        if is_input[p] or always[p]:
            continue
        for n in range(pop_off[p], pop_off[p + 1]):
            k = next_crossing(
                i[n],
                v[n],
                T,
                prm[n, ALPHA],
                prm[n, BETA],
                prm[n, G_I],
                prm[n, I_BIAS],
                prm[n, V_BIAS],
                prm[n, V_MIN],
                prm[n, V_TH],
                ge[p],
            )
            if k > 0:
                wake_t[n] = k - 1
                if hsize == heap.shape[0]:
                    heap = _grown_heap(heap, hsize + 1)
                hsize = heap_push(heap, hsize, (k - 1) * N + n)

    hs[1] = 1
    ie = 0
    n_ev = ev_t.shape[0]
    t_stop = t_end
    for t in range(t_begin, t_end):
        if halted(ctl, sops, n_spk):
            t_stop = t
            break
        s = t & mask
        # 1. wakes due now
        while hsize > 0 and heap[0] // N <= t:
            key, hsize = heap_pop(heap, hsize)
            n = key % N
            if key // N == t and wake_t[n] == t:
                if scan[pop_of[n]]:
                    tl_n[s * P + pop_of[n]] = 1  # the scan finds it through wake_t
                else:
                    _touch(s, n, pop_of[n], N, P, pop_off, mark, tl, tl_n)
        # 2. input events due now, and the Poisson sources' events: gathered, sent below by the one `_send` of
        # the loop (each inlined copy of it costs seconds of compilation on the first run)
        m = 0
        while ie < n_ev and ev_t[ie] == t:
            sb_n[m] = perm[ev_n[ie]]
            sb_v[m] = ev_val[ie]
            m += 1
            ie += 1
        for p in range(P):  # Poisson sources: one independent count per neuron per step
            if poisson[p] > 0.0:
                lo_c, hi_c = pcdf_off[p], pcdf_off[p + 1]
                g_lo = p * GUIDE
                for n in range(pop_off[p], pop_off[p + 1]):
                    rng, u = _uniform(rng)  # inversion of the tabulated Poisson CDF, the search started from the
                    c = pguide[g_lo + int(u * GUIDE)]  # guide table (no mispredicted comparisons: 5x faster)
                    while lo_c + c < hi_c and u > pcdf[lo_c + c]:
                        c += 1
                    sb_n[m] = n  # (written always, kept if c > 0: no branch to mispredict)
                    sb_v[m] = c
                    m += c > 0
        # 3. neuron populations, in zero-delay order
        for oi in range(P + 1):
            if m > 0:  # the events of step t gathered last (external ones, or the previous population's spikes),
                _send(sb_n, sb_v, 0, m, t, T, N, P, mask, syn, ring)  # sent before the next population steps
                if conv_par is not None:  # implicit convolutions (None: the model has none; this call and its
                    # callees are then not even compiled: seconds less on a first run)
                    _send_conv(sb_n, sb_v, np.int64(0), m, t, T, N, P, mask, pop_of, pop_off, out_ptr, out_proj,
                               tgt_pop, conv_of, conv_par, conv_w, conv_tab, conv_delay, user_of, scan, acc, mark,
                               tl, tl_n, sops)  # fmt: skip
                m = 0
            if oi == P:
                break
            p = order[oi]
            if is_input[p]:
                continue
            sp = s * P + p
            rec0 = n_spk
            tl_base = s * N + pop_off[p]
            pge = ge[p]
            subtract = reset_mode[p] == RESET_SUBTRACT
            late = rdelay[p] and subtract
            m = 0
            if n_spk + pop_off[p + 1] - pop_off[p] > rec_t.shape[0]:
                # room for every neuron of p to fire, made here: the loops below must not reallocate (an array
                # rebound in a loop makes Numba count references there, and the loop several times slower)
                rec_t, rec_n, rec_c = _grown(rec_t, rec_n, rec_c, n_spk + pop_off[p + 1] - pop_off[p])
            if hsize + pop_off[p + 1] - pop_off[p] > heap.shape[0]:
                heap = _grown_heap(heap, hsize + pop_off[p + 1] - pop_off[p])
            if scan[p]:
                # stepped population: every neuron brought to t and stepped (a tight loop costs less than finding
                # the neurons without input); only steps with input or wakes come here
                if tl_n[sp] == 0 and not always[p]:
                    continue
                tl_n[sp] = 0
                hot = False  # a neuron of a quiet population ends the step at or above threshold, or with a
                # late reset to apply: the population is stepped again at t + 1
                t0 = t_last[pop_off[p]]
                if t - t0 > 1:  # idle steps in between: every neuron to the end of step t - 1
                    for n in range(pop_off[p], pop_off[p + 1]):
                        i[n], v[n] = _gap(
                            i[n],
                            v[n],
                            t0,
                            t - 1,
                            ref_until[n],
                            prm[n, ALPHA],
                            prm[n, BETA],
                            prm[n, G_I],
                            prm[n, I_BIAS],
                            prm[n, V_BIAS],
                            prm[n, V_RESET],
                            prm[n, V_MIN],
                        )
                t_last[pop_off[p]] = t  # (a stepped population's neurons share one last-update step: kept in
                # its first neuron's entry, copied to the others at the end)
                if plain[p]:  # no overshoot rule or multi-spike: a loop with no branch (selects only), then
                    # the spikes collected in a second pass (3: late reset, `evsim.engine.step`)
                    lo, hi = pop_off[p], pop_off[p + 1]
                    keep_p = keep_i[p]
                    n_fired = 0
                    n_input = 0
                    hot_n = 0
                    b0 = s * N + lo
                    if plain[p] == 2:  # uniform coefficients, no refractory period: the short loop of step.py
                        n_fired, n_input, hot_n = _step_uniform(acc, v, i, fired, lo, hi, b0, prmc, pge, subtract)
                    elif plain[p] == 3:  # late reset (snnTorch's reset_delay): the loop of step.py with it
                        n_fired, n_input, hot_n = _step_late(
                            acc, v, i, fired, pending, ref_until, refractory, lo, hi, b0, t, prmc, keep_p, pge
                        )
                    for k in range(hi - lo if plain[p] == 1 else 0):  # unsigned indices: no negative-index tests
                        u = np.uint64(lo + k)
                        bu = np.uint64(b0 + k)
                        x = acc[bu]
                        acc[bu] = 0.0
                        rf = ref_until[u] >= t  # refractory: v held, input discarded unless the current keeps it
                        v_n = prmc[BETA, u] * v[u] + prmc[G_I, u] * i[u] + prmc[G_X, u] * x + prmc[V_BIAS, u]
                        v_n = prmc[V_MIN, u] if v_n < prmc[V_MIN, u] else v_n
                        x_i = x if keep_p | (not rf) else 0.0  # (| and &, not or and and: no branches)
                        i[u] = prmc[ALPHA, u] * i[u] + prmc[IN_GAIN, u] * x_i + prmc[I_BIAS, u]
                        th = prmc[V_TH, u]
                        f = ((v_n >= th) if pge else (v_n > th)) & (not rf)
                        after = (v_n - th) if subtract else prmc[V_RESET, u]
                        v_n = prmc[V_RESET, u] if rf else (after if f else v_n)
                        ref_until[u] = t + refractory[u] if f & (refractory[u] > 0) else ref_until[u]
                        v[u] = v_n
                        fired[u] = f
                        n_fired += f
                        n_input += (x != 0.0) & (not f)
                        hot_n += v_n >= th
                    n_updates += n_fired + n_input  # the updates an event-driven engine needs: input or spike
                    hot = hot_n > 0
                    for q8 in range(lo // 8, (hi + 7) // 8 if n_fired > 0 else 0):  # the words with a spike
                        if fired_w[q8] != 0:  # (5x faster than every neuron; a neighbour's flags sharing an end
                            for nw in range(max(8 * q8, lo), min(8 * q8 + 8, hi)):  # word are outside the range)
                                sb_n[m] = nw  # (branch-free: every neuron written, the spiking ones kept)
                                m += fired[nw]
                    for j in range(m):
                        sb_v[j] = 1.0
                    if rec_mode[p] == 2:
                        for j in range(m):
                            rec_t[n_spk + j] = t
                            rec_n[n_spk + j] = user_of[sb_n[j]]
                            rec_c[n_spk + j] = 1
                        n_spk += m
                    elif rec_mode[p] == 1:
                        for j in range(m):
                            cnt[user_of[sb_n[j]]] += 1
                else:  # every rule of `evsim.neurons`
                    for n in range(pop_off[p], pop_off[p + 1]):
                        b = s * N + n
                        x = acc[b]
                        acc[b] = 0.0
                        c = 0
                        pend = pending[n]
                        if ref_until[n] >= t:  # refractory: v held, input discarded unless the current keeps it
                            i_n = prm[n, ALPHA] * i[n] + prm[n, I_BIAS]
                            if keep_i[p]:
                                i_n += prm[n, IN_GAIN] * x
                            i[n] = i_n
                            v[n] = prm[n, V_RESET]
                            pending[n] = 0
                        else:
                            theta_test = prm[n, V_TH]
                            if overshoot[p] and v[n] > theta_test:
                                theta_test *= 2.0
                            v_n = prm[n, BETA] * v[n] + prm[n, G_I] * i[n] + prm[n, G_X] * x + prm[n, V_BIAS]
                            if v_n < prm[n, V_MIN]:
                                v_n = prm[n, V_MIN]
                            i[n] = prm[n, ALPHA] * i[n] + prm[n, IN_GAIN] * x + prm[n, I_BIAS]
                            if pend > 0:
                                v_n -= prm[n, V_TH] * pend
                                pending[n] = 0
                                if v_n < prm[n, V_MIN]:
                                    v_n = prm[n, V_MIN]
                            c = spike_count(v_n, theta_test, pge, multi[p])
                            if c > 0:
                                if late:
                                    pending[n] = c
                                    hot = True
                                elif subtract:
                                    v_n -= prm[n, V_TH] * c
                                else:
                                    v_n = prm[n, V_RESET]
                                if refractory[n] > 0:
                                    ref_until[n] = t + refractory[n]
                            if v_n >= prm[n, V_TH]:
                                hot = True
                            v[n] = v_n
                        if x != 0.0 or c > 0 or pend > 0:
                            n_updates += 1  # the updates an event-driven engine needs: input, spike or late reset
                        if c > 0:
                            if rec_mode[p] == 2:
                                rec_t[n_spk] = t
                                rec_n[n_spk] = user_of[n]
                                rec_c[n_spk] = c
                                n_spk += 1
                            elif rec_mode[p] == 1:
                                cnt[user_of[n]] += c
                            sb_n[m] = n
                            sb_v[m] = c
                            m += 1
                if hot and t + 1 < T:
                    tl_n[((t + 1) & mask) * P + p] = 1
                if record_v[p]:
                    for n in range(pop_off[p], pop_off[p + 1]):
                        vtrace[t - t_begin, rec_off[p] + n - pop_off[p]] = v[n]
            else:  # listed population: only the neurons reached, each brought from its last update in closed form
                for j in range(tl_n[sp]):  # (cannot grow while p is processed: no zero-delay self-loops)
                    n = tl[tl_base + j]
                    b = s * N + n
                    x = acc[b]
                    mark[b] = 0
                    acc[b] = 0.0
                    n_updates += 1
                    # --- bring the neuron to step t and apply this step's input
                    c = 0
                    if ref_until[n] >= t:
                        if t > t_last[n]:
                            i[n], v[n] = _gap(
                                i[n],
                                v[n],
                                t_last[n],
                                t,
                                ref_until[n],
                                prm[n, ALPHA],
                                prm[n, BETA],
                                prm[n, G_I],
                                prm[n, I_BIAS],
                                prm[n, V_BIAS],
                                prm[n, V_RESET],
                                prm[n, V_MIN],
                            )
                            t_last[n] = t
                        pending[n] = 0  # input discarded, v held: a late reset has nothing to act on
                        if keep_i[p] and x != 0.0:  # the current still integrates (refractory_keeps_current); the
                            # state may already stand at the end of the refractory period: decay the input to there
                            i[n] += prm[n, IN_GAIN] * x * prm[n, ALPHA] ** (t_last[n] - t)
                    else:
                        # snnTorch's immediate subtraction tests against 2 theta after a step that ended above theta
                        theta_test = prm[n, V_TH]
                        if overshoot[p] and t_last[n] == t - 1 and v[n] > theta_test:
                            theta_test *= 2.0
                        if ref_until[n] > t_last[n]:
                            i[n], v[n] = _gap(
                                i[n],
                                v[n],
                                t_last[n],
                                ref_until[n],
                                ref_until[n],
                                prm[n, ALPHA],
                                prm[n, BETA],
                                prm[n, G_I],
                                prm[n, I_BIAS],
                                prm[n, V_BIAS],
                                prm[n, V_RESET],
                                prm[n, V_MIN],
                            )
                            t_last[n] = ref_until[n]
                        # the gap in closed form, then this step: the same call `next_crossing` made
                        i_n, v_n = step_from(
                            i[n],
                            v[n],
                            t - t_last[n],
                            x,
                            prm[n, ALPHA],
                            prm[n, BETA],
                            prm[n, IN_GAIN],
                            prm[n, G_I],
                            prm[n, G_X],
                            prm[n, I_BIAS],
                            prm[n, V_BIAS],
                            prm[n, V_MIN],
                        )
                        if pending[n] > 0:
                            v_n -= prm[n, V_TH] * pending[n]
                            pending[n] = 0
                            if v_n < prm[n, V_MIN]:
                                v_n = prm[n, V_MIN]
                        c = spike_count(v_n, theta_test, pge, multi[p])
                        if c > 0:
                            if late:
                                pending[n] = c
                            elif subtract:
                                v_n -= prm[n, V_TH] * c
                            else:
                                v_n = prm[n, V_RESET]
                            if refractory[n] > 0:
                                ref_until[n] = t + refractory[n]
                        i[n] = i_n
                        v[n] = v_n
                        t_last[n] = t
                    # --- schedule this neuron's next input-free event
                    if pending[n] > 0 or (overshoot[p] and v[n] > prm[n, V_TH]):
                        wake = t + 1  # a late reset, or a membrane still above threshold (overshoot rule), acts then
                    elif (
                        undriven[n]
                        and v[n] < prm[n, V_TH]
                        and ref_until[n] <= t
                        and (prm[n, G_I] == 0.0 or i[n] == 0.0)
                    ):
                        wake = -1  # no drive and below threshold: the state only decays towards 0
                    else:
                        base = max(t, ref_until[n])
                        if t < base < T:
                            i[n], v[n] = _gap(
                                i[n],
                                v[n],
                                t_last[n],
                                base,
                                ref_until[n],
                                prm[n, ALPHA],
                                prm[n, BETA],
                                prm[n, G_I],
                                prm[n, I_BIAS],
                                prm[n, V_BIAS],
                                prm[n, V_RESET],
                                prm[n, V_MIN],
                            )
                            t_last[n] = base
                        k = next_crossing(
                            i[n],
                            v[n],
                            T - 1 - base,
                            prm[n, ALPHA],
                            prm[n, BETA],
                            prm[n, G_I],
                            prm[n, I_BIAS],
                            prm[n, V_BIAS],
                            prm[n, V_MIN],
                            prm[n, V_TH],
                            pge,
                        )
                        wake = base + k if k > 0 else -1
                    if wake != wake_t[n]:
                        wake_t[n] = wake
                        if 0 <= wake < T:
                            hsize = heap_push(heap, hsize, wake * N + n)
                    if c == 0:
                        continue
                    if rec_mode[p] == 2:
                        rec_t[n_spk] = t
                        rec_n[n_spk] = user_of[n]
                        rec_c[n_spk] = c
                        n_spk += 1
                    elif rec_mode[p] == 1:
                        cnt[user_of[n]] += c
                    sb_n[m] = n
                    sb_v[m] = c
                    m += 1
                tl_n[sp] = 0
                if record_v[p]:
                    for n in range(pop_off[p], pop_off[p + 1]):
                        if t > t_last[n]:
                            i[n], v[n] = _gap(
                                i[n],
                                v[n],
                                t_last[n],
                                t,
                                ref_until[n],
                                prm[n, ALPHA],
                                prm[n, BETA],
                                prm[n, G_I],
                                prm[n, I_BIAS],
                                prm[n, V_BIAS],
                                prm[n, V_RESET],
                                prm[n, V_MIN],
                            )
                            t_last[n] = t
                        vtrace[t - t_begin, rec_off[p] + n - pop_off[p]] = v[n]
            if moved_p[p] and n_spk - rec0 > 1:
                _sorted_records(rec_n, rec_c, rec0, n_spk)
            # this population's spikes of step t are sent together at the top of the next iteration (zero-delay
            # targets come later in `order`)
    for p in range(P):
        if scan[p]:
            t_last[pop_off[p] : pop_off[p + 1]] = t_last[pop_off[p]]
    ctl[3] = t_stop
    hs[0] = hsize
    rngs[0] = rng
    for n in range(N if finish else 0):  # every neuron to the last step done, for the final state
        i[n], v[n] = _gap(
            i[n],
            v[n],
            t_last[n],
            t_stop - 1,
            ref_until[n],
            prm[n, ALPHA],
            prm[n, BETA],
            prm[n, G_I],
            prm[n, I_BIAS],
            prm[n, V_BIAS],
            prm[n, V_RESET],
            prm[n, V_MIN],
        )
    if moved and finish:  # the final state in the network's order
        i_f, v_f = np.empty(N), np.empty(N)
        for n in range(N):
            i_f[n] = i[perm[n]]
            v_f[n] = v[perm[n]]
        return rec_t[:n_spk], rec_n[:n_spk], rec_c[:n_spk], vtrace, i_f, v_f, n_updates, sops, heap
    return rec_t[:n_spk], rec_n[:n_spk], rec_c[:n_spk], vtrace, i, v, n_updates, sops, heap
