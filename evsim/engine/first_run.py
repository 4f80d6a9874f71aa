"""Saying so before the kernels compile: the first run on a machine (or after an upgrade) spends seconds in Numba.

`prepare` looks the loop's signature for a run up in Numba's on-disk cache and loads it from there (what the
first call would do anyway); when it is not cached, it calls `ON_COMPILE` first (the CLI prints "compiling kernels
(first run only)..."), and the call that follows compiles. Numba internals are used (``_cache.load_overload``, as
``Dispatcher.compile`` does); if they change, nothing is said and nothing else changes.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Callable

ON_COMPILE: Callable[[], None] | None = None  # called (once per signature) before a kernel compiles
_lock = threading.Lock()


def prepare(dispatcher: Any, args: tuple, kwargs: dict) -> bool:
    """Make sure ``dispatcher`` (a Numba dispatcher) has the overload for a call with ``args, kwargs``, loading it
    from the disk cache if it is there. Returns True when the call will compile (and `ON_COMPILE` was called)."""
    with _lock:  # (worker threads: one notice, one load)
        if _lookup(dispatcher, args, kwargs) is not False:  # (None: Numba's internals changed: say nothing)
            return False
        if ON_COMPILE is not None:
            ON_COMPILE()
        return True


def available(dispatcher: Any, args: tuple, kwargs: dict) -> bool:
    """Whether a call of ``dispatcher`` with ``args, kwargs`` would not compile: its overload is compiled or in
    Numba's disk cache (then loaded). False when Numba's internals changed."""
    with _lock:
        return bool(_lookup(dispatcher, args, kwargs))


def _lookup(dispatcher: Any, args: tuple, kwargs: dict) -> bool | None:
    """True: the overload is there (loaded from the disk cache if need be); False: a call compiles; None: Numba's
    internals are not what this module uses (``_cache.load_overload``, as ``Dispatcher.compile`` does)."""
    try:
        args = inspect.signature(dispatcher.py_func).bind(*args, **kwargs).args
        sig = tuple(dispatcher.typeof_pyval(a) for a in args)
        if sig in dispatcher.overloads:
            return True
        cres = dispatcher._cache.load_overload(sig, dispatcher.targetctx)
        if cres is None:
            return False
        if not cres.objectmode:
            dispatcher.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
        dispatcher.add_overload(cres)
        return True
    except Exception:  # noqa: BLE001 - Numba internals changed: the call itself loads or compiles, silently
        return None
