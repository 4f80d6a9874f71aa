"""HDF5 files from strangers, checked from their metadata before any data is read.

`check_hdf5` walks a file's link structure with h5py and refuses, naming the object, what a model or input file
has no reason to contain and what would make HDF5 (or a reader that loads every dataset, as ``nir.read`` does)
take unbounded memory or time:

* soft and external links (an external link opens another file; a soft link can make a cycle), external or
  virtual dataset storage, hard-link cycles, deeper nesting than `MAX_DEPTH`, more objects than `MAX_OBJECTS`
  counted as a recursive reader visits them (shared subgroups count each time: no exponential blow-up);
* datasets declaring more elements than `evsim.limits.file_elements`, or more bytes than `evsim.limits.memory`,
  split into more chunks than `evsim.limits.chunks` (a parameter in a million one-element chunks takes HDF5
  gigabytes), compressed with a filter HDF5 would have to load as a plugin, or of types a model never holds
  (references, compounds, variable-length sequences other than of strings or numbers);
* too many or too large attributes.

Only then is the file handed to its reader; `read_checked` wraps a reader so that whatever a damaged file still
makes it raise (truncation, byte flips: ``OSError``, ``RuntimeError``, ``KeyError``...) becomes one
`evsim.ModelFileError` / `evsim.InputError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from .. import limits
from ..errors import EvsimError, ModelFileError

MAX_DEPTH = 32  # nesting of groups (NIR nests subgraphs: a few levels)
MAX_OBJECTS = 100_000  # groups, datasets and attributes, as visited by a recursive reader
MAX_ATTRS = 256  # attributes of one object
KNOWN_FILTERS = {1, 2, 3, 4, 5, 6, 32000}  # deflate, shuffle, fletcher32, szip, nbit, scaleoffset, lzf
T = TypeVar("T")


def check_hdf5(path: str | Path, error: type[EvsimError] = ModelFileError) -> None:
    """Raise ``error`` (naming the file and object) unless ``path`` is an HDF5 file whose structure and declared
    sizes are fit to read; see the module docstring."""
    import h5py

    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: no such file" if not p.exists() else f"{p}: not a file")
    try:
        if not h5py.is_hdf5(p):
            raise error(f"{p}: not an HDF5 file")
        f = h5py.File(p, "r")
    except EvsimError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged superblock raises OSError, RuntimeError...
        raise error(f"{p}: not a readable HDF5 file ({_why(e)})") from None
    try:
        with f:
            _walk(f, p, error)
    except EvsimError:
        raise
    except Exception as e:  # noqa: BLE001 - damaged metadata (truncation, flipped bytes)
        raise error(f"{p}: damaged HDF5 metadata ({_why(e)})") from None


def _walk(f: Any, p: Path, error: type[EvsimError]) -> None:
    import h5py

    visits = 0
    stack: list[tuple[Any, str, int, tuple[int, ...]]] = [(f, "/", 0, ())]
    while stack:
        group, where, depth, ancestors = stack.pop()
        visits += 1 + _check_attrs(group, p, where, error)
        if visits > MAX_OBJECTS:
            raise error(f"{p}: more than {MAX_OBJECTS} objects (groups, datasets, attributes) to read")
        addr = h5py.h5o.get_info(group.id).addr
        if addr in ancestors:
            raise error(f"{p}: {where}: a group that contains itself (a cycle of hard links)")
        if depth > MAX_DEPTH:
            raise error(f"{p}: {where}: groups nested deeper than {MAX_DEPTH} levels")
        for name in group:
            child = f"{where.rstrip('/')}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise error(f"{p}: {child}: an external link (to {link.filename!r}); evsim reads no other file")
            if isinstance(link, h5py.SoftLink):
                raise error(f"{p}: {child}: a soft link (to {link.path!r}); evsim follows none")
            obj = group[name]
            if isinstance(obj, h5py.Group):
                stack.append((obj, child, depth + 1, ancestors + (addr,)))
            elif isinstance(obj, h5py.Dataset):
                _check_dataset(obj, p, child, error)
                visits += 1 + _check_attrs(obj, p, child, error)
            else:
                raise error(f"{p}: {child}: an object of type {type(obj).__name__} (expected groups and datasets)")


def _check_dataset(d: Any, p: Path, where: str, error: type[EvsimError]) -> None:
    shape = d.shape
    if shape is None:  # an empty (null) dataspace: nothing to read
        return
    _check_shape_dtype(shape, d.dtype, p, where, error)
    check_storage(d, p, where, error)


def check_storage(d: Any, p: Path, where: str, error: type[EvsimError]) -> None:
    """How a dataset is stored: no virtual or external storage, at most `evsim.limits.chunks` chunks, only HDF5's
    own filters (for readers that read a dataset a slice at a time, whatever its size: `evsim.data`)."""
    shape = d.shape
    if shape is None:
        return
    if d.is_virtual:
        raise error(f"{p}: {where}: a virtual dataset (its data lies in other files)")
    if d.external:
        raise error(f"{p}: {where}: stored in external raw files {[e[0] for e in d.external]}")
    if d.chunks is not None:
        n_chunks = 1
        for s, c in zip(shape, d.chunks):
            n_chunks *= -(-int(s) // max(int(c), 1))
        if n_chunks > limits.chunks:
            raise error(
                f"{p}: {where}: {int(np.prod(shape, dtype=float)):.0f} elements in {n_chunks} chunks of "
                f"{d.chunks}; more than {limits.chunks} chunks is refused (evsim.limits.chunks, EVSIM_MAX_CHUNKS)"
            )
        plist = d.id.get_create_plist()
        for k in range(plist.get_nfilters()):
            code = plist.get_filter(k)[0]
            if code not in KNOWN_FILTERS:
                raise error(f"{p}: {where}: compressed with unknown HDF5 filter {code} (a plugin evsim does not load)")


def _check_shape_dtype(shape: tuple[int, ...], dtype: np.dtype, p: Path, where: str, error: type[EvsimError]) -> None:
    import h5py

    n = 1
    for s in shape:
        n *= int(s)
    if n > limits.file_elements:
        raise error(
            f"{p}: {where}: declares {n} elements {tuple(shape)}; more than {limits.file_elements} is refused "
            "(evsim.limits.file_elements, EVSIM_MAX_FILE_ELEMENTS)"
        )
    vlen = h5py.check_vlen_dtype(dtype)
    if h5py.check_string_dtype(dtype) is not None:
        itemsize = 64
    elif vlen is not None and vlen.kind in "biuf":  # (SHD's spike lists: their data lies in the file, uncompressed)
        itemsize = 16
    elif dtype.kind in "biufc":
        itemsize = dtype.itemsize
    elif h5py.check_enum_dtype(dtype) is not None and dtype.kind in "biu":
        itemsize = dtype.itemsize
    elif dtype.kind == "S" or dtype.kind == "U":
        itemsize = dtype.itemsize
    else:
        raise error(f"{p}: {where}: data of type {dtype} (expected numbers or strings)")
    limits.check_memory(f"{p}: {where} ({n} elements of {dtype})", n * itemsize)


def _check_attrs(obj: Any, p: Path, where: str, error: type[EvsimError]) -> int:
    import h5py

    n = h5py.h5o.get_info(obj.id).num_attrs
    if n > MAX_ATTRS:
        raise error(f"{p}: {where}: {n} attributes (more than {MAX_ATTRS})")
    for name in obj.attrs:
        a = obj.attrs.get_id(name)
        space = a.get_space()
        shape = space.shape if space.get_simple_extent_type() == h5py.h5s.SIMPLE else ()
        _check_shape_dtype(tuple(shape or ()), a.dtype, p, f"{where} attribute {name!r}", error)
    return int(n)


def read_checked(path: str | Path, reader: Callable[[], T], what: str, error: type[EvsimError] = ModelFileError) -> T:
    """``reader()`` with every exception a damaged file can still raise turned into one ``error`` line naming
    ``path`` (``what``: e.g. "NIR cannot read this graph")."""
    try:
        return reader()
    except EvsimError:
        raise
    except (MemoryError, RecursionError) as e:
        raise error(f"{path}: {what} ({type(e).__name__}: too large or too deeply nested)") from None
    except Exception as e:  # noqa: BLE001 - h5py and readers raise OSError, RuntimeError, KeyError, ...
        raise error(f"{path}: {what} ({_why(e)})") from None


def _why(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__
