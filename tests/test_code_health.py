"""Code health, checked by the suite so that CI (the README's test command) enforces it: ruff's lint and format
check over the repository, and mypy over `evsim/` (configured in pyproject.toml). A failure shows the tool's output.
"""

import importlib.util
import subprocess
import sys

import pytest
from conftest import REPO


def _tool(module: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: pip install -e '.[test]' installs it")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("args", [("check", "."), ("format", "--check", ".")], ids=["lint", "format"])
def test_ruff(args):
    out = _tool("ruff", *args)
    assert out.returncode == 0, f"ruff {' '.join(args)}:\n{out.stdout}{out.stderr}"


def test_mypy():
    out = _tool("mypy", "evsim/")
    assert out.returncode == 0, f"mypy evsim/:\n{out.stdout}{out.stderr}"
