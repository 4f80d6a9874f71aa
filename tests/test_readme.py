"""Every shell command in README.md's code blocks runs as written.

The commands are read from the README itself (fenced blocks marked ``bash``, ``sh``, ``shell`` or ``console``;
other blocks are output, Python or a synopsis with placeholders, marked ``text``), so a command added to the README
is tested without touching this file. Each runs with bash in a temporary copy of the repository (so files it
writes land there) that imports evsim from this checkout, with three substitutions, said here because they are the
only liberties taken:

* a step that makes a virtual environment or installs into it (``python3 -m venv .venv``, ``.venv/bin/pip
  install ...``) is left out: the suite already runs in an environment where evsim is installed;
* ``evsim`` and ``.venv/bin/evsim`` run as ``python -m evsim`` with this interpreter, ``python``, ``python3`` and
  ``.venv/bin/python`` as this interpreter;
* the test command's ``python -m pytest`` (this very suite) is left out.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell|console)[ \t]*\n(.*?)^```", re.M | re.S)
SKIP_DIRS = {"evsim", "site", "build", "dist"}  # evsim is imported from the checkout (its compiled kernels cached)


def readme_commands(text: str) -> list[str]:
    """Shell commands of the README's shell blocks: continuation lines joined, prompts and comment lines dropped."""
    out = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            if line and not line.startswith("#"):
                out.append(line)
    return out


def _segment(seg: str) -> str | None:
    """One command of an ``&&`` chain as it runs here, or None when it is left out (see the module docstring)."""
    words = shlex.split(seg, comments=True)
    if not words:
        return None
    head, rest = words[0], seg.strip()[len(seg.strip().split(None, 1)[0]) :]
    py = shlex.quote(sys.executable)
    if head.endswith("/pip") or head in ("pip", "pip3") or words[1:3] == ["-m", "venv"]:
        return None
    if words[1:3] == ["-m", "pytest"]:
        return None
    if head in ("evsim", ".venv/bin/evsim"):
        return f"{py} -m evsim{rest}"
    if head in ("python", "python3", ".venv/bin/python"):
        return f"{py}{rest}"
    return seg.strip()


def as_run_here(command: str) -> str | None:
    kept = [s for s in (_segment(seg) for seg in command.split("&&")) if s is not None]
    return " && ".join(kept) if kept else None


COMMANDS = readme_commands((REPO / "README.md").read_text())
RUNS = [(c, r) for c in COMMANDS if (r := as_run_here(c)) is not None]  # the rest only set up or run this suite


def test_the_readme_has_commands():
    assert any("evsim" in c for c in COMMANDS), "no shell command found in README.md's code blocks"


def test_substitutions():
    py = shlex.quote(sys.executable)
    assert as_run_here("python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/evsim run m.nir -i x") == (
        f"{py} -m evsim run m.nir -i x"
    )
    assert (
        as_run_here("python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest")
        is None
    )
    assert (
        as_run_here("evsim info examples/data/evsim.nir  # a comment")
        == f"{py} -m evsim info examples/data/evsim.nir  # a comment"
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A copy of the repository without evsim/ (imported from the checkout) and without hidden folders."""
    root = tmp_path_factory.mktemp("readme")
    for item in REPO.iterdir():
        if item.name.startswith(".") or item.name in SKIP_DIRS or item.name.endswith(".egg-info"):
            continue
        if item.is_dir():
            shutil.copytree(item, root / item.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(item, root / item.name)
    return root


@pytest.mark.parametrize("command,run", RUNS, ids=[c[:60] for c, _ in RUNS])
def test_readme_command_runs_as_written(command, run, workdir):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    out = subprocess.run(["bash", "-c", run], cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (
        f"{command}\n(run as: {run})\nexit {out.returncode}\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    )
