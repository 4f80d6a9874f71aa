"""The model as plain, frozen data: populations, projections (CSR with one delay per synapse), ports.

A `Network` is validated once, on construction; every later stage (engine, reference, accounting, export) may
rely on its invariants:

* population names are unique; an input population (``neuron is None``) has no dynamics: its activity is the
  input given to `evsim.run`, or, for a Poisson source (``poisson_rate``), random counts drawn by the engine;
* a `Projection` connects ``source`` to ``target`` in CSR form by source neuron: the synapses of source neuron
  ``j`` are ``indptr[j]:indptr[j+1]`` of ``targets`` (``0 <= target < target size``), ``weights`` (float64,
  finite) and ``delays`` (steps, ``>= 0``). Within a row, synapses are sorted by delay. In a network the arrays
  of all projections are views into one array each, of the smallest exact integer types (targets uint16 or
  int32, delays uint8, uint16 or int32): about 11 bytes per synapse, used by the engine as they are;
* zero-delay projections form no cycle (a recurrent loop needs at least one step of delay somewhere), so within
  one step populations can be updated in the order given by `Network.order`;
* ``inputs`` name input populations, ``outputs`` name populations whose activity is the network's output.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from .conv import ConvSpec
from .errors import NetworkError
from .exact.neurons import ExactNeuron
from .neurons import NeuronParams


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False)
class Population:
    """A group of neurons sharing a model. ``neuron=None`` makes it an input population (a source of events)."""

    name: str  # unique name (the NIR node name when imported)
    size: int  # number of neurons
    neuron: NeuronParams | None = None  # per-neuron parameters; None for inputs. (An exact-time network holds
    # `evsim.exact.ExactNeuron`s here: the annotation names the discrete type, which the rest of evsim handles.)
    shape: tuple[int, ...] | None = None  # the shape users know (e.g. (C, H, W)); size == prod(shape)
    poisson_rate: float | None = None  # input population that makes its own events: independent Poisson counts
    # with this mean per neuron per step (NEST's poisson_generator); it takes no input in `run`. In an exact-time
    # network: Hz, spike times drawn in continuous time (`evsim.exact.poisson`)

    @property
    def is_input(self) -> bool:
        return self.neuron is None

    @property
    def kind(self) -> str:
        """The neuron model's name (``"LIF"``, ``"IF"``, ...), or ``"input"``."""
        return "input" if self.neuron is None else self.neuron.model

    def __repr__(self) -> str:
        from .summary import population_repr

        return population_repr(self)


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
        _check_delays(name, delay, whole=False)
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


def _check_delays(name: str, delay: np.ndarray, whole: bool = True) -> None:
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


@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    """Populations, projections and named ports; validated on construction (raises `NetworkError`)."""

    populations: tuple[Population, ...]
    projections: tuple[Projection | ConvProjection, ...]
    inputs: tuple[str, ...]  # names of input populations, in the order `run` expects them
    outputs: tuple[str, ...]  # names of populations whose activity is the output
    dt: float | None = None  # seconds per step (None: unitless steps)
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # provenance: source file, dialect, ...
    # derived on construction: an update order of the populations, and the packed synapse arrays (see `_pack`)
    _order: tuple[str, ...] = dataclasses.field(init=False, repr=False)
    _synapses: dict[str, np.ndarray] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "projections", tuple(self.projections))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if all(isinstance(p, Population) for p in self.populations) and self.exact:  # convolutions -> synapses
            from .exact.conv import explicit_projections

            object.__setattr__(self, "projections", explicit_projections(self.populations, self.projections))
        self._validate()
        for p in self.projections:
            if isinstance(p, ConvProjection):
                p.spec.weight.setflags(write=False)
            else:
                object.__setattr__(p, "indptr", _readonly(p.indptr))
        object.__setattr__(self, "_synapses", self._pack())

    def _pack(self) -> dict[str, np.ndarray]:
        """One contiguous array each for the targets, weights and delays of all explicit projections, in the
        smallest exact types (targets uint16 when every target population has at most 65,536 neurons, delays
        uint8 up to 255 steps); each projection's arrays become read-only views into them, so the engine uses them
        as they are, with no copy. ``offsets[k]``: where the ``k``-th explicit projection starts."""
        explicit = [q for q in self.projections if isinstance(q, Projection)]
        sizes = {p.name: p.size for p in self.populations}
        t_type = np.uint16 if all(sizes[q.target] <= 2**16 for q in explicit) else np.int32
        max_d = max((q.max_delay for q in explicit), default=0)
        d_type: Any = np.uint8 if max_d < 2**8 else np.uint16 if max_d < 2**16 else np.int32
        if self.exact:
            d_type = np.float64  # seconds
        offsets = np.zeros(len(explicit) + 1, dtype=np.int64)
        np.cumsum([q.n_synapses for q in explicit], out=offsets[1:])
        flat = dict(
            targets=np.empty(offsets[-1], t_type), weights=np.empty(offsets[-1]), delays=np.empty(offsets[-1], d_type)
        )
        for k, q in enumerate(explicit):
            for f, a in flat.items():
                a[offsets[k] : offsets[k + 1]] = getattr(q, f)
        for a in flat.values():
            a.setflags(write=False)
        for k, q in enumerate(explicit):
            for f, a in flat.items():
                object.__setattr__(q, f, a[offsets[k] : offsets[k + 1]])
        return dict(flat, offsets=offsets)

    # ------------------------------------------------------------------------------------------------ queries
    def population(self, name: str) -> Population:
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(f"no population named {name!r}; have {[p.name for p in self.populations]}")

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations if not p.is_input)

    @property
    def n_synapses(self) -> int:
        return sum(p.n_synapses for p in self.projections)

    @property
    def max_delay(self) -> int:
        return max((p.max_delay for p in self.projections), default=0)

    @property
    def exact(self) -> bool:
        """Whether this is an exact continuous-time network (its neurons are `evsim.exact` neurons; delays and
        ``dt`` are seconds, ``dt`` the width of the engine's calendar steps)."""
        return any(isinstance(p.neuron, ExactNeuron) for p in self.populations)

    @property
    def order(self) -> tuple[str, ...]:
        """Population names in an order where every zero-delay projection goes forward."""
        return self._order

    @property
    def time_unit(self) -> str:
        """``"s"`` when ``dt`` is seconds per step; ``"step"`` when time is counted in steps (no ``dt``, or a
        dialect whose time constants count steps, as Sinabs' ``dt = 1``)."""
        if self.exact:
            return "s"
        return "step" if self.dt is None or self.meta.get("time_unit") == "step" else "s"

    @property
    def seconds_per_step(self) -> float | None:
        """``dt`` in seconds, or None when time is counted in steps (rates are then per step, not Hz)."""
        return self.dt if self.time_unit == "s" else None

    def __repr__(self) -> str:
        from .summary import network_repr

        return network_repr(self)

    def nbytes(self) -> int:
        """Memory of the model's arrays (synapses and neuron parameters)."""
        total = sum(q.nbytes() for q in self.projections)
        for p in self.populations:
            if isinstance(p.neuron, ExactNeuron):
                total += sum(a.nbytes for a in vars(p.neuron).values() if isinstance(a, np.ndarray))
            elif p.neuron is not None:
                total += sum(
                    getattr(p.neuron, f).nbytes
                    for f in (
                        "alpha",
                        "beta",
                        "in_gain",
                        "g_i",
                        "g_x",
                        "i_bias",
                        "v_bias",
                        "v_th",
                        "v_reset",
                        "v_min",
                        "refractory",
                    )
                )
        return total

    # ------------------------------------------------------------------------------------------------ validation
    def _validate(self) -> None:
        sizes: dict[str, int] = {}
        for p in self.populations:
            if not isinstance(p, Population):
                raise NetworkError(f"populations must be Population objects, got {type(p).__name__}")
            if p.name in sizes:
                raise NetworkError(f"two populations are named {p.name!r}")
            if int(p.size) != p.size or p.size < 1:
                raise NetworkError(f"population {p.name!r}: size must be a positive integer, got {p.size!r}")
            if p.shape is not None and int(np.prod(p.shape)) != p.size:
                raise NetworkError(f"population {p.name!r}: shape {p.shape} does not hold {p.size} neurons")
            if p.neuron is not None:
                if not isinstance(p.neuron, (NeuronParams, ExactNeuron)):
                    raise NetworkError(f"population {p.name!r}: neuron must be NeuronParams (use evsim.LIF, ...)")
                if p.neuron.size != p.size:
                    raise NetworkError(f"population {p.name!r}: {p.size} neurons but parameters for {p.neuron.size}")
                p.neuron.validate(f"population {p.name!r}")
            sizes[p.name] = p.size
        names: set[str] = set()
        exact = self.exact
        if exact:
            self._validate_exact()
        for q in self.projections:
            self._validate_projection(q, sizes, names, exact)
        for port in self.inputs:
            if port not in sizes:
                raise NetworkError(f"input port {port!r} is not a population")
            if not self.population(port).is_input:
                raise NetworkError(f"input port {port!r} is a neuron population, not an input")
            if self.population(port).poisson_rate is not None:
                raise NetworkError(
                    f"input port {port!r} is a Poisson source: it makes its own events, do not list it "
                    "in Network.inputs"
                )
        for p in self.populations:
            if p.poisson_rate is not None:
                if not p.is_input:
                    raise NetworkError(
                        f"population {p.name!r}: only an input population (neuron=None) can have a poisson_rate"
                    )
                if not (np.isfinite(p.poisson_rate) and p.poisson_rate >= 0):
                    raise NetworkError(
                        f"population {p.name!r}: poisson_rate must be a finite mean count >= 0 per "
                        f"step, got {p.poisson_rate!r}"
                    )
            elif p.is_input and p.name not in self.inputs:
                raise NetworkError(f"input population {p.name!r} is not listed in Network.inputs")
            if any(q.target == p.name for q in self.projections) and p.is_input:
                raise NetworkError(f"input population {p.name!r} cannot be the target of a projection")
        for port in self.outputs:
            if port not in sizes:
                raise NetworkError(f"output port {port!r} is not a population")
        if not self.outputs:
            raise NetworkError("a network needs at least one output population")
        if self.dt is not None and not (np.isfinite(self.dt) and self.dt > 0):
            raise NetworkError(f"dt must be a positive number of seconds, got {self.dt!r}")
        object.__setattr__(self, "_order", self._zero_delay_order())

    def _validate_exact(self) -> None:
        for p in self.populations:
            if isinstance(p.neuron, NeuronParams):
                raise NetworkError(
                    f"population {p.name!r} has discrete-time neurons in an exact-time network: use evsim.exact "
                    "neurons for every population"
                )
        if self.dt is not None and not (np.isfinite(self.dt) and self.dt > 0):
            raise NetworkError(f"dt must be a positive number of seconds, got {self.dt!r}")

    @staticmethod
    def _validate_projection(
        q: Projection | ConvProjection, sizes: dict[str, int], names: set[str], exact: bool = False
    ) -> None:
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
            _check_delays(q.name, np.array([q.delay]))
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
        _check_delays(q.name, d, whole=not exact)
        d = d.astype(np.float64 if exact else np.int32)
        rows = np.repeat(np.arange(ns), np.diff(indptr))
        if n and np.any((np.diff(d) < 0) & (rows[1:] == rows[:-1])):
            order = np.lexsort((d, rows))  # keep the invariant: rows sorted by delay
            for f, a in (("targets", q.targets), ("weights", w)):
                object.__setattr__(q, f, np.asarray(a)[order])
            d = d[order]
        object.__setattr__(q, "delays", d)

    def _zero_delay_order(self) -> tuple[str, ...]:
        names = [p.name for p in self.populations]
        succ: dict[str, set[str]] = {n: set() for n in names}
        for q in self.projections:
            # (a convolution's synapses are counted by expanding it: costly; any non-zero kernel weight connects)
            some = bool(np.any(q.spec.weight)) if isinstance(q, ConvProjection) else q.n_synapses
            if q.min_delay == 0 and some:
                if q.source == q.target:
                    raise NetworkError(
                        f"projection {q.name!r} connects {q.source!r} to itself with zero delay; "
                        "recurrent connections need a positive delay (at least one step in discrete mode)"
                    )
                succ[q.source].add(q.target)
        indeg = {n: 0 for n in names}
        for s in succ.values():
            for t in s:
                indeg[t] += 1
        ready = [n for n in names if indeg[n] == 0]
        out: list[str] = []
        while ready:
            n = ready.pop(0)
            out.append(n)
            for t in sorted(succ[n], key=names.index):
                indeg[t] -= 1
                if indeg[t] == 0:
                    ready.append(t)
        if len(out) != len(names):
            cyc = [n for n in names if n not in out]
            raise NetworkError(
                f"zero-delay cycle through populations {cyc}: a recurrent loop needs a positive delay (at "
                "least one step in discrete mode) on some projection"
            )
        return tuple(out)


def feedforward(
    sizes: Sequence[int],
    neuron_factory: Any,
    weights: Sequence[Any],
    delays: Sequence[Any] | None = None,
    dt: float | None = None,
) -> Network:
    """Convenience: a layered network ``input -> layer1 -> ... -> layerN`` (output = last layer).

    ``neuron_factory(n)`` returns the `NeuronParams` of a layer of ``n`` neurons; ``weights[l]`` is the dense
    matrix ``[n_{l+1}, n_l]``; ``delays[l]`` a scalar or matrix of steps (default 0).
    """
    names = ["input"] + [f"layer{k}" for k in range(1, len(sizes))]
    pops = [Population("input", int(sizes[0]))]
    pops += [Population(names[k], int(sizes[k]), neuron_factory(int(sizes[k]))) for k in range(1, len(sizes))]
    projs = [
        Projection.from_dense(
            f"{names[k]}->{names[k + 1]}", names[k], names[k + 1], weights[k], 0 if delays is None else delays[k]
        )
        for k in range(len(sizes) - 1)
    ]
    return Network(tuple(pops), tuple(projs), ("input",), (names[-1],), dt=dt)
