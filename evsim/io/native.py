"""evsim's own model file (``evsim compile MODEL -o model.evsim``): a loaded `Network` as it is, fast to read back
and refused when changed.

Layout: the magic line ``EVSIM-NETWORK 1``, a line with the SHA-256 of the rest, then an uncompressed ``.npz``
whose ``header`` entry is JSON describing the network (populations, neuron parameter records, projections,
convolution specs, inputs, outputs, dt, meta) with every array replaced by a reference to an ``.npz`` entry.
Reading checks the checksum first (a changed byte is a `ModelFileError` naming the file), then rebuilds the
dataclasses through their constructors (so they validate their fields as always). Only evsim's own model classes
can be named in a file (an allowlist; nothing is imported or unpickled): a file cannot make the reader run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError
from ..network import Network

MAGIC = b"EVSIM-NETWORK 1\n"
SUFFIX = ".evsim"


def _classes() -> dict[str, type]:
    from ..conv import ConvSpec
    from ..network import ConvProjection, Population, Projection
    from ..neurons import NeuronParams

    out: dict[str, type] = {
        c.__name__: c for c in (Network, Population, Projection, ConvProjection, ConvSpec, NeuronParams)
    }
    try:  # exact-time neuron records, where that module is present
        from .. import exact

        for name in getattr(exact, "__all__", []):
            c = getattr(exact, name)
            if isinstance(c, type) and dataclasses.is_dataclass(c):
                out[c.__name__] = c
    except ImportError:
        pass
    return out


def is_native(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def save_native(net: Network, path: str | Path) -> Path:
    """Write ``net`` to ``path`` (atomically); returns the path."""
    from .files import atomic_path

    arrays: dict[str, Any] = {}
    classes = _classes()

    def enc(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            if o.dtype == object:
                raise ModelFileError("cannot compile a network holding object arrays")
            k = f"a{len(arrays)}"
            arrays[k] = o
            return {"__array__": k}
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            name = type(o).__name__
            if classes.get(name) is not type(o):
                raise ModelFileError(f"cannot compile a network holding a {name}")
            fields = {f.name: enc(getattr(o, f.name)) for f in dataclasses.fields(o) if f.init}
            return {"__type__": name, "fields": fields}
        if isinstance(o, tuple):
            return {"__tuple__": [enc(v) for v in o]}
        if isinstance(o, list):
            return [enc(v) for v in o]
        if isinstance(o, dict):
            return {"__dict__": [[enc(k), enc(v)] for k, v in o.items()]}
        if isinstance(o, (np.integer, np.floating, np.bool_)):
            return o.item()
        if o is None or isinstance(o, (str, int, float, bool)):
            return o if not (isinstance(o, float) and not np.isfinite(o)) else {"__float__": repr(o)}
        return {"__str__": str(o)}  # (provenance in meta: kept as text)

    header = json.dumps(enc(net))
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(header.encode(), dtype=np.uint8), **arrays)
    body = buf.getvalue()
    p = Path(path)
    with atomic_path(p) as tmp:
        tmp.write_bytes(MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    return p


def load_native(path: str | Path) -> Network:
    """Read a file of `save_native`, checksum first; see the module docstring."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelFileError(f"{p}: cannot read ({e.strerror})") from None
    if not data.startswith(MAGIC):
        raise ModelFileError(f"{p}: not an evsim model file (it does not start with {MAGIC.strip().decode()!r})")
    nl = data.find(b"\n", len(MAGIC))
    want, body = data[len(MAGIC) : nl].decode("ascii", "replace"), data[nl + 1 :]
    if nl < 0 or hashlib.sha256(body).hexdigest() != want:
        raise ModelFileError(
            f"{p}: checksum mismatch: the file was changed or damaged after `evsim compile` wrote it; compile the "
            "model again"
        )
    classes = _classes()
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(arrays.pop("header").tobytes().decode())
    except Exception as e:  # noqa: BLE001 - a well-formed checksum over a malformed body: still a bad file
        raise ModelFileError(f"{p}: unreadable evsim model ({type(e).__name__}: {e})") from None

    def dec(o: Any) -> Any:
        if isinstance(o, list):
            return [dec(v) for v in o]
        if not isinstance(o, dict):
            return o
        if "__array__" in o:
            return arrays[o["__array__"]]
        if "__tuple__" in o:
            return tuple(dec(v) for v in o["__tuple__"])
        if "__dict__" in o:
            return {dec(k): dec(v) for k, v in o["__dict__"]}
        if "__float__" in o:
            return float(o["__float__"])
        if "__str__" in o:
            return o["__str__"]
        cls = classes.get(o.get("__type__", ""))
        if cls is None:
            raise ModelFileError(f"{p}: names an unknown type {o.get('__type__')!r}")
        return cls(**{k: dec(v) for k, v in o["fields"].items()})

    try:
        net = dec(header)
    except ModelFileError:
        raise
    except Exception as e:  # noqa: BLE001 - fields that do not fit their record
        raise ModelFileError(f"{p}: invalid evsim model ({type(e).__name__}: {e})") from None
    if not isinstance(net, Network):
        raise ModelFileError(f"{p}: does not hold a network")
    return net
