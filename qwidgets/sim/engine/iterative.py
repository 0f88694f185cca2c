"""The iterative state solvers, on products H(x_t) psi_t only (``rows.Rows``).

A row stops once its residual ||H psi - E psi|| is at most ``tol`` times sigma_H / N, where
sigma_H is the standard deviation of the row's eigenvalues: sigma_H / N is a fraction of the
typical distance between neighbouring eigenvalues, so ``tol`` bounds the angle between the state
and the ground state in units of the gap, and the energy error is about tol^2 (sigma_H / N)^2 /
gap, whatever N is. (Measured against the rms eigenvalue instead, the wire's default tol=0.2
let dim-64 rows stop 45% above their ground energy.) A row never runs more than ``iterations``
steps; one still above its limit then is reported as unconverged, never passed off as solved.
Rows that converged leave the working set at once (locking): they cost nothing afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qwidgets.sim.engine.rows import Rows, dots, normalize, norms

ROUNDING = 1e-12  # of the rms eigenvalue: below this a residual is rounding, and a row is done
DEFAULT_TOL = 0.2  # the wire's default tol: what a method without one must reach to be trusted
_EXACT = 1e-10  # EIGS has no tol on the wire: it converges like an exact method (of the rms)


@dataclass
class Solution:
    """Ground states of a batch, and which rows the method could not vouch for."""

    energies: np.ndarray  # (b,)
    states: np.ndarray  # (b, N)
    unconverged: np.ndarray  # (b,) bool: above the tolerance when the budget ran out
    steps: int = 0  # iterations the slowest row used
    # LOBPCG's last search direction per row (zero where it had none): where the next solve
    # of an unconverged row picks up, instead of restarting without momentum
    directions: np.ndarray | None = None

    @classmethod
    def exact(cls, energies: np.ndarray, states: np.ndarray) -> Solution:
        return cls(energies, states, np.zeros(len(energies), dtype=bool))


def limits(rows: Rows, tol: float) -> np.ndarray:
    """Per row: the residual at which it stops (tol sigma_H / N, never below rounding)."""
    rms, spread = rows.scales()
    return np.maximum(tol * spread / rows.dim, ROUNDING * rms) + 1e-300


class _Batch:
    """Where finished rows land, and the positions of the rows still running."""

    def __init__(self, batch: int, n: int, directions: bool = False) -> None:
        self.energies = np.empty(batch)
        self.states = np.empty((batch, n), dtype=np.complex128)
        self.unconverged = np.zeros(batch, dtype=bool)
        self.directions = np.zeros((batch, n), dtype=np.complex128) if directions else None
        self.index = np.arange(batch)

    def finish(self, done: np.ndarray, theta: np.ndarray, x: np.ndarray,
               unconverged: np.ndarray | None = None,
               directions: np.ndarray | None = None) -> np.ndarray:
        """Write back the running rows marked ``done`` (``unconverged``: which of all the
        running rows are above their limit); returns the mask of the rows still going."""
        where = self.index[done]
        self.energies[where] = theta[done]
        self.states[where] = x[done]
        if unconverged is not None:
            self.unconverged[where] = unconverged[done]
        if directions is not None and self.directions is not None:
            self.directions[where] = directions[done]
        going = ~done
        self.index = self.index[going]
        return going

    def solution(self, steps: int) -> Solution:
        return Solution(self.energies, self.states, self.unconverged, steps, self.directions)


# ---------------------------------------------------------------- LOBPCG


def lobpcg(rows: Rows, x0: np.ndarray, iterations: int, tol: float,
           p0: np.ndarray | None = None) -> Solution:
    """Single-vector LOBPCG: Rayleigh-Ritz on span{x, w, p}, w the residual, p the last step.

    One product per step. Each row keeps [v | H v] for v = x, w, p side by side in one
    (rows, 3, 2N) array, so the new x and p (and their products) are one small matmul of the
    Ritz coefficients with it; p is rebuilt orthogonal to the new x (Hetmaniuk-Lehoucq), so the
    basis stays orthonormal with a single projection against w, and of the 3x3 Ritz matrix only
    three entries need computing: <x|H w> = ||r|| and <x|H p> = 0 follow from H x = E x + r.
    Written for few numpy calls per step: at a 16x16 row the work is call overhead.

    ``p0`` (rows, N), zero where unknown, is a direction to start with, in which the start is
    first improved by a 2x2 Rayleigh-Ritz before any convergence test: the state's last move
    (then the Ritz vector is the extrapolated state, at the best step) or the last pass's search
    direction of a row that had not converged (then LOBPCG resumes instead of restarting)."""
    batch, n = x0.shape
    out = _Batch(batch, n, directions=True)
    limit = limits(rows, tol)
    S = np.zeros((batch, 3, 2 * n), dtype=np.complex128)
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
            out.finish(np.ones(len(x), dtype=bool), theta, x, above, S[:, 2, :n])
            break
        if not above.all():
            going = out.finish(~above, theta, x)
            if not going.any():
                break
            S, theta, res, limit, has_p = S[going], theta[going], res[going], limit[going], \
                has_p[going]
            op = op.take(going)
        _lobpcg_step(op, S, theta, res, has_p)
    return out.solution(step)


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
    a = _real_dots(x0, Hblock[:, 0])
    c = np.einsum("bi,bi->b", x0.conj(), Hblock[:, 1])  # <x0|H p>
    d = _real_dots(p, Hblock[:, 1]) - a
    # lowest eigenvector of [[0, c], [c*, d]] (shifted by a): (c, lam) with
    # lam = d/2 - sqrt(d^2/4 + |c|^2), written without cancellation for d > 0
    root = np.sqrt(0.25 * d * d + np.abs(c) ** 2)
    lam = np.where(d > 0, -np.abs(c) ** 2 / np.maximum(0.5 * d + root, 1e-300), 0.5 * d - root)
    v = np.stack([c, lam.astype(np.complex128)], axis=1)
    size = norms(v)
    keep = has_p & (size > 0)
    v = np.where(keep[:, None], v / np.maximum(size, 1e-300)[:, None], [1.0, 0.0])
    z = np.stack([-v[:, 1].conj(), v[:, 0].conj()], axis=1)  # the plane's other direction
    C = np.stack([v, z], axis=1)  # (b, 2, 2)
    both = np.concatenate([block, Hblock], axis=2)  # (b, 2, 2N): [v | H v] for x0, p
    S[:, ::2] = C @ both
    has_p &= keep
    S[~has_p, 2] = 0


def _real_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Re <a|b> row-wise, as one real dot product of the float views."""
    return np.einsum("bi,bi->b", a.view(np.float64), b.view(np.float64))


def _lobpcg_step(op: Rows, S: np.ndarray, theta: np.ndarray, res: np.ndarray,
                 has_p: np.ndarray) -> None:
    """One step in place on S = [x | Hx], [w | Hw], [p | Hp], with S[:, 1, :N] the residual."""
    n = op.dim
    w = S[:, 1, :n]
    w *= (1.0 / res)[:, None]
    S[:, 1, n:] = op.matvec(w)
    T = np.zeros((len(S), 3, 3), dtype=np.complex128)
    T[:, 0, 0] = theta
    T[:, 0, 1] = T[:, 1, 0] = res
    T[:, 1, 1] = _real_dots(w, S[:, 1, n:])
    if has_p.any():
        # p is orthogonal to x already; against w one projection, carried to H p alike
        S[:, 2] -= np.einsum("bi,bi->b", w.conj(), S[:, 2, :n])[:, None] * S[:, 1]
        size = norms(S[:, 2, :n])
        # p was of unit length: what is left of it after the projection carries the
        # recurrence's rounding divided by its size, so a nearly dependent p is dropped
        has_p &= size > 1e-4
        S[:, 2] *= np.where(has_p, 1.0 / np.maximum(size, 1e-300), 0.0)[:, None]
        p, Hp = S[:, 2, :n], S[:, 2, n:]
        T[:, 1, 2] = np.einsum("bi,bi->b", w.conj(), Hp)
        T[:, 2, 1] = T[:, 1, 2].conj()
        T[:, 2, 2] = _real_dots(p, Hp)
    if not has_p.all():
        # A missing direction would add a spurious eigenvalue 0: park it far above the spectrum.
        miss = ~has_p
        T[miss, 2, 2] = np.abs(T[miss]).sum(axis=(1, 2)) + 1.0
    # The Ritz problem relative to the current energy: the eigenvector does not change, and
    # entries near zero keep their relative precision.
    T[:, 0, 0] = 0.0
    T[:, 1, 1] -= theta
    T[:, 2, 2] -= theta
    y = lowest_eigvec_3x3(T) if len(T) > 32 else np.linalg.eigh(T)[1][:, :, 0]
    # New x = y . (x, w, p); new p = z . (x, w, p) with z the unit vector orthogonal to y in the
    # plane of y and e_x: the step direction, orthogonal to the new x.
    step = np.abs(y[:, 1]) ** 2 + np.abs(y[:, 2]) ** 2  # 1 - |y_0|^2, without cancellation
    stay = np.abs(y[:, 0]) ** 2
    norm = np.sqrt(step * stay)
    has_p[:] = norm > 1e-300
    C = np.empty((len(S), 2, 3), dtype=np.complex128)
    C[:, 0] = y
    C[:, 1, 0] = -y[:, 0] * step
    C[:, 1, 1:] = y[:, 1:] * stay[:, None]
    C[:, 1] *= np.where(has_p, 1.0 / np.maximum(norm, 1e-300), 0.0)[:, None]
    S[:, :2] = C @ S
    S[:, 2] = S[:, 1]
    S[:, 0] *= (1.0 / np.maximum(norms(S[:, 0, :n]), 1e-300))[:, None]


_DIAG = ([0, 1, 2], [0, 1, 2])
_UPPER = ([0, 0, 1], [1, 2, 2])  # (0,1), (0,2), (1,2)
_NEXT, _AFTER = [1, 2, 0], [2, 0, 1]


def lowest_eigvec_3x3(T: np.ndarray) -> np.ndarray:
    """Unit eigenvectors (b, 3) of the lowest eigenvalue of Hermitian 3x3 matrices, in closed
    form: a batched LAPACK call costs more per tiny matrix than the whole formula."""
    diag = T[:, _DIAG[0], _DIAG[1]].real
    q = diag.mean(axis=1)
    D = diag - q[:, None]  # diagonal of T - qI
    d, e, f = T[:, 0, 1], T[:, 0, 2], T[:, 1, 2]
    off = np.abs(T[:, _UPPER[0], _UPPER[1]]) ** 2  # |d|^2, |e|^2, |f|^2
    p = np.sqrt(((D * D).sum(axis=1) + 2 * off.sum(axis=1)) / 6)
    safe = np.maximum(p, 1e-300)
    # det((T - qI) / p), whose eigenvalues are 2 cos(phi + 2 pi k / 3)
    det = (D.prod(axis=1) + 2 * np.real(d * f * e.conj()) - (D * off[:, ::-1]).sum(axis=1)) / safe**3
    phi = np.arccos(np.clip(det / 2, -1.0, 1.0)) / 3
    lam = q + 2 * p * np.cos(phi + 2 * np.pi / 3)
    M = T.copy()
    M[:, _DIAG[0], _DIAG[1]] -= lam[:, None]
    # M has rank 2 for a simple eigenvalue: the cross product of two independent rows spans its
    # null space (bilinear, no conjugate: r_i . v = 0 is what M v = 0 asks). All three pairs
    # at once: rows (0,1), (0,2), (1,2).
    U, W = M[:, _UPPER[0]], M[:, _UPPER[1]]
    candidates = U[:, :, _NEXT] * W[:, :, _AFTER] - U[:, :, _AFTER] * W[:, :, _NEXT]
    sizes = norms(candidates) ** 2
    rows = np.arange(len(T))
    best = sizes.argmax(axis=1)
    v = candidates[rows, best]
    size = np.sqrt(sizes[rows, best])
    # A repeated lowest eigenvalue (rank <= 1): any vector orthogonal to the largest row. The
    # cross product scales as |M|^2 ~ p^2.
    thin = size <= 1e-12 * safe**2
    if thin.any():
        v[thin] = _null_of_rank_one(M[thin])
        size = np.where(thin, np.linalg.norm(v, axis=1), size)
    return v / np.maximum(size, 1e-300)[:, None]


def _null_of_rank_one(M: np.ndarray) -> np.ndarray:
    rows = np.arange(len(M))
    r = M[rows, np.abs(M).sum(axis=2).argmax(axis=1)]  # the largest row
    k = np.abs(r).argmax(axis=1)  # its largest entry
    v = np.zeros_like(r)
    other = (k + 1) % 3
    v[rows, k] = -r[rows, other]
    v[rows, other] = r[rows, k]
    zero = np.abs(r).max(axis=1) == 0  # M = 0: every vector is an eigenvector
    v[zero] = [1, 0, 0]
    return v


# ---------------------------------------------------------------- block LOBPCG


def block_lobpcg(
    rows: Rows, x0: np.ndarray, iterations: int, tol: float, rng: np.random.Generator,
    block: int = 2,
) -> Solution:
    """Block LOBPCG keeping the ``block`` lowest vectors; converges on the lowest. Every step
    multiplies its whole basis (3 x block vectors) and orthonormalises it by QR: the robust,
    costly choice, for ground states that are (nearly) degenerate."""
    batch, n = x0.shape
    block = min(block, n)
    out = _Batch(batch, n)
    X = np.empty((batch, block, n), dtype=np.complex128)
    X[:, 0] = x0
    if block > 1:
        X[:, 1:] = rng.standard_normal((batch, block - 1, n))
    X = _orthonormal(X)
    HX = rows.matvec(X)
    P: np.ndarray | None = None
    limit = limits(rows, tol)
    op = rows
    for step in range(iterations + 1):
        theta = np.real(np.einsum("bmi,bmi->bm", X.conj(), HX))
        R = HX - theta[:, :, None] * X
        above = norms(R[:, 0]) > limit
        if step == iterations:
            out.finish(np.ones(len(X), dtype=bool), theta[:, 0], X[:, 0], above)
            break
        if not above.all():
            going = out.finish(~above, theta[:, 0], X[:, 0])
            if not going.any():
                break
            X, HX, R, limit, op = X[going], HX[going], R[going], limit[going], op.take(going)
            P = None if P is None else P[going]
        Q = _orthonormal(np.concatenate([X, R] + ([] if P is None else [P]), axis=1))
        HQ = op.matvec(Q)
        T = Q.conj() @ HQ.transpose(0, 2, 1)
        _vals, Y = np.linalg.eigh(0.5 * (T + T.conj().transpose(0, 2, 1)))
        Yb = Y[:, :, :block].transpose(0, 2, 1)  # (b, block, k): rows are new vectors
        X, HX = Yb @ Q, Yb @ HQ
        P = Yb[:, :, block:] @ Q[:, block:]
    return out.solution(step)


def _orthonormal(V: np.ndarray) -> np.ndarray:
    """Orthonormal rows spanning the rows of V (b, k, N), by QR."""
    return np.linalg.qr(V.transpose(0, 2, 1))[0].transpose(0, 2, 1)


# ---------------------------------------------------------------- one-vector iterations

Step = Callable[[Rows, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]],
                tuple[np.ndarray, np.ndarray]]


def _iterate(rows: Rows, x: np.ndarray, iterations: int, stop: np.ndarray,
             suspect: np.ndarray, step: Step, extra: dict[str, np.ndarray]) -> Solution:
    """Drive a one-vector iteration: ``step(rows, x, Hx, theta, extra)`` gives the new (x, Hx)
    for the rows it is given; ``extra`` holds per-row arrays that follow their rows. A row stops
    below ``stop``; at the budget, one above ``suspect`` is unconverged."""
    out = _Batch(len(x), rows.dim)
    Hx = rows.matvec(x)
    op = rows
    for count in range(iterations + 1):
        theta = np.real(dots(x, Hx))
        res = norms(Hx - theta[:, None] * x)
        if count == iterations:
            out.finish(np.ones(len(x), dtype=bool), theta, x, res > suspect)
            break
        done = res <= stop
        if done.any():
            going = out.finish(done, theta, x)
            if not going.any():
                break
            x, Hx, theta, stop, suspect = x[going], Hx[going], theta[going], stop[going], \
                suspect[going]
            op = op.take(going)
            extra = {k: v[going] for k, v in extra.items()}
        x, Hx = step(op, x, Hx, theta, extra)
    return out.solution(count)


def power_iteration(
    rows: Rows, x0: np.ndarray, iterations: int, tol: float, max_eig_iter: int,
    rng: np.random.Generator,
) -> Solution:
    """Power iteration on (s I - H), with s just above the largest eigenvalue of H.

    Each step shrinks the error by (s - E_1) / (s - E_0) = 1 - gap / (s - E_0): the steps
    needed grow with the spectrum's width over the gap, so this suits small dimensions."""
    v = normalize(rng.standard_normal(x0.shape) + 1j * rng.standard_normal(x0.shape))
    for _ in range(max_eig_iter):
        v = normalize(rows.matvec(v))
    Hv = rows.matvec(v)
    top = np.real(dots(v, Hv))
    rms, _spread = rows.scales()
    # The Rayleigh quotient plus its residual bounds an eigenvalue from above; never beyond the
    # Frobenius norm, which bounds every eigenvalue.
    shift = np.minimum(top + norms(Hv - top[:, None] * v), rms * np.sqrt(rows.dim))

    def step(op: Rows, x: np.ndarray, Hx: np.ndarray, theta: np.ndarray,
             ex: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        y = normalize(ex["shift"][:, None] * x - Hx)
        return y, op.matvec(y)

    limit = limits(rows, tol)
    return _iterate(rows, x0.copy(), iterations, limit, limit, step, {"shift": shift})


def rayleigh_descent(rows: Rows, x0: np.ndarray, iterations: int, rate: float) -> Solution:
    """Projected gradient descent on the Rayleigh quotient; ``rate`` is in units of 1/rms(H).
    It has no tol on the wire: it runs to rounding or its budget, and is trusted at the wire's
    default tol."""
    rms, _spread = rows.scales()

    def step(op: Rows, x: np.ndarray, Hx: np.ndarray, theta: np.ndarray,
             ex: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        y = normalize(x - ex["step"] * (Hx - theta[:, None] * x))
        return y, op.matvec(y)

    return _iterate(rows, x0.copy(), iterations, ROUNDING * rms, limits(rows, DEFAULT_TOL),
                    step, {"step": (rate / rms)[:, None]})


# ---------------------------------------------------------------- Lanczos (EIGS)


def _project_out(V: np.ndarray, w: np.ndarray) -> np.ndarray:
    """w minus its components along the orthonormal rows of V (b, j, n), twice for stability."""
    for _ in range(2):
        w = w - np.einsum("bji,bj->bi", V, np.einsum("bji,bi->bj", V.conj(), w))
    return w


def lanczos(
    rows: Rows, x0: np.ndarray, rng: np.random.Generator, krylov: int = 24,
    restarts: int = 50,
) -> Solution:
    """Restarted Lanczos with full reorthogonalisation, using only products H @ v (like ARPACK's
    eigsh for the smallest algebraic eigenvalue), batched over rows."""
    batch, n = x0.shape
    k = min(krylov, n)
    out = _Batch(batch, n)
    rms, _spread = rows.scales()
    limit = _EXACT * rms
    suspect = limits(rows, DEFAULT_TOL)
    op, x = rows, x0.copy()
    for restart in range(restarts + 1):
        Hx = op.matvec(x)
        theta = np.real(dots(x, Hx))
        res = norms(Hx - theta[:, None] * x)
        if restart == restarts:
            out.finish(np.ones(len(x), dtype=bool), theta, x, res > suspect)
            break
        done = res <= limit
        if done.any():
            going = out.finish(done, theta, x)
            if not going.any():
                break
            x, limit, suspect, rms, op = x[going], limit[going], suspect[going], rms[going], \
                op.take(going)
        x = _lanczos_restart(op, x, k, rms, rng)
    return out.solution(restart)


def _lanczos_restart(op: Rows, x: np.ndarray, k: int, rms: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """The lowest Ritz vector of the k-dimensional Krylov space from x."""
    b, n = x.shape
    V = np.zeros((b, k, n), dtype=np.complex128)
    alpha = np.zeros((b, k))
    beta = np.zeros((b, k))
    V[:, 0] = x
    for j in range(k):
        w = op.matvec(V[:, j])
        alpha[:, j] = np.real(dots(V[:, j], w))
        w = _project_out(V[:, : j + 1], w)  # full reorthogonalisation
        if j + 1 == k:
            break
        size = norms(w)
        broken = size < 1e-12 * rms
        if broken.any():  # invariant subspace found: continue with a fresh direction
            fresh = rng.standard_normal((int(broken.sum()), n)) + 0j
            w[broken] = _project_out(V[broken, : j + 1], fresh)
            size = np.where(broken, 0.0, size)
        beta[:, j] = size
        V[:, j + 1] = normalize(w)
    T = np.zeros((b, k, k))
    idx = np.arange(k)
    T[:, idx, idx] = alpha
    T[:, idx[:-1], idx[1:]] = beta[:, : k - 1]
    T[:, idx[1:], idx[:-1]] = beta[:, : k - 1]
    _vals, Y = np.linalg.eigh(T)
    return normalize(np.einsum("bji,bj->bi", V, Y[:, :, 0].astype(np.complex128)))

