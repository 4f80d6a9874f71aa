"""Sinabs 3.1 random models -> NIR (Sinabs' own ``sinabs.nir.to_nir``) + Sinabs' forward pass.

Cases: IAF (multi-spike, subtract, ``min_v_mem = -threshold`` as ``from_nir`` builds it; and without a clamp, loaded
with v_min=-inf), LIF with ``norm_input=False`` (what ``from_nir`` builds; tau in steps), LIF with the default
``norm_input=True`` (the exporter drops norm_input and writes r = 1: the workaround is discretisation="exact",
whose gain r(1 - exp(-1/tau)) is Sinabs' normalisation), IAF with MembraneReset (reset="zero"), and a recurrent
LIFRecurrent layer (the exporter has no recurrent node: NIR written by hand), float32 (Sinabs' spike functions
return float32).
Usage: python sinabs_cases.py OUTDIR
"""

from __future__ import annotations

import nir
import numpy as np
import sinabs.layers as sl
import torch
from sinabs.activation import MembraneReset
from sinabs.nir import to_nir

from _common import outdir, save_case, set_linear, spikes_in

N_IN, N_HID, N_OUT, B, T = 10, 20, 5, 8, 60


def neuron(kind, n, rng, clamp):
    thr = torch.tensor(rng.uniform(0.8, 1.2, n))
    if kind.startswith("iaf"):
        kw = dict(reset_fn=MembraneReset()) if kind == "iaf_zero" else {}
        return sl.IAFSqueeze(spike_threshold=thr, min_v_mem=-thr if clamp else None, batch_size=B, **kw)
    return sl.LIFSqueeze(
        tau_mem=torch.tensor(rng.uniform(5, 30, n)), spike_threshold=thr, norm_input=(kind == "lif_norm"), batch_size=B
    )


def build(kind, rng, clamp):
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, N_HID),
        neuron(kind, N_HID, rng, clamp),
        torch.nn.Linear(N_HID, N_OUT),
        neuron(kind, N_OUT, rng, clamp),
    )
    gain = 6.0 if kind == "lif_norm" else 1.0
    set_linear(net[0], rng, 0.1, 0.6, gain)
    set_linear(net[2], rng, 0.1, 0.6, gain)
    return net


def run(net, x):
    """x [B, T, n]; Squeeze layers take [B*T, n]. Returns hidden and output spike counts [B, T, n]."""
    for m in net:
        if hasattr(m, "reset_states"):
            m.reset_states()
    with torch.no_grad():
        h = net[1](net[0](x.reshape(B * T, -1)))
        o = net[3](net[2](h))
    return h.reshape(B, T, -1), o.reshape(B, T, -1)


def recurrent_case(out, rng, dtype, tag):
    thr = torch.tensor(rng.uniform(0.8, 1.2, N_HID), dtype=dtype)
    tau = torch.tensor(rng.uniform(5, 30, N_HID), dtype=dtype)
    rec = torch.nn.Linear(N_HID, N_HID, bias=False)
    with torch.no_grad():
        rec.weight.copy_(torch.tensor(rng.normal(-0.3, 0.3, (N_HID, N_HID))))
    lif = sl.LIFRecurrent(tau_mem=tau, rec_connect=rec, spike_threshold=thr, norm_input=False)
    fc = torch.nn.Linear(N_IN, N_HID, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor(rng.normal(0.05, 0.4, (N_HID, N_IN))))
    x = spikes_in(rng, B, T, N_IN, 0.2)
    with torch.no_grad():
        h = lif(fc(torch.tensor(x, dtype=dtype)))
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([N_IN])}),
            "fc": nir.Linear(weight=fc.weight.detach().numpy()),
            "lif": nir.LIF(
                tau=tau.numpy(),
                r=np.ones(N_HID),
                v_leak=np.zeros(N_HID),
                v_threshold=thr.numpy(),
                v_reset=np.zeros(N_HID),
            ),
            "rec": nir.Linear(weight=rec.weight.detach().numpy()),
            "output": nir.Output(output_type={"output": np.array([N_HID])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
    )
    save_case(
        out,
        "sinabs",
        f"lif_recurrent_{tag}",
        g,
        x,
        {"lif": h},
        dict(dialect="sinabs"),
        note="LIFRecurrent(norm_input=False), hand-built NIR",
    )


def main():
    out = outdir()
    cases = [("iaf", True), ("iaf", False), ("iaf_zero", True), ("lif", False), ("lif_norm", False)]
    for i, (kind, clamp) in enumerate(cases):
        for dtype, tag in ((torch.float32, "f32"),):  # MultiSpike returns float32: a float64 net cannot run
            torch.set_default_dtype(dtype)
            rng = np.random.default_rng(300 + i)
            net = build(kind, rng, clamp)
            x = spikes_in(rng, B, T, N_IN, 0.3)
            h, o = run(net, torch.tensor(x, dtype=dtype))
            graph = to_nir(net, torch.zeros(B * T, N_IN, dtype=dtype))
            neurons = [k for k, v in graph.nodes.items() if isinstance(v, (nir.IF, nir.LIF))]
            load = dict(dialect="sinabs")
            if kind.startswith("iaf") and not clamp:
                load["v_min"] = float("-inf")  # to_nir does not record min_v_mem; from_nir assumes -threshold
            if kind == "iaf_zero":
                load["reset"] = "zero"  # to_nir does not record the reset function
            if kind == "lif_norm":
                load["discretisation"] = "exact"  # to_nir drops norm_input=True (gain 1 - exp(-1/tau))
            save_case(
                out,
                "sinabs",
                f"{kind}{'' if clamp else '_noclamp'}_{tag}",
                graph,
                x,
                {neurons[0]: h, neurons[1]: o},
                load,
                note=f"{kind} min_v_mem={'-thr' if clamp else None}",
            )
    recurrent_case(out, np.random.default_rng(399), torch.float32, "f32")


if __name__ == "__main__":
    main()
