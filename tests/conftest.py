import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import pyfwd  # noqa: E402

BACKENDS = pyfwd.backends()
DTYPES = ["float32", "float64"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=DTYPES)
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def pytest_report_header(config):
    return [f"pyfwd {pyfwd.__version__}: backends {BACKENDS}",
            f"unavailable: {pyfwd._config._registry.unavailable_reasons()}"]
