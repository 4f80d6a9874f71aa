"""The one Numba decorator every evsim kernel uses (fixed options: cached to disk, no GIL, NumPy error model)."""

from __future__ import annotations

import numba

njit = numba.njit(cache=True, nogil=True, error_model="numpy")
