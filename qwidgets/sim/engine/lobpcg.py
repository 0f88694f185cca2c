"""LOBPCG_FAST: single-vector LOBPCG on products H(x_t) psi_t, one product per row and step.

Each row keeps [v | H v] for v = x (the state), w (the residual direction) and p (the last
step) side by side in one (rows, 3, 2N) array. p is kept orthogonal to x (Hetmaniuk-Lehoucq:
the new p is the part of the step orthogonal to the new x), so the basis is orthonormal after
one cheap projection, and the 3x3 Ritz matrix needs three new numbers per row: <x|H w> = ||r||
and <x|H p> = 0 follow from H x = E x + r. Turning p's phase makes that matrix real
tridiagonal, whose lowest eigenvector has a closed form. The new x and p, with their products,
are one small matmul of the Ritz coefficients with the basis: at a 16x16 row the work is numpy
call overhead, not arithmetic, so a step is a fixed, small number of calls whatever the rows.

Where numba is installed, rows of the shared structure (``rows.LinearRows``) go to the same
method compiled per row instead (``lobpcg_kernel``): 5-12x less CPU at dim 16, and no GIL held.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

import numpy as np

from qwidgets.sim.engine.iterative import Batch, Solution, limits
from qwidgets.sim.engine.rows import LinearRows, Rows, dots, norms

# numba (and the kernel's module) load on the first solve that uses them: importing them costs
# about 0.3 s, which every server start and worker start would otherwise pay.
NUMBA_INSTALLED = importlib.util.find_spec("numba") is not None


def compiled_kernel() -> ModuleType | None:
    """``lobpcg_kernel`` where numba is installed and the kernel not switched off."""
    if not NUMBA_INSTALLED:
        return None
    kernel = importlib.import_module("qwidgets.sim.engine.lobpcg_kernel")
    return kernel if kernel.AVAILABLE else None


def lobpcg(rows: Rows, x0: np.ndarray, iterations: int, tol: float,
           p0: np.ndarray | None = None) -> Solution:
    """Ground states from starts x0 (unit rows), at most ``iterations`` steps, each row stopped
    at its tolerance (``iterative.limits``).

    ``p0`` (rows, N), zero where unknown, is a direction to start with, in which the start is
    first improved by a 2x2 Rayleigh-Ritz before any convergence test: the state's last move
    (then the Ritz vector is the extrapolated state, at the best step) or the last pass's search
    direction of a row that had not converged (then LOBPCG resumes instead of restarting)."""
    limit = limits(rows, tol)
    if isinstance(rows, LinearRows) and (kernel := compiled_kernel()) is not None:
        return kernel.solve_rows(rows.structure.planes, rows.coef, rows.shift, x0, p0, limit,
                                 iterations)
    batch, n = x0.shape
    out = Batch(batch, n, directions=True)
    S = np.zeros((batch, 3, 2 * n), dtype=np.complex128)
    spare = np.empty_like(S)
    has_p = np.zeros(batch, dtype=bool)
    if p0 is None:
        S[:, 0, :n] = x0
        S[:, 0, n:] = rows.matvec(x0)
    else:
        _start_with_direction(rows, S, x0, p0, has_p)
    op = rows
    for step in range(iterations + 1):
        x, Hx = S[:, 0, :n], S[:, 0, n:]
        theta = _real_dots(x, Hx)
        r = S[:, 1, :n]
        np.multiply(x, theta[:, None], out=r)
        np.subtract(Hx, r, out=r)
        res = norms(r)
        above = res > limit
        if step == iterations:  # the budget ran out: the rows still above their limit say so
            out.finish(np.ones(len(x), dtype=bool), theta, _unit(x), above, S[:, 2, :n])
            break
        if not above.all():
            going = out.finish(~above, theta, _unit(x))
            if not going.any():
                break
            S, spare = S[going], spare[: int(going.sum())]
            theta, res, limit, has_p = theta[going], res[going], limit[going], has_p[going]
            op = op.take(going)
        S, spare = _step(op, S, spare, theta, res, has_p), S
    return out.solution(step)


def _real_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Re <a|b> row-wise, as one real dot product of the float views."""
    return np.einsum("bi,bi->b", a.view(np.float64), b.view(np.float64))


def _unit(x: np.ndarray) -> np.ndarray:
    """x of unit length: the steps keep it so only up to rounding."""
    return x / norms(x)[:, None]


def _start_with_direction(rows: Rows, S: np.ndarray, x0: np.ndarray, p0: np.ndarray,
                          has_p: np.ndarray) -> None:
    """S[:, 0] = the Ritz vector of span{x0, p0}, S[:, 2] = the rest of that plane (as LOBPCG's
    p), both with their products; rows without a usable p0 keep x0."""
    p = p0 - x0 * dots(x0, p0)[:, None]
    size = norms(p)
    has_p[:] = size > 1e-8 * np.maximum(norms(p0), 1e-300)
    p *= np.where(has_p, 1.0 / np.maximum(size, 1e-300), 0.0)[:, None]
    block = np.stack([x0, p], axis=1)
    Hblock = rows.matvec(block)  # one product of both: the shared matrices are read once
    a = _real_dots(x0, np.ascontiguousarray(Hblock[:, 0]))
    c = np.einsum("bi,bi->b", x0.conj(), Hblock[:, 1])  # <x0|H p>
    d = _real_dots(p, np.ascontiguousarray(Hblock[:, 1])) - a
    # lowest eigenvector of [[0, c], [c*, d]] (shifted by a): (c, lam) with
    # lam = d/2 - sqrt(d^2/4 + |c|^2), written without cancellation for d > 0
    root = np.sqrt(0.25 * d * d + np.abs(c) ** 2)
    lam = np.where(d > 0, -np.abs(c) ** 2 / np.maximum(0.5 * d + root, 1e-300), 0.5 * d - root)
    v = np.stack([c, lam.astype(np.complex128)], axis=1)
    size = norms(v)
    keep = has_p & (size > 0)
    v = np.where(keep[:, None], v / np.maximum(size, 1e-300)[:, None], [1.0, 0.0])
    z = np.stack([-v[:, 1].conj(), v[:, 0].conj()], axis=1)  # the plane's other direction
    S[:, ::2] = np.stack([v, z], axis=1) @ np.concatenate([block, Hblock], axis=2)
    has_p &= keep
    S[~has_p, 2] = 0


def _step(op: Rows, S: np.ndarray, spare: np.ndarray, theta: np.ndarray, res: np.ndarray,
          has_p: np.ndarray) -> np.ndarray:
    """One step from S (slot 1 holding the residual) into ``spare``, which it returns; has_p
    is updated in place."""
    rows, n = len(S), op.dim
    x = S[:, 0, :n]
    w = np.ascontiguousarray(S[:, 1, :n]) * (1.0 / res)[:, None]
    # r = H x - E x is orthogonal to x only up to rounding / ||r||: near convergence that is far
    # from orthogonal, and the basis would lose its orthonormality step after step
    w -= x * dots(x, w)[:, None]
    w *= (1.0 / np.maximum(norms(w), 1e-300))[:, None]
    Hw = op.matvec(w)
    S[:, 1, :n] = w
    S[:, 1, n:] = Hw
    # the Ritz matrix, shifted by theta: [[0, res, 0], [res, d, e], [0, e, f]], e >= 0 once p's
    # phase is turned by ``turn``
    d = _real_dots(w, Hw) - theta  # <w|H w>
    e = np.zeros(rows)
    f = np.abs(d) + res + 1.0  # where there is no p: parked above the other two directions
    turn = np.ones(rows, dtype=np.complex128)
    if has_p.any():
        # p against x and w, carried to H p alike: p is orthogonal to x by construction only
        # up to a rounding that near convergence grows by the step's smallness each time
        c = np.einsum("bki,bi->bk", S[:, :2, :n].conj(), S[:, 2, :n])  # <x|p>, <w|p>
        S[:, 2] -= np.einsum("bk,bki->bi", c, S[:, :2])
        size = norms(S[:, 2, :n])
        # p was of unit length: what is left of it after the projections carries the
        # recurrence's rounding divided by its size, so a nearly dependent p is dropped
        has_p &= size > 1e-4
        S[:, 2] *= np.where(has_p, 1.0 / np.maximum(size, 1e-300), 0.0)[:, None]
        g = np.einsum("bki,bi->bk", S[:, 1:, :n].conj(), S[:, 2, n:])  # <w|H p>, <p|H p>
        e = np.where(has_p, np.abs(g[:, 0]), 0.0)  # |<w|H p>|
        turn = np.where(e > 0, g[:, 0].conj() / np.maximum(e, 1e-300), 1.0)
        f = np.where(has_p, g[:, 1].real - theta, f)  # <p|H p>
    y, z, has_new = _tridiagonal_ritz(res, d, e, f)
    # the new x and p only: slot 1 (the residual) is written by the caller before it is read
    C = np.empty((rows, 2, 3), dtype=np.complex128)
    C[:, 0, :2] = y[:, :2]
    C[:, 0, 2] = y[:, 2] * turn
    C[:, 1, :2] = z[:, :2]
    C[:, 1, 2] = z[:, 2] * turn
    C[~has_new, 1] = 0
    np.matmul(C, S, out=spare[:, ::2])
    has_p[:] = has_new
    return spare


def _tridiagonal_ritz(
    b: np.ndarray, d: np.ndarray, e: np.ndarray, f: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For A = [[0, b, 0], [b, d, e], [0, e, f]] (real, per row): the unit eigenvector y of the
    lowest eigenvalue, the unit z orthogonal to y in the plane of y and (1, 0, 0), and where z
    exists (y not along (1, 0, 0) nor orthogonal to it)."""
    # A few rows (the last ones still iterating) cost one LAPACK call less than the formula's
    # forty small numpy calls.
    y = _lowest_lapack(b, d, e, f) if len(b) <= 48 else _lowest_closed_form(b, d, e, f)
    move = y[:, 1] ** 2 + y[:, 2] ** 2  # 1 - y0^2, without cancellation
    stay = y[:, 0] ** 2
    norm = np.sqrt(move * stay)
    has_z = norm > 1e-300
    z = np.stack([-y[:, 0] * move, y[:, 1] * stay, y[:, 2] * stay], axis=1)
    z *= np.where(has_z, 1.0 / np.maximum(norm, 1e-300), 0.0)[:, None]
    return y, z, has_z


def _lowest_lapack(b: np.ndarray, d: np.ndarray, e: np.ndarray, f: np.ndarray) -> np.ndarray:
    A = np.zeros((len(b), 3, 3))
    A[:, 0, 1] = A[:, 1, 0] = b
    A[:, 1, 1], A[:, 1, 2], A[:, 2, 1], A[:, 2, 2] = d, e, e, f
    return np.linalg.eigh(A)[1][:, :, 0]


def _lowest_closed_form(b: np.ndarray, d: np.ndarray, e: np.ndarray, f: np.ndarray) -> np.ndarray:
    q = (d + f) / 3
    D0, D1, D2 = -q, d - q, f - q
    p = np.sqrt((D0 * D0 + D1 * D1 + D2 * D2 + 2 * (b * b + e * e)) / 6)
    safe = np.maximum(p, 1e-300)
    det = D0 * D1 * D2 - D0 * e * e - b * b * D2  # det(A - q I)
    phi = np.arccos(np.clip(det / (2 * safe**3), -1.0, 1.0)) / 3
    lam = q + 2 * p * np.cos(phi + 2 * np.pi / 3)
    m0, m1, m2 = -lam, d - lam, f - lam
    # the null vector of A - lam I as the cross product of two of its rows; the pair with the
    # largest one is the best conditioned (rows 1, 2 in the usual case: no cancellation)
    cands = np.stack([
        np.stack([m1 * m2 - e * e, -b * m2, b * e], axis=1),
        np.stack([b * m2, -m0 * m2, m0 * e], axis=1),
        np.stack([b * e, -m0 * e, m0 * m1 - b * b], axis=1),
    ], axis=1)
    sizes = np.einsum("bki,bki->bk", cands, cands)
    best = sizes.argmax(axis=1)
    index = np.arange(len(b))
    y = cands[index, best]
    size = np.sqrt(sizes[index, best])
    thin = size <= 1e-12 * safe**2  # a repeated lowest eigenvalue: LAPACK decides those rows
    if thin.any():
        y[thin] = _lowest_lapack(b[thin], d[thin], e[thin], f[thin])
        size = np.where(thin, 1.0, size)
    return y / size[:, None]
