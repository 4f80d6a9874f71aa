"""Brian2 2.9 runner for the SPEC workloads: builds the network from the workload arrays, simulates, prints a JSON line.

    /work/venv-brian2/bin/python benchmarks/peers/brian2_runner.py --workload feedforward --samples 10 \
        [--target cpp_standalone|cython|numpy] [--threads N] [--build-dir DIR]

Timing. wall_s is Brian2's own measure of the simulation loop, `device._last_run_time`:
  * cpp_standalone: Brian2 times `Network::run` inside main.cpp, but single-threaded with std::clock (CPU time,
    which under-counts on a loaded machine). So we insert our own wall clock (clock_gettime(CLOCK_MONOTONIC))
    right around the `Network::run` call (device.insert_code 'before/after_network_run') and read it back;
    uncontended it agrees with Brian2's own figure. Code generation, the g++ compile, starting the binary,
    loading the arrays, creating the synapses in C++ and writing results are all outside it; they are all
    counted in build_s (= everything from the first Brian2 call to the end of `device.run`, minus wall_s).
  * runtime targets (cython, numpy): `Network.run` first calls `before_run` (code generation, Cython compile or
    cache load) and then times its step loop alone into `device._last_run_time`; build_s is again the rest.

Recording: every spike of every group is recorded (SpikeMonitor(record=True)), the same work as NEST's
spike_recorder and evsim's record="all"; until 2026-12-01 Brian2 only counted (record=False), which left it
less work than the other two (evsim's gathering of the Result alone was 20-40 ms of conv's ~0.25 s).

Semantics (NEST's per-step order: decay, add the input arriving in this step, threshold, reset):
  * Synaptic pathways run in the 'before_thresholds' slot with delay (D - 1) * dt for a delay of D steps: there
    a pathway pushes the spikes of the previous step's threshold, which adds one step, so D steps result.
  * feedforward: SpikeGeneratorGroup at canonical step s (time s * dt); by the rule above it reaches layer 1 in
    step s + D. Threshold v > 1 (the SPEC reference; NEST uses >=), reset to 0, no refractory period.
  * conv: the same layered build as feedforward (delays of 1 step, tau_m = 1e9 ms).
  * brunel: threshold v >= 20 as iaf_psc_delta; input during refractoriness is discarded
    (v += w * int(not_refractory)), and refractory = t_ref + dt: Brian2 integrates again in the step whose
    timestep(t - lastspike) reaches timestep(refractory), i.e. after 19 whole steps for 2 ms, where NEST skips
    20 (t_ref / dt) whole steps after the spike step. External drive: PoissonInput(N=CE, rate=eta*nu_thr,
    weight=J, also only when not refractory) in the same 'before_thresholds' slot.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import emit, load, parser, workloads

import brian2 as b2


def _setup(args) -> str | None:
    b2.prefs.logging.console_log_level = "ERROR"
    if args.target == "cpp_standalone":
        build_dir = args.build_dir or tempfile.mkdtemp(prefix=f"brian2-{args.workload}-", dir="/tmp")
        b2.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
        if args.threads > 1:
            b2.prefs.devices.cpp_standalone.openmp_threads = args.threads
        b2.seed(args.seed + 1)  # PoissonInput draws; fixed so that runs repeat (NEST: rng_seed = seed + 1)
        return build_dir
    if args.threads > 1:
        raise SystemExit("--threads > 1 needs --target cpp_standalone")
    b2.prefs.codegen.target = args.target
    b2.seed(args.seed + 1)
    return None


_cpu: list = [None]  # CPU seconds of the last standalone run (Brian2's own std::clock figure)


def _run(args, net: b2.Network, T, build_dir: str | None) -> float:
    """Run for T; return the simulation-loop seconds (see module docstring)."""
    if not build_dir:
        net.run(T)
        return float(b2.device._last_run_time)
    b2.device.insert_code(
        "before_network_run", "struct timespec _wall0, _wall1; clock_gettime(CLOCK_MONOTONIC, &_wall0);"
    )
    b2.device.insert_code(
        "after_network_run",
        "clock_gettime(CLOCK_MONOTONIC, &_wall1); "
        '{ std::ofstream f("bench_wall_s.txt"); f.precision(9); '
        "f << (_wall1.tv_sec - _wall0.tv_sec) + 1e-9 * (_wall1.tv_nsec - _wall0.tv_nsec); }",
    )
    net.run(T)
    b2.device.build(directory=build_dir, run=True, compile=True, clean=False)  # runs ./main in build_dir
    _cpu[0] = float(b2.device._last_run_time)  # Brian2's own figure: std::clock around Network::run (CPU time)
    return float(Path(build_dir, "bench_wall_s.txt").read_text())


def feedforward(args, wl, build_dir):
    dt = wl["dt_ms"] * b2.ms
    b2.defaultclock.dt = dt
    nu = wl["neuron"]
    tau = nu["tau_m"] * b2.ms
    groups = {"in": b2.SpikeGeneratorGroup(wl["populations"]["in"], wl["input_index"], wl["input_steps"] * dt)}
    for name, n in wl["populations"].items():
        if name != "in":
            groups[name] = b2.NeuronGroup(
                n,
                "dv/dt = -v / tau : 1",
                threshold=f"v > {nu['v_th']}",
                reset=f"v = {nu['v_reset']}",
                method="exact",
                namespace={"tau": tau},
                name=f"layer_{name}",
            )
    syns = []
    for i, p in enumerate(wl["projections"]):
        S = b2.Synapses(groups[p["source"]], groups[p["target"]], "w : 1", on_pre="v_post += w", name=f"syn{i}")
        S.connect(i=p["pre"], j=p["post"])
        S.w = p["weight"]
        S.delay = (p["delay_steps"] - 1) * dt
        S.pre.when = "before_thresholds"
        syns.append(S)
    mons = {name: b2.SpikeMonitor(g, record=True) for name, g in groups.items()}  # (every spike: see docstring)
    net = b2.Network(*groups.values(), *syns, *mons.values())
    wall_s = _run(args, net, wl["T_steps"] * dt, build_dir)
    per_neuron = {name: np.asarray(m.count[:]) for name, m in mons.items()}
    counts = {name: int(c.sum()) for name, c in per_neuron.items()}
    return wall_s, counts, workloads.synaptic_events(wl, per_neuron if wl["name"] == "conv" else counts)


def brunel(args, wl, build_dir):
    dt = wl["dt_ms"] * b2.ms
    b2.defaultclock.dt = dt
    nu, N = wl["neuron"], wl["N"]
    ns = {"tau": nu["tau_m"] * b2.ms}
    G = b2.NeuronGroup(
        N,
        "dv/dt = -v / tau : 1 (unless refractory)",
        threshold=f"v >= {nu['v_th']}",
        reset=f"v = {nu['v_reset']}",
        refractory=(nu["t_ref_steps"] + 1) * dt,
        method="exact",
        namespace=ns,
        name="neurons",
    )
    G.v = wl["v0"]
    p = wl["projections"][0]
    S = b2.Synapses(G, G, "w : 1", on_pre="v_post += w * int(not_refractory_post)", name="syn")
    S.connect(i=p["pre"], j=p["post"])
    S.w = p["weight"]
    S.delay = (p["delay_steps"] - 1) * dt
    S.pre.when = "before_thresholds"
    nu_thr_hz = wl["ext_rate_hz"] / (wl["CE"] * wl["eta"])
    ext = b2.PoissonInput(
        G,
        "v",
        N=wl["CE"],
        rate=wl["eta"] * nu_thr_hz * b2.Hz,
        weight=f"{wl['J']} * int(not_refractory)",
        when="before_thresholds",
    )
    mon = b2.SpikeMonitor(G, record=True)
    net = b2.Network(G, S, ext, mon)
    wall_s = _run(args, net, wl["T_steps"] * dt, build_dir)
    per_neuron = np.asarray(mon.count[:])
    counts = {"E": int(per_neuron[: wl["NE"]].sum()), "I": int(per_neuron[wl["NE"] :].sum())}
    return wall_s, counts, workloads.synaptic_events(wl, {"per_neuron": per_neuron})


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--target", default="cpp_standalone", choices=["cpp_standalone", "cython", "numpy"])
    p.add_argument("--build-dir", help="cpp_standalone project directory (default: a fresh one under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the cpp_standalone build directory")
    args = p.parse_args()
    wl = load(args)
    t0 = time.perf_counter()
    build_dir = _setup(args)
    try:
        wall_s, counts, events = (feedforward if wl["name"] in ("feedforward", "conv") else brunel)(args, wl, build_dir)
        build_s = time.perf_counter() - t0 - wall_s
    finally:
        if build_dir and not (args.keep or args.build_dir):
            shutil.rmtree(build_dir, ignore_errors=True)
    threads = args.threads if args.target == "cpp_standalone" else 1
    cpu_s = _cpu[0] if threads == 1 else None  # (with OpenMP threads Brian2's figure is wall time)
    emit(f"brian2-{args.target}", args, wl, build_s, wall_s, counts, events, threads, cpu_s=cpu_s)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
