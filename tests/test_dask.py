"""Dataset runs on a real Dask cluster: a `LocalCluster` of worker processes on the loopback interface (the
network scattered once, samples mapped in chunks) gives the figures of a run in this process, bit for bit."""

import numpy as np
import pytest

import evsim
from evsim.parallel import run_dataset

distributed = pytest.importorskip("distributed", reason="Dask is an optional extra: pip install 'evsim[dask]'")


def test_local_cluster_equals_serial_run(rng, tmp_path):
    W1, W2 = rng.normal(0, 0.6, (30, 20)), rng.normal(0, 0.6, (5, 30))
    net = evsim.feedforward([20, 30, 5], lambda n: evsim.LIF(n, beta=0.9), [W1, W2], [rng.integers(0, 4, W1.shape), 1])
    x = (rng.random((17, 30, 20)) < 0.15).astype(np.float32)
    y = rng.integers(0, 5, 17)
    serial = run_dataset(net, (x, y), workers=1, chunk=4)
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        r = run_dataset(net, (x, y), scheduler=cluster.scheduler_address, chunk=3, out=tmp_path / "run")
        with distributed.Client(cluster) as client:  # the API takes a Client too
            r2 = run_dataset(net, (x, y), scheduler=client, chunk=5)
    for d in (r, r2):
        assert d.status == "complete" and d.n == 17 and d.backend.startswith("dask")
        assert np.array_equal(d.predictions, serial.predictions)
        assert np.array_equal(d.output_counts, serial.output_counts)
        assert d.counters.keys() == serial.counters.keys()
        assert all(np.array_equal(d.counters[k], serial.counters[k]) for k in serial.counters)
    assert (tmp_path / "run" / "results.npz").exists()


def test_unreachable_scheduler_is_one_clear_error(monkeypatch):
    monkeypatch.setattr("evsim.workers.CONNECT_TIMEOUT", "1s")
    net = evsim.feedforward([2, 2], lambda n: evsim.LIF(n, beta=0.9), [np.eye(2)])
    with pytest.raises(evsim.EvsimError, match="Dask scheduler"):
        run_dataset(net, np.zeros((2, 3, 2)), scheduler="tcp://127.0.0.1:1")
