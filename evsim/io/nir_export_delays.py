"""NIR export, delay groups and loops: the chains of nodes between populations assembled into one NIR graph.

A projection becomes one chain per distinct delay, ``[Flatten ->] Linear(W_d) [-> Delay(d dt)]`` (the delay groups
the loader merges again); `_assemble` names the nodes, orders the edges, runs the loader's own back-edge rule
(`evsim.io.nir_graph._back_edges`: the edge that closes a loop gets one step) and shortens those edges' ``Delay`` to
match; `_solve` tries edge orders and entry links until no zero-delay projection would close a loop (see
`evsim.io.nir_export`'s docstring, "recurrence"). Used by `evsim.io.nir_export.to_nir`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import NetworkError
from ..network import Network, Projection
from .nir_export_neurons import _NeuronOut, _Target


@dataclasses.dataclass
class _Chain:
    """Nodes between two populations: ``source -> nodes... [-> Delay] -> target``."""

    source: str
    target: str
    stem: str  # name stem of its nodes
    nodes: list[tuple[str, Any]]  # (suffix, NIR node)
    out_shape: tuple[int, ...]  # NIR shape at the end of ``nodes`` (the Delay node's shape)
    delay: int = 0  # steps the loaded projection must have
    real: bool = True  # False: zero weights (a graph-shape link or a bias carrier); the loader makes no synapses
    what: str = ""  # for messages: the projection it writes
    back: bool = False  # the loader's walk takes its last edge as a back edge (+1 step)
    rank: int = -1  # edge order: 0 entry links, 1 projections, 2 other links (-1: 1 if real else 2)


def _flatten_node(shape: tuple[int, ...]) -> Any:
    import nir

    return nir.Flatten(input_type=np.array(shape), start_dim=0, end_dim=-1)


def _explicit_groups(q: Projection, ns: int, nt: int) -> list[tuple[int, np.ndarray]]:
    """Dense ``W_d [target, source]`` for each distinct delay ``d`` (duplicate synapses summed, zeros dropped)."""
    src = np.repeat(np.arange(ns), np.diff(q.indptr))
    out = []
    for d in np.unique(q.delays):
        sel = q.delays == d
        w = np.zeros((nt, ns))
        np.add.at(w, (q.targets[sel], src[sel]), q.weights[sel])
        if np.any(w != 0):
            out.append((int(d), w))
    return out


class _DelayConflict(Exception):
    def __init__(self, message: str, chain: _Chain) -> None:
        super().__init__(message)
        self.chain = chain


def _solve(
    net: Network,
    s: _Target,
    chains: list[_Chain],
    neuron_out: dict[str, _NeuronOut],
    nshape: dict[str, tuple[int, ...]],
) -> tuple[Any, int]:
    """The graph, and the per-projection latency ``k`` the loader is to add (the dialect's, else 0).

    The loader's walk decides which edges close loops; a zero-delay projection must not be one. The walk follows
    the edges in file order, so the exporter tries a few orders of each population's projections (by target in
    zero-delay order, which walks the zero-delay projections forward; by delay), and when the walk would still enter
    a loop through a delayed projection and close it with a zero-delay one, adds a zero-weight link from the first
    input to that projection's source, walked first, so that the walk enters the loop there."""
    last: _DelayConflict | None = None
    n_neurons = sum(p.neuron is not None for p in net.populations)
    for k in sorted({s.synapse_delay, 0}, reverse=True):
        for walk in ("targets", "zero-first", "delayed-first"):  # the order of each population's projections
            links: list[str] = []
            for _ in range(2 * n_neurons + 2):
                try:
                    graph = _assemble(net, s, chains + _links(net, links, nshape), neuron_out, nshape, k, walk)
                    return graph, k
                except _DelayConflict as e:
                    last, c = e, e.chain
                    if (
                        not c.back
                        or c.source in net.inputs
                        or len(nshape[c.source]) > 1
                        or not net.inputs
                        or (links and links[0] == c.source)
                    ):
                        break
                    if c.source in links:
                        links.remove(c.source)
                    links.insert(0, c.source)
    assert last is not None
    raise NetworkError(str(last))


def _links(net: Network, names: list[str], nshape: dict[str, tuple[int, ...]]) -> list[_Chain]:
    src = net.inputs[0] if net.inputs else ""
    n_in = net.population(src).size if src else 0
    out = []
    for name in names:
        nodes: list[tuple[str, Any]] = [(".flatten", _flatten_node(nshape[src]))] if len(nshape[src]) > 1 else []
        nodes.append(("", ("linear", np.zeros((net.population(name).size, n_in)))))
        out.append(
            _Chain(
                src,
                name,
                f"{name}.entry",
                nodes,
                (net.population(name).size,),
                0,
                real=False,
                what=f"entry link of {name!r}",
                rank=0,
            )
        )
    return out


def _assemble(
    net: Network,
    s: _Target,
    chains: list[_Chain],
    neuron_out: dict[str, _NeuronOut],
    nshape: dict[str, tuple[int, ...]],
    k: int,
    walk: str = "targets",
) -> Any:
    """Name the nodes, order the edges, find the loader's back edges, set the Delay nodes, build the graph."""
    import nir

    from .nir_graph import _back_edges

    pops = {p.name: p for p in net.populations}
    taken: set[str] = set(pops)
    out_names = _output_names(net)
    taken |= set(out_names)

    def unique(name: str) -> str:
        base, i = name, 1
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        return name

    # edges: entry links first, then per population (in zero-delay order) its projections, by target in that order
    # ("targets") or by delay (increasing: "zero-first", decreasing: "delayed-first"); the other links last
    order = {n: i for i, n in enumerate(net.order)}

    def rank(i: int) -> tuple[int, int, int, int, int]:
        c = chains[i]
        second = order[c.target] if walk == "targets" else 0
        d = -c.delay if walk == "delayed-first" else c.delay
        return (c.rank if c.rank >= 0 else 1 if c.real else 2, order[c.source], second, d, i)

    ranked = sorted(range(len(chains)), key=rank)
    named: list[tuple[_Chain, list[str]]] = []
    for i in ranked:
        c = chains[i]
        named.append((c, [unique(c.stem + suffix) for suffix, _ in c.nodes]))
    edges: list[tuple[str, str]] = []
    for c, names in named:
        path = [c.source] + names + [c.target]
        edges.extend(zip(path[:-1], path[1:]))
    for port, oname in zip(net.outputs, out_names):
        edges.append((port, oname))
    node_keys: list[str] = list(net.inputs) + [p.name for p in net.populations if p.neuron is not None]
    node_keys += [n for _, names in named for n in names] + out_names
    back = _back_edges({n: None for n in node_keys}, edges, list(net.inputs))

    # delays: what the loader will add (a back edge: 1; the dialect's latency on non-self projections: k)
    delays: dict[int, int] = {}
    for idx, (c, names) in enumerate(named):
        c.back = (names[-1], c.target) in back
        if not c.real:
            continue
        extra = (1 if c.back else 0) + (k if c.source != c.target else 0)
        d = c.delay - extra
        if d < 0:
            why = []
            if c.back:
                why.append("it closes a loop, and evsim's loader gives the edge that closes a loop one step of delay")
            if k and c.source != c.target:
                why.append(f"dialect {s.dialect!r} adds {k} step(s) to every projection")
            raise _DelayConflict(
                f"{c.what}: delay {c.delay} step(s) cannot be written: {'; '.join(why)}; give "
                "the projections that close loops a delay of at least one step",
                c,
            )
        delays[idx] = d

    nodes: dict[str, Any] = {}
    for name in net.inputs:
        nodes[name] = nir.Input(input_type=np.array(nshape[name]))
    for p in net.populations:
        if p.neuron is not None:
            nodes[p.name] = _neuron_node(neuron_out[p.name], nshape[p.name])
    final_edges: list[tuple[str, str]] = []
    want_back: set[tuple[str, str]] = set()
    for idx, (c, names) in enumerate(named):
        chain_nodes = [_make(n) for _, n in c.nodes]
        names = list(names)
        d = delays.get(idx, 0)
        if d > 0:
            names.append(unique(c.stem + ".delay"))
            chain_nodes.append(nir.Delay(np.full(c.out_shape, d * s.dt)))
        nodes.update(zip(names, chain_nodes))
        path = [c.source] + names + [c.target]
        final_edges.extend(zip(path[:-1], path[1:]))
        if c.back:
            want_back.add((names[-1], c.target))
    for port, oname in zip(net.outputs, out_names):
        nodes[oname] = nir.Output(output_type=np.array(nshape[port]))
        final_edges.append((port, oname))
    # the loader's walk on the graph as written must find the same back edges (a Delay node changes no loop)
    if _back_edges(nodes, final_edges, list(net.inputs)) != want_back:
        raise NetworkError("save_nir: internal error: the loader would find other loops in the written graph")
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=final_edges, type_check=True)
    if list(graph.nodes) != names:  # NIR adds Input/Output nodes for loose ends: the loader would see new ports
        raise NetworkError(f"save_nir: internal error: NIR added nodes {sorted(set(graph.nodes) - set(names))}")
    return graph


def _make(spec: Any) -> Any:
    import nir

    if isinstance(spec, tuple):
        if spec[0] == "linear":
            return nir.Linear(weight=np.asarray(spec[1], dtype=np.float64))
        return nir.Affine(weight=np.asarray(spec[1], dtype=np.float64), bias=np.asarray(spec[2], dtype=np.float64))
    return spec


def _neuron_node(no: _NeuronOut, shape: tuple[int, ...]) -> Any:
    import nir

    kw = {k: np.asarray(v, dtype=np.float64).reshape(shape) for k, v in no.params.items()}
    return getattr(nir, no.nir_type)(**kw)


def _output_names(net: Network) -> list[str]:
    """Names of the Output nodes: the original ones when the network came from a NIR file with as many."""
    known = (
        [n for n, t in (net.meta.get("nir_nodes") or {}).items() if t == "Output" and "." not in n] if net.meta else []
    )
    taken = {p.name for p in net.populations}
    if len(known) == len(net.outputs) and len(set(known)) == len(known) and not set(known) & taken:
        return list(known)
    names: list[str] = []
    for port in net.outputs:
        base = "output" if len(net.outputs) == 1 else f"output.{port}"
        name, i = base, 1
        while name in taken or name in names:
            name, i = f"{base}_{i}", i + 1
        names.append(name)
    return names
