"""Real data to run networks on, offline.

* :func:`load_mnist` -- MNIST handwritten digits. With no argument, the subset that
  ships inside pyfwd (the first 5,000 training and first 1,000 test images, in
  their original IDX files; see :func:`mnist_notice` for the licence). With a
  path, your own copy of the full MNIST: IDX files (raw or ``.gz``, either naming
  style) or Keras's ``mnist.npz``. Nothing is ever downloaded.
* :func:`load_digits` -- scikit-learn's bundled 8x8 digits (needs scikit-learn).

Every loader returns images flattened to rows (``X`` is ``(n, n_pixels)``, the
layout :class:`pyfwd.Network` takes) and labels as ``int64``.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from ._npz import NpzReader

__all__ = ["load_mnist", "load_digits", "mnist_notice", "MNIST_BUILTIN_SIZES"]

#: (training, test) sizes of the MNIST subset shipped with pyfwd.
MNIST_BUILTIN_SIZES = (5000, 1000)

_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_ROWS = _COLS = 28

_BUILTIN = {
    "train": ("train-5k-images-idx3-ubyte.gz", "train-5k-labels-idx1-ubyte.gz"),
    "test": ("t10k-1k-images-idx3-ubyte.gz", "t10k-1k-labels-idx1-ubyte.gz"),
}
_PREFIX = {"train": "train", "test": "t10k"}


def _builtin_dir():
    return resources.files("pyfwd").joinpath("data", "mnist")


def mnist_notice() -> str:
    """The source and licence of the bundled MNIST subset (CC BY-SA 3.0 for the
    data files alone; the notice travels with them)."""
    return _builtin_dir().joinpath("NOTICE.md").read_text(encoding="utf-8")


# -- IDX parsing ----------------------------------------------------------

_CHUNK = 1 << 20


def _read_upto(src, n: int) -> bytearray:
    """Up to *n* bytes of *src*, read chunk by chunk (memory follows what is
    really there, whatever a header promised)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = src.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _file_size(fh) -> int | None:
    try:
        return os.fstat(fh.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. inside a zip)
        return None


def _read_idx(fh, name: str, magic: int) -> np.ndarray:
    """Read an IDX file from the binary file *fh*, raw or gzip (told by content,
    not by file name): check its magic number and dimensions first, then read
    exactly the bytes its header promises, in bounded memory (a raw file's size
    is checked before its data is read; a gzip file is never decompressed past
    what the header promises plus one byte). Returns its array (uint8).
    *magic* is 2051 for images, 2049 for labels."""
    gz = fh.read(2) == b"\x1f\x8b"
    fh.seek(0)
    if not gz and name.endswith(".gz"):
        raise ValueError(f"{name}: not a gzip file (it does not start with the gzip magic bytes)")
    try:
        if gz:
            with gzip.GzipFile(fileobj=fh, mode="rb") as src:
                return _parse_idx(src, name, magic, None)
        return _parse_idx(fh, name, magic, _file_size(fh))
    except EOFError as exc:
        raise ValueError(f"{name}: truncated gzip file ({exc}); download it again") from exc
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{name}: corrupted gzip file ({exc}); download it again") from exc


def _parse_idx(src, name: str, magic: int, size: int | None) -> np.ndarray:
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    kind = "images" if magic == _IMAGES_MAGIC else "labels"
    head = _read_upto(src, header)
    if len(head) < header:
        raise ValueError(f"{name}: {len(head)} bytes is too short for an IDX {kind} header "
                         f"({header} bytes); the file is truncated or not an IDX file")
    (got,) = struct.unpack(">I", head[:4])
    if got != magic:
        raise ValueError(f"{name}: magic number {got} (0x{got:08x}), expected {magic} (0x{magic:08x}) "
                         f"for MNIST {kind}; is this the right file?")
    dims = struct.unpack(f">{ndim}I", head[4:header])
    if kind == "images" and dims[1:] != (_ROWS, _COLS):
        raise ValueError(f"{name}: images are {dims[1]}x{dims[2]}, expected {_ROWS}x{_COLS}")
    n_data = math.prod(dims)
    expected = header + n_data

    def wrong_size(got_bytes: int):
        what = "truncated" if got_bytes < expected else "longer than its header says"
        return ValueError(f"{name}: {got_bytes} bytes, but its header ({' x '.join(map(str, dims))} {kind}) "
                          f"needs exactly {expected}; the file is {what}")

    if size is not None and size != expected:
        raise wrong_size(size)  # a raw file: checked before reading its data
    data = _read_upto(src, n_data)
    if len(data) < n_data:
        raise wrong_size(header + len(data))
    if src.read(1):  # a gzip file: how much longer is not worth decompressing to find out
        raise ValueError(f"{name}: more than the {expected} bytes its header "
                         f"({' x '.join(map(str, dims))} {kind}) needs; the file is longer than its header says")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _check_shapes(images: tuple, labels: tuple, what: str) -> None:
    if len(images) != 3 or images[1:] != (_ROWS, _COLS):
        raise ValueError(f"{what}: images must be (n, {_ROWS}, {_COLS}), got {images}")
    if len(labels) != 1:
        raise ValueError(f"{what}: labels must be 1-D, got shape {labels}")
    if images[0] != labels[0]:
        raise ValueError(f"{what}: {images[0]} images but {labels[0]} labels")


def _check_pair(images: np.ndarray, labels: np.ndarray, what: str) -> None:
    _check_shapes(images.shape, labels.shape, what)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{what}: labels must be digits 0-9, found values from "
                         f"{labels.min()} to {labels.max()}; the file is corrupted")


def _finish(images: np.ndarray, labels: np.ndarray, dtype, flatten: bool, normalize: bool):
    X = images.reshape(images.shape[0], _ROWS * _COLS) if flatten else images
    X = X.astype(dtype)
    if normalize:
        X /= 255.0
    return X, labels.astype(np.int64)


def _find_idx(folder: Path, split: str, kind: str) -> Path:
    """The IDX file of *split*/*kind* in *folder*, in either naming style, raw or .gz."""
    stem = f"{_PREFIX[split]}-{kind}"
    suffix = "idx3-ubyte" if kind == "images" else "idx1-ubyte"
    names = [f"{stem}-{suffix}", f"{stem}.{suffix}"]
    candidates = [n + ext for n in names for ext in ("", ".gz")]
    for name in candidates:
        p = folder / name
        if p.is_file():
            return p
    raise FileNotFoundError(f"no MNIST {split} {kind} in {folder}: looked for {', '.join(candidates)}")


def _load_idx_dir(folder: Path, split: str):
    ip, lp = _find_idx(folder, split, "images"), _find_idx(folder, split, "labels")
    with ip.open("rb") as fh:
        images = _read_idx(fh, str(ip), _IMAGES_MAGIC)
    with lp.open("rb") as fh:
        labels = _read_idx(fh, str(lp), _LABELS_MAGIC)
    _check_pair(images, labels, f"MNIST {split} set in {folder}")
    return images, labels


def _load_builtin(split: str):
    folder = _builtin_dir()
    iname, lname = _BUILTIN[split]
    with folder.joinpath(iname).open("rb") as fh:
        images = _read_idx(fh, f"pyfwd/data/mnist/{iname}", _IMAGES_MAGIC)
    with folder.joinpath(lname).open("rb") as fh:
        labels = _read_idx(fh, f"pyfwd/data/mnist/{lname}", _LABELS_MAGIC)
    _check_pair(images, labels, f"built-in MNIST {split} subset")
    return images, labels


def _load_npz(path: Path):
    """A Keras-style mnist.npz: every entry's header (dtype, shape, counts) is
    checked before any data is read, so memory stays bounded by what the
    headers promise; nothing is unpickled."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    with NpzReader(path) as f:
        missing = [k for k in keys if k not in f]
        if missing:
            raise ValueError(f"{path}: not a Keras-style mnist.npz: missing {', '.join(missing)} "
                             f"(it holds {', '.join(f.files) or 'nothing'})")
        for split in ("train", "test"):
            (xs, xt), (ys, yt) = f.header(f"x_{split}"), f.header(f"y_{split}")
            if xt != np.uint8:
                raise ValueError(f"{path}: x_{split} must be uint8 pixels 0-255, got dtype {xt}")
            if yt.kind not in "iu":
                raise ValueError(f"{path}: y_{split} must hold integer labels, got dtype {yt}")
            _check_shapes(xs, ys, f"{path} ({split})")
        out = []
        for split in ("train", "test"):
            x, y = f.read(f"x_{split}"), f.read(f"y_{split}")
            _check_pair(x, y, f"{path} ({split})")
            out.append((x, y))
        return out


def load_mnist(path: str | os.PathLike | None = None, *, dtype="float32", flatten: bool = True,
               normalize: bool = True):
    """MNIST handwritten digits, as ``(X_train, y_train), (X_test, y_test)``.

    ``X`` is ``(n, 784)`` (``(n, 28, 28)`` with ``flatten=False``) in *dtype*,
    scaled to [0, 1] (raw 0-255 with ``normalize=False``); ``y`` is ``int64``
    digits 0-9. The order is the files' order.

    *path* selects the data:

    * ``None``: the subset bundled with pyfwd -- the first 5,000 training and the
      first 1,000 test images of MNIST (licence: :func:`mnist_notice`);
    * a directory holding the four IDX files of the full MNIST, raw or gzipped, in
      either naming style (``train-images-idx3-ubyte[.gz]`` or
      ``train-images.idx3-ubyte[.gz]``, likewise ``train-labels``, ``t10k-images``,
      ``t10k-labels``), or holding ``mnist.npz``;
    * a Keras-style ``mnist.npz`` file (``x_train``, ``y_train``, ``x_test``,
      ``y_test``).

    Nothing is downloaded. Every file is checked: gzip integrity, IDX magic
    numbers, 28x28 images, image and label counts equal, file size exactly what
    the header says, labels within 0-9 -- headers first, so a crafted file costs
    no more memory than the data its header promises. A truncated or corrupted
    file raises ``ValueError`` naming the file; a missing one
    ``FileNotFoundError``. A file of 0 images is valid: empty ``(0, 784)`` arrays.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating type (float32 or float64), got {dtype}")
    if path is None:
        pairs = [_load_builtin("train"), _load_builtin("test")]
    else:
        p = Path(path).expanduser()
        if p.is_dir():
            try:
                pairs = [_load_idx_dir(p, "train"), _load_idx_dir(p, "test")]
            except FileNotFoundError:
                if not (p / "mnist.npz").is_file():
                    raise
                pairs = _load_npz(p / "mnist.npz")
        elif p.is_file():
            if p.suffix != ".npz":
                raise ValueError(f"{p}: give the directory holding the four MNIST IDX files, "
                                 f"or a Keras-style mnist.npz file")
            pairs = _load_npz(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")
    return tuple(_finish(x, y, dtype, flatten, normalize) for x, y in pairs)


def load_digits(*, dtype="float32", normalize: bool = True):
    """scikit-learn's bundled 8x8 digits (1,797 images), as ``(X, y)``.

    ``X`` is ``(1797, 64)`` in *dtype*, scaled to [0, 1] (the raw values are
    0-16; ``normalize=False`` keeps them); ``y`` is ``int64`` digits 0-9. There is
    no official train/test split: make your own. Needs scikit-learn
    (``pip install "pyfwd[interop]"``); nothing is downloaded.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:
        raise ImportError('load_digits needs scikit-learn: pip install "pyfwd[interop]" '
                          '(or pip install scikit-learn)') from exc
    d = _sk_load_digits()
    X = np.asarray(d.data, dtype=np.dtype(dtype))
    if normalize:
        X /= 16.0
    return X, np.asarray(d.target, dtype=np.int64)
