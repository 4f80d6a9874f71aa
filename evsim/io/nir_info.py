"""`evsim info`'s table: each node of a NIR graph beside what evsim built from it (a population, a port, or the
projections a linear node was fused into), in the order of the graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..network import Network


def node_table(net: Network, graph: Any) -> list[tuple[str, str, str, str]]:
    """One row per node of ``graph`` (nested graphs flattened, names joined with '.'): name, NIR type, shape, and
    what evsim built from it (a population, an input or output port, or the projections a linear node was fused
    into). ``net`` is the network `evsim.load` made of that graph."""
    import nir

    from .nir_graph import _flatten

    nodes, edges, top_in, top_out = _flatten(graph)
    node_map = dict((net.meta or {}).get("node_map") or {})
    pops = {p.name: p for p in net.populations}
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in succ and b in preds:
            succ[a].append(b)
            preds[b].append(a)

    def reach(start: str, step: dict[str, list[str]]) -> set[str]:
        found: set[str] = set()
        seen = {start}
        stack = list(step[start])
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in node_map:
                found.add(node_map[n])
            elif not isinstance(nodes[n], nir.Output) or n not in top_out:
                stack.extend(step[n])
        return found

    def shape(node: Any) -> str:
        def one(types: Any) -> tuple[int, ...] | None:
            v = next(iter(types.values()), None) if isinstance(types, dict) and types else None
            return None if v is None else tuple(int(x) for x in np.asarray(v).reshape(-1))

        i, o = one(getattr(node, "input_type", None)), one(getattr(node, "output_type", None))
        if i is None and o is None:
            return "?"
        if i is None or o is None or i == o:
            return str(o if o is not None else i)
        return f"{i} -> {o}"

    outputs = dict(zip(top_out, net.outputs))
    rows = []
    for name, node in nodes.items():
        t = type(node).__name__
        if name in node_map:
            p = pops[node_map[name]]
            built = f"input port {p.name!r}" if p.neuron is None else f"population {p.name!r} ({p.neuron.model})"
        elif name in outputs:
            built = f"output port: population {outputs[name]!r}"
        else:
            pairs = {(a, b) for a in reach(name, preds) for b in reach(name, succ)}
            names = [q.name for q in net.projections if (q.source, q.target) in pairs]
            if isinstance(node, (nir.Input, nir.Output)):
                t += " (subgraph)"
            built = ("fused into " + ", ".join(names)) if names else "fused (no synapses)"
        rows.append((name, t, shape(node), built))
    from ..summary import topological

    rank = {n: k for k, n in enumerate(topological(list(nodes), list(edges), [n for n in nodes if n in top_in]))}
    return sorted(rows, key=lambda r: rank[r[0]])
