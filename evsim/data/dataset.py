"""Datasets of labelled samples: `open(path)` for SHD/SSC files, folders of event files, single event files, NIR
data files and dense arrays; `from_tonic(ds)` for any tonic dataset object.

Every dataset has ``len(d)``, iteration over ``(sample, label)`` (label ``None`` when the source has none),
``d.labels`` (an int array, or None) and ``d.kind``. A sample is an `EventArray` (raw events, to be binned by an
`InputPipeline`), except for sources already on the model's grid (``d.on_grid``: dense arrays ``[T, ...]`` and NIR
data), whose samples are what `evsim.run` takes. Samples are read one at a time (SHD: one slice of samples at a
time), so iterating over a large file keeps memory flat.

A folder of event files is labelled by its sub-folders, as torchvision's ``ImageFolder`` and tonic do: the
sub-folder names sorted are the classes 0, 1, ...; files directly in the folder have no label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputError
from ..simulation import EventStream
from .events import EventArray, as_events
from .readers import EXTENSIONS, detect_format, read_events
from .shd import SHDFile, is_shd

__all__ = ["open", "from_tonic", "EventFolder", "EventFile", "ArrayDataset", "NIRDataset", "TonicDataset"]


def open(path: str | Path, format: str | None = None, *, sensor_size: Any = None) -> Any:  # noqa: A001
    """A dataset of labelled samples from ``path`` (see the module docstring); ``format`` overrides detection:
    'shd', 'folder', 'nir-data', 'dense', or an event file format ('aedat4', 'evt2', 'evt3', 'dat', 'npy', 'npz')."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir() or format == "folder":
        return EventFolder(p, sensor_size=sensor_size)
    fmt = format or detect_format(p)
    if fmt in ("hdf5", "shd", "nir-data", "dense") and p.suffix.lower() not in (".npz", ".npy"):
        from ..io.h5safe import check_hdf5

        check_hdf5(p, InputError)  # links, declared sizes, chunking: before anything is read
    if fmt == "hdf5":
        fmt = _hdf5_kind(p)
    if fmt == "shd":
        return SHDFile(p) if sensor_size is None else SHDFile(p, n_units=int(np.ravel(sensor_size)[0]))
    if fmt == "nir-data":
        return NIRDataset(p)
    if fmt == "dense" or (fmt in ("npz", "npy") and _is_dense(p)):
        return ArrayDataset(p)
    return EventFile(p, fmt, sensor_size)


def _hdf5_kind(p: Path) -> str:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            if is_shd(f):
                return "shd"
            if f.attrs.get("__type__") == "NIRGraphData" or "nodes" in f:
                return "nir-data"
            return "dense"
    except Exception as e:  # noqa: BLE001 - truncated or corrupt HDF5
        raise InputError(f"{p}: not a readable HDF5 file ({type(e).__name__}: {e})") from None


def _is_dense(p: Path) -> bool:
    """An .npz/.npy holding a plain numeric array (a raster [B, T, n]) rather than a structured array of events."""
    import zipfile

    from ..io.files import INPUT_KEYS

    if p.suffix.lower() == ".npy" or not zipfile.is_zipfile(p):
        try:
            return np.load(p, mmap_mode="r", allow_pickle=False).dtype.names is None
        except Exception:  # noqa: BLE001 - let the event reader give the error
            return False
    with zipfile.ZipFile(p) as z:
        names = {n[:-4] for n in z.namelist() if n.endswith(".npy")}
    return bool(names & set(INPUT_KEYS)) and not {"x", "t"} <= names


class EventFile:
    """One event file as a dataset of one unlabelled sample."""

    kind = "events"
    on_grid = False
    labels = None

    def __init__(self, path: Path, fmt: str, sensor_size: Any = None) -> None:
        self.path, self.format = path, fmt
        self._ev = read_events(path, fmt, sensor_size)
        self.sensor_size = self._ev.sensor_size

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[tuple[EventArray, None]]:
        yield self._ev, None

    def __repr__(self) -> str:
        return f"EventFile({str(self.path)!r}, {self.format}, {len(self._ev)} events)"


class EventFolder:
    """Event files under a folder, labelled by sub-folder (class) name; read one file at a time."""

    kind = "folder"
    on_grid = False

    def __init__(self, path: Path, sensor_size: Any = None) -> None:
        self.path, self._size = path, sensor_size
        subs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
        self.classes = [d.name for d in subs]
        files: list[tuple[Path, int | None]] = []
        for k, d in enumerate(subs):
            files += [(f, k) for f in sorted(d.iterdir()) if _is_event_file(f)]
        files += [(f, None) for f in sorted(path.iterdir()) if _is_event_file(f)]
        if not files:
            raise InputError(
                f"{path}: no event files ({', '.join(e for e, k in EXTENSIONS.items() if k != 'hdf5')}) in the folder "
                "or its sub-folders"
            )
        self.files = files
        has = [lab is not None for _, lab in files]
        self.labels = np.array([lab for _, lab in files], dtype=np.int64) if all(has) else None
        self.sensor_size: tuple[int, int, int] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[tuple[EventArray, int | None]]:
        for f, lab in self.files:
            ev = read_events(f, sensor_size=self._size)
            if self.sensor_size is None:
                self.sensor_size = ev.sensor_size
            yield ev, lab

    def __repr__(self) -> str:
        return f"EventFolder({str(self.path)!r}, {len(self.files)} files, classes {self.classes})"


def _is_event_file(f: Path) -> bool:
    return f.is_file() and not f.name.startswith(".") and EXTENSIONS.get(f.suffix.lower(), "hdf5") != "hdf5"


class ArrayDataset:
    """A dense input array ``x`` ``[B, T, ...]`` (or one sample ``[T, ...]``) with optional labels, already on the
    model's grid (the arrays `evsim.io.files.read_inputs` reads). In an HDF5 file the array is read a slice of
    samples at a time, its declared shape and type checked first; ``.npz``/``.npy`` are read whole."""

    kind = "dense"
    on_grid = True

    def __init__(self, path: Path, chunk: int = 64) -> None:
        self.path, self.chunk = path, int(chunk)
        self._h5: Any = None
        if path.suffix.lower() in (".h5", ".hdf5"):
            x, labels = self._open_h5(path)
        else:
            from ..io.files import read_inputs

            x, labels = read_inputs(path)
        if len(x.shape) < 2:
            raise InputError(f"{path}: the input array has shape {x.shape}; expected [T, n] or [B, T, n]")
        self.x = x
        self.labels = None if labels is None else np.asarray(labels).reshape(-1)
        self.batched = len(x.shape) >= 3
        if self.labels is not None and self.labels.shape[0] != len(self):
            raise InputError(f"{path}: {self.labels.shape[0]} labels for {len(self)} samples")

    def _open_h5(self, path: Path) -> tuple[Any, Any]:
        import h5py

        from ..io.files import INPUT_KEYS, LABEL_KEYS

        try:
            f = h5py.File(path, "r")
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{path}: not a readable HDF5 file ({type(e).__name__}: {e})") from None
        self._h5 = f
        arrays = {k: f[k] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
        x_key = next((k for k in INPUT_KEYS if k in arrays), None)
        if x_key is None:
            want = " or ".join(INPUT_KEYS)
            raise InputError(f"{path}: no input array; expected one named {want}, found {sorted(arrays)}")
        x = arrays[x_key]
        if x.dtype.kind not in "biuf":
            raise InputError(f"{path}: field {x_key!r}: declared dtype {x.dtype}, expected numbers")

        y_key = next((k for k in LABEL_KEYS if k in arrays), None)
        labels = None
        if y_key is not None:
            y = arrays[y_key]
            if y.ndim > 1 or y.dtype.kind not in "iuf" or y.size > 10_000_000:
                raise InputError(f"{path}: field {y_key!r}: declared shape {y.shape}, dtype {y.dtype}; expected labels")
            try:
                labels = y[()]
            except Exception as e:  # noqa: BLE001 - truncated file
                raise InputError(f"{path}: field {y_key!r}: cannot read ({type(e).__name__}: {e})") from None
        return x, labels

    def __len__(self) -> int:
        return int(self.x.shape[0]) if self.batched else 1

    def __iter__(self) -> Iterator[tuple[np.ndarray, int | None]]:
        if not self.batched:
            yield np.asarray(self.x[()]), None if self.labels is None else int(self.labels[0])
            return
        for s in range(0, len(self), self.chunk):
            try:
                block = np.asarray(self.x[s : s + self.chunk])
            except Exception as e:  # noqa: BLE001 - a truncated HDF5 fails here
                raise InputError(f"{self.path}: samples {s}..: cannot read ({type(e).__name__}: {e})") from None
            for k in range(block.shape[0]):
                b = s + k
                yield block[k], None if self.labels is None else int(self.labels[b])


class NIRDataset:
    """One node's observable of a NIR data file (`evsim.read_nir_data`); event times are put on the model's grid
    (``bind(dt)``), so samples are `EventStream` in steps. NIR data files carry no labels."""

    kind = "nir-data"
    on_grid = True
    labels = None

    def __init__(self, path: Path, node: str | None = None, observable: str | None = None) -> None:
        self.path, self.node, self.observable = path, node, observable
        self._data: Any = None
        self._bound: Any = None

    def bind(self, dt: float | None, snap: str | None = None) -> "NIRDataset":
        from ..io.nir_data import read_nir_data

        if self._data is not None and self._bound == (dt, snap):
            return self
        self._bound = (dt, snap)
        self._data = read_nir_data(self.path, self.node, dt=dt, observable=self.observable, snap=snap)
        return self

    def _items(self) -> Any:
        if self._data is None:
            raise InputError(f"{self.path}: NIR event data needs the model's dt first (dataset.bind(dt))")
        return self._data

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[tuple[Any, None]]:
        d = self._items()
        steps = getattr(d, "steps", None)
        for s in d:
            if isinstance(s, EventStream) and steps is not None:
                yield _Timed(s, steps), None
            else:
                yield s, None


class _Timed:
    """An `EventStream` with its recording's length in steps."""

    def __init__(self, stream: EventStream, steps: int) -> None:
        self.stream, self.steps = stream, int(steps)


class TonicDataset:
    """Any tonic dataset object (``ds[i] -> (events, target)``, ``ds.sensor_size``): tonic's times are
    microseconds. Use it without a ``transform`` (evsim bins the events itself) or with transforms that keep events."""

    kind = "tonic"
    on_grid = False

    def __init__(self, ds: Any, sensor_size: Any = None) -> None:
        self.ds = ds
        self.sensor_size = tuple(sensor_size or getattr(ds, "sensor_size", None) or ()) or None
        self.labels = None

    def __len__(self) -> int:
        return len(self.ds)

    def __iter__(self) -> Iterator[tuple[EventArray, int | None]]:
        for i in range(len(self.ds)):
            item = self.ds[i]
            ev, target = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
            where = f"{type(self.ds).__name__} sample {i}"
            if not isinstance(ev, np.ndarray) or ev.dtype.names is None:
                raise InputError(f"{where}: expected tonic's structured event array, got {type(ev).__name__} "
                                 "(leave out transforms that make frames: evsim bins the events itself)")  # fmt: skip
            lab = None if target is None else int(np.asarray(target).reshape(-1)[0])
            yield as_events(ev, self.sensor_size, t_unit=1e-6, where=where), lab


def from_tonic(ds: Any, sensor_size: Any = None) -> TonicDataset:
    """Wrap a tonic dataset object (e.g. ``tonic.datasets.NMNIST(save_to, train=False)``) as an evsim dataset."""
    return TonicDataset(ds, sensor_size)
