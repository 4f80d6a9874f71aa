"""Dataset runs (`evsim.parallel`): per-sample figures against one `evsim.run` of the whole batch and
`evsim.accounting.account`, bit-identical whatever the worker count; failures kept, results resumable."""

import json
import os
import signal

import numpy as np
import pytest

import evsim
from evsim.accounting import account
from evsim.parallel import run_dataset, run_sample
from evsim.results import OutputPathError


def _net(rng, n_in=20, hidden=30, n_out=5, delays=True):
    W1 = rng.normal(0, 0.6, (hidden, n_in))
    W2 = rng.normal(0, 0.6, (n_out, hidden))
    D = [rng.integers(0, 4, W1.shape), rng.integers(0, 3, W2.shape)] if delays else None
    return evsim.feedforward([n_in, hidden, n_out], lambda n: evsim.LIF(n, beta=0.9), [W1, W2], D)


def _data(rng, B=23, T=30, n_in=20):
    x = (rng.random((B, T, n_in)) < 0.15).astype(np.float32)
    return x, rng.integers(0, 5, B)


def test_run_sample_counts_as_account_of_one_batch(rng):
    net = _net(rng)
    x, _ = _data(rng, B=4)
    res = evsim.run(net, x)
    ref = account(res).counters()
    for b in range(4):
        out, c = run_sample(net, x[b])
        assert np.array_equal(out, res.output[b])
        assert set(c) == set(ref) and all(c[k] == ref[k][b] for k in ref)
        assert c["sops/input->layer1"] + c["sops/layer1->layer2"] == res.sops[b]


def test_dataset_run_equals_batch_run_whatever_the_workers(rng):
    net = _net(rng)
    x, y = _data(rng)
    res = evsim.run(net, x)
    ref = account(res).counters()
    runs = [
        run_dataset(net, (x, y), workers=1, chunk=5),
        run_dataset(net, (x, y), workers=2, chunk=3),  # other chunks, two processes, any completion order
    ]
    for r in runs:
        assert r.status == "complete" and not r.failed and r.n == 23
        assert np.array_equal(r.index, np.arange(23))
        assert np.array_equal(r.predictions, res.predictions())
        assert np.array_equal(r.output_counts, res.output.sum(axis=1))
        assert r.accuracy() == float(np.mean(res.predictions() == y))
        assert set(r.counters) == set(ref)
        for k in ref:
            assert r.counters[k].dtype == ref[k].dtype and np.array_equal(r.counters[k], ref[k]), k
    assert runs[0].totals() == runs[1].totals()


def test_a_sample_that_raises_is_reported_and_resume_completes(rng, tmp_path):
    net = _net(rng, delays=False)
    x, y = _data(rng, B=9)
    samples = [(x[b], int(y[b])) for b in range(9)]
    samples[4] = (x[4][:, :7], int(y[4]))  # 7 inputs for a port of 20
    r = run_dataset(net, samples, workers=1, chunk=4, out=tmp_path / "run")
    assert r.status == "incomplete" and list(r.failed) == [4] and "20" in r.failed[4]
    assert r.n == 8 and 4 not in r.index
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["status"] == "incomplete" and list(m["failed"]) == ["4"]
    samples[4] = (x[4], int(y[4]))  # fixed: only sample 4 runs again
    with pytest.raises(OutputPathError, match="resume"):
        run_dataset(net, samples, workers=1, out=tmp_path / "run")
    r2 = run_dataset(net, samples, workers=1, chunk=4, out=tmp_path / "run", resume=True)
    assert r2.status == "complete" and r2.n == 9 and not r2.failed
    ref = evsim.run(net, x)
    assert np.array_equal(r2.predictions, ref.predictions()) and np.array_equal(r2.sops, ref.sops)
    with np.load(tmp_path / "run" / "results.npz") as z:
        assert np.array_equal(z["index"], np.arange(9))


class _Killing:
    """A dataset that kills one of the pool's worker processes when sample ``at`` is read (by then, chunks are
    in flight in the workers)."""

    def __init__(self, x, y, at):
        self.x, self.y, self.at = x, y, at
        self.killed = None

    def __len__(self):
        return len(self.x)

    def __iter__(self):
        import multiprocessing as mp

        for b in range(len(self.x)):
            if b == self.at:
                kids = [p for p in mp.active_children() if "SpawnProcess" in p.name]
                if kids:
                    self.killed = kids[0].pid
                    os.kill(kids[0].pid, signal.SIGKILL)
            yield self.x[b], int(self.y[b])


def test_killed_worker_loses_only_chunks_in_flight_and_resume_completes(rng, tmp_path):
    net = _net(rng, n_in=40, hidden=200, n_out=5)
    x, y = _data(rng, B=40, T=400, n_in=40)
    ds = _Killing(x, y, at=24)
    r = run_dataset(net, ds, workers=2, chunk=4, out=tmp_path / "run")
    assert ds.killed is not None
    assert r.status == "incomplete" and r.failed and all("worker process died" in e for e in r.failed.values())
    assert r.n + len(r.failed) == 40 and not set(r.failed) & set(r.index.tolist())
    ds.at = -1  # the same dataset, no kill this time
    r2 = run_dataset(net, ds, workers=2, chunk=4, out=tmp_path / "run", resume=True)
    assert r2.status == "complete" and r2.n == 40
    ref = evsim.run(net, x)
    assert np.array_equal(r2.predictions, ref.predictions()) and np.array_equal(r2.sops, ref.sops)


def test_output_paths_checked_before_the_run(rng, tmp_path):
    net = _net(rng)
    (tmp_path / "file").write_text("x")

    def never():
        raise AssertionError("the run started")
        yield

    with pytest.raises(OutputPathError, match="is a file"):
        run_dataset(net, never(), out=tmp_path / "file" / "run")
    with pytest.raises(OutputPathError, match="does not exist"):
        run_dataset(net, never(), out=tmp_path / "missing" / "run")


def test_cli_dataset_run_and_resume(tmp_path, capsys):
    from evsim.cli import main

    model, data = "examples/data/digits_snntorch.nir", "examples/data/digits_test.npz"
    from conftest import REPO

    args = [str(REPO / model), "--input", str(REPO / data), "--dialect", "snntorch", "--samples", "40"]
    assert main(["run", *args, "--workers", "1", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "40 sample(s) done of 40" in out and "results" in out
    ref = evsim.run(evsim.load(REPO / model, dialect="snntorch"), np.load(REPO / data)["x"][:40])
    assert f"SOPs     {int(ref.sops.sum())} total" in out
    assert main(["run", *args, "--out", str(tmp_path / "r"), "--resume"]) == 0  # nothing missing: nothing runs
    assert main(["run", *args, "--out", str(tmp_path / "r")]) == 2  # would mix two runs
    assert "--resume completes it" in capsys.readouterr().err
    assert main(["run", *args, "--workers", "0"]) == 2
    assert main(["run", *args, "--workers", "2", "--record", "all"]) == 2  # refused before anything runs
    assert "--record all is not available with --workers" in capsys.readouterr().err


class _CtrlC:
    """A dataset during which the user presses Ctrl-C (SIGINT to this process) when sample ``at`` is read."""

    def __init__(self, x, y, at):
        self.x, self.y, self.at = x, y, at

    def __len__(self):
        return len(self.x)

    def __iter__(self):
        for b in range(len(self.x)):
            if b == self.at:
                os.kill(os.getpid(), signal.SIGINT)
            yield self.x[b], int(self.y[b])


def test_ctrl_c_keeps_what_finished_and_resume_completes(rng, tmp_path):
    net = _net(rng)
    x, y = _data(rng, B=20)
    ds = _CtrlC(x, y, at=9)
    r = run_dataset(net, ds, workers=1, chunk=4, out=tmp_path / "run")
    assert r.status == "interrupted" and r.n == 8 and not r.failed  # chunks 0-3 and 4-7 finished
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "interrupted"
    ds.at = -1
    r2 = run_dataset(net, ds, workers=1, chunk=4, out=tmp_path / "run", resume=True)
    assert r2.status == "complete" and r2.n == 20
    assert np.array_equal(r2.predictions, evsim.run(net, x).predictions())


def test_ctrl_c_with_errors_raise_raises_with_the_finished_chunks(rng):
    net = _net(rng)
    x, y = _data(rng, B=20)
    with pytest.raises(KeyboardInterrupt) as e:
        run_dataset(net, _CtrlC(x, y, at=9), workers=1, chunk=4, errors="raise")
    r = e.value.run  # chunks 0-3 and 4-7 finished: the same figures as a run of those samples alone
    ref = run_dataset(net, _CtrlC(x[:8], y[:8], at=-1), workers=1, chunk=4)
    assert r.status == "interrupted" and r.n == 8
    np.testing.assert_array_equal(r.index, ref.index)
    np.testing.assert_array_equal(r.output_counts, ref.output_counts)
    np.testing.assert_array_equal(r.sops, ref.sops)


def test_cli_workers_on_an_event_file_equal_the_batch_runner(tmp_path, capsys):
    """An SHD file read through evsim.data: the dataset run on 2 worker processes gives the figures of `evsim run`'s
    own in-process batch runner (evsim.data.runner)."""
    from conftest import REPO

    from evsim.cli import main

    args = [
        "run",
        str(REPO / "examples/data/digits_snntorch.nir"),
        "--input",
        str(REPO / "examples/data/digits_shd.h5"),
    ]
    args += ["--dialect", "snntorch", "--steps", "25", "--samples", "20", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a.npz")]) == 0
    assert main([*args, "--workers", "2", "--chunk", "6", "--out", str(tmp_path / "b")]) == 0
    a = np.load(tmp_path / "a.npz")
    with np.load(tmp_path / "b" / "results.npz") as b:
        assert np.array_equal(a["predictions"], b["prediction"]) and np.array_equal(
            a["sops"], sum(b[k] for k in b.files if k.startswith("c/sops/"))
        )
        assert np.array_equal(a["output_counts"], b["output"])


def test_one_runner_in_process_and_on_workers_pad_batch_record_and_outputs():
    """The in-process entry point (evsim.data.run_dataset) and two worker processes are one runner: padded chunks
    (SpikingJelly's pad_sequence_collate), each sample's output per step and every population's spikes come back
    the same from both, and equal one evsim.run of each padded chunk."""
    from conftest import REPO

    import evsim.data as D

    net = evsim.load(REPO / "examples/data/digits_snntorch.nir", dialect="snntorch")
    shd = REPO / "examples/data/digits_shd.h5"
    here = D.run_dataset(net, D.open(shd), D.InputPipeline(pad="batch"), batch=6, limit=12, record=True)
    far = run_dataset(net, D.open(shd), D.InputPipeline(pad="batch"), workers=2, chunk=6, limit=12, record=True,
                      keep_output=True)  # fmt: skip
    assert here.backend == "this process" and far.backend == "2 processes"
    assert np.array_equal(here.steps, far.steps) and len(set(here.steps[:6])) == 1
    for a, b in zip(here.output, far.output):
        assert np.array_equal(a, b)
    x, _ = D.materialise(net, D.open(shd), D.InputPipeline(), 12)
    for s in (0, 6):  # each chunk runs as long as its longest sample
        T = int(here.steps[s])
        assert np.array_equal(np.stack(far.output[s : s + 6]), evsim.run(net, x[s : s + 6, :T]).output)
    assert here.spikes.keys() == far.spikes.keys()
    for k in here.spikes:
        for f in ("times", "indices", "counts", "samples"):
            assert np.array_equal(getattr(here.spikes[k], f), getattr(far.spikes[k], f)), (k, f)
