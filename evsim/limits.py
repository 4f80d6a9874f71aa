"""Resource limits: how much evsim may allocate or read before it refuses, with a clear message.

Every large allocation is estimated *before* it is made (the engine's event ring ``max_delay x neurons``, synapse
arrays, recorded spikes and membrane traces, an input file's arrays once decompressed, a model file's declared
array sizes) and compared with these limits; over a limit, evsim raises `evsim.ResourceLimitError` naming what
needed how much, and how to raise it. Set them

* in Python: ``evsim.limits.memory = 16 * 2**30`` (or ``with evsim.limits.override(memory="16G"): ...``);
* in the environment: ``EVSIM_MAX_MEMORY=16G``, ``EVSIM_MAX_FILE_ELEMENTS=1e9``;
* on the command line: ``evsim run ... --max-memory 16G``.

``memory``: bytes one kind of allocation may take (default 4 GiB). ``file_elements``: elements one array of a
model file may declare (default 2**28, i.e. 2 GiB of float64): a model's parameter beyond it is refused from the
HDF5 metadata, before anything is read. ``chunks``: HDF5 chunks one dataset may be split into (default 2**16):
a parameter in millions of tiny chunks takes HDF5 gigabytes and minutes to read.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from .errors import ResourceLimitError

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(value: Any, what: str = "size") -> int:
    """``16G``, ``512M``, ``1e9`` or a number -> bytes (or elements)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        n = float(value)
    else:
        text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
        unit = text[-1:] if text[-1:] in _UNITS and text[-1:] != "" else ""
        try:
            n = float(text[: len(text) - len(unit)]) * _UNITS[unit]
        except ValueError:
            raise ResourceLimitError(f"{what}: cannot read {value!r} as a size (e.g. 16G, 512M, 1e9)") from None
    if not (n == n and 0 < n < 2**62):
        raise ResourceLimitError(f"{what}: must be a positive size, got {value!r}")
    return int(n)


def _env(name: str, default: int) -> int:
    v = os.environ.get(name)
    return default if not v else parse_size(v, name)


memory: int = _env("EVSIM_MAX_MEMORY", 4 * 2**30)
file_elements: int = _env("EVSIM_MAX_FILE_ELEMENTS", 2**28)
chunks: int = _env("EVSIM_MAX_CHUNKS", 2**16)


def fmt(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def check_memory(what: str, nbytes: float, hint: str = "") -> None:
    """Raise `ResourceLimitError` if ``what`` would need more than `memory` bytes."""
    if nbytes > memory:
        raise ResourceLimitError(
            f"{what} would need {fmt(nbytes)}, over the memory limit of {fmt(memory)}"
            + (f"; {hint}" if hint else "")
            + " (raise it: evsim.limits.memory, EVSIM_MAX_MEMORY or --max-memory)"
        )


@contextlib.contextmanager
def override(**values: Any) -> Iterator[None]:
    """Change limits inside a ``with`` block: ``with evsim.limits.override(memory="16G"): ...``."""
    g = globals()
    old = {}
    for k, v in values.items():
        if k not in ("memory", "file_elements", "chunks"):
            raise ResourceLimitError(f"evsim.limits has no limit {k!r} (memory, file_elements, chunks)")
        old[k] = g[k]
        g[k] = parse_size(v, f"evsim.limits.{k}")
    try:
        yield
    finally:
        g.update(old)
