#!/usr/bin/env python3
"""Derive the polynomial / rational coefficients used by src/cpp/kernels/vmath_algo.inc.

Our own fits, computed with mpmath (nothing copied from a libm):
  * polynomials: mpmath.chebyfit (Chebyshev interpolation = near-minimax in absolute
    error) of a smooth auxiliary function chosen so that its absolute error is (a
    bounded multiple of) the relative error of the final result;
  * the erfc rational R(x) = exp(x^2) erfc(x) ~= P(x)/Q(x), Q(0) = 1: linearised
    least squares in relative error (Sanathanan-Koerner iteration: divide by the previous
    Q) with Lawson re-weighting towards minimax, solved with mpmath.qr_solve at 40 digits.
Every fit is re-checked on a dense grid with the coefficients rounded to the target
precision; the printed "log2 err" is that check.  Run:  python tools/fit_vmath.py
(about a minute).  Paste the printed arrays into vmath_algo.inc.
"""
import numpy as np
import mpmath as mp

mp.mp.dps = 40
LN2_2 = mp.log(2) / 2


def rnd(c, prec):
    return mp.mpf(float(np.float32(float(c)))) if prec == 'f' else mp.mpf(float(c))


def chebfit(g, a, b, n, prec):
    """n coefficients, lowest first, rounded to prec ('f' or 'd')."""
    c, _ = mp.chebyfit(g, [a, b], n, error=True)
    return [rnd(x, prec) for x in c[::-1]]


def ratfit(f, a, b, n, m, iters=25):
    npts = 6 * (n + m + 2)
    xs = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (k + 0.5) / npts) for k in range(npts)]
    xs += [mp.mpf(a), mp.mpf(b)]
    fs = [f(x) for x in xs]
    w = [mp.mpf(1)] * len(xs)
    qprev = [mp.mpf(1)] * len(xs)
    best = None
    for it in range(iters):
        A = mp.matrix(len(xs), n + 1 + m)
        rhs = mp.matrix(len(xs), 1)
        for i, (x, fv) in enumerate(zip(xs, fs)):
            s = mp.sqrt(w[i]) / (fv * qprev[i])
            for j in range(n + 1):
                A[i, j] = x**j * s
            for j in range(1, m + 1):
                A[i, n + j] = -fv * x**j * s
            rhs[i] = fv * s
        c, _ = mp.qr_solve(A, rhs)
        p = [c[j] for j in range(n + 1)]
        q = [mp.mpf(1)] + [c[n + j] for j in range(1, m + 1)]
        qv = [mp.polyval(q[::-1], x) for x in xs]
        err = [(mp.polyval(p[::-1], x) / qq - fv) / fv for x, qq, fv in zip(xs, qv, fs)]
        mx = max(abs(e) for e in err)
        if best is None or mx < best[0]:
            best = (mx, p, q)
        qprev = qv
        if it >= 3:
            w = [wi * abs(e) for wi, e in zip(w, err)]
            s = sum(w)
            w = [wi / s for wi in w]
    return best[1], best[2]


def maxrel(approx, exact, a, b, n=3000):
    return max(abs(approx(x) / exact(x) - 1)
               for x in (mp.mpf(a) + (b - a) * mp.mpf(k) / n for k in range(n + 1)) if exact(x) != 0)


def show(name, coefs, prec, err):
    ty = 'float' if prec == 'f' else 'double'
    fmt = (lambda v: '%.9gf' % float(v)) if prec == 'f' else (lambda v: '%.17g' % float(v))
    print('// %s: max rel err 2^%.1f (coefficients rounded to %s)' % (name, float(mp.log(err, 2)), ty))
    print('static constexpr %s %s[] = {%s};' % (ty, name.split(' ')[0],
                                                 ', '.join(fmt(c) for c in coefs)))


def expm(r):  # (e^r - 1 - r)/r^2, smooth through 0
    return mp.mpf(1) / 2 if r == 0 else (mp.exp(r) - 1 - r) / r**2


def tanhm(s):  # (tanh(x) - x)/x^3 with s = x^2
    if s == 0:
        return -mp.mpf(1) / 3
    x = mp.sqrt(s)
    return (mp.tanh(x) - x) / x**3


def erfm(s):  # erf(x)/x with s = x^2
    return 2 / mp.sqrt(mp.pi) if s == 0 else mp.erf(mp.sqrt(s)) / mp.sqrt(s)


def main():
    # exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2
    for name, n, prec in [('kExpF', 5, 'f'), ('kExpD', 10, 'd'), ('kExpLite', 6, 'd')]:
        P = chebfit(expm, -LN2_2, LN2_2, n, prec)
        show(name, P, prec, maxrel(lambda r: 1 + r + r * r * mp.polyval(P[::-1], r), mp.exp,
                                   -LN2_2, LN2_2))
    # tanh(x) = x + x^3 P(x^2), |x| <= TANH_SMALL = 0.5625
    ts = mp.mpf('0.5625')
    for name, n, prec in [('kTanhF', 5, 'f'), ('kTanhD', 11, 'd')]:
        P = chebfit(tanhm, 0, ts**2, n, prec)
        show(name, P, prec, maxrel(lambda x: x + x**3 * mp.polyval(P[::-1], x * x), mp.tanh,
                                   mp.mpf(2)**-20, ts))
    # erf(x) = x P(x^2), |x| <= 0.5
    for name, n, prec in [('kErfLite', 6, 'd'), ('kErfD', 10, 'd')]:
        P = chebfit(erfm, 0, mp.mpf(1) / 4, n, prec)
        show(name, P, prec, maxrel(lambda x: x * mp.polyval(P[::-1], x * x), mp.erf,
                                   mp.mpf(2)**-20, mp.mpf(1) / 2))
    # R(x) = exp(x^2) erfc(x) = P(x)/Q(x) on [0, b]; Phi's pair: R(w/sqrt2) in w, i.e.
    # coefficient j scaled by 2^(-j/2) before rounding.
    R = lambda x: mp.exp(x * x) * mp.erfc(x)
    Rphi = lambda w: R(w / mp.sqrt(2))
    for name, b, n, m in [('Lite', mp.mpf('10.5'), 5, 6), ('D', mp.mpf('27.6'), 10, 11)]:
        p0, q0 = ratfit(R, 0, b, n, m)
        for fn, f, bb, sc in [('erfc', R, b, 1), ('phi', Rphi, b * mp.sqrt(2), mp.sqrt(2))]:
            p = [rnd(c / sc**j, 'd') for j, c in enumerate(p0)]
            q = [rnd(c / sc**j, 'd') for j, c in enumerate(q0)]
            err = maxrel(lambda x: mp.polyval(p[::-1], x) / mp.polyval(q[::-1], x), f, 0, bb)
            show('%s_p (%s)' % (fn, name), p, 'd', err)
            show('%s_q (%s)' % (fn, name), q, 'd', err)
            if name == 'D':  # the full-precision set is evaluated with hi + lo coefficients
                pe = [c / sc**j for j, c in enumerate(p0)]
                qe = [c / sc**j for j, c in enumerate(q0)]
                err = maxrel(lambda x: mp.polyval(pe[::-1], x) / mp.polyval(qe[::-1], x), f, 0, bb)
                show('%s_p_lo (%s, hi + lo)' % (fn, name), [c - h for c, h in zip(pe, p)], 'd', err)
                show('%s_q_lo (%s, hi + lo)' % (fn, name), [c - h for c, h in zip(qe, q)], 'd', err)

if __name__ == '__main__':
    main()
