"""The engine's fast paths against the dense reference: populations with uniform coefficients stepped by
`evsim.engine.step`, fully connected projections with one delay per row delivered as contiguous adds
(``q_full``), rows with one delay (one ring slot per row). Random networks are drawn so that each path is taken
(checked on the compiled flags, so that a test cannot pass without exercising it)."""

import numpy as np
import pytest

import evsim
from evsim import reference
from evsim.engine import compile_network


def _network(r: np.random.Generator, uniform: bool, full: bool) -> evsim.Network:
    n_in, n1, n2 = 7, 12, 5
    if uniform:  # every neuron the same coefficients, no refractory period
        l1 = evsim.LIF(n1, 0.9, 0.8, reset="subtract", threshold_op=">=")
        l2 = evsim.CubaLIF(n2, 0.6, 0.85, 1.0, bias=0.02)
    else:
        l1 = evsim.LIF(n1, r.uniform(0.6, 1.0, n1), r.uniform(0.5, 1.2, n1), refractory=2)
        l2 = evsim.CubaLIF(n2, 0.6, r.uniform(0.6, 0.9, n2), 1.0)
    pops = (evsim.Population("in", n_in), evsim.Population("h", n1, l1), evsim.Population("o", n2, l2))
    w1 = r.normal(0.3, 0.6, (n1, n_in))
    w2 = r.normal(0.2, 0.8, (n2, n1))
    if full:  # one delay per source neuron (row): whole rows in one slot; no zero weight: every target
        d1 = np.broadcast_to(r.integers(0, 4, n_in), (n1, n_in))
        d2 = np.broadcast_to(r.integers(1, 3, n1), (n2, n1))
    else:  # sparse rows, per-synapse delays, some rows with one delay
        w1 *= r.random(w1.shape) < 0.6
        w2 *= r.random(w2.shape) < 0.7
        d1 = r.integers(0, 4, (n1, n_in))
        d1[:, :2] = 1
        d2 = r.integers(1, 3, (n2, n1))
    projs = (
        evsim.Projection.from_dense("in->h", "in", "h", w1, d1),
        evsim.Projection.from_dense("h->o", "h", "o", w2, d2),
        evsim.Projection.from_dense("o->h", "o", "h", r.normal(0, 0.5, (n1, n2)), 2),  # recurrent, one delay
    )
    return evsim.Network(pops, projs, ("in",), ("o",))


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_paths_match_reference(uniform, full, seed):
    r = np.random.default_rng([seed, uniform, full])
    net = _network(r, uniform, full)
    a = compile_network(net).arrays
    assert list(a["plain"][1:]) == ([2, 2] if uniform else [1, 1])
    assert list(a["q_full"]) == [full, full, True]
    if uniform:  # "h" (LIF) takes the loop without current of `evsim.engine.step`, "o" (CubaLIF) the other
        current = [np.any(a["prmc"][[0, 3], a["pop_off"][k] : a["pop_off"][k + 1]]) for k in (1, 2)]  # alpha, g_i
        assert current == [False, True]
    x = (r.random((60, 7)) < 0.3) * r.choice([1.0, 0.5, 2.0], (60, 7))
    res = evsim.run(net, x)
    ref = reference.simulate(net, {"in": x}, 60)
    for p in ("h", "o"):
        np.testing.assert_array_equal(res.spikes[p].dense(60, net.population(p).size)[0], ref.spikes[p])
        np.testing.assert_allclose(res.final_state[p][1], ref.v[p][-1], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.final_state[p][0], ref.i[p][-1], rtol=1e-12, atol=1e-12)
    # listed populations take none of these paths: the same spikes
    listed = evsim.engine.run_sample(compile_network(net, scan_max=0), 60, *_events(x))
    assert sorted(zip(listed.spike_t.tolist(), listed.spike_n.tolist())) == sorted(
        (t, n + 7 + (12 if p == "o" else 0))
        for p in ("h", "o")
        for t, n in zip(res.spikes[p].times.tolist(), res.spikes[p].indices.tolist())
    )


def _events(x: np.ndarray) -> tuple:
    t, n = np.nonzero(x)
    return t.astype(np.int64), n.astype(np.int64), x[t, n]


def _conv_chain(r: np.random.Generator) -> tuple:
    """input (2, 6, 6) -> conv -> c1 (3, 6, 6) -> pooled conv -> c2 (2, 3, 3) -> dense -> out (4): c1 and c2 are
    reached only through convolutions, so the engine stores them channel-last."""
    from evsim.conv import ConvSpec
    from evsim.network import ConvProjection

    s1 = ConvSpec((2, 6, 6), r.normal(0.4, 0.5, (3, 2, 3, 3)), pad=(1, 1))
    s2 = ConvSpec((3, 6, 6), r.normal(0.3, 0.5, (2, 3, 2, 2)), stride=(1, 1), pool=2, pool_scale=0.25)
    pops = (
        evsim.Population("in", 72, shape=(2, 6, 6)),
        evsim.Population("c1", 108, evsim.LIF(108, 0.9, 1.0, v_init=r.uniform(0, 0.9, 108)), shape=(3, 6, 6)),
        evsim.Population("c2", s2.n_out, evsim.IF(s2.n_out, r.uniform(0.5, 1.0, s2.n_out)), shape=s2.out_shape),
        evsim.Population("out", 4, evsim.LIF(4, 0.8)),
    )
    conv = (ConvProjection("in->c1", "in", "c1", s1, 1), ConvProjection("c1->c2", "c1", "c2", s2, 2))
    dense = evsim.Projection.from_dense("c2->out", "c2", "out", r.normal(0.2, 0.6, (4, s2.n_out)), 1)
    net = evsim.Network(pops, (*conv, dense), ("in",), ("out",))
    expl = evsim.Network(pops, (*(q.to_explicit() for q in conv), dense), ("in",), ("out",))
    return net, expl


@pytest.mark.parametrize("seed", [0, 1])
def test_channel_last_populations_keep_the_networks_order(seed):
    r = np.random.default_rng([seed, 7])
    net, expl = _conv_chain(r)
    cn = compile_network(net)
    user_of = cn.arrays["user_of"]
    lo, hi = int(cn.pop_off[1]), int(cn.pop_off[3])
    assert np.any(user_of[lo:hi] != np.arange(lo, hi))  # c1 and c2 are stored channel-last
    np.testing.assert_array_equal(cn.arrays["perm"][user_of], np.arange(user_of.size))
    x = (r.random((40, 72)) < 0.15).astype(float)
    res, ref_e = evsim.run(net, x), evsim.run(expl, x)
    ref = reference.simulate(net, {"in": x}, 40)
    for p in ("c1", "c2", "out"):
        size = net.population(p).size
        np.testing.assert_array_equal(res.spikes[p].dense(40, size)[0], ref.spikes[p], err_msg=p)
        np.testing.assert_array_equal(res.spikes[p].indices, ref_e.spikes[p].indices, err_msg=p)
        np.testing.assert_allclose(res.final_state[p][1], ref.v[p][-1], rtol=1e-12, atol=1e-12, err_msg=p)
    assert res.spikes["c1"].indices.size > 0 and res.spikes["c2"].indices.size > 0
    np.testing.assert_array_equal(res.sops, ref_e.sops)
    # streaming (the same loop resumed step by step) and list mode see the network's order too
    s = evsim.stream(net, horizon=40)
    t, n = np.nonzero(x)
    s.push(t, n)
    got = s.advance(39)
    np.testing.assert_array_equal(np.bincount(got.indices, minlength=4), res.spikes["out"].dense(40, 4)[0].sum(0))
    listed = evsim.engine.run_sample(compile_network(net, scan_max=0), 40, *_events(x))
    want = sorted(
        (int(t_), int(n_) + int(cn.pop_off[cn.index(p)]))
        for p in ("c1", "c2", "out")
        for t_, n_ in zip(res.spikes[p].times, res.spikes[p].indices)
    )
    assert sorted(zip(listed.spike_t.tolist(), listed.spike_n.tolist())) == want
