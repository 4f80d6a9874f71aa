"""NIR import: the NIR paper's golden LIF traces, the bundled snnTorch model, hand-built graphs, bad files."""

import warnings

import nir
import numpy as np
import pytest

import evsim
from evsim import reference
from evsim.simulation import as_dense_inputs

from conftest import EXAMPLES, model_file


def lif_csv(name):
    return np.loadtxt(model_file(f"nir_paper/01_lif/lif_{name}.csv"), delimiter=",")


@pytest.mark.parametrize("dialect", ["nir", "norse"])
def test_lif_norse_reproduces_exact_spike_steps(dialect):
    exact = lif_csv("exact")
    net = evsim.load(model_file("nir_paper/01_lif/lif_norse.nir"), dt=1e-4, dialect=dialect)
    res = evsim.run(net, exact[:, :1])
    assert np.flatnonzero(res.output[:, 0]).tolist() == [460, 510, 710, 760]
    assert np.flatnonzero(exact[:, 2]).tolist() == [460, 510, 710, 760]


def test_lif_membrane_traces():
    exact, norse = lif_csv("exact"), lif_csv("norse")
    x = {"input": exact[:, :1]}
    # Norse (forward Euler, reset to zero) against Norse's own recorded membrane, every step
    net = evsim.load(model_file("nir_paper/01_lif/lif_norse.nir"), dt=1e-4, dialect="norse")
    v = reference.simulate(net, x, 1000).v["1"][:, 0]
    np.testing.assert_allclose(v, norse[:, 1], atol=1e-6)
    # exact boxcar integration against the paper's exact solution up to the first spike (the exact solution
    # resets at the crossing inside the step, which discrete mode does not model)
    net = evsim.load(model_file("nir_paper/01_lif/lif_norse.nir"), dt=1e-4, dialect="nir")
    v = reference.simulate(net, x, 1000).v["1"][:, 0]
    np.testing.assert_allclose(v[:460], exact[:460, 1], atol=1e-7)


def test_bundled_snntorch_model_matches_snntorch_spike_for_spike():
    data = np.load(EXAMPLES / "data" / "digits_test.npz")
    net = evsim.load(EXAMPLES / "data" / "digits_snntorch.nir", dialect="snntorch")
    res = evsim.run(net, data["x"][:100])
    np.testing.assert_array_equal(res.output, data["snntorch_output"][:100])
    np.testing.assert_array_equal(res.spikes["1"].dense(25, 128, 100), data["snntorch_hidden"][:100])
    # snnTorch's immediate reset differs: the dialect setting matters, and is honoured
    other = evsim.run(
        evsim.load(EXAMPLES / "data" / "digits_snntorch.nir", dialect="snntorch", reset_delay=False), data["x"][:100]
    )
    assert not np.array_equal(other.output, data["snntorch_output"][:100])


def test_recurrent_braille_graph_gets_one_step_feedback():
    net = evsim.load(model_file("nir_paper/03_rnn/braille_noDelay_bias_zero.nir"), dialect="snntorch", reset="zero")
    rec = [q for q in net.projections if q.source == q.target]
    assert [q.name for q in rec] == ["lif1.lif->lif1.lif"]
    assert set(rec[0].delays.tolist()) == {1}
    g = nir.read(model_file("nir_paper/03_rnn/braille_noDelay_bias_zero.nir"))
    w_rec = g.nodes["lif1.w_rec"].weight
    W, _ = rec[0].dense(38, 38)
    np.testing.assert_allclose(W.T, w_rec)
    # the Affine biases of fc1 and w_rec both feed lif1 every step
    p = net.population("lif1.lif").neuron
    bias = g.nodes["fc1"].bias + g.nodes["lif1.w_rec"].bias
    np.testing.assert_allclose(p.i_bias, p.in_gain * bias, rtol=1e-6)


def write(tmp_path, nodes, edges, name="g.nir", type_check=True):
    path = tmp_path / name
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=type_check))
    return path


def lif(n, **kw):
    p = dict(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    p.update(kw)
    return nir.LIF(**p)


def test_hand_built_graph_composes_linear_chains_and_sums_edges(tmp_path, rng):
    W1 = rng.normal(0, 1, (5, 3))
    S = rng.uniform(0.5, 2, 5)
    W2 = rng.normal(0, 1, (5, 3))
    b = rng.normal(0, 0.1, 5)
    nodes = {
        "in": nir.Input(np.array([3])),
        "a": nir.Affine(W1, b),
        "s": nir.Scale(S),
        "b": nir.Linear(W2),
        "lif": lif(5),
        "out": nir.Output(np.array([5])),
    }
    edges = [("in", "a"), ("a", "s"), ("s", "lif"), ("in", "b"), ("b", "lif"), ("lif", "out")]
    net = evsim.load(write(tmp_path, nodes, edges), dt=1e-3)
    (q,) = net.projections
    W, D = q.dense(3, 5)
    np.testing.assert_allclose(W.T, S[:, None] * W1 + W2)
    assert not D.any()
    p = net.population("lif").neuron
    np.testing.assert_allclose(p.v_bias, p.g_x * S * b)


def test_delay_nodes_become_per_synapse_delays(tmp_path, rng):
    # learned delays as NIR carries them: groups Linear(W_d) -> Delay(d) summing into one neuron node
    W = [rng.normal(0, 1, (4, 3)) for _ in range(2)]
    nodes = {
        "in": nir.Input(np.array([3])),
        "w0": nir.Linear(W[0]),
        "w1": nir.Linear(W[1]),
        "d0": nir.Delay(np.full(4, 0.002)),
        "d1": nir.Delay(np.array([0.0, 0.001, 0.003, 0.005])),
        "lif": lif(4),
        "out": nir.Output(np.array([4])),
    }
    edges = [("in", "w0"), ("w0", "d0"), ("d0", "lif"), ("in", "w1"), ("w1", "d1"), ("d1", "lif"), ("lif", "out")]
    net = evsim.load(write(tmp_path, nodes, edges), dt=1e-3)
    assert len(net.projections) == 1  # the two groups are one projection with one delay per synapse
    got = {}
    for q in net.projections:
        pre = np.repeat(np.arange(3), np.diff(q.indptr))
        for j, i, d, w in zip(pre, q.targets, q.delays, q.weights):
            got[(j, i, d)] = got.get((j, i, d), 0) + w
    want = {}
    for j in range(3):
        for i in range(4):
            want[(j, i, 2)] = want.get((j, i, 2), 0) + W[0][i, j]
            want[(j, i, [0, 1, 3, 5][i])] = want.get((j, i, [0, 1, 3, 5][i]), 0) + W[1][i, j]
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k])
    # and it runs like the reference
    x = (rng.random((30, 3)) < 0.5).astype(float)
    ref = reference.simulate(net, as_dense_inputs(net, x)[0][0], 30)
    np.testing.assert_array_equal(evsim.run(net, x).output, ref.spikes["lif"])


def test_delay_groups_load_as_one_projection_per_pair_with_hand_built_spikes(tmp_path, rng):
    # what evsim.save_nir writes for learned delays (Linear(W_d) -> Delay(d) groups, here 6 and 4 delay values)
    sizes, dt = [12, 9, 5], 1e-3
    W = [rng.normal(0.4, 0.6, (sizes[k + 1], sizes[k])) for k in range(2)]
    D = [rng.integers(0, 6, W[0].shape), rng.integers(1, 5, W[1].shape)]
    net = evsim.feedforward(sizes, lambda n: evsim.LIF(n, 0.9, reset="zero"), W, D, dt=dt)
    path = tmp_path / "delays.nir"
    back = evsim.load(path, **evsim.save_nir(net, path))
    g = nir.read(path)
    assert sum(isinstance(v, nir.Delay) for v in g.nodes.values()) == 6 - 1 + 4  # delay 0 needs no Delay node
    assert [(q.source, q.target) for q in back.projections] == [("input", "layer1"), ("layer1", "layer2")]
    for q, w, d in zip(back.projections, W, D):
        bw, bd = q.dense(*w.shape[::-1])
        np.testing.assert_allclose(bw, w.T)
        np.testing.assert_array_equal(bd, d.T)
    x = (rng.random((3, 60, sizes[0])) < 0.3).astype(float)
    want, got = evsim.run(net, x), evsim.run(back, x)
    assert want.spikes["layer1"].counts.sum() > 0 and want.output.sum() > 0
    for name in ("layer1", "layer2"):
        n = back.population(name).size
        np.testing.assert_array_equal(got.spikes[name].dense(60, n, 3), want.spikes[name].dense(60, n, 3))


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(evsim.ModelFileError, match="no such file"):
        evsim.load(tmp_path / "missing.nir", dt=1e-3)
    text = tmp_path / "notes.nir"
    text.write_text("not a model")
    with pytest.raises(evsim.ModelFileError, match="not an HDF5 file"):
        evsim.load(text, dt=1e-3)
    pool = write(
        tmp_path,
        {
            "in": nir.Input(np.array([1, 4, 4])),
            "p": nir.SumPool2d(np.array([2, 1]), np.array([2, 1]), np.array([0, 0])),
            "lif": lif(6),
            "out": nir.Output(np.array([6])),
        },
        [("in", "p"), ("p", "lif"), ("lif", "out")],
        "pool.nir",
        type_check=False,
    )
    with pytest.raises(evsim.ModelFileError, match="node 'p' \\(SumPool2d\\): only square pooling windows"):
        with pytest.warns(UserWarning, match="without NIR's type check"):
            evsim.load(pool, dt=1e-3, strict=False)
    with pytest.raises(evsim.ModelFileError, match="'lif' which does not exist"):
        evsim.load(model_file("nir_paper/03_rnn/extras/braille_noDelay_bias_zero_subgraph.nir"), dialect="snntorch")
    rockpool = model_file("nir_paper/01_lif/lif_rockpool.nir")
    with pytest.raises(evsim.ModelFileError, match="type mismatch.*strict=False"):
        evsim.load(rockpool, dt=1e-4)
    with pytest.warns(UserWarning, match="without NIR's type check"):
        net = evsim.load(rockpool, dt=1e-4, strict=False)
    assert net.n_neurons == 1
    with pytest.raises(evsim.ModelFileError, match="no default time step"):
        evsim.load(model_file("nir_paper/01_lif/lif_norse.nir"))
    with pytest.raises(evsim.ModelFileError, match="unknown dialect 'torch'"):
        evsim.load(model_file("nir_paper/01_lif/lif_norse.nir"), dialect="torch")


def test_bad_parameters_name_the_node(tmp_path):
    W = np.ones((2, 2))
    W[0, 1] = np.nan
    path = write(
        tmp_path,
        {"in": nir.Input(np.array([2])), "fc": nir.Linear(W), "lif": lif(2), "out": nir.Output(np.array([2]))},
        [("in", "fc"), ("fc", "lif"), ("lif", "out")],
    )
    with pytest.raises(evsim.ModelFileError, match="node 'fc'.*NaN"):
        evsim.load(path, dt=1e-3)
    path = write(
        tmp_path,
        {
            "in": nir.Input(np.array([3])),
            "fc": nir.Linear(np.ones((2, 2))),
            "lif": lif(2),
            "out": nir.Output(np.array([2])),
        },
        [("in", "fc"), ("fc", "lif"), ("lif", "out")],
        "shape.nir",
        type_check=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(evsim.ModelFileError, match="edge \\('in', 'fc'\\): 'in' gives 3 values but 'fc' takes 2"):
            evsim.load(path, dt=1e-3, strict=False)
    path = write(
        tmp_path,
        {
            "in": nir.Input(np.array([2])),
            "fc": nir.Linear(np.ones((2, 2))),
            "lif": lif(2, tau=np.array([0.01, -1.0])),
            "out": nir.Output(np.array([2])),
        },
        [("in", "fc"), ("fc", "lif"), ("lif", "out")],
        "tau.nir",
    )
    with pytest.raises(evsim.ModelFileError, match="node 'lif'.*positive"):
        evsim.load(path, dt=1e-3)


def test_per_node_settings_override_the_dialect():
    path = EXAMPLES / "data" / "digits_snntorch.nir"
    data = np.load(EXAMPLES / "data" / "digits_test.npz")
    x = data["x"][:40]
    mixed = evsim.load(path, dialect="snntorch", nodes={"3": dict(reset_delay=False)})
    assert mixed.population("1").neuron.reset_delay and not mixed.population("3").neuron.reset_delay
    hidden_same = evsim.run(mixed, x).spikes["1"].dense(25, 128, 40)
    np.testing.assert_array_equal(hidden_same, data["snntorch_hidden"][:40])  # layer 1 untouched
    with pytest.raises(evsim.ModelFileError, match="no neuron node of that name"):
        evsim.load(path, dialect="snntorch", nodes={"0": dict(reset="zero")})
    with pytest.raises(evsim.ModelFileError, match="cannot override \\['tau'\\]"):
        evsim.load(path, dialect="snntorch", nodes={"1": dict(tau=1.0)})


def test_threshold_and_integrator_nodes(tmp_path, rng):
    W = rng.normal(0, 1, (3, 2))
    path = write(
        tmp_path,
        {
            "in": nir.Input(np.array([2])),
            "fc": nir.Affine(W, np.array([0.1, 0.0, -0.1])),
            "th": nir.Threshold(np.array([0.2, 0.0, 0.5])),
            "w2": nir.Linear(np.ones((1, 3))),
            "acc": nir.I(np.array([2.0])),
            "out": nir.Output(np.array([1])),
        },
        [("in", "fc"), ("fc", "th"), ("th", "w2"), ("w2", "acc"), ("acc", "out")],
        "th_i.nir",
    )
    net = evsim.load(path, dt=1e-3)
    x = rng.normal(0, 1, (30, 2))
    res = evsim.run(net, x)
    spikes = (x @ W.T + [0.1, 0.0, -0.1]) > [0.2, 0.0, 0.5]  # a threshold has no memory
    np.testing.assert_array_equal(res.spikes["th"].dense(30, 3)[0], spikes)
    np.testing.assert_allclose(res.output[:, 0], 2.0 * np.cumsum(spikes.sum(axis=1)))  # I integrates r * input


def test_nonzero_v_reset_with_subtractive_reset_is_refused(tmp_path):
    path = write(
        tmp_path,
        {
            "in": nir.Input(np.array([2])),
            "fc": nir.Linear(np.eye(2)),
            "lif": lif(2, v_reset=np.array([0.0, 0.3])),
            "out": nir.Output(np.array([2])),
        },
        [("in", "fc"), ("fc", "lif"), ("lif", "out")],
        "vreset.nir",
    )
    with pytest.raises(evsim.ModelFileError, match="node 'lif' \\(LIF\\): v_reset = 0.3, but a reset by subtraction"):
        evsim.load(path, dt=1e-3, reset="subtract")
    net = evsim.load(path, dt=1e-3)  # the nir dialect resets to v_reset
    np.testing.assert_array_equal(net.population("lif").neuron.v_reset, [0.0, 0.3])


def test_spikingjelly_neurons_start_at_v_reset(tmp_path, rng):
    path = write(
        tmp_path,
        {
            "in": nir.Input(np.array([3])),
            "fc": nir.Linear(rng.normal(0, 1, (2, 3))),
            "lif": lif(2, v_reset=np.array([0.4, -0.2])),
            "out": nir.Output(np.array([2])),
        },
        [("in", "fc"), ("fc", "lif"), ("lif", "out")],
        "sj.nir",
    )
    net = evsim.load(path, dialect="spikingjelly")
    np.testing.assert_array_equal(net.population("lif").neuron.v_init, [0.4, -0.2])
    assert evsim.load(path, dt=1e-4).population("lif").neuron.v_init is None  # other dialects start at 0
    x = (rng.random((20, 3)) < 0.5).astype(float)
    res = evsim.run(net, x)
    ref = reference.simulate(net, as_dense_inputs(net, x)[0][0], 20)
    np.testing.assert_array_equal(res.output, ref.spikes["lif"])
    np.testing.assert_allclose(res.final_state["lif"][1], ref.v["lif"][-1], atol=1e-12)
    # the start matters: from 0 instead, the membranes differ
    from_zero = evsim.run(net, x, initial={"lif": [0.0, 0.0]})
    assert not np.allclose(from_zero.final_state["lif"][1], res.final_state["lif"][1])


def test_load_reads_lava_netx_files_too():
    net = evsim.load(model_file("lava_oxford/network.net"))
    assert net.meta["dialect"] == "lava-dl" and net.n_synapses == 91668
    with pytest.raises(evsim.ModelFileError, match="lava-dl netx network; it loads with its own semantics"):
        evsim.load(model_file("lava_oxford/network.net"), dialect="snntorch")
