"""Shared bits of the peer runners: command-line options, loading the workload, and the one JSON result line.

A runner is started as `PYTHON benchmarks/peers/X_runner.py --workload W [--npz FILE] [--samples N] [--seed S]`;
with --npz it reads the arrays the harness wrote (so every simulator sees identical arrays whatever its NumPy),
otherwise it calls the builders of benchmarks/workloads.py itself.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # repo root, for `benchmarks.workloads`

from benchmarks import workloads  # noqa: E402

KEYS = (
    "simulator",
    "workload",
    "n_neurons",
    "n_synapses",
    "sim_time_ms",
    "build_s",
    "wall_s",
    "n_spikes",
    "n_synaptic_events",
    "events_per_s",
    "peak_rss_mb",
    "bytes_per_synapse",
    "array_bytes_per_synapse",
    "checksum",
    "threads",
)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--workload",
        required=True,
        choices=[
            "feedforward",
            "conv",
            "brunel-small",
            "brunel-large",
            "feedforward-precise",
            "brunel-small-precise",
            "brunel-large-precise",
        ],
    )
    p.add_argument("--npz", help="workload arrays written by the harness (default: build them here)")
    p.add_argument(
        "--samples",
        type=int,
        default=10,
        help="feedforward: 1-s samples back to back (T = N s); conv: twice as many 300-step samples",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p


def load(args) -> dict:
    return workloads.load_npz(args.npz) if args.npz else workloads.build(args.workload, args.samples, args.seed)


def peak_rss_mb() -> float:
    """Peak resident set of this process or of any child it waited for (Brian2 standalone runs a child), in MB."""
    kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return round(kb / 1024.0, 1)


def rss_mb() -> float:
    """Resident set of this process now, in MB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return 0.0


def emit(
    simulator: str,
    args,
    wl: dict,
    build_s: float,
    wall_s: float,
    checksum: dict,
    n_events: int,
    threads: int,
    build_rss_mb: float | None = None,
    array_bytes: float | None = None,
    cpu_s: float | None = None,
) -> None:
    """Print the single JSON line of a run (keys as in shared/bench/SPEC.md, plus memory per synapse:
    ``bytes_per_synapse`` = growth of the resident set over the build / synapses (None where the simulator holds
    its network in another process), ``array_bytes_per_synapse`` = the synapse arrays' own size, where known);
    ``cpu_s``, where given: the CPU seconds of the simulation (what wall_s times), added as ``sim_cpu_s``: the
    fairer figure on a loaded machine."""
    n_neurons = sum(wl["populations"].values()) - wl["populations"].get("in", 0)  # input relays are not neurons
    n_syn = workloads.n_synapses(wl)
    rec = dict(
        simulator=simulator,
        workload=args.workload,
        n_neurons=int(n_neurons),
        n_synapses=n_syn,
        sim_time_ms=float(wl["sim_time_ms"]),
        build_s=round(build_s, 4),
        wall_s=round(wall_s, 4),
        n_spikes=int(sum(checksum.values())),
        n_synaptic_events=int(n_events),
        events_per_s=round(n_events / wall_s, 1) if wall_s > 0 else None,
        peak_rss_mb=peak_rss_mb(),
        bytes_per_synapse=None if build_rss_mb is None else round(build_rss_mb * 2**20 / n_syn, 1),
        array_bytes_per_synapse=None if array_bytes is None else round(array_bytes, 2),
        checksum={k: int(v) for k, v in checksum.items()},
        threads=threads,
    )
    assert tuple(rec) == KEYS
    if cpu_s is not None:
        rec["sim_cpu_s"] = round(cpu_s, 4)
    print(json.dumps(rec), flush=True)
