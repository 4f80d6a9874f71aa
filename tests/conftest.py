"""Shared test fixtures: the repository's paths, the copied model files (`model_file`), a seeded ``rng``, and the
Hypothesis profiles (``--hypothesis-profile=thorough`` for a long hunt)."""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
# shared/ lies beside the repository in a checkout of this project; EVSIM_SHARED overrides it. The tests need none
# of it: the model files they use are copied into tests/data/models (source, commit, licence: PROVENANCE.md there).
SHARED = Path(os.environ.get("EVSIM_SHARED", REPO.parent / "shared"))
MODELS = REPO / "tests" / "data" / "models"
EXAMPLES = REPO / "examples"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def model_file(rel: str) -> Path:
    """A trained model or trace the tests use, by its path in the shared collection (``nir_paper/01_lif/...``):
    the copy in tests/data/models, or for the NIR paper's CNN the example's own copy (the same bytes)."""
    if rel == "nir_paper/02_cnn/cnn_sinabs.nir":
        return EXAMPLES / "data" / "cnn_sinabs.nir"
    path = MODELS / rel
    if not path.is_file():  # a test asking for a file nobody copied here: say so rather than skip
        raise FileNotFoundError(f"{rel} is not in tests/data/models: copy it there and add it to PROVENANCE.md")
    return path


def need_models():
    """The folder of the copied models (kept for tests written against the shared collection's layout)."""
    return MODELS


# Hypothesis: 300 random cases per property by default; `--hypothesis-profile=thorough` for a long hunt.
settings.register_profile("default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")
