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

Here: `Population`, `Network` (its validation and the packing of the synapse arrays) and `feedforward`. The
projections and their own checks are in `evsim.projections` (`Projection`, `ConvProjection`: importable from here).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import NetworkError
from .exact.neurons import ExactNeuron
from .neurons import NeuronParams
from .projections import ConvProjection, Projection, readonly, validate_projection


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
                object.__setattr__(p, "indptr", readonly(p.indptr))
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
            validate_projection(q, sizes, names, exact)
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
