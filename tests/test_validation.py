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


# -- Network.load of untrusted files: headers first, bounded memory ----------------

def _write_npz(path, entries):
    """An .npz whose entries are arrays, or ``(shape, dtype)`` of zeros streamed
    into the archive (a tiny file whose headers promise a lot)."""
    import zipfile

    fmt = np.lib.format
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, v in entries.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as fp:
                if isinstance(v, np.ndarray):
                    fmt.write_array(fp, v, allow_pickle=False)
                    continue
                shape, dt = v
                fmt.write_array_header_1_0(fp, {"descr": fmt.dtype_to_descr(np.dtype(dt)),
                                                "fortran_order": False, "shape": shape})
                left = int(np.prod(shape)) * np.dtype(dt).itemsize
                zeros = bytes(1 << 20)
                while left > 0:
                    fp.write(zeros[:left])
                    left -= len(zeros)
    return path


def _net_entries(**over):
    e = {"pyfwd_format": np.array(1), "layer_dims": np.array([2, 3]), "activations": np.array(["relu"]),
         "dtype": np.array("float32"), "W1": np.ones((3, 2), np.float32), "b1": np.zeros(3, np.float32)}
    e.update(over)
    return e


@pytest.mark.parametrize("over, match", [
    ({"layer_dims": ((2_000_000,), np.int64)}, r"'layer_dims' has shape \(2000000,\).*n <= 2"),
    ({"W1": ((3, 2_000_000), np.float64)}, r"W1 has shape \(3, 2000000\), but layer_dims \[2, 3\] needs \(3, 2\)"),
    ({"b1": ((4_000_000,), np.float32)}, r"b1 has shape \(4000000,\).*needs \(3,\)"),
    ({"activations": ((1,), "<U4000000")}, r"'activations' has shape \(1,\) and dtype <U4000000"),
    ({"dtype": ((), "<U4000000")}, r"'dtype' has shape \(\) and dtype <U4000000"),
])
def test_load_checks_headers_before_reading(tmp_path, raises_in_bounded_memory, over, match):
    path = _write_npz(tmp_path / "bomb.npz", _net_entries(**over))
    assert path.stat().st_size < 100_000  # tiny file, big promises
    raises_in_bounded_memory(lambda: pyfwd.Network.load(path), ValueError, match)


def test_load_refuses_object_arrays_and_size_lies(tmp_path):
    import zipfile

    p = _write_npz(tmp_path / "obj.npz", _net_entries(W1=((3, 2), object)))
    with pytest.raises(ValueError, match="dtype object.*refused"):
        pyfwd.Network.load(p)
    good = _write_npz(tmp_path / "good.npz", _net_entries())
    assert pyfwd.Network.load(good).layer_dims == [2, 3]
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "lie.npz", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, data + b"\0" * 8 if info.filename == "W1.npy" else data)
    with pytest.raises(ValueError, match=r"W1'.*header says shape \(3, 2\).*archive stores 32 bytes"):
        pyfwd.Network.load(tmp_path / "lie.npz")


def test_load_of_npy_file_is_a_clear_error(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"x.npy: a single .npy array, not an .npz archive"):
        pyfwd.Network.load(tmp_path / "x.npy")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        pyfwd.Network.load(tmp_path / "junk.npz")


def test_bytes_activations_refused():
    for bad in (b"relu", bytearray(b"relu")):
        with pytest.raises(TypeError, match=r"activations must be a string.*got (bytes|bytearray) b'relu'"):
            pyfwd.Network([2, 3], bad)


def test_non_native_byte_order_keeps_values(backend):
    """Big-endian float64 weights stay float64 (converted to native order with
    their values), in from_arrays, dense, params assignment and the dtype name."""
    rng = np.random.default_rng(0)
    W, b, X = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal((2, 4))
    Wbe, bbe, Xbe = W.astype(">f8"), b.astype(">f8"), X.astype(">f8")
    net = pyfwd.Network.from_arrays([Wbe], [bbe], "linear")
    assert net.dtype == np.float64 and net.dtype.isnative
    np.testing.assert_array_equal(net.params["W1"], W)
    assert net.params["W1"].dtype.isnative
    ref = pyfwd.Network.from_arrays([W], [b], "linear").forward(X, backend=backend)
    np.testing.assert_array_equal(net.forward(Xbe, backend=backend), ref)
    y = pyfwd.dense(Xbe, Wbe, bbe, backend=backend)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, pyfwd.dense(X, W, b, backend=backend))
    assert pyfwd.Network([4, 3], "relu", dtype=">f8").dtype == np.dtype("<f8")
    assert pyfwd.Network.from_arrays([W.astype(">f4")], None, "relu").dtype == np.float32
    net32 = pyfwd.Network([4, 3], "linear", dtype="float64")
    net32.params["W1"] = Wbe
    np.testing.assert_array_equal(net32.params["W1"], W)


def test_equal_dtype_objects_take_the_same_path_to_the_same_bits(backend):
    """dense and forward test dtypes by identity on their hot paths (NumPy's native
    float32/float64 are singletons). An equal dtype that is another object (copied,
    with metadata) takes the general path: the same bits, and a hot call after it
    still right."""
    import copy

    rng = np.random.default_rng(1)
    net = pyfwd.Network([5, 4, 3], ["tanh", "softmax"], seed=0)
    W, b = net.params["W1"], net.params["b1"]
    X = rng.standard_normal((6, 5)).astype(np.float32)
    odd = [copy.deepcopy(np.dtype(np.float32)), np.dtype("f4", metadata={"units": "px"})]
    want_dense = pyfwd.dense(X, W, b, "tanh", backend=backend)
    want_net = net.forward(X, backend=backend)
    for dt in odd:
        assert dt == np.float32 and dt is not np.dtype(np.float32)
        Xo, Wo, bo = X.view(dt), W.view(dt), b.view(dt)
        for args in ((Xo, W, b), (X, Wo, b), (X, W, bo), (Xo, Wo, bo)):
            y = pyfwd.dense(*args, "tanh", backend=backend)
            assert y.dtype == np.float32 and y.tobytes() == want_dense.tobytes()
        assert net.forward(Xo, backend=backend).tobytes() == want_net.tobytes()
        assert net.forward(X, backend=backend).tobytes() == want_net.tobytes()


def test_masked_arrays_refused_by_every_backend(backend):
    X = np.ma.array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 0]])
    W = np.ones((2, 3))
    net = pyfwd.Network.from_arrays([W], None, "relu")
    msg = "masked arrays are not supported, use .filled()"
    with pytest.raises(TypeError, match=r"X: " + msg):
        net.forward(X, backend=backend)
    with pytest.raises(TypeError, match=r"X: " + msg):
        pyfwd.dense(X, W, backend=backend)
    with pytest.raises(TypeError, match=r"W: " + msg):
        pyfwd.dense(np.ones((2, 3)), np.ma.array(W), backend=backend)
    with pytest.raises(TypeError, match=r"W1: " + msg):
        pyfwd.Network.from_arrays([np.ma.array(W)], None, "relu")
    with pytest.raises(TypeError, match=r"b1: " + msg):
        pyfwd.Network.from_arrays([W], [np.ma.array(np.ones(2))], "relu")
    with pytest.raises(TypeError, match=r"W1: " + msg):
        net.params["W1"] = np.ma.array(W)
    np.testing.assert_array_equal(net.forward(X.filled(0), backend=backend), [[2.0, 2.0], [3.0, 3.0]])


@pytest.mark.parametrize("classes, match", [
    (((2_000_000,), np.int64), r"'classes' has shape \(2000000,\).*expected shape \(3,\)"),
    (((3,), "<U4000000"), r"'classes' has shape \(3,\) and dtype <U4000000"),
    (((3,), object), "dtype object.*refused"),
    (np.array([[1, 2, 3]]), r"'classes' has shape \(1, 3\)"),
    (np.array([1, 1, 2]), "entry 'classes': classes_ must be distinct labels"),
])
def test_load_checks_the_classes_entry(tmp_path, raises_in_bounded_memory, classes, match):
    path = _write_npz(tmp_path / "c.npz", _net_entries(classes=classes))
    raises_in_bounded_memory(lambda: pyfwd.Network.load(path), ValueError, match)
