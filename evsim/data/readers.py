"""Event files: recognise the format from the file's first bytes and read its events as an `EventArray`.

* AEDAT4 (iniVation DV), recognised by ``#!AER-DAT4.0``: read with the ``aedat`` package (optional extra
  ``events``); sensor size from the file's stream info.
* Prophesee EVT2 / EVT3 (``.raw``), header line ``% evt 2.0`` / ``% evt 3.0`` (or ``% format EVT3``), and DAT
  (``.dat``, header ``% Data file containing CD events``): read with ``expelliarmus`` (extra ``events``); sensor
  size from the header (``% geometry WxH``, ``% format ...;width=W;height=H``, ``% Width`` / ``% Height``), else
  the largest x, y + 1.
* NumPy ``.npy`` / ``.npz`` (the NumPy / zip magic), read with ``allow_pickle=False``: a structured array with
  fields x, y, t, p in any order or, in an ``.npz``, arrays so named; an ``.npz`` may hold ``sensor_size``.

`read_events(path)` returns the events with ``t`` as the file stores it (camera files: integer microseconds,
``t_unit = 1e-6``). A file whose content is another format than its extension says is an error naming both; a
missing optional package is an error saying what to install. HDF5 files hold datasets (SHD/SSC, NIR data, dense
arrays): open them with `evsim.data.open`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputError
from .events import EventArray, as_events

__all__ = ["read_events", "detect_format", "EXTENSIONS"]

EXTENSIONS = {".aedat4": "aedat4", ".raw": "evt", ".dat": "dat", ".npy": "npy", ".npz": "npz", ".h5": "hdf5",
              ".hdf5": "hdf5", ".nir": "hdf5"}  # fmt: skip
_MAGIC = ((b"#!AER-DAT4", "aedat4"), (b"#!AER-DAT", "aedat-old"), (b"\x89HDF\r\n\x1a\n", "hdf5"),
          (b"\x93NUMPY", "npy"), (b"PK\x03\x04", "npz"), (b"PK\x05\x06", "npz"))  # fmt: skip
_EXPECT = {"aedat4": "'#!AER-DAT4.0'", "evt": "a '% evt 2.0' or '% evt 3.0' header", "dat": "a '%' header",
           "npy": "NumPy's '\\x93NUMPY'", "npz": "a zip archive written by numpy.savez",
           "hdf5": "HDF5's signature"}  # fmt: skip
EXTRA = "pip install 'evsim[events]'  (aedat for AEDAT4, expelliarmus for Prophesee EVT2/EVT3/DAT)"


def detect_format(path: str | Path) -> str:
    """The format of a file from its first bytes: 'aedat4', 'evt2', 'evt3', 'dat', 'npy', 'npz', 'hdf5'; a
    content that disagrees with a known extension is an `InputError` naming both."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    with open(p, "rb") as f:
        head = f.read(4096)
    found = next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)
    if found is None and head.startswith(b"%"):
        text = head.decode("latin-1").lower()
        if re.search(r"^% evt 3\.0|^% format evt3", text, re.M):
            found = "evt3"
        elif re.search(r"^% evt 2\.0|^% format evt2", text, re.M):
            found = "evt2"
        elif "data file containing cd events" in text or p.suffix.lower() == ".dat":
            found = "dat"
        elif re.search(r"^% evt 2\.1|^% format evt21", text, re.M):
            found = "evt2.1"
    if found == "aedat-old":
        raise InputError(f"{p}: an AEDAT 2/3 file; only AEDAT4 is supported (convert it with DV)")
    if found == "evt2.1":
        raise InputError(f"{p}: a Prophesee EVT 2.1 file; supported are EVT2, EVT3 and DAT")
    want = EXTENSIONS.get(p.suffix.lower())
    if found is None and want is not None:
        raise InputError(f"{p}: not a {p.suffix} file (it starts with {head[:16]!r}; expected {_EXPECT[want]})")
    if found is None:
        raise InputError(
            f"{p}: unknown event file format (first bytes {head[:16]!r}); expected AEDAT4, Prophesee EVT2/EVT3/DAT, "
            ".npy/.npz or HDF5" + (f" as its extension {p.suffix} says" if want else "")
        )
    if want is not None and want != found and not (want == "evt" and found in ("evt2", "evt3")):
        raise InputError(f"{p}: the extension says {p.suffix} but the content is {found.upper()}")
    return found


def read_events(path: str | Path, format: str | None = None, sensor_size: Any = None) -> EventArray:
    """The events of one event file as a tonic-style structured array (`EventArray`: fields x, y, t, p; ``t`` in
    the file's unit, microseconds for camera files) with ``.sensor_size`` (W, H, P). ``format`` overrides the
    detection ('aedat4', 'evt2', 'evt3', 'dat', 'npy', 'npz')."""
    p = Path(path)
    fmt = format or detect_format(p)
    if fmt == "hdf5":
        raise InputError(f"{p}: an HDF5 file holds a dataset of samples: open it with evsim.data.open(path)")
    reader = _READERS.get(fmt)
    if reader is None:
        raise InputError(f"{p}: unknown format {fmt!r}; expected one of {sorted(_READERS)}")
    return reader(p, sensor_size)


def _aedat4(p: Path, sensor_size: Any) -> EventArray:
    try:
        import aedat
    except ImportError:
        raise InputError(f"{p}: reading AEDAT4 needs the 'aedat' package: {EXTRA}") from None
    try:
        dec = aedat.Decoder(str(p))
        streams = {k: v for k, v in dec.id_to_stream().items() if v.get("type") == "events"}
        if not streams:
            raise InputError(f"{p}: the AEDAT4 file has no event stream")
        sid = min(streams)
        parts = [pk["events"] for pk in dec if pk.get("stream_id") == sid and "events" in pk]
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - the decoder raises on truncated or corrupt packets
        raise InputError(f"{p}: corrupt or truncated AEDAT4 file ({type(e).__name__}: {e})") from None
    a = np.concatenate(parts) if parts else np.zeros(0, dtype=[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    size = sensor_size or (streams[sid]["width"], streams[sid]["height"], 2)
    return as_events(a, size, t_unit=1e-6, where=str(p))


def _prophesee(encoding: str) -> Any:
    def read(p: Path, sensor_size: Any) -> EventArray:
        try:
            from expelliarmus import Wizard
        except ImportError:
            raise InputError(f"{p}: reading Prophesee {encoding.upper()} needs 'expelliarmus': {EXTRA}") from None
        with _stderr_captured() as said:
            try:
                a = Wizard(encoding=encoding).read(str(p))
            except Exception as e:  # noqa: BLE001
                raise InputError(f"{p}: cannot read as {encoding.upper()} ({type(e).__name__}: {e})") from None
        if a is None:  # expelliarmus' C code prints its error and returns None
            why = " ".join(said[0].split())[:200] if said else ""
            raise InputError(f"{p}: corrupt {encoding.upper()} data (expelliarmus: {why or 'could not decode it'})")
        return as_events(a, sensor_size or _header_geometry(p), t_unit=1e-6, where=str(p))

    return read


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """Capture what C code writes to file descriptor 2 (so the CLI's error stays one line)."""
    said: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            said.append(tmp.read().decode("utf-8", "replace"))


def _header_geometry(p: Path) -> tuple[int, int, int] | None:
    with open(p, "rb") as f:
        head = f.read(4096).decode("latin-1")
    text = "\n".join(line for line in head.splitlines() if line.startswith("%"))
    m = re.search(r"geometry\s+(\d+)x(\d+)", text) or re.search(r"width=(\d+);height=(\d+)", text)
    if m:
        return (int(m.group(1)), int(m.group(2)), 2)
    w, h = re.search(r"% Width (\d+)", text), re.search(r"% Height (\d+)", text)
    return (int(w.group(1)), int(h.group(1)), 2) if w and h else None


def _npy(p: Path, sensor_size: Any) -> EventArray:
    try:
        a = np.load(p, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{p}: not a readable .npy file ({type(e).__name__}: {e})") from None
    return as_events(a, sensor_size, t_unit=1e-6, where=str(p))


def _npz(p: Path, sensor_size: Any) -> EventArray:
    if not zipfile.is_zipfile(p):
        raise InputError(f"{p}: not a .npz file (an .npz is a zip archive written by numpy.savez)")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{p}: cannot read ({type(e).__name__}: {e})") from None
    size = arrays.pop("sensor_size", None)
    if sensor_size is None and size is not None:
        sensor_size = tuple(int(v) for v in np.ravel(size))
    if len(arrays) == 1 and next(iter(arrays.values())).dtype.names:
        return as_events(next(iter(arrays.values())), sensor_size, t_unit=1e-6, where=str(p))
    return as_events(arrays, sensor_size, t_unit=1e-6, where=str(p))


_READERS = {"aedat4": _aedat4, "evt2": _prophesee("evt2"), "evt3": _prophesee("evt3"), "dat": _prophesee("dat"),
            "npy": _npy, "npz": _npz}  # fmt: skip
