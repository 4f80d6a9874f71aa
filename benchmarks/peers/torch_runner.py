"""Dense PyTorch peer: a layered LIF network run by snnTorch's own forward and by a plain ``torch`` matmul loop;
a NIR model run by Sinabs' own forward (``sinabs.from_nir``: the CNN).

    /work/venv-torch/bin/python benchmarks/peers/torch_runner.py --model FILE.npz --threads 1 [--repeats 3]

Run by benchmarks/dense_torch.py (which writes FILE.npz from an evsim network and compares): what an edge
engineer tries first, the trained model on the CPU under ``torch.inference_mode()``, float32, at
``torch.set_num_threads(threads)``. The file holds, per layer k: ``W{k}`` [n_in, n_out] (gain folded in),
``D{k}`` the delay in steps of each synapse, ``bias{k}``, ``beta{k}``, ``th{k}`` and ``mode{k}`` (0 reset to zero
at once; 1 subtract the threshold at the next step, snnTorch's default ``reset_delay=True``), and the input
``x`` [B, T, n_in]. Modes: snntorch (``nn.Linear`` + ``snn.Leaky``, a ring of delayed currents when a layer has
delays) and matmul (the same equations written with tensors); each batched (all B samples at once) and one
sample at a time. A file with a ``nir`` entry (a NIR file's path) instead holds ``x`` [B, T, n], the input's
``shape`` (C, H, W) and the spiking layers' ``names``: mode sinabs, the model as `sinabs.from_nir` builds it (its
layers run all B*T frames at once, then its IAF neurons loop over time in plain tensors), batched and one sample
at a time (a model built for batch size 1). A file with an ``snn_delays`` entry (a checkpoint's path) and its
``config`` (JSON): mode snn_delays, the model rebuilt module for module as SNN-delays lays it out and run by its
forward (validation/frameworks/snn_delays_forward.py: DCLS, SpikingJelly), the hidden layers' spikes compared.
Prints one JSON line: per mode, the median wall and process CPU seconds of the simulation (after a warm-up run),
the spike count of every layer and the output spike counts per sample (for the check).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch


def layers(z, dtype) -> list[dict]:
    out = []
    k = 0
    while f"W{k}" in z:
        W, D = z[f"W{k}"], z[f"D{k}"]
        ds = np.unique(D[W != 0]) if np.any(W != 0) else np.zeros(1, np.int64)
        # one matrix [n_in, n_delays * n_out]: a spike vector times it gives the current of every delay at once
        Wcat = np.concatenate([np.where(D == d, W, 0.0) for d in ds], axis=1)
        out.append(
            dict(
                W=torch.tensor(W, dtype=dtype),
                Wcat=torch.tensor(Wcat, dtype=dtype),
                delays=[int(d) for d in ds],
                bias=torch.tensor(z[f"bias{k}"], dtype=dtype),
                beta=torch.tensor(z[f"beta{k}"], dtype=dtype),
                th=torch.tensor(z[f"th{k}"], dtype=dtype),
                mode=int(z[f"mode{k}"]),
                n_out=W.shape[1],
            )
        )
        k += 1
    return out


class Delayed:
    """The input current of one layer: spikes times weights, each synapse's share arriving after its delay."""

    def __init__(self, L: dict, B: int, dtype) -> None:
        self.L = L
        self.R = max(L["delays"]) + 1
        self.ring = torch.zeros(self.R, B, L["n_out"], dtype=dtype)
        self.plain = L["delays"] == [0]

    def __call__(self, s: torch.Tensor, t: int) -> torch.Tensor:
        L = self.L
        if self.plain:
            return s @ L["W"]
        c = (s @ L["Wcat"]).view(s.shape[0], len(L["delays"]), L["n_out"])
        for j, d in enumerate(L["delays"]):
            self.ring[(t + d) % self.R] += c[:, j]
        cur = self.ring[t % self.R].clone()
        self.ring[t % self.R].zero_()
        return cur


def run_matmul(Ls: list[dict], x: torch.Tensor) -> list[torch.Tensor]:
    """Plain tensors: v = beta v + I + bias; spike if v > th; reset to 0 at once (mode 0) or subtract th at the
    next step (mode 1, snnTorch's reset_delay). Returns the spikes of every layer [T, B, n]."""
    B, T = x.shape[0], x.shape[1]
    cur = [Delayed(L, B, x.dtype) for L in Ls]
    v = [torch.zeros(B, L["n_out"], dtype=x.dtype) for L in Ls]
    prev = [torch.zeros(B, L["n_out"], dtype=x.dtype) for L in Ls]
    out = [torch.zeros(T, B, L["n_out"], dtype=x.dtype) for L in Ls]
    for t in range(T):
        s = x[:, t]
        for k, L in enumerate(Ls):
            vk = L["beta"] * v[k] + cur[k](s, t) + L["bias"]
            if L["mode"] == 1:
                vk = vk - prev[k] * L["th"]
            s = (vk > L["th"]).to(x.dtype)
            v[k] = vk * (1 - s) if L["mode"] == 0 else vk
            prev[k] = s
            out[k][t] = s
    return out


def run_snntorch(Ls: list[dict], x: torch.Tensor) -> list[torch.Tensor]:
    """snnTorch's own neurons (``snn.Leaky``) fed by ``nn.Linear`` (no delays) or a delayed-current ring."""
    import snntorch as snn

    B, T = x.shape[0], x.shape[1]
    feeds, lifs = [], []
    for L in Ls:
        if L["delays"] == [0]:
            lin = torch.nn.Linear(L["W"].shape[0], L["n_out"], bias=True).to(x.dtype)
            lin.weight.data = L["W"].T.contiguous()
            lin.bias.data = L["bias"].clone()
            feeds.append(lambda s, t, lin=lin: lin(s))
        else:
            d = Delayed(L, B, x.dtype)
            feeds.append(lambda s, t, d=d, b=L["bias"]: d(s, t) + b)
        lifs.append(
            snn.Leaky(
                beta=L["beta"],
                threshold=L["th"],
                reset_mechanism="zero" if L["mode"] == 0 else "subtract",
                reset_delay=L["mode"] == 1,
            )
        )
    mem = [lif.init_leaky() for lif in lifs]
    out = [torch.zeros(T, B, L["n_out"], dtype=x.dtype) for L in Ls]
    for t in range(T):
        s = x[:, t]
        for k in range(len(Ls)):
            s, mem[k] = lifs[k](feeds[k](s, t), mem[k])
            out[k][t] = s
    return out


class SinabsModel:
    """The NIR file's model as Sinabs builds it, for one batch size, counting the spikes of each named layer."""

    def __init__(self, path: str, batch: int, names: list[str]) -> None:
        import nir
        from sinabs import from_nir
        from sinabs.layers import StatefulLayer

        self.model = from_nir(nir.read(path), batch_size=batch)
        self.stateful = [m for m in self.model.modules() if isinstance(m, StatefulLayer)]
        self.out: dict = {}
        for name, mod in self.model.named_children():
            if name in names:
                mod.register_forward_hook(lambda m, i, o, name=name: self.out.__setitem__(name, o.detach()))
        self.names = names

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x [B, T, C, H, W] -> the spikes of each named layer [T, B, n] (as `run_matmul` returns them)."""
        for m in self.stateful:
            m.reset_states()
        B, T = x.shape[:2]
        self.model(x.reshape(B * T, *x.shape[2:]))
        return [self.out[k].reshape(B, T, -1).transpose(0, 1) for k in self.names]


def sinabs_runs(z: dict, x: torch.Tensor, nx: torch.Tensor, repeats: int) -> dict:
    import sinabs

    names = [str(k) for k in z["names"]]
    xs = x.reshape(x.shape[:2] + tuple(int(d) for d in z["shape"]))
    batched, single = SinabsModel(str(z["nir"]), xs.shape[0], names), SinabsModel(str(z["nir"]), 1, names)
    res = {"sinabs": sinabs.__version__, "modes": ["sinabs"]}
    res["sinabs-batched"] = timed(lambda _, a: batched(a), None, xs, True, repeats)
    res["sinabs-single"] = dict(timed(lambda _, a: single(a), None, xs[: nx.shape[0]], False, repeats),
                                samples=int(nx.shape[0]))  # fmt: skip
    return res


def snn_delays_runs(z: dict, x: torch.Tensor, nx: torch.Tensor, repeats: int) -> dict:
    from importlib.metadata import version

    from spikingjelly.activation_based import functional

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "validation" / "frameworks"))
    from snn_delays_forward import build, forward

    cfg = json.loads(str(z["config"]))
    model = build(cfg, torch.load(str(z["snn_delays"]), weights_only=True), torch.Generator().manual_seed(0))

    def run(_, a: torch.Tensor) -> list[torch.Tensor]:  # a [B, T, n] -> the hidden layers' spikes [T, B, n]
        functional.reset_net(model)
        rec = forward(model, cfg, a.transpose(0, 1))
        return [torch.from_numpy(rec[f"spikes{k}"]).transpose(0, 1) for k in range(cfg["n_hidden_layers"])]

    res = {"snn_delays": f"dcls {version('dcls')}, spikingjelly {version('spikingjelly')}"}
    res["modes"] = ["snn_delays"]
    res["snn_delays-batched"] = timed(run, None, x, True, repeats)
    res["snn_delays-single"] = dict(timed(run, None, nx, False, repeats), samples=int(nx.shape[0]))
    return res


def timed(fn, Ls, x: torch.Tensor, batched: bool, repeats: int) -> dict:
    def once():
        if batched:
            return fn(Ls, x)
        per = [fn(Ls, x[b : b + 1]) for b in range(x.shape[0])]
        return [torch.cat([p[k] for p in per], dim=1) for k in range(len(per[0]))]

    with torch.inference_mode():
        once()  # warm-up
        walls, cpus = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            out = once()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    return dict(
        wall_s=statistics.median(walls),
        cpu_s=statistics.median(cpus),
        spikes=[int(o.sum()) for o in out],
        out_counts=out[-1].sum(0).to(torch.int64).tolist(),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help=".npz written by benchmarks/dense_torch.py")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default="snntorch,matmul")
    ap.add_argument("--single-samples", type=int, default=0, help="one at a time: only the first N (0: all)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    z = dict(np.load(args.model))
    x = torch.tensor(z["x"], dtype=dtype)
    nx = x[: args.single_samples] if args.single_samples else x
    res = dict(simulator="torch", torch=torch.__version__, threads=args.threads, dtype=args.dtype)
    if "nir" in z or "snn_delays" in z:
        runs = sinabs_runs if "nir" in z else snn_delays_runs
        print(json.dumps(dict(res, **runs(z, x, nx, args.repeats))))
        return
    Ls = layers(z, dtype)
    res["modes"] = args.modes.split(",")
    for mode in res["modes"]:
        fn = run_snntorch if mode == "snntorch" else run_matmul
        if mode == "snntorch":
            import snntorch

            res["snntorch"] = snntorch.__version__
        res[f"{mode}-batched"] = timed(fn, Ls, x, True, args.repeats)
        res[f"{mode}-single"] = dict(timed(fn, Ls, nx, False, args.repeats), samples=int(nx.shape[0]))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
