"""evsim runner for the SPEC workloads: same arrays as the peers, one JSON line per run.

    .venv/bin/python benchmarks/evsim_runner.py --workload feedforward --samples 10

build_s: Network construction + flattening for the engine (`compile_network`); bytes_per_synapse: growth of the
resident set over that build per synapse, array_bytes_per_synapse: the synapse arrays themselves
(`CompiledNetwork.bytes_per_synapse`). A warm-up run on one step before
timing loads the Numba kernels from the on-disk cache (or compiles them), so wall_s is the simulation alone, as
for the peers. ``--from-nir`` (harness name ``evsim:nir``) writes the hand-built feedforward network with
`evsim.save_nir` (learned delays as ``Linear(W_d) -> Delay(d)`` groups) and runs the network `evsim.load` reads back
from that file; build_s is then the load.
Time convention (benchmarks/workloads.py): a spike in step t with delay D steps is added in step
t + D; evsim's discrete mode is exactly this.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # evsim_exact, evsim_networks
from common import emit, load, parser, rss_mb, workloads  # noqa: E402
from evsim_networks import brunel_network, layered_network  # noqa: E402

import evsim  # noqa: E402
from evsim.engine import compile_network, partitioned  # noqa: E402
from evsim.simulation import _compiled  # noqa: E402
from evsim.network import ConvProjection  # noqa: E402


def feedforward(wl: dict, from_nir: str | None = None, implicit: bool = False) -> tuple[float, float, dict, int, dict]:
    """Build, warm up, run a layered workload (feedforward or conv); returns build_s, wall_s, spike counts per
    population, synaptic events, memory and CPU seconds. ``from_nir``: a path; run the network as loaded back
    from NIR there. ``implicit`` (conv): the convolutions as kernels (`implicit_conv`), not synapse tables."""
    rss0 = rss_mb()
    t0 = time.perf_counter()
    net = implicit_conv(wl) if implicit else layered_network(wl)
    if from_nir:
        kw = evsim.save_nir(net, from_nir)
        del net
        rss0 = rss_mb()
        t0 = time.perf_counter()
        net = evsim.load(from_nir, **kw)
    cn = compile_network(net)
    build_s = time.perf_counter() - t0
    mem = dict(build_rss_mb=rss_mb() - rss0, array_bytes=cn.bytes_per_synapse())
    x = (wl["input_steps"], wl["input_index"])
    evsim.run(net, (np.zeros(1, np.int64), np.zeros(1, np.int64)), steps=1)  # warm-up: load the cached kernels
    t1, c1 = time.perf_counter(), time.process_time()
    res = evsim.run(net, x, steps=wl["T_steps"])
    names = list(wl["populations"])
    spikes = {name: res.spikes[name] for name in names}  # (split by population when read: timed, as the peers' are)
    wall_s, mem["cpu_s"] = time.perf_counter() - t1, time.process_time() - c1
    per_neuron = {name: np.bincount(spikes[name].indices, minlength=wl["populations"][name]) for name in names}
    counts = {name: int(spikes[name].counts.sum()) for name in names}
    events = workloads.synaptic_events(wl, per_neuron if wl["name"] == "conv" else counts)
    return build_s, wall_s, counts, events, mem


def implicit_conv(wl: dict) -> evsim.Network:
    """The conv workload's network with its three convolutions implicit: the kernels of the CNN the workload
    expands (examples/data/cnn_sinabs.nir), with the workload's delay (1 step); the same spikes. (The
    expanded synapses are never built: the build's memory is the kernels'.)"""
    cnn = evsim.load(Path(__file__).resolve().parents[1] / "examples" / "data" / "cnn_sinabs.nir", dialect="sinabs")
    convs = {q.name: q for q in cnn.projections if isinstance(q, ConvProjection)}
    dense = layered_network(dict(wl, projections=[p for p in wl["projections"] if p["name"] not in convs]))
    projs = []
    for p in wl["projections"]:
        if p["name"] in convs:
            if np.any(p["delay_steps"] != p["delay_steps"][0]):
                raise ValueError(f"conv workload: projection {p['name']!r} has several delays")
            spec = convs[p["name"]].spec
            projs.append(ConvProjection(p["name"], p["source"], p["target"], spec, int(p["delay_steps"][0])))
    return evsim.Network(dense.populations, (*dense.projections, *projs), dense.inputs, dense.outputs, dt=dense.dt)


def brunel(wl: dict, seed: int = 0, threads: int = 1) -> tuple[float, float, dict, int, dict]:
    """The brunel network (`evsim_networks.brunel_network`) from the workload's arrays, timed; ``threads > 1``:
    the one sample across threads (`evsim.engine.partitioned`; its split synapses counted in array_bytes)."""
    rss0 = rss_mb()
    t0 = time.perf_counter()
    N = wl["N"]
    net = brunel_network(wl)
    cn = compile_network(net)
    build_s = time.perf_counter() - t0
    mem = dict(build_rss_mb=rss_mb() - rss0, array_bytes=cn.bytes_per_synapse())
    evsim.run(net, steps=1, threads=threads)  # warm-up: load the cached kernels (and split the synapses)
    mem["array_bytes"] += partitioned.extra_bytes(_compiled(net)) / net.n_synapses  # (evsim.run's compiled form)
    t1, c1 = time.perf_counter(), time.process_time()
    res = evsim.run(net, steps=wl["T_steps"], seed=seed, initial={"all": wl["v0"]}, threads=threads)
    spikes = res.spikes["all"]  # (split by population when read: timed, as the peers' are)
    wall_s, mem["cpu_s"] = time.perf_counter() - t1, time.process_time() - c1
    per_neuron = np.bincount(spikes.indices, minlength=N)
    counts = {"E": int(per_neuron[: wl["NE"]].sum()), "I": int(per_neuron[wl["NE"] :].sum())}
    return build_s, wall_s, counts, workloads.synaptic_events(wl, {"per_neuron": per_neuron}), mem


def main() -> None:
    ap = parser("evsim runner for the SPEC workloads")
    ap.add_argument("--from-nir", metavar="FILE", help="run the network as saved to and loaded back from this .nir")
    ap.add_argument("--implicit", action="store_true", help="conv: the convolutions as kernels, not synapse tables")
    args = ap.parse_args()
    wl = load(args)
    if wl.get("precise"):  # exact (continuous-time) mode: benchmarks/evsim_exact.py
        import evsim_exact

        run = evsim_exact.feedforward if wl["name"].startswith("feedforward") else evsim_exact.brunel
        build_s, wall_s, counts, n_events, mem = run(wl) if run is evsim_exact.feedforward else run(wl, args.seed)
        return emit("evsim-exact", args, wl, build_s, wall_s, counts, n_events, threads=1, **mem)
    if wl["name"] in ("feedforward", "conv"):
        build_s, wall_s, counts, n_events, mem = feedforward(wl, args.from_nir, args.implicit)
    else:
        build_s, wall_s, counts, n_events, mem = brunel(wl, args.seed, args.threads)
    name = "evsim (NIR)" if args.from_nir else "evsim (implicit)" if args.implicit else "evsim"
    threads = args.threads if wl["name"].startswith("brunel") else 1
    emit(name, args, wl, build_s, wall_s, counts, n_events, threads=threads, **mem)


if __name__ == "__main__":
    main()
