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
    """Per row: the residual at which it stops (tol sigma_H / (4 sqrt N), never below
    rounding)."""
    rms, spread = rows.scales()
    return np.maximum(tol * spread / residual_unit(rows.dim), ROUNDING * rms) + 1e-300


def residual_unit(dim: int) -> float:
    """sigma_H over this is the unit of ``tol``: N at dim 16, growing like sqrt N above, so that
    the relative energy error a tol allows stays about the same at every dim."""
    return 4.0 * float(np.sqrt(dim))


class Batch:
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
    out = Batch(batch, n)
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
    out = Batch(len(x), rows.dim)
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
    out = Batch(batch, n)
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

