"""The Numba decorators every evsim kernel uses: fixed options (cached to disk, no GIL, NumPy error model).

`njit_inline` is for small helpers called from the event loop on every event: Numba inlines them at the IR level,
which spares the call its argument marshalling (dozens of arrays). Its limit: a call with more than 30 positional
arguments is compiled by CPython (3.10+) as a call with ``*args`` (CALL_FUNCTION_EX), which Numba does not inline;
pass groups of arrays as tuples instead (`evsim.engine.listed._update_listed`); tests/test_code_health.py checks
every call of an inlined helper.

Numba's disk cache keys a kernel on its own file's timestamp only, yet a kernel inlines helpers from other files
(`evsim.engine.deliver`, `record`, ...): after an edit or a ``git pull`` that changes only those, it would load
stale machine code. `purge_stale_kernels` (run at import) keeps a digest of evsim's sources beside the caches and,
when it changes, deletes evsim's cached kernels, which then compile once again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

DIGEST = "kernels.digest"  # in <package>/__pycache__: the sources the cached kernels were compiled from


def purge_stale_kernels(root: Path = Path(__file__).parent) -> bool:
    """Delete the Numba cache files (``*.nbi``, ``*.nbc``) under ``root``'s ``__pycache__`` folders if ``root``'s
    ``*.py`` sources differ from those recorded at the last purge; True if it purged. Quiet where the package
    folder cannot be written (an installed copy whose sources do not change; Numba then caches elsewhere)."""
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    digest, stamp = h.hexdigest(), root / "__pycache__" / DIGEST
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        for c in root.rglob("__pycache__/*.nb[ic]"):
            c.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        tmp = stamp.with_name(f"{DIGEST}.{os.getpid()}")
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    except OSError:
        return False
    return True


purge_stale_kernels()

njit = numba.njit(cache=True, nogil=True, error_model="numpy")
njit_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
