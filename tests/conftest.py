import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
# shared/ lies beside the repository in a checkout of this project; EVSIM_SHARED overrides it.
SHARED = Path(os.environ.get("EVSIM_SHARED", REPO.parent / "shared"))
MODELS = SHARED / "models"
EXAMPLES = REPO / "examples"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def need_models():
    if not MODELS.is_dir():
        pytest.skip(f"the shared trained models are not at {MODELS} (set EVSIM_SHARED to the shared/ folder)")
    return MODELS


# Hypothesis: 300 random cases per property by default; `--hypothesis-profile=thorough` for a long hunt.
settings.register_profile("default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")
