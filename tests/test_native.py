"""evsim's own model file (`evsim compile`, `evsim.io.native`): the network back exactly (every array and
setting, the same spikes), changed files refused by the checksum, nothing but evsim's model classes built."""

import hashlib
import io
import json

import numpy as np
import pytest

import evsim
from evsim.cli import main
from evsim.io.native import MAGIC, load_native, save_native


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(
            _same(getattr(a, f), getattr(b, f)) for f, d in a.__dataclass_fields__.items() if d.init
        )
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)


@pytest.mark.parametrize(
    "model,dialect", [("examples/data/digits_snntorch.nir", "snntorch"), ("examples/data/cnn_sinabs.nir", "sinabs")]
)
def test_round_trip_is_the_same_network(model, dialect, tmp_path):
    net = evsim.load(model, dialect=dialect)
    path = save_native(net, tmp_path / "m.evsim")
    back = evsim.load(path)  # recognised by its first line
    assert _same(net.populations, back.populations) and _same(net.projections, back.projections)
    assert (net.inputs, net.outputs, net.dt) == (back.inputs, back.outputs, back.dt)
    rng = np.random.default_rng(0)
    n = net.population(net.inputs[0]).size
    x = (rng.random((2, 6, n)) < 0.2).astype(np.float32)
    a, b = evsim.run(net, x), evsim.run(back, x)
    assert np.array_equal(a.output, b.output) and np.array_equal(a.sops, b.sops)


def test_tampered_file_is_refused(tmp_path):
    net = evsim.feedforward([3, 2], lambda k: evsim.LIF(k, beta=0.9), [np.ones((2, 3))])
    path = save_native(net, tmp_path / "m.evsim")
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(evsim.ModelFileError, match="checksum mismatch"):
        evsim.load(path)


def test_only_evsim_classes_are_built(tmp_path):
    header = json.dumps({"__type__": "Popen", "fields": {"args": "true"}}).encode()
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(header, dtype=np.uint8))
    body = buf.getvalue()
    path = tmp_path / "evil.evsim"
    path.write_bytes(MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)  # a valid checksum
    with pytest.raises(evsim.ModelFileError, match="unknown type 'Popen'"):
        load_native(path)


def test_cli_compile_then_run(tmp_path, capsys):
    out = tmp_path / "digits.evsim"
    assert main(["compile", "examples/data/digits_snntorch.nir", "--dialect", "snntorch", "-o", str(out)]) == 0
    assert main(["run", str(out), "--input", "examples/data/digits_test.npz", "--samples", "30"]) == 0
    assert "dialect snntorch" in capsys.readouterr().out
    assert main(["compile", "examples/data/digits_snntorch.nir", "-o", str(tmp_path / "no" / "m.evsim")]) == 2


def test_exact_time_network_round_trip(tmp_path):
    from conftest import model_file

    net = evsim.load(model_file("nir_paper/01_lif/lif_norse.nir"), mode="exact", dt=1e-4)
    back = evsim.load(save_native(net, tmp_path / "lif.evsim"))
    assert _same(net.populations, back.populations)
    t = np.arange(0, 0.1, 0.002)
    a = evsim.run(net, (t, np.zeros(t.size, dtype=int)), duration=0.1)
    b = evsim.run(back, (t, np.zeros(t.size, dtype=int)), duration=0.1)
    o = net.outputs[0]
    assert len(a.spikes[o]) > 0 and np.array_equal(a.spikes[o].times, b.spikes[o].times)
