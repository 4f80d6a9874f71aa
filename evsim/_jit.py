"""The Numba decorators every evsim kernel uses: fixed options (cached to disk, no GIL, NumPy error model).

`njit_inline` is for small helpers called from the event loop on every event: Numba inlines them at the IR level,
which spares the call its argument marshalling (dozens of arrays). Its limit: a call with more than 30 positional
arguments is compiled by CPython (3.10+) as a call with ``*args`` (CALL_FUNCTION_EX), which Numba does not inline;
pass groups of arrays as tuples instead (`evsim.engine.listed._update_listed`); tests/test_code_health.py checks
every call of an inlined helper.
"""

from __future__ import annotations

import numba

njit = numba.njit(cache=True, nogil=True, error_model="numpy")
njit_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
