"""`evsim run --mode exact`: inputs at their own times in seconds (no binning), against `evsim.run` on the same
events read independently (h5py), the decisions by first output spike and by count, `--out`, and the one-line
refusals of options that have no meaning in continuous time."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import evsim
from evsim.cli import main

MODEL = "examples/data/digits_snntorch.nir"
SHD = "examples/data/digits_shd.h5"


def test_run_exact_on_shd_equals_evsim_run(tmp_path, capsys):
    out = tmp_path / "r.npz"
    argv = ["run", MODEL, "--mode", "exact", "--input", SHD, "--duration", "0.002", "--samples", "4", "--batch", "3"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "each event at its own time, no binning): 4 sample(s) x 0.002 s" in text
    assert "first output spike (TTFS)" in text and "argmax of output spike counts" in text
    net = evsim.load(MODEL, mode="exact")
    with h5py.File(SHD) as f:
        evs = [evsim.EventStream(f["spikes/times"][k], f["spikes/units"][k].astype(np.int64)) for k in range(4)]
        labels = f["labels"][:4]
    evs = [evsim.EventStream(e.times[e.times < 0.002], e.indices[e.times < 0.002]) for e in evs]
    res = evsim.run(net, evs, duration=0.002)
    got = np.load(out)
    np.testing.assert_array_equal(got["first_spike_times"], res.first_spike_times("3"))
    np.testing.assert_array_equal(got["first_spike_predictions"], res.first_spike_predictions())
    np.testing.assert_array_equal(got["predictions"], res.predictions())
    np.testing.assert_array_equal(got["sops"], res.sops)
    np.testing.assert_array_equal(got["labels"], labels)
    np.testing.assert_array_equal(got["spikes/3/times"], res.spikes["3"].times)
    ok = int(np.sum(res.predictions() == labels))
    assert f"accuracy {ok / 4:.4f} ({ok}/4, argmax of output spike counts)" in text


def test_event_file_times_reach_the_model_unbinned(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 200
    ev = np.zeros(n, dtype=[("x", "<i8"), ("t", "<i8"), ("p", "<i8")])
    ev["t"] = np.sort(rng.integers(0, 3000, n))  # microseconds, off any 0.1 ms grid
    ev["x"] = rng.integers(0, 64, n)
    path = tmp_path / "ev.npy"
    np.save(path, ev)
    out = tmp_path / "r.json"
    argv = ["run", MODEL, "--mode", "exact", "--input", str(path), "--duration", "0.004", "--record", "all"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    got = json.loads(out.read_text())
    np.testing.assert_array_equal(np.array(got["spikes/input/times"]), ev["t"] * 1e-6)
    np.testing.assert_array_equal(np.array(got["spikes/input/indices"]), ev["x"])
    # a window shifts the clock to its start and keeps [start, stop)
    argv = ["run", MODEL, "--mode", "exact", "--input", str(path), "--window", "0.001", "0.002", "--record", "all"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    got = json.loads(out.read_text())
    sel = (ev["t"] >= 1000) & (ev["t"] < 2000)
    np.testing.assert_allclose(np.array(got["spikes/input/times"]), ev["t"][sel] * 1e-6 - 0.001, rtol=0, atol=1e-15)
    assert got["duration"] == [pytest.approx(0.001)]
    capsys.readouterr()


def test_dense_raster_runs_at_its_time_step(tmp_path, capsys):
    x = np.load("examples/data/digits_test.npz")["x"][:2]
    argv = ["run", MODEL, "--mode", "exact", "--input", "examples/data/digits_test.npz", "--samples", "2"]
    out = tmp_path / "r.npz"
    assert main([*argv, "--time-step", "1e-4", "--out", str(out), "--no-progress"]) == 0
    assert "2 sample(s) x 0.0025 s" in capsys.readouterr().out
    net = evsim.load(MODEL, mode="exact")
    evs = []
    for s in x:
        k, i = np.nonzero(s)
        evs.append(evsim.EventStream(k * 1e-4, i, s[k, i].astype(float)))
    res = evsim.run(net, evs, duration=25e-4)
    np.testing.assert_array_equal(np.load(out)["first_spike_times"], res.first_spike_times("3"))


@pytest.mark.parametrize(
    "extra,msg",
    [
        (["--reset", "zero"], "--reset is a discrete-time setting"),
        (["--dialect", "snntorch"], "a dialect does not apply"),
        (["--workers", "2"], "runs in this process"),
        ([], "give --duration SECONDS"),
    ],
)
def test_run_exact_refusals(extra, msg, capsys):
    assert main(["run", MODEL, "--mode", "exact", "--input", SHD, *extra]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


def test_report_exact(tmp_path, capsys):
    rep = tmp_path / "rep"
    argv = ["report", MODEL, "--mode", "exact", "--input", SHD, "--duration", "0.002", "--samples", "3"]
    assert main([*argv, "--out", str(rep), "--no-progress"]) == 0
    assert "3 x 0.002 s (exact; per-step figures on its calendar grid: 20 steps of 0.0001 s)" in capsys.readouterr().out
    js = json.loads((rep / "report.json").read_text())
    net = evsim.load(MODEL, mode="exact")
    with h5py.File(SHD) as f:
        evs = [evsim.EventStream(f["spikes/times"][k], f["spikes/units"][k].astype(np.int64)) for k in range(3)]
    res = evsim.run(net, [evsim.EventStream(e.times[e.times < 0.002], e.indices[e.times < 0.002]) for e in evs],
                    duration=0.002)  # fmt: skip
    assert js["duration_s"] == 0.002 and js["steps"] == 20
    assert js["counts"]["sops_per_sample"] == pytest.approx(float(np.mean(res.sops)))
    assert (rep / "raster.png").stat().st_size > 1000
    assert main([*argv, "--out", str(rep), "--early-exit", "0.9"]) == 2
    assert "not available in exact mode" in capsys.readouterr().err


def test_verify_refuses_and_discrete_evsim_file(tmp_path, capsys):
    assert main(["verify", MODEL, "--mode", "exact", "--input", SHD]) == 2
    assert "not available in exact mode" in capsys.readouterr().err
    disc = tmp_path / "d.evsim"
    assert main(["compile", MODEL, "--dialect", "snntorch", "--out", str(disc)]) == 0
    assert main(["run", str(disc), "--mode", "exact", "--input", SHD, "--duration", "0.001"]) == 2
    assert "holds a discrete-time network" in capsys.readouterr().err
    ex = tmp_path / "e.evsim"  # an exact .evsim file runs in exact mode without --mode
    assert main(["compile", MODEL, "--mode", "exact", "--out", str(ex)]) == 0
    assert main(["run", str(ex), "--input", SHD, "--duration", "0.001", "--samples", "1", "--no-progress"]) == 0
    assert "each event at its own time" in capsys.readouterr().out


def test_nir_data_input_keeps_seconds_and_t_max(tmp_path, capsys):
    import evsim.io.nir_data

    net = evsim.load(MODEL, mode="exact")
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 1.5e-3, 80))
    src = evsim.run(net, evsim.EventStream(t, rng.integers(0, 64, 80)), duration=2e-3)
    path = tmp_path / "in.h5"
    evsim.io.nir_data.write_nir_data(path, src, populations=["input"])  # events in seconds, t_max 2 ms
    out = tmp_path / "r.npz"
    assert main(["run", MODEL, "--mode", "exact", "--input", str(path), "--out", str(out), "--no-progress"]) == 0
    assert "1 sample(s) x 0.002 s" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(out)["first_spike_times"][0], src.first_spike_times("3"))


def test_info_exact_shows_seconds_and_no_discrete_settings(capsys):
    assert main(["info", MODEL, "--mode", "exact"]) == 0
    text = capsys.readouterr().out
    assert "dialect     nir, exact time (calendar steps of 0.0001 s)\n" in text
    assert "delay (s)" in text and "reset_delay" not in text


def test_ctrl_c_keeps_the_finished_samples_in_out(tmp_path, capsys, monkeypatch):
    """Ctrl-C in the second batch: the first batch and the samples of the second that finished (``RunInterrupted``'s
    partial result) are printed and written to --out, exit 130, as in discrete mode; they equal `evsim.run`'s."""
    out = tmp_path / "r.npz"
    real = evsim.run
    calls = []

    def interrupted(net, x, **kw):
        calls.append(len(x))
        if len(calls) < 2:
            return real(net, x, **kw)
        e = evsim.RunInterrupted()
        e.partial, e.samples_done = real(net, x[:2], **kw), 2  # 2 of the batch of 3 finished
        raise e

    monkeypatch.setattr(evsim, "run", interrupted)
    argv = ["run", MODEL, "--mode", "exact", "--input", SHD, "--duration", "0.002", "--samples", "8", "--batch", "3"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 130
    cap = capsys.readouterr()
    assert cap.err.strip().splitlines()[-1] == f"evsim: interrupted after 5 samples; {out} holds them"
    assert "5 sample(s) x 0.002 s" in cap.out and calls == [3, 3]
    net = evsim.load(MODEL, mode="exact")
    with h5py.File(SHD) as f:
        evs = [evsim.EventStream(f["spikes/times"][k], f["spikes/units"][k].astype(np.int64)) for k in range(5)]
    evs = [evsim.EventStream(e.times[e.times < 0.002], e.indices[e.times < 0.002]) for e in evs]
    res = real(net, evs, duration=0.002)
    got = np.load(out)
    np.testing.assert_array_equal(got["first_spike_times"], res.first_spike_times("3"))
    np.testing.assert_array_equal(got["sops"], res.sops)
    np.testing.assert_array_equal(got["spikes/3/times"], res.spikes["3"].times)
    np.testing.assert_array_equal(got["spikes/3/samples"], res.spikes["3"].samples)


def test_ctrl_c_without_out_is_one_line(capsys, monkeypatch):
    def interrupted(net, x, **kw):
        raise evsim.RunInterrupted()

    monkeypatch.setattr(evsim, "run", interrupted)
    assert main(["run", MODEL, "--mode", "exact", "--input", SHD, "--duration", "0.002", "--samples", "2"]) == 130
    assert capsys.readouterr().err.strip() == "evsim: interrupted"
