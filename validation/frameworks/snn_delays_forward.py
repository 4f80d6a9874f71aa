"""SNN-delays models in PyTorch, rebuilt module for module as ``SnnDelays.build_model`` lays them out and run as
``SnnDelays.forward`` at evaluation (SIG = 0, version 'max', round_pos()), from DCLS and SpikingJelly.

Usage: python snn_delays_forward.py BASE.pt CONFIGS.json FRAMES.npz OUTDIR

CONFIGS.json is a list of configs; for the i-th, OUTDIR/variant<i>.pt is its checkpoint (laid out as SnnDelays
saves it) and OUTDIR/variant<i>.npz its outputs. The Dcls1d and BatchNorm weights come from BASE.pt (the shipped
checkpoint: modules 0, 4, 8); a config may ask for another model than the one trained (``spiking_neuron_type =
'plif'``, ``stateful_synapse`` (learnable or not), ``loss = 'spike_count'`` with an ``output_v_threshold``): the
extra parameters (PLIF ``w``, SynapseFilter ``w``) are drawn from a seeded generator. variant<i>.npz: the hidden
layers' spikes (``spikes0``, ``spikes1``: [B, T_l, n]), the output ``out`` ([B, T_L, classes]: the membrane, or
spikes for spike_count); variant0.npz also every tensor as torch.load(weights_only=True) reads BASE.pt
(``sd:<key>``).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from DCLS.construct.modules import Dcls1d
from spikingjelly.activation_based import layer, neuron


def build(cfg: dict, base: dict, gen: torch.Generator) -> torch.nn.Sequential:
    L = cfg["n_hidden_layers"] + 1
    sizes = [cfg["n_inputs"]] + [cfg["n_hidden_neurons"]] * (L - 1) + [cfg["n_outputs"]]
    mods: list[torch.nn.Module] = []
    for k in range(L):
        hidden = k < L - 1
        conv = Dcls1d(sizes[k], sizes[k + 1], kernel_count=1, dilated_kernel_size=cfg["max_delay"], bias=False)
        conv.load_state_dict({f: base[f"model.{4 * k}.{f}"] for f in ("weight", "P", "SIG")})
        mods.append(conv)
        if hidden and cfg["use_batchnorm"]:
            bn = layer.BatchNorm1d(sizes[k + 1], step_mode="m")
            bn.load_state_dict({f: base[f"model.{4 * k + 1}.{f}"] for f in bn.state_dict()})
            mods.append(bn)
        thr = cfg["v_threshold"] if hidden else cfg["output_v_threshold"]
        kw = dict(v_threshold=thr, decay_input=False, step_mode="m", store_v_seq=True)
        if cfg["spiking_neuron_type"] == "plif":
            lif = neuron.ParametricLIFNode(init_tau=cfg["init_tau"], **kw)
            with torch.no_grad():
                lif.w.copy_(lif.w + 0.5 * torch.randn((), generator=gen))
        else:
            lif = neuron.LIFNode(tau=cfg["init_tau"], **kw)
        mods.append(lif)
        if hidden:
            mods.append(layer.Dropout(cfg["dropout_p"], step_mode="m"))
            if cfg["stateful_synapse"]:
                sf = layer.SynapseFilter(
                    tau=cfg["stateful_synapse_tau"], learnable=cfg["stateful_synapse_learnable"], step_mode="m"
                )
                if cfg["stateful_synapse_learnable"]:
                    with torch.no_grad():
                        sf.w.copy_(sf.w + 0.5 * torch.randn((), generator=gen))
                mods.append(sf)
    model = torch.nn.Sequential(*mods)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, Dcls1d):  # Model.eval_model: SIG = 0, version 'max', round_pos()
                m.SIG *= 0
                m.version = m.DCK.version = "max"
                m.P.round_()
                m.clamp_parameters()
    return model.eval()


def forward(model: torch.nn.Sequential, cfg: dict, x: torch.Tensor) -> dict:
    """SnnDelays.forward, module by module; x: (time, batch, inputs)."""
    rec = {}
    it = iter(model)
    L = cfg["n_hidden_layers"] + 1
    for k in range(L):
        x = torch.nn.functional.pad(x.permute(1, 2, 0), (cfg["left_padding"], cfg["right_padding"]))
        x = next(it)(x).permute(2, 0, 1)
        if k < L - 1:
            if cfg["use_batchnorm"]:
                x = next(it)(x.unsqueeze(3)).squeeze(3)
            spikes = next(it)(x)
            rec[f"spikes{k}"] = spikes.permute(1, 0, 2).numpy().astype(bool)
            x = next(it)(spikes)  # Dropout (identity at evaluation)
            if cfg["stateful_synapse"]:
                x = next(it)(x)
        else:
            lif = next(it)
            out = lif(x)
            if cfg["loss"] != "spike_count":
                out = lif.v_seq
            rec["out"] = out.permute(1, 0, 2).numpy()
    return rec


def main(base_pt: str, configs: str, frames: str, out_dir: str) -> None:
    base = torch.load(base_pt, weights_only=True)
    x = torch.tensor(np.load(frames)["frames"]).permute(1, 0, 2)
    for i, cfg in enumerate(json.loads(open(configs).read())):
        model = build(cfg, base, torch.Generator().manual_seed(7 + i))
        with torch.no_grad():
            rec = forward(model, cfg, x)
        torch.save({f"model.{k}": v for k, v in model.state_dict().items()}, f"{out_dir}/variant{i}.pt")
        if i == 0:
            rec.update({f"sd:{k}": v.numpy() for k, v in base.items()})
        np.savez(f"{out_dir}/variant{i}.npz", **rec)


if __name__ == "__main__":
    main(*sys.argv[1:5])
