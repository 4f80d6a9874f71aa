"""Lockstep batches: the samples of a chunk stepped together, state shaped ``[samples, neurons]``.

`evsim.engine.batch` runs a chunk's samples one after the other, each through the whole event loop
(`evsim.engine.loop.run_discrete`). For a network whose neuron populations are all stepped at every step (a bias,
a current or a recorded membrane: `CompiledNetwork.arrays["always"]`), as the small dense classifiers trained in
snnTorch are, `run_lockstep` steps every sample of the chunk through step ``t`` before any goes on to ``t + 1``:

* input events and spikes are delivered sample by sample, row by row, exactly as `evsim.engine.deliver._send`
  does (same rows, same order of the additions: float64 sums bit for bit the same; `evsim.engine.lockstep_deliver`);
* each population is updated for all the samples in one pass over ``[samples, n]`` (`_update`): the equations of
  `evsim.engine.step` / `evsim.engine.stepped` (``plain`` kinds 1, 2 and 3: the same operations in the same order),
  written so that LLVM vectorises them (unsigned indices, selects, no flag read at run time in the loop: `_update`
  is inlined twice, with ``has_ref`` the constant True or False);
* no per-sample set-up (`evsim.engine.loop.new_state`, the loop's own allocations): the chunk's state is allocated
  once.

Same results as the per-sample path, field for field (`tests/test_lockstep.py`). Eligibility (`eligible`): every
non-input population stepped at every step with the plain equations (no overshoot rule, multi-spike), no listed
population, Poisson source, implicit convolution or channel-last layout. Run control: the chunk is checked before
every step, as the loop does; a stop flag (Ctrl-C, wall clock) returns the groups of samples finished before; a
sample past a limit (events, spikes) makes the lockstep run give up (`run_lockstep` returns None) and the chunk is
run again by the per-sample path, which stops it where it stops.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .._jit import njit, njit_inline
from ..control import EVENTS, RUNNING
from . import first_run
from .gap import ALPHA, BETA, G_I, G_X, I_BIAS, IN_GAIN, V_BIAS, V_MIN, V_RESET, V_TH, _gap
from .lockstep_deliver import _deliver
from .record import _grown

GROUP_BYTES = 1 << 18  # state of a lockstep group (ring included), at most: samples stepped together stay in cache
# (and its arrays in the heap: groups of 1 MiB, allocated by mmap, cost ~500 page faults a run of the digits batch)


def eligible(cn: Any) -> bool:
    """Whether `run_lockstep` serves network ``cn`` (`evsim.engine.CompiledNetwork`; see the module docstring)."""
    a = cn.arrays
    neuron = ~a["is_input"]
    return bool(
        a["conv_par"] is None
        and a["pcdf"] is None
        and a["undriven"] is None
        and a["rules"] is None
        and a["plain"] is not None
        and np.all(a["perm"] == np.arange(int(a["N"])))
        and np.all(a["scan"][neuron] & a["always"][neuron])
        and np.all(a["plain"][neuron] > 0)
        and np.all(a["conv_of"] < 0)
        and not np.any(a["multi"] | a["overshoot"])
    )


def reads_dense(cn: Any, a: np.ndarray) -> bool:
    """Whether the lockstep kernel can take network ``cn``'s one input port as the dense array ``a`` ``[B, T, n]``
    itself (spikes as uint8 or bool, C-contiguous) instead of its events: the same events, read in the same order
    (sample, step, neuron), without making them."""
    return a.ndim == 3 and a.dtype in (np.uint8, np.bool_) and a.flags.c_contiguous and serves(cn)


_NO_DENSE = np.zeros((1, 1, 1), dtype=np.uint8)
_eligible: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def serves(cn: Any) -> bool:
    """`eligible`, remembered per network."""
    if cn not in _eligible:
        _eligible[cn] = eligible(cn)
    return _eligible[cn]


def run_lockstep(bt: Any, lo: int, hi: int) -> tuple | None:
    """Samples ``lo .. hi - 1`` of batch ``bt`` (`evsim.engine.batch.Batch`) in lockstep groups; what
    `evsim.engine.batch._run_batch` returns, or None when a sample of the chunk would stop early (run control:
    the caller runs the chunk the per-sample way)."""
    out = _lockstep(*_args(bt, lo, hi))
    return None if out[0] < 0 else out


# what `_lockstep` reads of the network (`CompiledNetwork.arrays`), passed as one tuple ``net`` in this order
NET = ("N", "P", "D", "pop_off", "order", "is_input", "reset_mode", "ge", "rdelay", "keep_i", "record_v", "rec_off",
       "prmc", "refractory", "out_ptr", "out_proj", "ip_off", "tgt_pop", "rowptr", "delays", "q_maxd", "q_full",
       "targets", "weights")  # fmt: skip


def _args(bt: Any, lo: int, hi: int) -> tuple:
    """`_lockstep`'s arguments for samples ``lo .. hi - 1`` of ``bt``."""
    a = bt.cn.arrays
    N, D = int(a["N"]), int(a["D"])
    group = max(1, min(hi - lo, GROUP_BYTES // (8 * N * (D + 5))))
    dense, first = (_NO_DENSE, -1) if bt.dense is None else (bt.dense[0].view(np.uint8), int(bt.dense[1]))
    net = _net.get(bt.cn)
    if net is None:  # (once per network: ~10 us a chunk otherwise)
        net = _net[bt.cn] = tuple(int(a[k]) if k in ("N", "P", "D") else a[k] for k in NET)
    return (lo, hi, group, bt.T, *bt.ev, dense, first, bt.i0, bt.v0, bt.ctls, bt.rec_mode, net, bt.out)


_net: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network -> ``net``, the tuple of its arrays


def available(bt: Any, lo: int, hi: int) -> bool:
    """Whether `_lockstep` for ``bt`` is compiled or in Numba's disk cache (`evsim.engine.first_run`)."""
    return first_run.available(_lockstep, _args(bt, lo, hi), {})


def prepare(bt: Any, lo: int, hi: int) -> None:
    """Load `_lockstep` for ``bt`` from Numba's disk cache, or say that it compiles (`evsim.engine.first_run`)."""
    first_run.prepare(_lockstep, _args(bt, lo, hi), {})


@njit
def _lockstep(
    lo: int,
    hi: int,
    group: int,
    T: int,
    ev_t: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    ev_off: np.ndarray,
    dense: np.ndarray,
    d_first: int,
    i0: np.ndarray,
    v0: np.ndarray,
    ctls: np.ndarray,
    rec_mode: np.ndarray,
    net: tuple,
    outs: tuple,
) -> tuple:
    """`run_lockstep`'s kernel: groups of ``group`` samples, each group stepped together through the ``T`` steps.
    Returns ``(done, t, n, c, n_sp)`` as `evsim.engine.batch._run_batch`, or ``done = -1`` when a sample would
    stop early (nothing of ``ctls`` written then). The input: the events ``ev_*``, or with ``d_first >= 0`` the
    dense array ``dense[b, t, j]`` of input neuron ``d_first + j`` (uint8; `reads_dense`). ``net``: the network's
    arrays named in `NET`, ``outs``: `evsim.engine.batch.Batch.out`."""
    N, P, D, pop_off, order, is_input, reset_mode, ge, rdelay, keep_i, record_v, rec_off, prmc, refractory = net[:14]
    out_ptr, out_proj, ip_off, tgt_pop, rowptr, delays, q_maxd, q_full, targets, weights = net[14:]
    out_i, out_v, out_upd, out_sops, out_vtrace, out_cnt = outs
    has_ref = np.zeros(P, dtype=np.bool_)  # populations with a refractory period
    for p in range(P):
        for n in range(pop_off[p], pop_off[p + 1]):
            has_ref[p] |= refractory[n] > 0
    pop_of = np.empty(N, dtype=np.int64)
    for p in range(P):
        pop_of[pop_off[p] : pop_off[p + 1]] = p
    mask = D - 1
    flat = dense.reshape(-1)  # (C-contiguous: unsigned flat indices, no negative-index tests)
    n_b = hi - lo
    rec_t = np.empty(1024, dtype=np.int64)
    rec_n = np.empty(1024, dtype=np.int32)
    rec_c = np.empty(1024, dtype=np.int64)
    rec_b = np.empty(1024, dtype=np.int64)
    n_rec = 0
    n_spk = np.zeros(n_b, dtype=np.int64)  # recorded spikes per sample (the loop's ``n_spk``)
    G = min(group, n_b)
    acc = np.zeros((G, D * N))
    i = np.empty((G, N))
    v = np.empty((G, N))
    ref_until = np.empty((G, N), dtype=np.int64)
    fired = np.zeros((G, N), dtype=np.uint8)
    upd = np.zeros(G, dtype=np.int64)
    n_fired = np.zeros(G, dtype=np.int64)
    ie = np.empty(G, dtype=np.int64)
    n_x = N  # room for one step's events: a neuron's spikes, or input events (which may repeat a neuron)
    for b in range(lo, hi):
        run = 0
        for k in range(ev_off[b], ev_off[b + 1]):
            run = run + 1 if k > ev_off[b] and ev_t[k] == ev_t[k - 1] else 1
            n_x = max(n_x, run)
    sb_n = np.empty(n_x, dtype=np.int64)
    sb_v = np.empty(n_x)
    scratch = (np.empty(n_x, dtype=np.int64), np.empty(n_x), np.empty(n_x, dtype=np.int64))  # (for `_add_rows`)
    syn = (
        pop_of,
        pop_off,
        out_ptr,
        out_proj,
        ip_off,
        tgt_pop,
        rowptr,
        delays,
        q_maxd,
        q_full,
        targets,
        weights,
        is_input,
    )
    for g0 in range(lo, hi, G):
        g1 = min(g0 + G, hi)
        for gb in range(g1 - g0):
            b = g0 + gb
            i[gb] = i0
            v[gb] = v0
            ie[gb] = ev_off[b]
            out_sops[b] = 0
            out_upd[b] = 0
        ref_until[:] = -1
        fired[:] = 0
        for t in range(T):
            s = t & mask
            for gb in range(g1 - g0):  # run control, before each step (`evsim.control.halted`)
                b = g0 + gb
                if ctls[b, 0] != RUNNING:  # stopped (Ctrl-C, wall clock): the groups before this one are done
                    ctls[g0, 3] = t
                    return _by_sample(rec_t, rec_n, rec_c, rec_b, n_rec, lo, n_b, g0 - lo)
                if (ctls[b, 1] >= 0 and out_sops[b].sum() > ctls[b, 1]) or (
                    ctls[b, 2] >= 0 and n_spk[b - lo] > ctls[b, 2]
                ):
                    return -1, rec_t[:0], rec_n[:0], rec_c[:0], n_spk[:0]  # a limit: the per-sample path decides
            for gb in range(g1 - g0):  # the input events of step t, delivered as the loop's first `_send`
                b = g0 + gb
                m = 0
                while ie[gb] < ev_off[b + 1] and ev_t[ie[gb]] == t:
                    sb_n[m] = ev_n[ie[gb]]
                    sb_v[m] = ev_val[ie[gb]]
                    m += 1
                    ie[gb] += 1
                d0 = np.uint64((b * dense.shape[1] + t) * dense.shape[2])
                for j in range(dense.shape[2] if d_first >= 0 else 0):  # (a dense input: its non-zero entries)
                    xv = flat[d0 + np.uint64(j)]
                    sb_n[m] = d_first + j
                    sb_v[m] = xv
                    m += xv != 0
                _deliver(acc, gb, b, sb_n, sb_v, m, t, T, N, mask, syn, out_sops, scratch)
            for oi in range(P):
                p = order[oi]
                if is_input[p]:
                    continue
                lo_p, hi_p = pop_off[p], pop_off[p + 1]
                if n_rec + (g1 - g0) * (hi_p - lo_p) > rec_t.shape[0]:
                    rec_t, rec_n, rec_c = _grown(rec_t, rec_n, rec_c, n_rec + (g1 - g0) * (hi_p - lo_p))
                    rec_b = _grown_b(rec_b, rec_t.shape[0])
                late = rdelay[p] and reset_mode[p] == 1
                if has_ref[p]:  # (two inlined copies: `_update` with a constant ``has_ref``)
                    _update(acc, i, v, fired, ref_until, refractory, prmc, upd, n_fired, g1 - g0, s * N, lo_p, hi_p,
                            t, keep_i[p], ge[p], reset_mode[p] == 1, late, True)  # fmt: skip
                else:
                    _update(acc, i, v, fired, ref_until, refractory, prmc, upd, n_fired, g1 - g0, s * N, lo_p, hi_p,
                            t, keep_i[p], ge[p], reset_mode[p] == 1, late, False)  # fmt: skip
                for gb in range(g1 - g0):
                    b = g0 + gb
                    out_upd[b] += upd[gb]
                    m = 0
                    gu = np.uint64(gb)
                    for n in range(np.uint64(lo_p), np.uint64(hi_p if n_fired[gb] > 0 else lo_p)):  # the spikes
                        # (branch-free: each neuron written, kept if it fired)
                        sb_n[m] = n
                        m += fired[gu, n]
                    if record_v[p]:
                        for n in range(lo_p, hi_p):
                            out_vtrace[b, t, rec_off[p] + n - lo_p] = v[gb, n]
                    if rec_mode[p] == 2:
                        for j in range(m):
                            rec_t[n_rec] = t
                            rec_n[n_rec] = sb_n[j]
                            rec_c[n_rec] = 1
                            rec_b[n_rec] = b
                            n_rec += 1
                        n_spk[b - lo] += m
                    elif rec_mode[p] == 1:
                        for j in range(m):
                            out_cnt[b, sb_n[j]] += 1
                    for j in range(m):
                        sb_v[j] = 1.0
                    _deliver(acc, gb, b, sb_n, sb_v, m, t, T, N, mask, syn, out_sops, scratch)
        for gb in range(g1 - g0):  # the end of the run: input neurons settled as `evsim.engine.gap._settle` does
            b = g0 + gb
            for p in range(P):
                for n in range(pop_off[p], pop_off[p + 1] if is_input[p] else pop_off[p]):
                    i[gb, n], v[gb, n] = _gap(i[gb, n], v[gb, n], -1, T - 1, -1, prmc[ALPHA, n], prmc[BETA, n],
                                              prmc[G_I, n], prmc[I_BIAS, n], prmc[V_BIAS, n], prmc[V_RESET, n],
                                              prmc[V_MIN, n])  # fmt: skip
            out_i[b] = i[gb]
            out_v[b] = v[gb]
    done = n_b
    for b in range(lo, hi):  # as `_run_batch`: the event budget checked after the last step too
        ctls[b, 3] = T
        if ctls[b, 1] >= 0 and out_sops[b].sum() > ctls[b, 1]:
            ctls[b, 0] = EVENTS
            done = b - lo
            break
    return _by_sample(rec_t, rec_n, rec_c, rec_b, n_rec, lo, n_b, done)


@njit
def _by_sample(
    rec_t: np.ndarray,
    rec_n: np.ndarray,
    rec_c: np.ndarray,
    rec_b: np.ndarray,
    n_rec: int,
    lo: int,
    n_b: int,
    done: int,
) -> tuple:
    """The spike records ``[:n_rec]`` of samples ``lo .. lo + done - 1`` sample by sample (a stable counting sort:
    each sample's in the loop's order, step, population, neuron); ``(done, t, n, c, spikes per sample)``."""
    n_sp = np.zeros(n_b, dtype=np.int64)
    for k in range(n_rec):
        n_sp[rec_b[k] - lo] += 1
    start = np.zeros(n_b + 1, dtype=np.int64)
    for b in range(n_b):
        start[b + 1] = start[b] + n_sp[b]
    total = start[done]
    sp_t = np.empty(total, dtype=np.int64)
    sp_n = np.empty(total, dtype=np.int32)
    sp_c = np.empty(total, dtype=np.int64)
    for k in range(n_rec):
        bk = rec_b[k] - lo
        if bk < done:
            j = start[bk]
            sp_t[j] = rec_t[k]
            sp_n[j] = rec_n[k]
            sp_c[j] = rec_c[k]
            start[bk] = j + 1
    return done, sp_t, sp_n, sp_c, n_sp[:done]


@njit
def _grown_b(rec_b: np.ndarray, size: int) -> np.ndarray:
    grown = np.empty(size, dtype=np.int64)
    for k in range(rec_b.shape[0]):
        grown[k] = rec_b[k]
    return grown


@njit_inline
def _update(
    acc: np.ndarray,
    i: np.ndarray,
    v: np.ndarray,
    fired: np.ndarray,
    ref_until: np.ndarray,
    refractory: np.ndarray,
    prmc: np.ndarray,
    upd: np.ndarray,
    n_fired: np.ndarray,
    n_g: int,
    b0: int,
    lo: int,
    hi: int,
    t: int,
    keep: bool,
    pge: bool,
    subtract: bool,
    late: bool,
    has_ref: bool,
) -> None:
    """Step neurons ``lo:hi`` of the first ``n_g`` samples (rows) through step ``t``: their input
    ``acc[:, b0 + n]`` (cleared); ``fired`` says who fired (before: at ``t - 1``, a late reset pending), ``upd[row]``
    the updates an event-driven engine counts (input, spike or late reset), ``n_fired[row]`` the spikes. The
    equations of `evsim.engine.stepped._step_plain` (kinds 1, 2: reset at once; 3, ``late``: `evsim.engine.step`'s
    `_step_late`), operation for operation, in one pass that LLVM vectorises. Call it with ``has_ref`` a constant
    (``True`` / ``False`` in two calls): without a refractory period ``ref_until`` stays -1 and is not read (the
    pass ~1.7x faster than with the flag read at run time)."""
    lu, hu = np.uint64(lo), np.uint64(hi)
    for g_ in range(n_g):  # (unsigned indices, every value loaded before it is used, selects rather than branches:
        g = np.uint64(g_)  # what LLVM needs to vectorise this loop)
        bu = np.uint64(b0)
        c = 0
        c_f = 0
        for n in range(lu, hu):
            x, v_g, i_g, pend = acc[g, bu + n], v[g, n], i[g, n], fired[g, n] != 0
            rf = (ref_until[g, n] >= t) if has_ref else False
            beta, g_i, g_x, v_bias = prmc[BETA, n], prmc[G_I, n], prmc[G_X, n], prmc[V_BIAS, n]
            v_min, th, v_reset = prmc[V_MIN, n], prmc[V_TH, n], prmc[V_RESET, n]
            alpha, in_gain, i_bias = prmc[ALPHA, n], prmc[IN_GAIN, n], prmc[I_BIAS, n]
            v_n = beta * v_g + g_i * i_g + g_x * x + v_bias  # the membrane before the threshold test
            v_n = v_min if v_n < v_min else v_n
            v_p = v_n - th  # (the late reset applied)
            v_p = v_min if v_p < v_min else v_p
            v_n = v_p if late & pend else v_n
            f = ((v_n >= th) if pge else (v_n > th)) & (not rf)
            c += f | (x != 0.0) | (late & pend)
            x_i = x if keep | (not rf) else 0.0  # the current; the input cleared
            i[g, n] = alpha * i_g + in_gain * x_i + i_bias
            acc[g, bu + n] = 0.0
            after = (v_n - th) if subtract else v_reset  # the reset, the spikes (a late reset pending at t + 1)
            v_n = v_n if late else (after if f else v_n)
            v[g, n] = v_reset if rf else v_n
            fired[g, n] = f
            c_f += f
        upd[g_] = c
        n_fired[g_] = c_f
        if has_ref:
            for n in range(lu, hu):
                f, r, ru = fired[g, n] != 0, refractory[n], ref_until[g, n]
                ref_until[g, n] = t + r if f & (r > 0) else ru
