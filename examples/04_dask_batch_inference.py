"""Batch inference on Dask: 2 million MNIST-shaped rows from a memory-mapped file.

1. Writes a (rows, 784) float32 .npy file into a temporary directory, block by
   block: the 6,000 bundled MNIST digits repeated, every copy perturbed (each
   row's brightness scaled, each block shifted by a pixel). 2,000,000 rows are
   6.3 GB on disk; --rows makes it smaller.
2. A dask.distributed LocalCluster (one worker process per CPU, one thread each)
   runs pyfwd.dask.predict over the file chunked along rows: every task reads its
   rows from the memory map itself (only the file name travels), the network is
   sent to each worker once, each task runs one pyfwd thread. A progress bar, then
   the throughput in rows/s.
3. The same rows on this one process (pyfwd's own thread pool on every CPU), for
   comparison: throughput, and the outputs compared bit for bit.

    python examples/04_dask_batch_inference.py [--rows N] [--chunk N] [--workers N] [--tmpdir DIR]

Offline. Needs pip install "pyfwd[dask]". With 2 million rows it needs 6.3 GB of
free disk in the temporary directory and takes about a minute or two on a
laptop; the temporary file is deleted at the end. On one machine the cluster
cannot beat pyfwd's own thread pool (both use the same cores; the cluster adds
scheduling and moves the outputs between processes): Dask pays off when its
workers are on several machines, or when the data is bigger than one machine.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import pyfwd
from pyfwd.datasets import load_mnist

FEATURES = 784


def write_rows(path: Path, rows: int, block: int = 50_000, seed: int = 0) -> np.ndarray:
    """A memory-mapped (rows, 784) float32 .npy file of perturbed bundled digits."""
    (X_train, _), (X_test, _) = load_mnist()
    digits = np.concatenate([X_train, X_test])  # (6000, 784) in [0, 1]
    rng = np.random.default_rng(seed)
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, FEATURES))
    for start in range(0, rows, block):
        n = min(block, rows - start)
        idx = (np.arange(start, start + n) + rng.integers(len(digits))) % len(digits)
        images = digits[idx].reshape(n, 28, 28)
        images = np.roll(images, shift=tuple(rng.integers(-1, 2, size=2)), axis=(1, 2))
        scale = rng.uniform(0.7, 1.0, size=(n, 1)).astype(np.float32)
        mm[start:start + n] = images.reshape(n, FEATURES) * scale
    mm.flush()
    return mm


def read_rows(path: str, start: int, stop: int) -> np.ndarray:
    """One block, read by the worker that runs it (the memory map is not pickled)."""
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def dask_rows(path: Path, rows: int, chunk: int):
    """The file as a dask array chunked along rows, one reading task per chunk."""
    import dask
    import dask.array as da

    read = dask.delayed(read_rows, pure=True)
    blocks = [da.from_delayed(read(str(path), s, min(s + chunk, rows)), shape=(min(chunk, rows - s), FEATURES),
                              dtype=np.float32) for s in range(0, rows, chunk)]
    return da.concatenate(blocks) if blocks else da.zeros((0, FEATURES), dtype=np.float32)


def warm_up(net) -> None:
    net.forward(np.zeros((1, FEATURES), dtype=net.dtype))


def on_cluster(net, path: Path, rows: int, chunk: int, workers: int) -> tuple[np.ndarray, float]:
    from dask.distributed import Client, LocalCluster, progress

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        print(f"cluster: {workers} worker processes x 1 thread; pyfwd threads per worker: "
              f"{sorted(set(client.run(pyfwd.get_num_threads).values()))}")
        X = dask_rows(path, rows, chunk)
        # warm-up: every worker imports pyfwd and loads its backend before the clock runs
        client.run(warm_up, net)
        t0 = time.perf_counter()
        future = client.compute(pyfwd.dask.predict(net, X))
        progress(future)  # a text progress bar on a terminal
        Y = future.result()
        seconds = time.perf_counter() - t0
    print()
    return Y, seconds


def on_one_process(net, mm: np.ndarray, chunk: int) -> tuple[np.ndarray, float]:
    Y = np.empty((mm.shape[0], net.layer_dims[-1]), dtype=net.dtype)
    warm_up(net)
    t0 = time.perf_counter()
    for start in range(0, mm.shape[0], chunk):
        net.forward(mm[start:start + chunk], out=Y[start:start + chunk])
    return Y, time.perf_counter() - t0


def main(rows: int, chunk: int, workers: int, tmpdir: str | None) -> None:
    try:
        import pyfwd.dask  # noqa: F401
    except ImportError as exc:
        sys.exit(f'{exc}: this example needs Dask: pip install "pyfwd[dask]"')
    net = pyfwd.Network([FEATURES, 256, 128, 10], ["relu", "relu", "softmax"], seed=0)
    print(net.summary())
    with tempfile.TemporaryDirectory(dir=tmpdir, prefix="pyfwd-dask-") as tmp:
        path = Path(tmp) / "rows.npy"
        t0 = time.perf_counter()
        mm = write_rows(path, rows)
        print(f"wrote {rows:,} rows x {FEATURES} float32 ({path.stat().st_size / 1e9:.2f} GB) to {path} "
              f"in {time.perf_counter() - t0:.1f} s")

        Y_dask, s_dask = on_cluster(net, path, rows, chunk, workers)
        print(f"dask: {rows:,} rows in {s_dask:.2f} s, {rows / s_dask:,.0f} rows/s "
              f"({-(-rows // chunk)} chunks of {chunk:,} rows)")

        Y_local, s_local = on_one_process(net, mm, chunk)
        print(f"one process, {pyfwd.get_num_threads()} pyfwd threads: {rows:,} rows in {s_local:.2f} s, "
              f"{rows / s_local:,.0f} rows/s")
        del mm  # close the map before the directory goes

    same = Y_dask.shape == Y_local.shape and np.array_equal(Y_dask, Y_local)
    print(f"outputs identical bit for bit: {same}")
    counts = np.bincount(np.argmax(Y_local, axis=1), minlength=10) if rows else np.zeros(10, int)
    print(f"predicted classes (untrained network): {counts.tolist()}")
    if not same:
        sys.exit("the cluster's output differs from the local one")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in the file (default 2,000,000)")
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per dask chunk (default 100,000)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="worker processes (default: the CPUs this process may use)")
    parser.add_argument("--tmpdir", default=None, help="where the temporary file goes (default: the system's)")
    args = parser.parse_args()
    if args.rows < 0 or args.chunk < 1 or args.workers < 1:
        parser.error("--rows must be >= 0, --chunk and --workers >= 1")
    main(args.rows, args.chunk, args.workers, args.tmpdir)
