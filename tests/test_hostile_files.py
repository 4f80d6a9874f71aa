"""The hostile files of issue 14, one by one: each must give one `evsim.EvsimError` line naming the file and what
is wrong (the CLI: exit 2), quickly and without reading what it refuses. Files are real ones (the bundled NIR
graphs, the lava-dl netx network, the digits inputs) edited with h5py / zipfile."""

import shutil
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

import evsim
from evsim.cli import main
from evsim.io.files import read_inputs
from evsim.io.lava import load_netx

from conftest import EXAMPLES, REPO

MLP = EXAMPLES / "data" / "digits_snntorch.nir"
CNN = EXAMPLES / "data" / "cnn_sinabs.nir"
NETX = REPO / "tests" / "data" / "models" / "lava_oxford" / "network.net"
DIGITS = EXAMPLES / "data" / "digits_test.npz"


def edited(src, tmp_path, edit, name=None):
    dst = tmp_path / (name or src.name)
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def replace(path, value):
    def edit(f):
        parent, leaf = path.rsplit("/", 1)
        del f[path]
        f[parent].create_dataset(leaf, data=value)

    return edit


@pytest.mark.parametrize(
    "edit, match",
    [
        (replace("node/nodes/1/tau", np.full(128, -0.0, np.float32)), r"node '1' \(LIF\): tau must be positive"),
        (replace("node/nodes/1/tau", np.array(["fast"] * 128, dtype="S4")), r"node '1' \(LIF\): malformed"),
        (replace("node/nodes/0/weight", "heavy"), r"NIR cannot read this graph \(AttributeError"),
        (replace("node/nodes/1/v_threshold", np.full(128, np.nan, np.float32)), "NaN or Inf"),
        (replace("node/nodes/input/shape", np.array([np.inf])), "input shape|NIR cannot read"),
        (replace("node/nodes/input/shape", np.array([-64])), "input shape|NIR cannot read"),
        (replace("node/nodes/input/shape", np.array([2**20, 2**20])), "neurons|NIR cannot read"),
        (replace("node/nodes/1/type", b"\xff\xfeLIF"), "NIR cannot read"),
    ],
)
def test_malformed_nir_parameters(tmp_path, edit, match):
    with pytest.raises(evsim.ModelFileError, match=match):
        evsim.load(edited(MLP, tmp_path, edit), dialect="snntorch")


@pytest.mark.parametrize(
    "edit, match",
    [
        (replace("node/nodes/0/groups", np.float64(np.nan)), r"node '0' \(Conv2d\)"),
        (replace("node/nodes/0/groups", np.float64(np.inf)), r"node '0' \(Conv2d\)"),
        (replace("node/nodes/0/groups", np.int64(0)), r"node '0'"),
        (replace("node/nodes/4/padding", "same"), r"node '4'"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*without NIR's type check")  # (strict=False: evsim's converters see it)
def test_malformed_conv_and_pooling(tmp_path, edit, match):
    with pytest.raises(evsim.ModelFileError, match=match):
        evsim.load(edited(CNN, tmp_path, edit), dialect="sinabs", strict=False)


def test_declared_sizes_chunks_and_links_are_refused_from_metadata(tmp_path):
    def tiny_chunks(f):  # ~1e6 elements in one-element chunks: HDF5 would take gigabytes to read it
        del f["node/nodes/1/r"]
        f["node/nodes/1"].create_dataset("r", shape=(1_000_000,), dtype="f4", chunks=(1,))

    def huge(f):
        del f["node/nodes/1/r"]
        f["node/nodes/1"].create_dataset("r", shape=(2**40,), dtype="f8", chunks=(2**20,))

    def soft_cycle(f):
        f["node/nodes/1/again"] = h5py.SoftLink("/node")

    def hard_cycle(f):
        f["node/nodes/1/again"] = f["node"]

    def external(f):
        f["node/nodes/1/other"] = h5py.ExternalLink("/etc/hosts", "/x")

    for edit, match in [
        (tiny_chunks, "1000000 chunks"),
        (huge, "declares 1099511627776 elements"),
        (soft_cycle, "a soft link"),
        (hard_cycle, "contains itself"),
        (external, "an external link"),
    ]:
        path = edited(MLP, tmp_path, edit, f"{edit.__name__}.nir")
        with pytest.raises(evsim.ModelFileError, match=match):
            evsim.load(path, dialect="snntorch")


@pytest.mark.parametrize("src", [MLP, NETX])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.95])
def test_truncated_model_files(tmp_path, src, keep):
    data = src.read_bytes()
    path = tmp_path / src.name
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(evsim.ModelFileError, match=str(path)):
        evsim.load(path, dialect="nir" if src == NETX else "snntorch")


@pytest.mark.parametrize(
    "edit, match",
    [
        (replace("layer/0/neuron/vDecay", np.float64(np.nan)), "vDecay' must be a finite whole number"),
        (replace("layer/0/neuron/vThMant", np.float64(np.inf)), "vThMant' must be a finite whole number"),
        (replace("layer/1/neuron/iDecay", "fast"), "iDecay"),
        (replace("layer/0/neuron/gradedSpike", np.zeros(0, bool)), "gradedSpike' must be one boolean"),
        (replace("layer/0/type", np.array([b"\xff\xfe"])), "layer type"),
        (lambda f: f.__delitem__("layer/0/neuron"), "missing group 'neuron'"),
        (lambda f: f.__delitem__("layer/1/weight"), "missing dataset 'weight'"),
        (replace("layer/0/weight", np.full((256, 200), np.inf, np.float32)), "finite"),
    ],
)
def test_malformed_netx(tmp_path, edit, match):
    path = edited(NETX, tmp_path, edit)
    with pytest.raises(evsim.ModelFileError, match=match):
        load_netx(path)
    with pytest.raises(evsim.ModelFileError, match=match):
        evsim.load(path)


def _npz(tmp_path, name="in.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_hostile_input_files(tmp_path):
    x = np.load(DIGITS)["x"][:3]
    cases = [
        (_npz(tmp_path, "zero_steps.npz", x=x[:, :0]), "holds no sample"),
        (_npz(tmp_path, "labels0d.npz", x=x, labels=np.int64(3)), "3 labels|1 labels for 3"),
        (_npz(tmp_path, "labels_str.npz", x=x, labels=np.array(["a", "b", "c"])), "whole class numbers"),
        (_npz(tmp_path, "labels_nan.npz", x=x, labels=np.array([0.0, np.nan, 1.0])), "not whole class numbers"),
        (_npz(tmp_path, "labels_frac.npz", x=x, labels=np.array([0.5, 1.0, 2.0])), "not whole class numbers"),
        (_npz(tmp_path, "x_str.npz", x=np.array([["a"]])), "expected real numbers"),
        (_npz(tmp_path, "x_0d.npz", x=np.float64(1.0)), "expected"),
    ]
    member = tmp_path / "member.npz"
    with zipfile.ZipFile(member, "w") as z:
        z.writestr("x.txt", b"not an array")
    cases.append((member, "member 'x.txt' is not a .npy array"))
    bomb = tmp_path / "bomb.npz"  # a header declaring 10^10 float64 (80 GB) in a few bytes
    hdr = b"{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000,), }"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr + bytes(1000))
    cases.append((bomb, "over the memory limit|truncated"))
    for path, match in cases:
        with pytest.raises(evsim.InputError if "memory" not in match else evsim.EvsimError, match=match):
            x_, y_ = read_inputs(path)
            net = evsim.load(MLP, dialect="snntorch")
            if y_ is not None and len(y_) != len(x_):
                raise evsim.InputError(f"{len(y_)} labels for {len(x_)} samples")
            evsim.run(net, x_)


def test_zip_bomb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "zeros.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:  # 64 MiB of zeros -> ~65 KB
        with z.open("x.npy", "w") as w:
            hdr = b"{'descr': '<f8', 'fortran_order': False, 'shape': (131072, 64), }"
            w.write(b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr.ljust(118) + b"\n")
            w.write(bytes(2**26))
    assert path.stat().st_size < 2**20
    with evsim.limits.override(memory="16M"):
        with pytest.raises(evsim.ResourceLimitError, match="decompressed would need 64.0 MiB"):
            read_inputs(path)
    assert read_inputs(path)[0].shape == (131072, 64)  # within the default limit it reads


def test_cli_exits_2_with_one_line_and_never_hangs(tmp_path):
    def tiny_chunks(f):
        del f["node/nodes/1/r"]
        f["node/nodes/1"].create_dataset("r", shape=(1_000_000,), dtype="f4", chunks=(1,))

    bad = edited(MLP, tmp_path, tiny_chunks)
    trunc = tmp_path / "trunc.nir"
    trunc.write_bytes(MLP.read_bytes()[:5000])
    for model in (bad, trunc):
        p = subprocess.run(
            [sys.executable, "-m", "evsim", "info", str(model), "--dialect", "snntorch"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert p.returncode == 2, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("evsim: error: ") and str(model) in lines[0], lines
    labels = _npz(tmp_path, "labels.npz", x=np.load(DIGITS)["x"][:3], labels=np.array(["a", "b", "c"]))
    assert main(["run", str(MLP), "--input", str(labels), "--dialect", "snntorch"]) == 2
