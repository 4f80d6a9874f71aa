"""NIR import: a `.nir` graph (NIR 1.0.x, HDF5) -> `evsim.Network`.

Converters are a lookup table, node type -> function. Spiking and integrating nodes (LIF, IF, LI, CubaLIF,
CubaLI) become populations, Input nodes input populations. Everything between two populations that is linear
(Affine, Linear, Scale, Flatten, Delay, and the Input/Output nodes of nested graphs) is fused into projections:
for each target population evsim composes the linear maps along every path and keeps one weight matrix per
(source population, delay), plus the summed biases as a constant input. Several edges into one node add up.

Recurrence: an edge that closes a cycle (a back edge of a depth-first walk from the inputs, in file order) carries
one step of delay, as snnTorch's ``RLeaky``/``RSynaptic`` and Norse's recurrent cells feed back the previous
step's spikes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from .. import limits
from ..dialects import get_dialect
from ..errors import EvsimError, ModelFileError
from ..network import ConvProjection, Network, Population, Projection
from ..neurons import NeuronParams, discretise, make_params
from ..conv import ConvSpec
from .h5safe import check_hdf5, read_checked
from .linear import (
    IDENTITY,
    LINEAR_CONVERTERS,
    LinearNode,
    Operator,
    add,
    apply,
    bias_through,
    shape_of,
    size_of,
    to_matrix,
)

NEURON_TYPES = ("LIF", "IF", "LI", "CubaLIF", "CubaLI")
BYTES_PER_NEURON = 256  # parameters (10 float64), state, engine rows, ring slots of a short delay: an estimate


@dataclasses.dataclass
class Settings:
    """The time semantics for this load (a dialect's defaults, overridden by explicit settings)."""

    dialect: str
    dt: float
    discretisation: str
    reset: str
    reset_delay: bool
    threshold_op: str
    multi_spike: bool
    implicit: bool = True  # convolutions stay implicit (False: expand them into explicit synapses)
    v_min: float | None = None  # explicit membrane clamp for every IF/LIF/CubaLIF node (None: the dialect's rule)
    v_min_rel: dict[str, float] = dataclasses.field(default_factory=dict)  # node type -> clamp / v_threshold
    if_gain: str = "r"  # IF input gain per step: "r" or "r*dt"
    synapse_delay: int = 0  # extra steps on every projection but self-recurrent ones (lava-dl's per-layer latency)
    start_at_reset: bool = False  # spiking neurons start at v_reset (SpikingJelly)
    overshoot_rule: bool = False  # snnTorch's immediate subtraction (evsim.neurons.NeuronParams.overshoot_rule)
    late_zero_refractory: bool = False  # snnTorch's late reset to zero (evsim.dialects.Dialect)


def load(
    path: str | Path,
    dt: float | None = None,
    *,
    dialect: str = "nir",
    reset: str | None = None,
    reset_delay: bool | None = None,
    threshold_op: str | None = None,
    multi_spike: bool | None = None,
    discretisation: str | None = None,
    strict: bool = True,
    implicit: bool = True,
    v_min: float | None = None,
    if_gain: str | None = None,
    synapse_delay: int | None = None,
    nodes: Mapping[str, Mapping[str, Any]] | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    exporter_fixes: bool = True,
    mode: str = "discrete",
) -> Network:
    """Load a NIR graph as an `evsim.Network` (discrete mode; ``mode="exact"``: continuous time); with
    ``config``, an SNN-delays checkpoint (`evsim.io.snn_delays`: ``evsim.load("model.pt", config="config.py")``).

    ``dt`` (seconds per step) and every other setting default to the dialect's (`evsim.dialects.DIALECTS`);
    an explicit value overrides it. ``strict=False`` reads a file that fails NIR's type check, with a warning.
    ``implicit=False`` expands convolutions into explicit synapses (same spikes, more memory).
    ``v_min`` clamps every spiking membrane from below (``-inf``: no clamp; default: the dialect's, e.g. Sinabs IF
    at ``-v_threshold``); ``if_gain`` is the IF input gain (``"r"`` or ``"r*dt"``); ``synapse_delay`` adds that
    many steps to every projection except a population's feedback onto itself (lava-dl: 1).
    ``nodes={node name: {setting: value}}`` overrides neuron settings (reset, reset_delay, threshold_op,
    multi_spike, discretisation, v_min) for single nodes, e.g. a model whose layers were built differently.
    ``exporter_fixes`` (dialect "norse"): recognise Norse 1.1's ``to_nir`` output and correct it, with a warning
    (`evsim.io.norse_fix`); False loads the file as written.

    ``mode="exact"`` runs the graph by NIR's own continuous-time equations (`evsim.io.nir_exact`): `evsim.exact`
    neurons, Delay nodes as real-valued delays in seconds, no dialect and no rounding; ``dt`` is then optional: the
    engine's calendar step, and the delay of a recurrent back edge with no Delay node (without ``dt`` such an edge
    has zero delay, and a cycle of them is refused).
    """
    from .native import is_native, load_native

    if is_native(path):  # evsim's own file (`evsim compile`): the network as it was built, settings included
        return load_native(path)
    if mode == "exact":
        return _load_exact(path, dt, strict, dialect)
    if mode != "discrete":
        raise ModelFileError(f"mode must be 'discrete' or 'exact', got {mode!r}")
    if config is not None or str(path).endswith((".pt", ".pth")):
        if config is None:
            raise ModelFileError(f"{path}: a PyTorch checkpoint; pass its SNN-delays config (config=..., CLI --config)")
        from .snn_delays import load_snn_delays

        return load_snn_delays(path, config)
    d = get_dialect(dialect)
    if _is_netx(path):  # lava-dl's own HDF5 format: its neurons carry their fixed-point semantics
        if dialect not in ("nir", "lava-dl"):
            raise ModelFileError(
                f"{path}: a lava-dl netx network; it loads with its own semantics, not dialect {dialect!r}"
            )
        from .lava import load_netx

        return load_netx(path)
    dt = d.dt if dt is None else dt
    if dialect == "norse" and exporter_fixes and isinstance(dt, (int, float)) and dt > 0:
        graph = _read_norse(path, strict, float(dt))
    else:
        graph = read_graph(path, strict=strict)
    if dt is None:
        from .conventions import suggest

        hint = suggest(graph)
        raise ModelFileError(
            f"dialect {dialect!r} has no default time step: pass dt=... seconds per step (CLI: "
            "--dt), or a framework's dialect"
            + (
                f"; this file looks like {hint.dialect}'s export ({hint.reason}): dialect={hint.dialect!r}"
                if hint
                else ""
            )
        )
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise ModelFileError(f"dt must be a positive number of seconds, got {dt!r}")
    s = Settings(
        dialect,
        float(dt),
        discretisation or d.discretisation,
        reset or d.reset,
        d.reset_delay if reset_delay is None else bool(reset_delay),
        threshold_op or d.threshold_op,
        d.multi_spike if multi_spike is None else bool(multi_spike),
        implicit=bool(implicit),
        v_min=None if v_min is None else float(v_min),
        v_min_rel=dict(d.v_min),
        if_gain=if_gain or d.if_gain,
        synapse_delay=d.synapse_delay if synapse_delay is None else synapse_delay,
        start_at_reset=d.start_at_reset,
        overshoot_rule=d.overshoot_rule,
        late_zero_refractory=d.late_zero_refractory,
    )
    if int(s.synapse_delay) != s.synapse_delay or s.synapse_delay < 0:
        raise ModelFileError(f"synapse_delay must be a whole number of steps >= 0, got {s.synapse_delay!r}")
    try:
        return _with_latency(from_graph(graph, s, source=str(path), overrides=nodes), int(s.synapse_delay))
    except EvsimError as e:
        raise type(e)(f"{path}: {e}") from None


def _read_norse(path: str | Path, strict: bool, dt: float) -> Any:
    """`read_graph`, then Norse 1.1's exporter output corrected (`evsim.io.norse_fix`), with a warning. A graph that
    fails NIR's type check is read without it when it is Norse's (whose Input keeps the batch dimension)."""
    from .norse_fix import fix

    try:
        graph = read_graph(path, strict=strict)
    except ModelFileError as e:
        if "type check" not in str(e):
            raise
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = read_graph(path, strict=False)
        note = fix(graph, dt, path)
        if note is None:
            raise
    else:
        note = fix(graph, dt, path)
    if note:
        warnings.warn(note, stacklevel=3)
    return graph


def _load_exact(path: str | Path, dt: float | None, strict: bool, dialect: str) -> Network:
    if dialect != "nir":
        raise ModelFileError(f"mode='exact' runs NIR's own equations: a dialect ({dialect!r}) does not apply")
    if dt is not None and not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise ModelFileError(f"dt must be a positive number of seconds, got {dt!r}")
    graph = read_graph(path, strict=strict)
    s = Settings("nir", float(dt or 0.0), "exact", "zero", False, ">=", False, implicit=False)
    try:
        return from_graph(graph, s, source=str(path), exact=True)
    except EvsimError as e:
        raise type(e)(f"{path}: {e}") from None


def _with_latency(net: Network, k: int) -> Network:
    """Every projection ``k`` steps later, except a population's projection onto itself (its one-step feedback is
    already the latency of a recurrent layer): Loihi/Lava and lava-dl's ``delay_shift`` take one step per layer."""
    if k == 0:
        return net
    projs = tuple(
        p
        if p.source == p.target
        else dataclasses.replace(p, delay=p.delay + k)
        if isinstance(p, ConvProjection)
        else dataclasses.replace(p, delays=p.delays.astype(np.int64) + k)
        for p in net.projections
    )
    return dataclasses.replace(net, projections=projs)


def _is_netx(path: str | Path) -> bool:
    import h5py

    p = Path(path)
    if not (p.is_file() and h5py.is_hdf5(p)):
        return False
    check_hdf5(p)  # structure and declared sizes, before anything is read
    return read_checked(p, lambda: _has_layers(h5py.File(p, "r")), "cannot read this HDF5 file")


def _has_layers(f: Any) -> bool:
    with f:
        return "layer" in f and "node" not in f


@contextlib.contextmanager
def converting(name: str, node: Any) -> Iterator[None]:
    """Whatever a malformed parameter still makes a converter raise (a string where numbers belong, NaN sizes,
    ...) becomes one `ModelFileError` naming the node."""
    try:
        yield
    except EvsimError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, ZeroDivisionError, AttributeError) as e:
        where = f"node {name!r} ({type(node).__name__})" if name else "a node's shape"
        why = " ".join(str(e).split())[:200]
        raise ModelFileError(f"{where}: malformed parameters ({type(e).__name__}: {why})") from None


def read_graph(path: str | Path, strict: bool = True) -> Any:
    """``nir.read`` with clear errors: missing file, not HDF5, malformed graph."""
    import h5py
    import nir

    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{p}: no such file")
    if p.is_dir():
        raise ModelFileError(f"{p}: is a directory, expected a .nir file")
    if not h5py.is_hdf5(p):
        raise ModelFileError(
            f"{p}: not an HDF5 file (a .nir model is HDF5, written by nir.write or a framework's NIR exporter)"
        )
    check_hdf5(p)  # link structure, declared shapes, chunking: before nir.read loads every dataset
    try:
        return nir.read(p)
    except Exception as e:  # noqa: BLE001 - nir raises ValueError, KeyError, TypeError on bad files
        first = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    if strict:
        raise ModelFileError(
            f"{p}: NIR cannot read this graph ({first}); if it only fails NIR's type check, "
            "strict=False (CLI: --no-strict) loads it anyway"
        )
    try:
        g = nir.read(p, type_check=False)
    except Exception as e:  # noqa: BLE001
        raise ModelFileError(
            f"{p}: NIR cannot read this graph ({type(e).__name__}: {' '.join(str(e).split())[:300]})"
        ) from None
    warnings.warn(f"{p}: loaded without NIR's type check ({first})", stacklevel=3)
    return g


# ----------------------------------------------------------------------------------------------------- converters
def _param(node_name: str, node: Any, field: str, n: int, default: Any = None) -> np.ndarray:
    value = getattr(node, field, None)
    if value is None:
        if default is None:
            raise ModelFileError(f"node {node_name!r} ({type(node).__name__}): parameter {field!r} is missing")
        value = default
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    if a.size == 1:
        a = np.full(n, a[0])
    if a.size != n:
        raise ModelFileError(
            f"node {node_name!r} ({type(node).__name__}): parameter {field!r} has {a.size} values, "
            f"expected {n} (one per neuron)"
        )
    if not np.all(np.isfinite(a)):
        raise ModelFileError(f"node {node_name!r}: parameter {field!r} contains NaN or Inf")
    if field.startswith("tau") and not np.all(a > 0):  # (-0.0 too: a time constant is a positive duration)
        raise ModelFileError(
            f"node {node_name!r} ({type(node).__name__}): {field} must be positive (> 0 s), got {float(a[~(a > 0)][0])}"
        )
    return a


def _neuron(model: str) -> Callable[[str, Any, int, np.ndarray, Settings], NeuronParams]:
    def convert(name: str, node: Any, n: int, bias: np.ndarray, s: Settings) -> NeuronParams:
        kw: dict[str, Any] = dict(method=s.discretisation, bias=bias, r=_param(name, node, "r", n, 1.0))
        if model in ("LIF", "IF", "CubaLIF"):
            thr = _param(name, node, "v_threshold", n)
            v_reset = _param(name, node, "v_reset", n, 0.0)
            if s.reset == "subtract" and np.any(v_reset != 0):
                raise ModelFileError(
                    f"node {name!r} ({model}): v_reset = {v_reset[v_reset != 0][0]:g}, but a reset by "
                    "subtraction ignores v_reset; pass reset='zero' to reset to it, or check the "
                    "exporter"
                )
            if s.start_at_reset and np.any(v_reset != 0):
                kw.update(v_init=v_reset)
            kw.update(
                overshoot_rule=s.overshoot_rule and s.reset == "subtract" and not s.reset_delay and not s.multi_spike
            )
            kw.update(
                threshold=thr,
                v_reset=v_reset,
                reset=s.reset,
                reset_delay=s.reset_delay,
                threshold_op=s.threshold_op,
                multi_spike=s.multi_spike,
            )
            if s.v_min is not None:
                kw.update(v_min=s.v_min)
            elif model in s.v_min_rel:
                kw.update(v_min=s.v_min_rel[model] * thr)
        if model == "IF":
            kw.update(if_gain=s.if_gain)
        if model in ("LIF", "LI"):
            kw.update(tau=_param(name, node, "tau", n), v_leak=_param(name, node, "v_leak", n, 0.0))
        if model in ("CubaLIF", "CubaLI"):
            kw.update(
                tau=_param(name, node, "tau_mem", n),
                tau_syn=_param(name, node, "tau_syn", n),
                v_leak=_param(name, node, "v_leak", n, 0.0),
                w_in=_param(name, node, "w_in", n, 1.0),
            )
        _check_time_constants(name, model, kw, s)
        try:
            return discretise(model, n, s.dt, **kw)
        except EvsimError as e:
            raise ModelFileError(f"node {name!r} ({model}): {e}") from None

    return convert


def _check_time_constants(name: str, model: str, kw: dict[str, Any], s: Settings) -> None:
    """Euler steps need tau >= dt; a smaller tau is almost always a time-unit mix-up in the exporter: say which."""
    if not s.discretisation.startswith("euler"):
        return
    for field in ("tau", "tau_syn"):
        tau = kw.get(field)
        if tau is None or not np.any(tau < s.dt):
            continue
        hint = ""
        if s.dialect == "norse":
            hint = (
                " Norse's to_nir (1.1) writes tau = dt/tau_mem_inv, i.e. dt times the true time constant "
                "(norse/norse#411): divide the file's tau, tau_mem, tau_syn by dt"
            )
        t_min = float(np.min(tau))
        raise ModelFileError(
            f"node {name!r} ({model}): {field} = {t_min:g} s is shorter than the time step dt = "
            f"{s.dt:g} s, so a forward-Euler step overshoots (decay {1 - s.dt / t_min:g} per step); "
            f"check dt and the exporter's time units.{hint}"
        )


def _threshold(name: str, node: Any, n: int, bias: np.ndarray, s: Settings) -> NeuronParams:
    """NIR Threshold ``z = H(x - theta)``: no memory (beta = 0); spikes in a step where its input is above."""
    return make_params(
        "Threshold",
        n,
        beta=0.0,
        g_x=1.0,
        v_bias=bias,
        threshold=_param(name, node, "threshold", n),
        reset="zero",
        threshold_op=s.threshold_op,
    )


def _integrator(name: str, node: Any, n: int, bias: np.ndarray, s: Settings) -> NeuronParams:
    """NIR I ``v' = r I``: a non-spiking integrator, stepped as IF is (gain ``r`` or ``r dt`` per step)."""
    r = _param(name, node, "r", n, 1.0)
    g = r * s.dt if s.if_gain == "r*dt" else r
    return make_params("I", n, beta=1.0, g_x=g, v_bias=g * bias, threshold=np.inf)


NEURON_CONVERTERS: dict[str, Callable[[str, Any, int, np.ndarray, Settings], NeuronParams]] = {
    **{t: _neuron(t) for t in NEURON_TYPES},
    "Threshold": _threshold,
    "I": _integrator,
}
PLANNED: set[str] = set()  # node types of NIR 1.0 that evsim reads in a later release: say so plainly
_size, _shape = size_of, shape_of


# ----------------------------------------------------------------------------------------------------- graph
def _flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]], list[str], list[str]]:
    """Nested graphs inlined: node names joined with '.', their Input/Output nodes kept as identities."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, list[str]] = {}
    exit_: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges, ins, outs = _flatten(node, full + ".")
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            entry[name], exit_[name] = ins, outs
        else:
            nodes[full] = node
    known = set(graph.nodes)
    for src, dst in graph.edges:
        src0, dst0 = src.split(".")[0] if src not in known else src, dst.split(".")[0] if dst not in known else dst
        for n_, role in ((src0, "source"), (dst0, "destination")):
            if n_ not in known:
                where = f" in subgraph {prefix[:-1]!r}" if prefix else ""
                raise ModelFileError(
                    f"edge ({src!r}, {dst!r}){where}: {role} node {n_!r} does not exist; nodes are {sorted(known)}"
                )
        for a in exit_.get(src0, [prefix + src0]):
            for b in entry.get(dst0, [prefix + dst0]):
                edges.append((a, b))
    ins = [prefix + n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outs = [prefix + n for n, v in graph.nodes.items() if isinstance(v, nir.Output)]
    return nodes, edges, ins, outs


NODE_SETTINGS = ("reset", "reset_delay", "threshold_op", "multi_spike", "discretisation", "v_min")


def from_graph(
    graph: Any,
    s: Settings,
    source: str = "<graph>",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    exact: bool = False,
) -> Network:
    """``exact``: continuous time (`evsim.io.nir_exact`): delays in seconds, a back edge carries ``s.dt``."""
    import nir

    nodes, edges, top_in, top_out = _flatten(graph)
    nested_io = {n for n, v in nodes.items() if isinstance(v, (nir.Input, nir.Output))} - set(top_in) - set(top_out)
    kinds: dict[str, str] = {}
    for name, node in nodes.items():
        t = type(node).__name__
        if name in top_in:
            kinds[name] = "input"
        elif name in top_out:
            kinds[name] = "output"
        elif name in nested_io:
            kinds[name] = "linear"
        elif t in NEURON_CONVERTERS:
            kinds[name] = "neuron"
        elif t in LINEAR_CONVERTERS:
            kinds[name] = "linear"
        elif t in PLANNED:
            raise ModelFileError(f"node {name!r}: NIR node type {t} is not supported by this version of evsim yet")
        else:
            raise ModelFileError(
                f"node {name!r}: unknown NIR node type {t}; evsim reads "
                f"{', '.join(sorted(set(NEURON_CONVERTERS) | set(LINEAR_CONVERTERS)))}, Input, "
                "Output"
            )
    if not top_in:
        raise ModelFileError("the graph has no Input node")
    if not top_out:
        raise ModelFileError("the graph has no Output node")
    overrides = dict(overrides or {})
    for name, o in overrides.items():
        if kinds.get(name) != "neuron":
            raise ModelFileError(
                f"nodes={{{name!r}: ...}}: no neuron node of that name; neuron nodes are "
                f"{sorted(n for n, k in kinds.items() if k == 'neuron')}"
            )
        bad = set(o) - set(NODE_SETTINGS)
        if bad:
            raise ModelFileError(
                f"nodes[{name!r}]: cannot override {sorted(bad)}; per-node settings are {', '.join(NODE_SETTINGS)}"
            )
    node_settings = {n: dataclasses.replace(s, **overrides.get(n, {})) for n, k in kinds.items() if k == "neuron"}
    linear: dict[str, LinearNode] = {}
    for n, k in kinds.items():
        if k == "linear":
            t = "Flatten" if n in nested_io else type(nodes[n]).__name__
            with converting(n, nodes[n]):
                linear[n] = LINEAR_CONVERTERS[t](n, nodes[n], 0.0 if exact else s.dt)  # (0: delays in seconds)
    back = _back_edges(nodes, edges, top_in)
    preds: dict[str, list[tuple[str, Any]]] = {n: [] for n in nodes}
    for a, b in edges:
        preds[b].append((a, (s.dt if exact else 1) if (a, b) in back else 0))

    populations = [n for n in nodes if kinds[n] in ("input", "neuron")]
    with converting("", None):
        sizes = {n: _size(nodes[n], "output") for n in populations}  # (linear nodes have no size of their own)
        shapes = {n: _shape(nodes[n], "output") for n in populations}
    limits.check_memory(
        f"{sum(sizes.values())} neurons (~{BYTES_PER_NEURON} B each in the network and the engine)",
        BYTES_PER_NEURON * sum(sizes.values()),
    )
    Contrib = dict[tuple[str, int], Operator]
    memo: dict[str, tuple[Contrib, np.ndarray]] = {}
    visiting: set[str] = set()

    def merge(total: Contrib, key: tuple[str, int], op: Operator) -> None:
        total[key] = add(total[key], op, sizes[key[0]]) if key in total else op

    def into(name: str, n_in: int) -> tuple[Contrib, np.ndarray]:
        """Operator from each (source population, delay) into ``name``'s input, and the summed bias."""
        total: Contrib = {}
        bias = np.zeros(n_in)
        for u, edge_delay in preds[name]:
            c, b = out_of(u)
            if b.shape[0] != n_in:
                raise ModelFileError(
                    f"edge ({u!r}, {name!r}): {u!r} gives {b.shape[0]} values but {name!r} takes {n_in}"
                )
            bias += b
            for (src, d), op in c.items():
                merge(total, (src, d + edge_delay), op)
        return total, bias

    def out_of(name: str) -> tuple[Contrib, np.ndarray]:
        kind = kinds[name]
        if kind in ("input", "neuron"):
            return {(name, 0): IDENTITY}, np.zeros(sizes[name])
        if kind == "output":
            raise ModelFileError(f"node {name!r}: an Output node cannot feed other nodes")
        if name in memo:
            return memo[name]
        if name in visiting:
            raise ModelFileError(f"node {name!r}: a cycle made only of linear nodes (no neuron in the loop)")
        visiting.add(name)
        lin = linear[name]
        c, b = into(name, lin.n_in)
        out: Contrib = {}
        for (src, d), op in c.items():
            for dd, new in apply(lin, op, sizes[src], shapes[src]):
                merge(out, (src, d + dd), new)
        res = (out, bias_through(lin, b))
        visiting.discard(name)
        memo[name] = res
        return res

    pops: list[Population] = []
    projs: list[Projection | ConvProjection] = []
    node_map: dict[str, str] = {}
    for name in nodes:
        if kinds[name] == "input":
            pops.append(Population(name, sizes[name], None, shapes[name]))
            node_map[name] = name
    for name in nodes:
        if kinds[name] != "neuron":
            continue
        size = sizes[name]
        n_in = _size(nodes[name], "input")
        if n_in != size:
            raise ModelFileError(f"node {name!r}: input shape and output shape hold different sizes ({n_in}, {size})")
        c, bias = into(name, size)
        s_n = node_settings[name]
        if exact:
            from .nir_exact import EXACT_CONVERTERS

            with converting(name, nodes[name]):
                nrn = EXACT_CONVERTERS[type(nodes[name]).__name__](name, nodes[name], size, bias, _param)
            pops.append(Population(name, size, nrn, shapes[name]))  # type: ignore[arg-type]
            node_map[name] = name
            projs.extend(_projections(name, c, sizes, False))
            continue
        with converting(name, nodes[name]):
            params = NEURON_CONVERTERS[type(nodes[name]).__name__](name, nodes[name], size, bias, s_n)
        recurrent = any(src == name for src, _ in c)
        if (
            s_n.late_zero_refractory
            and s_n.reset == "zero"
            and s_n.reset_delay
            and (params.model == "CubaLIF" or (params.model == "LIF" and recurrent))
        ):
            params = dataclasses.replace(params, refractory=np.ones(size, np.int32), refractory_keeps_current=True)
        pops.append(Population(name, size, params, shapes[name]))
        node_map[name] = name
        projs.extend(_projections(name, c, sizes, s.implicit))
    outputs = []
    for name in top_out:
        feeders = preds[name]
        if len(feeders) != 1 or kinds[feeders[0][0]] not in ("neuron", "input"):
            via = [f for f, _ in feeders]
            raise ModelFileError(
                f"Output node {name!r} is fed by {via}: evsim needs a single population (spiking "
                "or LI readout) in front of each Output"
            )
        outputs.append(feeders[0][0])
    meta = dict(
        source=source,
        format="nir",
        dialect=s.dialect,
        # seconds, or steps where the dialect counts time in steps (Sinabs' dt = 1)
        time_unit="step" if get_dialect(s.dialect).dt_unit == "step" and s.dt == get_dialect(s.dialect).dt else "s",
        settings=dataclasses.asdict(s),
        nir_nodes={n: type(v).__name__ for n, v in nodes.items()},
        node_map=node_map,
    )
    layered = (getattr(graph, "metadata", None) or {}).get("evsim_layered")
    if layered is not None:  # written by evsim.save_nir for a model run layer by layer (evsim.layered)
        meta["layered"] = _layered_meta(layered)
    if exact:
        meta.update(time_unit="s", mode="exact")
    dt = (s.dt or None) if exact else s.dt
    return Network(tuple(pops), tuple(projs), tuple(n for n in top_in), tuple(outputs), dt=dt, meta=meta)


def _projections(
    name: str, c: Mapping[tuple[str, int], Operator], sizes: Mapping[str, Any], implicit: bool
) -> list[Projection | ConvProjection]:
    """The projections into population ``name`` from its operators by (source, delay): one explicit projection per
    source with one delay per synapse (the ``Linear(W_d) -> Delay(d)`` groups of learned delays merge into it), and
    one implicit convolution per (source, delay)."""
    out: list[Projection | ConvProjection] = []
    by_src: dict[str, list[tuple[int, Operator]]] = {}
    for (src, d), op in sorted(c.items(), key=lambda kv: kv[0]):
        by_src.setdefault(src, []).append((d, op))
    for src, ops in by_src.items():
        convs = [(d, op) for d, op in ops if isinstance(op, ConvSpec) and implicit]
        parts = []
        for d, op in ops:
            if isinstance(op, ConvSpec) and implicit:
                pname = f"{src}->{name}" + (f"@{d}" if len(convs) < len(ops) or len(convs) > 1 else "")
                out.append(ConvProjection(pname, src, name, op, d))
                continue
            m = to_matrix(op, sizes[src]).tocoo()
            nz = m.data != 0
            parts.append((m.col[nz], m.row[nz], m.data[nz], np.full(int(nz.sum()), d)))  # (int steps, or seconds)
        if parts and sum(p[0].size for p in parts):
            pre, post, w, dl = (np.concatenate(a) for a in zip(*parts))
            out.append(Projection.from_synapses(f"{src}->{name}", src, name, pre, post, w, dl, sizes[src]))
    return out


def _layered_meta(text: Any) -> dict[str, Any]:
    import json

    try:
        d = json.loads(text if isinstance(text, str) else bytes(text).decode())
        grow = [int(g) for g in d["grow"]]
        out: dict[str, Any] = dict(grow=grow, decoding=str(d.get("decoding", "last")))
        if d.get("filters"):
            out["filters"] = [float(f) for f in d["filters"]]
        return out
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"graph metadata 'evsim_layered' is not valid ({type(e).__name__}: {e})") from None


def _back_edges(nodes: dict[str, Any], edges: list[tuple[str, str]], starts: list[str]) -> set[tuple[str, str]]:
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    back: set[tuple[str, str]] = set()
    for root in list(starts) + list(nodes):
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return back
