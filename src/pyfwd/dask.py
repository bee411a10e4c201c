"""Batch inference on Dask: ``pyfwd.dask.predict(net, X)`` for a dask array ``X``.

Needs ``pip install "pyfwd[dask]"``. Imported on first use (``pyfwd.dask``), never by
``import pyfwd``.

The network enters the task graph once, as a single ``dask.delayed`` key that every
block's task depends on: on a ``dask.distributed`` cluster each worker receives it
once (from the scheduler or from a peer), however many blocks it runs, instead of one
copy inside every task. It pickles as parameters and settings only (see
``Network.__getstate__``); a worker packs it for its backend on its first block.

Each task runs pyfwd on ``threads_per_task`` threads (default 1): a worker already
runs one task per worker thread, so more would oversubscribe the cores (see
docs/troubleshooting.md, "Threads and oversubscription").
"""
from __future__ import annotations

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f'pyfwd.dask needs dask: pip install "pyfwd[dask]" ({exc})') from exc

from . import _config
from ._threads import threads
from .network import Network

__all__ = ["predict"]

METHODS = ("forward", "predict", "predict_proba")


def _run_block(block: np.ndarray, net: Network, method: str, backend: str | None,
               threads_per_task: int | None) -> np.ndarray:
    """One block's rows through the network, on the worker."""
    if threads_per_task is None:
        return getattr(net, method)(block, backend=backend)
    with threads(threads_per_task):
        return getattr(net, method)(block, backend=backend)


def predict(net: Network, X, *, backend: str | None = None, method: str = "forward",
            threads_per_task: int | None = 1) -> "da.Array":
    """``net.<method>(X)`` block by block, as a lazy dask array.

    Parameters
    ----------
    net : pyfwd.Network
        The network; it enters the graph once (one key), not once per block.
    X : dask.array.Array
        Shape ``(n, in_features)``, chunked along rows. Column chunks are merged
        first (``X.rechunk({1: -1})``): a row needs all its features.
    backend : str, optional
        The backend the workers use (``None``: each worker's default).
    method : {"forward", "predict", "predict_proba"}
        Which :class:`~pyfwd.Network` method runs on each block.
    threads_per_task : int or None, default 1
        pyfwd threads inside each task (``pyfwd.threads``); ``None`` leaves the
        worker's count as it is.

    Returns
    -------
    dask.array.Array
        One block per row block of ``X``, with the shape and dtype the method
        gives locally: ``(n, out_features)`` for ``forward``, ``(n,)`` labels for
        a classifier's ``predict``, and so on. Nothing runs until it is computed.

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(x, chunks=(100_000, -1))       # doctest: +SKIP
    >>> pyfwd.dask.predict(net, X, method="predict").compute()  # doctest: +SKIP
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a pyfwd.Network, got {type(net).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if threads_per_task is not None:
        threads_per_task = _config.check_num_threads(threads_per_task)
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array (dask.array.Array), got {type(X).__module__}."
                        f"{type(X).__name__}: wrap it with dask.array.from_array(X, chunks=(rows, -1))")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features), got shape {X.shape}")
    n_in = net.layer_dims[0]
    if X.shape[1] != n_in:
        raise ValueError(f"X has {X.shape[1]} features (columns), the network's first layer takes {n_in}")
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    # The method on zero rows here gives the result's dtype and trailing shape (and
    # raises here, not on a worker, for an input dtype or backend it refuses).
    meta = getattr(net, method)(np.empty((0, n_in), dtype=X.dtype), backend=backend)
    net_key = dask.delayed(net, pure=True)  # one key for the whole graph
    out_chunks = (X.chunks[0], *((n,) for n in meta.shape[1:]))
    return X.map_blocks(_run_block, net_key, method, backend, threads_per_task,
                        chunks=out_chunks, drop_axis=None if meta.ndim == 2 else 1,
                        meta=meta, token=f"pyfwd-{method}")
