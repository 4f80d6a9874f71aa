"""Read a PyTorch ``state_dict`` checkpoint (``torch.save``'s zip format) into NumPy arrays, never running its code.

With torch importable, `read_state_dict` uses ``torch.load(weights_only=True)`` (torch's own restricted unpickler).
Without torch it reads the zip itself: ``<name>/data.pkl`` is a pickle whose only callables may be the ones in
`_ALLOWED` (tensor rebuilders, storage types, ``OrderedDict``); tensor data lives in ``<name>/data/<key>`` and is
found through pickle's persistent ids ``('storage', storage_type, key, location, numel)``. Any other global in the
pickle (a class, a function: what a malicious or whole-model checkpoint holds) is refused with a `ModelFileError`
naming it. The result maps each key to a float or integer array (little-endian, C order).
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
MAX_BYTES = 2**31  # a state_dict larger than 2 GiB is refused before reading


class _Storage:
    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    need = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else offset
    if offset < 0 or any(s < 0 for s in stride) or need > storage.size:
        raise ModelFileError(f"tensor of shape {size} reaches past its storage ({storage.size} values)")
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * item for s in stride), writeable=False
    ).copy()


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _Storage(dt) for name, dt in _STORAGE_DTYPES.items()},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, where: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.where = archive, prefix, where
        self.cache: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        hit = _ALLOWED.get((module, name))
        if hit is None:
            raise ModelFileError(
                f"{self.where}: the checkpoint holds {module}.{name}, not only tensors; evsim reads state_dicts "
                "(torch.save(model.state_dict())) and never runs code from a file"
            )
        return hit

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[1], _Storage)):
            raise ModelFileError(f"{self.where}: unexpected persistent id {pid!r:.80} in the checkpoint")
        key = str(pid[2])
        if key not in self.cache:
            name = f"{self.prefix}data/{key}"
            try:
                info = self.archive.getinfo(name)
            except KeyError:
                raise ModelFileError(f"{self.where}: tensor storage {name!r} is missing from the archive") from None
            if info.file_size > MAX_BYTES or info.file_size % pid[1].dtype.itemsize:
                raise ModelFileError(f"{self.where}: tensor storage {name!r} has an invalid size {info.file_size}")
            self.cache[key] = np.frombuffer(self.archive.read(name), dtype=pid[1].dtype.newbyteorder("<"))
        return self.cache[key]


def _read_zip(path: Path) -> Any:
    where = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ModelFileError(
            f"{where}: not a PyTorch zip checkpoint (torch.save writes a zip archive since PyTorch 1.6; re-save "
            "the state_dict with a current PyTorch)"
        ) from None
    with archive:
        names = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(names) != 1:
            raise ModelFileError(f"{where}: no <name>/data.pkl in the archive: not a torch.save checkpoint")
        prefix = names[0][: -len("data.pkl")]
        order = (
            archive.read(prefix + "byteorder").decode().strip()
            if prefix + "byteorder" in archive.namelist()
            else "little"
        )
        if order != "little":
            raise ModelFileError(f"{where}: byte order {order!r}; evsim reads little-endian checkpoints")
        if archive.getinfo(names[0]).file_size > 64 * 2**20:
            raise ModelFileError(f"{where}: data.pkl is larger than 64 MiB: not a state_dict")
        try:
            return _Unpickler(archive.read(names[0]), archive, prefix, where).load()
        except ModelFileError:
            raise
        except Exception as e:  # noqa: BLE001 - truncated or malformed pickles raise many kinds
            raise ModelFileError(f"{where}: cannot read the checkpoint's pickle ({type(e).__name__}: {e})") from None


def _read_torch(path: Path) -> Any:
    import torch  # type: ignore[import-not-found]

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(
            f"{path}: torch.load(weights_only=True) refuses or cannot read it ({first}); evsim reads "
            "state_dicts and never runs code from a file"
        ) from None

    def conv(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().numpy()
        if isinstance(v, dict):
            return collections.OrderedDict((k, conv(x)) for k, x in v.items())
        return v

    return conv(obj)


def read_state_dict(path: str | Path, use_torch: bool | None = None) -> dict[str, np.ndarray]:
    """The checkpoint at ``path`` as ``{key: array}``. ``use_torch``: None = torch when importable."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: no such file")
    if use_torch is None:
        try:
            import torch  # type: ignore[import-not-found]  # noqa: F401

            use_torch = True
        except ImportError:
            use_torch = False
    from .h5safe import read_checked

    # (a damaged archive still raises BadZipFile, UnicodeDecodeError, NotImplementedError...: one line naming it)
    obj = read_checked(p, lambda: _read_torch(p) if use_torch else _read_zip(p), "cannot read this checkpoint")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelFileError(f"{p}: expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for k, v in obj.items():
        if isinstance(v, np.ndarray):
            out[str(k)] = v
    return out
