"""`evsim report`: run a model, count everything, and write JSON, CSV, PNG plots and one self-contained HTML page.

Files written into the output folder (each atomically: a temporary file renamed into place):

* ``report.json``       everything below with stable keys (``evsim.accounting.Accounting.to_dict`` under
                        ``counts``, energy per preset under ``energy``);
* ``projections.csv``   one row per projection; ``populations.csv`` one row per population;
* ``samples.csv``       one row per sample (label, prediction, SOPs, spikes per population, energy per preset);
* ``sops_per_step.csv`` mean SOPs per step and projection;
* ``raster.png``, ``sops.png``, ``rates.png``, ``sops_time.png`` (`evsim.plots`);
* ``report.html``       a page tying them together, the PNGs embedded (base64): one file to send around.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import __version__, plots
from .accounting import Accounting, account
from .energy import EnergyEstimate, estimate, preset, spikformer_energy
from .io.files import atomic_path, write_json
from .network import Network
from .simulation import Result, run

DEFAULT_PRESETS = ("horowitz45-fp32", "horowitz45-fp32-sram", "loihi")
PLOTS = ("raster", "sops", "rates", "sops_time")


@dataclasses.dataclass
class Report:
    res: Result
    acct: Accounting
    energies: list[EnergyEstimate]
    spikformer: dict[str, np.ndarray]  # preset -> joules per sample by the Spikformer convention
    labels: np.ndarray | None
    meta: dict[str, Any]  # model, input, dialect, ... as given by the caller
    timing: dict[str, float]

    @property
    def predictions(self) -> np.ndarray:
        return np.atleast_1d(self.res.predictions())

    @property
    def accuracy(self) -> float | None:
        return None if self.labels is None else float(np.mean(self.predictions == self.labels))


def make_report(
    net: Network,
    x: Any,
    *,
    labels: Any = None,
    presets: Sequence[str] = DEFAULT_PRESETS,
    energy_file: str | Path | None = None,
    progress: bool = False,
    meta: dict[str, Any] | None = None,
    duration: float | None = None,
) -> Report:
    """Run ``x`` through ``net``, count (`evsim.accounting.account`) and estimate energy under ``presets``.
    ``duration``: seconds, for an exact-time network (`evsim.exact`; its counts are then over the whole run)."""
    models = [preset(p, energy_file) for p in presets]  # fail on a bad preset before the run
    t0 = time.perf_counter()
    res = run(net, x, progress=progress, duration=duration)
    t1 = time.perf_counter()
    acct = account(res)
    t2 = time.perf_counter()
    lab = None if labels is None else np.asarray(labels).reshape(-1)[: acct.samples]
    return Report(
        res,
        acct,
        [estimate(acct, m) for m in models],
        {m.name: spikformer_energy(acct, m) for m in models},
        lab,
        dict(meta or {}),
        {"run_s": t1 - t0, "accounting_s": t2 - t1},
    )


# ------------------------------------------------------------------------------------------------ content
def summary(rep: Report) -> dict[str, Any]:
    """The content of ``report.json``."""
    net, acct = rep.res.net, rep.acct
    energy = {}
    for e in rep.energies:
        energy[e.model.name] = dict(
            e.to_dict(), spikformer_joules_per_sample=float(rep.spikformer[e.model.name].mean())
        )
    return {
        "evsim_version": __version__,
        "model": dict(
            rep.meta,
            dt=net.dt,
            time_unit=net.time_unit,
            neurons=net.n_neurons,
            synapses=net.n_synapses,
            populations=[p.name for p in net.populations],
            outputs=list(net.outputs),
        ),
        "samples": acct.samples,
        "steps": acct.steps,
        "duration_s": rep.res.duration,  # (exact mode: the run's length; counts are over it, in one bin)
        "accuracy": rep.accuracy,
        "counts": acct.to_dict(),
        "energy": energy,
        "timing": rep.timing,
    }


def headline(rep: Report) -> list[str]:
    """A few lines of the report's headline figures (what `evsim report` prints)."""
    a = rep.acct
    d = a.to_dict()
    out = [
        f"samples  {a.samples} x "
        + (
            f"{a.steps} steps"
            if rep.res.duration is None
            else f"{rep.res.duration:g} s (exact; per-step figures on its calendar grid: {a.steps} steps of {a.dt:g} s)"
        )
        + (f", accuracy {rep.accuracy:.4f}" if rep.accuracy is not None else ""),
        f"SOPs     {d['sops_per_sample']:.0f} per sample (AC {d['acs_per_sample']:.0f}, MAC "
        f"{d['macs_per_sample']:.0f}); dense {d['dense_per_sample']:.0f} "
        f"({d['sops_per_sample'] / d['dense_per_sample']:.1%} of dense)"
        if d["dense_per_sample"]
        else f"SOPs     {d['sops_per_sample']:.0f} per sample",
        f"sparsity activations {a.activation_sparsity:.4f}, connections {a.connection_sparsity:.4f}; neuron "
        f"updates {d['neuron_updates_per_sample']:.0f} (event-driven) vs {a.neuron_updates_dense} (dense) per "
        "sample",
    ]
    for e in rep.energies:
        out.append(
            f"energy   {e.model.name}: {plots._si(float(e.total.mean()), 'J')} per sample "
            f"(Spikformer convention {plots._si(float(rep.spikformer[e.model.name].mean()), 'J')})"
        )
    return out


# ------------------------------------------------------------------------------------------------ writing
def write(rep: Report, out_dir: str | Path, *, raster_sample: int = 0, bin_steps: int = 1) -> list[Path]:
    """Write every file of the report into ``out_dir`` (created if needed); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not 0 <= raster_sample < rep.acct.samples:
        raise ValueError(f"raster sample {raster_sample} is not one of the {rep.acct.samples} sample(s)")
    written = []
    figures = {
        "raster": plots.raster(rep.res, raster_sample),
        "sops": plots.sop_bars(rep.acct, rep.energies),
        "rates": plots.rate_histograms(rep.acct),
        "sops_time": plots.sops_over_time(rep.acct, bin_steps),
    }
    pngs = {}
    for name, fig in figures.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        pngs[name] = buf.getvalue()
        written.append(_write_bytes(out / f"{name}.png", pngs[name]))
    js = summary(rep)
    js["files"] = [f"{n}.png" for n in PLOTS] + [
        "projections.csv",
        "populations.csv",
        "samples.csv",
        "sops_per_step.csv",
        "report.html",
    ]
    write_json(out / "report.json", js)
    written.append(out / "report.json")
    written += _write_csvs(rep, out)
    written.append(_write_bytes(out / "report.html", _html(rep, js, pngs, raster_sample).encode()))
    return written


def _write_bytes(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    return path


def _write_csvs(rep: Report, out: Path) -> list[Path]:
    a = rep.acct
    d = a.to_dict()
    pcols = list(next(iter(d["projections"].values()))) if d["projections"] else []
    projections = _write_csv(
        out / "projections.csv",
        ["projection"] + pcols + [f"energy_J_{e.model.name}" for e in rep.energies],
        [
            [k] + [v[c] for c in pcols] + [float(e.synaptic[k].mean()) for e in rep.energies]
            for k, v in d["projections"].items()
        ],
    )
    qcols = list(next(iter(d["populations"].values())))
    populations = _write_csv(
        out / "populations.csv",
        ["population"] + qcols,
        [[k] + [v[c] for c in qcols] for k, v in d["populations"].items()],
    )
    header = ["sample", "label", "prediction", "sops", "acs", "macs", "neuron_updates"]
    header += [f"spikes_{k}" for k in a.populations] + [f"sops_{k}" for k in a.projections]
    header += [f"energy_J_{e.model.name}" for e in rep.energies]
    pred = rep.predictions
    sops, acs, macs = a.sops, a.total("acs"), a.total("macs")
    rows = []
    for b in range(a.samples):
        rows.append(
            [
                b,
                "" if rep.labels is None else int(rep.labels[b]),
                int(pred[b]),
                int(sops[b]),
                int(acs[b]),
                int(macs[b]),
                int(a.neuron_updates[b]),
            ]
            + [_num(p.spikes[b]) for p in a.populations.values()]
            + [int(p.sops[b]) for p in a.projections.values()]
            + [float(e.total[b]) for e in rep.energies]
        )
    samples = _write_csv(out / "samples.csv", header, rows)
    steps = _write_csv(
        out / "sops_per_step.csv",
        ["step", "time_s"] + list(a.projections),
        [
            [t, "" if a.dt is None else float(f"{t * a.dt:.12g}")]
            + [float(p.sops_per_step[:, t].mean()) for p in a.projections.values()]
            for t in range(a.steps)
        ],
    )
    return [projections, populations, samples, steps]


def _num(v: Any) -> Any:
    f = float(v)
    return int(f) if f.is_integer() else f


# ------------------------------------------------------------------------------------------------ HTML
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:10em}
.card b{display:block;font-size:1.35em}.card span{color:#666;font-size:.85em}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}td,th{border-bottom:1px solid #eee;padding:.25em .7em;
text-align:right}th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.note{color:#555;font-size:.88em}code{background:#f4f4f4}
"""


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            v = f"{v:,.0f}" if abs(v) >= 1000 or v.is_integer() else f"{v:.4g}"
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            v = f"{v:,}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(rep: Report, js: dict[str, Any], pngs: dict[str, bytes], raster_sample: int) -> str:
    a, c = rep.acct, js["counts"]
    si = plots._si
    m = js["model"]
    title = html.escape(str(m.get("model", "model")))
    cards = [
        (f"{c['sops_per_sample']:,.0f}", "SOPs per sample"),
        (
            f"{c['sops_per_sample'] / c['dense_per_sample']:.1%}" if c["dense_per_sample"] else "-",
            "of the dense operations",
        ),
        (f"{a.activation_sparsity:.3f}", "activation sparsity"),
        (f"{a.connection_sparsity:.3f}", "connection sparsity"),
    ]
    if rep.accuracy is not None:
        cards.insert(0, (f"{rep.accuracy:.2%}", "accuracy"))
    cards += [(si(float(e.total.mean()), "J"), f"per sample, {e.model.name}") for e in rep.energies]
    cards_html = "".join(
        f'<div class="card"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>' for v, k in cards
    )
    info = _table(
        ["item", "value"],
        [[k, v] for k, v in m.items() if k not in ("populations",)]
        + [
            ["samples x steps", f"{a.samples} x {a.steps}"],
            ["memory (evsim arrays)", f"{a.memory_bytes / 1024:.1f} KiB"],
            ["run / counting time", f"{rep.timing['run_s']:.3f} s / {rep.timing['accounting_s']:.3f} s"],
        ],
    )
    proj = _table(
        [
            "projection",
            "synapses",
            "SOPs / sample",
            "AC",
            "MAC",
            "dense / sample",
            "NeuroBench eff.",
            "Sinabs synops / step",
        ]
        + [f"E {e.model.name}" for e in rep.energies],
        [
            [
                k,
                v["synapses"],
                v["sops_per_sample"],
                v["acs_per_sample"],
                v["macs_per_sample"],
                v["dense_per_sample"],
                v["neurobench_effective_acs"] + v["neurobench_effective_macs"],
                v["sinabs_synops_per_timestep"],
            ]
            + [si(float(e.synaptic[k].mean()), "J") for e in rep.energies]
            for k, v in c["projections"].items()
        ],
    )
    pops = _table(
        ["population", "kind", "neurons", "spikes / sample", "rate per step", "activation sparsity"],
        [
            [k, v["kind"], v["size"], v["spikes_per_sample"], v["rate_per_step"], v["activation_sparsity"]]
            for k, v in c["populations"].items()
        ],
    )
    nb, sb, sf = c["conventions"]["neurobench"], c["conventions"]["sinabs"], c["conventions"]["spikformer"]
    conv = _table(
        ["convention", "figure", "value"],
        [
            ["evsim (exact)", "SOPs per sample (delivered events x non-zero synapses)", c["sops_per_sample"]],
            [
                "evsim (exact)",
                "neuron updates per sample, event-driven / dense",
                f"{c['neuron_updates_per_sample']:.0f} / {c['neuron_updates_dense_per_sample']}",
            ],
            ["NeuroBench", "Effective_ACs", nb["Effective_ACs"]],
            ["NeuroBench", "Effective_MACs", nb["Effective_MACs"]],
            ["NeuroBench", "Dense", nb["Dense"]],
            ["NeuroBench", "ActivationSparsity", nb["ActivationSparsity"]],
            ["NeuroBench", "ConnectionSparsity", nb["ConnectionSparsity"]],
            ["NeuroBench", "MembraneUpdates (every neuron, every step)", nb["MembraneUpdates"]],
            ["Sinabs", "synops per time step", sb["synops_per_timestep"]],
        ]
        + ([["Sinabs", "synops per second", sb["synops_per_second"]]] if "synops_per_second" in sb else [])
        + [
            ["Spikformer", "FLOPs of real-valued-input layers (E_MAC)", sf["flops_first_layer"]],
            ["Spikformer", "SOPs = rate x T x FLOPs (E_AC)", sf["sops"]],
        ]
        + [
            ["Spikformer", f"energy, {e.model.name}", si(float(rep.spikformer[e.model.name].mean()), "J")]
            for e in rep.energies
        ],
    )
    energy_rows = []
    for e in rep.energies:
        for k, f in e.model.figures.items():
            energy_rows.append([e.model.name, k, f"{f.pj:g} pJ", f.source])
    energy = _table(["preset", "figure", "value", "source"], energy_rows)

    def img(name: str, alt: str) -> str:
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(pngs[name]).decode()}">'

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>evsim report: {title}</title><style>{_CSS}</style></head><body>
<h1>evsim report: {title}</h1>
<p class="sub">evsim {html.escape(js["evsim_version"])}, {a.samples} sample(s) x {a.steps} steps{
        f", dt = {si(a.dt, 's')}" if a.dt else ""
    }. Every count is exact: counted from the spikes the event-driven
engine delivered, after the run.</p>
<div class="cards">{cards_html}</div>
<h2>Model and run</h2>{info}
<h2>Synaptic operations and energy per layer</h2>{img("sops", "SOPs and energy per projection")}{proj}
<p class="note">SOPs: one per delivered event per non-zero synapse (AC for a spike, MAC for a real-valued or
multi-spike event). Dense: every connection at every step. Energy: sum of each preset's figures (below) times
these counts; the totals above add neuron updates and spikes where a preset prices them.</p>
<h2>Spikes</h2>{img("raster", "spike raster")}
<p class="note">Sample {raster_sample}, every population in update order (inputs first).</p>
{img("rates", "firing-rate histograms")}{pops}
<h2>Over time</h2>{img("sops_time", "SOPs over time")}
<h2>Published conventions</h2>{conv}
<p class="note">NeuroBench counts non-zero layer inputs x non-zero weights at every step, without delays or
biases, classing a step's operations as MACs when any input value is not 0/&plusmn;1; Dense counts every
connection. Sinabs multiplies input values (spike counts) by the structural fan-out, zero weights included, and
averages per time step. Spikformer prices real-valued-input layers as dense MACs and the rest as firing rate x T x
FLOPs. See <code>evsim/accounting.py</code> for where each differs from evsim's exact count.</p>
<h2>Energy figures</h2>{energy}
<p class="note">Machine-readable: report.json, projections.csv, populations.csv, samples.csv, sops_per_step.csv.</p>
</body></html>
"""
