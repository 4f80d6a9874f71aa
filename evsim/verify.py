"""Verification: the event-driven engine against the dense clock-driven reference, and against a framework's output.

`verify` runs the same samples through `evsim.run` (the engine) and `evsim.reference.simulate` (the oracle that
shares nothing with the engine but the `Network`) and compares, per population, every (sample, step, neuron) spike
count; non-spiking populations that the engine records (non-spiking outputs) are compared as membrane traces
within ``rtol``/``atol``, and the final state of every population likewise.

The **first divergence** is the earliest disagreeing step of the first disagreeing sample (ties: populations in
`Network.order`, then the lowest neuron). Its membranes are shown honestly: the reference's is the value it stored
at that step (after reset, as the engine stores state); the engine's is the final state of a second engine run of
that one sample cut to ``step + 1`` steps, which is exactly the engine's state at that step (an event delivered
later cannot change it).

With ``expect`` (a framework's recorded output ``[B, T, n_out]``, e.g. ``snntorch_output``) the engine's output is
compared to it too. `Verification.ok` is False on any disagreement; ``evsim verify`` then exits non-zero.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

import numpy as np

from . import reference
from .errors import EvsimError, InputError
from .network import Network
from .simulation import Result, Spikes, as_dense_inputs, run


@dataclasses.dataclass(frozen=True)
class LayerAgreement:
    """Engine vs reference on one population (spike counts, or the membrane trace of a non-spiking output)."""

    population: str
    compared: str  # "spikes", "membrane" or "final state only" (non-spiking, not recorded by the engine)
    entries: int  # (sample, step, neuron) entries compared
    matching: int
    spikes_engine: int
    spikes_reference: int
    samples_identical: int
    final_state_max_diff: float  # max |engine - reference| of (i, v) at the last step

    @property
    def match_rate(self) -> float:
        return self.matching / self.entries if self.entries else 1.0


@dataclasses.dataclass(frozen=True)
class Divergence:
    """Where two runs first disagree; membranes are NaN where they cannot be shown."""

    sample: int
    step: int
    population: str
    neuron: int
    ours: float  # engine spike count (or membrane for a non-spiking output)
    theirs: float  # reference's (or the framework's)
    v_engine: float
    v_reference: float
    threshold: float


@dataclasses.dataclass(frozen=True)
class ExpectAgreement:
    """Engine output vs a framework's recorded output."""

    source: str
    entries: int
    matching: int
    samples_identical: int
    predictions_agree: int
    accuracy: float | None  # of the framework's output against the labels
    first: Divergence | None

    @property
    def match_rate(self) -> float:
        return self.matching / self.entries if self.entries else 1.0


@dataclasses.dataclass(frozen=True)
class Verification:
    samples: int
    steps: int
    layers: dict[str, LayerAgreement]
    first: Divergence | None
    samples_diverging: int
    outputs_identical: int  # samples whose output (all output populations) is identical in engine and reference
    predictions_agree: int
    accuracy_engine: float | None
    accuracy_reference: float | None
    expect: ExpectAgreement | None

    @property
    def ok(self) -> bool:
        same = self.first is None and all(a.matching == a.entries for a in self.layers.values())
        return same and (self.expect is None or self.expect.matching == self.expect.entries)

    def to_dict(self) -> dict[str, Any]:
        def d(x: Any) -> Any:
            return None if x is None else dataclasses.asdict(x)

        return {
            "ok": self.ok,
            "samples": self.samples,
            "steps": self.steps,
            "layers": {k: dict(dataclasses.asdict(a), match_rate=a.match_rate) for k, a in self.layers.items()},
            "first_divergence": d(self.first),
            "samples_diverging": self.samples_diverging,
            "outputs_identical": self.outputs_identical,
            "predictions_agree": self.predictions_agree,
            "accuracy_engine": self.accuracy_engine,
            "accuracy_reference": self.accuracy_reference,
            "expect": None if self.expect is None else dict(d(self.expect), match_rate=self.expect.match_rate),
        }

    def lines(self) -> list[str]:
        """A human-readable account, one line per finding."""
        B = self.samples
        out = [f"engine vs reference ({B} sample(s) x {self.steps} steps, dense clock-driven oracle):"]
        for a in self.layers.values():
            what = {
                "spikes": f"spikes {a.spikes_engine} vs {a.spikes_reference}",
                "membrane": "membrane trace",
                "final state only": "non-spiking",
            }[a.compared]
            out.append(
                f"  {a.population:<16} match {a.match_rate:.4%} ({what}); identical in "
                f"{a.samples_identical}/{B} samples; final state max |diff| {a.final_state_max_diff:.3g}"
            )
        out.append(
            f"  outputs identical in {self.outputs_identical}/{B} samples; predictions agree in "
            f"{self.predictions_agree}/{B}"
        )
        if self.accuracy_engine is not None:
            out.append(f"  accuracy engine {self.accuracy_engine:.4f}, reference {self.accuracy_reference:.4f}")
        if self.first is not None:
            out.append(
                "  first divergence: "
                + _describe(self.first, "reference")
                + f" ({self.samples_diverging} sample(s) diverge)"
            )
        if self.expect is not None:
            e = self.expect
            out.append(
                f"engine vs {e.source}: output match {e.match_rate:.4%}; identical in {e.samples_identical}/{B} "
                f"samples; predictions agree in {e.predictions_agree}/{B}"
                + (f"; {e.source} accuracy {e.accuracy:.4f}" if e.accuracy is not None else "")
            )
            if e.first is not None:
                out.append("  first divergence: " + _describe(e.first, e.source))
        out.append("AGREE" if self.ok else "DISAGREE")
        return out


def _describe(d: Divergence, other: str) -> str:
    return (
        f"sample {d.sample}, step {d.step}, population {d.population!r}, neuron {d.neuron}: engine {d.ours:g}, "
        f"{other} {d.theirs:g}; membrane (after reset) engine {d.v_engine:.9g}, reference {d.v_reference:.9g} "
        f"(threshold {d.threshold:g})"
    )


# ------------------------------------------------------------------------------------------------ verify
def verify(
    net: Network,
    x: Any,
    *,
    labels: Any = None,
    expect: Any = None,
    expect_name: str = "expected",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    progress: bool = False,
) -> Verification:
    """Run ``x`` through the engine and the reference (and compare with ``expect``); see the module docstring."""
    if net.exact:
        raise InputError(
            "verify compares the engine with the clock-driven reference, which has no continuous time: an exact-time "
            "network is checked against NEST and closed forms (README, 'Exact time')"
        )
    res = run(net, x, progress=progress)
    dense_in, T = as_dense_inputs(net, x)
    B = len(dense_in)
    pops = [net.population(n) for n in net.order if not net.population(n).is_input]
    by_sample = {p.name: _split(res.spikes[p.name], B) for p in pops}
    outputs = np.asarray(res.output).reshape(B, T, -1)
    stats = {p.name: dict(entries=0, matching=0, eng=0, ref=0, same=0) for p in pops}
    fdiff = {p.name: 0.0 for p in pops}  # max |engine - reference| of the final state
    first: Divergence | None = None
    diverging = outputs_same = pred_same = 0
    ref_pred = np.zeros(B, dtype=np.int64)
    it: Iterable[int] = range(B)
    if progress and B > 1:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="reference", unit="sample")
    matrices = reference.delay_matrices(net)
    for b in it:
        ref = reference.simulate(net, dense_in[b], T, matrices=matrices)
        bad_here = None
        for name in net.order:
            p = net.population(name)
            if p.neuron is None:
                continue
            st = stats[name]
            equal: np.ndarray | None = None
            recorded = name in net.outputs and not p.neuron.spiking
            if p.neuron.spiking:
                eng = _dense(by_sample[name][b], T, p.size)
                theirs = ref.spikes[name]
                equal = eng == theirs
                st["eng"] += int(eng.sum())
                st["ref"] += int(theirs.sum())
            elif recorded:
                col = _output_columns(net, name)
                eng = outputs[b][:, col]
                theirs = ref.v[name]
                equal = np.isclose(eng, theirs, rtol=rtol, atol=atol)
            if equal is not None:
                st["entries"] += equal.size
                st["matching"] += int(equal.sum())
                st["same"] += bool(equal.all())
                if not equal.all():
                    t, n = np.argwhere(~equal)[0]
                    if bad_here is None or t < bad_here[1]:
                        bad_here = (name, int(t), int(n), float(eng[t, n]), float(theirs[t, n]), ref)
            i_e, v_e = (np.asarray(a)[b] if res.batch else np.asarray(a) for a in res.final_state[name])
            fd = (
                max(
                    np.max(np.abs(i_e - ref.i[name][-1]), initial=0.0),
                    np.max(np.abs(v_e - ref.v[name][-1]), initial=0.0),
                )
                if T
                else 0.0
            )
            fdiff[name] = max(fdiff[name], float(fd))
            if not np.allclose(i_e, ref.i[name][-1], rtol=rtol, atol=atol) or not np.allclose(
                v_e, ref.v[name][-1], rtol=rtol, atol=atol
            ):
                if bad_here is None and T:
                    n = int(np.argmax(np.abs(v_e - ref.v[name][-1]) + np.abs(i_e - ref.i[name][-1])))
                    bad_here = (name, T - 1, n, float(v_e[n]), float(ref.v[name][-1][n]), ref)
        ref_out = np.concatenate(
            [ref.spikes[o] if _compared(net, o) == "spikes" else ref.v[o] for o in net.outputs],
            axis=-1,
        )
        ref_pred[b] = _predict(net, ref_out)
        outputs_same += bool(_same_output(net, outputs[b], ref_out, rtol, atol))
        if bad_here is not None:
            diverging += 1
            if first is None:
                name, t, n, ours_v, theirs_v, r = bad_here
                first = _divergence(net, dense_in[b], b, t, name, n, ours_v, theirs_v, r)
    eng_pred = np.atleast_1d(res.predictions())
    pred_same = int(np.sum(eng_pred == ref_pred))
    lab = None if labels is None else np.asarray(labels).reshape(-1)
    if lab is not None and lab.shape[0] != B:
        raise EvsimError(f"{lab.shape[0]} labels for {B} samples")
    layers = {
        k: LayerAgreement(k, _compared(net, k), s["entries"], s["matching"], s["eng"], s["ref"], s["same"], fdiff[k])
        for k, s in stats.items()
    }
    exp = None if expect is None else _expect(net, res, dense_in, outputs, expect, expect_name, lab, T)
    return Verification(
        B,
        T,
        layers,
        first,
        diverging,
        outputs_same,
        pred_same,
        None if lab is None else float(np.mean(eng_pred == lab)),
        None if lab is None else float(np.mean(ref_pred == lab)),
        exp,
    )


EXPECT_KEYS = ("output", "outputs", "expected", "expect")


def read_expected(path: str, key: str | None = None) -> tuple[np.ndarray, str]:
    """A framework's recorded output from ``.npz``/``.npy``: array ``key``, else ``output`` (or ``outputs``,
    ``expected``), else the one array named ``*_output`` (e.g. ``snntorch_output``); returns it and its name."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise EvsimError(f"{p}: no such file of expected outputs")
    try:
        if p.suffix.lower() == ".npy":
            return np.load(p, allow_pickle=False), p.stem
        with np.load(p, allow_pickle=False) as z:
            names = list(z.files)
            if key is None:
                key = next((k for k in EXPECT_KEYS if k in names), None)
            if key is None:
                cands = [k for k in names if k.endswith("_output")]
                if len(cands) != 1:
                    raise EvsimError(
                        f"{p}: cannot tell which array holds the expected output; found {names}: name "
                        "one with --expect-key"
                    )
                key = cands[0]
            if key not in names:
                raise EvsimError(f"{p}: no array {key!r}; found {names}")
            return z[key], key
    except EvsimError:
        raise
    except Exception as e:  # noqa: BLE001 - corrupt files raise many kinds of errors
        raise EvsimError(f"{p}: cannot read expected outputs ({type(e).__name__}: {e})") from None


def _compared(net: Network, name: str) -> str:
    p = net.population(name)
    if p.neuron is None or p.neuron.spiking:
        return "spikes"
    return "membrane" if name in net.outputs else "final state only"


def _output_columns(net: Network, name: str) -> slice:
    start = 0
    for o in net.outputs:
        if o == name:
            return slice(start, start + net.population(o).size)
        start += net.population(o).size
    raise KeyError(name)


def _predict(net: Network, out: np.ndarray) -> int:
    p = net.population(net.outputs[0])
    spiking = p.neuron is None or p.neuron.spiking
    return int(np.argmax(out.sum(axis=0) if spiking else out[-1]))


def _same_output(net: Network, a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    p = net.population(net.outputs[0])
    if p.neuron is None or p.neuron.spiking:
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _split(sp: Spikes, B: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    order = np.argsort(sp.samples, kind="stable")
    bounds = np.searchsorted(sp.samples[order], np.arange(B + 1))
    return [
        (sp.times[order[a:z]], sp.indices[order[a:z]], sp.counts[order[a:z]]) for a, z in zip(bounds[:-1], bounds[1:])
    ]


def _dense(tnc: tuple[np.ndarray, np.ndarray, np.ndarray], T: int, n: int) -> np.ndarray:
    out = np.zeros((T, n))
    np.add.at(out, (tnc[0], tnc[1]), tnc[2])
    return out


def _engine_state_at(net: Network, inputs: dict[str, np.ndarray], step: int, name: str) -> tuple[np.ndarray, ...]:
    """The engine's (i, v) of population ``name`` at ``step``: one sample run for ``step + 1`` steps."""
    cut = {k: v[: step + 1] for k, v in inputs.items()}
    r = run(net, cut if len(cut) > 1 else next(iter(cut.values())))
    return r.final_state[name]


def _divergence(
    net: Network, inputs: dict[str, np.ndarray], b: int, t: int, name: str, n: int, ours: float, theirs: float, ref: Any
) -> Divergence:
    _, v = _engine_state_at(net, inputs, t, name)
    p = net.population(name)
    v_th = float("nan") if p.neuron is None else float(p.neuron.v_th[n])
    return Divergence(b, t, name, n, ours, theirs, float(v[n]), float(ref.v[name][t, n]), v_th)


def _expect(
    net: Network,
    res: Result,
    dense_in: list,
    outputs: np.ndarray,
    expect: Any,
    source: str,
    labels: np.ndarray | None,
    T: int,
) -> ExpectAgreement:
    e = np.asarray(expect)
    if e.ndim == 2:
        e = e[None]
    B = outputs.shape[0]
    if e.shape[0] > B:  # --samples cut the inputs: cut the expectation alike
        e = e[:B]
    if e.shape != outputs.shape:
        raise EvsimError(
            f"{source}: expected output of shape {outputs.shape} ([B, T, n_out] of the model), got "
            f"{np.asarray(expect).shape}"
        )
    p = net.population(net.outputs[0])
    spiking = p.neuron is None or p.neuron.spiking
    equal = outputs == e if spiking else np.isclose(outputs, e, rtol=1e-5, atol=1e-7)
    ident = equal.reshape(B, -1).all(axis=1)
    their_pred = np.argmax(e.sum(axis=1) if spiking else e[:, -1], axis=-1)
    first = None
    if not ident.all():
        b = int(np.flatnonzero(~ident)[0])
        t, n = (int(k) for k in np.argwhere(~equal[b])[0])
        # which output population and neuron the column is
        name, local = net.outputs[0], n
        for o in net.outputs:
            if local < net.population(o).size:
                name = o
                break
            local -= net.population(o).size
        ref = reference.simulate(net, dense_in[b], T)
        pop = net.population(name)
        v_ref = float(ref.v[name][t, local]) if pop.neuron is not None else float("nan")
        v_eng = float(_engine_state_at(net, dense_in[b], t, name)[1][local]) if pop.neuron is not None else float("nan")
        thr = float(pop.neuron.v_th[local]) if pop.neuron is not None else float("nan")
        first = Divergence(b, t, name, local, float(outputs[b, t, n]), float(e[b, t, n]), v_eng, v_ref, thr)
    eng_pred = np.atleast_1d(res.predictions())
    return ExpectAgreement(
        source,
        int(equal.size),
        int(equal.sum()),
        int(ident.sum()),
        int(np.sum(eng_pred == their_pred)),
        None if labels is None else float(np.mean(their_pred == labels)),
        first,
    )
