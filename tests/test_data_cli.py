"""`evsim run/verify/report --input` over event files and datasets, checked against snnTorch's own spikes."""

import dataclasses

import numpy as np
import pytest

import evsim
import evsim.data as D
from evsim.cli import main

from conftest import EXAMPLES

MODEL = str(EXAMPLES / "data" / "digits_snntorch.nir")
DIGITS = np.load(EXAMPLES / "data" / "digits_test.npz")
ARGS = ["--dialect", "snntorch", "--no-progress"]


@pytest.fixture(scope="module")
def shd_digits(tmp_path_factory):
    """The first 40 digits rasters in SHD's layout: input i spiking at step k -> unit i at (k + 0.5) dt."""
    path = tmp_path_factory.mktemp("shd") / "digits.h5"
    times, units = [], []
    for b in range(40):
        k, i = np.nonzero(DIGITS["x"][b])
        times.append((k + 0.5) * 1e-4)
        units.append(i)
    D.write_shd(path, times, units, DIGITS["labels"][:40])
    return path


def test_run_on_an_shd_file_gives_snntorchs_spikes(shd_digits, tmp_path, capsys):
    out = tmp_path / "r.npz"
    argv = ["run", MODEL, "--input", str(shd_digits), *ARGS, "--steps", "25", "--batch", "16"]
    assert main([*argv, "--out", str(out), "--record", "all"]) == 0
    text = capsys.readouterr().out
    z = np.load(out)
    assert np.array_equal(z["output"], DIGITS["snntorch_output"][:40])
    hidden = np.zeros((40, 25, 128), dtype=np.int64)
    np.add.at(hidden, (z["spikes/1/samples"], z["spikes/1/times"], z["spikes/1/indices"]), z["spikes/1/counts"])
    assert np.array_equal(hidden, DIGITS["snntorch_hidden"][:40])
    acc = np.mean(z["predictions"] == DIGITS["labels"][:40])
    assert f"accuracy {acc:.4f}" in text and "shd; grid binning, 0.0001 s frames, 25 steps" in text
    assert "40 sample(s) x 25 steps" in text and "SOPs" in text
    assert main(["run", MODEL, "--input", str(shd_digits), *ARGS, "--limit", "3"]) == 0
    assert "3 sample(s) x" in capsys.readouterr().out  # each sample runs for its own frames without --steps


def test_the_model_carries_its_input_pipeline(shd_digits):
    net = evsim.load(MODEL, dialect="snntorch")
    net = dataclasses.replace(net, meta={**net.meta, "input_pipeline": {"rule": "grid", "steps": 25}})
    r = D.run_dataset(net, D.open(shd_digits), limit=10, batch=4)
    assert np.array_equal(np.stack(r.output), DIGITS["snntorch_output"][:10])
    assert r.labels.tolist() == DIGITS["labels"][:10].tolist() and r.run_seconds >= 0


def test_verify_and_report_take_the_same_inputs(shd_digits, tmp_path, capsys):
    assert main(["verify", MODEL, "--input", str(shd_digits), *ARGS, "--steps", "25", "--limit", "4"]) == 0
    assert "AGREE" in capsys.readouterr().out
    rep = tmp_path / "rep"
    assert (
        main(["report", MODEL, "--input", str(shd_digits), *ARGS, "--steps", "25", "--limit", "4", "--out", str(rep)])
        == 0
    )
    assert (rep / "report.json").exists()


def test_run_on_a_nir_data_file(tmp_path, capsys):
    net = evsim.load(MODEL, dialect="snntorch")
    res = evsim.run(net, DIGITS["x"][:6])
    path = tmp_path / "in.h5"
    evsim.write_nir_data(path, res, populations=["input"])
    out = tmp_path / "o.npz"
    assert main(["run", MODEL, "--input", str(path), *ARGS, "--out", str(out)]) == 0
    assert "nir-data" in capsys.readouterr().out
    assert np.array_equal(np.load(out)["output"], DIGITS["snntorch_output"][:6])


def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, capsys):
    path = tmp_path / "wide.h5"
    D.write_shd(path, [[0.1e-3, 0.2e-3], [0.3e-3, 0.5e-3]], [[1, 2], [3, 100]], [0, 1])
    out = tmp_path / "o.npz"
    assert main(["run", MODEL, "--input", str(path), *ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: sample 1: field 'spikes/units': unit 100 is beyond the model's width of 64 inputs" in err
    assert err.count("\n") == 1 and not out.exists() and list(tmp_path.iterdir()) == [path]
    cam = tmp_path / "cam.npz"
    ev = np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
    ev["t"] = [1, 2, 3]
    np.savez(cam, events=ev, sensor_size=np.array([34, 34, 2]))
    assert main(["run", MODEL, "--input", str(cam), *ARGS]) == 2
    assert "(C, H, W) = (2, 34, 34) from the sensor (34, 34, 2) (W, H, P) do not fit the model's input (64,)" in (
        capsys.readouterr().err
    )


def test_readme_event_files(capsys):
    """The README's commands on the shipped event files."""
    assert main(["run", MODEL, "--input", str(EXAMPLES / "data" / "digits_shd.h5"), *ARGS, "--steps", "25"]) == 0
    text = capsys.readouterr().out
    ok = np.sum(DIGITS["snntorch_output"][:50].sum(axis=1).argmax(axis=1) == DIGITS["labels"][:50])
    assert f"accuracy {ok / 50:.4f} ({ok}/50" in text
    pytest.importorskip("aedat", reason="reading AEDAT4 needs the optional extra 'events' (aedat)")
    cnn = ["run", str(EXAMPLES / "data" / "cnn_sinabs.nir"), "--dialect", "sinabs", "--no-progress"]
    argv = ["--input", str(EXAMPLES / "data" / "nmnist_like"), "--time-step", "1e-3", "--steps", "300"]
    assert main([*cnn, *argv, "--polarity", "swap"]) == 0
    text = capsys.readouterr().out
    assert "10 sample(s) x 300 steps" in text and "accuracy 0.7000 (7/10" in text


def test_shipped_recordings_are_the_example_scripts_input():
    """examples/data/nmnist_like/ binned at 1 ms = examples/run_nmnist_cnn.py's recordings (ON in its channel 0)."""
    pytest.importorskip("aedat", reason="reading AEDAT4 needs the optional extra 'events' (aedat)")
    import sys

    sys.path.insert(0, str(EXAMPLES))
    from run_nmnist_cnn import ON_CHANNEL, mnist_like, record

    images = np.load(EXAMPLES / "data" / "digits_images.npz")["images"]
    ds = D.open(EXAMPLES / "data" / "nmnist_like")
    assert ds.classes == [str(c) for c in range(10)] and ds.labels.tolist() == list(range(10))
    pipe = D.InputPipeline(time_step=1e-3, steps=300, polarity="swap" if ON_CHANNEL == 0 else "channels")
    for (ev, _), (f, _) in zip(ds, ds.files[:3]):
        assert ev.sensor_size == (34, 34, 2)
        assert np.array_equal(D.raster(ev, pipe), record(mnist_like(images[int(f.stem)]))), f


def test_dense_hdf5_is_read_a_slice_at_a_time(tmp_path, capsys):
    import h5py

    path = tmp_path / "dense.h5"
    with h5py.File(path, "w") as f:
        f["x"] = DIGITS["x"][:20]
        f["labels"] = DIGITS["labels"][:20]
    ds = D.open(path)
    assert ds.kind == "dense" and len(ds) == 20 and isinstance(ds.x, h5py.Dataset)  # not read at open
    out = tmp_path / "o.npz"
    assert main(["run", MODEL, "--input", str(path), *ARGS, "--batch", "7", "--out", str(out)]) == 0
    assert np.array_equal(np.load(out)["output"], DIGITS["snntorch_output"][:20])


def test_progress_bar_starts_after_the_warm_up(shd_digits, monkeypatch):
    import tqdm.auto

    bars = []

    class Bar:
        def __init__(self, total, initial, **kw):
            self.total, self.initial, self.n = total, initial, initial
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    net = evsim.load(MODEL, dialect="snntorch")
    r = D.run_dataset(net, D.open(shd_digits), D.InputPipeline(steps=25), batch=8, limit=30, progress=True)
    (bar,) = bars
    assert (bar.total, bar.initial, bar.n) == (30, 1, 30) and r.n == 30  # its rate counts the samples after the first
    assert r.warmup_seconds > 0 and r.run_seconds > 0


def test_tonic_reads_what_read_events_returns():
    tonic = pytest.importorskip("tonic", reason="tonic (optional extra 'events') is not installed")
    pytest.importorskip("aedat", reason="aedat (optional extra 'events') is not installed")
    ev = D.read_events(EXAMPLES / "data" / "nmnist_like" / "3" / "961.aedat4")
    frames = tonic.transforms.ToFrame(sensor_size=ev.sensor_size, time_window=1000)(ev)
    assert frames.shape[1:] == (2, 34, 34) and frames.sum() > 0
    assert np.array_equal(D.raster(ev, D.InputPipeline(rule="tonic", time_step=1e-3)), frames)


def test_pad_batch_runs_each_batch_as_long_as_its_longest_sample(shd_digits):
    """SpikingJelly's pad_sequence_collate: silent frames after the shorter samples of a batch."""
    net = evsim.load(MODEL, dialect="snntorch")
    r = D.run_dataset(net, D.open(shd_digits), D.InputPipeline(pad="batch"), batch=8, limit=16, keep_output=True)
    x = DIGITS["x"][:16]
    last = np.array([np.nonzero(x[b].any(axis=1))[0][-1] + 1 for b in range(16)])  # each sample's own frames
    for s in (0, 8):
        T = last[s : s + 8].max()
        assert (r.steps[s : s + 8] == T).all()
        want = evsim.run(net, x[s : s + 8, :T]).output
        assert np.array_equal(np.stack(r.output[s : s + 8]), want)
    alone = D.run_dataset(net, D.open(shd_digits), batch=8, limit=16)
    assert alone.steps.tolist() == last.tolist()


def test_a_list_of_event_arrays_is_a_dataset():
    """Event lists from Python: (EventArray, label) pairs need no file."""
    net = evsim.load(MODEL, dialect="snntorch")
    pairs = []
    for b in range(5):
        k, i = np.nonzero(DIGITS["x"][b])
        pairs.append((D.as_events({"x": i, "t": k * 100 + 50}, (64, 1, 1)), int(DIGITS["labels"][b])))  # t in us
    r = D.run_dataset(net, pairs, D.InputPipeline(steps=25))
    assert np.array_equal(np.stack(r.output), DIGITS["snntorch_output"][:5])
    assert r.labels.tolist() == DIGITS["labels"][:5].tolist()
