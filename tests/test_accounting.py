"""SOP / MAC / dense / sparsity counters and energy presets, against independent references.

References: counts worked out by hand on a tiny network, the engine's own per-projection SOP counter, a brute-force
count from the dense reference simulator's spike rasters and dense weight/delay matrices, the explicit expansion
of convolutions, and energy = sum of figures x counts by hand.
"""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import evsim
from evsim import reference
from evsim.accounting import _conv_layer, account, rebin
from evsim.conv import ConvSpec
from evsim.energy import EnergyFileError, EnergyModel, Figure, estimate, load_file, preset, presets, spikformer_energy
from evsim.network import ConvProjection
from evsim.simulation import as_dense_inputs

from conftest import EXAMPLES


def tiny():
    """input (2) -> out (3), IF that never fires. Synapses (source -> target, delay): 0->0 d0, 0->1 d2, 1->1 d1,
    1->2 d3; two zero weights. Input: source 0 at steps 0 and 3, source 1 at step 1 (value 1) and 2 (value 0.5)."""
    W = np.array([[1.0, 0.0], [2.0, 3.0], [0.0, 4.0]])  # [target, source]
    D = np.array([[0, 0], [2, 1], [0, 3]])
    pops = (evsim.Population("in", 2), evsim.Population("out", 3, evsim.IF(3, 100.0)))
    net = evsim.Network(pops, (evsim.Projection.from_dense("p", "in", "out", W, D),), ("in",), ("out",), dt=1e-3)
    x = np.zeros((4, 2))
    x[0, 0] = x[3, 0] = 1.0
    x[1, 1] = 1.0
    x[2, 1] = 0.5
    return net, x


def test_hand_computed_counts():
    net, x = tiny()
    res = evsim.run(net, x)
    a = account(res)
    p = a.projections["p"]
    # 0@0: d0, d2 both arrive (2); 0@3: only d0 (1); 1@1: d1 (d3 -> step 4 >= T) (1); 1@2 value 0.5: d1 only (1)
    assert p.sops.tolist() == [5] == [res.sops_by_projection["p"]]
    assert p.acs.tolist() == [4] and p.macs.tolist() == [1]
    assert p.sops_per_step.tolist() == [[2, 1, 1, 1]]
    # NeuroBench: no delays, every event x 2 non-zero synapses; step 2 holds a real value -> its ops are MACs
    assert p.neurobench_acs.tolist() == [6] and p.neurobench_macs.tolist() == [2]
    assert p.dense.tolist() == [2 * 3 * 4]
    assert p.sinabs_synops.tolist() == [(1 + 1 + 1 + 0.5) * 3]
    assert (p.synapses, p.weights, p.zero_weights) == (4, 6, 2)
    assert a.connection_sparsity == pytest.approx(2 / 6)
    # real-valued input: Spikformer prices the layer as dense MACs (6 connections x 4 steps), no SOPs
    assert p.spikformer_flops.tolist() == [24] and p.spikformer_sops.tolist() == [0]
    assert a.populations["in"].events.tolist() == [4] and a.populations["in"].binary is False
    assert a.neuron_updates_dense == 3 * 4
    nb = a.neurobench()
    assert (nb["Effective_ACs"], nb["Effective_MACs"], nb["Dense"]) == (6, 2, 24)
    sb = a.sinabs()
    assert sb["synops_per_timestep"] == pytest.approx(10.5 / 4)
    assert sb["synops_per_second"] == pytest.approx(10.5 / 4 / 1e-3)
    assert a.to_dict()["sops_per_sample"] == 5


def test_rebin():
    a = np.arange(10).reshape(1, 10)
    assert rebin(a, 3).tolist() == [[3, 12, 21, 9]]
    assert rebin(a, 1).tolist() == a.tolist()
    with pytest.raises(ValueError):
        rebin(a, 0)


@st.composite
def runs(draw):
    """Random recurrent networks with per-synapse delays, zero weights, multi-spike and real-valued inputs."""
    r = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in, n1, n2 = (int(v) for v in r.integers(1, 7, 3))
    multi = draw(st.booleans())
    pops = (
        evsim.Population("in", n_in),
        evsim.Population("a", n1, evsim.IF(n1, r.uniform(0.3, 1.0, n1), multi_spike=multi)),
        evsim.Population("b", n2, evsim.LIF(n2, 0.8, r.uniform(0.3, 1.0, n2))),
    )
    projs = []
    for k, (s, t, ns, nt) in enumerate(
        [("in", "a", n_in, n1), ("a", "b", n1, n2), ("b", "a", n2, n1), ("in", "b", n_in, n2)]
    ):
        W = r.normal(0.4, 0.6, (nt, ns)) * (r.random((nt, ns)) < 0.7)
        D = r.integers(1 if s == "b" else 0, 6, (nt, ns))
        projs.append(evsim.Projection.from_dense(f"q{k}", s, t, W, D))
    net = evsim.Network(pops, tuple(projs), ("in",), ("b",))
    T = int(r.integers(1, 15))
    B = int(r.integers(1, 4))
    x = (r.random((B, T, n_in)) < 0.4) * (r.choice([1.0, 2.5], (B, T, n_in)) if draw(st.booleans()) else 1.0)
    return net, x


def brute_force_sops(net, x):
    """From the reference's dense rasters: sum over (step, source) with activity of the non-zero synapses whose
    delay still lands inside the run."""
    inputs, T = as_dense_inputs(net, x)
    out = {q.name: [] for q in net.projections}
    for d_in in inputs:
        ref = reference.simulate(net, d_in, T)
        for q in net.projections:
            src = net.population(q.source)
            w, d = q.dense(src.size, net.population(q.target).size)
            act = d_in[q.source] if src.is_input else ref.spikes[q.source]
            n = 0
            for t in range(T):
                for j in np.flatnonzero(act[t]):
                    n += int(np.sum((w[j] != 0) & (t + d[j] < T)))
            out[q.name].append(n)
    return out


@given(runs())
def test_sops_equal_engine_counter_and_dense_brute_force(case):
    net, x = case
    res = evsim.run(net, x)
    a = account(res)
    brute = brute_force_sops(net, x)
    for q in net.projections:
        p = a.projections[q.name]
        np.testing.assert_array_equal(p.sops, res.sops_by_projection[q.name])
        np.testing.assert_array_equal(p.sops, brute[q.name])
        np.testing.assert_array_equal(p.sops_per_step.sum(axis=1), p.sops)
        np.testing.assert_array_equal(p.acs + p.macs, p.sops)
    np.testing.assert_array_equal(a.sops, res.sops)
    np.testing.assert_array_equal(a.neuron_updates, res.neuron_updates)


def test_activation_sparsity_from_dense_rasters(rng):
    net = evsim.feedforward(
        [5, 7, 3], lambda n: evsim.LIF(n, 0.9, 0.5), [rng.normal(0.5, 0.5, (7, 5)), rng.normal(0.5, 0.5, (3, 7))]
    )
    x = (rng.random((4, 20, 5)) < 0.5).astype(float)
    res = evsim.run(net, x)
    a = account(res)
    nz = sum(np.count_nonzero(res.spikes[n].dense(20, net.population(n).size, 4)) for n in ("layer1", "layer2"))
    assert a.activation_sparsity == pytest.approx(1 - nz / ((7 + 3) * 20 * 4))
    for name in ("layer1", "layer2"):
        d = res.spikes[name].dense(20, net.population(name).size, 4)
        np.testing.assert_array_equal(a.populations[name].events, np.count_nonzero(d, axis=(1, 2)))
        np.testing.assert_allclose(a.populations[name].spikes_per_neuron, d.sum(axis=(0, 1)) / 4)


@pytest.mark.parametrize("pool", [1, 2])
def test_convolution_fanout_matches_expansion_and_engine(rng, pool):
    w = rng.normal(0, 1, (4, 2, 3, 3)) * (rng.random((4, 2, 3, 3)) < 0.7)
    spec = ConvSpec((2, 9, 11), w, stride=(2, 1), pad=(1, 0), dilation=(1, 2), pool=pool)
    layer = _conv_layer(ConvProjection("c", "in", "o", spec))
    pre = spec.expand()[0]
    fan = np.where(layer.in_index >= 0, layer.fan_nz[np.maximum(layer.in_index, 0)], 0)
    np.testing.assert_array_equal(fan, np.bincount(pre, minlength=spec.n_in))
    hp, wp = spec.pooled_hw
    ones = ConvSpec((2, hp, wp), np.ones(w.shape), stride=(2, 1), pad=(1, 0), dilation=(1, 2))
    np.testing.assert_array_equal(layer.fan_all, np.bincount(ones.expand()[0], minlength=ones.n_in))
    assert layer.zero_weights == int(np.sum(w == 0)) and layer.weights == w.size
    pops = (
        evsim.Population("in", spec.n_in, shape=spec.in_shape),
        evsim.Population("o", spec.n_out, evsim.IF(spec.n_out, 1.0, multi_spike=True), shape=spec.out_shape),
    )
    net = evsim.Network(pops, (ConvProjection("c", "in", "o", spec, 2),), ("in",), ("o",))
    x = (rng.random((2, 10) + spec.in_shape) < 0.3).astype(float)
    res = evsim.run(net, x)
    p = account(res).projections["c"]
    np.testing.assert_array_equal(p.sops, res.sops_by_projection["c"])
    assert p.synapses == pre.size
    assert p.dense.tolist() == [ones.expand()[0].size * 10] * 2


def test_digits_example_counts():
    net = evsim.load(EXAMPLES / "data" / "digits_snntorch.nir", dialect="snntorch")
    data = np.load(EXAMPLES / "data" / "digits_test.npz")
    res = evsim.run(net, data["x"][:40])
    a = account(res)
    for k, p in a.projections.items():
        np.testing.assert_array_equal(p.sops, res.sops_by_projection[k])
        np.testing.assert_array_equal(p.neurobench_acs, p.sops)  # binary inputs, no delays: NeuroBench == evsim
        assert p.neurobench_macs.sum() == 0 and p.macs.sum() == 0
    # the hidden layer's inputs are snnTorch's own recorded spikes: count them independently
    hidden = data["snntorch_hidden"][:40]
    assert a.projections["1->3"].sops.tolist() == (hidden.sum(axis=(1, 2)) * 10).tolist()
    assert a.projections["input->1"].sops.tolist() == (data["x"][:40].sum(axis=(1, 2)) * 128).tolist()
    assert a.neurobench()["Dense"] == (64 * 128 + 128 * 10) * 25
    assert a.memory_bytes == net.nbytes()


# ------------------------------------------------------------------------------------------------ energy
def test_energy_is_figures_times_counts():
    net, x = tiny()
    a = account(evsim.run(net, x))
    m = EnergyModel(
        "m",
        "test",
        {
            "ac": Figure(2.0, "s"),
            "mac": Figure(10.0, "s"),
            "weight_fetch": Figure(1.0, "s"),
            "neuron_update": Figure(3.0, "s"),
            "neuron_idle": Figure(0.5, "s"),
            "spike": Figure(7.0, "s"),
        },
    )
    e = estimate(a, m)
    upd = int(a.neuron_updates[0])
    want_syn = (2.0 * 4 + 10.0 * 1 + 1.0 * 5) * 1e-12
    want_neu = (3.0 * upd + 0.5 * (12 - upd)) * 1e-12
    assert e.synaptic["p"][0] == pytest.approx(want_syn)
    assert e.neurons[0] == pytest.approx(want_neu)
    assert e.spikes["out"][0] == 0  # the IF never fires
    assert e.total[0] == pytest.approx(want_syn + want_neu)
    assert spikformer_energy(a, m)[0] == pytest.approx(10.0 * 24 * 1e-12)
    assert e.to_dict()["joules_per_sample"] == pytest.approx(want_syn + want_neu)


def test_shipped_presets_have_sources_and_the_published_figures():
    ps = presets()
    assert {
        "horowitz45-fp32",
        "horowitz45-fp16",
        "horowitz45-int8",
        "horowitz45-int32",
        "horowitz45-fp32-sram",
        "loihi",
        "truenorth",
        "spinnaker",
    } <= set(ps)
    for m in ps.values():
        assert m.figures and all(f.source and f.pj >= 0 for f in m.figures.values())
    assert (ps["horowitz45-fp32"].pj("ac"), ps["horowitz45-fp32"].pj("mac")) == (0.9, 4.6)
    assert ps["horowitz45-fp32-sram"].pj("weight_fetch") == 5.0
    assert ps["loihi"].pj("ac") == 23.6


def test_user_presets_json_and_toml(tmp_path):
    j = tmp_path / "mine.json"
    j.write_text(json.dumps({"figures": {"ac": {"pJ": 1.5, "source": "datasheet"}}}))
    assert load_file(j)["mine"].pj("ac") == 1.5
    t = tmp_path / "chips.toml"
    t.write_text(
        '[presets.chip]\ntitle = "Chip"\nfigures.ac = { pJ = 0.5, source = "paper" }\n'
        'figures.mac = { pJ = 2, source = "paper" }\n'
    )
    assert preset("chip", t).pj("mac") == 2.0
    assert "horowitz45-fp32" in presets(t) and "chip" in presets(t)


@pytest.mark.parametrize(
    "text, suffix, match",
    [
        ('{"figures": {"acc": {"pJ": 1, "source": "x"}}}', ".json", r"unknown figure 'figures.acc'"),
        (
            '{"presets": {"c": {"figures": {"ac": {"pJ": -1, "source": "x"}}}}}',
            ".json",
            r"presets.c.figures.ac.pJ must be a finite number",
        ),
        ('{"figures": {"mac": {"pJ": 1}}}', ".json", r"figures.mac.source is missing"),
        ('{"figures": {"ac": {"pJ": 1, "source": "x", "unit": "nJ"}}}', ".json", r"unknown key\(s\) \['unit'\]"),
        ('{"nothing": 1}', ".json", "expected a key 'presets'"),
        ("[presets.c\nfigures = 1", ".toml", "cannot parse"),
        ("{}", ".yaml", "unknown energy file format"),
    ],
)
def test_bad_energy_files_name_file_and_key(tmp_path, text, suffix, match):
    f = tmp_path / f"bad{suffix}"
    f.write_text(text)
    with pytest.raises(EnergyFileError, match=match) as e:
        load_file(f)
    assert str(f) in str(e.value)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(EnergyFileError, match="no energy preset named 'nope'; have .*loihi"):
        preset("nope")
