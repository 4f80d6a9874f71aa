"""The shipped SNN-delays model's forward pass in PyTorch, rebuilt from DCLS and SpikingJelly (SNN-delays'
``SnnDelays.forward`` as ``Model.eval_model`` runs it: SIG = 0, version 'max', round_pos()).

Usage: python snn_delays_forward.py MODEL.pt CONFIG.json FRAMES.npz OUT.npz
Writes the hidden spikes (``spikes0``, ``spikes1``: [B, T_l, n]), the output membrane ``v_out`` and every
state_dict tensor as torch.load(weights_only=True) reads it (``sd:<key>``).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from DCLS.construct.modules import Dcls1d
from spikingjelly.activation_based import layer, neuron


def main(model: str, config: str, frames: str, out: str) -> None:
    cfg = json.loads(open(config).read())
    sd = torch.load(model, weights_only=True)
    L = cfg["n_hidden_layers"] + 1
    sizes = [cfg["n_inputs"]] + [cfg["n_hidden_neurons"]] * (L - 1) + [cfg["n_outputs"]]
    x = torch.tensor(np.load(frames)["frames"]).permute(1, 0, 2)  # (time, batch, inputs)
    rec = {}
    idx = 0
    with torch.no_grad():
        for k in range(L):
            conv = Dcls1d(sizes[k], sizes[k + 1], kernel_count=1, dilated_kernel_size=cfg["max_delay"], bias=False)
            conv.load_state_dict({f: sd[f"model.{idx}.{f}"] for f in ("weight", "P", "SIG")})
            conv.SIG *= 0
            conv.version = conv.DCK.version = "max"
            conv.P.round_()
            conv.clamp_parameters()
            h = torch.nn.functional.pad(x.permute(1, 2, 0), (cfg["left_padding"], cfg["right_padding"]))
            h = conv(h).permute(2, 0, 1)
            idx += 1
            if k < L - 1 and cfg["use_batchnorm"]:
                bn = layer.BatchNorm1d(sizes[k + 1], step_mode="m")
                bn.load_state_dict({f: sd[f"model.{idx}.{f}"] for f in bn.state_dict()})
                bn.eval()
                h = bn(h.unsqueeze(3)).squeeze()
                idx += 1
            thr = cfg["v_threshold"] if k < L - 1 else cfg["output_v_threshold"]
            lif = neuron.LIFNode(
                tau=cfg["init_tau"], v_threshold=thr, decay_input=False, step_mode="m", store_v_seq=True
            )
            x = lif(h)
            idx += 2  # the LIF and the Dropout
            if k < L - 1:
                rec[f"spikes{k}"] = x.permute(1, 0, 2).numpy().astype(bool)
        rec["v_out"] = lif.v_seq.permute(1, 0, 2).numpy()
    rec.update({f"sd:{k}": v.numpy() for k, v in sd.items()})
    np.savez(out, **rec)


if __name__ == "__main__":
    main(*sys.argv[1:5])
