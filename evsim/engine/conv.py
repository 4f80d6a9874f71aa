"""Delivery of events through implicit convolutions (`evsim.conv.ConvSpec`) into the calendar ring.

`_send_conv` is called by the loop after `_send` (`evsim.engine.deliver`) only for models with convolutions: with
``conv_par=None`` Numba prunes the call, and none of this is compiled (seconds less on a first run).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit_inline
from ..conv import ConvSpec
from ..errors import NetworkError

KMAX = 4096  # largest convolution kernel side the engine handles (checked when the network is compiled)


# columns of a convolution's row of ``conv_par`` after the 16 of `ConvSpec.params`: output channels per group,
# the target's strides of an output channel, row and column (`channel_last`), and the offsets of its kernel in
# ``conv_w`` and of its tables in ``conv_tab``
OG, S_C, S_Y, S_X, WOFF, SRC, ROWS, COLS, NNZ, ROW = range(16, 26)  # ROW: see `conv_arrays`


def channel_last(pops: tuple, projs: tuple, pop_off: np.ndarray, record_v: np.ndarray) -> tuple:
    """The engine's order of the neurons: a population reached only through implicit convolutions (of one output
    shape ``(C, H, W)``, ``C > 1``; not recorded densely) is stored channel-last, neuron ``(c, y, x)`` at
    ``(y W + x) C + c``, so that one spike's targets through one kernel tap (its output channels) are contiguous
    in the ring: adds without a gather (2x faster). Returns ``(perm, user_of, shapes)``: the engine index of each
    global neuron index, its inverse, and the channel-last populations' output shapes by name. The loop maps
    at its edges (input events, recorded spikes, counts, the state it starts from and ends with), so that
    everything outside it sees the network's own order."""
    from ..network import ConvProjection

    N = int(pop_off[-1])
    perm = np.arange(N, dtype=np.int64)
    shapes = {}
    for k, p in enumerate(pops):
        into = [q for q in projs if q.target == p.name]
        outs = {q.spec.out_shape for q in into if isinstance(q, ConvProjection)}
        if (
            p.is_input
            or record_v[k]
            or not into
            or len(outs) != 1
            or len(into) != sum(isinstance(q, ConvProjection) for q in into)
        ):
            continue
        c, h, w = outs.pop()
        if c < 2:
            continue
        local = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)  # user index at engine k
        perm[pop_off[k] + local] = pop_off[k] + np.arange(local.size)
        shapes[p.name] = (c, h, w)
    user_of = np.empty(N, dtype=np.int64)
    user_of[perm] = np.arange(N, dtype=np.int64)
    return perm, user_of, shapes


def conv_arrays(specs: list[ConvSpec], hwc: list[bool]) -> dict:
    """The engine's arrays for implicit convolutions ``specs`` (one row of ``conv_par`` each, see `_send_conv`;
    ``hwc[k]``: the target of ``specs[k]`` is stored channel-last, `channel_last`):

    * ``conv_w``: each kernel scaled by its pooling factor and laid out ``[C_in, kh, kw, C_out / groups]`` (the
      output channels of one tap contiguous), so that a spike's taps are visited without a division; with the
      kernel columns reversed (``ROW`` = 1) when the target is channel-last, of one group, with stride and
      dilation 1 along x: a spike's taps of one kernel row then reach one contiguous stretch of the target (its
      output columns times all channels) in the order of the reversed kernel row, delivered as one run of
      contiguous adds (`_send_conv`);
    * ``conv_tab`` (int32): per source neuron ``[C_in-row of its taps (c * kh), pooled y, pooled x, first target
      of its group (g * og * oh * ow)]`` (``-1`` first when pooling drops the neuron); per pooled row ``y`` the
      kernel rows that reach an output, ``[count, ky..., output row...]`` (``2 kh + 1`` entries), the same for
      columns; per tap the number of its non-zero weights (the synaptic operations it counts).
    """
    par, ws, tabs = [], [], []
    woff = toff = 0
    for s, last in zip(specs, hwc):
        c_in, h, wd = s.in_shape
        c_out, cg, kh, kw = s.weight.shape
        og = c_out // s.groups
        oh, ow = s.output_hw
        hp, wp = s.pooled_hw
        row = bool(last and s.groups == 1 and s.stride[1] == 1 and s.dilation[1] == 1)
        w5 = (s.weight * s.pool_scale).reshape(s.groups, og, cg, kh, kw).transpose(0, 2, 3, 4, 1)
        w = (w5[:, :, :, ::-1] if row else w5).reshape(-1)
        j = np.arange(c_in * h * wd)
        c, y, x = j // (h * wd), (j // wd) % h // s.pool, j % wd // s.pool
        s_c, s_y, s_x = (1, ow * c_out, c_out) if last else (oh * ow, ow, 1)  # target strides
        src = np.stack([np.where((y < hp) & (x < wp), c * kh, -1), y, x, (c // cg) * og * s_c], axis=1)
        rows = _reach(hp, kh, s.stride[0], s.pad[0], s.dilation[0], oh)
        cols = _reach(wp, kw, s.stride[1], s.pad[1], s.dilation[1], ow)
        nnz = np.count_nonzero(w5.reshape(-1, og), axis=1)  # (per tap, kernel columns in their own order)
        parts = [src.reshape(-1), rows, cols, nnz]
        offs = np.cumsum([toff] + [a.size for a in parts])
        par.append(np.concatenate([s.params(), [og, s_c, s_y, s_x, woff], offs[:4], [row]]))
        ws.append(w)
        tabs.extend(parts)
        woff += w.size
        toff = int(offs[4])
    if toff >= 2**31:
        raise NetworkError(f"implicit convolutions: tables of {toff} entries (at most 2**31)")
    return dict(
        conv_par=np.stack(par).astype(np.int64) if specs else None,  # (None: the loop's variant without)
        conv_w=np.concatenate(ws) if specs else np.zeros(0),
        conv_tab=np.concatenate(tabs).astype(np.int32) if specs else np.zeros(0, np.int32),
    )


def _reach(n_in: int, k: int, stride: int, pad: int, dil: int, n_out: int) -> np.ndarray:
    """Per input position ``i < n_in``: ``[m, kernel index..., output index...]`` (``2 k + 1`` entries, ``m`` of
    each used) for the kernel indices ``kk`` whose output ``(i + pad - kk dil) / stride`` exists."""
    out = np.zeros((n_in, 2 * k + 1), dtype=np.int64)
    for i in range(n_in):
        o = i + pad - np.arange(k) * dil
        ok = (o >= 0) & (o % stride == 0) & (o // stride < n_out)
        m = int(ok.sum())
        out[i, 0] = m
        out[i, 1 : 1 + m] = np.flatnonzero(ok)
        out[i, 1 + k : 1 + k + m] = o[ok] // stride
    return out.reshape(-1)


@njit_inline
def _by_channel(
    rec_n: np.ndarray,
    rec_c: np.ndarray,
    a: int,
    z: int,
    lo: int,
    hw: int,
    nch: int,
    tmp_n: np.ndarray,
    tmp_c: np.ndarray,
    first: np.ndarray,
) -> None:
    """Sort the records ``a:z`` (one step, one channel-last population of ``nch`` channels, `channel_last`) by
    neuron. Their neurons ``lo + c hw + y W + x`` (network's order) were found in the engine's order ``(y, x,
    c)``, so each channel's are already ascending: a stable counting sort by channel ``c`` puts them in order
    (``m + C`` operations and one division per record, where sorting the interleaved channels by insertion took
    ``m**2 / 4``: 9% of the implicit conv workload). ``first``: room for ``nch + 1`` counts, then the records'
    channels."""
    u = np.uint64  # (unsigned indices: no negative-index tests)
    for q in range(nch + 1):
        first[u(q)] = 0
    ch = nch + 1  # (the channels of the records from here in ``first``)
    for k in range(a, z):
        c = u(rec_n[u(k)] - lo) // u(hw)  # (unsigned: no sign fix-up)
        first[u(ch + k - a)] = c
        first[c + u(1)] += 1
    for q in range(nch):
        first[u(q + 1)] += first[u(q)]
    for k in range(a, z):
        c = u(first[u(ch + k - a)])
        j = u(first[c])
        first[c] = j + u(1)
        tmp_n[j] = rec_n[u(k)]
        tmp_c[j] = rec_c[u(k)]
    for q in range(z - a):
        rec_n[u(a + q)] = tmp_n[u(q)]
        rec_c[u(a + q)] = tmp_c[u(q)]


@njit_inline
def _send_conv(
    src_n: np.ndarray,
    src_v: np.ndarray,
    lo: int | np.int64,  # (the call site passes np.int64)
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
    conv_tab: np.ndarray,
    conv_delay: np.ndarray,
    user_of: np.ndarray,
    scan: np.ndarray,
    acc: np.ndarray,
    mark: np.ndarray,
    tl: np.ndarray,
    tl_n: np.ndarray,
    sops: np.ndarray,
) -> None:
    """The implicit-convolution part of a send, done by `run_discrete` after `_send` when the model has
    convolutions (``conv_par=None``: pruned, not compiled). Deliver each event ``src_n[k]`` (value ``src_v[k]``,
    ``lo <= k < hi``) sent at step ``t`` through each implicit convolution ``kc`` out of its population
    (parameters: row ``conv_par[kc]``, see `conv_arrays`) into the ring slot of ``t + delay``; count the synapses
    used (non-zero weights) in ``sops``. Per tap (kernel row and column that reach an output, from the tables),
    the ``og`` output channels: a stepped target gets the adds with no test (a zero weight adds nothing), a listed
    one lists the neurons reached, output channel by channel (the order of the explicit path's rows).

    Inlined into the loop, and the per-event work written out here, not in a helper called per event: Numba
    counts references of every array passed to an inlined call (an atomic increment and decrement each), which
    took ~40% of the implicit conv workload's loop. (Rows and offsets, not array views, for the same reason.)"""
    cps, w, tab = conv_par, conv_w, conv_tab
    for k in range(lo, hi):
        src = src_n[k]
        src_p = pop_of[src]
        j = user_of[src] - pop_off[src_p]  # (the tables are in the network's order)
        val = src_v[k]
        for qi in range(out_ptr[src_p], out_ptr[src_p + 1]):
            q = out_proj[qi]
            kc = conv_of[q]
            if kc < 0:
                continue
            td = t + conv_delay[kc]
            if td >= T:
                continue
            sl = td & mask
            tp = tgt_pop[q]
            kh, kw, og, s_c, s_y, s_x = cps[kc, 6], cps[kc, 7], cps[kc, OG], cps[kc, S_C], cps[kc, S_Y], cps[kc, S_X]
            woff = cps[kc, WOFF]
            sb = cps[kc, SRC] + 4 * j
            tap_c = tab[sb]
            if tap_c < 0:
                continue  # dropped by the pooling
            rb = cps[kc, ROWS] + tab[sb + 1] * (2 * kh + 1)
            cb = cps[kc, COLS] + tab[sb + 2] * (2 * kw + 1)
            z = cps[kc, NNZ]
            n = 0
            if scan[tp]:  # stepped target: accumulate (unsigned indices: no negative-index tests)
                base = sl * N + pop_off[tp] + tab[sb + 3]
                if cps[kc, ROW]:  # a kernel row's taps: one contiguous stretch (`conv_arrays`): one loop, not one
                    nb = tab[cb]  # per tap; the kernel columns kx0 .. kx0 + nb - 1 reach output columns ox0 ..
                    kx0 = tab[cb + 1]  # ox0 - nb + 1
                    for a in range(tab[rb]):
                        tap_r = (tap_c + tab[rb + 1 + a]) * kw
                        wb = woff + (tap_r + kw - kx0 - nb) * og  # (reversed columns: kx0 + nb - 1 first)
                        tb = base + tab[rb + 1 + kh + a] * s_y + (tab[cb + 1 + kw] - nb + 1) * og
                        for jj in range(nb * og):
                            acc[np.uint64(tb + jj)] += w[np.uint64(wb + jj)] * val
                        for bb in range(nb):
                            n += tab[z + tap_r + kx0 + bb]
                else:
                    for a in range(tab[rb]):
                        tap_r = (tap_c + tab[rb + 1 + a]) * kw
                        t_r = base + tab[rb + 1 + kh + a] * s_y
                        for bb in range(tab[cb]):
                            tap = tap_r + tab[cb + 1 + bb]
                            wb = woff + tap * og
                            tb = t_r + tab[cb + 1 + kw + bb] * s_x
                            if s_c == 1:  # channel-last target: contiguous adds (SIMD)
                                for co in range(og):
                                    acc[np.uint64(tb + co)] += w[np.uint64(wb + co)] * val  # (the explicit product)
                            else:
                                for co in range(og):
                                    acc[np.uint64(tb + co * s_c)] += w[np.uint64(wb + co)] * val
                            n += tab[z + tap]
                if n > 0:
                    tl_n[sl * P + tp] = 1
            else:
                toff = pop_off[tp]
                slot_base = sl * N + toff
                sp = sl * P + tp
                for co in range(og):  # listed target: list the neurons reached, once each
                    for a in range(tab[rb]):
                        tap_r = (tap_c + tab[rb + 1 + a]) * kw
                        t_r = tab[sb + 3] + co * s_c + tab[rb + 1 + kh + a] * s_y
                        for bb in range(tab[cb]):
                            kx = tab[cb + 1 + bb]
                            wt = w[woff + (tap_r + (kw - 1 - kx if cps[kc, ROW] else kx)) * og + co]
                            if wt == 0.0:
                                continue
                            tgt = t_r + tab[cb + 1 + kw + bb] * s_x
                            b2 = slot_base + tgt
                            if mark[b2] == 0:
                                mark[b2] = 1
                                tl[slot_base + tl_n[sp]] = toff + tgt
                                tl_n[sp] += 1
                            acc[b2] += wt * val
                            n += 1
            sops[q] += n
