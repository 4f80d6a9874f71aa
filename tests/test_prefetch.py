"""`evsim.engine.prefetch.prefetch`: a hint only; a kernel that calls it computes what it computes without."""

import numpy as np
from numba import njit

from evsim.engine.prefetch import prefetch


@njit(cache=False)
def _sum_prefetching(a, idx):
    s = 0.0
    for k in range(idx.shape[0]):
        prefetch(a, idx[min(k + 4, idx.shape[0] - 1)])
        prefetch(a, np.int64(a.shape[0] + 1000))  # past the end: no fault
        s += a[idx[k]]
    return s


def test_prefetch_changes_no_value():
    rng = np.random.default_rng(0)
    a = rng.random(1000)
    idx = rng.integers(0, 1000, 5000)
    assert _sum_prefetching(a, idx) == sum(a[i] for i in idx)
    assert _sum_prefetching(a.astype(np.float32), idx.astype(np.uint16)) == np.float64(
        sum(np.float64(x) for x in a.astype(np.float32)[idx])
    )
