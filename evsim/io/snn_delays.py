"""SNN-delays checkpoints (github.com/Thvnvtos/SNN-delays, `SnnDelays`) -> `evsim.Network` with one delay per synapse.

    net = evsim.load("model.pt", config="config.py")     # or config.json; CLI: evsim run model.pt --config ...
    res = evsim.run(net, x)                              # x: binned frames [T, n_inputs] (or a batch)
    res.predictions()                                     # the config's decoding (loss = sum / mean / max / ...)

The checkpoint is ``torch.save(model.state_dict())``, read without running code (`evsim.io.torch_pickle`); the
config is parsed, not run (`evsim.io.pyconfig`). The model is ``n_hidden_layers`` blocks ``Dcls1d -> [BatchNorm1d]
-> LIF/PLIF -> Dropout`` and a final ``Dcls1d -> LIF`` whose membrane is the output. At evaluation SNN-delays sets
``SIG = 0``, version ``'max'`` and calls ``round_pos()``; so does this importer:

* **Delays.** ``round_pos`` rounds the positions ``P`` (half to even) and clamps them to ``+-(M // 2)``, ``M =
  max_delay``; the kernel is then one tap at ``k = round(P) + M // 2`` with weight ``W / (1 + 1e-7)`` (DCLS'
  normalisation, in float32). The layer pads its input with ``left_padding`` zeros in front and ``right_padding``
  behind and correlates, so ``out[t] = W x[t + k - left_padding]``: synapse delay ``d = left_padding - k`` steps
  (``M // 2 - round(P)`` with the default ``left_padding = M - 1``), and every layer's output sequence is
  ``grow = left_padding + right_padding - M + 1`` steps longer than its input (``(M - 1) // 2`` by default).
* **BatchNorm1d** (eval: running statistics) folds into the weights (``s = gamma / sqrt(var + eps)``) and a bias
  ``beta - s mean`` added to the membrane every step, silent steps included.
* **LIFNode** (``decay_input=False``, hard reset to 0): ``v <- v (1 - 1/tau) + x``, spike when ``v >= v_threshold``
  (SpikingJelly's Heaviside), then ``v = 0``; **ParametricLIFNode**: ``1/tau = sigmoid(w)``.
* **Output**: a LIF with ``output_v_threshold >= 1e9`` never fires: a non-spiking readout whose membrane
  (SpikingJelly's ``v_seq``) is the output; with a lower threshold (``loss = 'spike_count'``) it spikes.

Because each layer's sequence ends ``grow`` steps after its input's, a hidden layer's spikes past its own end do not
reach the next layer in PyTorch: `evsim.layered` runs the network layer by layer to reproduce that to the last step.
The input pipeline of SHD/SSC models (SpikingJelly frames of ``time_step`` ms, ``n_bins`` channel binning) is in
``net.meta["input_pipeline"]`` for `evsim.data` (GSC models take spectrograms: none).

``stateful_synapse``: SpikingJelly's SynapseFilter after each hidden layer (``I <- I - (1 - S) I / tau + S``: no
decay in a step with a spike, so no linear synapse reproduces it) is applied by `evsim.layered` to the layer's
spikes, whose graded trace is the next layer's input. Not supported (refused by name):
``spiking_neuron_type = 'heaviside'``, ``kernel_count > 1``, ``model_type = 'snn'`` (no Dcls layers).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ModelFileError
from ..network import Network, Population, Projection
from ..neurons import make_params
from .pyconfig import read_config
from .torch_pickle import read_state_dict

DECODINGS = ("sum", "mean", "max", "spike_count")
REQUIRED = ("n_inputs", "n_hidden_layers", "n_hidden_neurons", "n_outputs", "max_delay", "time_step")
DEFAULTS: dict[str, Any] = dict(
    spiking_neuron_type="lif",
    init_tau=1.0,
    v_threshold=1.0,
    output_v_threshold=1e9,
    use_batchnorm=True,
    bias=False,
    loss="sum",
    n_bins=1,
    stateful_synapse=False,
    stateful_synapse_learnable=False,
    kernel_count=1,
    model_type="snn_delays",
)
BN_EPS = 1e-5  # torch.nn.BatchNorm1d's default (SpikingJelly's layer.BatchNorm1d keeps it)
NON_SPIKING = 1e9  # an output threshold at least this high never fires: the output is the membrane


def load_snn_delays(path: str | Path, config: str | Path | Mapping[str, Any], use_torch: bool | None = None) -> Network:
    """Read an SNN-delays checkpoint with its config (a ``config.py`` / ``.json`` path or a dict of values)."""
    if isinstance(config, Mapping):
        values, notes, cfg_name = dict(config), list[str](), "<config dict>"
    else:
        values, notes = read_config(config)
        cfg_name = str(config)
    cfg = {**DEFAULTS, **values}
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise ModelFileError(f"{cfg_name}: config lacks {missing} (SNN-delays' Config class defines them)")
    _check_config(cfg, cfg_name)
    sd = read_state_dict(path, use_torch=use_torch)
    try:
        return _build(sd, cfg, notes, str(path))
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None


def _check_config(cfg: dict[str, Any], where: str) -> None:
    if cfg["model_type"] not in ("snn_delays", "snn_delays_lr0"):
        raise ModelFileError(f"{where}: model_type {cfg['model_type']!r} is not an SNN-delays spiking model")
    if cfg["spiking_neuron_type"] not in ("lif", "plif"):
        raise ModelFileError(
            f"{where}: spiking_neuron_type {cfg['spiking_neuron_type']!r} is not supported (evsim reads 'lif', 'plif')"
        )
    if int(cfg["kernel_count"]) != 1:
        raise ModelFileError(f"{where}: kernel_count = {cfg['kernel_count']}; evsim reads one delay per synapse (1)")
    if cfg["loss"] not in DECODINGS:
        raise ModelFileError(f"{where}: loss {cfg['loss']!r} is not one of {DECODINGS}")
    for k in ("time_step", "max_delay", "n_bins"):
        if not (isinstance(cfg[k], (int, float)) and cfg[k] > 0):
            raise ModelFileError(f"{where}: {k} must be a positive number, got {cfg[k]!r}")


def _array(sd: dict[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in sd:
        raise ModelFileError(f"no {key!r} in the state_dict (keys: {', '.join(list(sd)[:8])}...)")
    a = np.asarray(sd[key])
    if a.shape != shape:
        raise ModelFileError(f"{key!r} has shape {a.shape}, the config implies {shape}")
    if not np.all(np.isfinite(a)):
        raise ModelFileError(f"{key!r} contains NaN or Inf")
    return a


def _dcls_modules(sd: dict[str, np.ndarray]) -> list[str]:
    """Prefixes of the Dcls1d modules (``model.0.``, ``model.4.``...), in module order."""
    found = []
    for k in sd:
        m = re.fullmatch(r"(.*?)(\d+)\.P", k)
        if m and m.group(1) + m.group(2) + ".weight" in sd:
            found.append((int(m.group(2)), m.group(1) + m.group(2) + "."))
    return [p for _, p in sorted(found)]


def synapses(w: np.ndarray, P: np.ndarray, max_delay: int, left_padding: int) -> tuple[np.ndarray, ...]:
    """(pre, post, weight, delay) of one Dcls1d layer at evaluation (SIG = 0, 'max', rounded positions)."""
    lim = max_delay // 2
    k = np.clip(np.round(P[0, :, :, 0].astype(np.float64)), -lim, lim).astype(np.int64) + lim  # [out, in]
    norm = np.float32(1.0) / (np.float32(1.0) + np.float32(1e-7))  # DCLS: X / (X.sum(0) + 1e-7), in float32
    weight = (w[:, :, 0].astype(np.float32) * norm).astype(np.float64)
    ok = (k < max_delay) & (weight != 0)  # an even kernel can put the tap one past its end: no synapse
    delay = left_padding - k
    if np.any(ok & (delay < 0)):
        raise ModelFileError(f"left_padding = {left_padding} gives negative delays (a non-causal kernel)")
    post, pre = np.nonzero(ok)
    return pre, post, weight[post, pre], delay[post, pre]


def _filter(sd: dict[str, np.ndarray], cfg: dict[str, Any], key: str) -> float:
    """``1/tau`` of a hidden layer's SynapseFilter: ``sigmoid(w)`` when learnable, else ``1/stateful_synapse_tau``."""
    if cfg["stateful_synapse_learnable"]:
        if key not in sd:
            raise ModelFileError(f"stateful_synapse_learnable = True but no {key!r} in the state_dict")
        return float(1.0 / (1.0 + np.exp(-float(np.asarray(sd[key]).reshape(-1)[0]))))
    tau = float(cfg.get("stateful_synapse_tau", 0.0))
    if not tau > 1.0:
        raise ModelFileError(f"stateful_synapse_tau = {tau} (in steps) must be above 1 (SpikingJelly asserts it)")
    return 1.0 / tau


def _build(sd: dict[str, np.ndarray], cfg: dict[str, Any], notes: list[str], source: str) -> Network:
    L = int(cfg["n_hidden_layers"]) + 1
    M = int(cfg["max_delay"])
    lp = int(cfg.get("left_padding", M - 1))
    rp = int(cfg.get("right_padding", (M - 1) // 2))
    grow = lp + rp - M + 1
    sizes = [int(cfg["n_inputs"])] + [int(cfg["n_hidden_neurons"])] * (L - 1) + [int(cfg["n_outputs"])]
    mods = _dcls_modules(sd)
    if len(mods) != L:
        raise ModelFileError(f"{len(mods)} Dcls1d layers in the state_dict, the config implies {L}")
    block = 3 + bool(cfg["use_batchnorm"]) + bool(cfg["stateful_synapse"])  # Dcls [BN] LIF Dropout [filter]
    found = [m[:-1].rsplit(".", 1)[-1] for m in mods]
    if found != [str(k * block) for k in range(L)]:
        raise ModelFileError(
            f"the Dcls1d layers sit at modules {found}, but SnnDelays with use_batchnorm = {cfg['use_batchnorm']}, "
            f"stateful_synapse = {cfg['stateful_synapse']} puts them at {[k * block for k in range(L)]}: "
            "is this the config the model was trained with?"
        )
    names = ["input"] + [f"hidden{k}" for k in range(1, L)] + ["output"]
    pops = [Population("input", sizes[0])]
    projs = []
    filters: list[float] = []
    for layer, pre_key in enumerate(mods):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = _array(sd, pre_key + "weight", (n_out, n_in, 1))
        P = _array(sd, pre_key + "P", (1, n_out, n_in, 1))
        pre, post, weight, delay = synapses(w, P, M, lp)
        bias = np.zeros(n_out)
        if pre_key + "bias" in sd:
            bias += _array(sd, pre_key + "bias", (n_out,))
        idx = int(pre_key.rstrip(".").rsplit(".", 1)[-1])
        stem = pre_key[: -len(f"{idx}.")]
        hidden = layer < L - 1
        if hidden and cfg["use_batchnorm"]:
            bn = f"{stem}{idx + 1}."
            g, b = _array(sd, bn + "weight", (n_out,)), _array(sd, bn + "bias", (n_out,))
            mean, var = _array(sd, bn + "running_mean", (n_out,)), _array(sd, bn + "running_var", (n_out,))
            s = g.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
            weight = weight * s[post]
            bias = b + s * (bias - mean)
        lif_idx = idx + (2 if hidden and cfg["use_batchnorm"] else 1)
        if cfg["spiking_neuron_type"] == "plif":
            wk = f"{stem}{lif_idx}.w"
            if wk not in sd:
                raise ModelFileError(f"spiking_neuron_type = 'plif' but no {wk!r} in the state_dict")
            inv_tau = 1.0 / (1.0 + np.exp(-float(np.asarray(sd[wk]).reshape(-1)[0])))
        else:
            tau = float(cfg["init_tau"])
            if not tau > 1.0:
                raise ModelFileError(f"init_tau = {tau} (in steps) must be above 1 (SpikingJelly's LIFNode asserts it)")
            inv_tau = 1.0 / tau
        beta = 1.0 - inv_tau
        thr = float(cfg["v_threshold"] if hidden else cfg["output_v_threshold"])
        spiking = hidden or thr < NON_SPIKING
        neuron = make_params(
            "LIF" if spiking else "LI",
            n_out,
            beta=beta,
            v_bias=bias,
            threshold=thr if spiking else np.inf,
            reset="zero",
            v_reset=0.0,
            threshold_op=">=",
        )
        if hidden and cfg["stateful_synapse"]:
            filters.append(_filter(sd, cfg, f"{stem}{lif_idx + 2}.w"))  # after the LIF and the Dropout
        pops.append(Population(names[layer + 1], n_out, neuron))
        projs.append(
            Projection.from_synapses(
                f"{names[layer]}->{names[layer + 1]}", names[layer], names[layer + 1], pre, post, weight, delay, n_in
            )
        )
    meta = dict(
        source=source,
        format="snn-delays",
        dialect="snn-delays",
        config={k: v for k, v in cfg.items() if isinstance(v, (int, float, str, bool))},
        notes=notes,
        layered=dict(grow=[grow] * L, decoding=str(cfg["loss"]), **({"filters": filters} if filters else {})),
    )
    if str(cfg.get("dataset", "shd")).lower() in ("shd", "ssc"):  # GSC: mel spectrograms, not events
        meta["input_pipeline"] = dict(
            rule="spikingjelly", time_step=float(cfg["time_step"]) * 1e-3, n_bins=int(cfg["n_bins"])
        )
    else:
        notes.append(f"dataset {cfg.get('dataset')!r}: no event input pipeline (SNN-delays feeds it spectrograms)")
    return Network(tuple(pops), tuple(projs), ("input",), ("output",), dt=float(cfg["time_step"]) * 1e-3, meta=meta)
