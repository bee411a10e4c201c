"""Bad input: a clear Python exception naming what was expected and what came."""
import numpy as np
import pytest

import pyfwd


@pytest.fixture
def net():
    return pyfwd.Network([4, 5, 3], ["relu", "softmax"], seed=0)


def test_wrong_feature_count_names_layer_and_shapes(net, backend):
    with pytest.raises(ValueError, match=r"layer 1: expected input of shape \(batch, 4\), got \(2, 5\)"):
        net.forward(np.ones((2, 5)), backend=backend)


def test_wrong_ndim(net):
    with pytest.raises(ValueError, match=r"must be 2-D \(batch, 4\) or 1-D \(4,\), got shape \(1, 2, 4\)"):
        net.forward(np.ones((1, 2, 4)))


@pytest.mark.parametrize("bad", [np.ones((2, 4), complex), np.array([["a"] * 4] * 2),
                                 np.array([[object()] * 4] * 2)])
def test_refused_dtypes(net, bad):
    with pytest.raises(TypeError, match=f"got dtype {bad.dtype}"):
        net.forward(bad)


def test_ragged_input_is_type_error(net):
    with pytest.raises(TypeError, match="numeric array"):
        net.forward([[1, 2, 3, 4], [1, 2]])


@pytest.mark.parametrize("X", [np.ones((2, 4), np.int64), np.ones((2, 4), bool),
                               np.ones((2, 4), np.float16), [[1, 2, 3, 4]]])
def test_real_dtypes_converted(net, X, backend):
    y = net.forward(X, backend=backend)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, net.forward(np.asarray(X, np.float32), backend=backend))


def test_bad_activation_lists_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'rleu'; valid names are linear, relu"):
        pyfwd.Network([3, 2], ["rleu"])
    with pytest.raises(ValueError, match="unknown activation"):
        pyfwd.dense(np.ones((1, 2)), np.ones((2, 2)), activation="nope")
    with pytest.raises(TypeError, match="activation must be a string"):
        pyfwd.Network([3, 2], [3])


def test_activation_aliases():
    net = pyfwd.Network([3, 2, 2, 2], ["identity", "logistic", "swish"])
    assert net.activations == ["linear", "sigmoid", "silu"]
    assert pyfwd.Network([3, 2], None).activations == ["linear"]


def test_activation_count_mismatch():
    with pytest.raises(ValueError, match=r"expected 2 activation\(s\), one per layer, got 1"):
        pyfwd.Network([3, 4, 2], ["relu"])


@pytest.mark.parametrize("dims", [[3], [], [3, 0, 2], [3, -1], [2.5, 3]])
def test_bad_layer_dims(dims):
    with pytest.raises(ValueError, match="layer_dims"):
        pyfwd.Network(dims, "relu")


def test_bad_dtype_and_init():
    with pytest.raises(TypeError, match="float32 or float64, got int32"):
        pyfwd.Network([3, 2], "relu", dtype="int32")
    with pytest.raises(TypeError, match="float32 or float64"):
        pyfwd.Network([3, 2], "relu", dtype="float16")
    with pytest.raises(ValueError, match="unknown init 'glorot'; valid: he, xavier, zeros"):
        pyfwd.Network([3, 2], "relu", init="glorot")


def test_out_validation(net, backend):
    X = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"out has shape \(2, 2\), expected \(2, 3\)"):
        net.forward(X, out=np.empty((2, 2), np.float32), backend=backend)
    with pytest.raises(TypeError, match="out has dtype float64, expected float32"):
        net.forward(X, out=np.empty((2, 3), np.float64), backend=backend)
    with pytest.raises(ValueError, match="C-contiguous"):
        net.forward(X, out=np.empty((3, 2), np.float32).T, backend=backend)
    ro = np.empty((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        net.forward(X, out=ro, backend=backend)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        net.forward(X, out=[[0] * 3] * 2, backend=backend)


def test_dense_out_may_not_alias_input(backend):
    X = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="overlaps an input"):
        pyfwd.dense(X, np.eye(3, dtype=np.float32), None, out=X, backend=backend)


def test_dense_shape_errors():
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 3\), got \(2, 4\)"):
        pyfwd.dense(np.ones((2, 4)), np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(5,\) to match W \(5, 3\), got \(4,\)"):
        pyfwd.dense(np.ones((2, 3)), np.ones((5, 3)), np.ones(4))
    with pytest.raises(ValueError, match="W must be 2-D"):
        pyfwd.dense(np.ones((2, 3)), np.ones(3))


def test_from_arrays_shape_chain_errors():
    with pytest.raises(ValueError, match=r"layer 2: W2 has shape \(2, 5\), expected \(2, 4\)"):
        pyfwd.Network.from_arrays([np.ones((4, 3)), np.ones((2, 5))], None, "relu")
    with pytest.raises(ValueError, match=r"layer 1: b1 must have shape \(4,\), got \(3,\)"):
        pyfwd.Network.from_arrays([np.ones((4, 3))], [np.ones(3)], "relu")
    with pytest.raises(ValueError, match="got 1 weight matrices but 2 biases"):
        pyfwd.Network.from_arrays([np.ones((4, 3))], [np.ones(4), np.ones(4)], "relu")


def test_load_rejects_foreign_file(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, a=np.ones(3))
    with pytest.raises(ValueError, match="not a pyfwd network file"):
        pyfwd.Network.load(p)


def test_unavailable_backend_message():
    reasons = pyfwd._config._registry.unavailable_reasons()
    for name, why in reasons.items():
        with pytest.raises(RuntimeError, match=f"backend '{name}' is not available here"):
            pyfwd.Network([2, 2], "relu").forward(np.ones((1, 2)), backend=name)
