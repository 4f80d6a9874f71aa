"""Streaming inference (`evsim.stream`): events pushed as they arrive, the network advanced step by step, a
running decision, and early exit once the output is confident enough. (The module is ``streaming`` so that
``evsim.stream`` stays the function.)

    s = evsim.stream(net)                 # one sample, state kept between calls
    s.push(times, indices)                # input events, times in the model's steps (absolute), not yet simulated
    new = s.advance(t)                    # simulate up to and including step t: the output's new spikes (evsim.Spikes)
    s.decision, s.confidence, s.time      # argmax of output spike counts so far, its softmax probability, next step

The stream runs the same event loop as `evsim.run` (`evsim.engine.loop.run_discrete`), resumed from the state the
last call left (calendar ring with the deliveries in flight, membranes, last updates, predicted wakes, Poisson
generator): the spikes are those of a batch run of the same events, spike for spike, however the events are split
into pushes and the steps into advances (a Hypothesis property in the tests). Its horizon (default 2**31 - 1
steps) plays the part of a batch run's length: nothing is delivered or predicted beyond it.

**Early exit** ("Dynamic Confidence", Li et al., ICCV 2023): a sample stops at the first step where the
confidence, the largest softmax probability of the output spike counts so far, reaches a threshold; the decision
is then the argmax at that step. `early_exit_curve` runs every sample through a stream step by step and gives, per
threshold, the accuracy, the mean latency in steps and the SOPs done (vs the full run).
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .engine import CompiledNetwork
from .engine.loop import new_state, run_discrete
from .errors import InputError, NumericalError
from .network import Network
from .simulation import Spikes, _compiled

__all__ = ["Stream", "stream", "early_exit_curve", "EarlyExitCurve", "confidence"]

HORIZON = 2**31 - 1
_PARAMS = tuple(inspect.signature(run_discrete.py_func).parameters)  # run_discrete's arguments, in order
_VARYING = tuple(_PARAMS.index(k) for k in ("T", "t_begin", "t_end", "state", "ev_t", "ev_n", "ev_val"))


def confidence(counts: np.ndarray) -> float:
    """Largest softmax probability of the output spike counts (1/n_out when there is no spike yet)."""
    c = np.asarray(counts, dtype=np.float64)
    e = np.exp(c - c.max())
    return float(e.max() / e.sum())


class Stream:
    """One sample, simulated as its events arrive (see the module docstring). Build it with `evsim.stream`."""

    def __init__(
        self, net: Network | CompiledNetwork, *, horizon: int = HORIZON, seed: int = 0, port: str | None = None
    ) -> None:
        cn = net if isinstance(net, CompiledNetwork) else _compiled(net)
        if not isinstance(cn, CompiledNetwork):
            raise InputError(
                "stream() runs discrete-time networks; an exact-time network runs with evsim.run(net, events, "
                "duration=seconds)"
                if isinstance(net, Network) and net.exact
                else f"stream() needs an evsim.Network, got {type(net).__name__}"
            )
        self.cn, self.net = cn, cn.net
        net_ = cn.net
        if not net_.inputs and port is not None:
            raise InputError("the network has no input port")
        self.port = port or (net_.inputs[0] if net_.inputs else None)
        if self.port is not None and self.port not in net_.inputs:
            raise InputError(f"unknown input port {self.port!r}; the network's inputs are {list(net_.inputs)}")
        if int(horizon) != horizon or not 1 <= horizon <= 2**62 // max(cn.arrays["N"], 1):
            raise InputError(f"horizon must be a positive number of steps below 2**62 / neurons, got {horizon!r}")
        if int(seed) != seed or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.horizon = int(horizon)
        a = cn.arrays
        self._state = new_state(a["N"], a["P"], a["D"], np.zeros(a["N"]), np.asarray(cn.v_init, np.float64), int(seed))
        self.time = 0  # the next step to simulate
        out = net_.outputs[0]
        self._out = cn.index(out)
        self._out_lo = int(cn.pop_off[self._out])
        self._n_out = net_.population(out).size
        nrn = net_.population(out).neuron
        self._spiking = nrn is None or nrn.spiking
        self._rec = np.zeros(a["P"], dtype=np.int8)
        self._rec[self._out] = 2  # record the output population's spikes only
        self._cnt = np.zeros(1, dtype=np.int64)
        self._ctl = np.zeros(4, dtype=np.int64)
        fixed = dict(cn.arrays, finish=False, ctl=self._ctl, rec_mode=self._rec, cnt=self._cnt)
        self._args: list[Any] = [fixed.get(k) for k in _PARAMS]  # the varying ones (`_VARYING`) set by each advance
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.counts = np.zeros(self._n_out, dtype=np.int64)  # output spikes per neuron so far
        self.membrane = np.zeros(self._n_out)  # a non-spiking output's membrane at the last step
        self.sops = np.zeros(len(cn.proj_names), dtype=np.int64)  # synaptic operations so far, per projection
        self.neuron_updates = 0

    def __repr__(self) -> str:
        return f"Stream(step {self.time}, decision {self.decision}, confidence {self.confidence:.3f})"

    # ---------------------------------------------------------------------------------------------- input
    def push(self, times: Any, indices: Any, values: Any = None) -> None:
        """Queue input events: ``times`` in steps (whole numbers, absolute, not before `time`), ``indices`` of
        neurons of the input port, ``values`` (default 1). Events of one step are delivered in the order pushed."""
        if self.port is None:
            raise InputError("the network has no input port: it takes no events")
        t = np.asarray(times)
        n = np.asarray(indices)
        if t.ndim != 1 or t.shape != n.shape:
            raise InputError(f"push: times and indices must be 1-D of one length, got {t.shape} and {n.shape}")
        if not t.size:
            return
        if not np.issubdtype(t.dtype, np.integer) and (not np.all(np.isfinite(t)) or np.any(t != np.round(t))):
            raise InputError("push: event times are steps and must be whole numbers")
        size = self.net.population(self.port).size
        if not np.issubdtype(n.dtype, np.integer) or n.min() < 0 or n.max() >= size:
            raise InputError(f"push: indices must be integers in [0, {size}) (input port {self.port!r})")
        if t.min() < self.time:
            raise InputError(f"push: an event at step {int(t.min())} comes after the stream reached step {self.time}")
        if t.max() >= self.horizon:
            raise InputError(f"push: an event at step {int(t.max())} is beyond the stream's horizon {self.horizon}")
        v = np.ones(t.shape) if values is None else np.broadcast_to(np.asarray(values, dtype=np.float64), t.shape)
        if not np.all(np.isfinite(v)):
            raise InputError("push: event values contain NaN or Inf")
        off = int(self.cn.pop_off[self.cn.index(self.port)])
        self._pending.append((t.astype(np.int64), n.astype(np.int64) + off, v.astype(np.float64)))

    # ---------------------------------------------------------------------------------------------- simulation
    def advance(self, t: int) -> Spikes:
        """Simulate every step up to and including ``t``; returns the output population's spikes of those steps
        (absolute step times, local neuron indices). ``t`` below `time` simulates nothing."""
        if int(t) != t:
            raise InputError(f"advance: t must be a whole step, got {t!r}")
        t1 = int(t) + 1
        if t1 > self.horizon:
            raise InputError(f"advance: step {int(t)} is beyond the stream's horizon {self.horizon}")
        if t1 <= self.time:
            e = np.zeros(0, dtype=np.int64)
            return Spikes(e, e, e, e)
        ev_t, ev_n, ev_v = self._take(t1)
        self._ctl[:] = (0, -1, -1, 0)
        args = self._args.copy()  # positional: a call with ~50 keywords costs the dispatcher ~10 us more
        for k, v in zip(_VARYING, (self.horizon, self.time, t1, self._state, ev_t, ev_n, ev_v)):
            args[k] = v
        try:
            out = run_discrete(*args)
        except OverflowError as e:
            raise NumericalError(str(e)) from None
        spike_t, spike_n, spike_c, vtrace, _, _, n_upd, sops, heap = out
        st = self._state
        self._state = st[:10] + (heap,) + st[11:]  # the wake heap may have grown
        self.time = t1
        self.sops += sops
        self.neuron_updates += int(n_upd)
        local = spike_n.astype(np.int64) - self._out_lo
        counts = spike_c.astype(np.int64)
        if local.shape[0]:
            np.add.at(self.counts, local, counts)
        if not self._spiking and vtrace.shape[0]:
            self.membrane = vtrace[-1].copy()
        return Spikes(spike_t.astype(np.int64), local, counts, np.zeros(local.shape[0], dtype=np.int64))

    def _take(self, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The queued events before step ``t1``, in step order (push order within a step); the rest stay."""
        if not self._pending:
            e = np.zeros(0, dtype=np.int64)
            return e, e, np.zeros(0)
        t, n, v = (np.concatenate(c) for c in zip(*self._pending))
        o = np.argsort(t, kind="stable")
        t, n, v = t[o], n[o], v[o]
        k = int(np.searchsorted(t, t1))
        self._pending = [(t[k:], n[k:], v[k:])] if k < t.shape[0] else []
        return t[:k], n[:k], v[:k]

    # ---------------------------------------------------------------------------------------------- decision
    @property
    def decision(self) -> int:
        """Argmax of the output spike counts so far (of the membrane for a non-spiking output)."""
        return int(np.argmax(self.counts if self._spiking else self.membrane))

    @property
    def confidence(self) -> float:
        return confidence(self.counts if self._spiking else self.membrane)


def stream(net: Network | CompiledNetwork, *, horizon: int = HORIZON, seed: int = 0, port: str | None = None) -> Stream:
    """A `Stream` of ``net`` for one sample: push events, advance, read the decision (module docstring).
    ``seed`` seeds Poisson sources (as sample 0 of `evsim.run` with that seed); ``port`` the input port fed."""
    return Stream(net, horizon=horizon, seed=seed, port=port)


# ------------------------------------------------------------------------------------------------ early exit
@dataclasses.dataclass(frozen=True)
class EarlyExitCurve:
    """Accuracy, latency and SOPs against the confidence threshold of early exit (per threshold ``[K]``)."""

    thresholds: np.ndarray
    accuracy: np.ndarray  # with early exit
    latency: np.ndarray  # mean steps run per sample
    sops: np.ndarray  # mean SOPs per sample
    full_accuracy: float  # every sample run to the end
    full_latency: float
    full_sops: float
    samples: int

    @property
    def sops_saved(self) -> np.ndarray:
        return 1.0 - self.sops / self.full_sops if self.full_sops else np.zeros_like(self.sops)

    @property
    def latency_saved(self) -> np.ndarray:
        return 1.0 - self.latency / self.full_latency

    @property
    def accuracy_lost(self) -> np.ndarray:
        return self.full_accuracy - self.accuracy

    def rows(self) -> list[dict[str, float]]:
        return [
            dict(
                threshold=float(th),
                accuracy=float(a),
                accuracy_lost=float(al),
                latency=float(la),
                latency_saved=float(ls),
                sops=float(s),
                sops_saved=float(ss),
            )  # fmt: skip
            for th, a, al, la, ls, s, ss in zip(
                self.thresholds,
                self.accuracy,
                self.accuracy_lost,
                self.latency,
                self.latency_saved,
                self.sops,
                self.sops_saved,
            )  # fmt: skip
        ]


def early_exit_curve(
    net: Network, x: np.ndarray, labels: Any, thresholds: Sequence[float] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
) -> EarlyExitCurve:
    """Run each sample of ``x`` (``[B, T, n_in]``) through a `Stream` one step at a time and record, after every
    step, the decision, the confidence and the SOPs so far; a sample exits at the first step whose confidence
    reaches the threshold (else it runs all ``T`` steps)."""
    x = np.asarray(x)
    labels = np.asarray(labels).reshape(-1)
    if x.ndim != 3 or labels.shape[0] != x.shape[0]:
        raise InputError(f"early_exit_curve: x must be [B, T, n_in] with one label per sample; got {x.shape}")
    th = np.asarray(thresholds, dtype=np.float64)
    B, T = x.shape[0], x.shape[1]
    dec = np.zeros((B, T), dtype=np.int64)
    conf = np.zeros((B, T))
    sops = np.zeros((B, T), dtype=np.int64)
    cn = _compiled(net)
    for b in range(B):
        s = Stream(cn)
        tt, nn = np.nonzero(x[b])
        s.push(tt, nn, x[b][tt, nn])
        for t in range(T):
            s.advance(t)
            dec[b, t], conf[b, t], sops[b, t] = s.decision, s.confidence, int(s.sops.sum())
    ok = dec == labels[:, None]
    # exit step per (threshold, sample): the first step with confidence >= threshold, else the last
    reach = conf[None, :, :] >= th[:, None, None]
    exit_ = np.where(reach.any(axis=2), reach.argmax(axis=2), T - 1)
    rows = np.arange(B)[None, :]
    return EarlyExitCurve(
        thresholds=th,
        accuracy=ok[rows, exit_].mean(axis=1),
        latency=(exit_ + 1).mean(axis=1),
        sops=sops[rows, exit_].mean(axis=1),
        full_accuracy=float(ok[:, -1].mean()),
        full_latency=float(T),
        full_sops=float(sops[:, -1].mean()),
        samples=B,
    )


def write_early_exit(
    net: Network, x: Any, labels: Any, thresholds: Sequence[float], out: str | Path
) -> tuple[list[str], list[Path]]:
    """`early_exit_curve` written into folder ``out`` (early_exit.json, early_exit.png); returns the lines the
    CLI prints and the files."""
    from .io.files import write_json
    from .plots import early_exit, save_png

    if labels is None:
        raise InputError("the early-exit curve needs labels in the input")
    c = early_exit_curve(net, x, labels, thresholds)
    out = Path(out)
    summary = {"samples": c.samples, "full_accuracy": c.full_accuracy, "full_latency": c.full_latency}
    write_json(out / "early_exit.json", {**summary, "full_sops": c.full_sops, "rows": c.rows()})
    save_png(early_exit(c), out / "early_exit.png")
    lines = [f"early exit (full run: accuracy {c.full_accuracy:.4f}, {c.full_latency:g} steps, {c.full_sops:.0f} SOPs)"]
    lines += [
        f"  >= {r['threshold']:<6g} accuracy {r['accuracy']:.4f} ({-100 * r['accuracy_lost'] + 0.0:+.1f} pt), latency "
        f"{r['latency']:.1f} steps (-{100 * r['latency_saved']:.0f}%), SOPs -{100 * r['sops_saved']:.0f}%"
        for r in c.rows()
    ]
    return lines, [out / "early_exit.json", out / "early_exit.png"]
