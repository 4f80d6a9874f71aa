"""The event-driven engine against the dense clock-driven reference on random networks (Hypothesis).

Random sizes, weights, per-synapse delays, recurrence, biases, every neuron model, reset mode, threshold
comparison, multi-spike, late reset and refractory period: spikes must be identical and final states equal to
float precision.
"""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import evsim
from evsim import reference
from evsim.engine import compile_network, run_sample
from evsim.simulation import _normalise, as_dense_inputs

MODELS = ("IF", "LIF", "LI", "CubaLIF", "CubaLI", "nir-LIF", "nir-CubaLIF")


def make_neuron(kind, n, r, flags):
    thr = r.uniform(0.5, 1.5, n)
    bias = r.normal(0, 0.15, n) if flags["bias"] else 0.0
    common = dict(
        reset=flags["reset"],
        threshold_op=flags["op"],
        multi_spike=flags["multi"],
        reset_delay=flags["late"],
        refractory=flags["refractory"],
        v_init=r.uniform(-0.5, 1.2, n) if flags["init"] else None,
        refractory_keeps_current=flags["keep_i"],
        overshoot_rule=flags["over"] and flags["reset"] == "subtract" and not (flags["late"] or flags["multi"]),
    )
    if kind == "IF":
        return evsim.IF(n, thr, bias=bias, v_min=-1.0 if flags["clamp"] else -np.inf, **common)
    if kind == "LIF":
        return evsim.LIF(
            n,
            r.uniform(0.5, 1.0, n),
            thr,
            gain=r.uniform(0.5, 1.5, n),
            bias=bias,
            v_min=-0.5 if flags["clamp"] else -np.inf,
            **common,
        )
    if kind == "LI":
        return evsim.LI(n, r.uniform(0.5, 1.0, n), bias=bias)
    if kind == "CubaLIF":
        return evsim.CubaLIF(n, r.uniform(0.0, 0.95, n), r.uniform(0.5, 1.0, n), thr, bias=bias, **common)
    if kind == "CubaLI":
        return evsim.CubaLI(n, r.uniform(0.0, 0.95, n), r.uniform(0.5, 1.0, n), bias=bias)
    model = kind.split("-")[1]
    return evsim.discretise(
        model,
        n,
        1e-3,
        method=str(r.choice(["exact", "euler", "euler-new-i"])),
        tau=r.uniform(2e-3, 3e-2, n),
        tau_syn=r.uniform(1e-3, 1e-2, n),
        r=r.uniform(1, 5, n),
        v_leak=r.normal(0, 0.3, n) if flags["bias"] else 0.0,
        threshold=thr,
        **common,
    )


@st.composite
def networks(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    n_pops = draw(st.integers(1, 3))
    n_in = draw(st.integers(1, 6))
    pops = [evsim.Population("in", n_in)]
    for k in range(n_pops):
        flags = dict(
            reset=draw(st.sampled_from(["zero", "subtract"])),
            op=draw(st.sampled_from([">", ">="])),
            multi=draw(st.booleans()),
            late=draw(st.booleans()),
            bias=draw(st.booleans()),
            refractory=draw(st.sampled_from([0, 0, 1, 3])),
            clamp=draw(st.booleans()),
            init=draw(st.booleans()),
            over=draw(st.booleans()),
            keep_i=draw(st.booleans()),
        )
        kind = draw(st.sampled_from(MODELS))
        n = draw(st.integers(1, 8))
        pops.append(evsim.Population(f"p{k}", n, make_neuron(kind, n, r, flags)))
    max_d = draw(st.integers(0, 6))
    density = draw(st.floats(0.2, 1.0))
    projs = []
    names = [p.name for p in pops]
    for a in range(len(pops)):
        for b in range(1, len(pops)):
            forward = b > a
            if not forward and not draw(st.booleans()):
                continue
            if forward and b != a + 1 and not draw(st.booleans()):
                continue
            ns, nt = pops[a].size, pops[b].size
            w = r.normal(0, 1.2, (nt, ns)) * (r.random((nt, ns)) < density)
            lo = 0 if forward else 1  # recurrent and backward loops need a delay
            d = r.integers(lo, max(lo, max_d) + 1, (nt, ns))
            projs.append(evsim.Projection.from_dense(f"{names[a]}->{names[b]}", names[a], names[b], w, d))
    net = evsim.Network(tuple(pops), tuple(projs), ("in",), (names[-1],))
    T = draw(st.integers(1, 40))
    x = (r.random((T, n_in)) < draw(st.floats(0.05, 0.6))) * r.choice([1.0, 1.0, 0.5, 2.0], (T, n_in))
    return net, x


@given(networks())
def test_engine_matches_reference(case):
    net, x = case
    dense, T = as_dense_inputs(net, x)
    with np.errstate(all="ignore"):
        ref = reference.simulate(net, dense[0], T)
    # recurrent multi-spike networks can diverge (counts growing geometrically): not a comparison
    assume(all(np.all(np.abs(s) < 1e6) for s in ref.spikes.values()))
    assume(all(np.all(np.isfinite(v)) for v in ref.v.values()))
    res = evsim.run(net, x)
    # the same run with every population in list mode (the mode large populations use)
    (ev,), T_, _ = _normalise(net, x, None)
    listed = run_sample(compile_network(net, scan_max=0), T_, *ev)
    np.testing.assert_array_equal(listed.spike_t, np.sort(listed.spike_t))
    got_all = sorted(zip(listed.spike_t.tolist(), listed.spike_n.tolist(), listed.spike_c.tolist()))
    cn = compile_network(net)
    want_all = sorted(
        (t, n + int(cn.pop_off[cn.index(p)]), c)
        for p in cn.names
        if not net.population(p).is_input
        for t, n, c in zip(res.spikes[p].times.tolist(), res.spikes[p].indices.tolist(), res.spikes[p].counts.tolist())
    )
    assert got_all == want_all
    for p in net.populations:
        if p.is_input:
            continue
        got = res.spikes[p.name].dense(T, p.size)[0]
        np.testing.assert_array_equal(got, ref.spikes[p.name], err_msg=f"spikes of {p.name}")
        i_fin, v_fin = res.final_state[p.name]
        np.testing.assert_allclose(v_fin, ref.v[p.name][-1], rtol=1e-9, atol=1e-9, err_msg=f"v of {p.name}")
        np.testing.assert_allclose(i_fin, ref.i[p.name][-1], rtol=1e-9, atol=1e-9, err_msg=f"i of {p.name}")
    out = net.population(net.outputs[0])
    if out.neuron.spiking:
        np.testing.assert_array_equal(res.output, ref.spikes[out.name])
    else:
        np.testing.assert_allclose(res.output, ref.v[out.name], rtol=1e-9, atol=1e-9)


def test_batch_equals_samples_one_by_one(rng):
    W = [rng.normal(0, 1, (12, 5)), rng.normal(0, 1, (3, 12))]
    net = evsim.feedforward([5, 12, 3], lambda n: evsim.LIF(n, 0.8), W, [rng.integers(0, 5, (12, 5)), 1])
    xb = (rng.random((4, 30, 5)) < 0.3).astype(float)
    rb = evsim.run(net, xb)
    assert rb.output.shape == (4, 30, 3) and rb.sops.shape == (4,)
    for b in range(4):
        r1 = evsim.run(net, xb[b])
        np.testing.assert_array_equal(rb.output[b], r1.output)
        assert rb.sops[b] == r1.sops


def test_event_stream_equals_dense(rng):
    net = evsim.feedforward(
        [4, 6], lambda n: evsim.LIF(n, 0.9), [rng.normal(0, 1, (6, 4))], [rng.integers(0, 3, (6, 4))]
    )
    x = (rng.random((25, 4)) < 0.4).astype(float)
    t, j = np.nonzero(x)
    a = evsim.run(net, x)
    b = evsim.run(net, (t, j), steps=25)
    c = evsim.run(net, evsim.EventStream(t, j, np.ones(t.size)), steps=25)
    np.testing.assert_array_equal(a.output, b.output)
    np.testing.assert_array_equal(a.output, c.output)


def test_threads_do_not_change_results(rng):
    W = [rng.normal(0, 1, (30, 8)), rng.normal(0, 1, (4, 30))]
    net = evsim.feedforward(
        [8, 30, 4], lambda n: evsim.CubaLIF(n, 0.5, 0.9, bias=0.05), W, [rng.integers(0, 6, (30, 8)), 1]
    )
    xb = (rng.random((9, 40, 8)) < 0.2).astype(float)
    a, b = evsim.run(net, xb), evsim.run(net, xb, threads=3)
    np.testing.assert_array_equal(a.output, b.output)
    np.testing.assert_array_equal(a.sops, b.sops)
