"""Spiking Heidelberg Digits / Spiking Speech Commands: the HDF5 layout as published, read sample by sample.

Layout (Cramer et al., "The Heidelberg Spiking Data Sets...", IEEE TNNLS 2020; the files from zenkelab.org)::

    spikes/times   [N]  ragged (vlen) float: spike times of sample i, seconds, non-decreasing
    spikes/units   [N]  ragged (vlen) uint16: the channel (0..699) of each of those spikes
    labels         [N]  integer class of each sample
    extra/...           optional: speaker, keys, meta_info (kept as they are)

`SHDFile` checks the declared shapes and types from the HDF5 metadata when it opens (nothing is read), then reads
one sample (or one slice of samples) at a time: memory does not grow with the file. Each sample becomes an
`EventArray` (fields ``x`` = unit, ``t`` = seconds, ``t_unit = 1``; sensor ``(n_units, 1, 1)``). Every error names
the file, the sample and the field. `write_shd` writes the same layout with h5py (what the tests and the examples'
small files are made with).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..io.files import atomic_path
from .events import EventArray, as_events

__all__ = ["SHDFile", "write_shd", "is_shd"]

N_UNITS = 700  # SHD and SSC: 700 cochlea channels


def is_shd(f: Any) -> bool:
    """Whether an open h5py file has the SHD layout (``spikes/times`` and ``spikes/units``)."""
    return "spikes" in f and "times" in f["spikes"] and "units" in f["spikes"]


class SHDFile:
    """An SHD/SSC file as a dataset of labelled samples: ``len(d)``, ``d[i] -> (EventArray, label)``, iteration,
    ``d.labels`` (all labels, read at open: one small array), ``d.extra`` (names under ``extra/``). Close with
    ``d.close()`` or use it as a context manager."""

    kind = "shd"
    on_grid = False

    def __init__(self, path: str | Path, n_units: int = N_UNITS) -> None:
        import h5py

        self.path = Path(path)
        self.n_units = int(n_units)
        self.sensor_size = (self.n_units, 1, 1)
        if self.path.is_file():
            from ..io.h5safe import check_hdf5

            check_hdf5(self.path, InputError)  # links, declared sizes, chunking: before anything is read
        try:
            self._f = h5py.File(self.path, "r")
        except FileNotFoundError:
            raise InputError(f"{self.path}: no such file") from None
        except Exception as e:  # noqa: BLE001 - truncated or foreign files raise OSError and others
            raise InputError(f"{self.path}: not a readable HDF5 file ({type(e).__name__}: {e})") from None
        try:
            self._check()
        except BaseException:
            self._f.close()
            raise

    def _check(self) -> None:
        import h5py

        f, p = self._f, self.path
        if not is_shd(f):
            raise InputError(f"{p}: not an SHD/SSC file: expected datasets spikes/times and spikes/units")
        self._times, self._units = f["spikes"]["times"], f["spikes"]["units"]
        for name, ds, kinds in (("spikes/times", self._times, "f"), ("spikes/units", self._units, "ui")):
            if not isinstance(ds, h5py.Dataset):
                raise InputError(f"{p}: field {name!r} is not a dataset")
            base = h5py.check_vlen_dtype(ds.dtype)
            if ds.ndim != 1 or base is None or base.kind not in kinds:
                raise InputError(
                    f"{p}: field {name!r}: expected a 1-D ragged (vlen) array of "
                    f"{'floats' if kinds == 'f' else 'integers'}, declared shape {ds.shape}, dtype {ds.dtype}"
                )
        n = self._times.shape[0]
        if self._units.shape[0] != n:
            raise InputError(
                f"{p}: spikes/times has {n} samples but spikes/units has {self._units.shape[0]} (declared shapes)"
            )
        self._n = int(n)
        self.labels: np.ndarray | None = None
        if "labels" in f:
            lab = f["labels"]
            if not isinstance(lab, h5py.Dataset) or lab.shape != (n,) or lab.dtype.kind not in "iu":
                raise InputError(
                    f"{p}: field 'labels': expected {n} integers, declared shape {getattr(lab, 'shape', None)}, "
                    f"dtype {getattr(lab, 'dtype', None)}"
                )
            self.labels = self._read(lambda: lab[()], "labels", None).astype(np.int64)
        self.extra = sorted(f["extra"].keys()) if "extra" in f and isinstance(f["extra"], h5py.Group) else []

    def _read(self, fn: Any, field: str, sample: Any) -> Any:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - a truncated file fails here, not at open
            at = "" if sample is None else f" sample {sample},"
            raise InputError(f"{self.path}:{at} field {field!r}: cannot read ({type(e).__name__}: {e})") from None

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"SHDFile({str(self.path)!r}, {self._n} samples, {self.n_units} units)"

    def __getitem__(self, i: int) -> tuple[EventArray, int | None]:
        if not -self._n <= i < self._n:
            raise IndexError(f"{self.path}: sample {i} of {self._n}")
        i = i % self._n
        return self.samples(i, i + 1)[0]

    def samples(self, start: int, stop: int) -> list[tuple[EventArray, int | None]]:
        """Samples ``start..stop-1`` read in one slice each of times and units."""
        times = self._read(lambda: self._times[start:stop], "spikes/times", f"{start}..{stop - 1}")
        units = self._read(lambda: self._units[start:stop], "spikes/units", f"{start}..{stop - 1}")
        out = []
        for k, (t, u) in enumerate(zip(times, units)):
            i = start + k
            where = f"{self.path}: sample {i}"
            if t.shape != u.shape:
                raise InputError(
                    f"{where}: ragged arrays of unequal length: spikes/times has {t.shape[0]} entries, "
                    f"spikes/units {u.shape[0]}"
                )
            ev = as_events({"x": u, "t": t.astype(np.float64)}, self.sensor_size, t_unit=1.0, where=where)
            out.append((ev, None if self.labels is None else int(self.labels[i])))
        return out

    def __iter__(self) -> Iterator[tuple[EventArray, int | None]]:
        return self.iter(64)

    def iter(self, chunk: int = 64) -> Iterator[tuple[EventArray, int | None]]:
        for s in range(0, self._n, chunk):
            yield from self.samples(s, min(s + chunk, self._n))

    def read_extra(self, name: str) -> np.ndarray:
        """The array ``extra/<name>`` (e.g. ``speaker``)."""
        if name not in self.extra:
            raise InputError(f"{self.path}: no field 'extra/{name}'; it has {['extra/' + k for k in self.extra]}")
        return self._read(lambda: self._f["extra"][name][()], f"extra/{name}", None)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "SHDFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_shd(
    path: str | Path,
    times: Sequence[Any],
    units: Sequence[Any],
    labels: Any = None,
    *,
    extra: dict[str, Any] | None = None,
    time_dtype: Any = np.float32,
) -> None:
    """Write samples in the SHD/SSC layout with h5py, atomically: ``times[i]`` (seconds) and ``units[i]`` (uint16)
    per sample, ``labels`` (one integer per sample) and arrays under ``extra/``."""
    import h5py

    if len(times) != len(units):
        raise InputError(f"write_shd: {len(times)} time arrays but {len(units)} unit arrays")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            g = f.create_group("spikes")
            tt = g.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
            uu = g.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
            for i, (t, u) in enumerate(zip(times, units)):
                tt[i] = np.asarray(t, dtype=time_dtype)
                uu[i] = np.asarray(u, dtype=np.uint16)
            if labels is not None:
                f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
            if extra:
                e = f.create_group("extra")
                for k, v in extra.items():
                    e.create_dataset(k, data=v)
