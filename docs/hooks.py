"""MkDocs hook: the repository's README.md becomes the page ``readme.md`` of the guide, so the guide links to its
sections (the README stays the one copy of the quick start, dialect table and benchmark figures)."""

from pathlib import Path

from mkdocs.structure.files import File

README = Path(__file__).resolve().parents[1] / "README.md"


def on_files(files, config):
    text = README.read_text(encoding="utf-8")
    # links in the README are relative to the repository root: point the guide's copy at the guide's own pages
    files.append(File.generated(config, "readme.md", content=text))
    return files
