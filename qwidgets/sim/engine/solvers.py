"""Ground states of a batch of Hermitian matrices H (B, N, N): the seven state methods.

Every solver takes the batch at once (no Python loop over rows). The iterative ones start from
``start`` (the previous pass's states) when given, stop a row as soon as its relative residual
||H psi - E psi|| / (||H||_F / sqrt(N)) drops below ``tol``, and never run more than
``iterations`` steps. Rows still iterating are compacted, so converged rows cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.linalg

Result = tuple[np.ndarray, np.ndarray]  # energies (B,), states (B, N)
_EXACT_RESIDUAL = 1e-10  # EIGS has no tol on the wire: it converges like an exact method


def ground_states(
    H: np.ndarray, state: Mapping[str, Any], start: np.ndarray | None,
    rng: np.random.Generator,
) -> Result:
    """Solve with the method of validated ``state`` parameters (``params.validate_state``)."""
    method = state["state_method"]
    if method == "NP_EIGH":
        return np_eigh(H, start)
    if method == "EIGH":
        return scipy_eigh(H)
    x0 = _start(H, start, rng)
    if method == "EIGS":
        return lanczos(H, x0, rng)
    if method == "LOBPCG_FAST":
        return lobpcg(H, x0, state["iterations"], state["tol"])
    if method == "LOBPCB":
        return block_lobpcg(H, x0, state["iterations"], state["tol"], rng)
    if method == "POWER_ITER":
        return power_iteration(H, x0, state["iterations"], state["tol"], state["max_eig_iter"], rng)
    if method == "GRAD":
        return rayleigh_descent(H, x0, state["iterations"], state["learning_rate"])
    raise ValueError(f"unknown state_method {method!r}")  # params.STATE rejects it first


def np_eigh(H: np.ndarray, start: np.ndarray | None = None) -> Result:
    """Exact ground states from numpy's LAPACK at about half the cost of ``np.linalg.eigh``.

    eigh computes all N eigenvectors where one is wanted. Here the eigenvalues come from
    ``eigvalsh``, and the lowest one's vector from inverse iteration with a shift just below it
    (what LAPACK's own ?heevx does for a subset): each step multiplies the error by
    shift-distance / gap, so one step from a warm start, or two from a fixed one, lands at
    rounding level. A row whose residual still exceeds ``_EXACT_RESIDUAL`` gets ``eigh``.
    """
    batch, n = H.shape[:2]
    energies = np.linalg.eigvalsh(H)[:, 0]
    scale = rms_scale(H)
    shifted = H.copy()
    diag = np.arange(n)
    # 1e-12 of the scale sits far above eigvalsh's rounding (~1e-16 of the norm), so the
    # shifted matrix is positive definite and its LU never meets an exact zero pivot.
    # (Floored so that (1 / distance) ** 2 in the norm stays finite for a zero matrix.)
    shifted[:, diag, diag] -= (energies - 1e-12 * np.maximum(scale, 1e-100))[:, None]
    x = np.broadcast_to(_fixed_start(n), (batch, n)) if start is None else start
    limit = _EXACT_RESIDUAL * scale
    todo = np.arange(batch)
    try:
        for _ in range(2 if start is None else 1):
            x = _normalize(np.linalg.solve(shifted, x[:, :, None])[:, :, 0])
        todo = np.flatnonzero(_norm(_matvec(H, x) - energies[:, None] * x) > limit)
        if todo.size:
            x[todo] = _normalize(np.linalg.solve(shifted[todo], x[todo][:, :, None])[:, :, 0])
            residual = _norm(_matvec(H[todo], x[todo]) - energies[todo, None] * x[todo])
            todo = todo[residual > limit[todo]]
    except np.linalg.LinAlgError:  # an exactly singular shift after all: eigh decides
        x, todo = np.empty((batch, n), dtype=np.complex128), np.arange(batch)
    if todo.size:
        vals, vecs = np.linalg.eigh(H[todo])
        energies[todo], x[todo] = vals[:, 0], vecs[:, :, 0]
    return energies, x


def _fixed_start(n: int) -> np.ndarray:
    """A start with no special direction: none of H's eigenvectors is orthogonal to it."""
    k = np.arange(n)
    return _normalize((np.exp(2.399963j * k) * (1 + k / n))[None, :])[0]


def scipy_eigh(H: np.ndarray) -> Result:
    vals, vecs = scipy.linalg.eigh(H, subset_by_index=[0, 0], check_finite=False)
    return vals[:, 0].copy(), np.ascontiguousarray(vecs[:, :, 0])


# ---------------------------------------------------------------- helpers


def _start(H: np.ndarray, start: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    if start is not None:
        return _normalize(np.array(start, dtype=np.complex128))
    shape = H.shape[:2]
    return _normalize(rng.standard_normal(shape) + 1j * rng.standard_normal(shape))


def _matvec(H: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.matmul(H, x[..., None])[..., 0]


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise <a|b>."""
    return np.einsum("bi,bi->b", a.conj(), b)


def _norm(x: np.ndarray) -> np.ndarray:
    """Norms along the last axis, for vectors (b, N) or stacks of them (b, k, N)."""
    if x.strides[-1] != x.itemsize:  # viewed as reals, the last axis must be contiguous
        x = np.ascontiguousarray(x)
    flat = x.view(np.float64)  # one real pass instead of two
    return np.sqrt(np.einsum("...i,...i->...", flat, flat))


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(_norm(x), 1e-300)[:, None]


def rms_scale(H: np.ndarray) -> np.ndarray:
    """||H||_F / sqrt(N): the root-mean-square eigenvalue, the unit of the relative residual."""
    flat = H.reshape(len(H), -1).view(np.float64)
    return np.sqrt(np.einsum("bi,bi->b", flat, flat) / H.shape[-1]) + 1e-300


def _iterate(
    H: np.ndarray, x: np.ndarray, iterations: int, tol: float,
    step: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]],
                   tuple[np.ndarray, np.ndarray]],
    state: dict[str, np.ndarray] | None = None,
) -> Result:
    """Drive a one-vector iteration: keep (x, Hx), step the rows not yet converged.

    ``step(H, x, Hx, theta, extra)`` returns the new (x, Hx) for the rows it is given; ``extra``
    holds per-row arrays (search directions...) that follow their rows. The working set is
    compacted (H copied) only once fewer than half of it is still active: copying a large H
    stack costs more than a few extra steps on rows that are nearly done.
    """
    Hx = _matvec(H, x)
    theta = np.real(_dot(x, Hx))
    limit = tol * rms_scale(H)
    rows = np.arange(len(x))  # the working set, as indices into the full batch
    Hw, xw, Hxw, thw, lim = H, x, Hx, theta, limit
    extra = dict(state or {})
    active = _norm(Hxw - thw[:, None] * xw) > lim
    for _ in range(iterations):
        count = int(active.sum())
        if count == 0:
            break
        if count < len(rows) // 2:
            x[rows], Hx[rows], theta[rows] = xw, Hxw, thw
            rows, Hw, lim = rows[active], Hw[active], lim[active]
            xw, Hxw, thw = xw[active], Hxw[active], thw[active]
            extra = {k: v[active] for k, v in extra.items()}
        xw, Hxw = step(Hw, xw, Hxw, thw, extra)
        thw = np.real(_dot(xw, Hxw))
        active = _norm(Hxw - thw[:, None] * xw) > lim
    x[rows], Hx[rows], theta[rows] = xw, Hxw, thw
    return theta, x


# ---------------------------------------------------------------- LOBPCG


def lobpcg(H: np.ndarray, x0: np.ndarray, iterations: int, tol: float) -> Result:
    """Single-vector LOBPCG: Rayleigh-Ritz on span{x, residual, previous step}.

    Written for few numpy calls per step: at a 16x16 row the work is dominated by call
    overhead, not arithmetic, so the basis is one (rows, 3, N) array and the Ritz problem a
    closed-form 3x3 one."""
    batch, n = x0.shape
    extra = {"p": np.zeros((batch, n), dtype=np.complex128)}

    def step(Hs: np.ndarray, x: np.ndarray, Hx: np.ndarray, theta: np.ndarray,
             ex: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        rows = len(x)
        V = np.empty((rows, 3, n), dtype=np.complex128)  # orthonormal rows x, w, p (or zero)
        V[:, 0] = x
        V[:, 1] = Hx - theta[:, None] * x  # the residual: orthogonal to x already
        V[:, 2] = ex["p"]
        V[:, 1:2], kept_w = _orthonormal_rows(V[:, 1:2], V[:, :1], passes=1)
        V[:, 2:], kept_p = _orthonormal_rows(V[:, 2:], V[:, :2])
        HV = np.empty_like(V)
        HV[:, 0] = Hx
        # One product for both new directions: the stack H is read from memory once.
        HV[:, 1:] = V[:, 1:] @ Hs.transpose(0, 2, 1)  # rows of (H v)^T = v^T H^T
        T = V.conj() @ HV.transpose(0, 2, 1)
        # A zero direction (residual or step already in span) would add a spurious eigenvalue
        # 0: park it far above the spectrum so it is never chosen.
        empty = ~np.concatenate([kept_w, kept_p], axis=1)
        if empty.any():
            parked = np.abs(T).sum(axis=(1, 2)) + 1.0
            for col in (1, 2):
                hit = empty[:, col - 1]
                T[hit, col, :] = 0
                T[hit, :, col] = 0
                T[hit, col, col] = parked[hit]
        y = lowest_eigvec_3x3(T)[:, None, :]
        x_new = (y @ V)[:, 0]
        Hx_new = (y @ HV)[:, 0]
        ex["p"] = (y[:, :, 1:] @ V[:, 1:])[:, 0]
        scale = (1.0 / np.maximum(_norm(x_new), 1e-300))[:, None]
        return x_new * scale, Hx_new * scale

    return _iterate(H, x0.copy(), iterations, tol, step, extra)


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
    sizes = _norm(candidates) ** 2
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


def _orthonormal_rows(
    v: np.ndarray, basis: np.ndarray, passes: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of v (b, k, N) made orthogonal to the orthonormal rows of ``basis`` (b, m, N) (twice
    by default: classical Gram-Schmidt needs the second pass for stability), then of unit
    length, and which rows were kept (b, k): a row lying in their span comes back as zero."""
    before = _norm(v)
    for _ in range(passes):
        v = v - (v @ basis.conj().transpose(0, 2, 1)) @ basis
    after = _norm(v)
    keep = after > 1e-10 * np.maximum(before, 1e-300)
    return v * np.where(keep, 1.0 / np.maximum(after, 1e-300), 0.0)[:, :, None], keep


def block_lobpcg(
    H: np.ndarray, x0: np.ndarray, iterations: int, tol: float, rng: np.random.Generator,
    block: int = 2,
) -> Result:
    """Block LOBPCG keeping the ``block`` lowest vectors; converges on the lowest."""
    batch, n = x0.shape
    block = min(block, n)
    X = np.empty((batch, n, block), dtype=np.complex128)
    X[:, :, 0] = x0
    if block > 1:
        X[:, :, 1:] = rng.standard_normal((batch, n, block - 1))
    X, _ = np.linalg.qr(X)
    P = np.zeros_like(X)
    HX = H @ X
    theta = np.real(np.einsum("bia,bia->ba", X.conj(), HX))
    limit = tol * rms_scale(H)
    active = np.arange(batch)
    for it in range(iterations):
        Ra = HX[active] - X[active] * theta[active][:, None, :]
        res = _norm(Ra[:, :, 0])
        keep = res > limit[active]
        active, Ra = active[keep], Ra[keep]
        if active.size == 0:
            break
        parts = [X[active], Ra] + ([P[active]] if it else [])
        Q, _ = np.linalg.qr(np.concatenate(parts, axis=2))
        Ha = H[active]
        HQ = Ha @ Q
        T = Q.conj().transpose(0, 2, 1) @ HQ
        vals, Y = np.linalg.eigh(0.5 * (T + T.conj().transpose(0, 2, 1)))
        Yb = Y[:, :, :block]
        X[active] = Q @ Yb
        HX[active] = HQ @ Yb
        P[active] = Q[:, :, block:] @ Yb[:, block:, :]
        theta[active] = vals[:, :block]
    return theta[:, 0].copy(), np.ascontiguousarray(X[:, :, 0])


# ---------------------------------------------------------------- power iteration and gradient


def power_iteration(
    H: np.ndarray, x0: np.ndarray, iterations: int, tol: float, max_eig_iter: int,
    rng: np.random.Generator,
) -> Result:
    """Power iteration on (s I - H), with s just above the largest eigenvalue of H."""
    v = _normalize(rng.standard_normal(x0.shape) + 1j * rng.standard_normal(x0.shape))
    for _ in range(max_eig_iter):
        v = _normalize(_matvec(H, v))
    Hv = _matvec(H, v)
    top = np.real(_dot(v, Hv))
    # Rayleigh quotient plus its residual bounds an eigenvalue from above; never beyond the
    # Gershgorin bound, which holds for every eigenvalue.
    gershgorin = np.abs(H).sum(axis=2).max(axis=1)
    extra = {"shift": np.minimum(top + _norm(Hv - top[:, None] * v), gershgorin)}

    def step(Hs: np.ndarray, x: np.ndarray, Hx: np.ndarray, theta: np.ndarray,
             ex: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        y = ex["shift"][:, None] * x - Hx
        norm = np.maximum(_norm(y), 1e-300)[:, None]
        y = y / norm
        return y, _matvec(Hs, y)

    return _iterate(H, x0.copy(), iterations, tol, step, extra)


def rayleigh_descent(H: np.ndarray, x0: np.ndarray, iterations: int, rate: float) -> Result:
    """Projected gradient descent on the Rayleigh quotient; ``rate`` is in units of 1/rms(H)."""
    step_size = (rate / rms_scale(H))[:, None]

    def step(Hs: np.ndarray, x: np.ndarray, Hx: np.ndarray, theta: np.ndarray,
             ex: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        y = _normalize(x - ex["step"] * (Hx - theta[:, None] * x))
        return y, _matvec(Hs, y)

    return _iterate(H, x0.copy(), iterations, 1e-12, step, {"step": step_size})


# ---------------------------------------------------------------- Lanczos (EIGS)


def _project_out(V: np.ndarray, w: np.ndarray) -> np.ndarray:
    """w minus its components along the orthonormal rows of V (b, j, n), twice for stability."""
    for _ in range(2):
        w = w - np.einsum("bji,bj->bi", V, np.einsum("bji,bi->bj", V.conj(), w))
    return w


def lanczos(
    H: np.ndarray, x0: np.ndarray, rng: np.random.Generator, krylov: int = 24,
    restarts: int = 50,
) -> Result:
    """Restarted Lanczos with full reorthogonalisation, using only products H @ v (like ARPACK's
    eigsh for the smallest algebraic eigenvalue), batched over rows."""
    batch, n = x0.shape
    k = min(krylov, n)
    x = x0.copy()
    theta = np.zeros(batch)
    limit = _EXACT_RESIDUAL * rms_scale(H)
    active = np.arange(batch)
    for _ in range(restarts):
        if active.size == 0:
            break
        Ha = H[active]
        V = np.zeros((active.size, k, n), dtype=np.complex128)
        alpha = np.zeros((active.size, k))
        beta = np.zeros((active.size, k))
        V[:, 0] = x[active]
        for j in range(k):
            w = _matvec(Ha, V[:, j])
            alpha[:, j] = np.real(_dot(V[:, j], w))
            w = _project_out(V[:, : j + 1], w)  # full reorthogonalisation
            if j + 1 == k:
                break
            b = _norm(w)
            broken = b < 1e-12 * rms_scale(Ha)
            if broken.any():  # invariant subspace found: continue with a fresh direction
                fresh = rng.standard_normal((int(broken.sum()), n)) + 0j
                w[broken] = _project_out(V[broken, : j + 1], fresh)
                b = np.where(broken, 0.0, b)
            beta[:, j] = b
            V[:, j + 1] = _normalize(w)
        T = np.zeros((active.size, k, k))
        idx = np.arange(k)
        T[:, idx, idx] = alpha
        T[:, idx[:-1], idx[1:]] = beta[:, : k - 1]
        T[:, idx[1:], idx[:-1]] = beta[:, : k - 1]
        _vals, Y = np.linalg.eigh(T)
        xa = _normalize(np.einsum("bji,bj->bi", V, Y[:, :, 0].astype(np.complex128)))
        x[active] = xa
        Hxa = _matvec(Ha, xa)
        theta[active] = np.real(_dot(xa, Hxa))
        residual = _norm(Hxa - theta[active][:, None] * xa)
        active = active[residual > limit[active]]
    return theta, x
