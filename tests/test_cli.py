"""The command line: main(argv) as a user would call it."""

import json

import numpy as np
import pytest

from evsim.cli import main

from conftest import EXAMPLES, model_file

MODEL = str(EXAMPLES / "data" / "digits_snntorch.nir")
DATA = str(EXAMPLES / "data" / "digits_test.npz")


def test_run_prints_accuracy_and_sops_and_writes_atomically(tmp_path, capsys):
    out = tmp_path / "res.npz"
    assert main(["run", MODEL, "--input", DATA, "--dialect", "snntorch", "--samples", "50", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "SOPs" in text
    z = np.load(out)
    data = np.load(DATA)
    np.testing.assert_array_equal(z["output"], data["snntorch_output"][:50])
    acc = float(text.split("accuracy")[1].split()[0])
    assert acc == pytest.approx(np.mean(z["predictions"] == data["labels"][:50]))
    assert [p.name for p in tmp_path.iterdir()] == ["res.npz"]  # no temporary file left behind
    js = tmp_path / "res.json"
    assert main(["run", MODEL, "--input", DATA, "--dialect", "snntorch", "--samples", "5", "--out", str(js)]) == 0
    assert json.loads(js.read_text())["sops"] == z["sops"][:5].tolist()


def test_info(capsys):
    assert main(["info", MODEL, "--dialect", "snntorch"]) == 0
    text = capsys.readouterr().out
    assert "input->1" in text and "8192 synapses" in text


@pytest.mark.parametrize(
    "argv, match",
    [
        (["info", "/no/such/model.nir", "--dt", "1e-3"], "no such file"),
        (["run", MODEL, "--input", "/no/such.npz", "--dialect", "snntorch"], "no such input file"),
        (["info", MODEL, "--dialect", "nir"], "no default time step"),
        (["run", MODEL, "--input", DATA, "--dialect", "snntorch", "--samples", "0"], "--samples must be at least 1"),
        (["run", MODEL, "--input", MODEL, "--dialect", "snntorch"], "unknown input format '.nir'"),
    ],
)
def test_errors_exit_nonzero_with_one_message(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and err.startswith("evsim: error:")


def test_wrong_input_width(tmp_path, capsys):
    bad = tmp_path / "x.npz"
    np.savez(bad, x=np.zeros((2, 25, 63)))
    assert main(["run", MODEL, "--input", str(bad), "--dialect", "snntorch"]) == 2
    assert "expected [T, 64]" in capsys.readouterr().err


def test_info_shows_implicit_convolutions(capsys):
    assert main(["info", str(model_file("nir_paper/02_cnn/cnn_sinabs.nir")), "--dt", "1e-3"]) == 0
    text = capsys.readouterr().out
    assert "input->1" in text and "implicit conv" in text and "shape (2, 34, 34)" in text


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "run" in text and "info" in text and "examples:" in text


def test_not_an_npz_and_an_empty_batch(tmp_path, capsys):
    bad = tmp_path / "x.npz"
    bad.write_text("not numpy")
    assert main(["run", MODEL, "--input", str(bad), "--dialect", "snntorch"]) == 2
    assert "not a .npz file" in capsys.readouterr().err
    empty = tmp_path / "empty.npz"
    np.savez(empty, x=np.zeros((0, 25, 64)))
    assert main(["run", MODEL, "--input", str(empty), "--dialect", "snntorch"]) == 2
    assert "holds no sample" in capsys.readouterr().err
