"""Which framework wrote a file (evsim.io.conventions) and what the command line does without --dialect."""

import nir
import numpy as np
import pytest
from conftest import EXAMPLES, model_file

import evsim
from evsim.cli import main
from evsim.io.conventions import suggest

DIGITS = EXAMPLES / "data" / "digits_snntorch.nir"
DIGITS_DATA = EXAMPLES / "data" / "digits_test.npz"
CNN = EXAMPLES / "data" / "cnn_sinabs.nir"


@pytest.mark.parametrize(
    "path,dialect",
    [
        (DIGITS, "snntorch"),  # written by snnTorch's export_to_nir (examples/train_digits_snntorch.py)
        (model_file("nir_paper/03_rnn/braille_noDelay_bias_zero.nir"), "snntorch"),  # the NIR paper's, snnTorch
        (CNN, None),  # Sinabs: IF r = 1, as Norse and plain NIR write it too
        (model_file("nir_paper/01_lif/lif_norse.nir"), None),  # Norse: LIF r = 1
    ],
)
def test_suggest_on_real_exports(path, dialect):
    hint = suggest(nir.read(path))
    assert (hint and hint.dialect) == dialect


def _graph(node, metadata=None):
    g = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([2])), "n": node, "output": nir.Output(np.array([2]))},
        edges=[("input", "n"), ("n", "output")],
    )
    if metadata is not None:
        g.metadata = metadata
    return g


def test_suggest_from_metadata_and_spikingjelly_gain():
    lif = nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
    assert suggest(_graph(lif)) is None
    assert suggest(_graph(lif, {"exported_by": "norse 1.1"})).dialect == "norse"
    sj = nir.IF(r=np.full(2, 1e4), v_threshold=np.ones(2), v_reset=np.zeros(2))
    assert suggest(_graph(sj)).dialect == "spikingjelly"
    # tau = 1e-4 gives r = 1 = tau / 1e-4 too: not snnTorch's signature (any r = 1 LIF at that tau would match)
    lif_1 = nir.LIF(tau=np.full(2, 1e-4), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
    assert suggest(_graph(lif_1)) is None


def test_run_without_dialect_reproduces_snntorch(tmp_path, capsys):
    # the dialect taken from the file must give snnTorch's own output spikes (recorded by snnTorch in the .npz)
    out = tmp_path / "o.npz"
    assert main(["run", str(DIGITS), "--input", str(DIGITS_DATA), "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "dialect snntorch" in err and "r = tau / 1e-4" in err
    net = evsim.load(DIGITS, dialect="snntorch")
    d = np.load(DIGITS_DATA)
    res = evsim.run(net, d["x"])
    assert np.array_equal(res.output, d["snntorch_output"])
    assert main(["info", str(DIGITS)]) == 0


def test_without_dialect_and_no_fingerprint_says_what_to_pass(capsys):
    assert main(["info", str(CNN)]) == 2
    err = capsys.readouterr().err
    assert "pass --dialect (sinabs" in err and "--dt SECONDS" in err and err.count("\n") == 1


def test_dt_alone_runs_nir_semantics_and_says_so(capsys):
    assert main(["info", str(DIGITS), "--dt", "1e-4"]) == 0
    cap = capsys.readouterr()
    assert "--dt without --dialect runs NIR's own semantics" in cap.err and "--dialect snntorch" in cap.err
    assert "dialect     nir" in cap.out


def test_library_error_without_dt_suggests_the_dialect():
    with pytest.raises(evsim.ModelFileError, match="looks like snntorch's export.*dialect='snntorch'"):
        evsim.load(DIGITS)


def test_python_dash_m_evsim():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "evsim", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage: evsim" in out.stdout and "info" in out.stdout


def test_evsims_own_export_loads_with_the_settings_it_recorded(tmp_path, capsys):
    # Norse's LIF at dt = 1e-4 (Norse's default is 1e-3): save_nir records dt; the CLI takes it from the file
    net = evsim.load(model_file("nir_paper/01_lif/lif_norse.nir"), dialect="norse", dt=1e-4)
    path = tmp_path / "lif.nir"
    kw = evsim.save_nir(net, path)
    assert kw["dialect"] == "norse" and kw["dt"] == 1e-4
    hint = suggest(nir.read(path))
    assert hint.dialect == "norse" and hint.settings["dt"] == 1e-4
    x = np.loadtxt(model_file("nir_paper/01_lif/lif_exact.csv"), delimiter=",")[:, :1]
    np.savez(tmp_path / "x.npz", x=x)
    out = tmp_path / "o.npz"
    assert main(["run", str(path), "--input", str(tmp_path / "x.npz"), "--out", str(out), "--no-progress"]) == 0
    cap = capsys.readouterr()
    assert "written by evsim's save_nir" in cap.err
    ours = evsim.run(evsim.load(path, **kw), x).output
    assert np.flatnonzero(ours[:, 0]).tolist() == [460, 510, 710, 760]  # the NIR paper's Norse row
    assert "4 spikes" in cap.out and "dt 0.0001 s" in cap.out  # at Norse's default dt 1e-3: 34 spikes
    assert main(["info", str(path)]) == 0 and "dt 0.0001 s" in capsys.readouterr().out
    # damaged metadata is ignored: the other rules decide (Norse's r = 1 settles nothing: one line, exit 2)
    g = nir.read(path)
    g.metadata = {"evsim_load": "{not json"}
    nir.write(tmp_path / "bad.nir", g)
    assert suggest(nir.read(tmp_path / "bad.nir")) is None
    assert main(["info", str(tmp_path / "bad.nir")]) == 2
