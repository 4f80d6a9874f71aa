"""NIR export, convolutions: an implicit convolution (`evsim.conv.ConvSpec`) as NIR nodes,
``[SumPool2d | AvgPool2d ->] Conv2d | Conv1d``, or None when NIR 1.0 cannot state it (grouped convolutions, padding
neither symmetric nor ``'same'``: the exporter then writes the explicit synapses). Used by `evsim.io.nir_export`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..conv import ConvSpec


@dataclasses.dataclass
class _ConvOut:
    nodes: list[tuple[str, Any]]  # (suffix, NIR node) in order; the conv node has suffix ""
    out_shape: tuple[int, ...]  # NIR shape at the conv output


def _conv_padding(spec: ConvSpec) -> Any:
    """NIR padding stating ``spec`` exactly: (ph, pw), 'same', or None if neither fits."""
    hp, wp = spec.pooled_hw
    kh, kw = spec.weight.shape[2:]
    sym = tuple(
        ((hw + 2 * p - d * (k - 1) - 1) // s + 1)
        for hw, p, d, k, s in zip((hp, wp), spec.pad, spec.dilation, (kh, kw), spec.stride)
    )
    if sym == tuple(spec.output_hw):
        return spec.pad
    same = tuple(d * (k - 1) // 2 for d, k in zip(spec.dilation, (kh, kw)))
    if spec.stride == (1, 1) and tuple(spec.output_hw) == (hp, wp) and tuple(spec.pad) == same:
        return "same"
    return None


def _conv_nodes(spec: ConvSpec, src_shape: tuple[int, ...], bias: np.ndarray | None) -> _ConvOut | None:
    """The NIR nodes of an implicit convolution from a source of NIR shape ``src_shape``, or None if NIR cannot
    state it (then it is written as explicit synapses)."""
    import nir

    if spec.groups != 1:
        return None  # NIR 1.0 Conv2d declares weight.shape[1] = C_in / groups input channels: fails its type check
    pad = _conv_padding(spec)
    if pad is None:
        return None
    c_out = spec.weight.shape[0]
    b = np.zeros(c_out) if bias is None else bias
    w = spec.weight
    nodes: list[tuple[str, Any]] = []
    if tuple(src_shape) == tuple(spec.in_shape):
        if spec.pool > 1:
            k = np.array([spec.pool, spec.pool])
            if np.isclose(spec.pool_scale, 1.0 / spec.pool**2, rtol=1e-12, atol=0.0):
                nodes.append((".pool", nir.AvgPool2d(kernel_size=k, stride=k.copy(), padding=np.zeros(2, int))))
            else:
                nodes.append((".pool", nir.SumPool2d(kernel_size=k, stride=k.copy(), padding=np.zeros(2, int))))
                w = w * spec.pool_scale
        conv = nir.Conv2d(
            input_shape=np.array(spec.pooled_hw),
            weight=w.copy(),
            stride=np.array(spec.stride),
            padding=pad if isinstance(pad, str) else np.array(pad),
            dilation=np.array(spec.dilation),
            groups=1,
            bias=np.asarray(b, dtype=np.float64),
        )
        nodes.append(("", conv))
        return _ConvOut(nodes, (c_out,) + tuple(spec.output_hw))
    c_in, h, wd = spec.in_shape
    if (
        len(src_shape) == 2
        and tuple(src_shape) == (c_in, wd)
        and h == 1
        and w.shape[2] == 1
        and spec.pool == 1
        and spec.stride[0] == 1
        and spec.dilation[0] == 1
        and spec.output_hw[0] == 1
        and (pad == "same" or pad[0] == 0)
    ):
        conv1 = nir.Conv1d(
            input_shape=int(wd),
            weight=w[:, :, 0, :].copy(),
            stride=int(spec.stride[1]),
            padding=pad if isinstance(pad, str) else int(pad[1]),
            dilation=int(spec.dilation[1]),
            groups=1,
            bias=np.asarray(b, dtype=np.float64),
        )
        return _ConvOut([("", conv1)], (c_out, int(spec.output_hw[1])))
    return None


def _per_channel(b: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``b`` (flat, one value per neuron of ``shape``) as one value per channel, if it is constant per channel."""
    m = b.reshape(shape[0], -1)
    if np.allclose(m, m[:, :1], rtol=1e-12, atol=0.0):
        return m[:, 0].copy()
    return None
