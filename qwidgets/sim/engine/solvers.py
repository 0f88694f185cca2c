"""Ground states of a batch of rows: the seven state methods.

Every solver takes the batch at once (no Python loop over rows). The exact ones (NP_EIGH, EIGH)
factorise the dense stack H (B, N, N); the iterative ones (``iterative.py``) only multiply,
through ``rows.Rows``, start from ``start`` (the previous pass's states) when given, stop each
row at its tolerance and report the rows their budget left unconverged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.linalg

from qwidgets.sim.engine.iterative import (
    Solution,
    block_lobpcg,
    lanczos,
    power_iteration,
    rayleigh_descent,
)
from qwidgets.sim.engine.lobpcg import lobpcg
from qwidgets.sim.engine.rows import DenseRows, Rows, dots, normalize, norms

Result = tuple[np.ndarray, np.ndarray]  # energies (B,), states (B, N)
EXACT_METHODS = frozenset({"NP_EIGH", "EIGH"})
_EXACT_RESIDUAL = 1e-10  # of the rms eigenvalue: where NP_EIGH's inverse iteration is done


def solve(
    rows: Rows, state: Mapping[str, Any], start: np.ndarray | None, rng: np.random.Generator,
    direction: np.ndarray | None = None,
) -> Solution:
    """Solve with the method of validated ``state`` parameters (``params.validate_state``).

    ``start``: the rows' last states (None: a cold start); ``direction``: per row, zero where
    unknown, the state's last move or LOBPCG's last search direction (``next_directions``)."""
    method = state["state_method"]
    if method == "NP_EIGH":
        return Solution.exact(*np_eigh(rows.dense(), start))
    if method == "EIGH":
        return Solution.exact(*scipy_eigh(rows.dense()))
    if method == "LOBPCG_FAST":
        return lobpcg(rows, _start(rows, start, rng), state["iterations"], state["tol"],
                      None if start is None else direction)
    if start is not None and direction is not None:
        start = extrapolate(start, direction)
    x0 = _start(rows, start, rng)
    if method == "EIGS":
        return lanczos(rows, x0, rng)
    if method == "LOBPCB":
        return block_lobpcg(rows, x0, state["iterations"], state["tol"], rng)
    if method == "POWER_ITER":
        return power_iteration(rows, x0, state["iterations"], state["tol"], state["max_eig_iter"],
                               rng)
    if method == "GRAD":
        return rayleigh_descent(rows, x0, state["iterations"], state["learning_rate"])
    raise ValueError(f"unknown state_method {method!r}")  # params.STATE rejects it first


def next_directions(before: np.ndarray | None, found: Solution,
                    converged_before: np.ndarray | None) -> np.ndarray:
    """What the next solve of these rows starts along: for a row converged now and last time,
    its move (the state minus the last one, phases aligned), which a smooth drift of the
    weights repeats; for a row the budget left unconverged, LOBPCG's search direction."""
    out = np.zeros_like(found.states)
    if before is not None and converged_before is not None:
        steady = ~found.unconverged & converged_before
        after = found.states[steady]
        overlap = dots(before[steady], after)
        phase = overlap / np.maximum(np.abs(overlap), 1e-300)  # states are defined up to one
        out[steady] = after - phase[:, None] * before[steady]
    if found.directions is not None:
        out[found.unconverged] = found.directions[found.unconverged]
    return out


def extrapolate(states: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """The state plus its last move (where that move was a drift, not a jump): a warm start
    several times closer than the state alone while the weights move smoothly."""
    size = norms(moves)
    return states + np.where(size <= 0.5, 1.0, 0.0)[:, None] * moves


def ground_states(
    H: np.ndarray, state: Mapping[str, Any], start: np.ndarray | None,
    rng: np.random.Generator,
) -> Result:
    """``solve`` on a dense stack H (B, N, N): energies and states."""
    found = solve(DenseRows(H), state, start, rng)
    return found.energies, found.states


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
            x = normalize(np.linalg.solve(shifted, x[:, :, None])[:, :, 0])
        todo = np.flatnonzero(norms(_matvec(H, x) - energies[:, None] * x) > limit)
        if todo.size:
            x[todo] = normalize(np.linalg.solve(shifted[todo], x[todo][:, :, None])[:, :, 0])
            residual = norms(_matvec(H[todo], x[todo]) - energies[todo, None] * x[todo])
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
    return normalize((np.exp(2.399963j * k) * (1 + k / n))[None, :])[0]


def scipy_eigh(H: np.ndarray) -> Result:
    vals, vecs = scipy.linalg.eigh(H, subset_by_index=[0, 0], check_finite=False)
    return vals[:, 0].copy(), np.ascontiguousarray(vecs[:, :, 0])


# ---------------------------------------------------------------- helpers


def _start(rows: Rows, start: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    if start is not None:
        return normalize(np.array(start, dtype=np.complex128))
    shape = (len(rows), rows.dim)
    return normalize(rng.standard_normal(shape) + 1j * rng.standard_normal(shape))


def _matvec(H: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.matmul(H, x[..., None])[..., 0]


def rms_scale(H: np.ndarray) -> np.ndarray:
    """||H||_F / sqrt(N): the root-mean-square eigenvalue, the unit of the relative residual."""
    flat = H.reshape(len(H), -1).view(np.float64)
    return np.sqrt(np.einsum("bi,bi->b", flat, flat) / H.shape[-1]) + 1e-300
