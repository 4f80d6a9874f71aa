"""SNN-delays checkpoints: evsim's hidden spikes, output membrane and predictions against PyTorch's, recorded by
examples/train_snn_delays.py when it trained the shipped model (SNN-delays' own code, DCLS and SpikingJelly); the
restricted checkpoint reader and the config parser against hostile files; a live comparison when torch is present."""

import io
import json
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

import evsim
from evsim.io.pyconfig import read_config
from evsim.io.snn_delays import load_snn_delays, synapses
from evsim.io.torch_pickle import read_state_dict

from conftest import EXAMPLES, REPO

MODEL = EXAMPLES / "data" / "snn_delays_model.pt"
CONFIG = EXAMPLES / "data" / "snn_delays_config.py"
REF = EXAMPLES / "data" / "snn_delays_reference.npz"
TORCH_PY = Path(
    os.environ.get("EVSIM_TORCH_PYTHON", Path(__file__).resolve().parents[2] / "venv-torch" / "bin" / "python")
)


@pytest.fixture(scope="module")
def ref():
    with np.load(REF) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def result(ref):
    net = evsim.load(MODEL, config=CONFIG)
    return net, evsim.run(net, ref["frames"].astype(np.float64))


def test_hidden_spikes_output_and_predictions_equal_pytorch(ref, result):
    net, res = result
    B, T, _ = ref["frames"].shape
    grow = (int(net.meta["config"]["max_delay"]) - 1) // 2
    assert res.steps == T + 3 * grow == ref["v_out"].shape[1]  # each layer's sequence is `grow` steps longer
    for k in (0, 1):
        want = ref[f"spikes{k}"]
        assert want.shape[1] == T + (k + 1) * grow
        got = res.spikes[f"hidden{k + 1}"].dense(want.shape[1], want.shape[2], B).astype(bool)
        assert want.sum() > 100
        np.testing.assert_array_equal(got, want, err_msg=f"hidden layer {k + 1}")
    np.testing.assert_allclose(res.output, ref["v_out"], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(res.predictions(), ref["pred"])
    assert np.mean(res.predictions() == ref["labels"]) == pytest.approx(float(ref["accuracy"]))


def test_one_sample_at_a_time_equals_the_batch_and_compiles_each_layer_once(ref, result, monkeypatch):
    """Sample by sample, a layered run gives the batch's spikes and output, and its layers' networks are compiled
    once, not on every call (each call made new layer networks: compiled again, their kernels looked up again)."""
    import evsim.simulation

    net, res = result
    compiled = []
    real = evsim.simulation.compile_network
    monkeypatch.setattr(evsim.simulation, "_cache", {})  # (a fresh cache of compiled networks: none evicted)
    monkeypatch.setattr(evsim.simulation, "compile_network", lambda n, **kw: compiled.append(n) or real(n, **kw))
    for b in (0, 1, 2):
        one = evsim.run(net, ref["frames"][b].astype(np.float64))
        assert len(compiled) == 3  # the three layers, on the first call only
        for name in ("hidden1", "hidden2"):
            sp = res.spikes[name]
            np.testing.assert_array_equal(one.spikes[name].times, sp.times[sp.samples == b])
            np.testing.assert_array_equal(one.spikes[name].indices, sp.indices[sp.samples == b])
        np.testing.assert_array_equal(one.output, res.output[b])


def test_model_structure_and_input_pipeline():
    net = evsim.load(MODEL, config=CONFIG)
    assert [p.name for p in net.populations] == ["input", "hidden1", "hidden2", "output"]
    assert len(net.projections) == 3 and net.dt == pytest.approx(0.01)
    assert net.meta["input_pipeline"] == dict(rule="spikingjelly", time_step=0.01, n_bins=5)
    assert any("surrogate_function" in n for n in net.meta["notes"])  # the call was skipped, not run
    assert net.max_delay <= 24 and len({int(d) for q in net.projections for d in q.delays}) > 10


def test_shd_file_binned_by_the_models_pipeline_gives_pytorchs_frames(ref):
    # evsim.data reads the shipped SHD-layout test set with the pipeline the config states (SpikingJelly frames of
    # time_step ms, n_bins channel binning): the frames PyTorch was fed, sample for sample
    from evsim.data import InputPipeline, SHDFile, raster

    net = evsim.load(MODEL, config=CONFIG)
    pipe = InputPipeline.from_dict(net.meta["input_pipeline"])
    with SHDFile(EXAMPLES / "data" / "snn_delays_test.h5") as d:
        assert np.array_equal(d.labels, ref["labels"])
        for i in range(0, len(d), 7):
            ev, _ = d[i]
            np.testing.assert_array_equal(
                raster(ev, pipe, net.dt).reshape(ref["frames"].shape[1], -1), ref["frames"][i]
            )


def test_synapse_filter_skips_its_decay_in_a_spiking_step():
    # SpikingJelly: I_t = I_{t-1} - (1 - S_t) I_{t-1} / tau + S_t; spikes at 0, 1, 4, tau = 2
    from evsim.layered import synapse_filter
    from evsim.simulation import EventStream

    e = synapse_filter(EventStream(np.array([0, 1, 4]), np.array([0, 0, 0])), 6, 1, 0.5)
    np.testing.assert_array_equal(e.times, np.arange(6))
    np.testing.assert_allclose(e.values, [1, 2, 1, 0.5, 1.5, 0.75])


def test_delays_follow_round_pos_and_the_padded_convolution():
    # position p in [-12, 12] (M = 25): tap k = round(p) + 12, delay = (M - 1) - k = 12 - round(p) (half to even)
    w = np.ones((1, 5, 1), np.float32)
    P = np.array([-12.0, -0.5, 0.5, 1.5, 40.0], np.float32).reshape(1, 1, 5, 1)
    pre, post, weight, delay = synapses(w, P, 25, 24)
    np.testing.assert_array_equal(delay, [24, 12, 12, 10, 0])
    assert weight[0] == np.float32(1) * (np.float32(1) / np.float32(1 + 1e-7)) and weight[0] < 1


def test_checkpoint_reader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
        z.writestr("evil/byteorder", "little")
    with pytest.raises(evsim.ModelFileError, match="print, not only tensors.*never runs code"):
        read_state_dict(path, use_torch=False)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(evsim.ModelFileError, match="not a PyTorch zip checkpoint"):
        read_state_dict(tmp_path / "text.pt", use_torch=False)
    with pytest.raises(evsim.ModelFileError, match="pass its SNN-delays config"):
        evsim.load(MODEL)


def test_config_that_does_not_fit_the_checkpoint_is_named():
    cfg, _ = read_config(CONFIG)
    cfg = {k: v for k, v in cfg.items() if isinstance(v, (int, float, str))}
    with pytest.raises(evsim.ModelFileError, match=r"'model.0.weight' has shape \(24, 140, 1\), the config implies"):
        evsim.load(MODEL, config=dict(cfg, n_hidden_neurons=30))
    with pytest.raises(evsim.ModelFileError, match="3 Dcls1d layers in the state_dict, the config implies 4"):
        evsim.load(MODEL, config=dict(cfg, n_hidden_layers=3))
    gsc = evsim.load(MODEL, config=dict(cfg, dataset="gsc"))  # spectrogram input: no event pipeline to offer
    assert "input_pipeline" not in gsc.meta and any("gsc" in n for n in gsc.meta["notes"])
    with pytest.raises(evsim.ModelFileError, match=r"config lacks \['max_delay'\]"):
        evsim.load(MODEL, config={k: v for k, v in cfg.items() if k != "max_delay"})


def test_config_parser_evaluates_literals_and_skips_the_rest(tmp_path):
    f = tmp_path / "c.py"
    f.write_text(
        "import os\nclass Config:\n    a = 250 // 10\n    a = a if a % 2 == 1 else a + 1\n"
        "    b = os.system('echo x')\n    c = f'{a}ms'\n    d = -a // 2\n    e = 2 ** 1000\n"
    )
    v, notes = read_config(f)
    assert v == dict(a=25, c="25ms", d=-13)
    assert len(notes) == 2 and "os.system" in notes[0] and "exponent" in notes[1]
    j = tmp_path / "c.json"
    cfg, _ = read_config(CONFIG)
    j.write_text(json.dumps({k: x for k, x in cfg.items() if isinstance(x, (int, float, str, bool))}))
    net_j = evsim.load(MODEL, config=j)
    net_p = evsim.load(MODEL, config=CONFIG)
    for a, b in zip(net_j.projections, net_p.projections):
        np.testing.assert_array_equal(a.delays, b.delays)
        np.testing.assert_array_equal(a.weights, b.weights)
    bad = dict(cfg, stateful_synapse=True)
    with pytest.raises(evsim.ModelFileError, match=r"modules \['0', '4', '8'\].*stateful_synapse = True.*\[0, 5, 10\]"):
        evsim.load(MODEL, config={k: x for k, x in bad.items() if not callable(x)})


VARIANTS = [  # config changes: the model as trained, then models laid out as SnnDelays builds them for these
    {},
    dict(loss="spike_count", output_v_threshold=0.5),
    dict(loss="mean"),
    dict(loss="max"),
    dict(spiking_neuron_type="plif"),
    dict(stateful_synapse=True, stateful_synapse_tau=3.0),
    dict(stateful_synapse=True, stateful_synapse_learnable=True, stateful_synapse_tau=3.0),
]


def torch_decoding(out, loss):
    """SNN-delays' Model.calc_metric on PyTorch's output [B, T, classes] (float32 as PyTorch computed it)."""
    if loss == "sum":
        z = np.exp(out - out.max(axis=-1, keepdims=True))
        return (z / z.sum(axis=-1, keepdims=True)).sum(axis=1).argmax(axis=1)
    return {"mean": out.mean(axis=1), "max": out.max(axis=1), "spike_count": out.sum(axis=1)}[loss].argmax(axis=1)


@pytest.mark.validation
def test_live_pytorch_forward_matches(ref, tmp_path):
    """Models rebuilt from DCLS + SpikingJelly as SnnDelays lays them out, in a Python with torch
    (EVSIM_TORCH_PYTHON), on 40 test samples: the trained one (its hidden spikes and output equal the recorded ones),
    spike_count / mean / max decodings, PLIF, SynapseFilter (fixed and learnable); evsim gives every hidden spike,
    the output and the prediction; torch.load's tensors equal evsim's own reader's."""
    if not TORCH_PY.exists():
        pytest.skip(f"no framework Python at {TORCH_PY} (set EVSIM_TORCH_PYTHON to a Python with torch and DCLS)")
    probe = subprocess.run([str(TORCH_PY), "-c", "import torch, DCLS, spikingjelly"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"torch, DCLS or spikingjelly missing in {TORCH_PY}: {probe.stderr.strip().splitlines()[-1:]}")
    base, _ = read_config(CONFIG)
    base = {k: v for k, v in base.items() if isinstance(v, (int, float, str))}
    cfgs = [dict(base, **v) for v in VARIANTS]
    (tmp_path / "cfg.json").write_text(json.dumps(cfgs))
    np.savez(tmp_path / "x.npz", frames=ref["frames"][:40])
    script = REPO / "validation" / "frameworks" / "snn_delays_forward.py"
    args = [str(TORCH_PY), str(script), str(MODEL), str(tmp_path / "cfg.json"), str(tmp_path / "x.npz")]
    proc = subprocess.run(args + [str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = np.load(tmp_path / "variant0.npz")
    mine = read_state_dict(MODEL, use_torch=False)
    assert {k[3:] for k in first.files if k.startswith("sd:")} == set(mine)
    for k, v in mine.items():
        np.testing.assert_array_equal(v, first[f"sd:{k}"])
    for k in (0, 1):
        np.testing.assert_array_equal(first[f"spikes{k}"], ref[f"spikes{k}"][:40])
    np.testing.assert_allclose(first["out"], ref["v_out"][:40], rtol=1e-5, atol=1e-5)
    x = ref["frames"][:40].astype(np.float64)
    for i, cfg in enumerate(cfgs):
        live = np.load(tmp_path / f"variant{i}.npz")
        net = load_snn_delays(tmp_path / f"variant{i}.pt", cfg, use_torch=False)
        res = evsim.run(net, x)
        for k in (0, 1):
            want = live[f"spikes{k}"]
            got = res.spikes[f"hidden{k + 1}"].dense(want.shape[1], want.shape[2], 40).astype(bool)
            print(f"{VARIANTS[i]}: hidden{k + 1} {np.mean(got == want):.2%} equal, {want.sum()} spikes")
            np.testing.assert_array_equal(got, want, err_msg=f"variant {VARIANTS[i]}, hidden{k + 1}")
        if cfg["loss"] == "spike_count":
            np.testing.assert_array_equal(res.output, live["out"])
        else:
            np.testing.assert_allclose(res.output, live["out"], rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(res.predictions(), torch_decoding(live["out"], cfg["loss"]))


def test_save_nir_of_the_imported_model_loads_back_to_the_same_spikes(ref, result, tmp_path):
    net, res = result
    path = tmp_path / "snn_delays.nir"
    back = evsim.load(path, **evsim.save_nir(net, path))
    assert back.meta["layered"] == net.meta["layered"]  # runs layer by layer again, with the same decoding
    x = ref["frames"][:30].astype(np.float64)
    again = evsim.run(back, x)
    for name in ("hidden1", "hidden2"):
        want = res.spikes[name]
        keep = want.samples < 30
        got = again.spikes[name]
        np.testing.assert_array_equal(got.times, want.times[keep])
        np.testing.assert_array_equal(got.indices, want.indices[keep])
    np.testing.assert_allclose(again.output, res.output[:30], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(again.predictions(), ref["pred"][:30])


def _fake_checkpoint(monkeypatch, path, size, stride, storage_values, storage_file=True):
    """A torch.save-style zip written without torch: fake `torch` modules make pickle emit torch's globals."""
    import collections
    import types

    torch_mod, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*a):
        raise AssertionError("never called")

    class FloatStorage:
        pass

    _rebuild_tensor_v2.__module__, FloatStorage.__module__ = "torch._utils", "torch"
    _rebuild_tensor_v2.__qualname__, FloatStorage.__qualname__ = "_rebuild_tensor_v2", "FloatStorage"
    utils._rebuild_tensor_v2, torch_mod.FloatStorage, torch_mod._utils = _rebuild_tensor_v2, FloatStorage, utils
    monkeypatch.setitem(__import__("sys").modules, "torch", torch_mod)
    monkeypatch.setitem(__import__("sys").modules, "torch._utils", utils)

    class Tensor:
        def __reduce__(self):
            return (_rebuild_tensor_v2, ("STORAGE", 0, size, stride, False, collections.OrderedDict()))

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "0", "cpu", len(storage_values)) if obj == "STORAGE" else None

    buf = io.BytesIO()
    P(buf, protocol=2).dump(collections.OrderedDict(w=Tensor()))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ck/data.pkl", buf.getvalue())
        z.writestr("ck/byteorder", "little")
        if storage_file:
            z.writestr("ck/data/0", np.asarray(storage_values, "<f4").tobytes())


def test_restricted_reader_on_hand_made_checkpoints(monkeypatch, tmp_path):
    _fake_checkpoint(monkeypatch, tmp_path / "a.pt", (2, 3), (1, 2), np.arange(6))  # a transposed (strided) view
    np.testing.assert_array_equal(
        read_state_dict(tmp_path / "a.pt", use_torch=False)["w"], np.arange(6).reshape(3, 2).T
    )
    _fake_checkpoint(monkeypatch, tmp_path / "b.pt", (4, 3), (3, 1), np.arange(6))
    with pytest.raises(evsim.ModelFileError, match=r"shape \(4, 3\) reaches past its storage \(6 values\)"):
        read_state_dict(tmp_path / "b.pt", use_torch=False)
    _fake_checkpoint(monkeypatch, tmp_path / "c.pt", (2, 3), (3, 1), np.arange(6), storage_file=False)
    with pytest.raises(evsim.ModelFileError, match="'ck/data/0' is missing"):
        read_state_dict(tmp_path / "c.pt", use_torch=False)
