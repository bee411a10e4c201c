"""The one place where the Numba backend's compile flags live (the block sizes
live in ``numba_kernels.py``, next to the code they shape, see CACHE below).

* ``FASTMATH`` is ``False`` and stays so: fastmath set to True (or the ``nnan`` /
  ``ninf`` flags) lets LLVM assume there is no NaN or inf, which breaks the NaN
  propagation of relu/leaky_relu and the saturation of sigmoid/gelu/silu that the
  reference defines. The GEMM does not need ``contract`` either: its micro-kernel
  calls ``llvm.fma`` explicitly (see ``numba_kernels``), so every accumulation is
  one correctly rounded fused multiply-add, whatever LLVM decides elsewhere.
* ``CACHE``: on-disk caching of compiled kernels. Numba writes the cache next to
  the source (``__pycache__``) and falls back to ``NUMBA_CACHE_DIR`` or the user's
  cache directory when the package directory is read-only; :func:`njit` falls back
  to no cache at all when no location is usable, so a read-only install never
  raises. Caveat (Numba's caching docs): a cache entry is invalidated only by an
  edit to the file that defines the function, so the constants the kernels use
  are defined in ``numba_kernels.py`` itself, and a change of the flags here
  needs the ``__pycache__/numba_kernels*.nb[ic]`` files removed.
* ``error_model="numpy"``: division by zero gives inf/NaN as in NumPy, no
  exception checks in the loops.
"""
from __future__ import annotations

import os
import warnings

from numba import njit as _numba_njit

#: Never True: see the module docstring.
FASTMATH = False

#: Cache compiled kernels on disk (``PYFWD_NUMBA_CACHE=0`` turns it off).
CACHE = os.environ.get("PYFWD_NUMBA_CACHE", "1").strip() not in ("0", "false", "no", "off")

#: Problems with fewer flops than this run single-threaded (a parallel launch
#: costs microseconds; at ~100 GFLOP/s one core does 2e6 flops in ~20 us).
PAR_MIN_FLOPS = 2_000_000

#: ``dense()`` (no ``prepare``) with at most this many rows skips packing W and
#: runs row-by-row dot products (``numba_kernels.dense_rows``) when the rows are at
#: least ``DENSE_UNPACKED_MIN_K`` long, or whatever their length with at most
#: ``DENSE_UNPACKED_SMALL_M`` rows (packing W would cost more than the product).
#: Each dot product ends in one reduction of its vector lanes: short rows (a backward
#: pass's weight gradient, whose K is the batch) make those dominate. Measured on a
#: 2-core AMD EPYC (Zen 3), an epoch of fit on the bundled digits, [784,128,10] batch
#: 64, medians of 5: 231 -> 181 ms (1 thread), 140 -> 106 and 148 -> 115 ms (2 threads)
#: once those products pack; the (64, 784, 128) layer keeps its unpacked path.
DENSE_UNPACKED_MAX_M = 128
DENSE_UNPACKED_MIN_K = 256
DENSE_UNPACKED_SMALL_M = 16


def njit(*, parallel: bool = False):
    """The decorator every kernel uses: ``nogil``, the project's fastmath setting,
    the cache when a cache location is usable, never an error because of it."""
    def deco(func):
        opts = dict(nogil=True, fastmath=FASTMATH, parallel=parallel, error_model="numpy")
        if CACHE:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return _numba_njit(cache=True, **opts)(func)
            except Exception:  # no writable cache location: compile without one
                pass
        return _numba_njit(cache=False, **opts)(func)
    return deco
