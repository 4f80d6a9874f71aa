"""Exact operation counts of a run: synaptic operations, MACs, dense operations, spikes, updates, sparsity.

`account(result)` counts, **after** the run, from the spikes the engine recorded (`Result.spikes` holds every
spike of every population, input events included) and the network's synapse tables. Counting is post hoc, so it
costs the event loop nothing: the engine itself keeps only the per-projection SOP total it needs anyway.

Conventions (every figure is per sample, array ``[B]``, unless said otherwise)
-----------------------------------------------------------------------------
evsim's own counters, the exact ones:

* **SOPs** (``sops``): one per delivered event per *non-zero* outgoing synapse. An event of source neuron ``j`` at
  step ``t`` is delivered along a synapse of delay ``d`` only if ``t + d < T`` (what arrives after the last step
  never happens). A multi-spike (count ``c > 1``) is one event carrying ``c``: one SOP per synapse. This is exactly
  what the engine counts (`Result.sops_by_projection`).
* **ACs / MACs** (``acs``, ``macs``): the SOPs split by event value: an event of value +-1 (a spike) costs an
  accumulate; any other value (a real-valued input, a multi-spike count) costs a multiply-accumulate. This gives
  "MACs of layers fed by real-valued inputs".
* **dense operations** (``dense``): every structural connection at every step, zero weights and silent sources
  included (a clock-driven dense implementation). For an explicit projection that is ``n_source x n_target`` (the
  dense weight matrix); for a convolution the connections of the kernel over the (pooled) input, borders exact.
* **spikes** / **events**: per population, the sum of spike counts (input: of values) and the number of non-zero
  (step, neuron) entries; **neuron updates**: ``dense`` = every neuron of every non-input population at every step
  (the clock-driven figure, NeuroBench ``MembraneUpdates`` when every membrane changes every step), ``event`` =
  the updates the event-driven engine actually did (`Result.neuron_updates`; per network, the engine does not
  split it by population).
* **activation sparsity**: 1 - events / (neurons x steps) over spiking non-input populations (NeuroBench's
  ``ActivationSparsity``: the zeros among all spike-layer outputs). **connection sparsity**: zero weights / all
  weights (explicit: the dense matrix; convolution: the kernel), NeuroBench's ``ConnectionSparsity`` unrounded.
* **memory**: `Network.nbytes` (evsim's arrays: synapse tables or kernels, neuron parameters).

Published conventions, labelled, and where they differ from ``sops``:

* **NeuroBench** ``SynapticOperations`` (``Effective_ACs``, ``Effective_MACs``, ``Dense``, mean per sample):
  counts a layer's input entries that are non-zero times their non-zero weights, at every step, with no delays
  (no ``t + d < T`` truncation) and no bias. A layer's input at one step counts as ACs when all its values are
  0/+-1, otherwise *all* its operations count as MACs (decided per batch tensor in NeuroBench; here per sample,
  i.e. NeuroBench with batch size 1 — the same for any batch when inputs are all binary or all real). Behind a
  pooling stage it counts the non-zero *pooled* inputs, evsim the source spikes (each goes through the pool).
  ``Dense`` equals evsim's ``dense``.
* **Sinabs** synops (``synops_per_timestep``, ``synops_per_second``): input *values* (spike counts) times the
  structural fan-out, zero weights included (``Linear``: ``out_features``; ``Conv2d``: the connection map of an
  all-ones kernel), summed over neurons, averaged over samples and steps; per second divides by ``dt``.
* **Spikformer / Spike-driven Transformer** energy ``E = E_MAC x FLOPs(first layer) + E_AC x SOPs``: layers fed
  by real-valued input are costed as dense MACs at every step (``spikformer_flops``); every other layer as
  ``SOPs = firing rate x T x FLOPs`` (``spikformer_sops``), FLOPs being the layer's dense MACs per step (for a
  convolution ``C_out H_out W_out C_in/groups k_h k_w``, no border correction), which equals spikes x fan-out for
  a dense layer with zero weights included, and over-counts at convolution borders.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .network import ConvProjection, Network, Population, Projection
from .counting import projection_counts
from .simulation import Result, Spikes


# ------------------------------------------------------------------------------------------------ static layer data
@dataclasses.dataclass(frozen=True)
class _Layer:
    """What the counters need of one projection, independent of the run.

    A projection's *layer input* is what a framework's Linear/Conv layer sees: the source population itself, or
    its pooled map behind a convolution's pooling stage. ``in_index[j]`` maps source neuron ``j`` to its layer
    input entry (-1: dropped by pooling); ``fan_nz`` / ``fan_all`` give each entry's non-zero / structural fan-out.
    """

    in_index: np.ndarray  # int64 [n_source]
    fan_nz: np.ndarray  # int64 [n_layer_in]: non-zero synapses per layer input entry
    fan_all: np.ndarray  # int64 [n_layer_in]: structural connections (zero weights included)
    weights: int  # weight entries (explicit: n_source x n_target; convolution: kernel size)
    zero_weights: int
    flops: int  # dense MACs per step, Spikformer's FLOPs
    delay_key: np.ndarray | None  # explicit projections with delays: sorted row * (D + 2) + delay, non-zero synapses
    delay_row0: np.ndarray | None  # first position of each row in delay_key
    max_delay: int

    @property
    def connections(self) -> int:
        return int(self.fan_all.sum())


def _explicit_layer(q: Projection, n_src: int, n_tgt: int) -> _Layer:
    keep = q.weights != 0
    rows = np.repeat(np.arange(n_src, dtype=np.int64), np.diff(q.indptr))[keep]
    nnz = np.bincount(rows, minlength=n_src).astype(np.int64)
    delays = q.delays[keep].astype(np.int64)
    dmax = int(delays.max()) if delays.size else 0
    key = row0 = None
    if dmax > 0:
        key = np.sort(rows * (dmax + 2) + delays)
        row0 = np.zeros(n_src, dtype=np.int64)
        np.cumsum(nnz[:-1], out=row0[1:])
    return _Layer(
        np.arange(n_src, dtype=np.int64),
        nnz,
        np.full(n_src, n_tgt, dtype=np.int64),
        n_src * n_tgt,
        n_src * n_tgt - int(nnz.sum()),
        n_src * n_tgt,
        key,
        row0,
        dmax,
    )


def _conv_fanout(spec: Any, mask: np.ndarray) -> np.ndarray:
    """Fan-out of each pooled input entry ``(c, y, x)`` through the kernel entries where ``mask`` is true."""
    c_in = spec.in_shape[0]
    c_out, cg, kh, kw = spec.weight.shape
    hp, wp = spec.pooled_hw
    oh, ow = spec.output_hw
    # per input channel, how many (output channel, ky, kx) kernel entries it uses
    per_c = mask.reshape(spec.groups, c_out // spec.groups, cg, kh, kw).sum(axis=1).reshape(c_in, kh, kw)

    def valid(n: int, k: int, stride: int, pad: int, dil: int, n_out: int) -> np.ndarray:
        pos = np.arange(n)[:, None] + pad - np.arange(k)[None, :] * dil  # [input position, kernel offset]
        return ((pos >= 0) & (pos % stride == 0) & (pos // stride < n_out)).astype(np.int64)

    vy = valid(hp, kh, spec.stride[0], spec.pad[0], spec.dilation[0], oh)
    vx = valid(wp, kw, spec.stride[1], spec.pad[1], spec.dilation[1], ow)
    return np.einsum("ckl,yk,xl->cyx", per_c.astype(np.int64), vy, vx).reshape(-1)


def _conv_layer(q: ConvProjection) -> _Layer:
    spec = q.spec
    c_in, h, w = spec.in_shape
    hp, wp = spec.pooled_hw
    c, y, x = np.unravel_index(np.arange(c_in * h * w), (c_in, h, w))
    y, x = y // spec.pool, x // spec.pool
    in_index = np.where((y < hp) & (x < wp), (c * hp + y) * wp + x, -1).astype(np.int64)
    c_out, cg, kh, kw = spec.weight.shape
    oh, ow = spec.output_hw
    return _Layer(
        in_index,
        _conv_fanout(spec, spec.weight != 0),
        _conv_fanout(spec, np.ones(spec.weight.shape, bool)),
        int(spec.weight.size),
        int(np.sum(spec.weight == 0)),
        c_out * oh * ow * cg * kh * kw,
        None,
        None,
        0,
    )


def _layer(net: Network, q: Projection | ConvProjection) -> _Layer:
    if isinstance(q, ConvProjection):
        return _conv_layer(q)
    return _explicit_layer(q, net.population(q.source).size, net.population(q.target).size)


# ------------------------------------------------------------------------------------------------ counters
# the per-sample fields of `ProjectionCounts` that add up over samples (`Accounting.counters`)
COUNTER_FIELDS = ("sops", "acs", "macs", "dense", "neurobench_acs", "neurobench_macs", "sinabs_synops",
                  "spikformer_flops", "spikformer_sops")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ProjectionCounts:
    """Counters of one projection (per sample ``[B]`` unless said otherwise; see the module docstring)."""

    name: str
    source: str
    target: str
    synapses: int  # non-zero synapses
    connections: int  # structural connections per step (zero weights included): dense ops per step
    weights: int  # weight entries (explicit: n_source x n_target; convolution: kernel size)
    zero_weights: int
    flops: int  # dense MACs per step (Spikformer's FLOPs)
    sops: np.ndarray  # evsim: delivered events x non-zero synapses (== Result.sops_by_projection)
    acs: np.ndarray  # the SOPs of +-1 events
    macs: np.ndarray  # the SOPs of other values (real-valued input, multi-spike counts)
    sops_per_step: np.ndarray  # [B, T] SOPs by the step of the presynaptic event
    dense: np.ndarray  # connections x steps
    neurobench_acs: np.ndarray  # NeuroBench Effective_ACs of this layer
    neurobench_macs: np.ndarray  # NeuroBench Effective_MACs of this layer
    sinabs_synops: np.ndarray  # sum of input values x structural fan-out (over the whole sample)
    spikformer_flops: np.ndarray  # dense MACs x steps if the layer is fed real values, else 0
    spikformer_sops: np.ndarray  # firing rate x T x FLOPs if the layer is fed spikes, else 0

    @property
    def connection_sparsity(self) -> float:
        return self.zero_weights / self.weights if self.weights else 0.0


@dataclasses.dataclass(frozen=True)
class PopulationCounts:
    """Counters of one population (per sample ``[B]`` unless said otherwise)."""

    name: str
    size: int
    kind: str  # "input", or the neuron model ("LIF", ...)
    spiking: bool  # emits spikes (False for input populations and non-spiking models)
    binary: bool  # every event is +-1 (a spike)
    spikes: np.ndarray  # sum of spike counts (input: of values)
    events: np.ndarray  # non-zero (step, neuron) entries
    events_per_step: np.ndarray  # [B, T]
    spikes_per_neuron: np.ndarray  # [n] mean over samples of the spike count (input: sum of values) per neuron
    neuron_steps: int  # size x steps: updates of a clock-driven simulation (0 for inputs)

    @property
    def activation_sparsity(self) -> float:
        total = self.size * self.events_per_step.shape[1] * self.events.shape[0]
        return 1.0 - float(self.events.sum()) / total if total else 1.0


@dataclasses.dataclass(frozen=True)
class Accounting:
    """All counters of one run (`account`). Per-sample arrays have a leading sample axis even for one sample."""

    samples: int
    steps: int
    dt: float | None
    projections: dict[str, ProjectionCounts]
    populations: dict[str, PopulationCounts]
    neuron_updates: np.ndarray  # [B] updates the event-driven engine did
    neuron_updates_dense: int  # per sample: every non-input neuron at every step
    memory_bytes: int

    # -------------------------------------------------------------------------------------------- totals
    def total(self, field: str) -> np.ndarray:
        """Per-sample sum over projections of a `ProjectionCounts` field (``"sops"``, ``"dense"``, ...)."""
        return sum((getattr(p, field) for p in self.projections.values()), np.zeros(self.samples, dtype=np.int64))

    @property
    def sops(self) -> np.ndarray:
        return self.total("sops")

    @property
    def activation_sparsity(self) -> float:
        """NeuroBench ``ActivationSparsity``: zeros among all outputs of spiking (non-input) populations."""
        pops = [p for p in self.populations.values() if p.spiking]
        total = sum(p.size for p in pops) * self.steps * self.samples
        return 1.0 - sum(float(p.events.sum()) for p in pops) / total if total else 1.0

    @property
    def connection_sparsity(self) -> float:
        """NeuroBench ``ConnectionSparsity`` (unrounded): zero weights / all weights of every projection."""
        w = sum(p.weights for p in self.projections.values())
        return sum(p.zero_weights for p in self.projections.values()) / w if w else 0.0

    def counters(self) -> dict[str, np.ndarray]:
        """Every additive per-sample counter, ``{name: [B]}`` (``"sops/<projection>"``, ``"spikes/<population>"``,
        ...): a dataset's totals are their sums over samples (`evsim.parallel` adds them up chunk by chunk)."""
        B = self.samples
        out: dict[str, np.ndarray] = {
            "steps": np.full(B, self.steps, dtype=np.int64),
            "neuron_updates": self.neuron_updates,
            "neuron_updates_dense": np.full(B, self.neuron_updates_dense, dtype=np.int64),
        }
        for k, q in self.projections.items():
            for f in COUNTER_FIELDS:
                out[f"{f}/{k}"] = np.asarray(getattr(q, f))
        for k, p in self.populations.items():
            out[f"spikes/{k}"] = np.asarray(p.spikes)
            out[f"events/{k}"] = np.asarray(p.events)
        return out

    # -------------------------------------------------------------------------------------------- conventions
    def neurobench(self) -> dict[str, float]:
        """NeuroBench's metrics as it names them (means per sample)."""
        return {
            "Effective_ACs": float(self.total("neurobench_acs").mean()),
            "Effective_MACs": float(self.total("neurobench_macs").mean()),
            "Dense": float(self.total("dense").mean()),
            "ActivationSparsity": self.activation_sparsity,
            "ConnectionSparsity": self.connection_sparsity,
            "MembraneUpdates": float(self.neuron_updates_dense),
        }

    def sinabs(self) -> dict[str, Any]:
        """Sinabs' synops: per time step (mean over samples and steps), per second with ``dt``; per layer too."""
        per_layer = {k: float(p.sinabs_synops.mean()) / self.steps for k, p in self.projections.items()}
        per_step = sum(per_layer.values())
        out: dict[str, Any] = {"synops_per_timestep": per_step, "layers_per_timestep": per_layer}
        if self.dt:
            out["synops_per_second"] = per_step / self.dt
        return out

    def spikformer(self) -> dict[str, float]:
        """The two counts of ``E = E_MAC x FLOPs(first layer) + E_AC x SOPs`` (means per sample)."""
        return {
            "flops_first_layer": float(self.total("spikformer_flops").mean()),
            "sops": float(self.total("spikformer_sops").mean()),
        }

    # -------------------------------------------------------------------------------------------- export
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with stable keys (means per sample; totals over all samples where named)."""

        def mean(a: np.ndarray) -> float:
            return float(np.mean(a))

        projections = {
            k: {
                "source": p.source,
                "target": p.target,
                "synapses": p.synapses,
                "connections": p.connections,
                "weights": p.weights,
                "zero_weights": p.zero_weights,
                "connection_sparsity": p.connection_sparsity,
                "flops_per_step": p.flops,
                "sops_per_sample": mean(p.sops),
                "sops_total": int(p.sops.sum()),
                "acs_per_sample": mean(p.acs),
                "macs_per_sample": mean(p.macs),
                "dense_per_sample": mean(p.dense),
                "neurobench_effective_acs": mean(p.neurobench_acs),
                "neurobench_effective_macs": mean(p.neurobench_macs),
                "sinabs_synops_per_timestep": mean(p.sinabs_synops) / self.steps,
                "spikformer_flops": mean(p.spikformer_flops),
                "spikformer_sops": mean(p.spikformer_sops),
            }
            for k, p in self.projections.items()
        }
        populations = {
            k: {
                "size": p.size,
                "kind": p.kind,
                "spiking": p.spiking,
                "binary": p.binary,
                "spikes_per_sample": mean(p.spikes),
                "events_per_sample": mean(p.events),
                "rate_per_step": mean(p.spikes) / (p.size * self.steps),
                "activation_sparsity": p.activation_sparsity,
                "neuron_steps_per_sample": p.neuron_steps,
                "sops_out_per_sample": sum(mean(q.sops) for q in self.projections.values() if q.source == k),
                "sops_in_per_sample": sum(mean(q.sops) for q in self.projections.values() if q.target == k),
            }
            for k, p in self.populations.items()
        }
        return {
            "samples": self.samples,
            "steps": self.steps,
            "dt": self.dt,
            "sops_per_sample": mean(self.sops),
            "sops_total": int(self.sops.sum()),
            "acs_per_sample": mean(self.total("acs")),
            "macs_per_sample": mean(self.total("macs")),
            "dense_per_sample": mean(self.total("dense")),
            "neuron_updates_per_sample": mean(self.neuron_updates),
            "neuron_updates_dense_per_sample": self.neuron_updates_dense,
            "activation_sparsity": self.activation_sparsity,
            "connection_sparsity": self.connection_sparsity,
            "memory_bytes": self.memory_bytes,
            "conventions": {"neurobench": self.neurobench(), "sinabs": self.sinabs(), "spikformer": self.spikformer()},
            "projections": projections,
            "populations": populations,
        }


def rebin(per_step: np.ndarray, width: int) -> np.ndarray:
    """Sum a ``[..., T]`` per-step array into bins of ``width`` steps (the last bin may be shorter)."""
    if width < 1:
        raise ValueError(f"bin width must be at least one step, got {width}")
    T = per_step.shape[-1]
    edges = np.arange(0, T, width)
    return np.add.reduceat(per_step, edges, axis=-1) if T else per_step


# ------------------------------------------------------------------------------------------------ counting
def account(res: Result) -> Accounting:
    """Count everything `Accounting` holds for the run ``res`` (see the module docstring for the conventions)."""
    net, T = res.net, res.steps
    B = res.batch or 1
    spikes, step_s = res.spikes, net.seconds_per_step
    if res.duration is not None:  # exact mode: counted on the engine's calendar grid (steps of h = the net's dt)
        T, step_s, spikes = _on_grid(res)
    populations = {name: _population_counts(net.population(name), spikes[name], B, T) for name in net.order}
    projections = {}
    rank = {name: k for k, name in enumerate(net.order)}
    for q in sorted(net.projections, key=lambda q: (rank[q.source], rank[q.target])):  # in update order
        sp = spikes[q.source]
        src = populations[q.source]
        real_fed = src.kind == "input" and not src.binary  # Spikformer's "first layer"
        projections[q.name] = _projection_counts(q, _layer(net, q), sp, B, T, src.size, real_fed)
    updates = np.atleast_1d(np.asarray(res.neuron_updates, dtype=np.int64))
    dense_updates = sum(p.size for p in net.populations if not p.is_input) * T
    return Accounting(B, T, step_s, projections, populations, updates, dense_updates, net.nbytes())


def _on_grid(res: Result) -> tuple[int, float, dict[str, Spikes]]:
    """An exact run's spikes on the grid of its calendar step ``h`` (spike at ``t`` s -> step ``floor(t / h)``): the
    per-step conventions (dense, sparsity, per-step rates) then count steps of ``h``, as if clocked at ``h``."""
    from .engine.exact_compile import resolution

    h = resolution(res.net)
    T = max(1, int(np.ceil(float(res.duration) / h - 1e-9)))  # type: ignore[arg-type]

    def step(t: np.ndarray) -> np.ndarray:
        return np.minimum(np.floor(np.asarray(t, dtype=np.float64) / h + 1e-9), T - 1).astype(np.int64)

    return T, h, {k: dataclasses.replace(s, times=step(s.times)) for k, s in res.spikes.items()}


def _population_counts(p: Population, sp: Spikes, B: int, T: int) -> PopulationCounts:
    vals = np.asarray(sp.counts, dtype=np.float64)
    nz = vals != 0
    key = sp.samples[nz] * T + sp.times[nz]
    events_per_step = np.bincount(key, minlength=B * T).reshape(B, T).astype(np.int64)
    spikes = np.bincount(sp.samples, weights=vals, minlength=B)
    per_neuron = np.bincount(sp.indices, weights=vals, minlength=p.size) / B
    if not p.is_input:
        spikes = spikes.round().astype(np.int64)
    spiking = p.neuron is not None and p.neuron.spiking
    return PopulationCounts(
        p.name,
        p.size,
        p.kind,
        spiking,
        bool(np.all(np.abs(vals[nz]) == 1)),
        spikes,
        events_per_step.sum(axis=1),
        events_per_step,
        per_neuron,
        0 if p.is_input else p.size * T,
    )


def _projection_counts(
    q: Projection | ConvProjection, layer: _Layer, sp: Spikes, B: int, T: int, n_src: int, real_fed: bool
) -> ProjectionCounts:
    delay = q.delay if isinstance(q, ConvProjection) else 0
    c = projection_counts(sp, layer, B, T, delay)
    # Spikformer: rate x T x FLOPs for spike-fed layers, dense MACs x steps for the real-valued first layer
    spk_sops = np.zeros(B) if real_fed else c["total_in"] / n_src * layer.flops
    spk_flops = np.full(B, layer.flops * T if real_fed else 0, dtype=np.int64)
    return ProjectionCounts(
        name=q.name,
        source=q.source,
        target=q.target,
        synapses=int(layer.fan_nz[layer.in_index[layer.in_index >= 0]].sum()),
        connections=layer.connections,
        weights=layer.weights,
        zero_weights=layer.zero_weights,
        flops=layer.flops,
        sops=c["sops"],
        acs=c["acs"],
        macs=c["macs"],
        sops_per_step=c["sops_per_step"],
        dense=np.full(B, layer.connections * T, dtype=np.int64),
        neurobench_acs=c["neurobench_all"] - c["neurobench_macs"],
        neurobench_macs=c["neurobench_macs"],
        sinabs_synops=c["sinabs"],
        spikformer_flops=spk_flops,
        spikformer_sops=spk_sops,
    )
