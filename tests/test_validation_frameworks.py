"""Cross-framework equivalence (the `validation` extra): random small models built, exported and run in each
framework (validation/frameworks/<fw>_cases.py, run in a Python that has torch and the framework), then loaded and
run by evsim on the same inputs; every output and hidden spike must be identical.

The framework scripts run in the interpreter named by EVSIM_TORCH_PYTHON (default ../venv-torch/bin/python beside
the repository); without it, or without the framework there, the tests skip and say why. They run only when selected
(`pytest -m validation`, or EVSIM_VALIDATION=1), keeping the default suite fast; `-s` prints every case's match rate.
Cases whose npz carries a ``gap`` (a framework behaviour the neuron kernel cannot express) report their match rate
instead of requiring identity.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import evsim

from conftest import REPO

pytestmark = pytest.mark.validation

TORCH_PY = Path(
    os.environ.get("EVSIM_TORCH_PYTHON", Path(__file__).resolve().parents[2] / "venv-torch" / "bin" / "python")
)
SCRIPTS = REPO / "validation" / "frameworks"
# script stem -> the module it needs; "braille": the NIR paper's Braille RSNNs rebuilt in snnTorch
FRAMEWORKS = {
    "snntorch": "snntorch",
    "norse": "norse",
    "sinabs": "sinabs",
    "spikingjelly": "spikingjelly",
    "braille": "snntorch",
}


def _run_script(fw: str, out: Path) -> list[Path]:
    if not TORCH_PY.exists():
        pytest.skip(f"no framework Python at {TORCH_PY} (set EVSIM_TORCH_PYTHON to a Python with torch and {fw})")
    probe = subprocess.run(
        [str(TORCH_PY), "-c", f"import torch, nir, {FRAMEWORKS[fw]}"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"{fw} is not importable in {TORCH_PY}: {probe.stderr.strip().splitlines()[-1:]}")
    proc = subprocess.run(
        [str(TORCH_PY), f"{fw}_cases.py", str(out)], cwd=SCRIPTS, capture_output=True, text=True, timeout=1200
    )
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, f"{fw}_cases.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    cases = sorted(out.glob(f"{fw}_*.npz"))
    assert cases, f"{fw}_cases.py wrote no case"
    return cases


def compare(case: Path) -> dict:
    """Run one saved case in evsim; return per-population bit and spike agreement."""
    d = np.load(case)
    kw = json.loads(str(d["load"]))
    with warnings.catch_warnings(record=True):  # strict=False cases: the exporter's graph fails NIR's type check
        warnings.simplefilter("always")
        net = evsim.load(case.parent / str(d["nir"]), **kw)
    x = d["x"]
    b, t, _ = x.shape
    res = evsim.run(net, x)
    rows = {}
    for key in d.files:
        if not key.startswith("spk:"):
            continue
        node = key[4:]
        want = d[key]
        got = res.spikes[node].dense(t, want.shape[-1], b) if node in res.spikes else None
        assert got is not None, f"{case.name}: evsim has no population {node!r}"
        rows[node] = dict(
            bits=want.size,
            wrong=int((got != want).sum()),
            spikes=int(want.sum()),
            got_spikes=int(got.sum()),
            samples_identical=int(np.all(got == want, axis=(1, 2)).sum()),
            samples=b,
        )
    gap = str(d["gap"]) if "gap" in d.files else ""
    if not gap:
        np.testing.assert_array_equal(res.output, d["out"])  # the same comparison on the declared output
        for node, r in rows.items():
            assert r["wrong"] == 0, f"{case.name}: {node}: {r}"
    return rows, gap


@pytest.mark.parametrize("fw", list(FRAMEWORKS))
def test_framework_equivalence(fw, tmp_path_factory, capsys, request):
    if "validation" not in (request.config.getoption("-m") or "") and not os.environ.get("EVSIM_VALIDATION"):
        pytest.skip("cross-framework validation (~1 min): run `pytest -m validation` or set EVSIM_VALIDATION=1")
    out = tmp_path_factory.mktemp(fw)
    failures = []
    for case in _run_script(fw, out):
        try:
            rows, gap = compare(case)
        except AssertionError as e:
            rows, gap = None, ""
            failures.append(f"{case.stem}: {str(e).splitlines()[0:6]}")
        with capsys.disabled():
            if rows is not None:
                print(
                    f"\n{case.stem}: "
                    + "; ".join(
                        f"{n} {r['spikes']} spikes, {100 * (1 - r['wrong'] / r['bits']):.3f}% bits, "
                        f"{r['samples_identical']}/{r['samples']} samples identical"
                        for n, r in rows.items()
                    )
                    + (f"  [known gap: {gap[:60]}...]" if gap else ""),
                    end="",
                )
            else:
                print(f"\n{case.stem}: MISMATCH", end="")
    assert not failures, "\n".join(failures)
