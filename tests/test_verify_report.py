"""`evsim verify` and `evsim report`: the library functions and the command line (main(argv))."""

import csv
import json

import numpy as np
import pytest

import evsim
from evsim import reference
from evsim.cli import main
from evsim.report import make_report, write
from evsim.verify import read_expected, verify

from conftest import EXAMPLES

MODEL = str(EXAMPLES / "data" / "digits_snntorch.nir")
DATA = str(EXAMPLES / "data" / "digits_test.npz")


@pytest.fixture(scope="module")
def digits():
    net = evsim.load(MODEL, dialect="snntorch")
    z = np.load(DATA)
    return net, z["x"][:20], z["labels"][:20], z["snntorch_output"][:20]


def test_verify_agrees_on_the_digits_model(digits):
    net, x, labels, out = digits
    v = verify(net, x, labels=labels, expect=out, expect_name="snntorch_output")
    assert v.ok and v.first is None
    assert all(a.match_rate == 1.0 and a.spikes_engine == a.spikes_reference > 0 for a in v.layers.values())
    assert v.outputs_identical == v.predictions_agree == 20
    assert v.accuracy_engine == v.accuracy_reference == v.expect.accuracy
    assert v.expect.match_rate == 1.0 and v.lines()[-1] == "AGREE"


def test_verify_finds_the_first_divergence_with_both_membranes(digits, monkeypatch):
    """A reference that flips one hidden spike of sample 1 at step 4: verify must point at exactly that entry."""
    net, x, _, _ = digits
    real = reference.simulate
    calls = []

    def tampered(net_, inputs, T, init=None, matrices=None):
        r = real(net_, inputs, T, init, matrices)
        calls.append(1)
        if len(calls) == 2:  # sample 1
            r.spikes["1"][4, 7] = 1 - r.spikes["1"][4, 7]
        return r

    monkeypatch.setattr(reference, "simulate", tampered)
    v = verify(net, x[:3])
    assert not v.ok and v.samples_diverging == 1
    d = v.first
    assert (d.sample, d.step, d.population, d.neuron) == (1, 4, "1", 7)
    assert d.ours != d.theirs
    # both membranes at that step: the engine's (re-run to step 4) equals the reference's there
    ref = real(net, {"input": x[1].astype(float)}, x.shape[1])
    assert d.v_reference == ref.v["1"][4, 7] == pytest.approx(d.v_engine, abs=1e-12)
    assert v.layers["1"].matching == v.layers["1"].entries - 1
    assert "first divergence: sample 1, step 4, population '1', neuron 7" in "\n".join(v.lines())


def test_verify_non_spiking_output_compares_membranes(rng):
    net = evsim.feedforward(
        [4, 6, 2],
        lambda n: evsim.LIF(n, 0.9, 0.7) if n == 6 else evsim.LI(n, 0.8),
        [rng.normal(0.5, 0.5, (6, 4)), rng.normal(0, 1, (2, 6))],
    )
    x = (rng.random((3, 15, 4)) < 0.5).astype(float)
    v = verify(net, x)
    assert v.ok and v.layers["layer2"].compared == "membrane" and v.layers["layer2"].entries == 3 * 15 * 2


def test_read_expected(tmp_path):
    f = tmp_path / "e.npz"
    np.savez(f, x=np.zeros(2), snntorch_output=np.ones((1, 2, 3)))
    a, key = read_expected(str(f))
    assert key == "snntorch_output" and a.shape == (1, 2, 3)
    np.savez(f, a_output=np.ones(1), b_output=np.ones(1))
    with pytest.raises(evsim.EvsimError, match="expect-key"):
        read_expected(str(f))
    assert read_expected(str(f), "b_output")[1] == "b_output"


# ------------------------------------------------------------------------------------------------ CLI verify
def test_cli_verify_exit_status(tmp_path, capsys):
    argv = ["verify", MODEL, "--input", DATA, "--dialect", "snntorch", "--samples", "15", "--expect", DATA]
    assert main(argv + ["--out", str(tmp_path / "v.json")]) == 0
    text = capsys.readouterr().out
    assert "AGREE" in text and "snntorch_output" in text
    assert json.loads((tmp_path / "v.json").read_text())["ok"] is True
    # snnTorch resets one step late; without that the engine still matches the reference, not snnTorch
    assert main(argv + ["--no-reset-delay"]) == 1
    text = capsys.readouterr().out
    assert "DISAGREE" in text and "first divergence" in text and "membrane (after reset)" in text


def test_cli_verify_bad_expect_shape(tmp_path, capsys):
    bad = tmp_path / "e.npz"
    np.savez(bad, output=np.zeros((15, 25, 9)))
    assert (
        main(["verify", MODEL, "--input", DATA, "--dialect", "snntorch", "--samples", "15", "--expect", str(bad)]) == 2
    )
    assert "expected output of shape (15, 25, 10)" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ report
def test_report_files(digits, tmp_path):
    net, x, labels, _ = digits
    rep = make_report(net, x, labels=labels, presets=["horowitz45-fp32", "loihi"], meta={"model": "digits"})
    files = write(rep, tmp_path / "r")
    names = sorted(f.name for f in files)
    assert names == sorted(
        [
            "raster.png",
            "sops.png",
            "rates.png",
            "sops_time.png",
            "report.json",
            "projections.csv",
            "populations.csv",
            "samples.csv",
            "sops_per_step.csv",
            "report.html",
        ]
    )
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == names  # no temporary files left
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    js = json.loads((tmp_path / "r" / "report.json").read_text())
    assert {"evsim_version", "model", "samples", "steps", "accuracy", "counts", "energy", "timing"} <= set(js)
    assert js["counts"]["sops_total"] == int(np.sum(evsim.run(net, x).sops))
    e = js["energy"]["horowitz45-fp32"]
    assert e["joules_per_sample"] == pytest.approx(0.9e-12 * js["counts"]["sops_per_sample"])
    with open(tmp_path / "r" / "samples.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20 and int(rows[0]["sops"]) == int(rep.acct.sops[0])
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and 'src="http' not in html and "Effective_ACs" in html


def test_cli_report(tmp_path, capsys):
    user = tmp_path / "chip.toml"
    user.write_text('[presets.chip]\nfigures.ac = { pJ = 1.0, source = "test" }\n')
    out = tmp_path / "rep"
    assert (
        main(
            [
                "report",
                MODEL,
                "--input",
                DATA,
                "--dialect",
                "snntorch",
                "--samples",
                "10",
                "--out",
                str(out),
                "--energy",
                "horowitz45-int8",
                "chip",
                "--energy-file",
                str(user),
                "--bin",
                "5",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "SOPs" in text and "horowitz45-int8" in text and "chip" in text and "wrote" in text
    js = json.loads((out / "report.json").read_text())
    assert set(js["energy"]) == {"horowitz45-int8", "chip"}
    assert js["energy"]["chip"]["joules_per_sample"] == pytest.approx(1e-12 * js["counts"]["sops_per_sample"])


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--energy", "nope"], "no energy preset named 'nope'"),
        (["--raster-sample", "99"], "--raster-sample 99"),
        (["--bin", "0"], "--bin must be at least one step"),
    ],
)
def test_cli_report_errors(tmp_path, capsys, extra, match):
    assert (
        main(
            ["report", MODEL, "--input", DATA, "--dialect", "snntorch", "--samples", "3", "--out", str(tmp_path / "r")]
            + extra
        )
        == 2
    )
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
