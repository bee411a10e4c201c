"""A quick timing (not a test, not the bench suite): [1024, 4096, 4096, 1024] at batch 1
on the cpp backend with float32, bfloat16 and float16 weights, the memory-bound case
16-bit weights are for (float32 reads ~100 MB of weights per call, 16-bit ~50 MB).
Median of many interleaved runs; on a shared machine the figures are noisy.

Run: PYTHONPATH=src python bench/weights16_timing.py [--repeats 200] [--threads 2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import pyfwd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--threads", type=int, default=pyfwd.get_num_threads())
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    pyfwd.set_num_threads(args.threads)
    dims = [1024, 4096, 4096, 1024]
    base = pyfwd.Network(dims, ["relu", "relu", "linear"], seed=0)
    nets = {"float32": base, "bfloat16": base.with_weight_dtype("bfloat16"),
            "float16": base.with_weight_dtype("float16")}
    X = np.random.default_rng(0).standard_normal((args.batch, dims[0])).astype(np.float32)
    for n in nets.values():  # pack / warm up
        for _ in range(3):
            n.forward(X, backend="cpp")
    times = {k: [] for k in nets}
    for _ in range(args.repeats):  # interleaved: drifts in machine load hit all alike
        for k, n in nets.items():
            t0 = time.perf_counter()
            n.forward(X, backend="cpp")
            times[k].append(time.perf_counter() - t0)
    ref = float(np.median(times["float32"]))
    print(f"{dims} batch {args.batch}, cpp ({pyfwd.show_config(print_=False)['backend_config']['cpp'].get('isa', '?')}), "
          f"{args.threads} thread(s), median of {args.repeats} (noisy on a shared machine)")
    for k, t in times.items():
        med = float(np.median(t))
        wbytes = sum(W.nbytes for W in nets[k].weights) / 1e6
        print(f"  {k:<9} {med * 1e3:8.3f} ms  ({med / ref:.2f}x float32)  weights {wbytes:.0f} MB, "
              f"{wbytes / 1e3 / med:.1f} GB/s")


if __name__ == "__main__":
    main()
