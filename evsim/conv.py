"""Convolution geometry: one record describes an optionally pre-pooled 2-D convolution between two populations.

A `ConvSpec` maps a source population of shape ``(C_in, H, W)`` to a target of shape ``(C_out, H_out, W_out)``:

1. optional non-overlapping sum/average pooling of the source (``pool`` x ``pool`` windows, stride = window, no
   padding; the trailing rows/columns that fill no window are dropped, as PyTorch does), giving ``(C_in, Hp, Wp)``;
2. cross-correlation with ``weight[C_out, C_in / groups, kh, kw]``, ``stride``, ``dilation``, zero padding of
   ``pad_top``/``pad_left`` (the bottom/right padding only shows in the output size), ``groups``.

The engine never expands it: for a spike of source neuron ``(c, y, x)`` it computes the targets on the fly
(`targets_of` is the plain-Python statement of that rule, the engine's Numba loop is the fast one). `expand` builds
the equivalent explicit synapse list with vectorised index arithmetic, an independent construction used as the
reference in tests and when a chain cannot stay implicit. A Conv1d is a ConvSpec with ``H = 1``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import NetworkError


@dataclasses.dataclass(frozen=True, eq=False)
class ConvSpec:
    in_shape: tuple[int, int, int]  # (C_in, H, W) of the source population
    weight: np.ndarray  # float64 [C_out, C_in // groups, kh, kw]
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)  # zeros added before the first row / column
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    out_hw: tuple[int, int] | None = None  # (H_out, W_out); None: symmetric padding
    pool: int = 1  # pre-pooling window (1: none)
    pool_scale: float = 1.0  # 1 for sum pooling, 1 / pool**2 for average pooling

    def __post_init__(self) -> None:
        w = np.ascontiguousarray(self.weight, dtype=np.float64)
        object.__setattr__(self, "weight", w)
        c_in, h, wd = self.in_shape
        if w.ndim != 4:
            raise NetworkError(f"convolution weight must be [C_out, C_in/groups, kh, kw], got shape {w.shape}")
        if self.groups < 1 or c_in % self.groups or w.shape[0] % self.groups or w.shape[1] != c_in // self.groups:
            raise NetworkError(
                f"convolution: weight {w.shape} with groups={self.groups} does not fit {c_in} input channels"
            )
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.pad) < 0 or self.pool < 1:
            raise NetworkError("convolution: stride, dilation, pooling must be >= 1 and padding >= 0")
        if not np.all(np.isfinite(w)):
            raise NetworkError("convolution weight contains NaN or Inf")
        if self.out_hw is None:
            hp, wp = self.pooled_hw
            oh = (hp + 2 * self.pad[0] - self.dilation[0] * (w.shape[2] - 1) - 1) // self.stride[0] + 1
            ow = (wp + 2 * self.pad[1] - self.dilation[1] * (w.shape[3] - 1) - 1) // self.stride[1] + 1
            object.__setattr__(self, "out_hw", (int(oh), int(ow)))
        if min(self.output_hw) < 1:
            raise NetworkError(f"convolution: input {self.in_shape} is too small for kernel {w.shape[2:]}")

    @property
    def output_hw(self) -> tuple[int, int]:
        """(H_out, W_out): ``out_hw`` as given, or as computed on construction from symmetric padding."""
        if self.out_hw is None:  # set in __post_init__; only a bypassed constructor leaves it unset
            raise NetworkError("convolution: output size not computed")
        return self.out_hw

    @property
    def pooled_hw(self) -> tuple[int, int]:
        return self.in_shape[1] // self.pool, self.in_shape[2] // self.pool

    @property
    def out_shape(self) -> tuple[int, int, int]:
        oh, ow = self.output_hw
        return int(self.weight.shape[0]), oh, ow

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    def params(self) -> np.ndarray:
        """The int64 parameter vector the engine reads (layout fixed in `evsim.engine.loop.CONV_FIELDS`)."""
        c_in, h, w = self.in_shape
        c_out, kh, kw = self.weight.shape[0], self.weight.shape[2], self.weight.shape[3]
        return np.array(
            [
                c_in,
                h,
                w,
                c_out,
                self.output_hw[0],
                self.output_hw[1],
                kh,
                kw,
                self.stride[0],
                self.stride[1],
                self.pad[0],
                self.pad[1],
                self.dilation[0],
                self.dilation[1],
                self.groups,
                self.pool,
            ],
            dtype=np.int64,
        )

    def targets_of(self, j: int) -> list[tuple[int, float]]:
        """(target index, weight) of source neuron ``j`` — the rule the engine applies, in plain Python."""
        c_in, h, w = self.in_shape
        c, y, x = j // (h * w), (j // w) % h, j % w
        y, x = y // self.pool, x // self.pool
        if y >= self.pooled_hw[0] or x >= self.pooled_hw[1]:
            return []
        c_out, cg, kh, kw = self.weight.shape
        og = c_out // self.groups
        g = c // cg
        out = []
        for co in range(g * og, (g + 1) * og):
            for ky in range(kh):
                ny = y + self.pad[0] - ky * self.dilation[0]
                if ny % self.stride[0] or not 0 <= ny // self.stride[0] < self.output_hw[0]:
                    continue
                for kx in range(kw):
                    nx = x + self.pad[1] - kx * self.dilation[1]
                    if nx % self.stride[1] or not 0 <= nx // self.stride[1] < self.output_hw[1]:
                        continue
                    wt = self.weight[co, c - g * cg, ky, kx] * self.pool_scale
                    if wt != 0:
                        t = (co * self.output_hw[0] + ny // self.stride[0]) * self.output_hw[1] + nx // self.stride[1]
                        out.append((t, wt))
        return out

    def expand(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every synapse as arrays ``(pre, post, weight)`` (non-zero weights only), built output-side."""
        c_in, h, w = self.in_shape
        c_out, cg, kh, kw = self.weight.shape
        oh, ow = self.output_hw
        og = c_out // self.groups
        co, oy, ox, ci, ky, kx = np.meshgrid(
            np.arange(c_out), np.arange(oh), np.arange(ow), np.arange(cg), np.arange(kh), np.arange(kw), indexing="ij"
        )
        py = oy * self.stride[0] - self.pad[0] + ky * self.dilation[0]
        px = ox * self.stride[1] - self.pad[1] + kx * self.dilation[1]
        hp, wp = self.pooled_hw
        ok = (py >= 0) & (py < hp) & (px >= 0) & (px < wp)
        wt = self.weight[co, ci, ky, kx] * self.pool_scale
        ok &= wt != 0
        cin_abs = (co // og) * cg + ci
        post = ((co * oh + oy) * ow + ox)[ok]
        pre_c, pre_y, pre_x, wt = cin_abs[ok], py[ok], px[ok], wt[ok]
        if self.pool == 1:
            return (pre_c * h + pre_y) * w + pre_x, post, wt
        # each pooled pixel sums a pool x pool window of source pixels
        dy, dx = np.meshgrid(np.arange(self.pool), np.arange(self.pool), indexing="ij")
        sy = pre_y[:, None] * self.pool + dy.reshape(1, -1)
        sx = pre_x[:, None] * self.pool + dx.reshape(1, -1)
        pre = (pre_c[:, None] * h + sy) * w + sx
        return pre.reshape(-1), np.repeat(post, self.pool**2), np.repeat(wt, self.pool**2)

    def nbytes(self) -> int:
        return int(self.weight.nbytes + 16 * 8)


def conv_output_size(n: int, k: int, stride: int, pad_total: int, dilation: int) -> int:
    return (n + pad_total - dilation * (k - 1) - 1) // stride + 1
