"""The user guide (docs/, MkDocs): it builds with ``mkdocs build --strict`` (every link, every API page from the
docstrings), and its Python and shell examples run as written from the repository root."""

import re
import subprocess
import sys

import pytest
from conftest import REPO
from test_readme import as_run_here, readme_commands

DOCS = REPO / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.M | re.S)


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="pip install -e '.[test]' installs MkDocs")
    pytest.importorskip("mkdocstrings", reason="pip install -e '.[test]' installs mkdocstrings")
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "Load a NIR graph as an" in api and "Run ``net`` on input" not in api  # rendered, not raw
    assert (tmp_path / "site" / "readme" / "index.html").is_file()


SNIPPETS = [(p, i, code) for p in PAGES for i, code in enumerate(PYTHON_BLOCK.findall(p.read_text()))]


@pytest.mark.parametrize("page,k,code", SNIPPETS, ids=[f"{p.relative_to(DOCS)}#{k}" for p, k, _ in SNIPPETS])
def test_docs_python_examples_run(page, k, code, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "HOME": str(tmp_path)},
    )
    assert out.returncode == 0, f"{page.name} block {k}:\n{code}\n{out.stderr[-3000:]}"


# shell commands that the README also shows run in tests/test_readme.py: not twice
IN_README = set(readme_commands((REPO / "README.md").read_text()))
DOC_COMMANDS = [(p, c) for p in PAGES for c in readme_commands(p.read_text()) if as_run_here(c)]


def test_docs_shell_examples_run(tmp_path):
    assert DOC_COMMANDS, "no shell command found in docs/ (the extraction is broken)"
    for page, command in DOC_COMMANDS:
        if command in IN_README:
            continue
        run = as_run_here(command).replace(" --out report", f" --out {tmp_path / 'report'}")
        out = subprocess.run(
            ["bash", "-c", run], cwd=REPO, capture_output=True, text=True, timeout=600, env={"PYTHONPATH": str(REPO)}
        )
        assert out.returncode == 0, f"{page.name}: {command}\n{out.stdout[-2000:]}{out.stderr[-2000:]}"
