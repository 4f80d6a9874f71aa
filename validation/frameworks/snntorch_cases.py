"""snnTorch 1.0 random models -> NIR (snnTorch's own ``export_to_nir``) + snnTorch's forward pass.

Cases: Leaky and Synaptic, feed-forward (with and without bias) and recurrent (RLeaky/RSynaptic all-to-all),
reset "subtract" (snnTorch's default, reset_delay=True) and "zero", reset_delay=False, in float32 (snnTorch's
Heaviside returns float32 spikes, so a float64 net fails inside export_to_nir's trace). snnTorch's exporter writes
v_reset = 0 whatever the reset was and never records
reset_delay, so each case passes its reset to evsim.load explicitly (the documented workaround); scalar
beta/threshold make the exporter fail (nir's infer_types rejects 0-d LIF parameters), so they are per-neuron
vectors. Usage: python snntorch_cases.py OUTDIR
"""

from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

from _common import outdir, save_case, spikes_in

N_IN, N_HID, N_OUT, B, T = 12, 24, 6, 16, 60


def cell(kind, n, rng, reset, reset_delay, recurrent=False):
    beta = torch.tensor(rng.uniform(0.7, 0.98, n))
    thr = torch.tensor(rng.uniform(0.8, 1.2, n))
    kw = dict(beta=beta, threshold=thr, reset_mechanism=reset, reset_delay=reset_delay, init_hidden=True)
    if kind == "leaky":
        if recurrent:
            return snn.RLeaky(all_to_all=True, linear_features=n, **kw)
        return snn.Leaky(**kw)
    alpha = torch.tensor(rng.uniform(0.3, 0.9, n))
    if recurrent:
        return snn.RSynaptic(alpha=alpha, all_to_all=True, linear_features=n, **kw)
    return snn.Synaptic(alpha=alpha, **kw)


def build(kind, rng, reset, reset_delay, bias, recurrent):
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, N_HID, bias=bias),
        cell(kind, N_HID, rng, reset, reset_delay, recurrent),
        torch.nn.Linear(N_HID, N_OUT, bias=bias),
        cell(kind, N_OUT, rng, reset, reset_delay),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(rng.normal(0.05, 0.4, (N_HID, N_IN))))
        net[2].weight.copy_(torch.tensor(rng.normal(0.1, 0.6, (N_OUT, N_HID))))
        if bias:
            net[0].bias.copy_(torch.tensor(rng.normal(0.0, 0.1, N_HID)))
            net[2].bias.copy_(torch.tensor(rng.normal(0.0, 0.1, N_OUT)))
        if recurrent:
            net[1].recurrent.weight.copy_(torch.tensor(rng.normal(-0.1, 0.3, (N_HID, N_HID))))
            net[1].recurrent.bias.copy_(torch.tensor(rng.normal(0.0, 0.05, N_HID)))
    return net


def reset_all(net):
    for m in net:
        if hasattr(m, "reset_hidden"):
            m.reset_hidden()
        for attr in ("mem", "syn", "spk"):
            if hasattr(m, attr) and isinstance(getattr(m, attr), torch.Tensor):
                setattr(m, attr, torch.zeros_like(getattr(m, attr)))


def forward(net, x):
    """x: [B, T, n_in] -> hidden and output spikes [B, T, n]; every sample starts from zero state."""
    hid, out = [], []
    with torch.no_grad():
        reset_all(net)
        for t in range(x.shape[1]):
            s1 = net[1](net[0](x[:, t])).to(x.dtype)  # snnTorch's Heaviside returns float32 spikes
            s2 = net[3](net[2](s1))
            hid.append(s1)
            out.append(s2)
    return torch.stack(hid, 1), torch.stack(out, 1)


def main():
    out = outdir()
    cases = []
    for kind in ("leaky", "synaptic"):
        for recurrent in (False, True):
            for reset, delay in (("subtract", True), ("zero", True), ("subtract", False)):
                if kind == "synaptic" and recurrent and not delay:
                    continue  # snnTorch 1.0.0 RSynaptic(reset_delay=False, init_hidden=True) fails: spk is None
                for bias in (True, False) if not recurrent and reset == "subtract" and delay else (True,):
                    cases.append((kind, recurrent, reset, delay, bias))
    for i, (kind, recurrent, reset, delay, bias) in enumerate(cases):
        for dtype in (torch.float32,):  # float64: snnTorch's spikes are float32, its export trace then fails
            torch.set_default_dtype(dtype)
            rng = np.random.default_rng(100 + i)
            net = build(kind, rng, reset, delay, bias, recurrent)
            x = spikes_in(rng, B, T, N_IN, 0.25)
            hid, o = forward(net, torch.tensor(x, dtype=dtype))
            reset_all(net)
            graph = export_to_nir(net, torch.zeros(1, N_IN, dtype=dtype), ignore_dims=[0])
            name = (
                f"{'r' if recurrent else ''}{kind}_{reset}{'' if delay else '_nodelay'}"
                f"{'' if bias else '_nobias'}_{'f64' if dtype == torch.float64 else 'f32'}"
            )
            hid_node = "1.lif" if recurrent else "1"
            # reset_delay=False subtract: the snntorch dialect's overshoot rule; reset zero with reset_delay=True in
            # RLeaky/Synaptic/RSynaptic: its one refractory step that keeps the current (evsim.dialects)
            gap = ""
            save_case(
                out,
                "snntorch",
                name,
                graph,
                x,
                {hid_node: hid, "3": o},
                dict(dialect="snntorch", reset=reset, reset_delay=delay),
                gap=gap,
                note=f"snn.{'R' if recurrent else ''}{kind.title()} reset={reset} reset_delay={delay} "
                f"bias={bias} {dtype}",
            )


if __name__ == "__main__":
    main()
