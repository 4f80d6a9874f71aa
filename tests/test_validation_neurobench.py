"""evsim's counters against NeuroBench's and Sinabs' own (the `validation` extra).

``validation/neurobench_sinabs.py`` runs in a Python with torch, snntorch, neurobench and sinabs (named by
EVSIM_TORCH_PYTHON, default ../venv-torch/bin/python beside the repository) and writes their figures; evsim then
runs the same models
on the same inputs here. Without that Python or those packages the tests skip and say why. They run only when
selected (`pytest -m validation`, or EVSIM_VALIDATION=1), like tests/test_validation_frameworks.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import evsim
from evsim.accounting import account

from conftest import EXAMPLES, REPO

pytestmark = pytest.mark.validation

TORCH_PY = Path(
    os.environ.get("EVSIM_TORCH_PYTHON", Path(__file__).resolve().parents[2] / "venv-torch" / "bin" / "python")
)
SCRIPT = REPO / "validation" / "neurobench_sinabs.py"
SAMPLES = 300


@pytest.fixture(scope="module")
def frameworks(tmp_path_factory, request):
    if "validation" not in (request.config.getoption("-m") or "") and not os.environ.get("EVSIM_VALIDATION"):
        pytest.skip("NeuroBench/Sinabs validation (~10 s): run `pytest -m validation` or set EVSIM_VALIDATION=1")
    if not TORCH_PY.exists():
        pytest.skip(
            f"no framework Python at {TORCH_PY} (set EVSIM_TORCH_PYTHON to a Python with torch, snntorch, "
            "neurobench and sinabs)"
        )
    probe = subprocess.run(
        [str(TORCH_PY), "-c", "import torch, snntorch, nir, neurobench.metrics, sinabs"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"neurobench/sinabs not importable in {TORCH_PY}: {probe.stderr.strip().splitlines()[-1:]}")
    out = tmp_path_factory.mktemp("neurobench_sinabs")
    proc = subprocess.run(
        [str(TORCH_PY), str(SCRIPT), str(out), "--samples", str(SAMPLES)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"neurobench_sinabs.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return out


def test_neurobench_metrics_equal_evsim_on_the_digits_model(frameworks):
    nb = json.loads((frameworks / "neurobench_digits.json").read_text())
    assert nb["output_bits_identical_to_snntorch_output"] == 1.0  # NeuroBench ran the trained model
    net = evsim.load(EXAMPLES / "data" / "digits_snntorch.nir", dialect="snntorch")
    a = account(evsim.run(net, np.load(EXAMPLES / "data" / "digits_test.npz")["x"][:SAMPLES]))
    ours = a.neurobench()
    so = nb["SynapticOperations"]
    # binary inputs, no delays: exact equality of the effective and dense counts
    assert so["Effective_ACs"] == pytest.approx(ours["Effective_ACs"], rel=1e-12)
    assert so["Effective_ACs"] == pytest.approx(float(a.sops.mean()), rel=1e-12)
    assert so["Effective_MACs"] == ours["Effective_MACs"] == 0
    assert so["Dense"] == ours["Dense"]
    assert nb["ActivationSparsity"] == pytest.approx(ours["ActivationSparsity"], rel=1e-12)
    assert nb["ConnectionSparsity"] == round(ours["ConnectionSparsity"], 4)
    # NeuroBench counts membranes that changed; with biases every membrane changes every step
    assert nb["MembraneUpdates"] == ours["MembraneUpdates"]


def test_sinabs_synops_equal_evsim_on_the_nmnist_cnn(frameworks):
    path = frameworks / "sinabs_cnn.npz"
    if not path.exists():
        pytest.skip("the N-MNIST CNN run of validation/neurobench_sinabs.py is not available")
    d = np.load(path)
    x = d["x"].astype(np.float64)  # [B, T, 2, 34, 34], counts 0..2
    B, T = x.shape[:2]
    net = evsim.load(str(d["nir"]), dialect="sinabs")
    res = evsim.run(net, x)
    for key in d.files:  # the counts compare like for like only if the spikes are Sinabs' own
        if key.startswith("spk:"):
            pop = key[4:]
            got = res.spikes[pop].dense(T, net.population(pop).size, B)
            np.testing.assert_array_equal(got, d[key], err_msg=f"population {pop}: spikes differ from Sinabs'")
    a = account(res)
    per_layer = a.sinabs()["layers_per_timestep"]
    want = json.loads(str(d["synops"]))
    by_target = {p.target: k for k, p in a.projections.items()}
    assert set(want) == set(by_target)
    for target, v in want.items():
        assert per_layer[by_target[target]] == pytest.approx(v, rel=1e-6), target  # Sinabs sums in float32
    assert a.sinabs()["synops_per_timestep"] == pytest.approx(sum(want.values()), rel=1e-6)
    assert a.total("macs").sum() > 0  # count-valued input events are MACs in evsim's own split
