"""Code health, checked by the suite so that CI (the README's test command) enforces it: ruff's lint and format
check over the repository, and mypy over `evsim/` (configured in pyproject.toml). A failure shows the tool's output.
Also: no call of an inlined Numba helper passes more than 30 arguments (Numba could not inline it).
"""

import ast
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


def _long_inlined_calls(sources: dict[str, str]) -> list[str]:
    """Calls of an `evsim._jit.njit_inline` helper with more than 30 arguments (or ``*args``) in ``sources``
    (path -> text): CPython compiles them as ``*args`` calls, which Numba does not inline (see `evsim._jit`)."""
    trees = {path: ast.parse(text) for path, text in sources.items()}
    inlined = {
        f.name
        for tree in trees.values()
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and any(getattr(d, "id", None) == "njit_inline" for d in f.decorator_list)
    }
    found = []
    for path, tree in trees.items():
        for c in ast.walk(tree):
            name = getattr(c.func, "id", getattr(c.func, "attr", None)) if isinstance(c, ast.Call) else None
            if name in inlined and (
                len(c.args) + len(c.keywords) > 30 or any(isinstance(a, ast.Starred) for a in c.args)
            ):
                found.append(f"{path}:{c.lineno} {name}({len(c.args) + len(c.keywords)} arguments)")
    return found


def test_inlined_calls_stay_inlinable():
    sources = {str(p.relative_to(REPO)): p.read_text() for p in sorted((REPO / "evsim").rglob("*.py"))}
    assert not _long_inlined_calls(sources), "group arguments in tuples (evsim/_jit.py says why)"
    # the check finds what it looks for: 31 arguments, and *args
    args = ", ".join(f"a{k}" for k in range(31))
    made = {"m.py": f"@njit_inline\ndef h(*a):\n    pass\n\n\nh({args})\nh(*a)\nh(a0)\n"}
    assert [s.split()[0] for s in _long_inlined_calls(made)] == ["m.py:6", "m.py:7"]
