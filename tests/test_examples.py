"""Examples are runnable scripts: run the ones that need nothing but evsim."""

import subprocess
import sys

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
    assert "class decisions" in out.stdout and "layer 12" in out.stdout
