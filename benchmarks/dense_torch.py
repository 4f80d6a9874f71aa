"""evsim against dense PyTorch on the CPU (the training framework's forward, and a plain matmul loop), for the
trained models.

    .venv/bin/python benchmarks/dense_torch.py [--models digits,feedforward,cnn,snn-delays] [--threads 1] [--runs 3]

Models: ``digits`` (examples/data/digits_snntorch.nir, its 300 test samples x 25 steps), ``feedforward`` (the
SPEC 700-256-256-20 classifier with delays 1..26 steps, ``--ff-samples`` one-second samples of 1 % input), both
against snnTorch's forward and a matmul loop, and ``cnn`` (examples/data/cnn_sinabs.nir, the NIR paper's N-MNIST
CNN, on the ten recordings of examples/data/nmnist_like binned to 1 ms frames x 300 steps as the README's
quick tour runs them) against Sinabs' forward (`sinabs.from_nir`: its convolutions run every frame at once, its
IAF neurons loop over time), and ``snn-delays`` (examples/data/snn_delays_model.pt, learned delays, its 200 test
samples x 50 steps) against its own forward (DCLS ``Dcls1d`` convolutions over time and SpikingJelly LIF nodes,
validation/frameworks/snn_delays_forward.py). Each evsim network is written as dense layers (the CNN, SNN-delays:
what rebuilds it) to an .npz that benchmarks/peers/torch_runner.py runs in the torch venv
($TORCH_VENV, default /work/venv-torch; the harness skips this workload when it is absent). Runs alternate: evsim
(in this process, after a warm-up), then torch (a fresh process, after its own warm-up), ``--runs`` times; both
at the same thread count (``torch.set_num_threads``, ``evsim.run(threads=)``). Batched: all samples in one call;
single: one call per sample. One JSON line per model and setting: medians of wall and process CPU seconds,
evsim's speed over torch's (torch seconds / evsim seconds, wall clock: > 1 means evsim is faster) and whether the
spike counts of every layer are equal (torch runs float32, as users do; evsim float64).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the compiled batch kernel, as every run gets it once it is in Numba's cache (a first run on a machine, with fewer
# than evsim.engine.batch.BATCH_KERNEL_MIN samples, calls the loop once per sample instead)
os.environ.setdefault("EVSIM_BATCH_KERNEL", "1")
import evsim  # noqa: E402


def torch_python() -> Path:
    return Path(os.environ.get("TORCH_VENV", "/work/venv-torch")) / "bin" / "python"


def digits() -> tuple:
    net = evsim.load(ROOT / "examples" / "data" / "digits_snntorch.nir", dialect="snntorch")
    with np.load(ROOT / "examples" / "data" / "digits_test.npz") as z:
        return net, z["x"]


def feedforward(n: int) -> tuple:
    from benchmarks import workloads
    from benchmarks.evsim_networks import layered_network

    wl = workloads.feedforward(n)
    net = layered_network(wl)
    x = np.zeros((n, 1000, wl["populations"]["in"]), dtype=np.uint8)
    x[wl["input_steps"] // 1000, wl["input_steps"] % 1000, wl["input_index"]] = 1
    return net, x


def cnn() -> tuple:
    import evsim.data

    net = evsim.load(CNN_NIR, dialect="sinabs")
    ds = evsim.data.open(ROOT / "examples" / "data" / "nmnist_like")
    pipe = evsim.data.InputPipeline(time_step=1e-3, steps=300, polarity="swap")
    x = np.stack([evsim.data.raster(ev, pipe) for ev, _ in ds]).astype(np.float32)
    return net, x.reshape(x.shape[0], x.shape[1], -1)


CNN_NIR = ROOT / "examples" / "data" / "cnn_sinabs.nir"
DELAYS = ROOT / "examples" / "data"


def snn_delays() -> tuple:
    net = evsim.load(DELAYS / "snn_delays_model.pt", config=DELAYS / "snn_delays_config.py")
    with np.load(DELAYS / "snn_delays_reference.npz") as z:
        return net, z["frames"].astype(np.float32)


def snn_delays_model(net: evsim.Network, x: np.ndarray) -> dict:
    """What torch_runner needs to rebuild the model as SNN-delays does: the checkpoint and its config (JSON)."""
    return dict(x=x, snn_delays=str(DELAYS / "snn_delays_model.pt"), config=json.dumps(net.meta["config"]))


def sinabs_model(net: evsim.Network, x: np.ndarray) -> dict:
    """What torch_runner needs to build the CNN with Sinabs: the NIR file, the input's shape, the layers' names."""
    shape = net.population(net.inputs[0]).shape
    return dict(x=x, nir=str(CNN_NIR), shape=np.array(shape), names=np.array(net.order[1:]))


def dense_layers(net: evsim.Network, x: np.ndarray) -> dict:
    """The network as a chain of dense layers for torch_runner (raises on anything it cannot express)."""
    out: dict = dict(x=x)
    for k, name in enumerate(net.order[1:]):
        (q,) = [q for q in net.projections if q.target == name]
        src, pop = net.population(q.source), net.population(name)
        nrn = pop.neuron
        W, D = q.dense(src.size, pop.size)
        if nrn.reset == "zero" and not nrn.reset_delay and np.all(nrn.v_reset == 0):
            mode = 0
        elif nrn.reset == "subtract" and nrn.reset_delay:
            mode = 1
        else:
            raise ValueError(f"{name}: reset {nrn.reset!r} (delay {nrn.reset_delay}) not expressed for torch")
        if np.any(nrn.alpha != 0) or np.any(nrn.i_bias != 0) or np.any(nrn.refractory != 0) or nrn.threshold_op != ">":
            raise ValueError(f"{name}: not a plain LIF layer")
        out.update(
            {
                f"W{k}": W * nrn.g_x[None, :],
                f"D{k}": D,
                f"bias{k}": np.broadcast_to(nrn.v_bias, (pop.size,)).astype(float),
                f"beta{k}": np.broadcast_to(nrn.beta, (pop.size,)).astype(float),
                f"th{k}": np.broadcast_to(nrn.v_th, (pop.size,)).astype(float),
                f"mode{k}": mode,
            }
        )
    return out


def time_evsim(net, x: np.ndarray, batched: bool, threads: int, n_single: int) -> dict:
    c0, t0 = time.process_time(), time.perf_counter()
    if batched:
        res = [evsim.run(net, x, threads=threads, record="outputs")]
    else:
        res = [evsim.run(net, x[b], threads=threads, record="outputs") for b in range(n_single)]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    spiking = [k for k in net.order if (p := net.population(k)).neuron is not None and p.neuron.spiking]
    spikes = [int(sum(np.sum(r.spike_counts(name)) for r in res)) for name in spiking]
    last = np.concatenate([np.atleast_2d(r.spike_counts(spiking[-1])) for r in res])  # (the output, if it spikes)
    return dict(wall_s=wall, cpu_s=cpu, spikes=spikes, out_counts=last.tolist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="digits,feedforward,cnn,snn-delays")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ff-samples", type=int, default=10, help="feedforward: one-second samples (batched)")
    ap.add_argument("--ff-single", type=int, default=3, help="feedforward: samples run one at a time")
    ap.add_argument("--workdir", default="/tmp/evsim-bench")
    args = ap.parse_args()
    py = torch_python()
    if not py.exists():
        print(json.dumps(dict(simulator="torch", error=f"no torch venv at {py} (set TORCH_VENV)")))
        return
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    for model in args.models.split(","):
        models = {  # name: (the network and its input, what torch_runner needs to run it)
            "digits": (digits, dense_layers),
            "feedforward": (lambda: feedforward(args.ff_samples), dense_layers),
            "cnn": (cnn, sinabs_model),
            "snn-delays": (snn_delays, snn_delays_model),
        }
        load, peer = models[model]
        net, x = load()
        n_single = args.ff_single if model == "feedforward" else x.shape[0]
        npz = Path(args.workdir) / f"torch-{model}.npz"
        np.savez(npz, **peer(net, x))
        for warm in (x, x[0]):  # warm-up: the Numba kernels of both settings (loaded from the disk cache)
            evsim.run(net, warm, threads=args.threads, record="outputs")
        rec: dict = {}
        for _ in range(args.runs):
            for batched in (True, False):
                rec.setdefault(batched, []).append(time_evsim(net, x, batched, args.threads, n_single))
            p = subprocess.run(
                [str(py), str(ROOT / "benchmarks" / "peers" / "torch_runner.py"), "--model", str(npz),
                 "--threads", str(args.threads), "--repeats", "1", "--single-samples", str(n_single)],
                capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)),
            )  # fmt: skip
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            if p.returncode or not lines:
                print(json.dumps(dict(simulator="torch", model=model, error=p.stderr.strip()[-300:])))
                break
            rec.setdefault("torch", []).append(json.loads(lines[-1]))
        if "torch" not in rec:
            continue
        tv = rec["torch"][0]
        for batched in (True, False):
            setting = "batched" if batched else "single"
            ev = rec[batched]
            line = dict(
                workload=f"torch-{model}",
                setting=setting,
                samples=int(x.shape[0] if batched else n_single),
                steps=int(x.shape[1]),
                threads=args.threads,
                evsim_wall_s=round(statistics.median(r["wall_s"] for r in ev), 4),
                evsim_cpu_s=round(statistics.median(r["cpu_s"] for r in ev), 4),
                torch=tv["torch"],
            )
            line.update({m: tv[m] for m in tv["modes"] if m in tv})  # (framework versions)
            for mode in tv["modes"]:
                tr = [r[f"{mode}-{setting}"] for r in rec["torch"]]
                line[f"{mode}_wall_s"] = round(statistics.median(r["wall_s"] for r in tr), 4)
                line[f"{mode}_cpu_s"] = round(statistics.median(r["cpu_s"] for r in tr), 4)
                # evsim's speed over torch's, from the same round (wall clock): > 1: evsim faster
                line[f"evsim/{mode}"] = round(statistics.median(t["wall_s"] / e["wall_s"] for t, e in zip(tr, ev)), 2)
                line[f"{mode}_spikes_equal"] = tr[0]["spikes"] == ev[0]["spikes"]
                line[f"{mode}_output_counts_equal"] = tr[0]["out_counts"] == ev[0]["out_counts"]
            line["spikes_per_layer"] = ev[0]["spikes"]
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
