"""Input files (`.npz`, `.npy`, `.h5`) and atomic output writing."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputError

INPUT_KEYS = ("x", "input", "inputs", "data", "spikes")
LABEL_KEYS = ("labels", "label", "y", "targets")


def read_inputs(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read ``(x, labels)`` from ``.npz`` / ``.h5`` (arrays named x|input|inputs|data|spikes, labels|y|targets)
    or ``.npy`` (x only). ``x`` is ``[T, n]`` or ``[B, T, n]`` (or the input node's shape after T)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such input file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False), None
        if suffix == ".npz":
            if not zipfile.is_zipfile(p):
                raise InputError(f"{p}: not a .npz file (an .npz is a zip archive written by numpy.savez)")
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        elif suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as f:
                arrays = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
        else:
            raise InputError(f"{p}: unknown input format {suffix!r}; expected .npz, .npy or .h5")
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - corrupt files raise many kinds of errors
        raise InputError(f"{p}: cannot read ({type(e).__name__}: {e})") from None
    x_key = next((k for k in INPUT_KEYS if k in arrays), None)
    if x_key is None:
        raise InputError(f"{p}: no input array; expected one named {' or '.join(INPUT_KEYS)}, found {sorted(arrays)}")
    y_key = next((k for k in LABEL_KEYS if k in arrays), None)
    return arrays[x_key], (arrays[y_key] if y_key else None)


def read_samples(path: str | Path, samples: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """`read_inputs`, keeping only the first ``samples`` samples (what the CLI's ``--samples N`` does)."""
    x, labels = read_inputs(path)
    if samples is not None:
        if x.ndim < 3:
            raise InputError(f"{path}: --samples needs a batch of samples [B, T, ...] in the input file")
        if samples < 1:
            raise InputError(f"--samples must be at least 1, got {samples}")
        x = x[:samples]
        labels = None if labels is None else labels[:samples]
    return x, labels


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp" + p.suffix, dir=p.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it owner-only; give it the mode a plain open() would
    try:
        yield Path(tmp)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")


def write_npz(path: str | Path, **arrays: Any) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
