"""LOBPCG_FAST compiled per row (numba), used by ``lobpcg.lobpcg`` when numba is installed.

The same method as ``lobpcg.py`` (warm start by a 2x2 Rayleigh-Ritz along the given direction,
then single-vector LOBPCG with p kept orthogonal to x and the 3x3 Ritz matrix made real
tridiagonal), but one row at a time in compiled loops: at dim 16 the numpy version spends its
time on ~80 small numpy calls per step, not on arithmetic, and holds the GIL between them, so
the parts of a batch barely run at once. Here a row first assembles its dense H (J N^2
multiply-adds, the price of one structured product), then each product costs N^2; the loop
releases the GIL, so parts run on every core like NP_EIGH's LAPACK calls do. Rows never leave or
join a working set, so there is nothing to lock or copy. Every row's arithmetic is the same on any
number of cores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qwidgets.sim.engine.iterative import Solution

numba: Any
try:
    import numba
except ImportError:  # the numpy version runs instead
    numba = None

AVAILABLE = numba is not None


def _jit(fn: Any) -> Any:
    # cache: the compiled kernel is written beside this file once, so a new process (a pool
    # worker) loads it in ~0.5 s instead of compiling it for 8-18 s
    return numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})(fn) if AVAILABLE else fn


def solve_rows(planes: tuple[np.ndarray, np.ndarray], coef: np.ndarray, shift: np.ndarray,
               x0: np.ndarray, p0: np.ndarray | None, limit: np.ndarray,
               iterations: int) -> Solution:
    """Ground states of H_t = sum_j coef[t, j] M_j + shift[t] I, with ``planes`` the real and
    imaginary parts of the M_j transposed (J, N, N) (``rows.LinearStructure.planes``)."""
    batch, n = x0.shape
    energies = np.empty(batch)
    states = np.empty((batch, n), dtype=np.complex128)
    directions = np.zeros((batch, n), dtype=np.complex128)
    unconverged = np.zeros(batch, dtype=np.bool_)
    steps = np.zeros(batch, dtype=np.int64)
    # one dtype per argument: another would compile the kernel again, for seconds
    real, cplx = np.float64, np.complex128
    start = np.ascontiguousarray(x0, dtype=cplx)
    _rows(planes[0], planes[1], np.ascontiguousarray(coef, dtype=real),
          np.ascontiguousarray(shift, dtype=real), start,
          start if p0 is None else np.ascontiguousarray(p0, dtype=cplx), p0 is not None,
          np.ascontiguousarray(limit, dtype=real), int(iterations),
          energies, states, unconverged, steps, directions)
    return Solution(energies, states, unconverged, int(steps.max(initial=0)), directions)


# ---------------------------------------------------------------- per-row arithmetic
# Vectors are (2, N) float arrays: real and imaginary parts, so that the loops vectorise.


@_jit
def _matvec(Hr: np.ndarray, Hi: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    """out = H v with Hr, Hi the parts of H transposed: columns as contiguous rows."""
    n = v.shape[1]
    out[:] = 0.0
    for k in range(n):
        a, b = v[0, k], v[1, k]
        for i in range(n):
            out[0, i] += Hr[k, i] * a - Hi[k, i] * b
            out[1, i] += Hr[k, i] * b + Hi[k, i] * a


@_jit
def _dot(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """<a|b> as (real, imaginary)."""
    re = 0.0
    im = 0.0
    for i in range(a.shape[1]):
        re += a[0, i] * b[0, i] + a[1, i] * b[1, i]
        im += a[0, i] * b[1, i] - a[1, i] * b[0, i]
    return re, im


@_jit
def _norm(a: np.ndarray) -> float:
    s = 0.0
    for i in range(a.shape[1]):
        s += a[0, i] * a[0, i] + a[1, i] * a[1, i]
    return float(np.sqrt(s))


@_jit
def _axpy(cr: float, ci: float, x: np.ndarray, y: np.ndarray) -> None:
    """y += c x for a complex c = cr + i ci."""
    for i in range(x.shape[1]):
        y[0, i] += cr * x[0, i] - ci * x[1, i]
        y[1, i] += cr * x[1, i] + ci * x[0, i]


@_jit
def _combine(c: np.ndarray, V: np.ndarray, out: np.ndarray) -> None:
    """out = sum_m c[m] V[m] for complex c given as (m, 2) parts."""
    out[:] = 0.0
    for m in range(V.shape[0]):
        _axpy(c[m, 0], c[m, 1], V[m], out)


@_jit
def _lowest3(b: float, d: float, e: float, f: float) -> tuple[float, float, float]:
    """The unit eigenvector of the lowest eigenvalue of [[0, b, 0], [b, d, e], [0, e, f]]
    (``lobpcg._lowest_closed_form`` for one row; LAPACK for a repeated lowest eigenvalue)."""
    q = (d + f) / 3
    D0, D1, D2 = -q, d - q, f - q
    p = np.sqrt((D0 * D0 + D1 * D1 + D2 * D2 + 2 * (b * b + e * e)) / 6)
    safe = max(p, 1e-300)
    det = D0 * D1 * D2 - D0 * e * e - b * b * D2
    phi = np.arccos(min(max(det / (2 * safe**3), -1.0), 1.0)) / 3
    lam = q + 2 * p * np.cos(phi + 2 * np.pi / 3)
    m0, m1, m2 = -lam, d - lam, f - lam
    # the null vector as the cross product of two rows of A - lam I, the best conditioned pair
    # (scalars: an array here would be a heap allocation per step)
    a0, a1, a2 = m1 * m2 - e * e, -b * m2, b * e
    b0, b1, b2 = b * m2, -m0 * m2, m0 * e
    c0, c1, c2 = b * e, -m0 * e, m0 * m1 - b * b
    sa, sb, sc = a0 * a0 + a1 * a1 + a2 * a2, b0 * b0 + b1 * b1 + b2 * b2, c0 * c0 + c1 * c1 + c2 * c2
    if sb > sa and sb >= sc:
        a0, a1, a2, sa = b0, b1, b2, sb
    elif sc > sa:
        a0, a1, a2, sa = c0, c1, c2, sc
    size = np.sqrt(sa)
    if size <= 1e-12 * safe**2:
        A = np.zeros((3, 3))
        A[0, 1] = A[1, 0] = b
        A[1, 1], A[1, 2], A[2, 1], A[2, 2] = d, e, e, f
        vecs = np.linalg.eigh(A)[1]
        return vecs[0, 0], vecs[1, 0], vecs[2, 0]
    return a0 / size, a1 / size, a2 / size


@_jit
def _rows(Mr: np.ndarray, Mi: np.ndarray, coef: np.ndarray, shift: np.ndarray,
          x0: np.ndarray, p0: np.ndarray, use_p: bool, limit: np.ndarray, iterations: int,
          energies: np.ndarray, states: np.ndarray, unconverged: np.ndarray, steps: np.ndarray,
          directions: np.ndarray) -> None:
    count, n = Mr.shape[0], Mr.shape[1]
    Hr = np.empty((n, n))
    Hi = np.empty((n, n))
    # basis [x, w, p] and its products, and the new x, p being built
    V = np.empty((3, 2, n))
    HV = np.empty((3, 2, n))
    new = np.empty((2, 2, n))
    Hnew = np.empty((2, 2, n))
    c = np.zeros((3, 2))
    for t in range(x0.shape[0]):
        Hr[:] = 0.0
        Hi[:] = 0.0
        for j in range(count):
            a = coef[t, j]
            for k in range(n):
                for i in range(n):
                    Hr[k, i] += a * Mr[j, k, i]
                    Hi[k, i] += a * Mi[j, k, i]
        for i in range(n):
            Hr[i, i] += shift[t]
        x, w, p = V[0], V[1], V[2]
        Hx, Hw, Hp = HV[0], HV[1], HV[2]
        p[:] = 0.0  # a row without a direction combines p with weight 0: never with garbage
        Hp[:] = 0.0
        for i in range(n):
            x[0, i], x[1, i] = x0[t, i].real, x0[t, i].imag
        size = _norm(x)
        for i in range(n):
            x[0, i] /= size
            x[1, i] /= size
        _matvec(Hr, Hi, x, Hx)
        has_p = False
        if use_p:
            has_p = _start_with_direction(Hr, Hi, p0[t], V, HV)
        step = 0
        while True:
            theta = _dot(x, Hx)[0]
            for i in range(n):  # the residual, in w
                w[0, i] = Hx[0, i] - theta * x[0, i]
                w[1, i] = Hx[1, i] - theta * x[1, i]
            res = _norm(w)
            if res <= limit[t] or step == iterations:
                size = _norm(x)
                energies[t] = theta
                for i in range(n):
                    states[t, i] = complex(x[0, i] / size, x[1, i] / size)
                unconverged[t] = res > limit[t]
                steps[t] = step
                if unconverged[t] and has_p:
                    for i in range(n):
                        directions[t, i] = complex(p[0, i], p[1, i])
                break
            # w: the residual of unit length, orthogonal to x beyond rounding
            for i in range(n):
                w[0, i] /= res
                w[1, i] /= res
            ore, oim = _dot(x, w)
            _axpy(-ore, -oim, x, w)
            size = max(_norm(w), 1e-300)
            for i in range(n):
                w[0, i] /= size
                w[1, i] /= size
            _matvec(Hr, Hi, w, Hw)
            d = _dot(w, Hw)[0] - theta
            e = 0.0
            f = abs(d) + res + 1.0
            tr, ti = 1.0, 0.0
            if has_p:
                for m in range(2):  # p (and H p) against x and w
                    ore, oim = _dot(V[m], p)
                    _axpy(-ore, -oim, V[m], p)
                    _axpy(-ore, -oim, HV[m], Hp)
                size = _norm(p)
                has_p = size > 1e-4
                if has_p:
                    for i in range(n):
                        p[0, i] /= size
                        p[1, i] /= size
                        Hp[0, i] /= size
                        Hp[1, i] /= size
                    gre, gim = _dot(w, Hp)
                    e = np.sqrt(gre * gre + gim * gim)
                    if e > 0:
                        tr, ti = gre / e, -gim / e
                    f = _dot(p, Hp)[0] - theta
            y0, y1, y2 = _lowest3(res, d, e, f)
            move = y1 * y1 + y2 * y2
            stay = y0 * y0
            norm = np.sqrt(move * stay)
            has_new = norm > 1e-300
            scale = 1.0 / max(norm, 1e-300) if has_new else 0.0
            z0, z1, z2 = -y0 * move * scale, y1 * stay * scale, y2 * stay * scale
            if not has_p:
                y2 = z2 = 0.0
            c[0, 0], c[1, 0], c[2, 0], c[2, 1] = y0, y1, y2 * tr, y2 * ti
            _combine(c, V, new[0])
            _combine(c, HV, Hnew[0])
            c[0, 0], c[1, 0], c[2, 0], c[2, 1] = z0, z1, z2 * tr, z2 * ti
            _combine(c, V, new[1])
            _combine(c, HV, Hnew[1])
            c[2, 1] = 0.0
            x[:], Hx[:] = new[0], Hnew[0]
            p[:], Hp[:] = new[1], Hnew[1]
            has_p = has_new
            step += 1


@_jit
def _start_with_direction(Hr: np.ndarray, Hi: np.ndarray, p0: np.ndarray, V: np.ndarray,
                          HV: np.ndarray) -> bool:
    """``lobpcg._start_with_direction`` for one row: x (V[0], unit, with H x) becomes the Ritz
    vector of span{x, p0} and p (V[2]) the rest of that plane; False where p0 is no use."""
    x, p = V[0], V[2]
    Hx, Hp = HV[0], HV[2]
    n = x.shape[1]
    for i in range(n):
        p[0, i], p[1, i] = p0[i].real, p0[i].imag
    given = _norm(p)
    ore, oim = _dot(x, p)
    _axpy(-ore, -oim, x, p)
    size = _norm(p)
    if not size > 1e-8 * max(given, 1e-300):
        return False
    for i in range(n):
        p[0, i] /= size
        p[1, i] /= size
    _matvec(Hr, Hi, p, Hp)
    a = _dot(x, Hx)[0]
    cre, cim = _dot(x, Hp)
    d = _dot(p, Hp)[0] - a
    c2 = cre * cre + cim * cim
    root = np.sqrt(0.25 * d * d + c2)
    lam = -c2 / max(0.5 * d + root, 1e-300) if d > 0 else 0.5 * d - root
    size = np.sqrt(c2 + lam * lam)
    if not size > 0:
        return False
    # v = (c, lam) / size; z = (-conj(v1), conj(v0)) spans the rest of the plane
    v0r, v0i, v1 = cre / size, cim / size, lam / size
    for i in range(n):
        xr, xi, pr, pi = x[0, i], x[1, i], p[0, i], p[1, i]
        x[0, i] = v0r * xr - v0i * xi + v1 * pr
        x[1, i] = v0r * xi + v0i * xr + v1 * pi
        p[0, i] = -v1 * xr + v0r * pr + v0i * pi
        p[1, i] = -v1 * xi + v0r * pi - v0i * pr
        xr, xi, pr, pi = Hx[0, i], Hx[1, i], Hp[0, i], Hp[1, i]
        Hx[0, i] = v0r * xr - v0i * xi + v1 * pr
        Hx[1, i] = v0r * xi + v0i * xr + v1 * pi
        Hp[0, i] = -v1 * xr + v0r * pr + v0i * pi
        Hp[1, i] = -v1 * xi + v0r * pi - v0i * pr
    return True
