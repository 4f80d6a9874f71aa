"""Implicit convolutions: the on-the-fly target rule, the explicit expansion, scipy, and the engine agree."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

import evsim
from evsim import reference
from evsim.conv import ConvSpec
from evsim.engine import compile_network, run_sample
from evsim.network import ConvProjection
from evsim.simulation import _normalise, as_dense_inputs


@st.composite
def specs(draw):
    r = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pool = draw(st.sampled_from([1, 1, 2]))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(dil[0] * (kh - 1) + 1, 9)) * pool + draw(st.integers(0, pool - 1))
    w = draw(st.integers(dil[1] * (kw - 1) + 1, 9)) * pool + draw(st.integers(0, pool - 1))
    weight = r.normal(0, 1, (c_out, c_in // groups, kh, kw)) * (r.random((c_out, c_in // groups, kh, kw)) < 0.8)
    spec = ConvSpec(
        (c_in, h, w),
        weight,
        stride,
        pad,
        dil,
        groups,
        pool=pool,
        pool_scale=draw(st.sampled_from([1.0, 1.0 / pool**2])),
    )
    return spec, r


def scipy_conv(spec, img):
    """Dense reference: pooling by reshaping, then scipy.signal.correlate per channel pair."""
    c_in, h, w = spec.in_shape
    p = spec.pool
    hp, wp = h // p, w // p
    x = img[:, : hp * p, : wp * p].reshape(c_in, hp, p, wp, p).sum(axis=(2, 4)) * spec.pool_scale
    x = np.pad(x, ((0, 0), (spec.pad[0], spec.pad[0] + spec.stride[0]), (spec.pad[1], spec.pad[1] + spec.stride[1])))
    c_out, cg, kh, kw = spec.weight.shape
    og = c_out // spec.groups
    oh, ow = spec.out_hw
    out = np.zeros((c_out, oh, ow))
    for co in range(c_out):
        g = co // og
        for ci in range(cg):
            k = np.zeros((spec.dilation[0] * (kh - 1) + 1, spec.dilation[1] * (kw - 1) + 1))
            k[:: spec.dilation[0], :: spec.dilation[1]] = spec.weight[co, ci]
            full = signal.correlate(x[g * cg + ci], k, mode="valid")
            out[co] += full[:: spec.stride[0], :: spec.stride[1]][:oh, :ow]
    return out


@given(specs())
def test_expansion_and_target_rule_match_scipy(case):
    spec, r = case
    img = r.normal(0, 1, spec.in_shape)
    want = scipy_conv(spec, img)
    pre, post, w = spec.expand()
    got = np.zeros(spec.n_out)
    np.add.at(got, post, w * img.reshape(-1)[pre])
    np.testing.assert_allclose(got.reshape(spec.out_shape), want, atol=1e-9)
    rule = np.zeros(spec.n_out)
    for j, v in enumerate(img.reshape(-1)):
        for t, wt in spec.targets_of(j):
            rule[t] += wt * v
    np.testing.assert_allclose(rule, got, atol=1e-9)


@given(specs(), st.integers(0, 3))
def test_engine_implicit_equals_explicit_and_reference(case, delay):
    spec, r = case
    pops = (
        evsim.Population("in", spec.n_in, shape=spec.in_shape),
        evsim.Population("c", spec.n_out, evsim.IF(spec.n_out, 1.0, multi_spike=True), shape=spec.out_shape),
    )
    implicit = ConvProjection("conv", "in", "c", spec, delay)
    net_i = evsim.Network(pops, (implicit,), ("in",), ("c",))
    net_e = evsim.Network(pops, (implicit.to_explicit(),), ("in",), ("c",))
    x = (r.random((12,) + spec.in_shape) < 0.3).astype(float)
    ri, re = evsim.run(net_i, x), evsim.run(net_e, x)
    np.testing.assert_array_equal(ri.output, re.output)
    assert ri.sops == re.sops
    (ev,), T, _ = _normalise(net_i, x, None)
    listed = run_sample(compile_network(net_i, scan_max=0), T, *ev)  # list mode, as for large populations
    assert sorted(
        zip(listed.spike_t.tolist(), (listed.spike_n - spec.n_in).tolist(), listed.spike_c.tolist())
    ) == sorted(zip(ri.spikes["c"].times.tolist(), ri.spikes["c"].indices.tolist(), ri.spikes["c"].counts.tolist()))
    ref = reference.simulate(net_i, as_dense_inputs(net_i, x)[0][0], 12)
    np.testing.assert_array_equal(ri.output, ref.spikes["c"])
    np.testing.assert_allclose(ri.final_state["c"][1], ref.v["c"][-1], atol=1e-9)


def test_conv_from_the_second_of_two_inputs_spiking_in_the_same_step(rng):
    # a step's input events of several populations go out together: the convolution of the second input must
    # still deliver (it was skipped once when the step's first event came from the other input)
    spec = ConvSpec((1, 5, 5), rng.normal(0.5, 0.3, (2, 1, 3, 3)), pad=(1, 1))
    pops = (
        evsim.Population("a", 3),
        evsim.Population("b", spec.n_in, shape=spec.in_shape),
        evsim.Population("c", spec.n_out, evsim.IF(spec.n_out, 0.7), shape=spec.out_shape),
    )
    projs = (
        evsim.Projection.from_dense("a->c", "a", "c", rng.normal(0, 1, (spec.n_out, 3))),
        ConvProjection("b->c", "b", "c", spec),
    )
    net = evsim.Network(pops, projs, ("a", "b"), ("c",))
    xa = (rng.random((10, 3)) < 0.5).astype(float)
    xb = (rng.random((10, spec.n_in)) < 0.3).astype(float)
    res = evsim.run(net, {"a": xa, "b": xb})
    ref = reference.simulate(net, {"a": xa, "b": xb}, 10)
    np.testing.assert_array_equal(res.output, ref.spikes["c"])
    assert res.sops_by_projection["b->c"] > 0


def test_implicit_conv_memory_is_the_kernel():
    spec = ConvSpec((16, 16, 16), np.ones((16, 16, 3, 3)), pad=(1, 1))
    q = ConvProjection("q", "a", "b", spec)
    assert q.nbytes() < 20_000
    assert q.n_synapses == spec.expand()[0].size > 500_000
    assert q.to_explicit().nbytes() > 100 * q.nbytes()


def test_bad_conv_geometry():
    with pytest.raises(evsim.NetworkError, match="does not fit 3 input channels"):
        ConvSpec((3, 8, 8), np.ones((4, 2, 3, 3)), groups=1)
    with pytest.raises(evsim.NetworkError, match="too small"):
        ConvSpec((1, 2, 2), np.ones((1, 1, 5, 5)))


def test_nmnist_cnn_implicit_equals_expanded_and_saves_memory():
    from conftest import model_file

    path = model_file("nir_paper/02_cnn/cnn_sinabs.nir")
    kw = dict(dt=1e-3, reset="subtract", threshold_op=">=", multi_spike=True)
    imp = evsim.load(path, **kw)
    exp = evsim.load(path, implicit=False, **kw)
    assert sum(isinstance(q, ConvProjection) for q in imp.projections) == 3
    assert imp.n_synapses == exp.n_synapses > 1_000_000
    assert exp.nbytes() > 5 * imp.nbytes()
    r = np.random.default_rng(3)
    x = (r.random((60, 2, 34, 34)) < 0.05).astype(float)  # N-MNIST-like event frames [T, C, H, W]
    ri, re = evsim.run(imp, x), evsim.run(exp, x.reshape(60, -1))  # (C, H, W) frames or flattened in C order
    for p in imp.populations:
        np.testing.assert_array_equal(ri.spikes[p.name].dense(60, p.size), re.spikes[p.name].dense(60, p.size))
        for f in ("times", "indices", "counts"):  # the records in the same order (channel-last ones sorted back)
            np.testing.assert_array_equal(getattr(ri.spikes[p.name], f), getattr(re.spikes[p.name], f))
    assert ri.sops_by_projection == re.sops_by_projection
    assert len(ri.spikes["1"]) > 0 and ri.sops > 0
    # the first layer's input current at step 0 is scipy's convolution of the first frame
    spec = next(q.spec for q in imp.projections if q.name == "input->1")
    ref = reference.simulate(imp, as_dense_inputs(imp, x[:1])[0][0], 1)
    v1 = ref.v["1"][0] + ref.spikes["1"][0]  # IF: v = input, then subtract one per spike (threshold 1)
    np.testing.assert_allclose(v1, scipy_conv(spec, x[0]).reshape(-1), atol=1e-5)
