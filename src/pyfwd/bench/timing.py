"""Adaptive timing: warm up, then sample until the cell's time budget is spent."""
from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: A sample shorter than this groups several calls (timer overhead, jitter);
#: the figure is then the mean call time within the sample.
MIN_SAMPLE_S = 50e-6
#: Samples are also at least budget / this long, so that a cell keeps at most
#: about this many raw samples (every one goes into the JSON).
MAX_KEPT_SAMPLES = 400


@dataclass
class Timing:
    median_s: float
    p10_s: float
    p90_s: float
    min_s: float
    mean_s: float
    n_samples: int
    calls_per_sample: int
    total_s: float
    samples_s: list  # every sample (mean call time within it), in the order taken

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def measure(fn: Callable[[], object], budget_s: float, first_call_s: float,
            min_samples: int = 5, max_samples: int = 20000) -> Timing:
    """Time *fn* (already called once, taking *first_call_s*, by the correctness
    gate). Warm-up: at least one more call and about a tenth of the budget. Then
    samples of ``calls_per_sample`` calls each until the budget is spent, with at
    least *min_samples* (at most three when a single call is longer than the
    budget). A sample lasts at least ``MIN_SAMPLE_S`` and budget / ``MAX_KEPT_SAMPLES``."""
    start = time.perf_counter()
    warm_until = start + 0.1 * budget_s
    t = first_call_s
    while True:  # warm-up; also re-estimates the call time once caches are hot
        t0 = time.perf_counter()
        fn()
        t = time.perf_counter() - t0
        if time.perf_counter() >= warm_until:
            break
    inner = max(1, math.ceil(max(MIN_SAMPLE_S, budget_s / MAX_KEPT_SAMPLES) / max(t, 1e-9)))
    need = min_samples if t * min_samples <= budget_s else min(3, min_samples)
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    gc_was = gc.isenabled()
    gc.disable()
    try:
        while len(samples) < max_samples:
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - t0) / inner)
            if len(samples) >= need and time.perf_counter() >= deadline:
                break
    finally:
        if gc_was:
            gc.enable()
    s = np.asarray(samples)
    return Timing(float(np.median(s)), float(np.percentile(s, 10)), float(np.percentile(s, 90)),
                  float(s.min()), float(s.mean()), len(samples), inner, time.perf_counter() - start,
                  [float(v) for v in samples])
