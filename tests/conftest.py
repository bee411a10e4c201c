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


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (as -m slow or PYFWD_HYPOTHESIS_PROFILE=slow do)")


def _run_slow(config) -> bool:
    """Tests marked ``slow`` (bigger hypothesis profiles) run only when asked for:
    ``-m slow`` (any -m expression decides by itself), ``--run-slow``, or
    ``PYFWD_HYPOTHESIS_PROFILE=slow``. A plain ``python -m pytest`` skips them."""
    return bool(config.getoption("-m") or config.getoption("--run-slow")
                or os.environ.get("PYFWD_HYPOTHESIS_PROFILE", "").strip() == "slow")


def pytest_collection_modifyitems(config, items):
    if _run_slow(config):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow, --run-slow or PYFWD_HYPOTHESIS_PROFILE=slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return [f"pyfwd {pyfwd.__version__}: backends {BACKENDS}",
            f"unavailable: {pyfwd._config._registry.unavailable_reasons()}"]


@pytest.fixture
def restore_threads():
    """Restore pyfwd's thread count after a test that changes it."""
    before = pyfwd.get_num_threads()
    yield
    pyfwd.set_num_threads(before)


@pytest.fixture
def raises_in_bounded_memory():
    """``check(fn, exc, match, limit_mb)``: *fn* raises *exc* (message matching
    *match*) with a tracemalloc peak under *limit_mb*: a crafted file is refused
    from its header, before the data it promises is read."""
    import tracemalloc

    def check(fn, exc, match, limit_mb=4.0):
        tracemalloc.start()
        try:
            with pytest.raises(exc, match=match):
                fn()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < limit_mb * 2**20, f"peak {peak / 2**20:.1f} MiB while refusing the file"
    return check
