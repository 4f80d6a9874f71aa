"""``expm1`` written out for the exact-mode kernels, so that it is inlined where the event loop calls it.

Numba compiles ``math.expm1`` to a call into libm (through a helper of its own). Every caller-saved register the
loop holds is spilled around such a call: in the exact step loop's integration of one arrival (`evsim.engine.
exact_steps`), about a dozen stores and loads per arrival, measured at ~5% of feedforward-precise besides the call.
For ``|x| < 1/8`` (most calls: ``-dt / tau_m`` between two inputs of a neuron) it is ``x + x**2 P(x)`` with P
Taylor's polynomial evaluated by Estrin's scheme (no division, short dependency chains), of degree 10, or 5 for
``|x| < 1/64`` (the usual gap between two inputs); elsewhere the algorithm of FreeBSD's ``s_expm1.c`` (Sun
Microsystems 1993, as in musl and in glibc's generic code): ``x = k ln2 + r`` with ``|r| <= ln2 / 2``, a rational
approximation of ``expm1(r)`` with a remez polynomial of degree 5 in ``r**2``, and a reconstruction that keeps the
error of ``ln2``'s two-part representation. Its error is below one unit in the last place everywhere
(tests/test_exact_analytic.py measures it against long double)."""

from __future__ import annotations

import math

from .._jit import njit_inline

LN2_HI = 6.93147180369123816490e-01  # ln2's leading bits (its product with k is exact for |k| < 2**20)
LN2_LO = 1.90821492927058770002e-10
INVLN2 = 1.44269504088896338700e00
# the remez polynomial for R(r**2), scaled (Qn = 2**n times the coefficient of (r**2 / 2)**n)
Q1 = -3.33333333333331316428e-02
Q2 = 1.58730158725481460165e-03
Q3 = -7.93650757867487942473e-05
Q4 = 4.00821782732936239552e-06
Q5 = -2.01099218183624371326e-07
# Taylor's coefficients 1/k! for the short path, |x| < 1/8 (truncated after x**12 / 12!: a relative error below
# 1e-19 there), where most of a simulation's arguments lie (-dt / tau_m between two inputs of one neuron)
T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12 = (1.0 / math.factorial(k) for k in range(2, 13))
HUGE = 38.816242111356935  # 56 ln2: beyond it exp(x) - 1 is -1 (x < 0) or exp(x) in double precision
O_THRESHOLD = 7.09782712893383973096e02  # ln(DBL_MAX): above it, inf


@njit_inline
def expm1(x: float) -> float:
    """``exp(x) - 1``, accurate to within one ulp for every double (inf, nan and -inf as libm gives them)."""
    ax = abs(x)
    if ax < 0.125:  # x + x**2 P(x), P evaluated by Estrin's scheme (short dependency chains)
        if ax < 5.551115123125783e-17:  # |x| < 2**-54: exp(x) - 1 rounds to x (-0.0 kept)
            return x
        x2 = x * x
        x4 = x2 * x2
        if ax < 0.015625:  # |x| < 1/64 (a step between two inputs): x**8 / 8! and beyond are below 1e-17 x
            return x + x2 * ((T2 + T3 * x) + (T4 + T5 * x) * x2 + (T6 + T7 * x) * x4)
        p = (T2 + T3 * x) + (T4 + T5 * x) * x2 + ((T6 + T7 * x) + (T8 + T9 * x) * x2) * x4
        p += ((T10 + T11 * x) + T12 * x2) * (x4 * x4)
        return x + x2 * p
    if not ax < HUGE:
        if x != x:
            return x
        if x < 0.0:
            return -1.0
        if x > O_THRESHOLD:
            return math.inf
    c = 0.0
    k = 0
    if ax > 0.34657359027997264:  # |x| > ln2 / 2: reduce, x = k ln2 + (hi - lo), c the rounding of hi - lo
        if ax < 1.0397207708399179:  # |x| < 1.5 ln2: k = +-1
            k = 1 if x > 0.0 else -1
            hi = x - k * LN2_HI
            lo = k * LN2_LO
        else:
            k = int(INVLN2 * x + (0.5 if x > 0.0 else -0.5))
            hi = x - k * LN2_HI
            lo = k * LN2_LO
        x = hi - lo
        c = (hi - x) - lo
    hfx = 0.5 * x
    hxs = x * hfx
    r1 = 1.0 + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))))
    t = 3.0 - r1 * hfx
    e = hxs * ((r1 - t) / (6.0 - x * t))
    if k == 0:
        return x - (x * e - hxs)
    e = x * (e - c) - c
    e -= hxs
    if k == -1:
        return 0.5 * (x - e) - 0.5
    if k == 1:
        if x < -0.25:
            return -2.0 * (e - (x + 0.5))
        return 1.0 + 2.0 * (x - e)
    if k < 0 or k > 56:  # exp(x) - 1 = 2**k (x - e + 1) - 1
        y = x - e + 1.0
        y = y * 2.0 * 8.98846567431158e307 if k == 1024 else math.ldexp(y, k)
        return y - 1.0
    if k < 20:
        return math.ldexp(x - e + (1.0 - math.ldexp(1.0, -k)), k)
    return math.ldexp(x - (e + math.ldexp(1.0, -k)) + 1.0, k)
