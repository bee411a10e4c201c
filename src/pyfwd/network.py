"""``Network``: a dense network's parameters and its forward pass, on any backend;
``dense``: one fused layer; ``NeuralNetwork``: the tutorial's class."""
from __future__ import annotations

import copy
import threading
from collections.abc import MutableMapping
from typing import Any, Iterator, Sequence

import numpy as np

from . import _config
from . import _dtypes16 as _d16
from ._npz import NpzReader
from ._validate import as_array, as_float_dtype, check_out, native_float, refuse_masked
from .activations import ACT_CODE, canonical, canonical_list

__all__ = ["Network", "NeuralNetwork", "PackedWeights", "dense"]

_INITS = ("he", "xavier", "zeros")
_COMPUTE = ("fp32", "bf16")
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def _prep_input(X, dtype: np.dtype, in_features: int, what: str):
    """Validate X; return (X2d, squeeze) where squeeze says X was one sample."""
    X = as_array(X, dtype, "X")
    if X.ndim == 1:
        X, squeeze = X.reshape(1, -1), True
    elif X.ndim == 2:
        squeeze = False
    else:
        raise ValueError(f"X must be 2-D (batch, {in_features}) or 1-D ({in_features},), got shape {X.shape}")
    if X.shape[1] != in_features:
        raise ValueError(f"{what}: expected input of shape (batch, {in_features}), got {X.shape}")
    return X, squeeze


def _weight_matrix(W) -> np.ndarray:
    """W as a 2-D float array of its own float dtype: float32, float64, or a 16-bit
    one (bfloat16, float16; native byte order); float32 for any other dtype."""
    refuse_masked(W, "W")
    W = np.asarray(W) if not isinstance(W, np.ndarray) else W
    if _d16.is_weight16(W.dtype):
        W = W.view(np.ndarray) if type(W) is not np.ndarray else W
        if not W.dtype.isnative:
            W = W.astype(W.dtype.newbyteorder("="))
    else:
        W = as_array(W, native_float(W.dtype) or np.dtype(np.float32), "W")
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (out_features, in_features), got shape {W.shape}")
    return W


class PackedWeights:
    """A dense layer's weights W (out, in), ready for many :func:`dense` calls.

    ``dense(X, W, ...)`` packs W into the micro-kernel's layout on every call with
    more than a few rows (packing costs about as much as a small product). A loop
    that applies the same W to many batches packs it once instead::

        Wp = pyfwd.PackedWeights(W)
        for X in batches:
            Y = pyfwd.dense(X, Wp, b, "relu")   # same bits as dense(X, W, b, "relu")

    W is copied once, into immutable memory (changing the original later does not
    change ``Wp``; make a new one). The cpp backend packs it on first use for the
    active ISA level (and again if the level is switched); the other backends read
    the copy. Pickles as its weights (the packing is rebuilt where it is used).

    Parameters
    ----------
    W : array_like, shape (out_features, in_features)
        float32, float64 or 16-bit (bfloat16, float16: kept 16-bit; the cpp backend
        reads them 16-bit for a few rows and packs a float32 widening for more);
        other dtypes give float32, as for :func:`dense`.
    """

    __slots__ = ("_W", "_core_packed", "__weakref__")

    def __init__(self, W) -> None:
        if isinstance(W, PackedWeights):
            W = W.weights
        self._W = _frozen(np.ascontiguousarray(_weight_matrix(W)))
        self._core_packed = None

    @property
    def weights(self) -> np.ndarray:
        """The (read-only) W this object packs."""
        return self._W

    @property
    def shape(self) -> tuple:
        """``(out_features, in_features)``."""
        return self._W.shape

    @property
    def dtype(self) -> np.dtype:
        """The weights' dtype (the dtype :func:`dense` computes in)."""
        return self._W.dtype

    def __repr__(self) -> str:
        return f"PackedWeights(shape={self.shape}, dtype={self.dtype})"

    def __getstate__(self):
        return {"W": self._W}

    def __setstate__(self, state) -> None:
        self._W = _frozen(np.ascontiguousarray(state["W"]))
        self._core_packed = None


def dense(X, W, b=None, activation: str = "linear", backend: str | None = None, out=None):
    """One fused dense layer: ``activation(X @ W.T + b)``.

    X is (batch, in), W is (out, in) (PyTorch's ``nn.Linear.weight``), b is (out,)
    or None. The dtype is W's (float32 or float64, either byte order; other W
    dtypes give float32). Masked arrays are refused with ``TypeError``.
    W may be a :class:`PackedWeights` to apply the same weights to many batches
    without packing them again on each call (the same results, bit for bit).

    W may hold 16-bit weights (``ml_dtypes.bfloat16`` or ``float16``): they are
    widened exactly to float32 (the cpp backend reads them 16-bit, widening in
    registers), X, b and the output are float32 (X and b of other real dtypes
    are converted to float32, as for a float32 W). The result is the one of
    ``dense(X, W.astype(np.float32), ...)``, bit for bit on the cpp backend.
    """
    if type(W) is PackedWeights:
        Wp = W
        if (out is None and type(X) is np.ndarray and X.dtype == Wp._W.dtype and X.ndim == 2
                and X.shape[1] == Wp._W.shape[1] and type(activation) is str and activation in ACT_CODE
                and (b is None or (type(b) is np.ndarray and b.dtype == Wp._W.dtype
                                   and b.shape == (Wp._W.shape[0],)))):
            return _config.resolve(backend).dense_packed(X, Wp, b, activation, None)
        W = Wp._W
    else:
        Wp = None
    if out is None and Wp is None and type(X) is np.ndarray and type(W) is np.ndarray:
        # hot path: already-valid arrays and a canonical activation name. NumPy's native
        # float32/float64 dtypes are singletons, so identity is the cheap test (an equal
        # dtype that is another object takes the general path below, to the same result).
        wd = W.dtype
        if ((wd is _F32 or wd is _F64) and X.dtype is wd and type(activation) is str and activation in ACT_CODE
                and X.ndim == 2 and W.ndim == 2 and X.shape[1] == W.shape[1]
                and (b is None or (type(b) is np.ndarray and b.dtype is wd and b.shape == (W.shape[0],)))):
            return _config.resolve(backend).dense(X, W, b, activation, None)
    act = canonical(activation)
    W = _weight_matrix(W)
    w16 = _d16.is_weight16(W.dtype)
    dtype = _F32 if w16 else W.dtype
    N, K = W.shape
    if b is not None:
        b = as_array(b, dtype, "b")
        if b.shape != (N,):
            raise ValueError(f"b must have shape ({N},) to match W {W.shape}, got {b.shape}")
    X2, squeeze = _prep_input(X, dtype, K, f"dense layer with W of shape {W.shape}")
    shape = (N,) if squeeze else (X2.shape[0], N)
    if out is not None:
        check_out(out, shape, dtype, (X2, W, b))
    be = _config.resolve(backend)
    out2 = None if out is None else out.reshape(X2.shape[0], N)
    if w16:
        dense_w16 = getattr(be, "dense_w16", None)  # a backend that reads 16-bit W itself
        if dense_w16 is not None:
            Y = dense_w16(X2, W if Wp is None else Wp, b, act, out2)
        else:
            Y = be.dense(X2, W.astype(_F32), b, act, out=out2)
    elif Wp is not None:
        Y = be.dense_packed(X2, Wp, b, act, out=out2)
    else:
        Y = be.dense(X2, W, b, act, out=out2)
    if out is not None:
        return out
    return Y.reshape(shape) if squeeze else Y


def _small_entry(f: NpzReader, key: str, kinds: str, shape: tuple, max_len: int | None = None,
                 max_chars: int | None = None) -> np.ndarray:
    """A small metadata entry of a network file, its header checked first:
    dtype kind in *kinds*, shape *shape* (``None`` for a free length of at most
    *max_len*), strings of at most *max_chars* characters."""
    if key not in f:
        raise ValueError(f"{f.name}: missing entry {key!r}")
    got, dt = f.header(key)
    ok_shape = len(got) == len(shape) and all(s is None or g == s for g, s in zip(got, shape))
    if max_len is not None and got and got[0] > max_len:
        ok_shape = False
    if not ok_shape or dt.kind not in kinds or (max_chars is not None and dt.itemsize > 4 * max_chars):
        want = "a scalar" if not shape else f"shape {tuple('n' if s is None else s for s in shape)}"
        if max_len is not None:
            want += f" with n <= {max_len}"
        raise ValueError(f"{f.name}: entry {key!r} has shape {got} and dtype {dt}, expected {want} "
                         f"of kind {kinds!r}; not a valid pyfwd network file")
    return f.read(key)


def _is_frozen(arr: np.ndarray) -> bool:
    """Whether *arr* is read-only, C-ordered and exactly covers an immutable
    ``bytes`` object (what :func:`_frozen` makes, and what pickle protocol 5
    rebuilds an in-band read-only array as)."""
    if arr.flags.writeable or not arr.flags.c_contiguous:
        return False
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    return type(base) is bytes and len(base) == arr.nbytes


def _frozen(arr: np.ndarray) -> np.ndarray:
    """*arr* over an immutable ``bytes`` buffer: neither it nor any view of it
    can ever be made writeable. A C-ordered copy, or *arr* itself when it
    already is such an array (immutable data is shared safely)."""
    if _is_frozen(arr):
        return arr
    return np.frombuffer(arr.tobytes(), dtype=arr.dtype).reshape(arr.shape)


class Params(MutableMapping):
    """The parameters of a :class:`Network`: ``{"W1": (out, in), "b1": (out,), ...}``.

    Each array is a view of an immutable ``bytes`` buffer, so it can never be
    made writeable (``flags.writeable = True`` raises ``ValueError``, on the
    array and on its ``.base``): an in-place edit cannot silently bypass the
    backends' packed copies. Assign a new array instead (``net.params["W1"] = W``),
    which validates the shape and bumps the network's version so packed weights
    are rebuilt on the next call.
    """

    def __init__(self, net: "Network") -> None:
        self._net = net

    def __getitem__(self, key: str) -> np.ndarray:
        return self._net._params[key]

    def __setitem__(self, key: str, value) -> None:
        net = self._net
        if key not in net._params:
            raise KeyError(f"no parameter {key!r}; parameters are {', '.join(net._params)}")
        expected = net._params[key].shape
        if net._wdtype is not None and key.startswith("W"):
            arr = _d16.to_weight16(value, net._wdtype, key)  # rounded to nearest even
        else:
            arr = as_array(value, net.dtype, key)
        if arr.shape != expected:
            raise ValueError(f"{key} must have shape {expected}, got {arr.shape}")
        arr = _frozen(arr)
        with net._lock:
            net._params[key] = arr
            net._version += 1

    def __delitem__(self, key: str) -> None:
        raise TypeError("parameters cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._net._params)

    def __len__(self) -> int:
        return len(self._net._params)

    def __repr__(self) -> str:
        return "Params({" + ", ".join(f"{k!r}: {v.shape}" for k, v in self.items()) + "})"


class Network:
    """A dense feed-forward network.

    >>> net = Network([784, 128, 10], ["relu", "softmax"], seed=42)
    >>> net.forward(X).shape        # X: (batch, 784)
    (batch, 10)

    ``layer_dims`` lists the width of every layer, input first; ``activations``
    names one activation per weight layer (a single name applies to all).
    ``init`` is ``"he"`` (the tutorial's default: ``randn * sqrt(2/fan_in)``,
    biases zero), ``"xavier"`` (``randn * sqrt(2/(fan_in+fan_out))``) or
    ``"zeros"``; ``seed`` makes it reproducible.

    A network pickles (any protocol, cloudpickle too, so joblib, Dask, Ray and
    Spark can ship it), ``copy.deepcopy``-s and ``copy.copy``-s: the state is
    its parameters and settings (``classes_`` and attributes you set), never
    the backends' packed weights, which the copy rebuilds on first use; its
    output is bit-identical to the original's on every backend. A copy (shallow
    or deep) has its own parameter dict, lock and packed state; it shares the
    parameter arrays, which are immutable, so assigning ``copy.params["W1"]``
    leaves the original unchanged. A shallow copy also shares the attributes
    you set (as any shallow copy does); a deep copy copies them.

    16-bit weights: ``weight_dtype="bfloat16"`` (stored as ``ml_dtypes.bfloat16``)
    or ``"float16"`` keeps every ``W`` in that dtype (rounded to nearest even;
    half the memory and half the bytes a small batch reads), while ``dtype``,
    the biases, activations and outputs stay float32. ``None`` (default): the
    weights have ``dtype``. ``compute`` (``"fp32"`` or ``"bf16"``, also a
    :meth:`forward` argument) says how layers multiply: ``"fp32"`` widens the
    weights exactly and computes in float32; ``"bf16"`` (16-bit weights only)
    also rounds each layer's input to bfloat16, so every product is exact and
    sums are float32, the arithmetic of AVX512-BF16/AMX units (emulated with the
    float32 kernels on every CPU here).
    """

    def __init__(self, layer_dims: Sequence[int], activations, dtype="float32",
                 init: str = "he", seed: int | None = None, weight_dtype=None) -> None:
        dims = self._check_dims(layer_dims)
        acts = canonical_list(activations, len(dims) - 1)
        dt = as_float_dtype(dtype)
        wd = self._resolve_weight_dtype(weight_dtype, dt)
        if init not in _INITS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(_INITS)}")
        rng = np.random.default_rng(seed)
        weights, biases = [], []
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            if init == "zeros":
                W = np.zeros((fan_out, fan_in))
            else:
                scale = np.sqrt(2.0 / fan_in) if init == "he" else np.sqrt(2.0 / (fan_in + fan_out))
                W = rng.standard_normal((fan_out, fan_in)) * scale
            weights.append(W)
            biases.append(np.zeros(fan_out))
        self._setup(dims, acts, dt, weights, biases, wd)

    # -- construction ---------------------------------------------------
    @staticmethod
    def _check_dims(layer_dims) -> list[int]:
        try:
            dims = [int(d) for d in layer_dims]
        except (TypeError, ValueError):
            raise TypeError(f"layer_dims must be a list of positive integers, got {layer_dims!r}") from None
        if len(dims) < 2:
            raise ValueError(f"layer_dims needs at least 2 entries (input and output width), got {dims}")
        if any(d < 1 for d in dims) or any(int(d) != d for d in layer_dims):
            raise ValueError(f"layer_dims must be positive integers, got {list(layer_dims)}")
        return dims

    @staticmethod
    def _resolve_weight_dtype(weight_dtype, dtype: np.dtype) -> np.dtype | None:
        """A 16-bit weight dtype, or None for weights in *dtype*; clear errors for
        the rest."""
        wd = _d16.weight_dtype(weight_dtype)
        if wd is None:
            return None
        if not _d16.is_weight16(wd):
            if wd == dtype:
                return None
            raise ValueError(f"weight_dtype={wd.name!r} with dtype={dtype.name!r}: weights are either in the "
                             f"network's dtype (weight_dtype=None) or 16-bit ('bfloat16', 'float16')")
        if dtype != _F32:
            raise ValueError(f"16-bit weights ({wd.name}) compute in float32, so dtype must be float32, got "
                             f"dtype={dtype.name!r}")
        return wd

    def _setup(self, dims, acts, dtype, weights, biases, wdtype=None) -> None:
        self._layer_dims = list(dims)
        self._activations = list(acts)
        self._dtype = dtype
        self._wdtype = wdtype  # None: weights in dtype; else bfloat16 / float16
        self._compute = "fp32"
        self._lock = threading.Lock()
        self._version = 0
        self._states: dict[str, tuple[int, Any]] = {}
        self._params: dict[str, np.ndarray] = {}
        self._classes: np.ndarray | None = None
        for l, (W, b) in enumerate(zip(weights, biases), start=1):
            self._params[f"W{l}"] = _frozen(as_array(W, dtype, f"W{l}") if wdtype is None
                                            else _d16.to_weight16(W, wdtype, f"W{l}"))
            self._params[f"b{l}"] = _frozen(as_array(b, dtype, f"b{l}"))

    @classmethod
    def from_arrays(cls, weights: Sequence, biases: Sequence | None, activations, dtype=None,
                    weight_dtype=None) -> "Network":
        """Wrap existing parameters: ``weights[l]`` is (out, in), ``biases[l]`` is
        (out,) (``None`` for zeros). The dtype defaults to the first weight's when
        it is float32/float64 (either byte order: values are kept, stored in
        native order), else float32. Masked arrays are refused with ``TypeError``.

        ``weight_dtype`` (``None``, ``"bfloat16"``, ``"float16"``) as for
        :class:`Network`: 16-bit weights are kept as they are when they already
        have it, else rounded to nearest even; ``dtype`` is then float32. Weights
        that are bfloat16/float16 arrays with ``weight_dtype=None`` are widened to
        ``dtype`` (exactly)."""
        net = cls.__new__(cls)
        net._setup_from_arrays(weights, biases, activations, dtype, weight_dtype)
        return net

    def _setup_from_arrays(self, weights: Sequence, biases: Sequence | None, activations, dtype,
                           weight_dtype=None) -> None:
        """:meth:`from_arrays`' checks, then :meth:`_setup` (also used by unpickling)."""
        for l, W in enumerate(weights, start=1):
            refuse_masked(W, f"W{l}")
        weights = [np.asarray(W) for W in weights]
        if not weights:
            raise ValueError("need at least one weight matrix")
        wd16 = _d16.weight_dtype(weight_dtype)
        if dtype is None:
            dtype = np.float32 if wd16 is not None and _d16.is_weight16(wd16) else \
                native_float(weights[0].dtype) or np.float32
        dt = as_float_dtype(dtype)
        wd = self._resolve_weight_dtype(wd16, dt)
        if biases is None:
            biases = [None] * len(weights)
        biases = list(biases)
        if len(biases) != len(weights):
            raise ValueError(f"got {len(weights)} weight matrices but {len(biases)} biases")
        dims = []
        for l, W in enumerate(weights, start=1):
            if W.ndim != 2:
                raise ValueError(f"layer {l}: W{l} must be 2-D (out, in), got shape {W.shape}")
            if dims and W.shape[1] != dims[-1]:
                raise ValueError(f"layer {l}: W{l} has shape {W.shape}, expected ({W.shape[0]}, {dims[-1]}) "
                                 f"to take the {dims[-1]} outputs of layer {l - 1}")
            if not dims:
                dims.append(W.shape[1])
            dims.append(W.shape[0])
        dims = self._check_dims(dims)
        bs = []
        for l, (W, b) in enumerate(zip(weights, biases), start=1):
            refuse_masked(b, f"b{l}")
            b = np.zeros(W.shape[0]) if b is None else np.asarray(b)
            if b.shape != (W.shape[0],):
                raise ValueError(f"layer {l}: b{l} must have shape ({W.shape[0]},), got {b.shape}")
            bs.append(b)
        acts = canonical_list(activations, len(weights))
        self._setup(dims, acts, dt, weights, bs, wd)

    # -- properties -----------------------------------------------------
    @property
    def layer_dims(self) -> list[int]:
        """Layer sizes, inputs first (``[784, 128, 10]``)."""
        return list(self._layer_dims)

    @property
    def activations(self) -> list[str]:
        """Canonical activation name of each layer (aliases resolved)."""
        return list(self._activations)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of activations, outputs and biases (float32 with 16-bit weights)."""
        return self._dtype

    @property
    def weight_dtype(self) -> np.dtype:
        """The weights' dtype: ``dtype``, or bfloat16 (``ml_dtypes.bfloat16``) / float16."""
        return self._dtype if self._wdtype is None else self._wdtype

    @property
    def compute(self) -> str:
        """How layers multiply by default: ``"fp32"`` or ``"bf16"`` (16-bit weights
        only: each layer's input rounded to bfloat16 first). ``forward(compute=)``
        overrides it for one call."""
        return self._compute

    @compute.setter
    def compute(self, value) -> None:
        self._compute = self._check_compute(value)

    def _check_compute(self, value) -> str:
        if value not in _COMPUTE:
            raise ValueError(f"compute must be 'fp32' or 'bf16', got {value!r}")
        if value == "bf16" and self._wdtype is None:
            raise ValueError(f"compute='bf16' needs 16-bit weights (bf16 inputs times 16-bit weights are exact "
                             f"products); this network's weights are {self._dtype.name}: use "
                             f"net.with_weight_dtype('bfloat16') first")
        return value

    def with_weight_dtype(self, weight_dtype) -> "Network":
        """A copy with weights in *weight_dtype*: ``"bfloat16"``, ``"float16"``
        (rounded to nearest even, from the weights as they are), or ``None`` (the
        network's ``dtype``; from 16-bit weights an exact widening to float32).
        16-bit weights make the copy's ``dtype`` float32 (float64 biases are
        rounded to float32). The copy keeps ``classes_``, the attributes you set,
        and ``compute`` when its weights are 16-bit (else ``"fp32"``)."""
        wd = _d16.weight_dtype(weight_dtype)
        dtype = _F32 if wd is not None and _d16.is_weight16(wd) else self._dtype
        wd = self._resolve_weight_dtype(wd, dtype)
        state = self.__getstate__()
        state["extra"] = copy.deepcopy(state["extra"])
        new = type(self).__new__(type(self))
        new._setup(self._layer_dims, self._activations, dtype, self.weights, self.biases, wd)
        new.classes_ = state["classes"]
        new._compute = self._compute if wd is not None else "fp32"
        new.__dict__.update(state["extra"])
        return new

    @property
    def num_layers(self) -> int:
        """Number of weight layers (``len(layer_dims) - 1``)."""
        return len(self._layer_dims) - 1

    @property
    def params(self) -> Params:
        """The parameters by name (``W1``, ``b1``, ...): read-only arrays; assign
        ``net.params["W1"] = W`` to replace one (shape and values checked)."""
        return Params(self)

    @property
    def weights(self) -> list[np.ndarray]:
        """``[W1, ..., WL]``, each ``(out_l, in_l)``."""
        return [self._params[f"W{l}"] for l in range(1, self.num_layers + 1)]

    @property
    def biases(self) -> list[np.ndarray]:
        """``[b1, ..., bL]``, each ``(out_l,)``."""
        return [self._params[f"b{l}"] for l in range(1, self.num_layers + 1)]

    @property
    def num_params(self) -> int:
        """Number of parameters (weights and biases)."""
        return int(sum(a.size for a in self._params.values()))

    # -- forward --------------------------------------------------------
    def _state(self, be, per_layer: bool = False) -> Any:
        """The backend's prepared state for the current parameters (packed once
        per parameter version); *per_layer*: a list of one-layer states (the
        compute="bf16" path of backends without it built in). 16-bit weights go
        to a backend as they are when it reads them itself (``weights16``), else
        widened to float32 (exact) once here."""
        version = self._version
        key = be.name + "/layers" if per_layer else be.name
        cached = self._states.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        weights, biases, acts = self.weights, self.biases, self.activations
        if self._wdtype is not None and not getattr(be, "weights16", False):
            weights = [W.astype(_F32) for W in weights]
        if per_layer:
            state = [be.prepare([W], [b], [a]) for W, b, a in zip(weights, biases, acts)]
        else:
            state = be.prepare(weights, biases, acts)
        with self._lock:
            if self._version == version:
                self._states[key] = (version, state)
        return state

    def _forward_bf16_layers(self, be, X, return_cache: bool, out):
        """compute="bf16" on a backend without it built in: layer by layer, each
        input rounded to bfloat16 (the same rounding as the compiled core's)."""
        states = self._state(be, per_layer=True)
        L = len(states)
        cache = {"A0": X} if return_cache else None
        A = X
        for l, st in enumerate(states, start=1):
            res = be.forward(st, _d16.round_bf16(A), return_cache, out if l == L else None)
            if return_cache:
                A, c = res
                cache[f"Z{l}"], cache[f"A{l}"] = c["Z1"], A
            else:
                A = res
        return (A, cache) if return_cache else A

    def forward(self, X, return_cache: bool = False, backend: str | None = None, out=None,
                compute: str | None = None):
        """Forward propagation. X is (batch, in_features) or one sample (in_features,).

        Returns the output ``A_L`` (batch, out_features), or ``(A_L, cache)`` with
        ``return_cache=True``, where cache holds ``A0`` (the input), and ``Z_l``,
        ``A_l`` of every layer. ``out=`` receives ``A_L`` (C-contiguous, exact shape
        and dtype). Masked arrays (``numpy.ma``) are refused with ``TypeError`` on
        every backend: pass ``X.filled(value)``.

        ``compute`` (``"fp32"``, ``"bf16"``; default: the network's
        :attr:`compute`): with ``"bf16"`` each layer's input (X included) is
        rounded to bfloat16 before its product; the cache holds the layer
        outputs as computed (not rounded) and ``A0`` is X as given.
        """
        if (compute is None and out is None and not return_cache and type(X) is np.ndarray
                and X.dtype is self._dtype and X.ndim == 2 and X.shape[1] == self._layer_dims[0]
                and self._compute != "bf16"):
            # hot path (a loop of small batches): valid input, nothing to convert or check
            be = _config.resolve(backend)
            return be.forward(self._state(be), X, False)
        bf16 = (compute or self._compute) == "bf16"
        if compute is not None:
            self._check_compute(compute)
        dtype = self._dtype
        if type(X) is np.ndarray and X.dtype == dtype and X.ndim == 2 \
                and X.shape[1] == self._layer_dims[0]:
            X2, squeeze = X, False  # hot path: nothing to convert or check
        else:
            X2, squeeze = _prep_input(X, dtype, self._layer_dims[0], "layer 1")
        if out is not None:
            N = self._layer_dims[-1]
            check_out(out, (N,) if squeeze else (X2.shape[0], N), dtype,
                      [X2, *self._params.values()])
            out2 = out.reshape(X2.shape[0], N)
        else:
            out2 = None
        be = _config.resolve(backend)
        if not bf16:
            res = be.forward(self._state(be), X2, bool(return_cache), out2)
        elif getattr(be, "compute_bf16", False):
            res = be.forward(self._state(be), X2, bool(return_cache), out2, compute="bf16")
        else:
            res = self._forward_bf16_layers(be, X2, bool(return_cache), out2)
        if return_cache:
            Y, cache = res
            if out is not None:
                Y = out
            elif squeeze:
                Y = Y.reshape(-1)
            return Y, cache
        if out is not None:
            return out
        return res.reshape(-1) if squeeze else res

    __call__ = forward

    # -- training (pyfwd.training, pyfwd.losses, pyfwd.optim) ----------------
    def _assign_params(self, new: dict) -> None:
        """Replace several parameters at once, one version bump (the backends repack
        once). The optimisers' path: *new* holds arrays of the right shapes."""
        frozen = {k: _frozen(np.ascontiguousarray(v, dtype=self._dtype)) for k, v in new.items()}
        with self._lock:
            self._params.update(frozen)
            self._version += 1

    def loss_and_gradients(self, X, y, loss: str | None = None, backend: str | None = None):
        """``(loss, grads)``: the mean loss over the batch and its gradient wrt every
        parameter, ``grads`` keyed like :attr:`params` (same shapes and dtype).

        *loss* is ``"cross_entropy"`` (softmax output; y class indices or one-hot),
        ``"binary_cross_entropy"`` (sigmoid output) or ``"mse"``; None picks the one
        the output layer implies (see :mod:`pyfwd.losses`).
        """
        from .training import loss_and_gradients
        return loss_and_gradients(self, X, y, loss, backend)

    def backward(self, cache, dA, backend: str | None = None):
        """Backpropagate *dA*, the gradient of some scalar wrt the output ``A_L``
        (batch, out), through the *cache* of ``forward(X, return_cache=True)``.
        Returns ``(grads, dX)``: the parameter gradients keyed like :attr:`params`,
        and the gradient wrt the input X."""
        from .training import backward
        return backward(self, cache, dA, backend)

    def fit(self, X, y, loss: str | None = None, optimizer="adam", lr: float = 1e-3, epochs: int = 10,
            batch_size: int = 64, seed=0, validation_data=None, verbose: bool = True,
            backend: str | None = None, shuffle: bool = True, weight_decay: float | None = None,
            momentum: float | None = None, nesterov: bool | None = None, stream=None,
            lr_schedule=None, patience: int | None = None) -> dict:
        """Train with mini-batches; returns the history ``{"loss": [...], "accuracy":
        [...], "val_loss": [...], "val_accuracy": [...]}`` (one value per epoch;
        accuracy for the classification losses only, validation keys with
        *validation_data*, ``"lr"`` with *lr_schedule*). "loss"/"accuracy" are the
        means over the epoch's batches, each measured before its update (as Keras
        reports them).

        *optimizer*: ``"sgd"`` (with *momentum*, *nesterov*), ``"adam"``, ``"adamw"``
        or a :mod:`pyfwd.optim` object built on this network (its own lr then
        applies). *weight_decay* None keeps the optimiser's default (AdamW 0.01,
        others 0). The batches are reshuffled every epoch from *seed*. *verbose*
        draws a progress bar per epoch on *stream* (default stderr).

        *lr_schedule*: a callable ``epoch -> lr`` (epochs counted from 0, as Keras'
        ``LearningRateScheduler``), called before each epoch; the optimiser trains
        that epoch at the rate it returns (a user's optimiser object keeps the last
        one). *patience*: early stopping. Training stops once the watched loss
        (``val_loss`` with *validation_data*, else ``loss``) has not improved for
        *patience* epochs, and the parameters of its best epoch are restored (the
        optimiser's state is not rolled back, as in Keras' ``EarlyStopping`` with
        ``restore_best_weights=True``); the history ends at the last epoch run.

        On the ``cpp`` backend, a softmax output under cross-entropy with SGD, Adam
        or AdamW trains natively: a whole epoch per core call (runs of about 0.1 s
        with *verbose*), the same bits as stepping from Python. The parameters and
        the optimiser change when a run finishes; Ctrl-C leaves both as they were
        before the interrupted run.
        """
        from .training import fit
        return fit(self, X, y, loss=loss, optimizer=optimizer, lr=lr, epochs=epochs, batch_size=batch_size,
                   seed=seed, validation_data=validation_data, verbose=verbose, backend=backend,
                   shuffle=shuffle, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                   stream=stream, lr_schedule=lr_schedule, patience=patience)

    def evaluate(self, X, y, loss: str | None = None, backend: str | None = None,
                 batch_size: int | None = None) -> dict:
        """``{"loss": ..., "accuracy": ...}`` on (X, y) (accuracy for classification
        losses only); computed in chunks of *batch_size* rows (default 4096)."""
        from .training import evaluate
        return evaluate(self, X, y, loss, backend, batch_size)

    # -- scikit-learn-shaped predictions -----------------------------------
    def _task(self) -> str:
        """What the output layer is, for :meth:`predict`: ``"multiclass"``
        (softmax, or scores with ``classes_`` set), ``"binary"`` (one sigmoid
        output), ``"multilabel"`` (several sigmoid outputs) or ``"regression"``."""
        last, n_out = self._activations[-1], self._layer_dims[-1]
        if last == "sigmoid":
            return "binary" if n_out == 1 else "multilabel"
        if last == "softmax" or self._classes is not None:
            return "multiclass"
        return "regression"

    def _n_classes(self) -> int:
        """How many labels ``classes_`` holds: 2 for one sigmoid output, else one per output."""
        return 2 if self._task() == "binary" else self._layer_dims[-1]

    @property
    def classes_(self) -> np.ndarray | None:
        """The class labels :meth:`predict` returns (as scikit-learn's ``classes_``),
        or ``None``: then :meth:`predict` returns class indices.

        Kept by :meth:`from_sklearn`, :meth:`save`/:meth:`load` and pickling.
        Assign a 1-D sequence of distinct numbers, bools or strings (at most
        256 characters each): one label per output, or ``[negative,
        positive]`` for a single sigmoid output. Assigning labels to a network
        whose output is neither softmax nor sigmoid makes :meth:`predict` take
        the argmax of its outputs (scores such as logits) instead of returning
        them as a regression. ``None`` clears them.
        """
        return self._classes

    @classes_.setter
    def classes_(self, classes) -> None:
        self._classes = None if classes is None else self._check_classes(classes)

    _MAX_LABEL_CHARS = 256  # what save/load accept (bounded reads)

    def _check_classes(self, classes) -> np.ndarray:
        arr = np.asarray(classes)
        if arr.dtype.kind == "O":  # e.g. from pandas: all strings, or all numbers
            items = arr.ravel().tolist()
            kinds = {isinstance(c, str) for c in items}
            if kinds == {True}:
                arr = np.array(items, dtype=str).reshape(arr.shape)
            elif kinds == {False}:
                arr = np.array(items).reshape(arr.shape)
        if arr.dtype.kind not in "biufU":
            raise TypeError(f"classes_ must hold numbers, bools or strings, got dtype {arr.dtype}")
        if arr.dtype.kind == "U" and arr.dtype.itemsize > 4 * self._MAX_LABEL_CHARS:
            raise ValueError(f"classes_: labels are limited to {self._MAX_LABEL_CHARS} characters, "
                             f"got one of {arr.dtype.itemsize // 4}")
        if arr.ndim != 1:
            raise ValueError(f"classes_ must be 1-D, got shape {arr.shape}")
        last, n_out = self._activations[-1], self._layer_dims[-1]
        if n_out == 1 and last != "sigmoid":
            raise ValueError(f"classes_: a network with a single {last!r} output cannot classify; labels "
                             "need softmax outputs, a single sigmoid output, or 2 or more scores")
        n = self._n_classes()
        if arr.shape[0] != n:
            need = "2 labels [negative, positive] for its single sigmoid output" if n_out == 1 \
                else f"one label per output ({n})"
            raise ValueError(f"classes_ has {arr.shape[0]} labels, the network needs {need}")
        if len(np.unique(arr)) != n:
            raise ValueError(f"classes_ must be distinct labels, got {arr.tolist()}")
        return _frozen(arr.astype(arr.dtype.newbyteorder("=")))

    def predict(self, X, backend: str | None = None) -> np.ndarray:
        """Predictions as scikit-learn's ``predict`` gives them, by output layer:

        * softmax (or any outputs when ``classes_`` is set): the argmax per sample;
        * one sigmoid output: positive when ``p > 0.5``;
        * several sigmoid outputs (multi-label): the 0/1 indicator matrix ``p > 0.5``;
        * anything else (a regressor, e.g. a linear last layer): the outputs as
          they are, 1-D ``(batch,)`` for a single output.

        Classes are ``classes_[i]`` when ``classes_`` is set (strings too), else
        the indices ``i``. One sample ``(in_features,)`` gives one prediction.
        """
        Y = self.forward(X, backend=backend)
        task = self._task()
        if task == "regression":
            return Y[..., 0] if self._layer_dims[-1] == 1 else Y
        if task == "multilabel":
            return (Y > 0.5).astype(np.int64)
        idx = (Y[..., 0] > 0.5).astype(np.intp) if task == "binary" else np.argmax(Y, axis=-1)
        return idx if self._classes is None else self._classes.take(idx)

    def predict_proba(self, X, backend: str | None = None) -> np.ndarray:
        """Class probabilities, as scikit-learn's ``predict_proba``: softmax
        outputs as they are; a single sigmoid output ``p`` as two columns
        ``[1 - p, p]``; several sigmoid outputs (multi-label) as they are.
        A network whose output layer is not softmax or sigmoid has no
        probabilities: ``ValueError``."""
        last = self._activations[-1]
        if last not in ("softmax", "sigmoid"):
            raise ValueError(f"predict_proba needs an output layer of probabilities (softmax or sigmoid); "
                             f"this network's output activation is {last!r}: use forward() for its raw outputs")
        Y = self.forward(X, backend=backend)
        if self._task() == "binary":
            return np.concatenate([1 - Y, Y], axis=-1)
        return Y

    # -- description ----------------------------------------------------
    def summary(self) -> str:
        """A Keras-like table: layer, activation, output shape, parameters, total."""
        rows = [("Layer", "Activation", "Output shape", "Params")]
        rows.append(("input", "", f"(None, {self._layer_dims[0]})", "0"))
        for l in range(1, self.num_layers + 1):
            n = self._params[f"W{l}"].size + self._params[f"b{l}"].size
            rows.append((f"dense_{l}", self._activations[l - 1], f"(None, {self._layer_dims[l]})", f"{n:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        line = "-" * (sum(widths) + 6)
        fmt = lambda r: f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
        wd = "" if self._wdtype is None else f", {self._wdtype.name} weights, compute={self._compute}"
        out = [f"Network: {self.num_layers} dense layer(s), {self._dtype}{wd}", line, fmt(rows[0]), line]
        out += [fmt(r) for r in rows[1:]]
        out += [line, f"Total params: {self.num_params:,}"]
        return "\n".join(out)

    def __repr__(self) -> str:
        wd = "" if self._wdtype is None else f", weight_dtype='{self._wdtype.name}', compute='{self._compute}'"
        return (f"Network(layer_dims={self._layer_dims}, activations={self._activations}, "
                f"dtype='{self._dtype}'{wd})")

    # -- persistence ----------------------------------------------------
    _FORMAT = 1
    _FORMAT16 = 2  # 16-bit weights: W as uint16 bits + 'weight_dtype', 'compute' (older pyfwd refuses it)

    def save(self, path) -> None:
        """Save to an ``.npz`` file (no pickle): parameters, settings and ``classes_``.
        16-bit weights are stored as their uint16 bits with their dtype's name
        (and ``compute``), in format 2, which an older pyfwd refuses clearly."""
        extra = {} if self._classes is None else {"classes": self._classes}
        params = dict(self._params)
        fmt = self._FORMAT
        if self._wdtype is not None:
            fmt = self._FORMAT16
            for l in range(1, self.num_layers + 1):
                params[f"W{l}"] = params[f"W{l}"].view(np.uint16)
            extra["weight_dtype"] = np.array(self._wdtype.name)
            extra["compute"] = np.array(self._compute)
        np.savez(path, pyfwd_format=np.array(fmt), layer_dims=np.array(self._layer_dims),
                 activations=np.array(self._activations), dtype=np.array(str(self._dtype)),
                 **params, **extra)

    @classmethod
    def load(cls, path) -> "Network":
        """Load a network written by :meth:`save`.

        The file may come from anyone: every entry's header (dtype, shape) is
        checked against ``layer_dims`` before its data is read, so memory stays
        bounded by the network the file describes; nothing is unpickled. A bad
        file raises ``ValueError`` naming the entry.
        """
        with NpzReader(path) as f:
            if "pyfwd_format" not in f:
                raise ValueError(f"{path} is not a pyfwd network file (no 'pyfwd_format' entry)")
            fmt = int(_small_entry(f, "pyfwd_format", "iu", ()))
            if fmt not in (cls._FORMAT, cls._FORMAT16):
                raise ValueError(f"{path}: unsupported pyfwd format {fmt} (this version reads {cls._FORMAT}, "
                                 f"and {cls._FORMAT16} for 16-bit weights)")
            wd = compute = None
            if fmt == cls._FORMAT16:
                wd = str(_small_entry(f, "weight_dtype", "U", (), max_chars=16))
                if wd not in _d16.WEIGHT_DTYPES16:
                    raise ValueError(f"{path}: entry 'weight_dtype' is {wd!r}, expected one of "
                                     f"{', '.join(_d16.WEIGHT_DTYPES16)}")
                compute = str(_small_entry(f, "compute", "U", (), max_chars=8))
                if compute not in _COMPUTE:
                    raise ValueError(f"{path}: entry 'compute' is {compute!r}, expected 'fp32' or 'bf16'")
                wd = _d16.weight_dtype(wd)
            n_weights = sum(1 for k in f.files if k.startswith("W"))
            dims = _small_entry(f, "layer_dims", "iu", (None,), max_len=n_weights + 1)
            dims = cls._check_dims([int(d) for d in dims])
            L = len(dims) - 1
            missing = [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}") if k not in f]
            if missing:
                raise ValueError(f"{path}: missing parameter(s) {', '.join(missing)}")
            acts = _small_entry(f, "activations", "U", (L,), max_chars=64)
            dtype = _small_entry(f, "dtype", "U", (), max_chars=64)
            weights, biases = [], []
            for l in range(1, L + 1):
                for key, shape, out in ((f"W{l}", (dims[l], dims[l - 1]), weights),
                                        (f"b{l}", (dims[l],), biases)):
                    got, dt = f.header(key)
                    if got != shape:
                        raise ValueError(f"{path}: {key} has shape {got}, but layer_dims {dims} needs {shape}")
                    if wd is not None and key[0] == "W":
                        if dt != np.dtype("<u2"):
                            raise ValueError(f"{path}: {key} has dtype {dt}, expected uint16 (the bits of "
                                             f"{wd.name} weights)")
                        out.append(f.read(key).view(wd))
                        continue
                    if dt.kind not in "biuf":
                        raise ValueError(f"{path}: {key} has dtype {dt}, expected float32 or float64")
                    out.append(f.read(key))
            net = cls.from_arrays(weights, biases, [str(a) for a in acts], dtype=str(dtype), weight_dtype=wd)
            if compute is not None:
                try:
                    net.compute = compute
                except ValueError as exc:
                    raise ValueError(f"{path}: entry 'compute': {exc}") from None
            if "classes" in f:  # optional; older files have none
                labels = _small_entry(f, "classes", "biufU", (net._n_classes(),),
                                      max_chars=cls._MAX_LABEL_CHARS)
                try:
                    net.classes_ = labels
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{path}: entry 'classes': {exc}") from None
            return net

    # -- pickling, copies -------------------------------------------------
    # Pickles hold parameters and settings only: never packed buffers, backend
    # state or locks. The state is a dict with a format number, so a later
    # pyfwd can still read this one (and refuses a newer one clearly).
    _PICKLE_FORMAT = 1
    # 16-bit weights: W as uint16 bits (no ml_dtypes object in the pickle), plus
    # 'weight_dtype' and 'compute'; an older pyfwd refuses format 2 clearly.
    _PICKLE_FORMAT16 = 2
    _INTERNAL = frozenset({"_layer_dims", "_activations", "_dtype", "_lock", "_version", "_states",
                           "_params", "_classes", "_wdtype", "_compute"})

    def __getstate__(self) -> dict:
        with self._lock:
            params = dict(self._params)
        state = {"pyfwd_pickle": self._PICKLE_FORMAT, "layer_dims": list(self._layer_dims),
                 "activations": list(self._activations), "dtype": self._dtype.name, "params": params,
                 "classes": self._classes,
                 # attributes a user (or a subclass) set on the network
                 "extra": {k: v for k, v in self.__dict__.items() if k not in self._INTERNAL}}
        if self._wdtype is not None:
            state["pyfwd_pickle"] = self._PICKLE_FORMAT16
            for l in range(1, self.num_layers + 1):
                params[f"W{l}"] = params[f"W{l}"].view(np.uint16)
            state["weight_dtype"], state["compute"] = self._wdtype.name, self._compute
        return state

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict) or "pyfwd_pickle" not in state:
            raise ValueError("cannot unpickle pyfwd.Network: the state is not one pyfwd wrote")
        fmt = state["pyfwd_pickle"]
        if fmt not in (self._PICKLE_FORMAT, self._PICKLE_FORMAT16):
            from ._version import __version__
            raise ValueError(f"cannot unpickle pyfwd.Network: its state format is {fmt!r}, but pyfwd "
                             f"{__version__} reads format {self._PICKLE_FORMAT} (and {self._PICKLE_FORMAT16} for 16-bit "
                             "weights); "
                             "it was written by a newer pyfwd: upgrade pyfwd to load it")
        try:
            dims, params = state["layer_dims"], state["params"]
            L = len(dims) - 1
            weights = [params[f"W{l}"] for l in range(1, L + 1)]
            biases = [params[f"b{l}"] for l in range(1, L + 1)]
            acts, dtype, classes, extra = state["activations"], state["dtype"], state["classes"], state["extra"]
            wd = compute = None
            if fmt == self._PICKLE_FORMAT16:
                wd, compute = _d16.weight_dtype(state["weight_dtype"]), state["compute"]
                weights = [np.asarray(W).view(wd) for W in weights]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"cannot unpickle pyfwd.Network: damaged state ({type(exc).__name__}: {exc})") from None
        self._setup_from_arrays(weights, biases, acts, dtype, wd)
        if compute is not None:
            self.compute = compute
        if self._layer_dims != list(dims):
            raise ValueError(f"cannot unpickle pyfwd.Network: its parameters make layer_dims "
                             f"{self._layer_dims}, its state says {list(dims)}")
        self.classes_ = classes
        self.__dict__.update(extra)

    def __deepcopy__(self, memo) -> "Network":
        """A new network with its own lock and packed state, other attributes
        deep-copied. The parameter arrays are shared: they are immutable, so
        nothing can tell them from copies (assigning to the copy's params
        leaves the original as it is)."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        state = self.__getstate__()
        state["extra"] = copy.deepcopy(state["extra"], memo)
        new.__setstate__(state)
        return new

    # -- other frameworks (pyfwd.interop) ---------------------------------
    @classmethod
    def from_torch(cls, module, dtype=None, weight_dtype=None) -> "Network":
        """From a PyTorch ``nn.Sequential`` of ``nn.Linear`` and activation modules
        (a bfloat16/float16 module keeps its 16-bit weights)."""
        from .interop import from_torch
        return from_torch(module, dtype=dtype, weight_dtype=weight_dtype)

    @classmethod
    def from_keras(cls, model, dtype=None) -> "Network":
        """From a Keras 3 model of ``Dense`` layers."""
        from .interop import from_keras
        return from_keras(model, dtype=dtype)

    @classmethod
    def from_sklearn(cls, estimator, dtype=None) -> "Network":
        """From a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``."""
        from .interop import from_sklearn
        return from_sklearn(estimator, dtype=dtype)

    @classmethod
    def from_onnx(cls, path, dtype=None, weight_dtype=None) -> "Network":
        """From an ONNX file of Gemm (or MatMul+Add) and activation nodes (float16
        or bfloat16 initializers keep their 16-bit weights)."""
        from .interop import from_onnx
        return from_onnx(path, dtype=dtype, weight_dtype=weight_dtype)

    def to_onnx(self, path) -> None:
        """Write the network as an ONNX model (Gemm + activation nodes; 16-bit
        weights as FLOAT16/BFLOAT16 initializers Cast to float32)."""
        from .interop import to_onnx
        to_onnx(self, path)


class _TutorialParams(MutableMapping):
    """The tutorial's ``parameters`` dict view: ``W{l}`` (out, in), ``b{l}`` (out, 1)."""

    def __init__(self, net: Network) -> None:
        self._net = net

    def __getitem__(self, key):
        v = self._net.params[key]
        return v.reshape(-1, 1) if key.startswith("b") else v

    def __setitem__(self, key, value):
        if key.startswith("b") and key in self._net.params:
            value = np.asarray(value).reshape(-1)
        self._net.params[key] = value

    def __delitem__(self, key):
        raise TypeError("parameters cannot be deleted")

    def __iter__(self):
        return iter(self._net.params)

    def __len__(self):
        return len(self._net.params)


class NeuralNetwork:
    """The tutorial's class, unchanged in use, running on pyfwd's backends.

    Samples are *columns* here, as in the tutorial: ``X`` is (n_features, batch),
    ``W{l}`` is (layer_dims[l], layer_dims[l-1]) and ``b{l}`` is
    (layer_dims[l], 1). ``forward_propagation(X)`` returns ``(AL, caches)`` with
    ``caches = {"A0": X, "Z1": ..., "A1": ..., ..., "ZL": ..., "AL": ...}``, every
    entry (units, batch). float64 by default, like the tutorial's NumPy code.
    """

    def __init__(self, layer_dims: Sequence[int], activations, dtype="float64",
                 init: str = "he", seed: int | None = None, backend: str | None = None) -> None:
        self._net = Network(layer_dims, activations, dtype=dtype, init=init, seed=seed)
        self.backend = backend

    @property
    def network(self) -> Network:
        """The underlying row-major :class:`Network` (same parameters)."""
        return self._net

    @property
    def layer_dims(self) -> list[int]:
        """Layer sizes, inputs first."""
        return self._net.layer_dims

    @property
    def activations(self) -> list[str]:
        """Canonical activation name of each layer."""
        return self._net.activations

    @property
    def parameters(self) -> _TutorialParams:
        """The tutorial's ``parameters`` dict view (``W1`` ``(out, in)``, ``b1`` ``(out, 1)``)."""
        return _TutorialParams(self._net)

    def forward_propagation(self, X):
        """X is (n_features, batch). Returns ``(AL, caches)``."""
        X = as_array(X, self._net.dtype, "X")
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_features, batch), got shape {X.shape}")
        if X.shape[0] != self._net.layer_dims[0]:
            raise ValueError(f"layer 1: expected X of shape ({self._net.layer_dims[0]}, batch) "
                             f"(samples are columns), got {X.shape}")
        AL, cache = self._net.forward(X.T, return_cache=True, backend=self.backend)
        caches = {k: v.T for k, v in cache.items()}
        caches["A0"] = X
        return AL.T, caches
