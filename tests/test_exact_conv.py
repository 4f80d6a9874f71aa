"""Convolutions in exact mode (`evsim.exact.conv`): an exact-time network built with a `ConvProjection` holds its
explicit synapses; checked against the same network built from synapses listed by hand (plain loops over the
kernel), against the discrete engine's implicit convolution and the dense reference on the grid (delta LIF, inputs
and delays on the grid: the two modes then define the same dynamics), and under the memory limit."""

from __future__ import annotations

import numpy as np
import pytest

import evsim
from evsim import exact, reference
from evsim.conv import ConvSpec
from evsim.errors import NetworkError, ResourceLimitError
from evsim.network import ConvProjection

H = 1e-4  # the grid (s)


def _by_hand(w: np.ndarray, in_shape: tuple[int, int, int], stride: int, pad: int):
    """(pre, post, weight) of a cross-correlation with zero padding, by loops over every output and tap."""
    c_out, c_in, kh, kw = w.shape
    _, hh, ww = in_shape
    oh, ow = (hh + 2 * pad - kh) // stride + 1, (ww + 2 * pad - kw) // stride + 1
    pre, post, wt = [], [], []
    for co in range(c_out):
        for oy in range(oh):
            for ox in range(ow):
                for ci in range(c_in):
                    for ky in range(kh):
                        for kx in range(kw):
                            y, x = oy * stride - pad + ky, ox * stride - pad + kx
                            if 0 <= y < hh and 0 <= x < ww and w[co, ci, ky, kx] != 0:
                                pre.append((ci * hh + y) * ww + x)
                                post.append((co * oh + oy) * ow + ox)
                                wt.append(w[co, ci, ky, kx])
    return np.array(pre), np.array(post), np.array(wt), (c_out, oh, ow)


def _nets(conv: bool, exact_mode: bool, w, in_shape, stride, pad, tau, delay_steps):
    n_in = int(np.prod(in_shape))
    pre, post, wt, out_shape = _by_hand(w, in_shape, stride, pad)
    n_out = int(np.prod(out_shape))
    if exact_mode:
        nrn = exact.LIF(n_out, tau_m=tau, v_th=1.0, v_reset=0.0)
    else:
        nrn = evsim.LIF(n_out, np.exp(-H / tau), 1.0, reset="zero", threshold_op=">=")
    d = delay_steps * H if exact_mode else delay_steps
    if conv:
        q = ConvProjection("in->c", "in", "c", ConvSpec(in_shape, w, stride=(stride,) * 2, pad=(pad,) * 2), d)
    else:
        q = evsim.Projection.from_synapses("in->c", "in", "c", pre, post, wt, d, n_in)
    pops = (evsim.Population("in", n_in, shape=in_shape), evsim.Population("c", n_out, nrn, shape=out_shape))
    return evsim.Network(pops, (q,), ("in",), ("c",), dt=H)


@pytest.mark.parametrize("stride,pad", [(1, 0), (2, 1)])
def test_exact_conv_equals_hand_synapses_discrete_and_reference(stride, pad):
    rng = np.random.default_rng(stride)
    in_shape, T = (2, 7, 7), 200
    w = rng.normal(0.45, 0.35, (3, 2, 3, 3)) * (rng.random((3, 2, 3, 3)) < 0.8)
    tau = rng.uniform(2e-3, 1e-2, 3 * 4 * 4 if stride == 2 else 3 * 5 * 5)
    args = (w, in_shape, stride, pad, tau, 3)
    net = _nets(True, True, *args)
    assert all(isinstance(q, evsim.Projection) for q in net.projections)  # held as explicit synapses
    steps = np.sort(rng.integers(0, T - 10, 600))
    idx = rng.integers(0, 98, 600)
    a = evsim.run(net, evsim.EventStream(steps * H, idx), duration=T * H)
    b = evsim.run(_nets(False, True, *args), evsim.EventStream(steps * H, idx), duration=T * H)
    assert len(a.spikes["c"]) > 30
    np.testing.assert_array_equal(a.spikes["c"].times, b.spikes["c"].times)
    np.testing.assert_array_equal(a.spikes["c"].indices, b.spikes["c"].indices)
    assert a.sops == b.sops
    # the discrete engine's implicit convolution on the same grid: the same spikes, at the same steps
    disc_net = _nets(True, False, *args)
    d = evsim.run(disc_net, evsim.EventStream(steps, idx), steps=T)
    o = np.lexsort((a.spikes["c"].indices, a.spikes["c"].times))
    np.testing.assert_array_equal(d.spikes["c"].times, np.round(a.spikes["c"].times[o] / H).astype(np.int64))
    np.testing.assert_array_equal(d.spikes["c"].indices, a.spikes["c"].indices[o])
    # and the dense clock-driven reference
    x = np.zeros((T, 98))
    np.add.at(x, (steps, idx), 1.0)
    ref = reference.simulate(disc_net, {"in": x}, T)
    np.testing.assert_array_equal(ref.spikes["c"], d.spikes["c"].dense(T, disc_net.population("c").size)[0])


def test_exact_conv_delay_in_seconds_and_errors():
    spec = ConvSpec((1, 4, 4), np.ones((1, 1, 2, 2)))
    pops = (evsim.Population("in", 16), evsim.Population("c", 9, exact.LIF(9, tau_m=0.01)))
    net = evsim.Network(pops, (ConvProjection("q", "in", "c", spec, 0.37e-3),), ("in",), ("c",))
    assert np.all(net.projections[0].delays == 0.37e-3)
    with pytest.raises(NetworkError, match="'q': the delay must be finite seconds"):
        evsim.Network(pops, (ConvProjection("q", "in", "c", spec, -1.0),), ("in",), ("c",))
    small = (evsim.Population("in", 16), evsim.Population("c", 4, exact.LIF(4, tau_m=0.01)))
    with pytest.raises(NetworkError, match="'q': convolution maps"):
        evsim.Network(small, (ConvProjection("q", "in", "c", spec, 0.0),), ("in",), ("c",))
    with evsim.limits.override(memory="1K"):
        with pytest.raises(ResourceLimitError, match="explicit convolution"):
            evsim.Network(pops, (ConvProjection("q", "in", "c", spec, 0.0),), ("in",), ("c",))
