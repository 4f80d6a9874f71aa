"""A dense input turned into events by the threads that run it, chunk by chunk: `ChunkedInput`.

`evsim.run` on one input port given as a dense array ``[B, T, n]`` does not scan the whole array before the run
(in the main thread: serial, 5-30% of a batch of short samples, what kept ``threads=2`` from 2x): each chunk
of samples (`evsim.control.execute_chunks`) is scanned by the worker thread that runs it, just before its compiled
call (`dense_events` releases the GIL; NumPy's scan mostly does). The events are the same, in the same order: a
sample's events do not depend on the chunk it is in. The result gathers the chunks' events joined in sample order.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Callable

import numpy as np

from . import lockstep
from .batch import Batch, Runs, dense_converter


class ChunkedInput:
    """The dense input ``a`` ``[B, T, n]`` (C-contiguous, a dtype `evsim.engine.batch.dense_events` takes) of the
    input population ``name`` whose first neuron is ``first`` (global index), converted chunk by chunk; after
    `count`, also counted (``counts``: the sum of the values per sample and neuron, as `evsim.Result.counts`)."""

    def __init__(self, a: np.ndarray, first: int, name: str) -> None:
        self.a, self.first, self.name, self.B = a, int(first), name, int(a.shape[0])
        self.counts: np.ndarray | None = None
        self._convert = dense_converter(a)  # (chosen once: the choice may look up Numba's disk cache)
        self._parts: dict[int, tuple] = {}  # first sample of a chunk -> its events (local offsets)
        self._lock = threading.Lock()
        self._joined: tuple | None = None

    def __repr__(self) -> str:
        return f"ChunkedInput({self.B} samples, {len(self._parts)} chunks converted)"

    def placeholder(self) -> tuple:
        """No events, but offsets for ``B`` samples: what `evsim.engine.batch.new_batch` reads of the inputs."""
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0), np.zeros(self.B + 1, dtype=np.int64)

    def extremes(self) -> tuple:
        """The smallest and largest value of the input as two events: what `evsim.control.check_magnitudes` reads
        (the largest magnitude of the events' values; zeros are no events and never the largest)."""
        if self.a.size == 0:
            return self.placeholder()
        v = np.array([self.a.min(), self.a.max()], dtype=np.float64)
        return np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64), v, np.array([0, 2], dtype=np.int64)

    def count(self) -> None:
        """Count the values per sample and neuron (``counts``) as the chunks are converted."""
        self.counts = np.zeros((self.B, self.a.shape[2]))

    def events(self, lo: int, hi: int) -> tuple:
        """Samples ``lo .. hi - 1`` as `evsim.engine.batch.Batch` inputs ``(ev_t, ev_n, ev_val, ev_off)``: their
        events only, ``ev_off[lo : hi + 1]`` their offsets (the other entries unused)."""
        t, j, v, o = self._convert(self.a[lo:hi])
        n = j + self.first if self.first else j
        if self.counts is not None:  # (per bin in event order: `np.bincount` over the whole batch gives the same)
            k, size = hi - lo, self.a.shape[2]
            b = np.repeat(np.arange(k, dtype=np.int64), np.diff(o))
            self.counts[lo:hi] = np.bincount(b * size + j, weights=v, minlength=k * size).reshape(k, size)
        with self._lock:
            self._parts[lo] = (t, n, v, o)
        off = np.zeros(self.B + 1, dtype=np.int64)
        off[lo : hi + 1] = o
        return t, n, v, off

    def runner(
        self, bt: Batch, run_chunk: Callable[[Batch, int, int], Runs | None]
    ) -> Callable[[int, int], Runs | None]:
        """``run_chunk(lo, hi)`` for `evsim.control.run_chunked`: the chunk's events made, then run."""

        def run(lo: int, hi: int) -> Runs | None:  # (None never: only with ``dense``)
            if self.counts is not None and lockstep.reads_dense(bt.cn, self.a):  # (lockstep reads the array itself)
                r = run_chunk(dataclasses.replace(bt, dense=(self.a, self.first)), lo, hi)
                if r is not None:
                    self.counts[lo:hi] = self.a[lo:hi].sum(axis=1, dtype=np.float64)  # (integers: exact sums)
                    return r
            return run_chunk(dataclasses.replace(bt, ev=self.events(lo, hi)), lo, hi)

        return run

    def joined(self) -> tuple:
        """The events of the chunks converted, from sample 0 up to the first sample not converted, joined:
        ``(ev_t, ev_n, ev_val, ev_off)`` as `evsim.simulation._normalise_cat` gives them."""
        if self._joined is not None:
            return self._joined
        parts: list[Any] = []
        k = 0
        with self._lock:
            while k in self._parts:  # (chunks are never empty)
                parts.append(self._parts[k])
                k += self._parts[k][3].shape[0] - 1
        if len(parts) <= 1:
            ev = parts[0] if parts else self.placeholder()[:3] + (np.zeros(1, dtype=np.int64),)
            if k == self.B:
                self._joined, self._parts = ev, {}
            return ev
        sizes = [p[0].shape[0] for p in parts]
        off = np.concatenate([[0]] + [p[3][1:] + s for p, s in zip(parts, np.cumsum([0] + sizes[:-1]))])
        ev = tuple(np.concatenate([p[f] for p in parts]) for f in range(3)) + (off.astype(np.int64),)
        if k == self.B:
            self._joined, self._parts = ev, {}
        return ev
