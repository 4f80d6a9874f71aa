"""``evsim run MODEL --mode exact``: the command line of exact (continuous-time) mode.

`load_exact` reads a .nir file by NIR's own continuous-time equations (`evsim.load(path, mode="exact")`) or an
exact-time .evsim file; the discrete-time settings (dialect, reset, threshold, ...) do not apply and are refused.
`run_command` feeds each sample's events at their own times in seconds (`evsim.exact.data`, no binning), runs
`evsim.run(..., duration=...)` batch by batch, and prints the output spikes, the decisions by first output spike
(time-to-first-spike) and by spike count, their accuracies against the labels, and the SOPs; ``--out`` keeps the
spike times in seconds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from typing import Any

import numpy as np

from ..errors import InputError, ModelFileError

_DISCRETE_ONLY = ("reset", "reset_delay", "threshold_op", "multi_spike", "discretisation", "config")


def add_run_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("exact time (--mode exact; README, 'Exact time')")
    g.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="run each sample over [0, S) seconds (later events are left out; default: the sample's own length: a "
        "NIR data file's t_max, a raster's frames, the --window)",
    )
    g.add_argument("--seed", type=int, default=0, metavar="N", help="seed of Poisson sources (sample k: N + k)")


def load_exact(args: argparse.Namespace) -> Any:
    """The exact-time network of ``args.model`` (``--dt``: the engine's calendar step, seconds)."""
    from ..io import load

    for name in _DISCRETE_ONLY:
        if getattr(args, name, None) is not None:
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{flag} is a discrete-time setting; --mode exact runs NIR's own equations without it")
    if args.dialect not in (None, "nir"):
        raise InputError(f"--dialect {args.dialect}: --mode exact runs NIR's own equations; a dialect does not apply")
    args.dialect = "nir"
    net = load(args.model, mode="exact", dt=args.dt, strict=args.strict)
    if not net.exact:
        raise ModelFileError(
            f"{args.model}: holds a discrete-time network; --mode exact needs a .nir file (or an .evsim file compiled "
            "with --mode exact)"
        )
    return net


def run_command(args: argparse.Namespace, net: Any, t_load: float, print_model: Any) -> int:
    """``evsim run`` for an exact-time network (see the module docstring)."""
    import evsim

    from ..data.cli import _open, _pipeline
    from .data import exact_inputs

    if args.workers is not None or args.scheduler or args.resume or (args.out and not _is_file(args.out)):
        raise InputError("--mode exact runs in this process: not with --workers, --scheduler, --resume or --out DIR")
    t0 = time.perf_counter()
    ds = _open(args)
    items = exact_inputs(net, ds, _pipeline(args, net), getattr(args, "duration", None), args.samples)
    out_name = net.outputs[0]
    record = "all" if args.record == "all" else "outputs"
    firsts, counts, sops, durs, spikes = [], [], [], [], []
    labels: list[Any] = []
    n_run = 0

    def take(res: Any, part: list, dur: float) -> None:
        nonlocal n_run
        firsts.append(res.first_spike_times(out_name))
        counts.append(res.spike_counts(out_name))
        sops.append(np.atleast_1d(res.sops))
        durs.extend([dur] * len(part))
        labels.extend(lab for _, _, lab in part)
        spikes.append((n_run, res.spikes if args.out else {}))
        n_run += len(part)

    interrupted = False
    try:
        while True:
            chunk = list(itertools.islice(items, max(int(args.batch), 1)))
            if not chunk:
                break
            for dur in sorted({d for _, d, _ in chunk}):  # one evsim.run per duration (usually one)
                part = [c for c in chunk if c[1] == dur]
                try:
                    res = evsim.run(
                        net, [s for s, _, _ in part], duration=dur, threads=args.threads, record=record,
                        max_seconds=args.max_seconds, max_events=args.max_events, seed=args.seed + n_run,
                        progress=args.progress and sys.stderr.isatty(),
                    )  # fmt: skip
                except evsim.RunInterrupted as e:  # the first samples_done of part finished
                    if e.samples_done:
                        take(e.partial, part[: e.samples_done], dur)
                    raise
                take(res, part, dur)
    except KeyboardInterrupt:  # Ctrl-C: what finished is printed and written to --out, as in discrete mode
        if not n_run or not args.out:
            raise
        interrupted = True
    if not n_run:
        raise InputError(f"{args.input}: holds no sample")
    wall = time.perf_counter() - t0
    first, count, sop = np.concatenate(firsts), np.concatenate(counts), np.concatenate(sops)
    lab = np.asarray(labels, dtype=np.int64) if all(v is not None for v in labels) else None
    from ..ttfs import first_spike_class

    by_first = np.atleast_1d(first_spike_class(first))
    by_count = np.argmax(count, axis=1)
    print_model(args, net)
    d = np.unique(durs)
    span = f"{d[0]:g} s" if d.size == 1 else f"{d.min():g}-{d.max():g} s"
    print(f"input    {args.input} ({ds.kind}; each event at its own time, no binning): {n_run} sample(s) x {span}")
    print(f"run      {wall:.3f} s (exact time, load {t_load:.3f} s)")
    fired = np.isfinite(first)
    print(
        f"output   {out_name}: {int(count.sum())} spikes, {count.sum() / n_run:.1f} per sample; first output spike at "
        + (f"{np.median(first.min(axis=1)[fired.any(axis=1)]) * 1e3:.4g} ms (median)" if fired.any() else "none")
    )
    silent = int(np.sum(by_first < 0))
    if lab is not None:
        for name, pred in (("first output spike (TTFS)", by_first), ("argmax of output spike counts", by_count)):
            ok = int(np.sum(pred == lab))
            print(f"accuracy {ok / n_run:.4f} ({ok}/{n_run}, {name})")
    if silent:
        print(f"         {silent} sample(s) without an output spike (first-spike decision -1)")
    print(f"SOPs     {int(sop.sum())} total, {sop.mean():.0f} per sample")
    if args.out:
        _write(args.out, first, by_first, by_count, count, sop, np.asarray(durs), lab, spikes)
        print(f"wrote    {args.out} (spike times in seconds)")
    if interrupted:
        print(f"evsim: interrupted after {n_run} samples; {args.out} holds them", file=sys.stderr)
        return 130
    return 0


def read_all(args: argparse.Namespace, net: Any) -> tuple[list, Any, float]:
    """Every sample (at most ``--samples``) as one batch of events in seconds, the labels, and one duration (the
    longest sample's), for ``evsim report --mode exact``."""
    from ..data.cli import _open, _pipeline
    from .data import exact_inputs

    items = list(exact_inputs(net, _open(args), _pipeline(args, net), args.duration, args.samples))
    if not items:
        raise InputError(f"{args.input}: holds no sample")
    labs = [lab for _, _, lab in items]
    labels = np.asarray(labs, dtype=np.int64) if all(v is not None for v in labs) else None
    return [s for s, _, _ in items], labels, max(d for _, d, _ in items)


def _is_file(out: str) -> bool:
    return str(out).lower().endswith((".npz", ".json"))


def _write(out: str, first, by_first, by_count, count, sop, durs, lab, spikes) -> None:  # noqa: ANN001
    from ..io.files import write_json, write_npz

    fields: dict[str, Any] = dict(
        first_spike_times=first,
        first_spike_predictions=by_first,
        predictions=by_count,
        output_counts=count,
        sops=sop,
        duration=durs,
    )
    if lab is not None:
        fields["labels"] = lab
    names = sorted({k for _, sp in spikes for k in sp})
    for name in names:
        parts = [(off, sp[name]) for off, sp in spikes if name in sp]
        fields[f"spikes/{name}/times"] = np.concatenate([s.times for _, s in parts])
        fields[f"spikes/{name}/indices"] = np.concatenate([s.indices for _, s in parts])
        fields[f"spikes/{name}/samples"] = np.concatenate([s.samples + off for off, s in parts])
    if str(out).lower().endswith(".json"):
        write_json(out, {k: np.asarray(v) for k, v in fields.items()})
    else:
        write_npz(out, **fields)
