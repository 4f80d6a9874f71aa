"""Stepping a *stepped* population (up to `evsim.engine.SCAN_MAX` neurons) through one step: every neuron updated
with the per-step equations of `evsim.neurons` in one tight loop (cheaper than finding the neurons with input).

Two variants, chosen per population by `evsim.engine.compile_network` (``plain[p]``):

* `_step_plain`: no overshoot rule or multi-spike: a loop with no branch (selects only), then the spikes
  collected in a second pass (``plain[p]`` 2: uniform coefficients, 3: late reset: the loops of `evsim.engine.step`);
* `_step_rules`: every rule of `evsim.neurons` (snnTorch's overshoot rule, multi-spike, late reset with them).

Both read the population's summed input of ring slot ``s`` from ``acc`` (and clear it), update ``i``, ``v``,
``ref_until`` (and ``pending``) in place, record the spikes (``rec_mode``: 2 every spike into ``rec_*``, 1 counts
into ``cnt``) and put them into ``sb_n``/``sb_v`` for `evsim.engine.deliver._send`. They return ``(m, n_spk,
n_updates, hot)``: spikes in ``sb_*``, spikes recorded, the neuron-update counter, and whether a neuron ended at
or above threshold (or with a late reset pending: the population is then stepped again at ``t + 1``).
Inlined into the loop (`njit_inline`): a real call per population and step passing these arrays costs more than
a small population's update.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit_inline
from ..neuron_kernels import spike_count
from .step import _step_late, _step_uniform
from .gap import ALPHA, BETA, G_I, G_X, I_BIAS, IN_GAIN, V_BIAS, V_MIN, V_RESET, V_TH


@njit_inline
def _step_plain(
    p: int,
    t: int,
    s: int,
    N: int,
    pop_off: np.ndarray,
    keep_i: np.ndarray,
    each: np.ndarray | None,
    uniform: np.ndarray | None,
    late: np.ndarray | None,
    pge: bool,
    subtract: bool,
    acc: np.ndarray,
    i: np.ndarray,
    v: np.ndarray,
    ref_until: np.ndarray,
    pending: np.ndarray,
    refractory: np.ndarray,
    prmc: np.ndarray,
    fired: np.ndarray,
    fired_w: np.ndarray,
    sb_n: np.ndarray,
    sb_v: np.ndarray,
    rec_mode: np.ndarray,
    rec_t: np.ndarray,
    rec_n: np.ndarray,
    rec_c: np.ndarray,
    cnt: np.ndarray,
    user_of: np.ndarray,
    n_spk: int,
    n_updates: int,
) -> tuple:
    """Step ``t`` of stepped population ``p`` without overshoot rule or multi-spike (``prmc``: the coefficients
    column-wise, `evsim.engine._PARAM_FIELDS` by neuron). The kind of ``p`` (``plain[p]``): 1 the loop below, 2
    every neuron has the same coefficients and no refractory period (`evsim.engine.step._step_uniform`), 3 a late
    subtract reset (`evsim.engine.step._step_late`). ``each``, ``uniform``, ``late``: the array ``plain`` of the
    kinds, or None when no population has kind 1, 2, 3 (that loop is then pruned by Numba, not compiled: one
    argument each, not a ``kind``: a call of more than 30 arguments cannot be inlined). ``fired_w``: ``fired`` as
    64-bit words; ``user_of``: the network's index of each engine neuron (`evsim.engine.conv.channel_last`), for
    the record."""
    m = 0
    lo, hi = pop_off[p], pop_off[p + 1]
    keep_p = keep_i[p]
    n_fired = 0
    n_input = 0
    hot_n = 0
    b0 = s * N + lo
    if uniform is not None and uniform[p] == 2:  # uniform coefficients, no refractory period: `evsim.engine.step`
        n_fired, n_input, hot_n = _step_uniform(acc, v, i, fired, lo, hi, b0, prmc, pge, subtract)
    elif late is not None and late[p] == 3:  # late reset (snnTorch's reset_delay): `evsim.engine.step` with it
        n_fired, n_input, hot_n = _step_late(
            acc, v, i, fired, pending, ref_until, refractory, lo, hi, b0, t, prmc, keep_p, pge
        )
    elif each is not None and each[p] == 1:  # per-neuron coefficients
        for k in range(hi - lo):  # unsigned indices: no negative-index tests (2.5x faster)
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
    return m, n_spk, n_updates, hot


@njit_inline
def _step_rules(
    p: int,
    t: int,
    s: int,
    N: int,
    pop_off: np.ndarray,
    keep_i: np.ndarray,
    overshoot: np.ndarray,
    multi: np.ndarray,
    pge: bool,
    subtract: bool,
    late: bool,
    acc: np.ndarray,
    i: np.ndarray,
    v: np.ndarray,
    ref_until: np.ndarray,
    pending: np.ndarray,
    refractory: np.ndarray,
    prm: np.ndarray,
    sb_n: np.ndarray,
    sb_v: np.ndarray,
    rec_mode: np.ndarray,
    rec_t: np.ndarray,
    rec_n: np.ndarray,
    rec_c: np.ndarray,
    cnt: np.ndarray,
    user_of: np.ndarray,
    n_spk: int,
    n_updates: int,
) -> tuple:
    """Step ``t`` of stepped population ``p`` with every rule of `evsim.neurons` (``prm``: one coefficient row
    per neuron)."""
    m = 0
    hot = False
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
    return m, n_spk, n_updates, hot
