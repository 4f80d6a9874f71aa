"""Short reprs (sizes, names, dt, dialect, counts; never arrays), graph order, time units (evsim.summary)."""

import numpy as np
from conftest import EXAMPLES

import evsim
from evsim.cli import main
from evsim.summary import graph_order, topological

DIGITS = EXAMPLES / "data" / "digits_snntorch.nir"
CNN = EXAMPLES / "data" / "cnn_sinabs.nir"


def test_reprs_are_short_and_count_right():
    net = evsim.load(DIGITS, dialect="snntorch")
    text = repr(net)
    assert "array" not in text and len(text.splitlines()) == 6 and len(text) < 1000
    assert "138 neurons in 2 populations" in text and f"{net.n_synapses} synapses" in text
    assert "dt 0.0001 s" in text and "dialect snntorch" in text
    assert repr(net.population("1")) == "Population('1', LIF, 128 neurons)"
    assert repr(net.projections[0]) == "Projection('input->1': input -> 1, 8192 synapses, delay 0)"
    x = np.load(EXAMPLES / "data" / "digits_test.npz")["x"][:4]
    res = evsim.run(net, x)
    r = repr(res)
    assert "array" not in r and "\n" not in r and "4 samples x 25 steps" in r
    assert f"{int(res.output.sum())} output spikes" in r and f"SOPs {res.sops.mean():.6g} per sample" in r
    sp = res.spikes["1"]
    assert repr(sp).startswith(f"Spikes({len(sp)} events in 4 sample(s), steps {sp.times.min()}..")
    assert str(net) == repr(net)


def test_repr_of_a_large_network_stays_short(rng):
    sizes = [700] + [50] * 15 + [20]
    ws = [rng.normal(size=(sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    net = evsim.feedforward(sizes, lambda n: evsim.LIF(n, beta=0.9), ws, [3] * len(ws))
    text = repr(net)
    assert "array" not in text and "... and 4 more" in text and "... and 4 more" in text.split("Projection")[-1]
    assert len(text.splitlines()) == 1 + 2 * (12 + 1) and "dt 1 step (no time unit)" in text


def test_graph_order_on_the_cnn_and_on_random_graphs(rng):
    net = evsim.load(CNN, dialect="sinabs")
    assert [p.name for p in net.populations] == ["input", "1", "10", "12", "3", "6"]  # as strings sort
    assert graph_order(net) == ("input", "1", "3", "6", "10", "12")
    for _ in range(50):  # random DAGs plus back edges: every forward edge goes forward in the order
        n = int(rng.integers(2, 12))
        perm = [f"n{k}" for k in rng.permutation(n)]  # topological rank k -> name perm[k]
        dag = [(perm[a], perm[b]) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.3]
        back = [(perm[b], perm[a]) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.1]
        roots = [perm[0]]
        order = topological(sorted(perm), dag, roots)
        pos = {m: k for k, m in enumerate(order)}
        assert sorted(order) == sorted(perm) and order[0] == perm[0]
        assert all(pos[a] < pos[b] for a, b in dag)
        # with feedback edges, every node once, the root first (nothing feeds it but feedback from its descendants)
        order = topological(sorted(perm), dag + back, roots)
        assert sorted(order) == sorted(perm)
        reach, todo = {perm[0]}, [perm[0]]
        while todo:
            u = todo.pop()
            for a, b in dag + back:
                if a == u and b not in reach:
                    reach.add(b)
                    todo.append(b)
        if len(reach) == n:
            assert order[0] == perm[0]


def test_info_lists_populations_in_graph_order(capsys):
    assert main(["info", str(CNN), "--dialect", "sinabs"]) == 0
    out = capsys.readouterr().out
    pops = out.split("populations:")[1].split("projections:")[0].splitlines()[2:]
    assert [line.split()[0] for line in pops if line.strip()] == ["input", "1", "3", "6", "10", "12"]
    nodes = out.split("NIR graph")[1].split("populations:")[0].splitlines()[2:]
    names = [line.split()[0] for line in nodes if line.strip()]
    assert names == ["input", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "output"]


def test_time_counted_in_steps_says_per_step(capsys):
    net = evsim.load(CNN, dialect="sinabs")  # Sinabs: dt = 1, time constants in steps
    assert net.time_unit == "step" and net.seconds_per_step is None
    assert "dt 1 step (time constants in steps)" in repr(net)
    secs = evsim.load(CNN, dialect="sinabs", dt=1e-3)
    assert secs.time_unit == "s" and secs.seconds_per_step == 1e-3
    from evsim.accounting import account
    from evsim.plots import rate_histograms

    x = np.zeros((5, 2, 34, 34))
    x[:, 0, 10:20, 10:20] = 1
    acct = account(evsim.run(net, x))
    assert acct.dt is None and "synops_per_second" not in acct.sinabs()
    fig = rate_histograms(acct)
    assert fig.axes[0].get_xlabel() == "spikes per neuron per step"
    assert main(["info", str(CNN), "--dialect", "sinabs"]) == 0
    assert "dt 1 step" in capsys.readouterr().out


def test_output_built_on_first_read_equals_the_spikes_counted_per_step(rng):
    """`Result.output` (dense [B, T, n_out] counts) is built when first read, not by `run`: the same numbers as
    counting the output population's recorded spikes per step by hand; repr and pickling work either way."""
    import pickle

    n = (30, 40, 8)
    ws = [rng.normal(0.7, 0.5, (n[k + 1], n[k])) for k in range(2)]
    net = evsim.feedforward(list(n), lambda m: evsim.LIF(m, beta=0.9), ws, [np.ones(w.shape, int) for w in ws])
    x = (rng.random((4, 50, n[0])) < 0.3).astype(np.float64)
    for res, B in ((evsim.run(net, x), 4), (evsim.run(net, x[0]), None)):
        shape = (B, 50, 8) if B else (50, 8)
        assert f"spikes {list(shape)}" in repr(res) and res.output_shape == shape
        sp = res.spikes[net.outputs[0]]
        want = np.zeros((B or 1, 50, 8), dtype=np.int64)
        for b, t, i, c in zip(sp.samples, sp.times, sp.indices, sp.counts):
            want[b, t, i] += c
        back = pickle.loads(pickle.dumps(res))
        np.testing.assert_array_equal(res.output, want if B else want[0])
        np.testing.assert_array_equal(back.output, res.output)
        assert res.output is res.output  # built once, then kept
