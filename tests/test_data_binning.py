"""Binning rules against the libraries that define them (tonic's ToFrame/Downsample, SpikingJelly's frames of fixed
duration, SNN-delays' n_bins), and the encoders against closed forms and snnTorch."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evsim.data as D
from evsim.data import InputPipeline, raster
from evsim.errors import InputError

HERE = Path(__file__).resolve().parent
SJ = np.load(HERE / "data" / "spikingjelly_frames.npz")
TORCH_PY = Path(os.environ.get("EVSIM_TORCH_PYTHON", HERE.parents[1] / "venv-torch" / "bin" / "python"))


def camera_events(rng, n=4000, span=250_000, size=34):
    t = np.sort(rng.integers(3_000, 3_000 + span, n))
    ev = np.zeros(n, dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])  # tonic's dtype
    ev["t"], ev["x"], ev["y"], ev["p"] = t, rng.integers(0, size, n), rng.integers(0, size, n), rng.integers(0, 2, n)
    return ev


@pytest.mark.parametrize("include_incomplete", [False, True])
@pytest.mark.parametrize("window", [1000, 2500])
def test_tonic_rule_is_tonics_to_frame(rng, include_incomplete, window):
    tonic = pytest.importorskip("tonic", reason="tonic (optional extra 'events') is not installed")
    ev = camera_events(rng)
    want = tonic.transforms.ToFrame((34, 34, 2), time_window=window, include_incomplete=include_incomplete)(ev.copy())
    pipe = InputPipeline(rule="tonic", time_step=window * 1e-6, include_incomplete=include_incomplete)
    got = raster(D.as_events(ev, (34, 34, 2)), pipe)
    assert got.shape == want.shape and np.array_equal(got, want)


def test_tonic_downsample_then_frames(rng):
    tonic = pytest.importorskip("tonic", reason="tonic (optional extra 'events') is not installed")
    ev = camera_events(rng)
    t = tonic.transforms
    want = t.Compose([t.Downsample(spatial_factor=0.5), t.ToFrame((17, 17, 2), time_window=1000)])(ev.copy())
    got = raster(D.as_events(ev, (34, 34, 2)), InputPipeline(rule="tonic", time_step=1e-3, downsample=0.5))
    assert np.array_equal(got, want)


def test_tonic_one_dimensional_sensor(rng):
    tonic = pytest.importorskip("tonic", reason="tonic (optional extra 'events') is not installed")
    n = 2000
    ev = np.zeros(n, dtype=[("t", "<i8"), ("x", "<i8"), ("p", "<i8")])  # tonic's SHD dtype
    ev["t"], ev["x"] = np.sort(rng.integers(0, 900_000, n)), rng.integers(0, 700, n)
    want = tonic.transforms.ToFrame((700, 1, 1), time_window=10_000)(ev.copy())  # [T, 1, 700]
    got = raster(D.as_events(ev, (700, 1, 1)), InputPipeline(rule="tonic", time_step=1e-2))
    assert np.array_equal(got[:, :, 0, :], want)


@pytest.mark.parametrize("seed", [0, 1])
def test_spikingjelly_rule_is_spikingjellys_fixed_duration_with_snn_delays_n_bins(seed):
    """Reference frames made by SpikingJelly 2.0.0 itself (tests/data/make_spikingjelly_frames.py)."""
    t, u = SJ[f"t_shd_{seed}"], SJ[f"units_{seed}"]
    ev = D.as_events({"x": u, "t": t}, (700, 1, 1), t_unit=1.0)
    frames = SJ[f"shd_frames_{seed}"]  # [T, 700]
    got = raster(ev, InputPipeline(rule="spikingjelly", time_step=0.01))[:, 0, 0, :]
    assert np.array_equal(got, frames)
    n_bins = 5  # SNN-delays' BinnedSpikingHeidelbergDigits.__getitem__, as written there
    binned_len = frames.shape[1] // n_bins
    binned = np.zeros((frames.shape[0], binned_len))
    for i in range(binned_len):
        binned[:, i] = frames[:, n_bins * i : n_bins * (i + 1)].sum(axis=1)
    got = raster(ev, InputPipeline(rule="spikingjelly", time_step=0.01, n_bins=n_bins))[:, 0, 0, :]
    assert np.array_equal(got, binned)
    n_bins = 3  # 700 = 3 * 233 + 1: the last channel is dropped
    got = raster(ev, InputPipeline(rule="spikingjelly", time_step=0.01, n_bins=3))[:, 0, 0, :]
    want = frames[:, :699].reshape(frames.shape[0], 233, 3).sum(axis=2)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("seed", [0, 1])
def test_spikingjelly_rule_for_cameras(seed):
    ev = {k: SJ[f"{k}_{seed}"] for k in ("x", "y", "p")}
    ev["t"] = SJ[f"t_cam_{seed}"]
    got = raster(D.as_events(ev, (34, 34, 2)), InputPipeline(rule="spikingjelly", time_step=1e-3))
    assert np.array_equal(got, SJ[f"cam_frames_{seed}"])


@pytest.mark.skipif(not TORCH_PY.exists(), reason=f"no Python with SpikingJelly at {TORCH_PY}")
def test_vendored_spikingjelly_frames_are_what_spikingjelly_makes(tmp_path):
    out = tmp_path / "sj.npz"
    r = subprocess.run([str(TORCH_PY), str(HERE / "data" / "make_spikingjelly_frames.py"), str(out)],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"SpikingJelly did not run: {r.stderr.strip().splitlines()[-1:]}")
    z = np.load(out)
    for k in SJ.files:
        assert np.array_equal(z[k], SJ[k]), k


def test_grid_rule_crop_window_polarity_and_steps():
    ev = D.as_events(
        {"x": [0, 5, 6, 6, 2], "y": [0, 1, 1, 1, 3], "t": [0, 1500, 1999, 2000, 9000], "p": [1, 0, 1, 1, 0]},
        (8, 4, 2),
    )
    r = raster(ev, InputPipeline(time_step=1e-3))  # frame = floor(t / 1 ms)
    assert r.shape == (10, 2, 4, 8) and r.sum() == 5
    assert (
        r[0, 1, 0, 0] == 1 and r[1, 0, 1, 5] == 1 and r[1, 1, 1, 6] == 1 and r[2, 1, 1, 6] == 1 and r[9, 0, 3, 2] == 1
    )
    r = raster(ev, InputPipeline(time_step=1e-3, crop=(4, 0, 4, 2), polarity="merge", steps=3, t_start=1e-3))
    assert r.shape == (3, 1, 2, 4)
    assert r[0, 0, 1, 1] == 1 and r[0, 0, 1, 2] == 1 and r[1, 0, 1, 2] == 1 and r.sum() == 3  # t0 = 1 ms
    assert raster(ev, InputPipeline(time_step=1e-3, binary=True, origin="first")).max() == 1
    full = raster(ev, InputPipeline(time_step=1e-3))
    assert np.array_equal(raster(ev, InputPipeline(time_step=1e-3, polarity="swap")), full[:, ::-1])
    pm = D.as_events({"t": [0, 1], "x": [0, 1], "p": [-1, 1]})  # -1/1 polarities are 0/1
    assert pm["p"].tolist() == [0, 1] and pm.sensor_size == (2, 1, 2)
    with pytest.raises(InputError, match="unknown binning rule"):
        InputPipeline(rule="frames")
    with pytest.raises(InputError, match="unknown setting"):
        InputPipeline.from_dict({"time_stepp": 1})


def test_model_pipeline_hook_and_override():
    import evsim

    net = evsim.load(HERE.parent / "examples/data/digits_snntorch.nir", dialect="snntorch")
    import dataclasses

    net = dataclasses.replace(net, meta={**net.meta, "input_pipeline": {"rule": "spikingjelly", "n_bins": 5}})
    pipe = D.pipeline_for(net, time_step=None, steps=25)
    assert (pipe.rule, pipe.n_bins, pipe.steps, pipe.time_step) == ("spikingjelly", 5, 25, None)


# ------------------------------------------------------------------------------------------------ encoders
def test_rate_reproduces_the_bundled_digits_raster():
    sk = pytest.importorskip("sklearn.datasets", reason="scikit-learn made the bundled raster's intensities")
    d = np.load(HERE.parent / "examples/data/digits_test.npz")
    digits = sk.load_digits()
    test = np.random.default_rng(0).permutation(1797)[:300]
    x = D.encode.rate(digits.data[test] / 16.0, 25, seed=1234)
    assert np.array_equal(x, d["x"]) and np.array_equal(digits.target[test], d["labels"])


def test_latency_times_and_direct():
    s = D.encode.latency_times([0.0, 1.0, 0.25, 0.5], t_max=0.02)  # evsim.ttfs.ttfs_encode
    assert s.indices.tolist() == [1, 3, 2] and np.allclose(s.times, [0.0, 0.01, 0.015])
    x = D.encode.direct([[0.5, -2.0]], 3)
    assert x.shape == (1, 3, 2) and np.all(x[0] == [0.5, -2.0])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        D.encode.rate([1.5], 3)


@pytest.mark.skipif(not TORCH_PY.exists(), reason=f"no Python with snnTorch at {TORCH_PY}")
@pytest.mark.parametrize("clip", [False, True])
def test_latency_steps_is_snntorchs_linear_latency(clip):
    x = np.array([[0.0, 0.005, 0.02, 0.3, 0.5, 0.75, 0.999, 1.0], [0.1, 0.9, 0.45, 0.55, 0.25, 0.6, 0.01, 0.05]])
    code = (
        "import sys, json, torch; from snntorch import spikegen; x = torch.tensor(json.loads(sys.argv[1]));"
        f"s = spikegen.latency(x, num_steps=10, threshold=0.01, normalize=True, linear=True, clip={clip});"
        "print(json.dumps(s.permute(1, 0, 2).int().tolist()))"
    )
    r = subprocess.run([str(TORCH_PY), "-c", code, str(x.tolist())], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"snnTorch did not run: {r.stderr.strip().splitlines()[-1:]}")
    import json

    want = np.array(json.loads(r.stdout))
    assert np.array_equal(D.encode.latency_steps(x, 10, threshold=0.01, clip=clip), want)


def test_event_array_keeps_its_sensor():
    ev = D.as_events({"t": [1, 2], "x": [0, 3], "y": [1, 1], "p": [0, 1]}, (4, 2, 2))
    assert ev[1:].sensor_size == (4, 2, 2) and "2 events" in repr(ev) and D.flat_index(ev).tolist() == [4, 15]
    assert sys.getrefcount(ev) >= 1


@pytest.mark.parametrize("span", [2_000, 50_000_000])  # a dense count, and a sparse one (sorted keys)
def test_grid_rule_against_floor_division(rng, span):
    n = 500
    ev = D.as_events(
        {"t": np.sort(rng.integers(0, span, n)), "x": rng.integers(0, 5, n), "y": rng.integers(0, 3, n)}, (5, 3, 1)
    )
    s, T = D.to_stream(ev, InputPipeline(time_step=1e-5), dt=None)  # 10 us frames
    k = ev["t"] // 10
    assert T == k[-1] + 1
    want = {}
    for kk, i in zip(k, ev["x"] + 5 * ev["y"]):
        want[(int(kk), int(i))] = want.get((int(kk), int(i)), 0) + 1
    got = {(int(t), int(i)): v for t, i, v in zip(s.times, s.indices, s.values)}
    assert got == want
