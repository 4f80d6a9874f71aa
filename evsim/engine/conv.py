"""Delivery of events through implicit convolutions (`evsim.conv.ConvSpec`) into the calendar ring.

`_send_conv` is called by the loop after `_send` (`evsim.engine.deliver`) only for models with convolutions: with
``conv_par=None`` Numba prunes the call, and none of this is compiled (seconds less on a first run).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, njit_inline

KMAX = 4096  # largest convolution kernel side the engine handles (checked when the network is compiled)


@njit_inline
def _emit_conv(
    j: int,
    val: float,
    sl: int,
    tp: int,
    cps: np.ndarray,
    kc: int,
    w: np.ndarray,
    woff: int,
    scale: float,
    N: int,
    P: int,
    pop_off: np.ndarray,
    scan: np.ndarray,
    acc: np.ndarray,
    mark: np.ndarray,
    tl: np.ndarray,
    tl_n: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> int:
    """Deliver a spike of source neuron ``j`` through implicit convolution ``kc`` (`evsim.conv.ConvSpec`: its
    parameters are row ``cps[kc]`` in `ConvSpec.params` order, its kernel ``w[woff:]``) into ring slot ``sl``;
    returns the number of synapses used. (Rows and offsets, not array views: a view costs reference counting
    on every event.) ``rows``/``cols``: scratch for the kernel taps that reach an output (``[tap, output]``)."""
    c_in, h, wd, c_out, oh, ow = cps[kc, 0], cps[kc, 1], cps[kc, 2], cps[kc, 3], cps[kc, 4], cps[kc, 5]
    kh, kw, sy, sx, py, px = cps[kc, 6], cps[kc, 7], cps[kc, 8], cps[kc, 9], cps[kc, 10], cps[kc, 11]
    dy, dx, groups, pool = cps[kc, 12], cps[kc, 13], cps[kc, 14], cps[kc, 15]
    c = j // (h * wd)
    y = ((j // wd) % h) // pool
    x = (j % wd) // pool
    if y >= h // pool or x >= wd // pool:
        return 0
    cg = c_in // groups
    og = c_out // groups
    g = c // cg
    ci = c - g * cg
    toff = pop_off[tp]
    # the kernel rows and columns that reach an output (the same for every output channel): found once
    n_r = 0
    for ky in range(kh):
        ny = y + py - ky * dy
        if ny < 0:
            break  # ny only decreases with ky
        if sy != 1:
            if ny % sy != 0:
                continue
            ny //= sy
        if ny < oh:
            rows[n_r] = ky
            rows[KMAX + n_r] = ny
            n_r += 1
    n_c = 0
    for kx in range(kw):
        nx = x + px - kx * dx
        if nx < 0:
            break
        if sx != 1:
            if nx % sx != 0:
                continue
            nx //= sx
        if nx < ow:
            cols[n_c] = kx
            cols[KMAX + n_c] = nx
            n_c += 1
    n = 0
    slot_base = sl * N + toff
    sp = sl * P + tp
    if scan[tp]:  # stepped target: accumulate (unsigned indices: no negative-index tests)
        for co in range(g * og, (g + 1) * og):
            wbase = woff + ((co * cg + ci) * kh) * kw
            for a in range(n_r):
                w_row = wbase + rows[a] * kw
                t_row = slot_base + (co * oh + rows[KMAX + a]) * ow
                for bb in range(n_c):
                    wt = w[np.uint64(w_row + cols[bb])]
                    if wt != 0.0:
                        acc[np.uint64(t_row + cols[KMAX + bb])] += wt * scale * val  # (the order of the explicit path)
                        n += 1
        if n > 0:
            tl_n[sp] = 1
        return n
    for co in range(g * og, (g + 1) * og):  # listed target: list the neurons reached, once each
        wbase = woff + ((co * cg + ci) * kh) * kw
        for a in range(n_r):
            w_row = wbase + rows[a] * kw
            t_row = (co * oh + rows[KMAX + a]) * ow
            for bb in range(n_c):
                wt = w[w_row + cols[bb]]
                if wt == 0.0:
                    continue
                tgt = t_row + cols[KMAX + bb]
                b2 = slot_base + tgt
                if mark[b2] == 0:
                    mark[b2] = 1
                    tl[slot_base + tl_n[sp]] = toff + tgt
                    tl_n[sp] += 1
                acc[b2] += wt * scale * val
                n += 1
    return n


@njit
def _send_conv(
    src_n: np.ndarray,
    src_v: np.ndarray,
    lo: int | np.int64,  # a call site passes np.int64: one Numba specialisation for both calls
    hi: int,
    t: int,
    T: int,
    N: int,
    P: int,
    mask: int,
    pop_of: np.ndarray,
    pop_off: np.ndarray,
    out_ptr: np.ndarray,
    out_proj: np.ndarray,
    tgt_pop: np.ndarray,
    conv_of: np.ndarray,
    conv_par: np.ndarray,
    conv_w: np.ndarray,
    conv_woff: np.ndarray,
    conv_scale: np.ndarray,
    conv_delay: np.ndarray,
    scan: np.ndarray,
    acc: np.ndarray,
    mark: np.ndarray,
    tl: np.ndarray,
    tl_n: np.ndarray,
    sops: np.ndarray,
) -> None:
    """The implicit-convolution part of a send, called by `run_discrete` after `_send` when the model has
    convolutions (kept out of the explicit path's loop, which it slows down, and out of the loop's variant for
    models without any, which then compiles faster)."""
    rows = np.empty(2 * KMAX, dtype=np.int64)
    cols = np.empty(2 * KMAX, dtype=np.int64)
    for k in range(lo, hi):
        n = src_n[k]
        src_p = pop_of[n]
        local = n - pop_off[src_p]
        for qi in range(out_ptr[src_p], out_ptr[src_p + 1]):
            q = out_proj[qi]
            kc = conv_of[q]
            if kc < 0:
                continue
            td = t + conv_delay[kc]
            if td < T:
                sops[q] += _emit_conv(
                    local,
                    src_v[k],
                    td & mask,
                    tgt_pop[q],
                    conv_par,
                    kc,
                    conv_w,
                    conv_woff[kc],
                    conv_scale[kc],
                    N,
                    P,
                    pop_off,
                    scan,
                    acc,
                    mark,
                    tl,
                    tl_n,
                    rows,
                    cols,
                )
