"""MNIST and digits loaders: the bundled subset, a user's full MNIST in every
layout, and clear errors for every kind of damaged file."""
from __future__ import annotations

import gzip
import struct
import sys

import numpy as np
import pytest

from pyfwd import datasets
from pyfwd.datasets import load_mnist


@pytest.fixture(scope="module")
def builtin():
    return load_mnist()


def test_builtin_subset_shapes_values_and_known_labels(builtin):
    (X, y), (Xt, yt) = builtin
    assert X.shape == (5000, 784) and Xt.shape == (1000, 784)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0 and Xt.max() == 1.0
    assert list(y[:5]) == [5, 0, 4, 1, 9] and list(yt[:5]) == [7, 2, 1, 0, 4]  # from the NOTICE
    assert set(np.unique(y)) == set(range(10))
    assert (5000, 1000) == datasets.MNIST_BUILTIN_SIZES


def test_options_raw_unflattened_float64():
    (X, y), _ = load_mnist(dtype="float64", flatten=False, normalize=False)
    assert X.shape == (5000, 28, 28) and X.dtype == np.float64
    assert X.max() == 255.0 and np.all(X == np.round(X))
    with pytest.raises(TypeError, match="floating"):
        load_mnist(dtype="int32")


def test_notice_ships_with_the_data():
    text = datasets.mnist_notice()
    assert "CC BY-SA 3.0" in text or "Attribution-Share Alike 3.0" in text
    assert "LeCun" in text


# -- a user's full MNIST, every layout -----------------------------------------

def _images_bytes(images: np.ndarray) -> bytes:
    return struct.pack(">IIII", 2051, images.shape[0], 28, 28) + images.tobytes()


def _labels_bytes(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, labels.shape[0]) + labels.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def raw_subset():
    (X, y), (Xt, yt) = load_mnist(flatten=False, normalize=False)
    as_u8 = lambda a: a.astype(np.uint8)  # noqa: E731
    return as_u8(X[:300]), y[:300], as_u8(Xt[:100]), yt[:100]


def _write_idx(folder, raw_subset, style="dash", gz=False):
    X, y, Xt, yt = raw_subset
    sep = "-" if style == "dash" else "."
    files = {f"train-images{sep}idx3-ubyte": _images_bytes(X), f"train-labels{sep}idx1-ubyte": _labels_bytes(y),
             f"t10k-images{sep}idx3-ubyte": _images_bytes(Xt), f"t10k-labels{sep}idx1-ubyte": _labels_bytes(yt)}
    for name, data in files.items():
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def _assert_same(loaded, raw_subset):
    X, y, Xt, yt = raw_subset
    (A, b), (At, bt) = loaded
    np.testing.assert_array_equal(A, X.reshape(len(X), 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(At.reshape(-1, 28, 28) * 255, Xt.astype(np.float32))
    np.testing.assert_array_equal(b, y)
    np.testing.assert_array_equal(bt, yt)
    assert b.dtype == np.int64 and A.dtype == np.float32


@pytest.mark.parametrize("style", ["dash", "dot"])
@pytest.mark.parametrize("gz", [False, True])
def test_user_idx_directory(tmp_path, raw_subset, style, gz):
    folder = _write_idx(tmp_path, raw_subset, style, gz)
    _assert_same(load_mnist(folder), raw_subset)
    _assert_same(load_mnist(str(folder)), raw_subset)


def test_user_keras_npz_file_and_directory(tmp_path, raw_subset):
    X, y, Xt, yt = raw_subset
    np.savez_compressed(tmp_path / "mnist.npz", x_train=X, y_train=y.astype(np.uint8), x_test=Xt, y_test=yt)
    _assert_same(load_mnist(tmp_path / "mnist.npz"), raw_subset)
    _assert_same(load_mnist(tmp_path), raw_subset)  # a folder holding mnist.npz


# -- damaged files: a clear error, never garbage ---------------------------------

@pytest.mark.parametrize("damage, match", [
    (lambda d: d[:-1], r"train-images-idx3-ubyte: 235215 bytes, but its header .* needs exactly 235216; "
                       r"the file is truncated"),
    (lambda d: d + b"\0", r"longer than its header says"),
    (lambda d: d[:10], r"too short for an IDX images header"),
    (lambda d: struct.pack(">I", 2049) + d[4:], r"magic number 2049 .* expected 2051"),
    (lambda d: d[:8] + struct.pack(">II", 32, 32) + d[16:], r"images are 32x32, expected 28x28"),
    (lambda d: d[:4] + struct.pack(">I", 301) + d[8:], r"header \(301 x 28 x 28 images\)"),
])
def test_damaged_images_file(tmp_path, raw_subset, damage, match):
    _write_idx(tmp_path, raw_subset)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(damage(p.read_bytes()))
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path)


def test_count_mismatch_and_bad_labels(tmp_path, raw_subset):
    X, y, Xt, yt = raw_subset
    _write_idx(tmp_path, raw_subset)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_labels_bytes(yt[:99]))
    with pytest.raises(ValueError, match="100 images but 99 labels"):
        load_mnist(tmp_path)
    bad = yt.copy()
    bad[3] = 200
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_labels_bytes(bad))
    with pytest.raises(ValueError, match="labels must be digits 0-9.*corrupted"):
        load_mnist(tmp_path)


def test_damaged_gzip(tmp_path, raw_subset):
    _write_idx(tmp_path, raw_subset, gz=True)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    good = p.read_bytes()
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="truncated gzip file"):
        load_mnist(tmp_path)
    flipped = bytearray(good)
    flipped[-6] ^= 0xFF  # inside the CRC32 trailer
    p.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupted gzip file"):
        load_mnist(tmp_path)
    p.write_bytes(b"plain text, not gzip")
    with pytest.raises(ValueError, match="not a gzip file"):
        load_mnist(tmp_path)


def test_missing_files_and_bad_npz(tmp_path, raw_subset):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*train-images.idx3-ubyte.gz"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_mnist(tmp_path / "nope")
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_mnist(tmp_path / "mnist.npz")
    X, y, Xt, yt = raw_subset
    np.savez(tmp_path / "other.npz", x_train=X, y_train=y)
    with pytest.raises(ValueError, match="missing x_test, y_test"):
        load_mnist(tmp_path / "other.npz")
    np.savez(tmp_path / "float.npz", x_train=X / 255.0, y_train=y, x_test=Xt, y_test=yt)
    with pytest.raises(ValueError, match="x_train must be uint8"):
        load_mnist(tmp_path / "float.npz")
    np.savez(tmp_path / "crc.npz", x_train=X, y_train=y, x_test=Xt, y_test=yt)
    data = bytearray((tmp_path / "crc.npz").read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside x_train's pixels: the zip CRC catches it
    (tmp_path / "crc.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted .npz"):
        load_mnist(tmp_path / "crc.npz")
    (tmp_path / "data.csv").write_text("1,2,3")
    with pytest.raises(ValueError, match="mnist.npz"):
        load_mnist(tmp_path / "data.csv")


# -- crafted files: refused from the header, in bounded memory ---------------------

def _gzip_of_zeros(path, head: bytes, n_zeros: int):
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(head)
        zeros = bytes(1 << 20)
        while n_zeros > 0:
            fh.write(zeros[:n_zeros])
            n_zeros -= len(zeros)


def test_gzip_longer_than_header_is_not_decompressed(tmp_path, raw_subset, raises_in_bounded_memory):
    _write_idx(tmp_path, raw_subset, gz=True)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_of_zeros(p, struct.pack(">IIII", 2051, 3, 28, 28), 24 << 20)  # says 3 images, holds 24 MiB
    assert p.stat().st_size < 200_000
    raises_in_bounded_memory(lambda: load_mnist(tmp_path), ValueError,
                             r"more than the 2368 bytes its header \(3 x 28 x 28 images\) needs; "
                             r"the file is longer than its header says")


def test_gzip_promising_more_than_it_holds(tmp_path, raw_subset, raises_in_bounded_memory):
    _write_idx(tmp_path, raw_subset, gz=True)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_of_zeros(p, struct.pack(">IIII", 2051, 2**32 - 1, 28, 28), 1000)
    raises_in_bounded_memory(lambda: load_mnist(tmp_path), ValueError, r"1016 bytes, but its header "
                             r"\(4294967295 x 28 x 28 images\) needs exactly 3367254359296; the file is truncated")


def test_sparse_raw_file_size_checked_before_reading(tmp_path, raw_subset, raises_in_bounded_memory):
    _write_idx(tmp_path, raw_subset)
    p = tmp_path / "train-images-idx3-ubyte"
    with open(p, "wb") as fh:
        fh.write(struct.pack(">IIII", 2051, 3, 28, 28))
        fh.truncate(64 << 20)  # sparse: no disk used
    raises_in_bounded_memory(lambda: load_mnist(tmp_path), ValueError,
                             r"67108864 bytes, but its header \(3 x 28 x 28 images\) needs exactly 2368; "
                             r"the file is longer than its header says")


def test_keras_npz_headers_checked_before_reading(tmp_path, raw_subset, raises_in_bounded_memory):
    from test_validation import _write_npz

    X, y, Xt, yt = raw_subset
    p = _write_npz(tmp_path / "mnist.npz", {"x_train": ((40_000, 28, 28), np.uint8), "y_train": y[:5],
                                            "x_test": Xt, "y_test": yt})
    raises_in_bounded_memory(lambda: load_mnist(p), ValueError, r"\(train\): 40000 images but 5 labels")
    p = _write_npz(tmp_path / "obj.npz", {"x_train": X, "y_train": ((300,), object), "x_test": Xt, "y_test": yt})
    with pytest.raises(ValueError, match="dtype object.*refused"):
        load_mnist(p)


def test_zero_images_give_empty_arrays(tmp_path):
    empty = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    _write_idx(tmp_path, (*empty, *empty), gz=True)
    for src in (tmp_path, _save_npz(tmp_path / "e.npz", *empty, *empty)):
        (X, y), (Xt, yt) = load_mnist(src)
        assert X.shape == Xt.shape == (0, 784) and X.dtype == np.float32
        assert y.shape == yt.shape == (0,) and y.dtype == np.int64
        assert load_mnist(src, flatten=False)[0][0].shape == (0, 28, 28)


def _save_npz(path, X, y, Xt, yt):
    np.savez_compressed(path, x_train=X, y_train=y, x_test=Xt, y_test=yt)
    return path


# -- scikit-learn digits ---------------------------------------------------------

def test_load_digits():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install \"pyfwd[interop]\")")
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0 and list(y[:10]) == list(range(10))
    Xr, _ = datasets.load_digits(dtype="float64", normalize=False)
    np.testing.assert_array_equal(Xr / 16.0, X.astype(np.float64))


def test_load_digits_without_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "pyfwd\[interop\]"'):
        datasets.load_digits()
