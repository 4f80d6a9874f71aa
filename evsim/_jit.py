"""The Numba decorators every evsim kernel uses: fixed options (cached to disk, no GIL, NumPy error model).

`njit_inline` is for small helpers called from the event loop on every event: Numba inlines them at the IR level,
which spares the call its argument marshalling (dozens of arrays).
"""

from __future__ import annotations

import numba

njit = numba.njit(cache=True, nogil=True, error_model="numpy")
njit_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
