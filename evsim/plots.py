"""Figures of a run for `evsim.report`: spike rasters, per-layer SOPs with energy, firing rates, SOPs over time.

Each function returns a `matplotlib.figure.Figure` built without pyplot (so no global backend state and no GUI:
the Agg canvas renders it); `save_png` writes one atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .accounting import Accounting
from .energy import EnergyEstimate
from .io.files import atomic_path
from .simulation import Result

if TYPE_CHECKING:
    from .streaming import EarlyExitCurve

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def _figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _si(x: float, unit: str) -> str:
    """``1.23e-9, "J"`` -> ``"1.23 nJ"``."""
    if x == 0:
        return f"0 {unit}"
    for f, p in ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, "")):
        if abs(x) < f * 1000:
            return f"{x / f:.3g} {p}{unit}"
    return f"{x:.3g} {unit}"


def _time_axis(dt: float | None, T: int) -> tuple[float, str]:
    """Scale from steps to a readable time unit, and the axis label."""
    if not dt:
        return 1.0, "step"
    for f, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if T * dt >= f:
            return dt / f, f"time ({unit})"
    return dt / 1e-9, "time (ns)"


def _count(x: float) -> str:
    for f, p in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= f:
            return f"{x / f:.3g}{p}"
    return f"{x:.3g}"


def _rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def raster(res: Result, sample: int = 0) -> Figure:
    """Spikes of one sample, one panel per population (input events included), in `Network.order`."""
    net = res.net
    names = list(net.order)
    sizes = [net.population(n).size for n in names]
    heights = [float(np.clip(np.sqrt(s), 1.6, 12)) for s in sizes]
    fig = _figure(9, min(2.2 + 0.55 * sum(heights), 14))
    axes = fig.subplots(len(names), 1, sharex=True, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0]
    T, exact = res.steps, res.duration
    scale, label = _time_axis(exact, 1) if exact else (1.0, "step")  # (exact mode: spike times are seconds)
    for k, (name, ax) in enumerate(zip(names, axes)):
        sp = res.spikes[name]
        sel = sp.samples == sample
        t, n, c = sp.times[sel] * (scale / exact if exact else 1), sp.indices[sel], sp.counts[sel]
        p = net.population(name)
        kind = p.kind
        ms = float(np.clip(300 / max(p.size, 1), 1.5, 8))
        ax.scatter(
            t,
            n,
            s=ms**2,
            marker="|" if p.size <= 200 else ".",
            color=COLORS[k % len(COLORS)],
            linewidths=1.0,
            rasterized=len(t) > 5000,
        )
        ax.set_ylim(-0.5, p.size - 0.5)
        ax.set_ylabel("neuron")
        what = "events" if p.is_input else "spikes"
        total = float(np.sum(c)) if not p.is_input else len(t)
        ax.set_title(
            f"{name}  ({kind}, {p.size} neurons): {total:g} {what}, "
            + (
                f"{total / (p.size * max(T, 1)):.3f} per neuron per step"
                if exact is None
                else f"{total / p.size:.3g} per neuron"
            ),
            loc="left",
            fontsize=9,
        )
        ax.margins(x=0)
        ax.grid(axis="x", alpha=0.3)
    dt = net.seconds_per_step
    if exact:
        axes[-1].set_xlim(0, scale)
        axes[-1].set_xlabel(f"{label}, exact")
    else:
        axes[-1].set_xlim(-0.5, T - 0.5)
        axes[-1].set_xlabel("step" + (f"  (dt = {_si(dt, 's')})" if dt else ""))
    fig.suptitle(f"Spike raster, sample {sample}", fontsize=11)
    return fig


def sop_bars(acct: Accounting, energies: Sequence[EnergyEstimate]) -> Figure:
    """Per projection: SOPs per sample against the dense count, and the energy per sample under each preset."""
    names = list(acct.projections)
    y = np.arange(len(names))
    fig = _figure(11, 2.3 + len(names) * (0.3 + 0.22 * max(len(energies), 1)))
    ax, ax2 = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.15, 1]})
    ps = [acct.projections[k] for k in names]
    dense = np.array([p.dense.mean() for p in ps])
    acs = np.array([p.acs.mean() for p in ps])
    macs = np.array([p.macs.mean() for p in ps])
    ax.barh(y, dense, color="#e4e4e4", edgecolor="#999999", label="dense: all connections, every step")
    ax.barh(y, acs, height=0.5, color=COLORS[0], label="SOPs: accumulates (spike events)")
    if macs.any():
        ax.barh(y, macs, left=acs, height=0.5, color=COLORS[1], label="SOPs: multiply-accumulates (real values)")
    for yi, s, d in zip(y, acs + macs, dense):
        ax.text(
            max(s, d * 0.02),
            yi,
            f" {_count(s)}  ({s / d:.1%} of dense)" if d else f" {_count(s)}",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("operations per sample")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _count(v) if v else "0"))
    ax.set_title(f"Synaptic operations: {_count(float(acct.sops.mean()))} per sample", loc="left", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax.set_xlim(0, dense.max() * 1.3 if dense.size and dense.max() > 0 else 1)
    h = 0.8 / max(len(energies), 1)
    for j, e in enumerate(energies):
        vals = np.array([e.synaptic[k].mean() for k in names])
        yy = y - 0.4 + h * (j + 0.5)
        ax2.barh(
            yy,
            np.where(vals > 0, vals, np.nan),
            height=h * 0.9,
            color=COLORS[(j + 2) % 10],
            label=f"{e.model.name} (total {_si(float(e.total.mean()), 'J')}/sample)",
        )
        for yi, v in zip(yy, vals):
            if v > 0:
                ax2.text(v, yi, " " + _si(v, "J"), va="center", fontsize=7.5)
    ax2.set_xscale("log")
    ax2.set_xlabel("synaptic energy per sample (J, log scale)")
    ax2.set_title("Synaptic energy per sample, by preset", loc="left", fontsize=10)
    if energies:
        pos = [e.synaptic[k].mean() for e in energies for k in names if e.synaptic[k].mean() > 0]
        if pos:
            ax2.set_xlim(min(pos) / 2, max(pos) * 30)
        ax2.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
    ax2.grid(axis="x", alpha=0.3)
    return fig


def rate_histograms(acct: Accounting) -> Figure:
    """Distribution over neurons of the mean firing rate, one panel per spiking population."""
    color = {k: COLORS[i % len(COLORS)] for i, k in enumerate(acct.populations)}  # as in `raster`
    pops = [p for p in acct.populations.values() if p.spiking]
    fig = _figure(
        4.2 * max(len(pops), 1) if len(pops) < 4 else 12, 3.4 if len(pops) < 4 else 3.0 * np.ceil(len(pops) / 3)
    )
    if not pops:
        fig.text(0.5, 0.5, "no spiking populations", ha="center")
        return fig
    ncol = min(len(pops), 3)
    axes = fig.subplots(int(np.ceil(len(pops) / ncol)), ncol, squeeze=False).ravel()
    hz = acct.dt is not None
    for p, ax in zip(pops, axes):
        rate = p.spikes_per_neuron / acct.steps / (acct.dt if acct.dt is not None else 1.0)
        silent = float(np.mean(p.spikes_per_neuron == 0))
        top = float(rate.max()) if rate.size and rate.max() > 0 else 1.0
        ax.hist(rate, bins=np.linspace(0, top * 1.0001, 31), color=color[p.name], edgecolor="white")
        ax.axvline(rate.mean(), color="black", lw=1, ls="--", label=f"mean {_rate(float(rate.mean()))}")
        ax.set_title(f"{p.name} ({p.kind}, {p.size}): {silent:.0%} silent", loc="left", fontsize=9)
        ax.set_xlabel("firing rate (Hz)" if hz else "spikes per neuron per step")
        ax.set_ylabel("neurons")
        ax.legend(fontsize=7)
    for ax in axes[len(pops) :]:
        ax.set_visible(False)
    fig.suptitle(f"Firing rates per neuron (mean over {acct.samples} sample(s))", fontsize=11)
    return fig


def sops_over_time(acct: Accounting, bin_steps: int = 1) -> Figure:
    """Mean SOPs per time bin, stacked by projection, with the spikes per bin of each population below."""
    from .accounting import rebin

    fig = _figure(9, 5.2)
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.4, 1]})
    T = acct.steps
    starts = np.arange(0, T, bin_steps)
    scale, xlabel = _time_axis(acct.dt, T)
    x = np.append(starts, T) * scale  # bin edges: the last bin is drawn too

    def edges(v: np.ndarray) -> np.ndarray:
        return np.append(v, v[-1:])

    names = list(acct.projections)
    ys = [edges(rebin(acct.projections[k].sops_per_step, bin_steps).mean(axis=0)) for k in names]
    if names and T:
        ax.stackplot(
            x, *ys, labels=names, colors=(COLORS * (len(names) // 10 + 1))[: len(names)], step="post", alpha=0.85
        )
        tot = np.sum(ys, axis=0)
        hi = edges(
            np.quantile(
                np.sum([rebin(acct.projections[k].sops_per_step, bin_steps) for k in names], axis=0), 0.9, axis=0
            )
        )
        ax.step(x, hi, where="post", color="black", lw=0.8, ls=":", label="90th percentile over samples (total)")
        ax.legend(fontsize=7, loc="upper right")
        ax.set_ylim(0, max(float(hi.max()), float(tot.max())) * 1.15 or 1)
    unit = "step" if bin_steps == 1 else f"{bin_steps} steps"
    ax.set_ylabel(f"SOPs per {unit}")
    ax.set_title("Synaptic operations over time (mean over samples, stacked by projection)", loc="left", fontsize=10)
    widths = np.diff(np.append(starts, T))
    for k, p in enumerate(acct.populations.values()):
        ev = rebin(p.events_per_step, bin_steps).mean(axis=0)
        if T:
            ax2.step(x, edges(ev / (p.size * widths)), where="post", color=COLORS[k % 10], label=p.name)
    ax2.set_ylabel("active fraction\n(events per neuron per step)")
    ax2.set_xlabel(xlabel)
    ax2.legend(fontsize=7, loc="upper right", title="population", title_fontsize=7)
    ax2.set_ylim(bottom=0)
    return fig


def early_exit(curve: EarlyExitCurve) -> Figure:
    """Early exit (`evsim.streaming.early_exit_curve`): accuracy against the SOPs and the latency saved, one point
    per confidence threshold (labelled), the full run as a dashed line."""
    fig = _figure(8.0, 3.4)
    axs = fig.subplots(1, 2, sharey=True)
    for ax, saved, what in ((axs[0], curve.sops_saved, "SOPs saved"), (axs[1], curve.latency_saved, "latency saved")):
        ax.plot(100 * saved, 100 * curve.accuracy, "o-", color=COLORS[0])
        for th, x_, y_ in zip(curve.thresholds, 100 * saved, 100 * curve.accuracy):
            ax.annotate(f"{th:g}", (x_, y_), textcoords="offset points", xytext=(4, -10), fontsize=7)
        ax.axhline(100 * curve.full_accuracy, ls="--", color="0.5", lw=1)
        ax.set_xlabel(f"{what} (%)")
        ax.margins(x=0.1)
        ax.grid(alpha=0.3)
    axs[0].set_ylabel("accuracy (%)")
    fig.suptitle(
        f"early exit at confidence >= threshold ({curve.samples} samples; full run: {100 * curve.full_accuracy:.1f}%, "
        f"{curve.full_latency:g} steps, {_count(curve.full_sops)} SOPs)",
        fontsize=9,
    )
    return fig
