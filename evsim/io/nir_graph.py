"""NIR graph -> `evsim.Network`: nested graphs inlined, linear nodes fused into projections, recurrence found.

Spiking and integrating nodes (LIF, IF, LI, CubaLIF, CubaLI) become populations (`evsim.io.nir_neurons`), Input
nodes input populations. Everything between two populations that is linear (Affine, Linear, Scale, Flatten, Delay,
and the Input/Output nodes of nested graphs: `evsim.io.linear`) is fused into projections: for each target
population evsim composes the linear maps along every path and keeps one weight matrix per (source population,
delay), plus the summed biases as a constant input. Several edges into one node add up. The ``Linear(W_d) ->
Delay(d)`` groups of learned delays merge into one projection per (source, target) with a delay per synapse
(`_projections`).

Recurrence: an edge that closes a cycle (a back edge of a depth-first walk from the inputs, in file order:
`_back_edges`) carries one step of delay, as snnTorch's ``RLeaky``/``RSynaptic`` and Norse's recurrent cells feed
back the previous step's spikes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from .. import limits
from ..conv import ConvSpec
from ..dialects import get_dialect
from ..errors import ModelFileError
from ..network import ConvProjection, Network, Population, Projection
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
from .nir_neurons import NEURON_CONVERTERS, Settings, _param, converting

BYTES_PER_NEURON = 256  # parameters (10 float64), state, engine rows, ring slots of a short delay: an estimate
PLANNED: set[str] = set()  # node types of NIR 1.0 that evsim reads in a later release: say so plainly
_size, _shape = size_of, shape_of


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
