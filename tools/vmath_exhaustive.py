#!/usr/bin/env python3
"""Exhaustive float32 check of the C++ vector math: every one of the 2^32 bit patterns.

Too slow for the unit tests (tests/test_vmath.py samples the same space); run it by hand
after changing the algorithms or coefficients:

    python tools/vmath_exhaustive.py [isa] [func ...]      # ~2-3 min per function

Prints the max ulp error (same measure and references as tests/test_vmath.py, with
scipy.special's erf/erfc when available for speed) and the input where it occurs.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import test_vmath as tv  # noqa: E402
from pyfwd import _core  # noqa: E402

try:  # vectorised libm-quality erf/erfc: much faster than math.erf through frompyfunc
    import scipy.special as sp

    tv._math_erf = sp.erf
    tv._math_erfc = sp.erfc
except ImportError:
    pass


def main():
    isa = sys.argv[1] if len(sys.argv) > 1 else _core.supported_isas()[-1]
    funcs = sys.argv[2:] or tv.FUNCS
    chunk = 1 << 20  # small enough for the allocator to reuse memory (page faults dominate otherwise)
    for f in funcs:
        t0 = time.time()
        worst, worst_x = 0.0, None
        for start in range(0, 1 << 32, chunk):
            x = np.arange(start, start + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
            ref = tv._ref_f32(f, x)
            y = _core.vmath_apply(isa, f, x)
            nan_ref = np.isnan(ref)
            if not np.array_equal(np.isnan(y), nan_ref):
                bad = np.isnan(y) != nan_ref
                print(f"{f}: NaN mismatch at {x[bad][:4]}")
                worst = np.inf
            ok = ~nan_ref
            if not ok.any():  # a chunk of NaN patterns only
                continue
            with np.errstate(all="ignore"):
                err = tv._ulp_error(y[ok], ref[ok], np.float32)
            i = int(np.argmax(err))
            if err[i] > worst:
                worst, worst_x = float(err[i]), x[ok][i]
        print(f"{isa} {f:8s} float32 exhaustive: max {worst:.3f} ulp at x = {worst_x!r} "
              f"({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
