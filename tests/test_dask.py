"""pyfwd.dask.predict on a real dask.distributed cluster (2 worker processes): the
same bits as the local forward, the network sent once (one key in the graph), one
pyfwd thread per task by default, clear errors for bad input."""
from __future__ import annotations

import copyreg
import os
import subprocess
import sys

import numpy as np
import pytest

import pyfwd

da = pytest.importorskip("dask.array", reason='dask is not installed (pip install "pyfwd[dask]")')
distributed = pytest.importorskip("dask.distributed",
                                  reason='dask.distributed is not installed (pip install "pyfwd[dask]")')

SRC = os.path.dirname(os.path.dirname(os.path.abspath(pyfwd.__file__)))


@pytest.fixture(scope="module")
def client():
    """One cluster for the module (starting one takes seconds). No dashboard: port
    8787 may be taken on a shared machine, and the warning about it would fail the
    run under ``filterwarnings = error``."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def make_net(dtype, acts=("relu", "tanh", "softmax")):
    return pyfwd.Network([12, 9, 7, 5], list(acts), dtype=dtype, seed=7)


def inputs(rows, dtype, cols=12):
    return np.random.default_rng(rows).standard_normal((rows, cols)).astype(dtype)


# numba compiles cold in every worker: ~4 s here, once per module
@pytest.mark.parametrize("backend", pyfwd.backends())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_local_forward_bit_for_bit(client, backend, dtype):
    net, x = make_net(dtype), inputs(1003, dtype)
    X = da.from_array(x, chunks=(250, -1))  # last block 3 rows
    Y = pyfwd.dask.predict(net, X, backend=backend)
    assert Y.shape == (1003, 5) and Y.dtype == net.dtype
    assert Y.chunks == ((250, 250, 250, 250, 3), (5,))
    got = Y.compute()
    assert got.dtype == net.dtype and np.array_equal(got, net.forward(x, backend=backend))


def test_ran_on_both_workers(client):
    net, x = make_net("float32"), inputs(400, "float32")
    Y = pyfwd.dask.predict(net, da.from_array(x, chunks=(20, -1)))
    futures = client.compute(Y.to_delayed().ravel().tolist())
    distributed.wait(futures)
    where = client.who_has(futures)
    assert len({w for ws in where.values() for w in ws}) == 2
    assert np.array_equal(np.concatenate(client.gather(futures)), net.forward(x))


def test_predict_and_predict_proba(client):
    net, x = make_net("float32"), inputs(301, "float32")
    net.classes_ = ["a", "b", "c", "d", "e"]
    X = da.from_array(x, chunks=(64, -1))
    labels = pyfwd.dask.predict(net, X, method="predict")
    assert labels.shape == (301,) and labels.dtype == np.dtype("<U1") and labels.chunks == (X.chunks[0],)
    assert np.array_equal(labels.compute(), net.predict(x))
    proba = pyfwd.dask.predict(net, X, method="predict_proba")
    assert np.array_equal(proba.compute(), net.predict_proba(x))

    binary = pyfwd.Network([12, 4, 1], ["relu", "sigmoid"], seed=1)  # one sigmoid: [1 - p, p]
    proba = pyfwd.dask.predict(binary, X, method="predict_proba")
    assert proba.shape == (301, 2)
    assert np.array_equal(proba.compute(), binary.predict_proba(x))


def test_empty_array(client):
    net = make_net("float64")
    X = da.from_array(np.empty((0, 12)), chunks=(10, -1))
    Y = pyfwd.dask.predict(net, X)
    assert Y.shape == (0, 5)
    got = Y.compute()
    assert got.shape == (0, 5) and got.dtype == np.float64


def test_column_chunks_are_merged(client):
    net, x = make_net("float32"), inputs(90, "float32")
    X = da.from_array(x, chunks=(40, 5))  # 3 x 3 blocks: rows need all their features
    Y = pyfwd.dask.predict(net, X)
    assert Y.chunks == ((40, 40, 10), (5,))
    assert np.array_equal(Y.compute(), net.forward(x))


def count_network_pickles():
    """A counter of how often a Network is pickled in this process (copyreg hook)."""
    counter = [0]

    def reduce(net):
        counter[0] += 1
        return net.__reduce_ex__(2)

    return counter, reduce


def test_network_is_one_key_in_the_graph():
    net = make_net("float32")
    Y = pyfwd.dask.predict(net, da.from_array(inputs(100, "float32"), chunks=(10, -1)))
    graph = dict(Y.__dask_graph__())
    counter, reduce = count_network_pickles()
    copyreg.pickle(pyfwd.Network, reduce)
    try:
        holders = []
        for key, task in graph.items():  # each node pickled alone: no memo shared between them
            before = counter[0]
            distributed.protocol.pickle.dumps(task)
            if counter[0] > before:
                holders.append(key)
    finally:
        del copyreg.dispatch_table[pyfwd.Network]
    assert len(holders) == 1, f"the network is in {len(holders)} graph nodes of {len(graph)}"
    assert sum(1 for k in graph if isinstance(k, tuple) and k[0].startswith("pyfwd-forward")) == 10


def test_network_pickled_as_often_for_2_or_34_blocks(client):
    """Computed on the cluster, the client pickles the network a fixed number of
    times (tokenising, the graph), not once per block."""
    net, x = make_net("float32"), inputs(100, "float32")
    counter, reduce = count_network_pickles()
    copyreg.pickle(pyfwd.Network, reduce)
    counts = {}
    try:
        for rows in (50, 3):
            counter[0] = 0
            X = da.from_array(x, chunks=(rows, -1))
            assert np.array_equal(pyfwd.dask.predict(net, X).compute(), net.forward(x))
            counts[X.numblocks[0]] = counter[0]
    finally:
        del copyreg.dispatch_table[pyfwd.Network]
    assert counts[2] == counts[34] >= 1, counts


class _ThreadsSeen:
    """Network.forward wrapped to record pyfwd's thread count (sync scheduler: in this process)."""

    def __init__(self, monkeypatch):
        self.seen = []
        forward = pyfwd.Network.forward

        def spy(net, X, *args, **kwargs):
            self.seen.append(pyfwd.get_num_threads())
            return forward(net, X, *args, **kwargs)

        monkeypatch.setattr(pyfwd.Network, "forward", spy)


def test_one_pyfwd_thread_per_task_by_default(monkeypatch):
    import dask

    saved = pyfwd.get_num_threads()
    pyfwd.set_num_threads(2)
    try:
        spy = _ThreadsSeen(monkeypatch)
        net, x = make_net("float32"), inputs(30, "float32")
        X = da.from_array(x, chunks=(10, -1))
        for per_task, expected in ((1, 1), (3, 3), (None, 2)):
            Y = pyfwd.dask.predict(net, X, threads_per_task=per_task)
            spy.seen.clear()  # predict() ran the method on 0 rows (for the result's dtype)
            with dask.config.set(scheduler="sync"):
                Y.compute()
            assert spy.seen == [expected] * 3, per_task
            assert pyfwd.get_num_threads() == 2
    finally:
        pyfwd.set_num_threads(saved)


def test_workers_default_to_one_thread(client):
    """distributed's nanny sets OMP_NUM_THREADS=1 in its workers; pyfwd follows it."""
    counts = client.run(lambda: __import__("pyfwd").get_num_threads())
    assert set(counts.values()) == {1}, counts


def test_bad_input_is_a_clear_error():
    net, x = make_net("float32"), inputs(20, "float32")
    X = da.from_array(x, chunks=(5, -1))
    with pytest.raises(TypeError, match="must be a dask array.*numpy.ndarray.*from_array"):
        pyfwd.dask.predict(net, x)
    with pytest.raises(TypeError, match="net must be a pyfwd.Network, got ndarray"):
        pyfwd.dask.predict(x, X)
    with pytest.raises(ValueError, match=r"2-D.*shape \(20, 12, 1\)"):
        pyfwd.dask.predict(net, X[..., None])
    with pytest.raises(ValueError, match="2-D"):
        pyfwd.dask.predict(net, X[0])
    with pytest.raises(ValueError, match="X has 11 features.*takes 12"):
        pyfwd.dask.predict(net, X[:, 1:])
    with pytest.raises(ValueError, match="method must be one of forward, predict, predict_proba; got 'score'"):
        pyfwd.dask.predict(net, X, method="score")
    with pytest.raises(ValueError, match="predict_proba needs"):  # raised here, not on a worker
        pyfwd.dask.predict(pyfwd.Network([12, 3], ["linear"]), X, method="predict_proba")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        pyfwd.dask.predict(net, X, backend="gpu")
    with pytest.raises(ValueError, match=">= 1"):
        pyfwd.dask.predict(net, X, threads_per_task=0)
    with pytest.raises(TypeError, match="integer"):
        pyfwd.dask.predict(net, X, threads_per_task=1.5)


def test_import_pyfwd_does_not_import_dask(tmp_path):
    """(The attribute pyfwd.dask importing it on first use: every other test here.)"""
    code = "import sys, pyfwd; pyfwd.Network([2, 2], 'relu')([1.0, 2.0]); print('dask' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=SRC)
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["False"], r.stderr
