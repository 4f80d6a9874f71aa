"""Norse 1.1's own NIR exports, as its exporter writes them (tests/data/norse_*.nir, made by
validation/frameworks/norse_exports.py with norse.torch.to_nir, unmodified): with dialect="norse" alone evsim
recognises them, corrects tau (norse/norse#411), LIFCell's missing w_in and the batch dimension, says so, and gives
Norse's own spikes."""

import numpy as np
import pytest

import evsim

from conftest import REPO

DATA = REPO / "tests" / "data"


@pytest.mark.parametrize("kind", ["lifbox", "lifcell"])
def test_norse_export_gives_norse_spikes_with_the_dialect_alone(kind):
    ref = np.load(DATA / "norse_exports.npz")
    with pytest.warns(UserWarning, match="Norse 1.1 to_nir output detected") as rec:
        net = evsim.load(DATA / f"norse_{kind}.nir", dialect="norse")
    assert ("w_in = tau_syn / dt" in str(rec[0].message)) == (kind == "lifcell")
    x = ref[f"{kind}:x"]
    res = evsim.run(net, x)
    b, t, _ = x.shape
    for node in ("n1", "n2"):
        want = ref[f"{kind}:{node}"]
        assert want.sum() > 100
        got = res.spikes[node].dense(t, want.shape[-1], b)
        np.testing.assert_array_equal(got, want, err_msg=f"{kind} {node}")


def test_norse_fixes_can_be_turned_off_and_other_files_are_left_alone(tmp_path, rng):
    with pytest.raises(evsim.ModelFileError, match="type check"):
        evsim.load(DATA / "norse_lifcell.nir", dialect="norse", exporter_fixes=False)
    with pytest.warns(UserWarning, match="without NIR's type check"):
        with pytest.raises(evsim.ModelFileError, match="norse/norse#411"):
            evsim.load(DATA / "norse_lifbox.nir", dialect="norse", exporter_fixes=False, strict=False)
    # a graph with true time constants (not Norse 1.1's signature) loads unchanged, without a warning
    net = evsim.feedforward([3, 4], lambda n: evsim.LIF(n, 0.9, reset="zero"), [rng.normal(0, 1, (4, 3))], dt=1e-3)
    path = tmp_path / "plain.nir"
    kw = evsim.save_nir(net, path, dialect="norse")
    back = evsim.load(path, **kw)
    np.testing.assert_allclose(back.population("layer1").neuron.beta, 0.9)
