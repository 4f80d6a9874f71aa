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

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..dialects import get_dialect
from ..errors import EvsimError, ModelFileError
from ..network import Network, Population, Projection
from ..neurons import NeuronParams, discretise

NEURON_TYPES = ("LIF", "IF", "LI", "CubaLIF", "CubaLI")


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


@dataclasses.dataclass
class Linear:
    """A linear node: ``y = W x + b`` per step, plus optional per-output delays in steps."""

    weight: np.ndarray  # [n_out, n_in]
    bias: np.ndarray  # [n_out]
    delay: np.ndarray | None = None  # [n_out] steps (Delay nodes)


def load(path: str | Path, dt: float | None = None, *, dialect: str = "nir", reset: str | None = None,
         reset_delay: bool | None = None, threshold_op: str | None = None, multi_spike: bool | None = None,
         discretisation: str | None = None, strict: bool = True) -> Network:
    """Load a NIR graph as an `evsim.Network` (discrete mode).

    ``dt`` (seconds per step) and every other setting default to the dialect's (`evsim.dialects.DIALECTS`);
    an explicit value overrides it. ``strict=False`` reads a file that fails NIR's type check, with a warning.
    """
    d = get_dialect(dialect)
    graph = read_graph(path, strict=strict)
    dt = d.dt if dt is None else dt
    if dt is None:
        raise ModelFileError(f"dialect {dialect!r} has no default time step: pass dt=... seconds per step (CLI: "
                             "--dt), or a framework's dialect")
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise ModelFileError(f"dt must be a positive number of seconds, got {dt!r}")
    s = Settings(dialect, float(dt), discretisation or d.discretisation, reset or d.reset,
                 d.reset_delay if reset_delay is None else bool(reset_delay), threshold_op or d.threshold_op,
                 d.multi_spike if multi_spike is None else bool(multi_spike))
    try:
        return from_graph(graph, s, source=str(path))
    except EvsimError as e:
        raise type(e)(f"{path}: {e}") from None


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
        raise ModelFileError(f"{p}: not an HDF5 file (a .nir model is HDF5, written by nir.write or a framework's "
                             "NIR exporter)")
    try:
        return nir.read(p)
    except Exception as e:  # noqa: BLE001 - nir raises ValueError, KeyError, TypeError on bad files
        first = f"{type(e).__name__}: {e}"
    if strict:
        raise ModelFileError(f"{p}: NIR cannot read this graph ({first}); if it only fails NIR's type check, "
                             "strict=False (CLI: --no-strict) loads it anyway")
    try:
        g = nir.read(p, type_check=False)
    except Exception as e:  # noqa: BLE001
        raise ModelFileError(f"{p}: NIR cannot read this graph ({type(e).__name__}: {e})") from None
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
        raise ModelFileError(f"node {node_name!r} ({type(node).__name__}): parameter {field!r} has {a.size} values, "
                             f"expected {n} (one per neuron)")
    if not np.all(np.isfinite(a)):
        raise ModelFileError(f"node {node_name!r}: parameter {field!r} contains NaN or Inf")
    return a


def _neuron(model: str) -> Callable[[str, Any, int, np.ndarray, Settings], NeuronParams]:
    def convert(name: str, node: Any, n: int, bias: np.ndarray, s: Settings) -> NeuronParams:
        kw: dict[str, Any] = dict(method=s.discretisation, bias=bias, r=_param(name, node, "r", n, 1.0))
        if model in ("LIF", "IF", "CubaLIF"):
            kw.update(threshold=_param(name, node, "v_threshold", n), v_reset=_param(name, node, "v_reset", n, 0.0),
                      reset=s.reset, reset_delay=s.reset_delay, threshold_op=s.threshold_op,
                      multi_spike=s.multi_spike)
        if model in ("LIF", "LI"):
            kw.update(tau=_param(name, node, "tau", n), v_leak=_param(name, node, "v_leak", n, 0.0))
        if model in ("CubaLIF", "CubaLI"):
            kw.update(tau=_param(name, node, "tau_mem", n), tau_syn=_param(name, node, "tau_syn", n),
                      v_leak=_param(name, node, "v_leak", n, 0.0), w_in=_param(name, node, "w_in", n, 1.0))
        try:
            return discretise(model, n, s.dt, **kw)
        except EvsimError as e:
            raise ModelFileError(f"node {name!r} ({model}): {e}") from None

    return convert


def _matrix(name: str, node: Any, field: str) -> np.ndarray:
    w = np.asarray(getattr(node, field), dtype=np.float64)
    if w.ndim != 2:
        raise ModelFileError(f"node {name!r} ({type(node).__name__}): {field} must be a 2-D matrix, got shape "
                             f"{w.shape}")
    if not np.all(np.isfinite(w)):
        raise ModelFileError(f"node {name!r}: {field} contains NaN or Inf")
    return w


def _affine(name: str, node: Any, s: Settings) -> Linear:
    w = _matrix(name, node, "weight")
    b = np.asarray(node.bias, dtype=np.float64).reshape(-1)
    if b.shape != (w.shape[0],):
        raise ModelFileError(f"node {name!r} (Affine): bias has {b.size} values for {w.shape[0]} outputs")
    if not np.all(np.isfinite(b)):
        raise ModelFileError(f"node {name!r}: bias contains NaN or Inf")
    return Linear(w, b)


def _linear(name: str, node: Any, s: Settings) -> Linear:
    w = _matrix(name, node, "weight")
    return Linear(w, np.zeros(w.shape[0]))


def _scale(name: str, node: Any, s: Settings) -> Linear:
    a = np.asarray(node.scale, dtype=np.float64).reshape(-1)
    return Linear(np.diag(a), np.zeros(a.size))


def _identity(name: str, node: Any, s: Settings) -> Linear:
    n = _size(node, "input")
    return Linear(np.eye(n), np.zeros(n))


def _delay(name: str, node: Any, s: Settings) -> Linear:
    d = np.asarray(node.delay, dtype=np.float64).reshape(-1)
    steps = np.round(d / s.dt)
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ModelFileError(f"node {name!r} (Delay): delays must be finite and >= 0 seconds")
    if np.any(np.abs(steps * s.dt - d) > 1e-6 * np.maximum(s.dt, np.abs(d))):
        raise ModelFileError(f"node {name!r} (Delay): delays {d[np.abs(steps * s.dt - d) > 0][:3]} s are not whole "
                             f"multiples of dt = {s.dt} s")
    return Linear(np.eye(d.size), np.zeros(d.size), steps.astype(np.int64))


LINEAR_CONVERTERS: dict[str, Callable[[str, Any, Settings], Linear]] = {
    "Affine": _affine, "Linear": _linear, "Scale": _scale, "Flatten": _identity, "Delay": _delay,
}
NEURON_CONVERTERS = {t: _neuron(t) for t in NEURON_TYPES}
PLANNED = {  # node types of NIR 1.0 that evsim reads in a later release: say so plainly
    "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Threshold", "I",
}


def _size(node: Any, port: str) -> int:
    types = node.input_type if port == "input" else node.output_type
    shape = next(iter(types.values())) if types else None
    if shape is None:
        raise ModelFileError(f"node {type(node).__name__}: no {port} shape")
    return int(np.prod(np.asarray(shape).reshape(-1))) if np.asarray(shape).size else 1


def _shape(node: Any, port: str) -> tuple[int, ...]:
    types = node.input_type if port == "input" else node.output_type
    return tuple(int(x) for x in np.asarray(next(iter(types.values()))).reshape(-1))


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
                raise ModelFileError(f"edge ({src!r}, {dst!r}){where}: {role} node {n_!r} does not exist; nodes are "
                                     f"{sorted(known)}")
        for a in exit_.get(src0, [prefix + src0]):
            for b in entry.get(dst0, [prefix + dst0]):
                edges.append((a, b))
    ins = [prefix + n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outs = [prefix + n for n, v in graph.nodes.items() if isinstance(v, nir.Output)]
    return nodes, edges, ins, outs


def from_graph(graph: Any, s: Settings, source: str = "<graph>") -> Network:
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
            raise ModelFileError(f"node {name!r}: unknown NIR node type {t}; evsim reads "
                                 f"{', '.join(sorted(set(NEURON_CONVERTERS) | set(LINEAR_CONVERTERS)))}, Input, "
                                 "Output")
    if not top_in:
        raise ModelFileError("the graph has no Input node")
    if not top_out:
        raise ModelFileError("the graph has no Output node")
    linear = {n: (_identity(n, nodes[n], s) if n in nested_io else LINEAR_CONVERTERS[type(nodes[n]).__name__](
        n, nodes[n], s)) for n, k in kinds.items() if k == "linear"}
    back = _back_edges(nodes, edges, top_in)
    preds: dict[str, list[tuple[str, int]]] = {n: [] for n in nodes}
    for a, b in edges:
        preds[b].append((a, 1 if (a, b) in back else 0))

    sizes = {n: (_size(nodes[n], "output") if kinds[n] in ("input", "neuron") else None) for n in nodes}
    memo: dict[str, tuple[dict[tuple[str, int], np.ndarray], np.ndarray]] = {}
    visiting: set[str] = set()

    def into(name: str, n_in: int) -> tuple[dict[tuple[str, int], np.ndarray], np.ndarray]:
        """Map from (source population, delay) to the weight matrix into ``name``'s input, and its bias."""
        total: dict[tuple[str, int], np.ndarray] = {}
        bias = np.zeros(n_in)
        for u, edge_delay in preds[name]:
            c, b = out_of(u)
            width = b.shape[0]
            if width != n_in:
                raise ModelFileError(f"edge ({u!r}, {name!r}): {u!r} gives {width} values but {name!r} takes {n_in}")
            bias += b
            for (src, d), w in c.items():
                key = (src, d + edge_delay)
                total[key] = total[key] + w if key in total else w
        return total, bias

    def out_of(name: str) -> tuple[dict[tuple[str, int], np.ndarray], np.ndarray]:
        kind = kinds[name]
        if kind in ("input", "neuron"):
            n = sizes[name]
            return {(name, 0): np.eye(n)}, np.zeros(n)
        if kind == "output":
            raise ModelFileError(f"node {name!r}: an Output node cannot feed other nodes")
        if name in memo:
            return memo[name]
        if name in visiting:
            raise ModelFileError(f"node {name!r}: a cycle made only of linear nodes (no neuron in the loop)")
        visiting.add(name)
        lin = linear[name]
        c, b = into(name, lin.weight.shape[1])
        out: dict[tuple[str, int], np.ndarray] = {}
        for (src, d), w in c.items():
            wl = lin.weight @ w
            if lin.delay is None:
                out[(src, d)] = out[(src, d)] + wl if (src, d) in out else wl
                continue
            for dd in np.unique(lin.delay):
                part = np.where((lin.delay == dd)[:, None], wl, 0.0)
                key = (src, d + int(dd))
                out[key] = out[key] + part if key in out else part
        res = (out, lin.weight @ b + lin.bias)
        visiting.discard(name)
        memo[name] = res
        return res

    pops: list[Population] = []
    projs: list[Projection] = []
    node_map: dict[str, str] = {}
    for name in nodes:
        if kinds[name] == "input":
            pops.append(Population(name, sizes[name], None, _shape(nodes[name], "output")))
            node_map[name] = name
    for name in nodes:
        if kinds[name] != "neuron":
            continue
        n = sizes[name]
        n_in = _size(nodes[name], "input")
        if n_in != n:
            raise ModelFileError(f"node {name!r}: input shape and output shape hold different sizes ({n_in}, {n})")
        c, bias = into(name, n)
        params = NEURON_CONVERTERS[type(nodes[name]).__name__](name, nodes[name], n, bias, s)
        pops.append(Population(name, n, params, _shape(nodes[name], "output")))
        node_map[name] = name
        multi = len({src for src, _ in c}) < len(c)
        for (src, d), w in sorted(c.items()):
            if not np.any(w):
                continue
            pname = f"{src}->{name}" + (f"@{d}" if multi else "")
            projs.append(Projection.from_dense(pname, src, name, w, d))
    outputs = []
    for name in top_out:
        feeders = preds[name]
        if len(feeders) != 1 or kinds[feeders[0][0]] not in ("neuron", "input"):
            via = [f for f, _ in feeders]
            raise ModelFileError(f"Output node {name!r} is fed by {via}: evsim needs a single population (spiking "
                                 "or LI readout) in front of each Output")
        outputs.append(feeders[0][0])
    meta = dict(source=source, format="nir", dialect=s.dialect, settings=dataclasses.asdict(s),
                nir_nodes={n: type(v).__name__ for n, v in nodes.items()}, node_map=node_map)
    return Network(tuple(pops), tuple(projs), tuple(n for n in top_in), tuple(outputs), dt=s.dt, meta=meta)


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
