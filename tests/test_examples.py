"""Examples are runnable scripts: run the ones that need nothing but evsim."""

import re
import subprocess
import sys

import pytest

from conftest import EXAMPLES


def test_run_digits_example():
    out = subprocess.run([sys.executable, str(EXAMPLES / "run_digits.py")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "identical to snnTorch's: 100.0% of samples" in out.stdout


def test_run_nmnist_cnn_example():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_nmnist_cnn.py")], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    # the CNN recognises the synthesised recordings (chance: 0.1; the docstring states what the figure means)
    acc = re.search(r"^accuracy ([\d.]+) \((\d+)/(\d+)\)", out.stdout, re.M)
    assert acc and "layer 12" in out.stdout, out.stdout
    assert float(acc.group(1)) >= 0.7 and int(acc.group(3)) == 100, out.stdout


def test_every_example_names_its_source():
    for path in sorted(EXAMPLES.glob("*.py")):
        doc = path.read_text().split('"""')[1]
        assert re.search(r"\bSources?\b|\bmade by\b|\bfrom\b", doc), f"{path.name}: its docstring names no source"
        assert "/work/" not in path.read_text() and "/home/" not in path.read_text(), path.name
    for path in sorted((EXAMPLES / "data").glob("*.md")):
        assert "/work/" not in path.read_text() and "/home/" not in path.read_text(), path.name


def test_ttfs_digits_example():
    pytest.importorskip("evsim.exact", reason="evsim.exact (the exact engine) is not in this tree yet")
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "ttfs_digits.py")], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    same = re.search(r"same decision as the linear classifier: ([\d.]+)%", out.stdout)
    acc = re.search(r"class = first output spike: accuracy ([\d.]+)", out.stdout)
    assert same and acc, out.stdout
    assert float(same.group(1)) >= 95.0 and float(acc.group(1)) >= 0.8, out.stdout


def test_run_snn_delays_example():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_snn_delays.py")], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("identical to PyTorch's in 100.0% of samples") == 2
    assert "predictions identical to PyTorch's: 100.0% of samples" in out.stdout
