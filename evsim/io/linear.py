"""Linear NIR nodes and their fusion into projections.

Every node between two populations is linear: Affine, Linear, Scale, Flatten, Delay, Conv1d, Conv2d, SumPool2d,
AvgPool2d. `LinearNode` holds one such node; `apply` composes it onto what reaches its input. What reaches a node
from one source population at one delay is an *operator*, one of

* `IDENTITY` — the source's own output (nothing applied yet);
* a `Pool` — non-overlapping pooling of the source, kept symbolic so that a following convolution absorbs it;
* a `ConvSpec` — an (optionally pre-pooled) convolution of the source: stays implicit in the engine;
* a `scipy.sparse` matrix ``[n_out, n_source]`` — anything else, composed by sparse products (the fallback, and
  the explicit expansion used when ``implicit=False``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Union

import numpy as np
import scipy.sparse as sp

from .. import limits
from ..conv import ConvSpec
from ..errors import EvsimError, ModelFileError

IDENTITY = "identity"


@dataclasses.dataclass(frozen=True)
class Pool:
    """Non-overlapping pooling of a source population (window = stride, no padding)."""

    in_shape: tuple[int, int, int]
    k: int
    scale: float


Operator = Union[str, Pool, ConvSpec, sp.csr_matrix]


@dataclasses.dataclass
class LinearNode:
    """One linear node: ``kind`` is "matrix" (weight ``[n_out, n_in]``), "conv", "pool", "flatten" or "delay"."""

    kind: str
    n_in: int
    n_out: int
    bias: np.ndarray  # [n_out], added every step
    weight: Any = None  # matrix: dense or sparse [n_out, n_in]
    conv: dict[str, Any] | None = None  # conv: ConvSpec fields other than in_shape / pooling
    in_shape: tuple[int, ...] | None = None  # conv, pool: (C, H, W) of the input
    pool: tuple[int, int, int, float] | None = None  # pool: (k, stride, pad, scale)
    delay: np.ndarray | None = None  # delay: [n_out] steps


def to_matrix(op: Operator, n_source: int) -> sp.csr_matrix:
    if isinstance(op, str):
        return sp.identity(n_source, format="csr")
    if isinstance(op, Pool):
        return _pool_matrix(op.in_shape, op.k, op.k, 0, op.scale)
    if isinstance(op, ConvSpec):
        taps = op.n_out * int(np.prod(op.weight.shape[1:])) * op.pool**2
        limits.check_memory(f"an explicit convolution (up to {taps} synapses)", 48.0 * taps)
        pre, post, w = op.expand()
        return sp.csr_matrix((w, (post, pre)), shape=(op.n_out, op.n_in))
    return op


def node_matrix(lin: LinearNode) -> sp.csr_matrix:
    if lin.kind == "matrix":
        return sp.csr_matrix(lin.weight)
    if lin.kind == "conv":
        return to_matrix(ConvSpec(lin.in_shape, **lin.conv), lin.n_in)  # type: ignore[arg-type]
    if lin.kind == "pool":
        k, stride, pad, scale = lin.pool  # type: ignore[misc]
        return _pool_matrix(lin.in_shape, k, stride, pad, scale)  # type: ignore[arg-type]
    return sp.identity(lin.n_in, format="csr")


def apply(lin: LinearNode, op: Operator, n_source: int, source_shape: tuple[int, ...]) -> list[tuple[int, Operator]]:
    """``lin`` after ``op``: a list of (extra delay, operator) — a Delay node may split one operator by delay."""
    if lin.kind == "flatten":
        return [(0, op)]
    if lin.kind == "delay":
        d = np.asarray(lin.delay)
        if np.all(d == d[0]):
            return [(d[0].item(), op)]  # (steps; seconds in exact mode)
        m = to_matrix(op, n_source)
        return [(v.item(), sp.csr_matrix(sp.diags((d == v).astype(float)) @ m)) for v in np.unique(d)]
    if lin.kind == "pool" and isinstance(op, str) and len(source_shape) == 3:
        k, stride, pad, scale = lin.pool  # type: ignore[misc]
        if k == stride and pad == 0:
            return [(0, Pool(tuple(source_shape), k, scale))]  # type: ignore[arg-type]
    if lin.kind == "conv" and isinstance(op, str) and n_source == lin.n_in:
        return [(0, ConvSpec(lin.in_shape, **lin.conv))]  # type: ignore[arg-type]
    if lin.kind == "conv" and isinstance(op, Pool):
        c, h, w = op.in_shape
        if (c, h // op.k, w // op.k) == tuple(lin.in_shape):  # type: ignore[arg-type]
            return [(0, ConvSpec(op.in_shape, pool=op.k, pool_scale=op.scale, **lin.conv))]  # type: ignore[arg-type]
    return [(0, sp.csr_matrix(node_matrix(lin) @ to_matrix(op, n_source)))]


def add(a: Operator, b: Operator, n_source: int) -> Operator:
    return sp.csr_matrix(to_matrix(a, n_source) + to_matrix(b, n_source))


def bias_through(lin: LinearNode, bias_in: np.ndarray) -> np.ndarray:
    """The bias after ``lin`` (a constant input passes through the node like any other input)."""
    out = lin.bias.astype(np.float64).copy()
    if np.any(bias_in) and lin.kind != "delay":
        out += node_matrix(lin) @ bias_in
    elif lin.kind == "delay":
        out += bias_in
    return out


# ----------------------------------------------------------------------------------------------------- converters
def _finite(name: str, field: str, a: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise ModelFileError(f"node {name!r}: {field} contains NaN or Inf")
    return a


def _matrix2d(name: str, node: Any) -> np.ndarray:
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2:
        raise ModelFileError(f"node {name!r} ({type(node).__name__}): weight must be a 2-D matrix, got shape {w.shape}")
    return _finite(name, "weight", w)


def _affine(name: str, node: Any, dt: float) -> LinearNode:
    w = _matrix2d(name, node)
    b = _finite(name, "bias", np.asarray(node.bias, dtype=np.float64).reshape(-1))
    if b.shape != (w.shape[0],):
        raise ModelFileError(f"node {name!r} (Affine): bias has {b.size} values for {w.shape[0]} outputs")
    return LinearNode("matrix", w.shape[1], w.shape[0], b, weight=w)


def _linear(name: str, node: Any, dt: float) -> LinearNode:
    w = _matrix2d(name, node)
    return LinearNode("matrix", w.shape[1], w.shape[0], np.zeros(w.shape[0]), weight=w)


def _scale(name: str, node: Any, dt: float) -> LinearNode:
    a = _finite(name, "scale", np.asarray(node.scale, dtype=np.float64).reshape(-1))
    return LinearNode("matrix", a.size, a.size, np.zeros(a.size), weight=sp.diags(a))


def _flatten(name: str, node: Any, dt: float) -> LinearNode:
    n = size_of(node, "input")
    return LinearNode("flatten", n, n, np.zeros(n))


def _delay(name: str, node: Any, dt: float) -> LinearNode:
    d = np.asarray(node.delay, dtype=np.float64).reshape(-1)
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ModelFileError(f"node {name!r} (Delay): delays must be finite and >= 0 seconds")
    if dt == 0.0:  # exact mode: seconds as they are
        return LinearNode("delay", d.size, d.size, np.zeros(d.size), delay=d)
    steps = np.round(d / dt)
    off = np.abs(steps * dt - d) > 1e-6 * np.maximum(dt, np.abs(d))
    if np.any(off):
        raise ModelFileError(f"node {name!r} (Delay): delays {d[off][:3]} s are not whole multiples of dt = {dt} s")
    return LinearNode("delay", d.size, d.size, np.zeros(d.size), delay=steps.astype(np.int64))


def _pair(v: Any, name: str, field: str, n: int) -> tuple[int, ...]:
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, n)
    if a.size != n:
        raise ModelFileError(f"node {name!r}: {field} must have {n} value(s), got {a.tolist()}")
    return tuple(int(x) for x in a)


def _padding(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, np.ndarray) and v.dtype.kind in "SUO":
        v = v.reshape(-1)[0]
        v = v.decode() if isinstance(v, bytes) else str(v)
    return v


def _conv(dim: int) -> Callable[[str, Any, float], LinearNode]:
    def convert(name: str, node: Any, dt: float) -> LinearNode:
        t = f"Conv{dim}d"
        w = _finite(name, "weight", np.asarray(node.weight, dtype=np.float64))
        if w.ndim != dim + 2:
            raise ModelFileError(f"node {name!r} ({t}): weight must have {dim + 2} dimensions, got shape {w.shape}")
        groups = int(np.asarray(node.groups).reshape(-1)[0]) if node.groups is not None else 1
        if node.input_shape is None:
            raise ModelFileError(f"node {name!r} ({t}): input_shape is missing (re-export it with the input shape)")
        hw = _pair(node.input_shape, name, "input_shape", dim)
        stride = _pair(node.stride, name, "stride", dim)
        dil = _pair(node.dilation, name, "dilation", dim)
        k = w.shape[2:]
        pad = _padding(node.padding)
        if isinstance(pad, str):
            if pad == "valid":
                pads = (0,) * dim
                out = tuple((hw[i] - dil[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(dim))
            elif pad == "same":
                if any(s != 1 for s in stride):
                    raise ModelFileError(f"node {name!r} ({t}): padding 'same' needs stride 1, got {stride}")
                pads = tuple(dil[i] * (k[i] - 1) // 2 for i in range(dim))
                out = hw
            else:
                raise ModelFileError(f"node {name!r} ({t}): padding must be 'same', 'valid' or integers, got {pad!r}")
        else:
            pads = _pair(pad, name, "padding", dim)
            out = tuple((hw[i] + 2 * pads[i] - dil[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(dim))
        if dim == 1:
            w, hw, stride, dil, pads, out = (
                w[:, :, None, :],
                (1,) + hw,
                (1,) + stride,
                (1,) + dil,
                (0,) + pads,
                (1,) + out,
            )
        c_in = w.shape[1] * groups
        bias = np.zeros(w.shape[0]) if node.bias is None else np.asarray(node.bias, np.float64).reshape(-1)
        bias = _finite(name, "bias", np.broadcast_to(bias, (w.shape[0],)) if bias.size in (1, w.shape[0]) else bias)
        if bias.shape != (w.shape[0],):
            raise ModelFileError(f"node {name!r} ({t}): bias has {bias.size} values for {w.shape[0]} channels")
        conv: dict[str, Any] = dict(weight=w, stride=stride, pad=pads, dilation=dil, groups=groups, out_hw=out)
        try:
            ConvSpec((c_in,) + hw, **conv)  # validates the geometry
        except EvsimError as e:
            raise ModelFileError(f"node {name!r} ({t}): {e}") from None
        n_out = w.shape[0] * int(np.prod(out))
        return LinearNode(
            "conv", c_in * int(np.prod(hw)), n_out, np.repeat(bias, int(np.prod(out))), conv=conv, in_shape=(c_in,) + hw
        )

    return convert


def _pool(avg: bool) -> Callable[[str, Any, float], LinearNode]:
    def convert(name: str, node: Any, dt: float) -> LinearNode:
        t = "AvgPool2d" if avg else "SumPool2d"
        k = _pair(node.kernel_size, name, "kernel_size", 2)
        s = _pair(node.stride if node.stride is not None else node.kernel_size, name, "stride", 2)
        p = _pair(node.padding if node.padding is not None else 0, name, "padding", 2)
        if len(set(k)) != 1 or len(set(s)) != 1 or len(set(p)) != 1:
            raise ModelFileError(
                f"node {name!r} ({t}): only square pooling windows are supported, got kernel {k}, "
                f"stride {s}, padding {p}"
            )
        in_shape = tuple(int(x) for x in shape_of(node, "input"))
        if len(in_shape) != 3:
            raise ModelFileError(f"node {name!r} ({t}): needs a (C, H, W) input shape, got {in_shape}")
        scale = 1.0 / (k[0] * k[1]) if avg else 1.0
        m = _pool_matrix(in_shape, k[0], s[0], p[0], scale)  # type: ignore[arg-type]
        return LinearNode(
            "pool", m.shape[1], m.shape[0], np.zeros(m.shape[0]), in_shape=in_shape, pool=(k[0], s[0], p[0], scale)
        )

    return convert


def _pool_matrix(in_shape: tuple[int, int, int], k: int, stride: int, pad: int, scale: float) -> sp.csr_matrix:
    c, h, w = in_shape
    if k < 1 or stride < 1 or pad < 0:
        raise ModelFileError(f"pooling needs kernel and stride >= 1 and padding >= 0, got {k}, {stride}, {pad}")
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if oh < 1 or ow < 1:
        raise ModelFileError(f"pooling of {k} x {k} (padding {pad}) does not fit an input of {h} x {w}")
    limits.check_memory(f"a pooling matrix ({c} x {oh} x {ow} outputs x {k * k} taps)", 64.0 * c * oh * ow * k * k)
    cc, oy, ox, dy, dx = np.meshgrid(
        np.arange(c), np.arange(oh), np.arange(ow), np.arange(k), np.arange(k), indexing="ij"
    )
    y, x = oy * stride - pad + dy, ox * stride - pad + dx
    ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    rows = ((cc * oh + oy) * ow + ox)[ok]
    cols = ((cc * h + y) * w + x)[ok]
    return sp.csr_matrix((np.full(rows.size, scale), (rows, cols)), shape=(c * oh * ow, c * h * w))


LINEAR_CONVERTERS: dict[str, Callable[[str, Any, float], LinearNode]] = {
    "Affine": _affine,
    "Linear": _linear,
    "Scale": _scale,
    "Flatten": _flatten,
    "Delay": _delay,
    "Conv1d": _conv(1),
    "Conv2d": _conv(2),
    "SumPool2d": _pool(False),
    "AvgPool2d": _pool(True),
}


MAX_NEURONS = 2**31 - 1  # one population (the engine indexes neurons with int32 in places)


def shape_of(node: Any, port: str) -> tuple[int, ...]:
    """A node's declared input or output shape: positive whole numbers, at most `MAX_NEURONS` in all."""
    types = node.input_type if port == "input" else node.output_type
    shape = next(iter(types.values()), None) if types else None
    if shape is None:
        raise ModelFileError(f"node {type(node).__name__}: no {port} shape")
    a = np.asarray(shape).reshape(-1)
    ok = a.size > 0 and a.dtype.kind in "iuf" and bool(np.all(np.isfinite(a)) and np.all(a >= 1))
    if not ok or np.any(a != np.round(a)):
        raise ModelFileError(f"node {type(node).__name__}: {port} shape {a.tolist()[:8]} is not positive whole numbers")
    dims = tuple(int(x) for x in a)
    n = 1
    for d in dims:
        n *= d  # Python integers: no wrap-around
    if n > MAX_NEURONS:
        raise ModelFileError(f"node {type(node).__name__}: {port} shape {dims} holds {n} neurons (over {MAX_NEURONS})")
    return dims


def size_of(node: Any, port: str) -> int:
    n = 1
    for d in shape_of(node, port):
        n *= d
    return n
