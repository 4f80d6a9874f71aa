"""`evsim.engine.borrow.borrow`: a view of the same data with no owner, which a callee reads and writes as the
array itself, and which leaves the owner's reference count as it found it."""

import sys

import numpy as np
from numba import njit

from evsim.engine.borrow import borrow


@njit
def _scale(a, b, k):  # a callee that reads one array and writes another
    for i in range(a.shape[0]):
        b[i] = k * a[i]
    return b.sum()


@njit
def _lend(a, b, steps):
    s = 0.0
    for k in range(steps):
        s += _scale(borrow(a), borrow(b), float(k))
    return s


@njit
def _own(a, b, steps):
    s = 0.0
    for k in range(steps):
        s += _scale(a, b, float(k))
    return s


@njit
def _view_of(a):
    v = borrow(a)
    v[0, 1] = -1.0  # writes reach the owner's data
    return v.shape[0] * 10 + v.shape[1], v.strides[0], v[1, 2]


def test_borrowed_arrays_are_the_arrays_themselves():
    a, b1, b2 = np.arange(7.0), np.zeros(7), np.zeros(7)
    assert _lend(a, b1, 5) == _own(a, b2, 5)
    np.testing.assert_array_equal(b1, 4.0 * a)  # the last step's writes, through the borrowed view
    m = np.arange(12.0).reshape(3, 4)
    assert _view_of(m) == (34, 32, 6.0) and m[0, 1] == -1.0  # shape, strides, data of a 2-D array


def test_borrowing_leaves_reference_counts_as_they_were():
    a, b = np.arange(5.0), np.zeros(5)
    before = sys.getrefcount(a), sys.getrefcount(b)
    _lend(a, b, 10_000)
    assert (sys.getrefcount(a), sys.getrefcount(b)) == before
    del b
    np.testing.assert_array_equal(a, np.arange(5.0))  # (no over-release: a is intact, and the run did not crash)
