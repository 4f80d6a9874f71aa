"""Convolutions in an exact-time network: each implicit `ConvProjection` becomes its explicit synapse table.

The exact engine delivers a spike along explicit synapses only, so an exact-time `evsim.Network` built with a
`ConvProjection` holds, in its place, the `Projection` of the same name with the same synapses (the expansion
`evsim.io.linear.to_matrix` makes for a NIR graph loaded with ``implicit=False``, under its memory check: up to
``48`` bytes per kernel tap, `evsim.limits.memory`). The convolution's ``delay`` is seconds in an exact-time
network, one value for every synapse. Same spikes as the implicit form would give; memory is the synapse table.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import NetworkError


def explicit_projections(populations: Sequence, projections: Sequence) -> tuple:
    """``projections`` with every `ConvProjection` replaced by the equivalent explicit `Projection`; the sizes and
    the delay are checked first (each error names the projection)."""
    from ..io.linear import to_matrix
    from ..network import ConvProjection, Projection

    if not any(isinstance(q, ConvProjection) for q in projections):
        return tuple(projections)
    sizes = {p.name: p.size for p in populations if hasattr(p, "name")}
    out = []
    for q in projections:
        if not isinstance(q, ConvProjection):
            out.append(q)
            continue
        where = f"projection {q.name!r}"
        for end in (q.source, q.target):
            if end not in sizes:
                raise NetworkError(f"{where}: {end!r} is not a population")
        if (q.spec.n_in, q.spec.n_out) != (sizes[q.source], sizes[q.target]):
            raise NetworkError(
                f"{where}: convolution maps {q.spec.in_shape} -> {q.spec.out_shape} but {q.source!r} has "
                f"{sizes[q.source]} and {q.target!r} {sizes[q.target]} neurons"
            )
        try:
            d = float(q.delay)
        except (TypeError, ValueError):
            raise NetworkError(f"{where}: the delay must be a number of seconds, got {q.delay!r}") from None
        if not (np.isfinite(d) and d >= 0):
            raise NetworkError(f"{where}: the delay must be finite seconds >= 0, got {q.delay!r}")
        m = to_matrix(q.spec, sizes[q.source]).tocoo()
        nz = m.data != 0
        out.append(
            Projection.from_synapses(q.name, q.source, q.target, m.col[nz], m.row[nz], m.data[nz], d, sizes[q.source])
        )
    return tuple(out)
