"""The NIR paper's Braille RSNNs (neuromorphs/NIR paper/03_rnn) rebuilt in snnTorch from their state_dicts and
hyperparameters, run on random tactile-like spike inputs, against the exported braille_*.nir files.

Model (paper/03_rnn, trained in snnTorch): fc1 -> RSynaptic(alpha_r, beta_r, all-to-all recurrent Linear) -> fc2
-> Synaptic(alpha_out, beta_out), threshold 1, reset "zero" or "subtract" (only the file name says which),
reset_delay=False ("noDelay"). Needs the shared models (EVSIM_SHARED or ../shared beside the repository); exits
with status 3 when they are missing. Usage: python braille_cases.py OUTDIR
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import snntorch as snn
import torch

from _common import outdir, save_case, spikes_in

SHARED = Path(os.environ.get("EVSIM_SHARED", Path(__file__).resolve().parents[3] / "shared"))
RNN = SHARED / "models" / "nir_paper" / "03_rnn"
B, T = 20, 256
MODELS = [
    ("noDelay_bias_zero", "noDelay_bias_ref_zero", "zero"),
    ("noDelay_noBias_subtract", "noDelay_noBias_ref_subtract", "subtract"),
]


def build(sd, par, reset):
    hidden = par["nb_hidden"]
    bias = "fc1.bias" in sd
    net = torch.nn.ModuleDict(
        dict(
            fc1=torch.nn.Linear(12, hidden, bias=bias),
            lif1=snn.RSynaptic(
                alpha=par["alpha_r"],
                beta=par["beta_r"],
                all_to_all=True,
                linear_features=hidden,
                reset_mechanism=reset,
                reset_delay=False,
            ),
            fc2=torch.nn.Linear(hidden, 7, bias=bias),
            lif2=snn.Synaptic(alpha=par["alpha_out"], beta=par["beta_out"], reset_mechanism=reset, reset_delay=False),
        )
    )
    missing = net.load_state_dict(sd, strict=False)
    assert set(missing.missing_keys) <= {"lif1.recurrent.bias"}, missing
    if not bias:
        with torch.no_grad():
            net["lif1"].recurrent.bias.zero_()
    return net


def forward(net, x):
    n = net["fc1"].out_features
    syn1, mem1, spk1 = (torch.zeros(x.shape[0], n) for _ in range(3))
    syn2, mem2 = torch.zeros(x.shape[0], 7), torch.zeros(x.shape[0], 7)
    h, o = [], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            spk1, syn1, mem1 = net["lif1"](net["fc1"](x[:, t]), spk1, syn1, mem1)
            spk2, syn2, mem2 = net["lif2"](net["fc2"](spk1), syn2, mem2)
            h.append(spk1)
            o.append(spk2)
    return torch.stack(h, 1), torch.stack(o, 1)


def main():
    out = outdir()
    if not RNN.is_dir():
        print(f"SKIP: the NIR paper's Braille models are not at {RNN} (set EVSIM_SHARED)")
        sys.exit(3)
    for nir_name, stem, reset in MODELS:
        sd = torch.load(RNN / "data" / f"model_{stem}.pt", map_location="cpu", weights_only=True)
        par = json.loads((RNN / "data" / f"parameters_{stem}.json").read_text())
        net = build(sd, par, reset)
        rng = np.random.default_rng(500)
        x = spikes_in(rng, B, T, 12, 0.08)
        h, o = forward(net, torch.tensor(x, dtype=torch.float32))
        # snnTorch 1.0.0 RSynaptic(reset_delay=False) applies its immediate reset to the *argument* mem and
        # returns self.mem, so lif1 runs as reset_delay=True (zero: the whole next membrane is zeroed while the
        # current integrates on); lif2 (Synaptic) resets at once: a per-node setting gives lif1 its late reset.
        load = dict(dialect="snntorch", reset=reset, reset_delay=False, nodes={"lif1.lif": {"reset_delay": True}})
        nir_path = RNN / f"braille_{nir_name}.nir"
        (out / nir_path.name).write_bytes(nir_path.read_bytes())
        save_case(
            out,
            "braille",
            nir_name,
            nir_path,
            x,
            {"lif1.lif": h, "lif2": o},
            load,
            note=f"snnTorch RSynaptic/Synaptic rebuilt from data/model_{stem}.pt, reset={reset}",
        )


if __name__ == "__main__":
    main()
