"""NIR data files: results written with `write_nir_data` read back by NIR's own reader and by `read_nir_data`,
inputs read from NIR data run like the arrays they came from; bad files and off-grid times are named."""

import nir
import numpy as np
import pytest

import evsim
from evsim.io.nir_data import EventList

from conftest import EXAMPLES

MODEL = EXAMPLES / "data" / "digits_snntorch.nir"


@pytest.fixture(scope="module")
def digits():
    net = evsim.load(MODEL, dialect="snntorch")
    x = np.load(EXAMPLES / "data" / "digits_test.npz")["x"][:6]
    return net, x, evsim.run(net, x)


def test_events_written_are_read_by_nir_and_run_again(tmp_path, digits):
    net, x, res = digits
    path = tmp_path / "out.h5"
    evsim.write_nir_data(path, res)
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]  # atomic: no temporary file left
    data = nir.read_data(str(path))  # NIR's own reader
    assert set(data.nodes) == {"input", "1", "3"}
    for p in net.populations:
        ev = data.nodes[p.name].observables["spikes"]
        assert type(ev) is nir.EventData
        assert ev.n_neurons == p.size and ev.t_max == pytest.approx(res.steps * net.dt)
        assert ev.idx.shape[0] == 6
        got = np.zeros((6, res.steps, p.size))
        for b in range(6):
            ok = ev.idx[b] != -1
            np.add.at(got[b], (np.round(ev.time[b][ok] / net.dt).astype(int), ev.idx[b][ok]), 1)
        np.testing.assert_array_equal(got, res.spikes[p.name].dense(res.steps, p.size, 6))
    # the input node read back is an input for evsim.run: same output
    xin = evsim.read_nir_data(path, "input", dt=net.dt)
    assert isinstance(xin, EventList) and len(xin) == 6 and xin.steps == res.steps
    again = evsim.run(net, xin, steps=xin.steps)
    np.testing.assert_array_equal(again.output, res.output)
    dense = evsim.read_nir_data(path, "input", dt=net.dt, dense=True)
    np.testing.assert_array_equal(dense, x)
    # and the hidden layer's spikes come back as they were
    hidden = evsim.read_nir_data(path, "1", dt=net.dt, dense=True)
    np.testing.assert_array_equal(hidden, res.spikes["1"].dense(res.steps, 128, 6))


def test_gridded(tmp_path, digits):
    net, x, res = digits
    path = tmp_path / "grid.h5"
    evsim.write_nir_data(path, res, gridded=True, populations=["input", "3"])
    data = nir.read_data(str(path))
    g = data.nodes["3"].observables["spikes"]
    assert type(g) is nir.TimeGriddedData and g.data.dtype == bool and g.dt == net.dt
    np.testing.assert_array_equal(g.data, res.output.astype(bool))
    xin = evsim.read_nir_data(path, "input", dt=net.dt)
    np.testing.assert_array_equal(evsim.run(net, xin).output, res.output)
    with pytest.raises(evsim.InputError, match="recorded at dt = 0.0001 s, but the network runs at dt = 0.001 s"):
        evsim.read_nir_data(path, "input", dt=1e-3)


def test_time_shift_lets_nirs_floor_binning_see_the_steps(tmp_path, digits):
    net, _, res = digits
    path = tmp_path / "shift.h5"
    evsim.write_nir_data(path, res, time_shift=net.dt / 2, populations=["1"])
    ev = nir.read_data(str(path)).nodes["1"].observables["spikes"]
    np.testing.assert_array_equal(ev.to_time_gridded(net.dt).data, res.spikes["1"].dense(res.steps, 128, 6) > 0)
    with pytest.raises(evsim.InputError, match="not on the dt = 0.0001 s grid .*snap='floor'"):
        evsim.read_nir_data(path, dt=net.dt)
    back = evsim.read_nir_data(path, dt=net.dt, snap="floor", dense=True)
    np.testing.assert_array_equal(back, res.spikes["1"].dense(res.steps, 128, 6))


def test_counts_values_and_membranes(tmp_path, rng):
    # multi-spike counts become repeated events, real-valued inputs valued events, an LI readout's membrane "v"
    pops = [
        evsim.Population("in", 3),
        evsim.Population("iaf", 4, evsim.IF(4, 0.5, multi_spike=True)),
        evsim.Population("readout", 2, evsim.LI(2, 0.9)),
    ]
    projs = [
        evsim.Projection.from_dense("in->iaf", "in", "iaf", rng.uniform(0.5, 2, (4, 3))),
        evsim.Projection.from_dense("iaf->readout", "iaf", "readout", rng.normal(0, 1, (2, 4))),
    ]
    net = evsim.Network(pops, projs, ("in",), ("readout",), dt=1e-3)
    x = rng.uniform(0, 2, (2, 15, 3)) * (rng.random((2, 15, 3)) < 0.5)
    res = evsim.run(net, x)
    assert res.spikes["iaf"].counts.max() > 1
    path = tmp_path / "mixed.h5"
    evsim.write_nir_data(path, res)
    data = nir.read_data(str(path))
    assert type(data.nodes["in"].observables["spikes"]) is nir.ValuedEventData
    assert type(data.nodes["iaf"].observables["spikes"]) is nir.EventData
    v = data.nodes["readout"].observables["v"]
    np.testing.assert_allclose(v.data, res.output)
    np.testing.assert_array_equal(
        evsim.read_nir_data(path, "iaf", dt=1e-3, dense=True), res.spikes["iaf"].dense(15, 4, 2)
    )
    xin = evsim.read_nir_data(path, "in", dt=1e-3)
    np.testing.assert_allclose(evsim.run(net, xin, steps=xin.steps).output, res.output)
    np.testing.assert_allclose(evsim.read_nir_data(path, "in", dt=1e-3, dense=True), x)
    # a single sample: batch of one
    one = evsim.run(net, x[0])
    evsim.write_nir_data(path, one, gridded=True)
    np.testing.assert_allclose(evsim.read_nir_data(path, "readout", observable="v")[0], one.output)


def test_errors_name_file_node_and_observable(tmp_path, digits):
    net, _, res = digits
    path = tmp_path / "out.h5"
    evsim.write_nir_data(path, res)
    with pytest.raises(evsim.InputError, match="no such NIR data file"):
        evsim.read_nir_data(tmp_path / "missing.h5")
    with pytest.raises(evsim.InputError, match=r"holds data of 3 nodes \['1', '3', 'input'\]: say which"):
        evsim.read_nir_data(path, dt=net.dt)
    with pytest.raises(evsim.InputError, match="no data for node 'x'"):
        evsim.read_nir_data(path, "x", dt=net.dt)
    with pytest.raises(evsim.InputError, match="node 'input' has no observable 'v'"):
        evsim.read_nir_data(path, "input", observable="v", dt=net.dt)
    two = tmp_path / "two.h5"  # a node with two observables, written by NIR itself
    grid = nir.TimeGriddedData(np.zeros((1, 3, 2)), 1e-3)
    nir.write_data(str(two), nir.NIRGraphData({"n": nir.NIRNodeData({"v": grid, "i": grid})}))
    with pytest.raises(evsim.InputError, match=r"node 'n' has 2 observables \['i', 'v'\]: say which \(observable="):
        evsim.read_nir_data(two)
    np.testing.assert_array_equal(evsim.read_nir_data(two, observable="i"), np.zeros((1, 3, 2)))
    with pytest.raises(evsim.InputError, match="event times are in seconds: pass dt"):
        evsim.read_nir_data(path, "input")
    with pytest.raises(evsim.InputError, match="not a NIR data file"):
        evsim.read_nir_data(MODEL)
    bad = tmp_path / "bad.h5"
    nir.write_data(
        str(bad),
        nir.NIRGraphData(
            {"n": nir.NIRNodeData({"s": nir.EventData(np.array([[0, 5]]), np.array([[0.0, 1e-3]]), 3, 1e-2)})}
        ),
    )
    with pytest.raises(evsim.InputError, match=r"node 'n', observable 's': sample 0 has neuron indices outside"):
        evsim.read_nir_data(bad, dt=1e-3)
    nir.write_data(
        str(bad),
        nir.NIRGraphData(
            {"n": nir.NIRNodeData({"s": nir.EventData(np.array([[0, 1]]), np.array([[0.0, 5e-2]]), 3, 1e-2)})}
        ),
    )
    with pytest.raises(evsim.InputError, match="beyond t_max"):
        evsim.read_nir_data(bad, dt=1e-3)
    net_no_dt = evsim.feedforward([2, 2], lambda n: evsim.LIF(n, 0.9), [np.ones((2, 2))])
    with pytest.raises(evsim.InputError, match="needs dt"):
        evsim.write_nir_data(path, evsim.run(net_no_dt, np.ones((3, 2))))
