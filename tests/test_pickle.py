"""A Network pickles, copies and crosses process boundaries (joblib, Dask, Ray,
Spark): the state is parameters and settings only, never packed buffers, locks
or backend state; the copy repacks on first use and its output is bit-identical
to the original's on every backend."""
from __future__ import annotations

import concurrent.futures
import copy
import copyreg
import multiprocessing
import pickle

import numpy as np
import pytest

import pyfwd
from pyfwd.network import NeuralNetwork

from conftest import BACKENDS

PROTOCOLS = list(range(2, pickle.HIGHEST_PROTOCOL + 1))


def make_net(dtype, dims=(6, 9, 7, 4), acts=("gelu", "tanh", "softmax")):
    net = pyfwd.Network(list(dims), list(acts), dtype=dtype, seed=3)
    rng = np.random.default_rng(5)
    for l in range(1, net.num_layers + 1):  # non-zero biases, so a dropped bias shows
        net.params[f"b{l}"] = rng.standard_normal(net.layer_dims[l])
    return net


def inputs(net, rows=13):
    return np.random.default_rng(11).standard_normal((rows, net.layer_dims[0])).astype(net.dtype)


def assert_same_network(a, b, X):
    """Same settings, bitwise-same parameters, bitwise-same output on every backend."""
    assert (a.layer_dims, a.activations, a.dtype) == (b.layer_dims, b.activations, b.dtype)
    assert list(a.params) == list(b.params)
    for key in a.params:
        assert a.params[key].dtype == b.params[key].dtype
        assert a.params[key].tobytes() == b.params[key].tobytes(), key
    for be in BACKENDS:
        assert np.array_equal(a.forward(X, backend=be), b.forward(X, backend=be)), be


def assert_frozen(net):
    for key, arr in net.params.items():
        for view in (arr, arr.base, arr.T):
            with pytest.raises(ValueError, match="WRITEABLE"):
                view.flags.writeable = True


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickle_round_trip_every_protocol(dtype, protocol):
    net = make_net(dtype)
    X = inputs(net)
    for be in BACKENDS:
        net.forward(X, backend=be)  # packed on every backend before pickling
    net2 = pickle.loads(pickle.dumps(net, protocol=protocol))
    assert type(net2) is pyfwd.Network and net2 is not net
    assert net2._states == {}, "a fresh copy holds no packed state"
    assert_same_network(net, net2, X)
    assert set(net2._states) == set(BACKENDS), "the copy packed on first use"
    assert_frozen(net2)
    assert repr(net2) == repr(net)


def test_pickle_holds_no_packed_buffers():
    net = make_net("float32", dims=(64, 96, 48, 10), acts=("relu", "relu", "softmax"))
    X = inputs(net)
    for be in BACKENDS:
        net.forward(X, backend=be)
    param_bytes = sum(a.nbytes for a in net.params.values())
    assert param_bytes > 30_000
    state = net.__getstate__()
    assert set(state) == {"pyfwd_pickle", "layer_dims", "activations", "dtype", "params", "classes", "extra"}
    assert state["extra"] == {}
    for protocol in PROTOCOLS[1:]:  # protocol 2 stores bytes as latin-1 text (about 1.5x)
        size = len(pickle.dumps(net, protocol=protocol))
        assert param_bytes <= size < param_bytes + 2048, (protocol, size, param_bytes)


def test_used_network_unpickles_repacks_and_copies_are_independent(backend):
    net = make_net("float64")
    X = inputs(net)
    y0 = net.forward(X, backend=backend)
    net2 = pickle.loads(pickle.dumps(net))
    assert np.array_equal(net2.forward(X, backend=backend), y0)
    # editing the copy repacks the copy and leaves the original alone
    net2.params["W1"] = np.zeros_like(net2.params["W1"])
    y2 = net2.forward(X, backend=backend)
    assert not np.array_equal(y2, y0)
    assert np.array_equal(net.forward(X, backend=backend), y0)
    assert not np.array_equal(net.params["W1"], net2.params["W1"])
    # and the other way round
    net.params["b3"] = net.params["b3"] + 1.0
    assert np.array_equal(net2.forward(X, backend=backend), y2)


def test_deepcopy_and_shallow_copy_semantics(dtype):
    """A copy (deep or shallow) has its own parameter dict, lock and packed
    state, and shares the immutable parameter arrays; a shallow copy shares the
    attributes a user set, a deep copy copies them."""
    net = make_net(dtype)
    net.tags = {"owner": "me"}
    X = inputs(net)
    for be in BACKENDS:
        net.forward(X, backend=be)
    shallow, deep = copy.copy(net), copy.deepcopy(net)
    for c in (shallow, deep):
        assert_same_network(net, c, X)
        assert_frozen(c)
        assert c._lock is not net._lock and c._params is not net._params
        assert np.shares_memory(c.params["W1"], net.params["W1"])  # immutable: sharing is safe
        c.params["W2"] = np.ones_like(net.params["W2"])
        assert not np.array_equal(net.params["W2"], c.params["W2"])
    assert shallow.tags is net.tags
    assert deep.tags == net.tags and deep.tags is not net.tags
    # deepcopy keeps identity inside one call (memo): a container of the same network twice
    a, b = copy.deepcopy([net, net])
    assert a is b and a is not net


def test_cloudpickle_round_trip(dtype):
    cloudpickle = pytest.importorskip("cloudpickle", reason="cloudpickle is not installed")
    net = make_net(dtype)
    X = inputs(net)
    net.forward(X)
    assert_same_network(net, cloudpickle.loads(cloudpickle.dumps(net)), X)
    # what Dask/Ray/Spark ship: a closure over the network
    fn = cloudpickle.loads(cloudpickle.dumps(lambda A: net.forward(A, backend="numpy")))
    assert np.array_equal(fn(X), net.forward(X, backend="numpy"))


def test_forward_in_a_spawned_process_is_bitwise_the_parents():
    """A real process boundary (spawn: nothing inherited): the child unpickles
    the (already packed) network, packs it again and runs the forward."""
    nets = {dt: make_net(dt) for dt in ("float32", "float64")}
    nets["labels"] = make_net("float32")
    nets["labels"].classes_ = ["cat", "dog", "emu", "fox"]
    jobs = {}
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        for name, net in nets.items():
            X = inputs(net)
            for be in BACKENDS:
                net.forward(X, backend=be)
                jobs[name, be] = (pool.submit(net.forward, X, backend=be), net.forward(X, backend=be))
            jobs[name, "predict"] = (pool.submit(net.predict, X), net.predict(X))
        for key, (fut, expected) in jobs.items():
            got = fut.result(timeout=300)
            assert got.dtype == expected.dtype and np.array_equal(got, expected), key
    assert jobs["labels", "predict"][1].dtype.kind == "U"


def test_unknown_or_damaged_state_is_a_clear_error():
    class Written:  # what a pickle from a later pyfwd (state format 99) looks like
        def __init__(self, state):
            self.state = state

        def __reduce__(self):
            return copyreg._reconstructor, (pyfwd.Network, object, None), self.state

    good = make_net("float32").__getstate__()
    with pytest.raises(ValueError, match=r"state format is 99, but pyfwd .* reads format 1.*newer pyfwd"):
        pickle.loads(pickle.dumps(Written({**good, "pyfwd_pickle": 99})))
    with pytest.raises(ValueError, match="not one pyfwd wrote"):
        pickle.loads(pickle.dumps(Written({"weights": []})))
    params = {k: v for k, v in good["params"].items() if k != "W2"}
    with pytest.raises(ValueError, match="damaged state.*W2"):
        pickle.loads(pickle.dumps(Written({**good, "params": params})))
    with pytest.raises(ValueError, match=r"layer_dims \[6, 9, 7, 4\], its state says \[6, 9, 7, 5\]"):
        pickle.loads(pickle.dumps(Written({**good, "layer_dims": [6, 9, 7, 5]})))


def test_neural_network_tutorial_class_pickles_and_copies():
    nn = NeuralNetwork([5, 4, 3], ["relu", "sigmoid"], seed=2, backend="numpy")
    X = np.random.default_rng(0).standard_normal((5, 8))
    AL, _ = nn.forward_propagation(X)
    for c in (pickle.loads(pickle.dumps(nn)), copy.deepcopy(nn)):
        assert c.backend == "numpy" and c.layer_dims == [5, 4, 3]
        assert np.array_equal(c.forward_propagation(X)[0], AL)
        c.parameters["W1"] = np.zeros((4, 5))
        assert np.array_equal(nn.forward_propagation(X)[0], AL)
