"""Numba kernels of the ``numba`` backend: a blocked GEMM ``Z = A @ W.T + b`` with
the bias + activation epilogue fused, and the whole-network forward.

Structure (BLIS-like, see STYLE.md):

* micro-kernels (``_ukr_<mr>x<np>``): an LLVM intrinsic that keeps an ``mr`` rows
  x ``np`` panels tile of accumulators in vector registers for the whole K loop
  and updates it with ``llvm.fma`` (one rounding per multiply-add; no fastmath
  needed). Each output element is one FMA chain over k = 0..K-1 in order, so
  every tile shape, every block split and every thread count give bitwise the
  same result;
* packing: W (N, K) is packed once (per ``prepare``) into panels of ``NR``
  output columns, K-major: ``Wp[p, k, j] = W[p*NR + j, k]`` (zero-padded), so the
  micro-kernel reads each panel contiguously;
* ``_layer_block``: one block of output rows x panels; the epilogue adds the bias,
  writes Z (for ``return_cache``) and applies the activation, picked by its
  integer code (``pyfwd.activations.ACT_CODE``) at run time, so one compilation
  serves every activation; softmax is a row pass after the GEMM tasks;
* ``_layer_par``: a layer's tasks over ``prange`` (output blocks only, never K);
* ``parallel_plan``: the one policy that decides how a call uses threads, and
  one entry point per mode it picks: ``net_forward_serial``,
  ``net_forward_rows`` (big batches: row blocks through every layer in one
  parallel region; each block owns its rows of every buffer) and
  ``net_forward_layers`` (layer after layer, each split over output blocks when
  big enough). Few functions call ``_layer_block``: each caller re-optimises the
  callee's code when Numba links it, so depth costs compile time.

Only C-contiguous float32/float64 arrays reach these functions (the wrapper in
``numba_jit`` normalises), so each function has two signatures. Nothing here is
compiled at import: Numba compiles (or loads from its cache) on the first call.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .numba_config import njit

# The activation codes of pyfwd.activations.ACT_CODE (asserted in numba_jit).
# Defined here, not imported, so that Numba's cache (keyed on this file) sees them.
LINEAR, RELU, LEAKY_RELU, SIGMOID, TANH, SOFTMAX, GELU, SILU = range(8)
LEAKY_SLOPE = 0.01
SQRT1_2 = 0.7071067811865476



def _llvm_targets_avx512() -> bool:
    """Whether the code Numba generates here may use AVX-512 (512-bit vectors, 32
    registers): the features Numba compiles for (``NUMBA_CPU_FEATURES``, or the
    CPU named by ``NUMBA_CPU_NAME``, else this host's)."""
    import llvmlite.binding as llvm
    from numba.core import config

    feats = config.CPU_FEATURES
    if feats:
        return "+avx512f" in feats.split(",")
    name = (config.CPU_NAME or "host").lower()
    if name not in ("host", ""):
        return "avx512" in name or name in _AVX512_CPUS
    return bool(llvm.get_host_cpu_features().get("avx512f"))


_AVX512_CPUS = {"knl", "knm", "skx", "cascadelake", "cooperlake", "cannonlake", "icelake-client",
                "icelake-server", "tigerlake", "sapphirerapids", "alderlake-avx512", "rocketlake",
                "graniterapids", "graniterapids-d", "emeraldrapids", "znver4", "znver5",
                "x86-64-v4"}

# Register tile: MR rows x NV vectors of VEC_BYTES per panel (NR = NV * lanes), picked
# for the registers of the CPU Numba compiles for, so that the accumulators never
# outnumber them (they would be spilled to the stack on every k step):
#  * AVX-512 (32 zmm): 512-bit vectors, 12 x 2 = 24 accumulators + 2 B + 1 broadcast.
#    Measured at 768^3 on one core of a Xeon (float32 / float64 GFLOP/s): 12x2 vectors
#    106 / 53, 8x3 109 / 41, 8x2 92 / 40, 4x2 57 / 22; with 256-bit vectors 12x2 95 / 49.
#  * otherwise (AVX2: 16 ymm; NEON): 256-bit vectors, 6 x 2 = 12 accumulators + 2 B +
#    1 broadcast = 15 of 16 (the tile of the C++ AVX2 kernel). The 12 x 2 x 512-bit
#    tile used before needed 48 ymm accumulators on AVX2.
# Numba's own loop vectoriser (tile kept in a local array) reached 35-50 on the Xeon.
# The tile changes speed only: every output element is one FMA chain over k in order.
# Numba's cache is keyed on the target CPU and its features, so a cached kernel
# always matches the tile chosen here.
AVX512 = _llvm_targets_avx512()
VEC_BYTES = 64 if AVX512 else 32
NV = 2
MR = 12 if AVX512 else 6
# The smaller tiles for the last rows of a block (MR, then these, then 1).
MR_B, MR_C = (8, 4) if AVX512 else (4, 2)
# Unpacked small-batch path (rowdot): RD_M batch rows x 4 W rows of VEC_BYTES
# accumulators, plus the RD_M row vectors and one W vector in flight: 16 + 4 + 1 of
# 32 zmm; 8 + 2 + 1 of 16 ymm.
RD_M = 4 if AVX512 else 2
#: A task's W panels should stay in L2 (2 MiB per core here; keep half).
L2_BYTES = 1 << 20


def panel_width(itemsize: int) -> int:
    """NR, the output columns of one packed panel, for a dtype's item size."""
    return NV * VEC_BYTES // itemsize


def _cg_args(context, builder, signature, args):
    """The common codegen set-up of the intrinsics ``f(A, i0, W, n0, acc)``:
    the three arrays' structs, i0 and n0 as intp, the element size, vector
    length, element and vector types, the vector ``llvm.fma`` and an intp
    constant maker."""
    tA, ti0, tW, tn0, tacc = signature.args
    arrays = [context.make_array(t)(context, builder, a)
              for t, a in ((tA, args[0]), (tW, args[2]), (tacc, args[4]))]
    i0v = context.cast(builder, args[1], ti0, types.intp)
    n0v = context.cast(builder, args[3], tn0, types.intp)
    esz = tA.dtype.bitwidth // 8
    vl = VEC_BYTES // esz
    elem = context.get_value_type(tA.dtype)
    vty = ir.VectorType(elem, vl)
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vty, [vty, vty, vty]), f"llvm.fma.v{vl}f{esz * 8}")
    intp = context.get_value_type(types.intp)

    def const(v):
        return ir.Constant(intp, v)

    return (*arrays, i0v, n0v, esz, vl, elem, vty, fma, const)


def _make_ukr(mr: int, npan: int):
    """An intrinsic ``ukr(A, i0, Wp, p0, acc)`` computing
    ``acc[r, q*NR + j] = sum_k A[i0 + r, k] * Wp[p0 + q, k, j]`` for r < mr,
    q < npan, as FMA chains over k in order, accumulators in registers."""

    @intrinsic
    def ukr(typingctx, A, i0, Wp, p0, acc):
        sig = types.void(A, i0, Wp, p0, acc)

        def codegen(context, builder, signature, args):
            aA, aW, aC, i0v, p0v, esz, vl, elem, vty, fma, const = _cg_args(context, builder,
                                                                            signature, args)
            vptr = vty.as_pointer()
            i32 = ir.IntType(32)
            lda = cgutils.unpack_tuple(builder, aA.shape, 2)[1]
            _, K, NR = cgutils.unpack_tuple(builder, aW.shape, 3)
            ldc = cgutils.unpack_tuple(builder, aC.shape, 2)[1]
            arows = [builder.gep(aA.data, [builder.mul(builder.add(i0v, const(r)), lda)])
                     for r in range(mr)]
            pstride = builder.mul(K, NR)
            wpans = [builder.gep(aW.data, [builder.mul(builder.add(p0v, const(q)), pstride)])
                     for q in range(npan)]
            zero = ir.Constant(vty, [ir.Constant(elem, 0.0)] * vl)
            nacc = npan * NV
            # Entry-block allocas: LLVM's mem2reg turns them into registers.
            accs = [[cgutils.alloca_once_value(builder, zero) for _ in range(nacc)]
                    for _ in range(mr)]
            undef = ir.Constant(vty, ir.Undefined)
            splat = ir.Constant(ir.VectorType(i32, vl), [0] * vl)
            with cgutils.for_range(builder, K) as loop:
                k = loop.index
                koff = builder.mul(k, NR)
                wv = []
                for q in range(npan):
                    for v in range(NV):
                        ptr = builder.gep(wpans[q], [builder.add(koff, const(v * vl))])
                        wv.append(builder.load(builder.bitcast(ptr, vptr), align=esz))
                for r in range(mr):
                    a = builder.load(builder.gep(arows[r], [k]))
                    av = builder.shuffle_vector(
                        builder.insert_element(undef, a, ir.Constant(i32, 0)), undef, splat)
                    for j in range(nacc):
                        builder.store(builder.call(fma, [av, wv[j], builder.load(accs[r][j])]),
                                      accs[r][j])
            for r in range(mr):
                crow = builder.gep(aC.data, [builder.mul(const(r), ldc)])
                for j in range(nacc):
                    ptr = builder.bitcast(builder.gep(crow, [const(j * vl)]), vptr)
                    builder.store(builder.load(accs[r][j]), ptr, align=esz)
            return context.get_dummy_value()

        return sig, codegen

    return ukr


_ukr_mr = _make_ukr(MR, 1)
_ukr_b = _make_ukr(MR_B, 1)
_ukr_c = _make_ukr(MR_C, 1)
_ukr_2x1 = _make_ukr(2, 1)
_ukr_1x1 = _make_ukr(1, 1)
_ukr_1x4 = _make_ukr(1, 4)  # batch-1 (GEMV): 4 panels at once keep 8 FMA chains busy



def _make_rowdot(mr: int, nw: int):
    """An intrinsic ``rowdot(A, i0, W, n0, acc)`` for unpacked, row-contiguous W
    (N, K): ``acc[r, q] = dot(A[i0 + r, :], W[n0 + q, :])`` for r < mr, q < nw
    (rows past the end are clamped to the last row: computed, then ignored).

    Summation order, the same for every tile, batch and thread count: lane l of
    a vector accumulator (VEC_BYTES wide) takes the FMA chain over k = l, l + vl,
    ... in order, the K % vl tail is one more FMA per lane (zero-padded: 0 * 0 past K),
    then the lanes are added pairwise (halves, quarters, ...) into one sum."""

    @intrinsic
    def rowdot(typingctx, A, i0, W, n0, acc):
        sig = types.void(A, i0, W, n0, acc)

        def codegen(context, builder, signature, args):
            aA, aW, aC, i0v, n0v, esz, vl, elem, vty, fma, const = _cg_args(context, builder,
                                                                            signature, args)
            vptr = vty.as_pointer()
            i32 = ir.IntType(32)

            def clamp(x, n):  # min(x, n - 1)
                return builder.select(builder.icmp_signed("<", x, n), x,
                                      builder.sub(n, const(1)))

            M, lda = cgutils.unpack_tuple(builder, aA.shape, 2)
            N, K = cgutils.unpack_tuple(builder, aW.shape, 2)
            ldc = cgutils.unpack_tuple(builder, aC.shape, 2)[1]
            arows = [builder.gep(aA.data, [builder.mul(clamp(builder.add(i0v, const(r)), M), lda)])
                     for r in range(mr)]
            wrows = [builder.gep(aW.data, [builder.mul(clamp(builder.add(n0v, const(q)), N), K)])
                     for q in range(nw)]
            zero = ir.Constant(vty, [ir.Constant(elem, 0.0)] * vl)
            accs = [[cgutils.alloca_once_value(builder, zero) for _ in range(nw)] for _ in range(mr)]
            nvec = builder.sdiv(K, const(vl))
            kv = builder.mul(nvec, const(vl))
            with cgutils.for_range(builder, nvec) as loop:
                off = builder.mul(loop.index, const(vl))
                av = [builder.load(builder.bitcast(builder.gep(a, [off]), vptr), align=esz)
                      for a in arows]
                wv = [builder.load(builder.bitcast(builder.gep(w, [off]), vptr), align=esz)
                      for w in wrows]
                for r in range(mr):
                    for q in range(nw):
                        builder.store(builder.call(fma, [av[r], wv[q], builder.load(accs[r][q])]),
                                      accs[r][q])
            # the K % vl tail: copied into zero-padded vectors, one more FMA
            # each (padding lanes add 0 * 0)
            tails = [cgutils.alloca_once(builder, vty) for _ in range(mr + nw)]
            for tb in tails:
                builder.store(zero, tb)
            srcs = arows + wrows
            with cgutils.for_range(builder, builder.sub(K, kv)) as loop:
                k = builder.add(kv, loop.index)
                for tb, src in zip(tails, srcs):
                    dst = builder.gep(builder.bitcast(tb, elem.as_pointer()), [loop.index])
                    builder.store(builder.load(builder.gep(src, [k])), dst)
            av = [builder.load(tb) for tb in tails[:mr]]
            wv = [builder.load(tb) for tb in tails[mr:]]
            for r in range(mr):
                for q in range(nw):
                    builder.store(builder.call(fma, [av[r], wv[q], builder.load(accs[r][q])]),
                                  accs[r][q])
            for r in range(mr):
                crow = builder.gep(aC.data, [builder.mul(const(r), ldc)])
                for q in range(nw):
                    v = builder.load(accs[r][q])
                    width = vl
                    while width > 1:
                        h = width // 2
                        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, h),
                                                                      list(range(h))))
                        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, h),
                                                                      list(range(h, width))))
                        v = builder.fadd(lo, hi)
                        width = h
                    builder.store(builder.extract_element(v, ir.Constant(i32, 0)),
                                  builder.gep(crow, [const(q)]))
            return context.get_dummy_value()

        return sig, codegen

    return rowdot


# Unpacked small-batch path (dense() without a prepare): RD_M rows x 4 W rows keep
# 4*RD_M FMA chains busy and read each W row once per RD_M batch rows; 1 x 8 for the rest.
_rowdot_m4 = _make_rowdot(RD_M, 4)
_rowdot_1x8 = _make_rowdot(1, 8)


@njit()
def _sigmoid(z):
    e = math.exp(-abs(z))  # exp of a non-positive number: never overflows
    if z >= 0.0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


# exp for the float32 tanh: ln 2 split so that n * LN2_HI is exact for n < 2^21
LOG2E = 1.4426950408889634
LN2_HI = 0.6931471803691238
LN2_LO = 1.9082149292705877e-10


@njit()
def _exp_0_40(y):
    """exp(y) for 0 <= y <= 40 without a libm call (branch-free, so a loop of
    it vectorises): y = n ln2 + r, |r| <= ln2/2; exp(r) by its Taylor series to
    degree 11 (truncation < 1e-13 relative, far below float32's 6e-8); 2^n
    (n < 64) as a product of exact powers of two picked by n's bits."""
    n = math.floor(y * LOG2E + 0.5)
    r = (y - n * LN2_HI) - n * LN2_LO
    p = 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = int(n)
    s = 2.0 if k & 1 else 1.0
    s *= 4.0 if k & 2 else 1.0
    s *= 16.0 if k & 4 else 1.0
    s *= 256.0 if k & 8 else 1.0
    s *= 65536.0 if k & 16 else 1.0
    s *= 4294967296.0 if k & 32 else 1.0
    return p * s


@njit()
def _tanh_for_f32(x):
    """tanh of a float64 x, accurate to ~1e-12 relative: enough for a float32
    result rounded once (0.5 ulp + a hair; tested by a 2e6-point sweep), 5x
    faster than libm's tanh. 1 - 2 / (exp(2|x|) + 1), where its cancellation
    costs < 2e-16 / |x| relative; below |x| = 1e-3 the series
    x - x^3/3 + 2x^5/15 instead. |x| >= 20 gives exactly 1; NaN -> NaN."""
    a = abs(x)
    t = 1.0 - 2.0 / (_exp_0_40(2.0 * min(a, 20.0)) + 1.0)
    a2 = a * a
    small = a * (1.0 - a2 * (1.0 / 3.0 - a2 * (2.0 / 15.0)))
    t = small if a < 1e-3 else t
    t = math.copysign(t, x)
    return x if x != x else t


@njit()
def _activate(z, act, f32):
    """The activation *act* (an ACT_CODE) of a float64 z, as the reference
    defines it (NaN in gives NaN out; gelu/silu(-inf) = -0.0); *f32*: the result
    is rounded to float32, so a faster, less exact tanh is enough (the
    epilogue uses its own vectorised pass for that)."""
    if act == RELU:
        return 0.0 if z < 0.0 else z  # NaN < 0 is False: NaN passes through
    if act == LEAKY_RELU:
        return z if z > 0.0 else z * LEAKY_SLOPE
    if act == SIGMOID:
        return _sigmoid(z)
    if act == TANH:
        return _tanh_for_f32(z) if f32 else math.tanh(z)
    if act == GELU:
        if z == -math.inf:
            return -0.0  # the limit from below, as z * Phi(z) for any z << 0
        return z * 0.5 * math.erfc(-z * SQRT1_2)  # exact: Phi via erfc keeps the left tail
    if act == SILU:
        if z == -math.inf:
            return -0.0
        return z * _sigmoid(z)
    return z  # linear; softmax is applied by the row pass


@njit()
def _softmax_row(y, e):
    """In-place softmax of one row, in float64 (*e*: float64 scratch of the row's
    length), as the reference: subtract the row max (NaN anywhere, or inf - inf,
    gives a NaN row)."""
    n = y.shape[0]
    if n == 0:
        return
    m = -math.inf
    anynan = False
    for j in range(n):
        v = float(y[j])
        if v != v:
            anynan = True
        elif v > m:
            m = v
    if anynan:
        m = math.nan
    s = 0.0
    for j in range(n):
        e[j] = math.exp(float(y[j]) - m)
        s += e[j]
    for j in range(n):
        y[j] = e[j] / s


@njit()
def _epilogue(acc, mr, ncols, i0, n0, b, act, Z, write_z, Y):
    """Y[i0:i0+mr, n0:n0+ncols] = act(acc + b) (columns >= N are padding);
    Z gets acc + b too when *write_z*."""
    N = Y.shape[1]
    nc = min(ncols, N - n0)
    has_b = b.shape[0] > 0
    f32 = Y.itemsize == 4
    # float32 tanh: a second, branch-free pass over the row that LLVM vectorises
    vec_tanh = f32 and act == TANH
    act1 = LINEAR if vec_tanh else act
    for r in range(mr):
        i = i0 + r
        for j in range(nc):
            z = float(acc[r, j])
            if has_b:
                z += float(b[n0 + j])
            if write_z:
                Z[i, n0 + j] = z
            Y[i, n0 + j] = _activate(z, act1, f32)
        if vec_tanh:
            _tanh_pass(Y, i, i + 1, n0, n0 + nc)


@njit()
def _tanh_pass(Y, r0, r1, c0, c1):
    """Y[r0:r1, c0:c1] = tanh(Y[...]) for float32 Y: a branch-free loop per row
    that LLVM vectorises (6x faster than libm's tanh per element)."""
    for i in range(r0, r1):
        y = Y[i, c0:c1]
        for j in range(c1 - c0):
            y[j] = _tanh_for_f32(float(y[j]))


@njit()
def _layer_block(r0, r1, p0, p1, A, Wp, b, act, Z, write_z, Y):
    """Output rows [r0, r1) x panels [p0, p1) of a layer, GEMM and epilogue
    (softmax excepted: a row pass once whole rows are done)."""
    NR = Wp.shape[2]
    acc = np.empty((MR, 4 * NR), dtype=A.dtype)
    i0 = r0
    while i0 < r1:
        rem = r1 - i0
        if rem >= MR:
            mr = MR
        elif rem >= MR_B:
            mr = MR_B
        elif rem >= MR_C:
            mr = MR_C
        elif rem >= 2:
            mr = 2
        else:
            mr = 1
        p = p0
        while p < p1:
            if mr == MR:
                _ukr_mr(A, i0, Wp, p, acc)
            elif mr == MR_B:
                _ukr_b(A, i0, Wp, p, acc)
            elif mr == MR_C:
                _ukr_c(A, i0, Wp, p, acc)
            elif mr == 2:
                _ukr_2x1(A, i0, Wp, p, acc)
            elif p + 4 <= p1:
                _ukr_1x4(A, i0, Wp, p, acc)
                _epilogue(acc, 1, 4 * NR, i0, p * NR, b, act, Z, write_z, Y)
                p += 4
                continue
            else:
                _ukr_1x1(A, i0, Wp, p, acc)
            _epilogue(acc, mr, NR, i0, p * NR, b, act, Z, write_z, Y)
            p += 1
        i0 += mr


@njit()
def _softmax_rows(r0, r1, Y):
    """The softmax row pass over rows [r0, r1) once their GEMM is done."""
    e = np.empty(Y.shape[1], dtype=np.float64)
    for i in range(r0, r1):
        _softmax_row(Y[i], e)



@njit()
def _dense_rows_cols(X, W, b, act, Y, c0, c1):
    """Columns [c0, c1) of ``dense_rows`` (c0 a multiple of 8), softmax excepted."""
    M = X.shape[0]
    acc = np.empty((RD_M, 8), dtype=X.dtype)
    noz = np.empty((0, 0), dtype=X.dtype)
    # float32 tanh: one vectorised pass over whole rows after the tiles
    vec_tanh = Y.itemsize == 4 and act == TANH
    act1 = LINEAR if vec_tanh else act
    i0 = 0
    while i0 + RD_M <= M:
        for n0 in range(c0, c1, 4):
            _rowdot_m4(X, i0, W, n0, acc)
            _epilogue(acc, RD_M, min(4, c1 - n0), i0, n0, b, act1, noz, False, Y)
        i0 += RD_M
    while i0 < M:
        for n0 in range(c0, c1, 8):
            _rowdot_1x8(X, i0, W, n0, acc)
            _epilogue(acc, 1, min(8, c1 - n0), i0, n0, b, act1, noz, False, Y)
        i0 += 1
    if vec_tanh:
        _tanh_pass(Y, 0, M, c0, c1)


@njit()
def dense_rows(X, W, b, act, Y):
    """Y = act(X @ W.T + b) without packing W (small batches, where packing
    would cost more than the GEMM): X (M, K) and W (N, K) C-contiguous, b (N,)
    or empty. Each element's summation order is fixed (see ``_make_rowdot``),
    so every batch size and column split gives the same bits."""
    _dense_rows_cols(X, W, b, act, Y, 0, W.shape[0])
    if act == SOFTMAX:
        _softmax_rows(0, X.shape[0], Y)


@njit(parallel=True)
def dense_rows_par(X, W, b, act, Y, ntasks):
    """``dense_rows`` with the output columns split into *ntasks* blocks over
    ``prange`` (a separate entry point: compiled only once a call needs threads)."""
    N = W.shape[0]
    CB = (N + ntasks - 1) // ntasks
    CB = (CB + 7) // 8 * 8
    for t in prange((N + CB - 1) // CB):
        _dense_rows_cols(X, W, b, act, Y, t * CB, min(N, t * CB + CB))
    if act == SOFTMAX:
        _softmax_rows(0, X.shape[0], Y)

@njit(parallel=True)
def _layer_par(ntasks, npb, MB, PB, A, Wp, b, act, Z, write_z, Y):
    """A layer's tasks (row block x panel block) over ``prange``: output blocks
    only, the K sum is never split. The caller sets Numba's chunk size to 1
    (numba_jit): tasks are handed out one by one, so a thread the OS delays
    does not hold up the others."""
    M = A.shape[0]
    npan = Wp.shape[0]
    for t in prange(ntasks):
        rb = t // npb
        pb = t - rb * npb
        _layer_block(rb * MB, min(M, rb * MB + MB), pb * PB, min(npan, pb * PB + PB),
                     A, Wp, b, act, Z, write_z, Y)
    if act == SOFTMAX:
        for rb in prange(ntasks // npb):
            _softmax_rows(rb * MB, min(M, rb * MB + MB), Y)


@njit()
def _l2_panels(K, npan, NR, itemsize):
    """Panels per block so that a block of packed W stays in L2."""
    return max(1, min(npan, L2_BYTES // max(1, K * NR * itemsize)))


@njit()
def _plan(M, K, npan, NR, itemsize, nthreads):
    """Blocks of a layer: (ntasks, npb, MB, PB), ntasks = row blocks * npb.
    Panels per task fit in L2; with several threads, about 2 tasks per thread.
    Any split gives the same bits (each element is one FMA chain), so this only
    affects speed."""
    PB = _l2_panels(K, npan, NR, itemsize)
    npb = (npan + PB - 1) // PB
    want = 2 * nthreads if nthreads > 1 else 1
    nrb_want = max(1, (want + npb - 1) // npb)
    MB = (M + nrb_want - 1) // nrb_want
    MB = max(MR, (MB + MR - 1) // MR * MR)
    nrb = (M + MB - 1) // MB
    if nthreads > 1 and nrb * npb < 2 * nthreads:
        # too few row blocks (small batch): split the panels further
        npb = min(npan, max(npb, (2 * nthreads + nrb - 1) // nrb))
        PB = (npan + npb - 1) // npb
        npb = (npan + PB - 1) // PB
    return nrb * npb, npb, MB, PB


# -- the parallel policy: the one place that decides how a call uses threads ----

#: Modes of :func:`parallel_plan`.
SERIAL, ROWS, LAYERS = 0, 1, 2


def layer_parallel(M, row_flops, par_min_flops):
    """Whether one layer (or one ``dense`` call) of *row_flops* flops per batch row
    is worth a parallel launch at batch *M* (a launch costs microseconds)."""
    return M * row_flops >= par_min_flops


def parallel_plan(M, nthreads, max_row_flops, total_row_flops, par_min_flops):
    """How a whole-network call of batch *M* runs on *nthreads* threads:
    ``(SERIAL, 0)`` when no layer is worth a parallel launch; ``(ROWS, MB)`` when
    the batch has at least 4 row tiles per thread: blocks of MB rows (a multiple
    of MR), about 4 per thread, each pushed through every layer in one parallel
    region (each block owns its rows of every buffer, so no barrier between
    layers is needed); otherwise ``(LAYERS, 0)``: each layer for which
    :func:`layer_parallel` holds is split over rows and panels, the others run on
    the calling thread. Plain Python (called by the wrapper before it picks an
    entry point, so small calls never compile the parallel ones) and compiled
    (below) for the kernels: one definition."""
    if nthreads <= 1 or not layer_parallel(M, max_row_flops, par_min_flops):
        return SERIAL, 0
    if M >= 4 * MR * nthreads and M * total_row_flops >= par_min_flops:
        nrb = 4 * nthreads
        MB = (M + nrb - 1) // nrb
        return ROWS, (MB + MR - 1) // MR * MR
    return LAYERS, 0


_layer_parallel = njit()(layer_parallel)


@njit()
def _layer_views(l, r0, r1, M, wflat, bflat, meta, out, cbuf, write_cache, buf0, buf1, noz):
    """Layer l's packed W and bias, and its Z (or an empty array) and output Y
    restricted to the batch rows [r0, r1), as C-contiguous (r1 - r0, N) arrays.

    Memory ownership (what makes the row-split parallel mode race-free): the
    cache arrays and *out* are (M, N_l) row-major, so rows [r0, r1) of them are
    the block's own; the ping-pong buffers of the hidden layers use a fixed row
    stride, the widest hidden width ``maxn = len(buf0) // M``, so the block owns
    ``buf[r0*maxn : r1*maxn]`` in every layer whatever N_l is."""
    L = meta.shape[0]
    K, N, npan, NR, woff, boff, nb = (meta[l, 0], meta[l, 1], meta[l, 2], meta[l, 3],
                                      meta[l, 4], meta[l, 5], meta[l, 6])
    Wp = wflat[woff:woff + npan * K * NR].reshape((npan, K, NR))
    b = bflat[boff:boff + nb]
    rows = r1 - r0
    coff = 0
    for j in range(l):
        coff += 2 * M * meta[j, 1]
    if write_cache:
        Z = cbuf[coff + r0 * N:coff + r1 * N].reshape((rows, N))
    else:
        Z = noz
    if l == L - 1:
        Y = out[r0:r1]
    elif write_cache:
        Y = cbuf[coff + (M + r0) * N:coff + (M + r1) * N].reshape((rows, N))
    else:
        buf = buf0 if l % 2 == 0 else buf1
        s = r0 * (buf.shape[0] // M)
        Y = buf[s:s + rows * N].reshape((rows, N))
    return Wp, b, Z, Y


@njit()
def _net_rows(r0, r1, X, wflat, bflat, meta, out, cbuf, write_cache, buf0, buf1, noz):
    """Batch rows [r0, r1) through every layer on the calling thread."""
    M = X.shape[0]
    if r1 <= r0:
        return
    A = X[r0:r1]
    for l in range(meta.shape[0]):
        Wp, b, Z, Y = _layer_views(l, r0, r1, M, wflat, bflat, meta, out, cbuf, write_cache,
                                   buf0, buf1, noz)
        npan = Wp.shape[0]
        PB = _l2_panels(Wp.shape[1], npan, Wp.shape[2], X.itemsize)
        for p0 in range(0, npan, PB):
            _layer_block(0, r1 - r0, p0, min(npan, p0 + PB), A, Wp, b, meta[l, 7], Z,
                         write_cache, Y)
        if meta[l, 7] == SOFTMAX:
            _softmax_rows(0, r1 - r0, Y)
        A = Y


@njit()
def _buffers(X, meta, write_cache):
    """Two ping-pong buffers for the hidden activations, M rows of the widest
    hidden width each (none when the cache arrays take them), and an empty Z for
    layers that do not write one."""
    M = X.shape[0]
    L = meta.shape[0]
    maxn = 0
    for l in range(L - 1):
        maxn = max(maxn, meta[l, 1])
    nbuf = 0 if write_cache else M * maxn
    buf0 = np.empty(nbuf, dtype=X.dtype)
    buf1 = np.empty(nbuf if L > 2 else 0, dtype=X.dtype)
    return buf0, buf1, np.empty((0, 0), dtype=X.dtype)


# -- entry points, one per mode of parallel_plan --------------------------------
#
# X (M, K0) C-contiguous; layer l's packed W is
# ``wflat[woff : woff + npan*K*NR].reshape(npan, K, NR)``, its bias
# ``bflat[boff : boff + nb]`` (nb = N or 0), with ``meta[l] = (K, N, npan, NR,
# woff, boff, nb, act)``. The last layer writes *out* (M, N_L). With
# *write_cache*, Z_l and A_l (l < L) are written into *cbuf* one after the other
# (Z1, A1, Z2, ..., ZL), each (M, N_l) row-major; otherwise two ping-pong buffers
# hold the hidden activations.

@njit()
def net_forward_serial(X, wflat, bflat, meta, out, cbuf, write_cache):
    """SERIAL: every layer, back to back, on the calling thread. A separate entry
    point, so that single-threaded use never compiles the parallel paths."""
    buf0, buf1, noz = _buffers(X, meta, write_cache)
    _net_rows(0, X.shape[0], X, wflat, bflat, meta, out, cbuf, write_cache, buf0, buf1, noz)


@njit(parallel=True)
def net_forward_rows(X, wflat, bflat, meta, out, cbuf, write_cache, MB):
    """ROWS: blocks of MB batch rows, one task each, every block through every
    layer in one parallel region (no barrier between layers; see
    :func:`_layer_views` for why the blocks never touch each other's memory)."""
    M = X.shape[0]
    buf0, buf1, noz = _buffers(X, meta, write_cache)
    for rb in prange((M + MB - 1) // MB):
        _net_rows(rb * MB, min(M, rb * MB + MB), X, wflat, bflat, meta, out, cbuf, write_cache,
                  buf0, buf1, noz)


@njit()
def net_forward_layers(X, wflat, bflat, meta, out, cbuf, write_cache, nthreads, par_min_flops):
    """LAYERS: one layer after the other; a layer for which :func:`layer_parallel`
    holds is split over rows and panels (``_layer_par``), the others run on the
    calling thread."""
    M = X.shape[0]
    if M == 0:
        return
    buf0, buf1, noz = _buffers(X, meta, write_cache)
    A = X
    for l in range(meta.shape[0]):
        Wp, b, Z, Y = _layer_views(l, 0, M, M, wflat, bflat, meta, out, cbuf, write_cache,
                                   buf0, buf1, noz)
        K, N, npan, NR, act = meta[l, 0], meta[l, 1], meta[l, 2], meta[l, 3], meta[l, 7]
        if _layer_parallel(M, 2 * N * K, par_min_flops):
            ntasks, npb, MB, PB = _plan(M, K, npan, NR, X.itemsize, nthreads)
            _layer_par(ntasks, npb, MB, PB, A, Wp, b, act, Z, write_cache, Y)
        else:
            PB = _l2_panels(K, npan, NR, X.itemsize)
            for p0 in range(0, npan, PB):
                _layer_block(0, M, p0, min(npan, p0 + PB), A, Wp, b, act, Z, write_cache, Y)
            if act == SOFTMAX:
                _softmax_rows(0, M, Y)
        A = Y
