"""Network validation and input checks: bad input gives one clear error naming what was wrong."""

import dataclasses

import numpy as np
import pytest

import evsim
from evsim import reference
from evsim.engine import compile_network
from evsim.simulation import as_dense_inputs


def small(rng, delay=0):
    return evsim.feedforward([3, 4], lambda n: evsim.LIF(n, 0.9), [rng.normal(0, 1, (4, 3))], [delay])


def test_from_dense_keeps_nonzero_synapses_sorted_by_delay(rng):
    W = rng.normal(0, 1, (5, 4)) * (rng.random((5, 4)) < 0.6)
    D = rng.integers(0, 7, (5, 4))
    q = evsim.Projection.from_dense("q", "a", "b", W, D)
    assert q.n_synapses == np.count_nonzero(W)
    w, d = q.dense(4, 5)
    np.testing.assert_array_equal(w, W.T)
    np.testing.assert_array_equal(d[W.T != 0], D.T[W.T != 0])
    for j in range(4):
        row = q.delays[q.indptr[j] : q.indptr[j + 1]]
        assert np.all(np.diff(row) >= 0)


@pytest.mark.parametrize(
    "weight, delay, match",
    [
        (np.array([[np.nan, 1.0]]), 0, "projection 'q'.*NaN"),
        (np.array([[np.inf, 1.0]]), 0, "projection 'q'.*finite"),
        (np.array([[1.0, 1.0]]), -1, "projection 'q': negative delay"),
        (np.array([[1.0, 1.0]]), 0.5, "whole numbers of steps"),
    ],
)
def test_bad_projection_values(weight, delay, match):
    with pytest.raises(evsim.NetworkError, match=match):
        q = evsim.Projection.from_dense("q", "in", "p", np.nan_to_num(weight, nan=1.0, posinf=1.0), delay)
        q = evsim.Projection("q", "in", "p", q.indptr, q.targets, weight.T.reshape(-1), q.delays)
        evsim.Network((evsim.Population("in", 2), evsim.Population("p", 1, evsim.LIF(1, 0.9))), (q,), ("in",), ("p",))


def test_structural_errors_name_the_part():
    lif = evsim.LIF(2, 0.9)
    pin = evsim.Population("in", 2)
    with pytest.raises(evsim.NetworkError, match="two populations are named 'in'"):
        evsim.Network((pin, evsim.Population("in", 2, lif)), (), ("in",), ("in",))
    with pytest.raises(evsim.NetworkError, match="projection 'x': target 'nope' is not a population"):
        evsim.Network(
            (pin, evsim.Population("p", 2, lif)),
            (evsim.Projection.from_dense("x", "in", "nope", np.eye(2)),),
            ("in",),
            ("p",),
        )
    with pytest.raises(evsim.NetworkError, match="target index out of range"):
        q = evsim.Projection("x", "in", "p", np.array([0, 1, 1]), np.array([5]), np.array([1.0]), np.array([0]))
        evsim.Network((pin, evsim.Population("p", 2, lif)), (q,), ("in",), ("p",))
    with pytest.raises(evsim.NetworkError, match="zero-delay cycle"):
        evsim.Network(
            (pin, evsim.Population("a", 2, lif), evsim.Population("b", 2, lif)),
            (
                evsim.Projection.from_dense("ab", "a", "b", np.eye(2)),
                evsim.Projection.from_dense("ba", "b", "a", np.eye(2)),
            ),
            ("in",),
            ("b",),
        )
    with pytest.raises(evsim.NetworkError, match="connects 'a' to itself with zero delay"):
        evsim.Network(
            (pin, evsim.Population("a", 2, lif)),
            (evsim.Projection.from_dense("aa", "a", "a", np.eye(2)),),
            ("in",),
            ("a",),
        )
    with pytest.raises(evsim.NetworkError, match="population 'p': 3 neurons but parameters for 2"):
        evsim.Network((pin, evsim.Population("p", 3, lif)), (), ("in",), ("p",))
    with pytest.raises(evsim.NetworkError, match="beta' must lie in \\[0, 1\\]"):
        evsim.LIF(2, 1.5)
    with pytest.raises(evsim.NetworkError, match="'v_th' is nan at neuron 0"):
        evsim.LIF(2, 0.9, np.nan)


def test_network_is_frozen(rng):
    net = small(rng)
    with pytest.raises(ValueError, match="read-only"):
        net.projections[0].weights[0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.dt = 1.0


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((10, 5)), r"input 'input': got shape \(10, 5\), expected \[T, 3\]"),
        (np.zeros(3), "got shape"),
        (np.full((4, 3), np.nan), "NaN or Inf"),
        (np.array([["a", "b", "c"]]), "expected numbers"),
        ((np.array([0, 1]), np.array([0, 7])), r"indices must be integers in \[0, 3\)"),
        ((np.array([0, -1]), np.array([0, 1])), "negative event time"),
        ((np.array([0.5]), np.array([0])), "whole numbers"),
        ({"other": np.zeros((3, 3))}, "unknown input port"),
    ],
)
def test_bad_inputs(rng, x, match):
    with pytest.raises(evsim.InputError, match=match):
        evsim.run(small(rng), x)


def test_lif_with_bias_fires_between_inputs_like_the_reference():
    # a bias drives the neuron over threshold with no input at all: the engine must schedule its own crossings
    net = evsim.feedforward([1, 3], lambda n: evsim.LIF(n, 0.9, 1.0, bias=[0.15, 0.2, 0.05]), [np.zeros((3, 1))])
    x = np.zeros((200, 1))
    res = evsim.run(net, x)
    ref = reference.simulate(net, as_dense_inputs(net, x)[0][0], 200)
    np.testing.assert_array_equal(res.output, ref.spikes["layer1"])
    # analytic: v_k = 1.5 (1 - 0.9^k) for bias 0.15 crosses 1 at k = ceil(log(1/3)/log(0.9)) = 11, period 11
    assert np.flatnonzero(res.output[:, 0])[:3].tolist() == [10, 21, 32]
    assert res.output[:, 2].sum() == 0  # 0.05 / 0.1 = 0.5 < 1: never
    assert res.neuron_updates < 60  # only the crossings were touched, not 400 neuron-steps


def test_cuba_current_keeps_charging_after_the_input():
    # one input spike; the synaptic current carries the membrane over threshold several steps later
    net = evsim.feedforward([1, 1], lambda n: evsim.CubaLIF(n, 0.9, 0.9, 1.0), [np.array([[0.3]])])
    x = np.zeros((40, 1))
    x[0, 0] = 1
    res = evsim.run(net, x)
    i, v, first = 0.0, 0.0, None
    for t in range(40):  # closed-form check: i_t = 0.3 * 0.9^t, v_t = 0.9 v + i_t
        i = 0.9 * i + (0.3 if t == 0 else 0.0)
        v = 0.9 * v + i
        if v > 1 and first is None:
            first = t
    assert first is not None and first > 0
    assert np.flatnonzero(res.output[:, 0])[0] == first


def test_poisson_source_counts_are_poisson_and_seeded():
    n, T, lam = 400, 1000, 0.3
    pops = (evsim.Population("ext", n, poisson_rate=lam), evsim.Population("p", n, evsim.IF(n, 1e12)))
    net = evsim.Network(pops, (evsim.Projection.from_dense("q", "ext", "p", np.eye(n)),), (), ("p",))
    res = evsim.run(net, steps=T, seed=7)
    counts = res.final_state["p"][1]  # IF with unit weights: the membrane is the number of events received
    assert abs(counts.mean() - lam * T) < 5 * np.sqrt(lam * T / n)
    assert abs(counts.var() / (lam * T) - 1) < 0.2  # Poisson: variance = mean
    assert abs(res.sops / (n * T) - (1 - np.exp(-lam))) < 0.01  # one delivery per non-empty count
    again = evsim.run(net, steps=T, seed=7)
    np.testing.assert_array_equal(again.final_state["p"][1], counts)
    assert not np.array_equal(evsim.run(net, steps=T, seed=8).final_state["p"][1], counts)
    with pytest.raises(evsim.InputError, match="needs steps=T"):
        evsim.run(net)
    with pytest.raises(evsim.NetworkError, match="Poisson source"):
        evsim.Network(pops, (), ("ext",), ("p",))


def test_initial_membrane(rng):
    net = evsim.feedforward([1, 3], lambda n: evsim.LIF(n, 0.5, 1.0), [np.zeros((3, 1))])
    res = evsim.run(net, np.zeros((4, 1)), initial={"layer1": [0.8, 2.4, -1.0]})
    # 2.4 * 0.5 = 1.2 > 1 at step 0: a spike with no input (a predicted crossing), then 0.2 decays
    np.testing.assert_allclose(res.final_state["layer1"][1], [0.8 * 0.5**4, 0.2 * 0.5**3, -1.0 * 0.5**4])
    assert res.spikes["layer1"].indices.tolist() == [1] and res.spikes["layer1"].times.tolist() == [0]
    with pytest.raises(evsim.InputError, match="expected 3 finite membrane values"):
        evsim.run(net, np.zeros((4, 1)), initial={"layer1": [1.0, 2.0]})


def test_synapses_packed_small_and_shared_with_the_engine(rng):
    # the network keeps one array each for targets, weights and delays, of the smallest exact types; the engine
    # uses them without a copy: the feedforward benchmark's shape takes at most 12 bytes per synapse in all
    w = [rng.normal(0, 0.1, (256, 700)), rng.normal(0, 0.1, (256, 256)), rng.normal(0, 0.1, (20, 256))]
    d = [rng.integers(1, 27, x.shape) for x in w]
    net = evsim.feedforward([700, 256, 256, 20], lambda n: evsim.LIF(n, 0.9), w, d)
    flat = net._synapses
    assert flat["targets"].dtype == np.uint16 and flat["delays"].dtype == np.uint8
    for k, q in enumerate(net.projections):
        assert np.shares_memory(q.targets, flat["targets"]) and np.shares_memory(q.weights, flat["weights"])
        wd, dd = q.dense(*w[k].shape[::-1])
        np.testing.assert_array_equal(wd.T, w[k])
        np.testing.assert_array_equal(dd.T, d[k])
    cn = compile_network(net)
    assert cn.arrays["targets"] is flat["targets"] and cn.arrays["weights"] is flat["weights"]
    assert cn.bytes_per_synapse() <= 12.0
    assert cn.nbytes() < 2 * net.n_synapses  # groups, rows and per-neuron arrays: small beside the synapses


def test_large_target_population_uses_int32_targets_and_long_delays(rng):
    # over 65,536 target neurons and delays over 255 steps: the wider types, the same results as the reference
    n = 70_000
    pre = rng.integers(0, 4, 3000)
    post = np.concatenate([rng.integers(0, n, 2990), [n - 1] * 10])
    delay = np.concatenate([rng.integers(0, 4, 2990), [300] * 10])
    pops = (evsim.Population("in", 4), evsim.Population("big", n, evsim.LIF(n, 0.9, 0.5)))
    q = evsim.Projection.from_synapses("q", "in", "big", pre, post, rng.normal(0.4, 0.2, 3000), delay, 4)
    net = evsim.Network(pops, (q,), ("in",), ("big",))
    assert net._synapses["targets"].dtype == np.int32 and net._synapses["delays"].dtype == np.uint16
    x = (rng.random((310, 4)) < 0.3).astype(float)
    res = evsim.run(net, x)
    ref = reference.simulate(net, {"in": x}, 310)
    np.testing.assert_array_equal(res.spikes["big"].dense(310, n)[0], ref.spikes["big"])
    assert res.spikes["big"].times.max() >= 300  # the long delays arrived
