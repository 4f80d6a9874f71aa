"""Updating a *listed* population (more than `evsim.engine.SCAN_MAX` neurons) at one step: only the neurons an event
reached (listed in ring slot ``s`` by `evsim.engine.deliver`), each brought from its last update to ``t`` in closed
form (`evsim.neurons.step_from`), with this step's summed input, threshold and reset; then, when the neuron can
cross threshold with no input (a constant drive, a late reset, the overshoot rule), its next crossing is predicted
(`evsim.neurons.next_crossing`) and pushed on the wake heap (`evsim.engine.wakes`).

Compiled only for models with a listed population (`run_discrete` gets ``undriven=None`` otherwise, and Numba
prunes the call: seconds less on a first run).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit_inline
from ..neuron_kernels import spike_count, step_from
from .gap import ALPHA, BETA, G_I, G_X, I_BIAS, IN_GAIN, V_BIAS, V_MIN, V_RESET, V_TH, _crossing_n, _gap_n
from .queue import heap_push


@njit_inline
def _update_listed(
    p: int,
    t: int,
    s: int,
    T: int,
    N: int,
    P: int,
    pop_off: np.ndarray,
    flags: tuple,
    pge: bool,
    subtract: bool,
    late: bool,
    ring: tuple,
    nrn: tuple,
    refractory: np.ndarray,
    prm: np.ndarray,
    heap: np.ndarray,
    hsize: int,
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
    """Step ``t`` of listed population ``p``: its spikes into ``sb_n``/``sb_v`` and the record, wakes on the heap
    (room made by the caller). ``flags``: ``(keep_i, overshoot, multi, undriven)``, the per-population rules and,
    per neuron, ``undriven[n]``: no constant drive (below threshold the state only decays towards 0). ``ring``:
    ``(acc, mark, tl, tl_n, sops)``, ``nrn``: ``(i, v, t_last, ref_until, pending, wake_t)``, the loop's state
    (`evsim.engine.loop.new_state`). Returns ``(m, n_spk, n_updates, hsize)``.

    Arguments are grouped in tuples because of a limit (`evsim._jit.njit_inline`): CPython compiles a call with
    more than 30 positional arguments as a call with ``*args``, which Numba cannot inline; this one takes 27."""
    keep_i, overshoot, multi, undriven = flags
    acc, mark, tl, tl_n, _ = ring
    i, v, t_last, ref_until, pending, wake_t = nrn
    sp = s * P + p
    tl_base = s * N + pop_off[p]
    m = 0
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
                _gap_n(n, t_last[n], t, ref_until, prm, i, v)
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
                _gap_n(n, t_last[n], ref_until[n], ref_until, prm, i, v)
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
        elif undriven[n] and v[n] < prm[n, V_TH] and ref_until[n] <= t and (prm[n, G_I] == 0.0 or i[n] == 0.0):
            wake = -1  # no drive and below threshold: the state only decays towards 0
        else:
            base = max(t, ref_until[n])
            if t < base < T:
                _gap_n(n, t_last[n], base, ref_until, prm, i, v)
                t_last[n] = base
            k = _crossing_n(n, T - 1 - base, pge, prm, i, v)
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
    return m, n_spk, n_updates, hsize
