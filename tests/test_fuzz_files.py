"""Fuzzing every reader with structured mutations of real files (see tests/fuzzing.py): each case must end in
success or one `evsim.EvsimError` line; never another exception. The default profile runs a few hundred cases in
about a minute; ``pytest tests/test_fuzz_files.py --hypothesis-profile=thorough`` runs ~17x more, and
``python tests/fuzzing.py --cases 2000`` runs cases in child processes to count crashes and hangs too."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evsim

import fuzzing

OK = ("success", "clean", "skipped")
BASE = settings.default.max_examples  # 300 by default, 5000 with --hypothesis-profile=thorough
SHARE = {
    "nir-mlp": 3,
    "nir-cnn": 6,
    "netx": 2,
    "npz": 4,
    "npy": 3,
    "h5": 3,
    "nird": 3,
    "shd": 3,
    "snn-delays": 3,
    "snn-config": 6,
}  # fmt: skip  (cost per case)


def mutations(reader: str):
    return st.builds(
        fuzzing.Mutation,
        st.sampled_from(fuzzing.KINDS.get(reader, fuzzing.HDF5_KINDS)),
        st.integers(0, 10_000),
        st.one_of(st.integers(0, 63).map(float), st.floats(0.0, 1.0, exclude_max=True)),
        st.integers(0, 63),
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    with evsim.limits.override(memory="256M", file_elements=2**24):
        yield tmp_path_factory.mktemp("fuzz")


def _check(reader, m, work):
    outcome, detail = fuzzing.run_case(reader, m, work / reader)
    assert outcome in OK, f"{reader} {m}: {detail}"


@pytest.mark.parametrize("reader", fuzzing.READERS)
def test_seed_files_read(reader, work):
    # the unmutated seeds load and run: a mutation that changes nothing must succeed
    if reader in fuzzing.SEEDS:
        src, dialect = fuzzing.SEEDS[reader]
        assert fuzzing.classify(lambda: fuzzing.read_model(src, dialect))[0] == "success"
    elif reader == "shd":
        assert fuzzing.classify(lambda: fuzzing.read_shd(fuzzing.SHD))[0] == "success"
    elif reader.startswith("snn-"):
        assert fuzzing.classify(lambda: fuzzing.read_snn_delays(*fuzzing.SNN_DELAYS))[0] == "success"
    else:
        paths = fuzzing.seed_inputs(work / "seeds")
        assert fuzzing.classify(lambda: fuzzing.read_and_run_input(paths[reader], reader))[0] == "success"


def _fuzz_test(reader):
    @settings(max_examples=max(10, BASE // SHARE[reader]), deadline=None, database=None)
    @given(m=mutations(reader))
    def test(work, m):
        _check(reader, m, work)

    test.__name__ = f"test_fuzz_{reader.replace('-', '_')}"
    return test


for _r in fuzzing.READERS:
    globals()[f"test_fuzz_{_r.replace('-', '_')}"] = _fuzz_test(_r)
