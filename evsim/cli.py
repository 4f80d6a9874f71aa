"""The `evsim` command line: parse, call the library, print. ``main(argv)`` returns the exit status.

The options and loading of MODEL that every sub-command shares are in `evsim.model_cli`; the input options in
`evsim.data.cli`, exact mode's in `evsim.exact.cli`, the dataset runner's in `evsim.parallel_cli`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import warnings
from typing import Collection, Sequence

from . import __version__, parallel_cli
from .exact import cli as exact_cli
from .errors import EvsimError
from .model_cli import add_model_args, load_model, print_model

EXAMPLES = """examples:  (in the repository, M=examples/data/digits_snntorch.nir, D=examples/data/digits_test.npz)
  evsim run $M --input $D --dialect snntorch                  accuracy, output spikes, SOPs
  evsim verify $M --input $D --dialect snntorch --expect $D   engine vs reference vs snnTorch's own spikes
  evsim report $M --input $D --dialect snntorch --out report  JSON, CSV, plots and report.html
  evsim info examples/data/cnn_sinabs.nir --dialect sinabs    the NIR graph and what evsim built
  evsim run $M --mode exact --input examples/data/digits_shd.h5 --duration 0.003   continuous time, NIR's equations
"""


def _input_args(p: argparse.ArgumentParser) -> None:
    from .data.cli import add_input_args

    add_input_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evsim",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES,
        description="Event-driven simulation of trained spiking neural networks on the CPU: run a model on "
        "inputs, count its synaptic operations, inspect it.",
    )
    parser.add_argument("--version", action="version", version=f"evsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="run a model on inputs; print accuracy, output spikes and SOPs",
        description="Run MODEL event by event on the samples in --input and report the output "
        "spikes, the accuracy against the labels (when the file has them) and the "
        "synaptic operations.",
    )
    add_model_args(run)
    _input_args(run)
    run.add_argument("--out", "-o", metavar="FILE", help="write output spikes and counters (.npz or .json)")
    run.add_argument("--threads", type=int, default=1, metavar="N", help="run samples in N parallel threads")
    run.add_argument("--max-seconds", type=float, metavar="S", help="stop (exit 2) after S seconds of running")
    run.add_argument("--max-events", type=int, metavar="N", help="stop (exit 2) when a sample passes N synaptic events")
    run.add_argument(
        "--record",
        choices=["output", "all"],
        default="output",
        help="what --out keeps: the output layer (default) or every population's spikes",
    )
    parallel_cli.add_args(run)
    exact_cli.add_run_args(run)
    run.set_defaults(func=cmd_run)

    comp = sub.add_parser(
        "compile",
        help="write a model as evsim's own file (.evsim): loads fast, refused if changed",
        description="Load MODEL with the given settings and write the network evsim built as an .evsim file (its "
        "arrays and a SHA-256 checksum); evsim run/verify/report/info and evsim.load read it directly.",
    )
    add_model_args(comp)
    comp.add_argument("--out", "-o", required=True, metavar="FILE", help="the .evsim file to write")
    comp.set_defaults(func=cmd_compile)

    info = sub.add_parser(
        "info",
        help="show a model's populations, synapses, delays and memory",
        description="Load MODEL and show what evsim built from it.",
    )
    add_model_args(info)
    info.set_defaults(func=cmd_info)

    verify = sub.add_parser(
        "verify",
        help="check the engine against the dense reference (and a framework's output)",
        description="Run MODEL on --input with the event-driven engine and with evsim's dense "
        "clock-driven reference, and with --expect against a framework's recorded "
        "output spikes; report the spike-level match per layer and the first "
        "divergence. Exit status 0 when everything agrees, 1 when not.",
    )
    add_model_args(verify)
    _input_args(verify)
    verify.add_argument(
        "--expect",
        metavar="FILE",
        help=".npz with the framework's output spikes [B, T, n_out] (array 'output' or '*_output')",
    )
    verify.add_argument("--expect-key", metavar="KEY", help="name of the array in --expect (default: see above)")
    verify.add_argument("--out", "-o", metavar="FILE", help="write the findings as JSON")
    verify.set_defaults(func=cmd_verify)

    report = sub.add_parser(
        "report",
        help="count SOPs, spikes, sparsity and energy; write JSON, CSV, plots, HTML",
        description="Run MODEL on --input and write into --out DIR: report.json, CSV tables, "
        "PNG plots (spike raster, SOPs and energy per layer, firing rates, SOPs over "
        "time) and report.html, one self-contained page with all of them.",
    )
    add_model_args(report)
    _input_args(report)
    report.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the report's files")
    report.add_argument(
        "--energy",
        nargs="+",
        metavar="PRESET",
        default=None,
        help="energy presets to price the counts with (default: horowitz45-fp32 "
        "horowitz45-fp32-sram loihi; shipped: see evsim/energy_presets.json)",
    )
    report.add_argument("--energy-file", metavar="FILE", help="your own presets (.json or .toml)")
    report.add_argument("--raster-sample", type=int, default=0, metavar="K", help="sample shown in the raster")
    report.add_argument("--bin", type=int, default=1, metavar="STEPS", help="time bin of 'SOPs over time'")
    report.add_argument(
        "--duration", type=float, metavar="S", help="--mode exact: run each sample over [0, S) seconds (see evsim run)"
    )
    report.add_argument(
        "--early-exit",
        nargs="+",
        type=float,
        metavar="THRESHOLD",
        help="also the early-exit curve (stop a sample once the softmax of its output counts reaches THRESHOLD): "
        "accuracy against latency and SOPs saved, early_exit.png and early_exit.json",
    )
    report.set_defaults(func=cmd_report)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from .data.cli import run_command

    parallel_cli.check_out(args)  # before anything runs
    t0 = time.perf_counter()
    net = load_model(args)
    if net.exact:
        return exact_cli.run_command(args, net, time.perf_counter() - t0, print_model)
    return run_command(args, net, time.perf_counter() - t0, print_model)


def cmd_compile(args: argparse.Namespace) -> int:
    from .io.native import save_native
    from .results import check_out_file

    check_out_file(args.out)
    t0 = time.perf_counter()
    net = load_model(args)
    t1 = time.perf_counter()
    path = save_native(net, args.out)
    print_model(args, net)
    print(f"wrote    {path} ({path.stat().st_size / 1024:.0f} KiB; {args.model} loaded in {t1 - t0:.3f} s)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .network import ConvProjection
    from .summary import graph_order, time_step

    net = load_model(args)
    rank = {n: k for k, n in enumerate(graph_order(net))}

    def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: Collection[int] = ()) -> None:
        w = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
        for r in [header, *rows]:
            cells = [str(c).rjust(w[k]) if k in right else str(c).ljust(w[k]) for k, c in enumerate(r)]
            print("  " + "  ".join(cells).rstrip())

    def kib(n: float) -> str:
        return f"{n / 1024:.1f} KiB" if n < 1024**2 else f"{n / 1024**2:.1f} MiB"

    settings = {
        k: v
        for k, v in dict(net.meta.get("settings", {})).items()
        if k not in ("dialect", "dt") and v not in (None, {}, "") and not net.exact  # (exact: NIR's own equations)
    }
    print(f"model       {args.model}")
    print(
        f"dialect     {net.meta.get('dialect', args.dialect)}, {time_step(net)}"
        + ("; " + ", ".join(f"{k} {v}" for k, v in settings.items()) if settings else "")
    )
    print(
        f"network     {net.n_neurons} neurons in {sum(not p.is_input for p in net.populations)} populations, "
        f"{net.n_synapses} synapses, memory {kib(net.nbytes())}"
    )

    def port(n: str) -> str:
        p = net.population(n)
        return f"{n} ({p.size}" + (f", shape {p.shape})" if p.shape and len(p.shape) > 1 else ")")

    print(f"inputs      {', '.join(port(n) for n in net.inputs)}")
    print(f"outputs     {', '.join(port(n) for n in net.outputs)}")
    if net.meta.get("format") == "nir":
        from .io.nir import read_graph
        from .io.nir_info import node_table

        rows = node_table(net, read_graph(args.model, strict=args.strict))
        print(f"\nNIR graph ({len(rows)} nodes) and what evsim built from each node:")
        table(("node", "type", "shape", "evsim"), rows)
    print("\npopulations:")
    table(
        ("name", "model", "neurons", "shape"),
        [(p.name, p.kind, str(p.size), str(p.shape or (p.size,))) for p in map(net.population, graph_order(net))],
        right={2},
    )
    print("\nprojections:")
    proj_rows: list[tuple[str, ...]] = []
    for q in sorted(net.projections, key=lambda q: (rank[q.source], rank[q.target])):
        d = (
            (f"{q.min_delay}" if q.min_delay == q.max_delay else f"{q.min_delay}..{q.max_delay}")
            if q.n_synapses
            else "-"
        )
        if isinstance(q, ConvProjection):  # an explicit table would hold targets, weights, delays and row pointers
            expanded = q.n_synapses * 16 + (net.population(q.source).size + 1) * 8
            kind = f"implicit conv (explicit: {kib(expanded)})"
        else:
            kind = "explicit"
        proj_rows.append((q.name, f"{q.source} -> {q.target}", f"{q.n_synapses} synapses", d, kind, kib(q.nbytes())))
    unit = "delay (s)" if net.exact else "delay (steps)"
    table(("name", "source -> target", "synapses", unit, "kind", "memory"), proj_rows, right={2, 5})
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .data.cli import read_for_model
    from .io.files import write_json
    from .verify import read_expected, verify

    net = load_model(args)
    _not_exact(net, "verify compares the engine with the clock-driven reference, which has no continuous time")
    x, labels = read_for_model(args, net)
    expect, key = read_expected(args.expect, args.expect_key) if args.expect else (None, "")
    v = verify(net, x, labels=labels, expect=expect, expect_name=key, progress=args.progress and sys.stderr.isatty())
    print_model(args, net)
    print(f"input    {args.input}" + (f"; expected output: {args.expect} [{key}]" if args.expect else ""))
    print("\n".join(v.lines()))
    if args.out:
        write_json(args.out, v.to_dict())
        print(f"wrote    {args.out}")
    return 0 if v.ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    from .energy import load_file
    from .data.cli import read_for_model
    from .report import DEFAULT_PRESETS, headline, make_report, write

    net = load_model(args)
    duration = None
    if net.exact:
        if args.early_exit:
            raise EvsimError("--early-exit streams the input step by step: not available in exact mode")
        x, labels, duration = exact_cli.read_all(args, net)
    else:
        x, labels = read_for_model(args, net)
    presets = args.energy or list(DEFAULT_PRESETS) + (list(load_file(args.energy_file)) if args.energy_file else [])
    if args.bin < 1:
        raise EvsimError(f"--bin must be at least one step, got {args.bin}")
    rep = make_report(
        net,
        x,
        labels=labels,
        presets=presets,
        energy_file=args.energy_file,
        progress=args.progress and sys.stderr.isatty(),
        meta=dict(model=args.model, input=args.input, dialect=args.dialect, settings=net.meta.get("settings", {})),
        duration=duration,
    )
    if not 0 <= args.raster_sample < rep.acct.samples:
        raise EvsimError(f"--raster-sample {args.raster_sample}: the input has {rep.acct.samples} sample(s)")
    files = write(rep, args.out, raster_sample=args.raster_sample, bin_steps=args.bin)
    print_model(args, net)
    print("\n".join(headline(rep)))
    if args.early_exit:
        from .streaming import write_early_exit

        lines, more = write_early_exit(net, x, labels, args.early_exit, args.out)
        print("\n".join(lines))
        files += more
    print(f"wrote    {len(files)} files to {args.out}: {', '.join(f.name for f in files)}")
    return 0


def _not_exact(net, why: str) -> None:  # noqa: ANN001
    if net.exact:
        raise EvsimError(
            f"{why}: not available in exact mode; evsim run --mode exact prints spikes, decisions and SOPs "
            "(exact mode is checked against NEST and closed forms: README, 'Exact time')"
        )


def _announce_compilation() -> None:
    """One line on stderr before the engine's kernels compile (the first run on a machine: seconds of silence)."""
    from .engine import first_run

    first_run.ON_COMPILE = lambda: print("compiling kernels (first run only)...", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # (evsim/__init__ may have set SIG_DFL)
        parser = build_parser()
        args = parser.parse_args(argv)
        _announce_compilation()
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            if getattr(args, "max_memory", None):
                from . import limits

                with limits.override(memory=args.max_memory):
                    return int(args.func(args))
            return int(args.func(args))
    except EvsimError as e:
        done = f" ({e.samples_done} sample(s) had finished)" if hasattr(e, "samples_done") else ""
        print(f"evsim: error: {_one_line(e)}{done}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        n = getattr(e, "samples_done", 0)
        done = f" ({n} sample(s) had finished)" if n else ""
        print(f"evsim: interrupted{done}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `evsim info model.nir | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:
        print(
            "evsim: error: out of memory (lower the input size, or --max-memory to have evsim refuse early)",
            file=sys.stderr,
        )
        return 2
    except RecursionError:
        print("evsim: error: the model is nested too deeply", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a bug of evsim: still one line, never a traceback
        if os.environ.get("EVSIM_DEBUG"):
            raise
        print(
            f"evsim: internal error: {type(e).__name__}: {_one_line(e)} (please report it; EVSIM_DEBUG=1 shows "
            "the traceback)",
            file=sys.stderr,
        )
        return 3


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:2000]


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"evsim: warning: {message}", file=sys.stderr)


def entry() -> None:
    """The console script: `main`, then exit; after Ctrl-C without the interpreter's teardown (~0.3 s of
    unloading Numba and LLVM): every output is already complete or removed (atomic writes) by then."""
    status = main()
    if status == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    entry()
