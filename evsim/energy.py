"""Energy estimates: figures per operation (presets as data, each with its source) times evsim's exact counters.

A preset is a small table of figures in picojoules; `estimate` multiplies each by the counter it names
(`FIGURES`) and sums. The shipped presets live in ``energy_presets.json`` beside this module (Horowitz 45 nm
fp32/fp16/int32/int8, a memory-access-aware variant, Loihi, TrueNorth, SpiNNaker); users add their own in a JSON or
TOML file of the same shape, one preset or several::

    [presets.mychip]                       # TOML; JSON: {"presets": {"mychip": {...}}}
    title = "My accelerator, 22 nm"
    figures.ac = { pJ = 0.5, source = "datasheet, table 3" }
    figures.mac = { pJ = 2.0, source = "datasheet, table 3" }

A file may also hold a single preset (``title`` and ``figures`` at the top level), named after the file. Every figure
needs a number ``pJ >= 0`` and a ``source``; a bad file raises `EnergyFileError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .accounting import Accounting
from .errors import EvsimError

PRESETS_FILE = Path(__file__).with_name("energy_presets.json")

# figure name -> the counter it multiplies (all per sample)
FIGURES = {
    "ac": "accumulates: SOPs of +-1 events (spikes)",
    "mac": "multiply-accumulates: SOPs of real-valued or multi-spike events",
    "weight_fetch": "one weight read from memory per SOP (AC or MAC)",
    "neuron_update": "neuron state updates the event-driven engine did",
    "neuron_idle": "neuron-steps without an update (hardware that visits every neuron every step)",
    "spike": "spikes emitted by neuron populations",
}


class EnergyFileError(EvsimError, ValueError):
    """An energy preset file is missing, unreadable or malformed (the message names the file and key)."""


@dataclasses.dataclass(frozen=True)
class Figure:
    pj: float  # picojoules per operation
    source: str  # where the number comes from


@dataclasses.dataclass(frozen=True)
class EnergyModel:
    """One preset: figures in pJ by name (a subset of `FIGURES`; missing figures cost nothing)."""

    name: str
    title: str
    figures: Mapping[str, Figure]
    notes: str = ""

    def pj(self, figure: str) -> float:
        f = self.figures.get(figure)
        return f.pj if f is not None else 0.0


@dataclasses.dataclass(frozen=True)
class EnergyEstimate:
    """Joules per sample ``[B]``: synaptic energy per projection, neuron and spike energy, their total."""

    model: EnergyModel
    synaptic: dict[str, np.ndarray]  # projection -> ac x ACs + mac x MACs + weight_fetch x SOPs
    neurons: np.ndarray  # neuron_update x updates + neuron_idle x (dense updates - updates)
    spikes: dict[str, np.ndarray]  # population -> spike x spikes
    total: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.model.name,
            "title": self.model.title,
            "joules_per_sample": float(self.total.mean()),
            "synaptic_joules_per_sample": {k: float(v.mean()) for k, v in self.synaptic.items()},
            "neuron_joules_per_sample": float(self.neurons.mean()),
            "spike_joules_per_sample": {k: float(v.mean()) for k, v in self.spikes.items()},
            "figures_pJ": {k: {"pJ": f.pj, "source": f.source} for k, f in self.model.figures.items()},
        }


def estimate(acct: Accounting, model: EnergyModel | str) -> EnergyEstimate:
    """Energy of the counted run under ``model`` (a preset name or an `EnergyModel`): sum of figure x count."""
    m = preset(model) if isinstance(model, str) else model
    pj = 1e-12
    syn = {
        k: (m.pj("ac") * p.acs + m.pj("mac") * p.macs + m.pj("weight_fetch") * p.sops) * pj
        for k, p in acct.projections.items()
    }
    idle = acct.neuron_updates_dense - acct.neuron_updates
    neurons = (m.pj("neuron_update") * acct.neuron_updates + m.pj("neuron_idle") * np.maximum(idle, 0)) * pj
    spikes = {k: m.pj("spike") * p.spikes * pj for k, p in acct.populations.items() if p.kind != "input"}
    total = neurons + sum(syn.values(), np.zeros(acct.samples)) + sum(spikes.values(), np.zeros(acct.samples))
    return EnergyEstimate(m, syn, neurons, spikes, total)


def spikformer_energy(acct: Accounting, model: EnergyModel | str) -> np.ndarray:
    """Joules per sample by the Spikformer convention ``E_MAC x FLOPs(first layer) + E_AC x SOPs`` (see
    `evsim.accounting`), with the preset's ``mac`` and ``ac`` figures."""
    m = preset(model) if isinstance(model, str) else model
    return (m.pj("mac") * acct.total("spikformer_flops") + m.pj("ac") * acct.total("spikformer_sops")) * 1e-12


# ------------------------------------------------------------------------------------------------ presets
def presets(extra: str | Path | None = None) -> dict[str, EnergyModel]:
    """The shipped presets, plus (overriding same names) those of the file ``extra``."""
    out = _parse(_read(PRESETS_FILE), PRESETS_FILE)
    if extra is not None:
        out.update(load_file(extra))
    return out


def preset(name: str, extra: str | Path | None = None) -> EnergyModel:
    """One preset by name (shipped, or from the file ``extra``)."""
    all_ = presets(extra)
    if name not in all_:
        raise EnergyFileError(f"no energy preset named {name!r}; have {', '.join(sorted(all_))}")
    return all_[name]


def load_file(path: str | Path) -> dict[str, EnergyModel]:
    """Presets from a user's ``.json`` or ``.toml`` file (see the module docstring for the shape)."""
    p = Path(path)
    return _parse(_read(p), p)


def _read(p: Path) -> Any:
    if not p.exists():
        hint = " (evsim's shipped presets: the package data was not installed)" if p == PRESETS_FILE else ""
        raise EnergyFileError(f"{p}: no such energy preset file{hint}")
    try:
        if p.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                try:
                    import tomli as tomllib  # type: ignore[no-redef]
                except ImportError:
                    raise EnergyFileError(
                        f"{p}: reading TOML needs Python 3.11 or the 'tomli' package; or use JSON"
                    ) from None
            with open(p, "rb") as f:
                return tomllib.load(f)
        if p.suffix.lower() == ".json":
            return json.loads(p.read_text())
    except EnergyFileError:
        raise
    except Exception as e:  # noqa: BLE001 - JSON and TOML raise their own error types
        raise EnergyFileError(f"{p}: cannot parse ({type(e).__name__}: {e})") from None
    raise EnergyFileError(f"{p}: unknown energy file format {p.suffix!r}; expected .json or .toml")


def _parse(data: Any, p: Path) -> dict[str, EnergyModel]:
    if not isinstance(data, dict):
        raise EnergyFileError(f"{p}: expected a table of presets at the top level")
    if "presets" in data:
        table = data["presets"]
        if not isinstance(table, dict) or not table:
            raise EnergyFileError(f"{p}: key 'presets' must be a non-empty table of presets")
        return {name: _parse_preset(name, body, p, f"presets.{name}") for name, body in table.items()}
    if "figures" in data:
        return {p.stem: _parse_preset(p.stem, data, p, "")}
    raise EnergyFileError(f"{p}: expected a key 'presets' (several presets) or 'figures' (one preset)")


def _parse_preset(name: str, body: Any, p: Path, where: str) -> EnergyModel:
    at = f"{where}." if where else ""
    if not isinstance(body, dict):
        raise EnergyFileError(f"{p}: {where or 'top level'} must be a table with 'figures'")
    figs = body.get("figures")
    if not isinstance(figs, dict) or not figs:
        raise EnergyFileError(f"{p}: {at}figures must be a non-empty table (figures: {', '.join(FIGURES)})")
    out = {}
    for key, fig in figs.items():
        k = f"{at}figures.{key}"
        if key not in FIGURES:
            raise EnergyFileError(f"{p}: unknown figure {k!r}; expected one of {', '.join(FIGURES)}")
        if not isinstance(fig, dict):
            raise EnergyFileError(f'{p}: {k} must be a table {{pJ = number, source = "..."}}')
        unknown = set(fig) - {"pJ", "source"}
        if unknown:
            raise EnergyFileError(f"{p}: {k} has unknown key(s) {sorted(unknown)}; expected 'pJ' and 'source'")
        v = fig.get("pJ")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise EnergyFileError(f"{p}: {k}.pJ must be a finite number >= 0 (picojoules), got {v!r}")
        src = fig.get("source")
        if not isinstance(src, str) or not src.strip():
            raise EnergyFileError(f"{p}: {k}.source is missing: every figure needs the source of its number")
        out[key] = Figure(float(v), src)
    return EnergyModel(name, str(body.get("title", name)), out, str(body.get("notes", "")))
