#!/usr/bin/env python3
"""Run the bundled snnTorch digits model event by event and check it against snnTorch's own spikes.

Source: the model and test raster made by ``examples/train_digits_snntorch.py`` (snnTorch 1.0.0 tutorials 5-6,
scikit-learn's 8x8 digits); see ``examples/data/README.md``. Needs nothing but evsim::

    python examples/run_digits.py
"""

from pathlib import Path

import numpy as np

import evsim

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    net = evsim.load(DATA / "digits_snntorch.nir", dialect="snntorch")
    data = np.load(DATA / "digits_test.npz")
    res = evsim.run(net, data["x"], progress=True)
    same = np.mean(np.all(res.output == data["snntorch_output"], axis=(1, 2)))
    acc = np.mean(res.predictions() == data["labels"])
    ref = float(data["snntorch_accuracy"])
    print(f"samples: {len(data['labels'])}, accuracy evsim {acc:.4f} vs snnTorch {ref:.4f}")
    print(f"output spike trains identical to snnTorch's: {same:.1%} of samples")
    print(f"synaptic operations per sample: {np.mean(res.sops):.0f}")
    if same < 1.0:
        raise SystemExit("evsim and snnTorch disagree")


if __name__ == "__main__":
    main()
