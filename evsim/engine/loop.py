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

Where each stage lives (inlined into the loop with `njit_inline`, except `_grown`, called only when the record
must grow):

====================  ==============================================================================
stage                 function
====================  ==============================================================================
first wakes           `evsim.engine.wakes._first_wakes` (once per sample, from the initial state)
wakes due at t        `evsim.engine.wakes._pop_wakes`
input events of t     `evsim.engine.deliver._gather_inputs`; Poisson sources `evsim.engine.poisson._draw_poisson`
delivery              `evsim.engine.deliver._send` (explicit synapses), `evsim.engine.conv._send_conv`
stepped population    `evsim.engine.gap._catch_up` (idle steps), `evsim.engine.stepped._step_plain` / `_step_rules`
listed population     `evsim.engine.listed._update_listed` (closed form, threshold, reset, next wake)
membrane record       `evsim.engine.record._record_v`; buffers grown by `evsim.engine.record._grown`
end of a call         `evsim.engine.gap._settle` (every neuron to the last step done)
====================  ==============================================================================

Spikes are sent population by population (`_send`). Lesson of the measurements, kept in the code: the per-neuron
and per-synapse loops contain no call that passes arrays and no array reallocation (both make Numba count
references in the loop, 2-3x slower); buffers are grown before the loops; the stages inside the step loop are
inlined (a real call per population and step passing these arrays costs more than a small population's update).
Paths only some models need (listed populations, wakes, Poisson sources, convolutions, each kind of stepped
population) are compiled only for them (see `run_discrete`): a model's first run compiles what it uses.

All arrays are flattened over a global neuron index (populations laid out one after the other); Python builds
them once per network (`evsim.engine.compile_network`).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit
from ..control import halted
from ..neurons import RESET_SUBTRACT
from .conv import _by_channel, _send_conv
from .deliver import _gather_inputs, _send
from .gap import _bring_to, _catch_up, _settle
from .listed import _update_listed
from .poisson import _draw_poisson
from .record import _grown, _record_v, grown
from .stepped import _step_plain, _step_rules
from .wakes import _first_steps, _first_wakes, _pop_wakes


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
    pcdf: np.ndarray | None,
    pcdf_off: np.ndarray,
    pguide: np.ndarray,
    reset_mode: np.ndarray,
    ge: np.ndarray,
    multi: np.ndarray,
    rdelay: np.ndarray,
    overshoot: np.ndarray,
    keep_i: np.ndarray,
    record_v: np.ndarray,
    recorded: np.ndarray | None,
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
    q_mind: np.ndarray,
    q_maxd: np.ndarray,
    q_full: np.ndarray,
    q_sparse: np.ndarray | None,
    perm: np.ndarray,
    reordered: np.ndarray | None,
    user_of: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    D: int,
    scan: np.ndarray,
    always: np.ndarray,
    plain: np.ndarray | None,
    plain_each: np.ndarray | None,
    plain_uniform: np.ndarray | None,
    plain_late: np.ndarray | None,
    rules: np.ndarray | None,
    undriven: np.ndarray | None,
    conv_of: np.ndarray,
    conv_par: np.ndarray | None,
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

    Paths only some models need are compiled only for them: Numba prunes a branch ``if x is not None`` when the
    argument ``x`` is None, and the calls in it are not compiled. ``conv_par=None``: no implicit convolution;
    ``plain=None`` / ``rules=None``: no stepped population of that kind (`evsim.engine.stepped`), and
    ``plain_each`` / ``plain_uniform`` / ``plain_late`` (``plain`` itself, or None): no plain population of kind 1,
    2, 3 (the loop of each kind compiled only for the models that have it); ``recorded=None``: no membrane
    recorded (``record_v`` all False); ``reordered=None``: no population stored channel-last (``perm`` is the
    identity); ``q_sparse=None``: every explicit projection has full rows (``q_full``: only their delivery loop
    compiled); ``pcdf=None``: no Poisson source; ``undriven=None``: no listed population (and no wake heap: the stepped
    populations need none, see `evsim.engine.wakes`).
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
    n_spk = int(np.int64(0))  # (not the literal 0: `halted` would be compiled for both)
    # (zeroed arrays made by np.empty and a fill: each np.zeros of another dtype costs ~0.2 s of the first run)
    vtrace = np.empty((t_end - t_begin, n_rec))
    vtrace[:] = 0.0
    n_updates = 0
    sops = np.empty(ip_off.shape[0], dtype=np.int64)
    sops[:] = 0
    unit = ~is_input & ~multi  # populations whose events all have the value 1 (single spikes)
    # what `_send` needs, passed as two tuples
    # fmt: off
    syn = (pop_of, pop_off, out_ptr, out_proj, ip_off, tgt_pop, rowptr, delays, q_mind, q_maxd, q_full, targets,
           weights, conv_of, scan, unit, user_of)
    # fmt: on
    ring = (acc, mark, tl, tl_n, sops)
    nrn = (i, v, t_last, ref_until, pending, wake_t)  # (for `_update_listed`)
    fired = np.empty((N + 7) // 8 * 8, dtype=np.bool_)  # (whole 64-bit words: `fired_w`)
    fired[:] = False
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

    # some populations stored channel-last (`evsim.engine.conv.channel_last`; ``reordered`` is not None): the state
    # that `new_state` made in the network's order goes to the engine's at the first call, and the final state back;
    # input events, spikes and counts are mapped one by one, and a step's recorded spikes of such a population sorted
    # back
    moved = False
    moved_p = np.empty(P, dtype=np.bool_)
    moved_p[:] = False
    for n in range(N if reordered is not None else 0):
        if perm[n] != n:
            moved = True
            moved_p[pop_of[n]] = True
    # a channel-last population's neurons per channel (its network index 1 is engine index C), and room to sort a
    # step's records by channel (`_by_channel`); np.empty and a fill, not np.ones: one variant less to compile
    hw = np.empty(P, dtype=np.int64)
    hw[:] = 1
    for p in range(P):
        if moved_p[p]:
            hw[p] = user_of[pop_off[p] + 1] - pop_off[p]
    n_srt = N + 1 if moved else 0
    srt_n = np.empty(n_srt, dtype=np.int32)  # (dtype= as everywhere in the loop: np.empty(n, np.int32) is another
    srt_c = np.empty(n_srt, dtype=np.int64)  # variant to compile)
    srt_f = np.empty(2 * n_srt, dtype=np.int64)
    if reordered is not None and moved and hs[1] == 0:
        i0, v0 = i.copy(), v.copy()
        for n in range(N):
            i[perm[n]] = i0[n]
            v[perm[n]] = v0[n]

    if hs[1] == 0:  # neurons that can cross threshold from their initial state with no input (`evsim.engine.wakes`)
        _first_steps(t_begin & mask, P, pop_off, is_input, always, scan, prm, v, tl_n)
        if undriven is not None:
            heap, hsize = _first_wakes(T, N, P, pop_off, is_input, scan, ge, prm, i, v, wake_t, heap, hsize)
    hs[1] = 1

    ie = 0
    t_stop = t_end
    for t in range(t_begin, t_end):
        if halted(ctl, sops, n_spk):
            t_stop = t
            break
        s = t & mask
        # 1. the predicted crossings (wakes) due now
        if undriven is not None:  # (only listed populations predict wakes)
            hsize = _pop_wakes(t, s, N, P, heap, hsize, wake_t, pop_of, pop_off, scan, mark, tl, tl_n)
        # 2. input events due now, and the Poisson sources' events: gathered, sent below by the one `_send` of
        # the loop (each inlined copy of it costs seconds of compilation on the first run)
        m, ie = _gather_inputs(t, ie, ev_t, ev_n, ev_val, perm, sb_n, sb_v)
        if pcdf is not None:
            m, rng = _draw_poisson(m, rng, P, pop_off, poisson, pcdf, pcdf_off, pguide, sb_n, sb_v)
        # 3. neuron populations, in zero-delay order
        for oi in range(P + 1):
            if m > 0:  # the events of step t gathered last (external ones, or the previous population's spikes),
                # sent before the next population steps
                _send(sb_n, sb_v, 0, m, t, T, N, P, mask, syn, ring, undriven, q_sparse)
                if conv_par is not None:  # implicit convolutions
                    _send_conv(sb_n, sb_v, np.int64(0), m, t, T, N, P, mask, pop_of, pop_off, out_ptr, out_proj,
                               tgt_pop, conv_of, conv_par, conv_w, conv_tab, conv_delay, user_of, scan, acc, mark,
                               tl, tl_n, sops)  # fmt: skip
                m = 0
            if oi == P:
                break
            p = order[oi]
            if is_input[p]:
                continue
            pge = ge[p]
            subtract = reset_mode[p] == RESET_SUBTRACT
            late = rdelay[p] and subtract
            lo, hi = pop_off[p], pop_off[p + 1]
            rec0 = n_spk
            if n_spk + hi - lo > rec_t.shape[0]:
                # room for every neuron of p to fire, made here: the loops below must not reallocate (an array
                # rebound in a loop makes Numba count references there, and the loop several times slower)
                rec_t, rec_n, rec_c = _grown(rec_t, rec_n, rec_c, n_spk + hi - lo)
            if scan[p]:  # stepped population: only steps with input or wakes come here (`evsim.engine.stepped`)
                sp = s * P + p
                if tl_n[sp] == 0 and not always[p]:
                    continue
                tl_n[sp] = 0
                _catch_up(p, t, pop_off, t_last, ref_until, prm, i, v)
                t_last[lo] = t  # (a stepped population's neurons share one last-update step: kept in its first
                # neuron's entry, copied to the others at the end)
                hot = False
                if plain is not None and plain[p]:
                    m, n_spk, n_updates, hot = _step_plain(p, t, s, N, pop_off, keep_i, plain_each, plain_uniform,
                                                           plain_late, pge, subtract, acc,
                                                           i, v, ref_until, pending, refractory, prmc, fired,
                                                           fired_w, sb_n, sb_v, rec_mode, rec_t, rec_n, rec_c, cnt,
                                                           user_of, n_spk, n_updates)  # fmt: skip
                elif rules is not None:
                    m, n_spk, n_updates, hot = _step_rules(p, t, s, N, pop_off, keep_i, overshoot, multi, pge,
                                                           subtract, late, acc, i, v, ref_until, pending, refractory,
                                                           prm, sb_n, sb_v, rec_mode, rec_t, rec_n, rec_c, cnt,
                                                           user_of, n_spk, n_updates)  # fmt: skip
                if hot and t + 1 < T:  # a neuron ended at threshold, or with a late reset to apply: step again
                    tl_n[((t + 1) & mask) * P + p] = 1
                if recorded is not None and record_v[p]:
                    _record_v(vtrace, t - t_begin, rec_off[p], lo, hi, v)
            elif undriven is not None:  # listed population: only the neurons reached (`evsim.engine.listed`)
                if hsize + hi - lo > heap.shape[0]:  # room for a wake per neuron (see above)
                    heap = grown(heap, hsize + hi - lo)
                m, n_spk, n_updates, hsize = _update_listed(p, t, s, T, N, P, pop_off,
                                                            (keep_i, overshoot, multi, undriven), pge, subtract, late,
                                                            ring, nrn, refractory, prm, heap, hsize, sb_n, sb_v,
                                                            rec_mode, rec_t, rec_n, rec_c, cnt, user_of, n_spk,
                                                            n_updates)  # fmt: skip
                if recorded is not None and record_v[p]:
                    _bring_to(t, lo, hi, t_last, ref_until, prm, i, v)
                    _record_v(vtrace, t - t_begin, rec_off[p], lo, hi, v)
            if reordered is not None and moved_p[p] and n_spk - rec0 > 1:
                _by_channel(rec_n, rec_c, rec0, n_spk, lo, hw[p], (hi - lo) // hw[p], srt_n, srt_c, srt_f)
            # this population's spikes of step t are sent together at the top of the next iteration (zero-delay
            # targets come later in `order`)
    ctl[3] = t_stop
    hs[0] = hsize
    rngs[0] = rng
    _settle(t_stop, finish, N, P, pop_off, scan, t_last, ref_until, prm, i, v)
    if reordered is not None and moved and finish:  # the final state in the network's order
        i_f, v_f = np.empty(N), np.empty(N)
        for n in range(N):
            i_f[n] = i[perm[n]]
            v_f[n] = v[perm[n]]
        return rec_t[:n_spk], rec_n[:n_spk], rec_c[:n_spk], vtrace, i_f, v_f, n_updates, sops, heap
    return rec_t[:n_spk], rec_n[:n_spk], rec_c[:n_spk], vtrace, i, v, n_updates, sops, heap
