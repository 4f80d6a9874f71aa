"""Projections: the synapses between two populations, as plain frozen data, and their checks.

* `Projection`: explicit synapses in CSR form by source neuron: the synapses of source neuron ``j`` are
  ``indptr[j]:indptr[j+1]`` of ``targets``, ``weights`` and ``delays``, sorted by delay within a row (the invariants
  are listed in `evsim.network`, which packs the arrays of all projections of a network into one array each);
* `ConvProjection`: an implicit convolution (`evsim.conv.ConvSpec`), one delay for every synapse;
* `validate_projection`: the checks `evsim.Network` runs on each projection on construction (normalising dtypes and
  restoring the sort by delay within a row); `check_delays`: finite, non-negative, whole steps in discrete mode.

`evsim.network` re-exports `Projection` and `ConvProjection`: ``from evsim.network import Projection`` stays valid.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .conv import ConvSpec
from .errors import NetworkError


def readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False)
class Projection:
    """Synapses from ``source`` to ``target`` in CSR form by source neuron (see the module docstring)."""

    name: str  # unique name
    source: str  # source population
    target: str  # target population
    indptr: np.ndarray  # int64 (n_source + 1,): row pointers
    targets: np.ndarray  # integer (n_syn,): target neuron of each synapse (in a network: uint16 or int32)
    weights: np.ndarray  # float64 (n_syn,): weight of each synapse
    delays: np.ndarray  # (n_syn,): delay of each synapse in steps (in a network: uint8, uint16 or int32); in an
    # exact-time network float64 seconds

    @property
    def n_synapses(self) -> int:
        return int(self.targets.shape[0])

    def __repr__(self) -> str:
        from .summary import projection_repr

        return projection_repr(self)

    @classmethod
    def from_dense(cls, name: str, source: str, target: str, weight: Any, delay: Any = 0) -> "Projection":
        """From a dense matrix ``weight[target, source]`` (PyTorch/NIR layout); zero weights make no synapse.

        ``delay`` is a scalar or a matrix of the same shape, in steps.
        """
        w = np.asarray(weight, dtype=np.float64)
        if w.ndim != 2:
            raise NetworkError(
                f"projection {name!r}: weight must be a 2-D matrix [target, source], got shape {w.shape}"
            )
        try:
            d = np.broadcast_to(np.asarray(delay), w.shape)
        except ValueError:
            raise NetworkError(
                f"projection {name!r}: delay shape {np.shape(delay)} does not match weight shape {w.shape}"
            ) from None
        src, tgt = np.nonzero(w.T != 0)
        return cls.from_synapses(name, source, target, src, tgt, w.T[src, tgt], d.T[src, tgt], n_source=w.shape[1])

    @classmethod
    def from_synapses(
        cls, name: str, source: str, target: str, pre: Any, post: Any, weight: Any, delay: Any, n_source: int
    ) -> "Projection":
        """From synapse lists (pre, post, weight, delay); sorts them into CSR rows by delay (synapses with the same
        source and delay keep their order). Delays are steps in a discrete network, seconds (floats, any value
        >= 0) in an exact-time one (`evsim.exact`): float delays stay float64 until the network decides."""
        pre = np.asarray(pre, dtype=np.int64).reshape(-1)
        post = np.asarray(post).reshape(-1)
        weight = np.broadcast_to(np.asarray(weight, dtype=np.float64), pre.shape)
        delay = np.broadcast_to(np.asarray(delay), pre.shape)
        if post.shape != pre.shape:
            raise NetworkError(f"projection {name!r}: {pre.size} sources but {post.size} targets")
        if pre.size and (pre.min() < 0 or pre.max() >= n_source):
            raise NetworkError(f"projection {name!r}: source index out of range [0, {n_source})")
        check_delays(name, delay, whole=False)
        is_int = np.issubdtype(delay.dtype, np.integer) or bool(np.all(delay == np.round(delay)))
        # rows by source, sorted by delay within; synapses of equal (source, delay) keep their given order
        # (one stable sort of a combined key: 5x faster than a lexsort on 10 M synapses)
        if is_int:
            order = np.argsort(pre * (int(delay.max(initial=0)) + 1) + delay.astype(np.int64), kind="stable")
        else:
            order = np.lexsort((delay, pre))
        indptr = np.zeros(n_source + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre, minlength=n_source), out=indptr[1:])
        return cls(
            name,
            source,
            target,
            indptr,
            post[order].astype(np.int32),
            weight[order].copy(),
            delay[order].astype(np.int32 if is_int and delay.dtype.kind in "iub" else np.float64),
        )

    def dense(self, n_source: int, n_target: int) -> tuple[np.ndarray, np.ndarray]:
        """Dense ``(weight, delay)`` matrices ``[source, target]``; raises if two synapses share a pair (their
        delays could differ: a dense matrix cannot hold them)."""
        src = np.repeat(np.arange(n_source), np.diff(self.indptr))
        pairs = src.astype(np.int64) * n_target + self.targets
        if np.unique(pairs).size != pairs.size:
            raise NetworkError(f"projection {self.name!r}: several synapses join one pair of neurons; no dense form")
        w = np.zeros((n_source, n_target))
        d = np.zeros((n_source, n_target), dtype=np.int64)
        w[src, self.targets] = self.weights
        d[src, self.targets] = self.delays
        return w, d

    @property
    def min_delay(self) -> int:
        return self.delays.min().item() if self.n_synapses else 0

    @property
    def max_delay(self) -> int:
        return self.delays.max().item() if self.n_synapses else 0

    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.targets.nbytes + self.weights.nbytes + self.delays.nbytes)


@dataclasses.dataclass(frozen=True, eq=False)
class ConvProjection:
    """An implicit convolution (optionally pre-pooled, see `evsim.conv.ConvSpec`) from ``source`` to ``target``,
    all synapses with one delay. Memory is the kernel, not a synapse table: the engine computes each spike's
    targets on the fly. `to_explicit` gives the equivalent `Projection`."""

    name: str
    source: str
    target: str
    spec: ConvSpec
    delay: int = 0  # steps, for every synapse

    @property
    def n_synapses(self) -> int:
        """Synapses the expansion would hold (non-zero weights)."""
        n = self.__dict__.get("_n_syn")
        if n is None:
            n = int(self.spec.expand()[0].shape[0])
            object.__setattr__(self, "_n_syn", n)
        return n

    def __repr__(self) -> str:
        from .summary import projection_repr

        return projection_repr(self)

    @property
    def min_delay(self) -> int:
        return int(self.delay)

    max_delay = min_delay

    def nbytes(self) -> int:
        return self.spec.nbytes()

    def to_explicit(self) -> Projection:
        pre, post, w = self.spec.expand()
        return Projection.from_synapses(self.name, self.source, self.target, pre, post, w, self.delay, self.spec.n_in)

    def dense(self, n_source: int, n_target: int) -> tuple[np.ndarray, np.ndarray]:
        pre, post, w = self.spec.expand()
        wd = np.zeros((n_source, n_target))
        np.add.at(wd, (pre, post), w)
        return wd, np.full((n_source, n_target), int(self.delay), dtype=np.int64)


def check_delays(name: str, delay: np.ndarray, whole: bool = True) -> None:
    """Delays finite and >= 0; ``whole``: whole numbers of steps (discrete mode)."""
    if delay.size == 0:
        return
    if not np.issubdtype(delay.dtype, np.number):
        raise NetworkError(f"projection {name!r}: delays must be numbers, got dtype {delay.dtype}")
    if not np.issubdtype(delay.dtype, np.integer):
        if not np.all(np.isfinite(delay)):
            raise NetworkError(f"projection {name!r}: delays must be finite")
        if whole and np.any(delay != np.round(delay)):
            raise NetworkError(f"projection {name!r}: delays must be whole numbers of steps in discrete mode")
    if delay.min() < 0:
        raise NetworkError(f"projection {name!r}: negative delay {delay.min()} (delays are steps >= 0)")
    if whole and delay.max() > 2**30:
        raise NetworkError(f"projection {name!r}: delay {delay.max()} steps is too large")


def validate_projection(
    q: Projection | ConvProjection, sizes: dict[str, int], names: set[str], exact: bool = False
) -> None:
    """Check ``q`` against the network's population ``sizes`` and the projection ``names`` seen so far (adds its
    own); normalise its arrays' dtypes in place and restore the sort by delay within each row."""
    where = f"projection {q.name!r}"
    if not isinstance(q, (Projection, ConvProjection)):
        raise NetworkError(f"projections must be Projection or ConvProjection objects, got {type(q).__name__}")
    if q.name in names:
        raise NetworkError(f"two projections are named {q.name!r}")
    names.add(q.name)
    for end in ("source", "target"):
        if getattr(q, end) not in sizes:
            raise NetworkError(f"{where}: {end} {getattr(q, end)!r} is not a population")
    ns, nt = sizes[q.source], sizes[q.target]
    if isinstance(q, ConvProjection):
        if (q.spec.n_in, q.spec.n_out) != (ns, nt):
            raise NetworkError(
                f"{where}: convolution maps {q.spec.in_shape} -> {q.spec.out_shape} but "
                f"{q.source!r} has {ns} and {q.target!r} {nt} neurons"
            )
        check_delays(q.name, np.array([q.delay]))
        return
    indptr = np.asarray(q.indptr)
    if indptr.shape != (ns + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise NetworkError(f"{where}: indptr must be {ns + 1} non-decreasing row pointers from 0")
    n = int(indptr[-1])
    for f in ("targets", "weights", "delays"):
        if np.asarray(getattr(q, f)).shape != (n,):
            raise NetworkError(
                f"{where}: {f} must have one entry per synapse ({n}), got shape {np.asarray(getattr(q, f)).shape}"
            )
    object.__setattr__(q, "indptr", indptr.astype(np.int64))
    t = np.asarray(q.targets)
    if n and (t.min() < 0 or t.max() >= nt):
        raise NetworkError(f"{where}: target index out of range [0, {nt}) for {q.target!r}")
    object.__setattr__(q, "targets", t.astype(np.int32))
    w = np.asarray(q.weights, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        j = int(np.flatnonzero(~np.isfinite(w))[0])
        raise NetworkError(f"{where}: weight of synapse {j} is {w[j]}; weights must be finite (NaN/Inf found)")
    object.__setattr__(q, "weights", w)
    d = np.asarray(q.delays)
    check_delays(q.name, d, whole=not exact)
    d = d.astype(np.float64 if exact else np.int32)
    rows = np.repeat(np.arange(ns), np.diff(indptr))
    if n and np.any((np.diff(d) < 0) & (rows[1:] == rows[:-1])):
        order = np.lexsort((d, rows))  # keep the invariant: rows sorted by delay
        for f, a in (("targets", q.targets), ("weights", w)):
            object.__setattr__(q, f, np.asarray(a)[order])
        d = d[order]
    object.__setattr__(q, "delays", d)
