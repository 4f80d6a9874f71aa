"""Norse 1.1 random models -> NIR (Norse's own ``norse.torch.to_nir``, dt = 1 ms) + Norse's forward pass.

Norse's to_nir writes tau = dt/tau_mem_inv (dt times the true time constant, norse/norse#411) and keeps the
batch dimension in the Input type (nir.read's type check fails): the cases divide tau by dt and load with
strict=False. Cases: LIFBoxCell (NIR LIF) feed-forward with bias, reset to v_reset and by subtraction
(``reset_subtract``; the
exporter does not record the reset, so the case passes reset="subtract"), IAFCell (NIR IF), LIFCell (NIR CubaLIF;
the exporter omits w_in, read as 1, while LIFCell adds its input to the current unscaled: the workaround sets
w_in = tau_syn/dt in the graph), and a recurrent LIFBoxCell layer (a Linear of the previous step's spikes; Norse's
exporter has no recurrent node, so that NIR graph is written by hand), float32 and float64.
Usage: python norse_cases.py OUTDIR
"""

from __future__ import annotations

import nir
import numpy as np
import torch
from norse.torch import IAFCell, IAFParameters, LIFBoxCell, LIFBoxParameters, LIFCell, LIFParameters, to_nir
from norse.torch.functional.reset import reset_subtract

from _common import outdir, save_case, spikes_in

N_IN, N_HID, N_OUT, B, T, DT = 10, 20, 5, 16, 80, 1e-3


def vec(rng, lo, hi, n, dtype):
    return torch.tensor(rng.uniform(lo, hi, n), dtype=dtype)


def make_cell(kind, n, rng, dtype, subtract):
    kw = dict(reset_method=reset_subtract) if subtract else {}
    if kind == "lifbox":
        return LIFBoxCell(
            LIFBoxParameters(
                tau_mem_inv=vec(rng, 50, 300, n, dtype),
                v_th=vec(rng, 0.3, 0.6, n, dtype),
                v_leak=torch.zeros(n, dtype=dtype),
                v_reset=torch.zeros(n, dtype=dtype),
                **kw,
            ),
            dt=DT,
        )
    if kind == "iaf":
        return IAFCell(IAFParameters(v_th=vec(rng, 0.8, 1.5, n, dtype), v_reset=torch.zeros(n, dtype=dtype)), dt=DT)
    return LIFCell(
        LIFParameters(
            tau_syn_inv=vec(rng, 100, 400, n, dtype),
            tau_mem_inv=vec(rng, 50, 200, n, dtype),
            v_th=vec(rng, 0.05, 0.15, n, dtype),
            v_leak=torch.zeros(n, dtype=dtype),
            v_reset=torch.zeros(n, dtype=dtype),
        ),
        dt=DT,
    )


class Net(torch.nn.Module):
    def __init__(self, kind, rng, dtype, subtract=False, bias=True):
        super().__init__()
        self.fc1 = torch.nn.Linear(N_IN, N_HID, bias=bias)
        self.n1 = make_cell(kind, N_HID, rng, dtype, subtract)
        self.fc2 = torch.nn.Linear(N_HID, N_OUT, bias=bias)
        self.n2 = make_cell(kind, N_OUT, rng, dtype, subtract)
        scale = {"lifbox": 3.0, "iaf": 1.0, "lifcell": 0.3}[kind]
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor(rng.normal(0.1, 0.5, (N_HID, N_IN)) * scale))
            self.fc2.weight.copy_(torch.tensor(rng.normal(0.2, 0.6, (N_OUT, N_HID)) * scale))
            if bias:
                self.fc1.bias.copy_(torch.tensor(rng.normal(0, 0.05, N_HID) * scale))
                self.fc2.bias.copy_(torch.tensor(rng.normal(0, 0.05, N_OUT) * scale))

    def forward(self, x):  # x [B, n_in] one step, states kept on the module for the trace
        s1, self.st1 = self.n1(self.fc1(x), getattr(self, "st1", None))
        s2, self.st2 = self.n2(self.fc2(s1), getattr(self, "st2", None))
        self.last_hidden = s1
        return s2


def run(net, x):
    net.st1 = net.st2 = None
    hid, out = [], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out.append(net(x[:, t]))
            hid.append(net.last_hidden)
    net.st1 = net.st2 = None
    return torch.stack(hid, 1), torch.stack(out, 1)


def node_names(graph):
    lin = sorted(k for k, v in graph.nodes.items() if isinstance(v, nir.Affine))
    neu = sorted(k for k, v in graph.nodes.items() if isinstance(v, (nir.LIF, nir.CubaLIF, nir.IF)))
    return lin, neu


def recurrent_case(out, rng, dtype, tag):
    """fc1 -> LIFBox (+ W_rec of last step's spikes) -> fc2 -> LIFBox; hand-written NIR."""
    n1 = make_cell("lifbox", N_HID, rng, dtype, False)
    n2 = make_cell("lifbox", N_OUT, rng, dtype, False)
    w1 = torch.tensor(rng.normal(0.1, 1.5, (N_HID, N_IN)), dtype=dtype)
    wr = torch.tensor(rng.normal(-0.2, 1.0, (N_HID, N_HID)), dtype=dtype)
    w2 = torch.tensor(rng.normal(0.5, 1.5, (N_OUT, N_HID)), dtype=dtype)
    x = spikes_in(rng, B, T, N_IN, 0.2)
    xt = torch.tensor(x, dtype=dtype)
    st1 = st2 = None
    s1 = torch.zeros(B, N_HID, dtype=dtype)
    hid, o = [], []
    with torch.no_grad():
        for t in range(T):
            s1, st1 = n1(xt[:, t] @ w1.T + s1 @ wr.T, st1)
            s2, st2 = n2(s1 @ w2.T, st2)
            hid.append(s1)
            o.append(s2)

    def lif(cell, n):
        p = cell.p
        return nir.LIF(
            tau=(1 / p.tau_mem_inv).numpy().astype(np.float64),
            r=np.ones(n),
            v_leak=np.zeros(n),
            v_threshold=p.v_th.numpy().astype(np.float64),
            v_reset=np.zeros(n),
        )

    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([N_IN])}),
            "fc1": nir.Linear(weight=w1.numpy()),
            "lif1": lif(n1, N_HID),
            "rec": nir.Linear(weight=wr.numpy()),
            "fc2": nir.Linear(weight=w2.numpy()),
            "lif2": lif(n2, N_OUT),
            "output": nir.Output(output_type={"output": np.array([N_OUT])}),
        },
        edges=[
            ("input", "fc1"),
            ("fc1", "lif1"),
            ("lif1", "rec"),
            ("rec", "lif1"),
            ("lif1", "fc2"),
            ("fc2", "lif2"),
            ("lif2", "output"),
        ],
    )
    save_case(
        out,
        "norse",
        f"lifbox_recurrent_{tag}",
        g,
        x,
        {"lif1": torch.stack(hid, 1), "lif2": torch.stack(o, 1)},
        dict(dialect="norse"),
        note="LIFBoxCell with a recurrent Linear of last step's spikes (hand-built NIR)",
    )


def main():
    out = outdir()
    cases = [
        ("lifbox", False, True),
        ("lifbox", True, True),
        ("lifbox", False, False),
        ("iaf", False, True),
        ("lifcell", False, True),
    ]
    for i, (kind, subtract, bias) in enumerate(cases):
        for dtype in (torch.float32, torch.float64):
            tag = "f64" if dtype == torch.float64 else "f32"
            torch.set_default_dtype(dtype)
            rng = np.random.default_rng(200 + i)
            net = Net(kind, rng, dtype, subtract, bias)
            x = spikes_in(rng, B, T, N_IN, 0.2)
            hid, o = run(net, torch.tensor(x, dtype=dtype))
            graph = to_nir(net, torch.zeros(1, N_IN, dtype=dtype), dt=DT)
            note = f"{kind} subtract={subtract} bias={bias} {dtype}"
            # exporter bug (norse/norse#411): tau = dt/tau_mem_inv, dt times the true time constant; workaround:
            # divide by dt. evsim detects it (tau < dt under Euler) and says so: checked by the test below.
            for node in graph.nodes.values():
                for field in ("tau", "tau_mem", "tau_syn"):
                    if isinstance(node, (nir.LIF, nir.CubaLIF)) and hasattr(node, field):
                        setattr(node, field, np.asarray(getattr(node, field), np.float64) / DT)
            note += "; workaround: tau /= dt (norse#411)"
            if kind == "lifcell":  # exporter bug: CubaLIF without w_in; LIFCell: i += x, so w_in = tau_syn / dt
                for node in graph.nodes.values():
                    if isinstance(node, nir.CubaLIF):
                        node.w_in = np.asarray(node.tau_syn, np.float64) / DT
                note += "; workaround: w_in = tau_syn/dt written into the exported CubaLIF"
            _, neu = node_names(graph)
            # exporter bug: the Input node keeps the batch dimension ([1, n_in] -> [n_in]), so nir.read's type
            # check fails; evsim says so and strict=False loads it
            load = dict(dialect="norse", strict=False)
            if subtract:
                load["reset"] = "subtract"
            name = f"{kind}{'_subtract' if subtract else ''}{'' if bias else '_nobias'}_{tag}"
            save_case(out, "norse", name, graph, x, {neu[0]: hid, neu[1]: o}, load, note=note)
        torch.set_default_dtype(torch.float32)
    for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        recurrent_case(out, np.random.default_rng(299), dtype, tag)


if __name__ == "__main__":
    main()
