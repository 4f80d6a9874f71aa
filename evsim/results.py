"""A results folder written while a dataset run goes (`evsim.parallel.run_dataset(out=DIR)`): nothing finished is
lost, and a run can be resumed.

    DIR/manifest.json                    what ran (model fingerprint, input, settings), status, failed samples
    DIR/parts/part-<first>-<count>.npz   one per finished chunk: index, label, steps, prediction, output, c/<counter>
    DIR/results.npz                      every part joined in sample order (written when the run ends)

Every file is written under a temporary name and renamed into place (`evsim.io.files.atomic_path`), so a crash or
a kill leaves whole files only; a part is written as soon as its chunk is back. ``resume`` reads the parts back,
checks the manifest describes the same job (model, input, limit, seed), and the run does only the samples missing
(failed samples are run again). Paths are checked before anything runs (`check_out_dir`, `check_out_file`).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EvsimError
from .io.files import write_json, write_npz

FORMAT = "evsim-dataset-run/1"


class OutputPathError(EvsimError, ValueError):
    """An output path that cannot be written (missing folder, a file where a folder should be, ...)."""


def _file_ancestor(p: Path) -> Path | None:
    for a in [p, *p.parents]:
        if a.exists() and not a.is_dir():
            return a
    return None


def check_out_file(path: str | Path) -> Path:
    """An output file's path, checked before a run: its folder must exist (or be creatable under existing
    folders) and no part of it may be a file."""
    p = Path(path)
    f = _file_ancestor(p.parent)
    if f is not None:
        raise OutputPathError(f"--out {p}: {f} is a file, not a folder")
    if p.is_dir():
        raise OutputPathError(f"--out {p}: is a folder; give a file name (.npz or .json)")
    if not p.parent.exists():
        raise OutputPathError(f"--out {p}: the folder {p.parent} does not exist")
    return p


def check_out_dir(path: str | Path) -> Path:
    """A results folder, checked and made before a run (its parent folder must exist)."""
    p = Path(path)
    f = _file_ancestor(p)
    if f is not None:
        raise OutputPathError(f"--out {p}: {f} is a file, not a folder")
    if not p.parent.exists():
        raise OutputPathError(f"--out {p}: the folder {p.parent} does not exist")
    (p / "parts").mkdir(parents=True, exist_ok=True)
    return p


def fingerprint(net: Any, job: dict[str, Any]) -> str:
    """What a resumed run must share with the first: the network's contents and the job's settings."""
    h = hashlib.sha256(pickle.dumps(net, protocol=4))
    h.update(json.dumps(job, sort_keys=True).encode())
    return h.hexdigest()


class ResultStore:
    """The results folder of one job (see the module docstring)."""

    def __init__(self, path: str | Path, fp: str, job: dict[str, Any], resume: bool) -> None:
        self.path = check_out_dir(path)
        self.manifest_path = self.path / "manifest.json"
        self.fp, self.job = fp, job
        self.failed: dict[int, str] = {}
        old = self._read_manifest()
        if old is not None and not resume:
            raise OutputPathError(
                f"--out {self.path}: holds the results of an earlier run ({old.get('status')}); --resume completes "
                "it, or choose another folder"
            )
        if resume and old is not None and old.get("fingerprint") != fp:
            raise OutputPathError(
                f"--out {self.path}: its results are of another model or input (manifest fingerprint differs); "
                "resume only with the same model, input, --limit and seed, or choose another folder"
            )
        self.parts = self._read_parts() if resume else []
        self.done: set[int] = set()
        for cols in self.parts:
            self.done.update(cols["index"].tolist())
        self._write_manifest("running")

    def _read_manifest(self) -> dict | None:
        if not self.manifest_path.exists():
            if any((self.path / "parts").iterdir()):
                raise OutputPathError(f"--out {self.path}: has parts but no manifest.json; choose another folder")
            return None
        try:
            m = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError) as e:
            raise OutputPathError(f"{self.manifest_path}: unreadable ({e}); choose another folder") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise OutputPathError(f"{self.manifest_path}: not an evsim results manifest ({FORMAT})")
        return m

    def _read_parts(self) -> list[dict[str, np.ndarray]]:
        parts = []
        for f in sorted((self.path / "parts").glob("part-*.npz")):
            try:
                with np.load(f, allow_pickle=False) as z:
                    parts.append({k: z[k] for k in z.files})
            except Exception as e:  # noqa: BLE001 - a damaged part is run again, not trusted
                raise OutputPathError(f"{f}: unreadable part ({type(e).__name__}); delete it to run it again") from None
        return parts

    def _write_manifest(self, status: str, **extra: Any) -> None:
        m = {
            "format": FORMAT,
            "fingerprint": self.fp,
            "job": self.job,
            "status": status,
            "done": len(self.done),
            "failed": {str(k): v for k, v in sorted(self.failed.items())},
            **extra,
        }
        write_json(self.manifest_path, m)

    def add(self, cols: dict[str, np.ndarray], errors: dict[int, str]) -> None:
        """One finished chunk: its part written at once (if any sample succeeded), the manifest updated."""
        if cols:
            idx = cols["index"]
            first, n = int(idx.min()), int(idx.shape[0])
            k = 0
            while (self.path / "parts" / f"part-{first:09d}-{n}-{k}.npz").exists():
                k += 1
            write_npz(self.path / "parts" / f"part-{first:09d}-{n}-{k}.npz", **cols)
            self.parts.append(cols)
            self.done.update(idx.tolist())
            for i in idx.tolist():
                self.failed.pop(int(i), None)
        self.failed.update(errors)
        self._write_manifest("running")

    def finish(self, status: str, merged: dict[str, np.ndarray], **extra: Any) -> None:
        if merged:
            write_npz(self.path / "results.npz", **merged)
        self._write_manifest(status, **extra)


def merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Columns of every part joined and sorted by sample index (the first copy of a sample kept)."""
    parts = [p for p in parts if p]
    if not parts:
        return {}
    keys = list(parts[0])
    for p in parts[1:]:
        if list(p) != keys:
            raise EvsimError("results parts hold different columns (another model?); run into a new folder")
    cat = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    _, first = np.unique(cat["index"], return_index=True)  # sorted by index
    return {k: v[first] for k, v in cat.items()}
