"""The Numba decorators every evsim kernel uses: fixed options (cached to disk, no GIL, NumPy error model).

`njit_inline` is for small helpers called from the event loop on every event: Numba inlines them at the IR level,
which spares the call its argument marshalling (dozens of arrays). Its limit: a call with more than 30 positional
arguments is compiled by CPython (3.10+) as a call with ``*args`` (CALL_FUNCTION_EX), which Numba does not inline;
pass groups of arrays as tuples instead (`evsim.engine.listed._update_listed`); tests/test_code_health.py checks
every call of an inlined helper.

Numba's disk cache keys a kernel on its own file only, yet a kernel inlines helpers from other files
(`evsim.engine.deliver`, `record`, ...): after an edit or a ``git pull`` that changes only those, it would load
stale machine code. `purge_stale_kernels` (run at import) keeps a digest of evsim's sources in each folder where
Numba caches evsim's kernels (`cache_dirs`: ``__pycache__``, or a ``NUMBA_CACHE_DIR``, or the user's cache) and,
when it changes, deletes the kernels cached there, which then compile once again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba
from numba.core import config
from numba.core.caching import UserProvidedCacheLocator
from numba.misc.appdirs import AppDirs

DIGEST = "kernels.digest"  # in each cache folder: the sources the kernels cached there were compiled from


def cache_dirs(root: Path) -> list[Path]:
    """The folder where Numba caches the kernels of each package folder under ``root``, chosen as Numba chooses
    (`numba.core.caching`: ``NUMBA_CACHE_DIR`` if set, else the folder's ``__pycache__`` if it can be written,
    else the user's cache folder), made if missing (so that its digest is written before the first kernel)."""
    out = []
    for d in sorted({f.parent for f in root.rglob("*.py") if "__pycache__" not in f.parts}):
        sub = UserProvidedCacheLocator.get_suitable_cache_subpath(str(d / "_.py"))  # (as Numba names it)
        tree = d / "__pycache__"
        user = getattr(config, "CACHE_DIR", "")  # (NUMBA_CACHE_DIR)
        if user:
            c = Path(user) / sub
        elif _writable(tree):
            c = tree
        else:
            c = Path(AppDirs(appname="numba", appauthor=False).user_cache_dir) / sub
        out.append(c)
    return out


def _writable(d: Path) -> bool:
    try:
        d.mkdir(exist_ok=True)
    except OSError:
        return False
    return os.access(d, os.W_OK)


def purge_stale_kernels(root: Path = Path(__file__).parent) -> bool:
    """Delete the Numba cache files (``*.nbi``, ``*.nbc``) of the modules under ``root`` from every cache folder
    (`cache_dirs`) whose recorded digest differs from that of ``root``'s ``*.py`` sources (or that has none yet),
    and record the digest there; True if any were deleted. A folder that cannot be written is skipped quietly."""
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    digest, purged = h.hexdigest(), False
    for d in cache_dirs(root):
        stamp = d / DIGEST
        try:
            if stamp.read_text() == digest:
                continue
        except OSError:
            pass
        try:
            d.mkdir(parents=True, exist_ok=True)
            for c in d.glob("*.nb[ic]"):
                c.unlink(missing_ok=True)
                purged = True
            tmp = stamp.with_name(f"{DIGEST}.{os.getpid()}")
            tmp.write_text(digest)
            os.replace(tmp, stamp)
        except OSError:
            continue
    return purged


purge_stale_kernels()

njit = numba.njit(cache=True, nogil=True, error_model="numpy")
njit_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
