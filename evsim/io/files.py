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

from .. import limits
from ..errors import EvsimError, InputError

INPUT_KEYS = ("x", "input", "inputs", "data", "spikes")
LABEL_KEYS = ("labels", "label", "y", "targets")


def read_inputs(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read ``(x, labels)`` from ``.npz`` / ``.h5`` (arrays named x|input|inputs|data|spikes, labels|y|targets)
    or ``.npy`` (x only). ``x`` is ``[T, n]`` or ``[B, T, n]`` (or the input node's shape after T).

    Hostile files: every array's declared shape and dtype is read from its header (HDF5 metadata, the ``.npy``
    header inside the zip) and checked against `evsim.limits` before its data is read or decompressed; nothing is
    unpickled; ``x`` must hold numbers with at least one sample and step, labels whole class numbers."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such input file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            with open(p, "rb") as f:
                _npy_header(f, f"{p}", os.path.getsize(p))
            arrays = {"x": np.load(p, allow_pickle=False)}
        elif suffix == ".npz":
            if not zipfile.is_zipfile(p):
                raise InputError(f"{p}: not a .npz file (an .npz is a zip archive written by numpy.savez)")
            arrays = _read_npz(p)
        elif suffix in (".h5", ".hdf5"):
            import h5py

            from .h5safe import check_hdf5

            check_hdf5(p, InputError)
            with h5py.File(p, "r") as f:
                arrays = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
        else:
            raise InputError(f"{p}: unknown input format {suffix!r}; expected .npz, .npy or .h5")
    except EvsimError:
        raise
    except Exception as e:  # noqa: BLE001 - corrupt files raise many kinds of errors
        raise InputError(f"{p}: cannot read ({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None
    x_key = next((k for k in INPUT_KEYS if k in arrays), None)
    if x_key is None:
        raise InputError(f"{p}: no input array; expected one named {' or '.join(INPUT_KEYS)}, found {sorted(arrays)}")
    y_key = next((k for k in LABEL_KEYS if k in arrays), None)
    x = _check_x(p, x_key, np.asarray(arrays[x_key]))
    return x, (_check_labels(p, y_key, np.asarray(arrays[y_key]), x) if y_key else None)


def _npy_header(f: Any, where: str, available: int) -> None:
    """Check a ``.npy`` header (shape, dtype) before its data is read: no objects, and a size within both
    `evsim.limits.memory` and the bytes actually there (a zip member's declared size, or the file's)."""
    from numpy.lib import format as npformat

    version = npformat.read_magic(f)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise InputError(f"{where}: unknown .npy format version {version}")
    read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
    shape, _, dtype = read(f, max_header_size=10_000)
    if dtype.hasobject:
        raise InputError(f"{where}: holds Python objects (dtype {dtype}); evsim reads numbers only, never pickles")
    n = 1
    for s in shape:
        n *= int(s)
    nbytes = n * dtype.itemsize
    limits.check_memory(f"{where}: an array of shape {shape} ({dtype})", nbytes)
    if nbytes > available:
        raise InputError(f"{where}: truncated: the header declares {nbytes} bytes of data, the file holds {available}")


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    """Every member of an ``.npz``, each checked (name, declared size, ``.npy`` header) before decompression."""
    with zipfile.ZipFile(p) as z:
        infos = z.infolist()
        if len(infos) > 1000:
            raise InputError(f"{p}: {len(infos)} arrays in one .npz (more than 1000)")
        total = sum(i.file_size for i in infos)
        limits.check_memory(f"{p}: its arrays decompressed", total, "a small .npz can expand enormously")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise InputError(f"{p}: member {info.filename!r} is not a .npy array (an .npz holds only arrays)")
            with z.open(info) as f:
                _npy_header(f, f"{p}: array {info.filename[:-4]!r}", info.file_size)
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _check_x(p: Path, key: str, x: np.ndarray) -> np.ndarray:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise InputError(f"{p}: array {key!r} holds {x.dtype}, expected real numbers")
    if x.ndim < 2:
        raise InputError(f"{p}: array {key!r} has shape {x.shape}; expected [T, n] or [B, T, n] (or [T, *shape])")
    if 0 in x.shape:
        raise InputError(f"{p}: array {key!r} of shape {x.shape} holds no sample, step or neuron")
    return x


def _check_labels(p: Path, key: str, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Labels as int64 class numbers ``[B]``: whole, finite, non-negative numbers (floats like 3.0 are accepted)."""
    if y.ndim == 0:
        y = y.reshape(1)
    if y.ndim != 1:
        raise InputError(f"{p}: {key!r} has shape {y.shape}; expected one class number per sample")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
        raise InputError(f"{p}: {key!r} holds {y.dtype}; expected whole class numbers (0, 1, 2, ...)")
    if y.size and (not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or np.min(y) < 0 or np.max(y) >= 2**62):
        raise InputError(f"{p}: {key!r} holds values that are not whole class numbers >= 0 (NaN, fractions, ...)")
    return y.astype(np.int64)


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
