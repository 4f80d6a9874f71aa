"""SpikingJelly 2.0 random models -> NIR (SpikingJelly's own ``nir_exchange.export_to_nir``, dt = 1e-4) + its
forward pass (single-step mode).

Cases: IFNode, LIFNode (decay_input True and False, v_reset 0 and nonzero), CUBALIFNode, hard reset; soft reset
(v_reset=None), which the exporter refuses ("NIR does not distinguish soft reset"): that NIR is the hard-reset
export with reset="subtract" given to evsim.load; a recurrent LIFNode layer (NIR by hand). float32 and float64.
Usage: python spikingjelly_cases.py OUTDIR
"""

from __future__ import annotations

import nir
import numpy as np
import torch
from spikingjelly.activation_based import functional, neuron
from spikingjelly.activation_based.nir_exchange import export_to_nir

from _common import outdir, save_case, set_linear, spikes_in

N_IN, N_HID, N_OUT, B, T, DT = 10, 20, 5, 16, 60, 1e-4


def node(kind, rng, v_reset, decay_input):
    thr = float(rng.uniform(0.8, 1.2))
    if kind == "if":
        return neuron.IFNode(v_threshold=thr, v_reset=v_reset)
    if kind == "lif":
        return neuron.LIFNode(
            tau=float(rng.uniform(1.5, 5.0)), decay_input=decay_input, v_threshold=thr, v_reset=v_reset
        )
    return neuron.CUBALIFNode(
        c_decay=float(rng.uniform(0.2, 0.8)), v_decay=float(rng.uniform(0.5, 0.95)), v_threshold=thr, v_reset=v_reset
    )


def build(kind, rng, v_reset, decay_input, dtype):
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, N_HID),
        node(kind, rng, v_reset, decay_input),
        torch.nn.Linear(N_HID, N_OUT),
        node(kind, rng, v_reset, decay_input),
    ).to(dtype)
    gain = {"if": 1.0, "lif": 1.5 if decay_input else 0.7, "cuba": 0.4}[kind]
    set_linear(net[0], rng, 0.1, 0.6, gain)
    set_linear(net[2], rng, 0.15, 0.6, gain)
    return net


def run(net, x):
    functional.reset_net(net)
    hid, out = [], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = net[1](net[0](x[:, t]))
            out.append(net[3](net[2](h)))
            hid.append(h)
    functional.reset_net(net)
    return torch.stack(hid, 1), torch.stack(out, 1)


def recurrent_case(out, rng, dtype, tag):
    lif = neuron.LIFNode(tau=2.5, v_threshold=1.0, v_reset=0.0)
    w1 = torch.tensor(rng.normal(0.2, 0.8, (N_HID, N_IN)), dtype=dtype)
    wr = torch.tensor(rng.normal(-0.1, 0.5, (N_HID, N_HID)), dtype=dtype)
    x = spikes_in(rng, B, T, N_IN, 0.3)
    xt = torch.tensor(x, dtype=dtype)
    s = torch.zeros(B, N_HID, dtype=dtype)
    hs = []
    functional.reset_net(lif)
    with torch.no_grad():
        for t in range(T):
            s = lif(xt[:, t] @ w1.T + s @ wr.T)
            hs.append(s)
    n = N_HID
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([N_IN])}),
            "fc": nir.Linear(weight=w1.numpy()),
            "rec": nir.Linear(weight=wr.numpy()),
            "lif": nir.LIF(
                tau=np.full(n, 2.5 * DT), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n)
            ),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
    )
    save_case(
        out,
        "spikingjelly",
        f"lif_recurrent_{tag}",
        g,
        x,
        {"lif": torch.stack(hs, 1)},
        dict(dialect="spikingjelly"),
        note="LIFNode fed its last-step spikes through a Linear; NIR by hand",
    )


def main():
    out = outdir()
    cases = [
        ("if", 0.0, True),
        ("lif", 0.0, True),
        ("lif", 0.0, False),
        ("lif", -0.2, True),
        ("cuba", 0.0, True),
        ("if", None, True),
        ("lif", None, True),
        ("cuba", None, True),
    ]
    for i, (kind, v_reset, decay_input) in enumerate(cases):
        for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
            torch.set_default_dtype(dtype)
            rng = np.random.default_rng(400 + i)
            net = build(kind, rng, v_reset, decay_input, dtype)
            x = spikes_in(rng, B, T, N_IN, 0.3)
            h, o = run(net, torch.tensor(x, dtype=dtype))
            load = dict(dialect="spikingjelly")
            if v_reset is None:  # soft reset: the exporter refuses it; export the hard-reset twin, load "subtract"
                for m in (net[1], net[3]):
                    m.v_reset = 0.0
                load["reset"] = "subtract"
            functional.reset_net(net)
            graph = export_to_nir(net, torch.zeros(1, N_IN, dtype=dtype), dt=DT)
            neurons = [k for k, v in graph.nodes.items() if isinstance(v, (nir.IF, nir.LIF, nir.CubaLIF))]
            name = (
                f"{kind}{'' if decay_input else '_nodecayinput'}"
                f"{'_soft' if v_reset is None else '_vreset' if v_reset else ''}_{tag}"
            )
            # (a hard-reset neuron starts at v = v_reset: the dialect's start_at_reset gives evsim the same start)
            save_case(
                out,
                "spikingjelly",
                name,
                graph,
                x,
                {neurons[0]: h, neurons[1]: o},
                load,
                note=f"{kind} v_reset={v_reset} decay_input={decay_input} {dtype}",
            )
    for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        recurrent_case(out, np.random.default_rng(499), dtype, tag)
    torch.set_default_dtype(torch.float32)


if __name__ == "__main__":
    main()
