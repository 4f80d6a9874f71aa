"""Readers of evsim.data on files made by the real writers (h5py for SHD's layout, dv-processing for AEDAT4,
expelliarmus for EVT2/EVT3/DAT, tonic's own arrays and dataset class), and their errors on bad input."""

import sys

import h5py
import numpy as np
import pytest

import evsim.data as D
from evsim.errors import InputError


def shd_samples(rng, n=7, n_units=700):
    times, units = [], []
    for _ in range(n):
        k = int(rng.integers(0, 60))
        times.append(np.sort(rng.uniform(0, 0.9, k)).astype(np.float32))
        units.append(rng.integers(0, n_units, k).astype(np.uint16))
    return times, units, rng.integers(0, 20, n)


def test_shd_round_trip_streams_sample_by_sample(tmp_path, rng):
    times, units, labels = shd_samples(rng, 70)
    path = tmp_path / "shd.h5"
    D.write_shd(path, times, units, labels, extra={"speaker": np.arange(70)})
    with D.open(path) as ds:
        assert len(ds) == 70 and ds.labels.tolist() == labels.tolist() and ds.extra == ["speaker"]
        got = list(ds.iter(chunk=16))
        assert [lab for _, lab in got] == labels.tolist()
        for (ev, _), t, u in zip(got, times, units):
            assert ev.sensor_size == (700, 1, 1) and ev.t_unit == 1.0
            assert np.array_equal(ev["t"], t) and np.array_equal(ev["x"], u)
        assert np.array_equal(ds[-1][0]["x"], units[-1]) and ds.read_extra("speaker")[3] == 3


def test_shd_file_is_read_a_slice_at_a_time(tmp_path, rng, monkeypatch):
    times, units, labels = shd_samples(rng, 40)
    D.write_shd(tmp_path / "s.h5", times, units, labels)
    reads = []
    real = h5py.Dataset.__getitem__

    def spy(self, key):
        reads.append((self.name, key))
        return real(self, key)

    ds = D.open(tmp_path / "s.h5")
    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    for _ in ds.iter(chunk=8):
        pass
    got = sorted({(n, k.start, k.stop) for n, k in reads if isinstance(k, slice)})
    want = sorted({(n, s, min(s + 8, 40)) for n in ("/spikes/times", "/spikes/units") for s in range(0, 40, 8)})
    assert got == want and len(reads) == len(want)  # slices of 8 samples, never the whole dataset


def _raw_shd(path, times, units, labels=None):
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        for name, rows, dt in (("times", times, "f4"), ("units", units, "u2")):
            ds = g.create_dataset(name, (len(rows),), dtype=h5py.vlen_dtype(dt))
            for i, r in enumerate(rows):
                ds[i] = np.asarray(r, dtype=dt)
        if labels is not None:
            f["labels"] = labels


@pytest.mark.parametrize(
    "times, units, labels, match",
    [
        ([[0.1, 0.2], [0.1, 0.2, 0.3]], [[1, 2], [1, 2]], [0, 1], "sample 1: ragged arrays of unequal length"),
        ([[0.1, 0.2]], [[1, 2], [3]], None, "spikes/times has 1 samples but spikes/units has 2"),
        ([[0.1, 0.05]], [[1, 2]], None, "sample 0: field 't': time stamps out of order at event 1"),
        ([[-0.1, 0.05]], [[1, 2]], None, "sample 0: field 't': event 0 has a negative time"),
        ([[0.1, np.nan]], [[1, 2]], None, "sample 0: field 't': event 1 has time nan"),
        ([[0.1, 0.2]], [[1, 700]], None, "sample 0: field 'x': event 1 has x = 700, outside the sensor"),
        ([[0.1]], [[1]], [[0, 1]], "field 'labels': expected 1 integers"),
    ],
)
def test_shd_errors_name_file_sample_and_field(tmp_path, times, units, labels, match):
    path = tmp_path / "bad.h5"
    _raw_shd(path, times, units, labels)
    with pytest.raises(InputError, match=match) as e:
        list(D.open(path))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_shd_declared_types_checked_before_reading(tmp_path):
    path = tmp_path / "dense_times.h5"
    with h5py.File(path, "w") as f:
        f["spikes/times"] = np.zeros((3, 5))
        f["spikes/units"] = np.zeros((3, 5), dtype=np.uint16)
    with pytest.raises(InputError, match=r"field 'spikes/times': expected a 1-D ragged \(vlen\) array"):
        D.open(path)


def test_truncated_and_corrupt_hdf5(tmp_path, rng):
    times, units, labels = shd_samples(rng, 50)
    good = tmp_path / "good.h5"
    D.write_shd(good, times, units, labels)
    data = good.read_bytes()
    for cut in (len(data) // 2, 200):
        bad = tmp_path / f"cut{cut}.h5"
        bad.write_bytes(data[:cut])
        with pytest.raises(InputError, match=str(bad)) as e:
            list(D.open(bad))
        assert "\n" not in str(e.value)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        D.open(junk)


def test_structured_arrays_fields_by_name_any_order_and_dtype():
    a = np.zeros(3, dtype=[("p", "?"), ("t", "<u4"), ("y", "<i1"), ("x", "<f4")])
    a["t"], a["x"], a["y"], a["p"] = [5, 6, 9], [1, 2, 3], [0, 1, 0], [True, False, True]
    ev = D.as_events(a)
    assert ev.dtype.names == ("x", "y", "t", "p") and ev.sensor_size == (4, 2, 2)
    assert ev["x"].tolist() == [1, 2, 3] and ev["p"].tolist() == [1, 0, 1] and ev["t"].tolist() == [5, 6, 9]
    b = np.zeros(2, dtype=[("t", "<i8"), ("x", "<i2"), ("colour", "<i2")])
    with pytest.raises(InputError, match=r"unknown or missing event fields: has \['colour', 't', 'x'\]"):
        D.as_events(b, where="cam.npy")
    with pytest.raises(InputError, match="non-integer coordinates"):
        D.as_events({"t": [0, 1], "x": [0.5, 1.0]})


def test_numpy_event_files_and_a_folder_with_labels(tmp_path, rng):
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for k in range(2):
            ev = np.zeros(5, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
            ev["t"] = np.sort(rng.integers(0, 1000, 5))
            ev["x"], ev["y"] = rng.integers(0, 4, 5), rng.integers(0, 3, 5)
            if k == 0:
                np.save(tmp_path / label / f"{k}.npy", ev)
            else:
                np.savez(tmp_path / label / f"{k}.npz", events=ev, sensor_size=np.array([4, 3, 2]))
    ds = D.open(tmp_path)
    assert len(ds) == 4 and ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 1, 1]
    assert [ev.sensor_size for ev, _ in ds][1] == (4, 3, 2)
    assert D.read_events(tmp_path / "cat" / "0.npy")["t"].dtype == np.int64


def test_a_file_of_another_format_under_a_known_extension(tmp_path, rng):
    times, units, labels = shd_samples(rng, 2)
    D.write_shd(tmp_path / "x.h5", times, units, labels)
    fake = tmp_path / "rec.aedat4"
    fake.write_bytes((tmp_path / "x.h5").read_bytes())
    with pytest.raises(InputError, match=r"rec.aedat4: the extension says .aedat4 but the content is HDF5"):
        D.read_events(fake)
    txt = tmp_path / "rec.raw"
    txt.write_text("hello")
    with pytest.raises(InputError, match=r"rec.raw: not a .raw file"):
        D.open(txt)
    with pytest.raises(InputError, match="open it with evsim.data.open"):
        D.read_events(tmp_path / "x.h5")


def _prophesee_array(rng, n=200):
    a = np.zeros(n, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    a["t"] = np.sort(rng.integers(0, 50_000, n))
    a["x"], a["y"], a["p"] = rng.integers(0, 640, n), rng.integers(0, 480, n), rng.integers(0, 2, n)
    return a


@pytest.mark.parametrize("encoding, name", [("evt2", "r.raw"), ("evt3", "r.raw"), ("dat", "r.dat")])
def test_prophesee_files_written_by_expelliarmus(tmp_path, rng, encoding, name):
    ex = pytest.importorskip("expelliarmus", reason="expelliarmus (optional extra 'events') is not installed")
    a = _prophesee_array(rng)
    ex.Wizard(encoding=encoding).save(fpath=str(tmp_path / name), arr=a)
    assert D.detect_format(tmp_path / name) == encoding
    ev = D.read_events(tmp_path / name)
    for k in ("t", "x", "y", "p"):
        assert np.array_equal(ev[k], a[k]), k
    assert ev.t_unit == 1e-6 and ev.sensor_size[2] == 2


def test_prophesee_corrupt_payload(tmp_path, rng, capfd):
    ex = pytest.importorskip("expelliarmus", reason="expelliarmus (optional extra 'events') is not installed")
    path = tmp_path / "r.raw"
    ex.Wizard(encoding="evt2").save(fpath=str(path), arr=_prophesee_array(rng))
    data = path.read_bytes()
    path.write_bytes(data.replace(b"% evt 2.0", b"% evt 3.0"))  # EVT2 words read as EVT3
    with pytest.raises(InputError, match=f"{path}: corrupt EVT3 data \\(expelliarmus: ERROR: event type not recog"):
        D.read_events(path)
    assert capfd.readouterr().err == ""  # the C library's message is in the error, not on stderr


def _write_aedat4(path, n, rng, size=(34, 34)):
    dv = pytest.importorskip("dv_processing", reason="dv-processing (iniVation's AEDAT4 writer) is not installed")
    t = np.sort(rng.integers(1_000, 100_000, n))
    x, y, p = rng.integers(0, size[0], n), rng.integers(0, size[1], n), rng.integers(0, 2, n)
    w = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("test", size))
    store = dv.EventStore()
    for k in range(n):
        store.push_back(int(t[k]), int(x[k]), int(y[k]), bool(p[k]))
    w.writeEvents(store)
    del w
    return t, x, y, p


def test_aedat4_written_by_dv_processing(tmp_path, rng):
    pytest.importorskip("aedat", reason="aedat (optional extra 'events') is not installed")
    t, x, y, p = _write_aedat4(tmp_path / "r.aedat4", 500, rng, (40, 30))
    ev = D.read_events(tmp_path / "r.aedat4")
    assert ev.sensor_size == (40, 30, 2)
    assert np.array_equal(ev["t"], t) and np.array_equal(ev["x"], x) and np.array_equal(ev["y"], y)
    assert np.array_equal(ev["p"], p)
    data = (tmp_path / "r.aedat4").read_bytes()
    (tmp_path / "cut.aedat4").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="cut.aedat4: corrupt or truncated AEDAT4"):
        D.read_events(tmp_path / "cut.aedat4")


def test_missing_optional_reader_says_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "r.aedat4").write_bytes(b"#!AER-DAT4.0\r\n" + bytes(64))
    monkeypatch.setitem(sys.modules, "aedat", None)
    with pytest.raises(InputError, match=r"needs the 'aedat' package: pip install 'evsim\[events\]'"):
        D.read_events(tmp_path / "r.aedat4")


def test_any_tonic_dataset_object(rng):
    tonic = pytest.importorskip("tonic", reason="tonic (optional extra 'events') is not installed")

    class Recorded(tonic.Dataset):  # a tonic dataset as tonic's own classes are built
        sensor_size = (34, 34, 2)
        dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
        ordering = dtype.names

        def __init__(self):
            super().__init__(save_to=".", transform=None, target_transform=None)
            self.items = []
            for k in range(3):
                ev = tonic.io.make_structured_array(
                    rng.integers(0, 34, 9), rng.integers(0, 34, 9), np.sort(rng.integers(0, 9999, 9)),
                    rng.integers(0, 2, 9), dtype=self.dtype,
                )  # fmt: skip
                self.items.append((ev, k))

        def __getitem__(self, i):
            return self.items[i]

        def __len__(self):
            return len(self.items)

    src = Recorded()
    ds = D.from_tonic(src)
    got = list(ds)
    assert [lab for _, lab in got] == [0, 1, 2] and got[0][0].sensor_size == (34, 34, 2)
    assert np.array_equal(got[2][0]["x"], src.items[2][0]["x"]) and got[0][0].t_unit == 1e-6


def test_links_and_foreign_storage_are_refused(tmp_path, rng):
    times, units, labels = shd_samples(rng, 3)
    D.write_shd(tmp_path / "other.h5", times, units, labels)
    path = tmp_path / "linked.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        g["times"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/spikes/times")
        g["units"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/spikes/units")
    with pytest.raises(InputError, match=r"/spikes/times: an external link .*evsim reads no other file"):
        D.open(path)
    tiny = tmp_path / "tiny_chunks.h5"
    with h5py.File(tiny, "w") as f:
        f.create_dataset("x", data=np.zeros((70_000, 2, 1)), chunks=(1, 1, 1))
    with pytest.raises(InputError, match=r"/x: .* chunks"):
        D.open(tiny)
