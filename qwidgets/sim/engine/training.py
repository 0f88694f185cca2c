"""The training loop: for each pass, for each batch, (1) solve the rows' ground states,
(2) move the ensemble's axes if asked, (3) step the weights, (4) record the batch loss
(mean ground-state energy per row) and report progress.

Rows are processed in chunks of bounded memory, so a batch of any size never holds more than
``hamiltonian.CHUNK_BYTES`` of matrices, and cancellation is checked between chunks. Each chunk
is cut into fixed parts solved on every core (``parts.map_parts``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from qwidgets.errors import TrainingCancelled, ValidationError
from qwidgets.sim.engine.hamiltonian import Hamiltonian, density_sums
from qwidgets.sim.engine.models import HilbertModel, build_model
from qwidgets.sim.engine.optimizers import WeightOptimizer
from qwidgets.sim.engine.parts import map_parts, one_blas_thread
from qwidgets.sim.engine.solvers import EXACT_METHODS, next_directions, solve


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives after every batch."""

    pass_index: int  # 0-based
    batch_index: int  # 0-based, within the pass
    num_passes: int
    num_batches: int
    loss: float  # this batch's mean ground-state energy
    training_completion: int  # integer percent of all batches done, as on the wire
    current_batch_completion: int  # integer percent of the current batch's rows done
    # Rows of this batch solved so far, and those among them whose iterative state solver ran
    # out of iterations above its tolerance: their states, and so this loss, are approximate.
    solved_rows: int = 0
    unconverged_rows: int = 0
    state_warning: str = ""  # empty while every state converged; else the share and the fix


ProgressCallback = Callable[[Progress], None]
StopCheck = Callable[[], bool]
PassCallback = Callable[["Trainer"], None]


class Trainer:
    """Trains one model on a float matrix whose columns follow the model's operators."""

    def __init__(
        self, model_name: str, params: Mapping[str, Any], X: np.ndarray, *,
        progress: ProgressCallback | None = None, should_stop: StopCheck | None = None,
        model: HilbertModel | None = None, loss: list[list[float]] | None = None,
        on_pass_end: PassCallback | None = None,
    ) -> None:
        """``model`` and ``loss`` resume a training from a checkpoint: the passes already in
        ``loss`` are skipped. ``on_pass_end(trainer)`` runs after every completed pass (the
        place to save a checkpoint)."""
        self.params = params
        self.X = X
        self.rng = np.random.default_rng(params["model"]["seed"])
        if model is None:
            model = build_model(model_name, params["model"])
            model.initialize(X, self.rng)
        self.model = model
        self.state = params["state_kwargs"]
        self.optimizer = WeightOptimizer(params["weight_optimization_kwargs"])
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.loss: list[list[float]] = [list(row) for row in loss or []]
        self.on_pass_end = on_pass_end
        # Warm starts: each row's last state and, for the iterative methods, the direction the
        # next solve starts along (solvers.next_directions) and whether the last solve converged.
        self._states = np.zeros((len(X), model.dim), dtype=np.complex128)
        self._solved = np.zeros(len(X), dtype=bool)
        self._iterative = self.state["state_method"] not in EXACT_METHODS
        self._directions = np.zeros_like(self._states) if self._iterative else self._states
        self._converged = np.zeros(len(X), dtype=bool)
        # per pass and batch: rows whose state solver stopped unconverged (0 for exact methods)
        self.unconverged: list[list[int]] = [[0] * len(row) for row in self.loss]

    @property
    def batches(self) -> list[slice]:
        size = self.params["batch_size"]
        return [slice(i, min(i + size, len(self.X))) for i in range(0, len(self.X), size)]

    def run(self) -> list[list[float]]:
        batches = self.batches
        passes = self.params["num_passes"]
        for p in range(len(self.loss), passes):
            self.loss.append([])
            self.unconverged.append([])
            for b, rows in enumerate(batches):
                # The weight step's small matmuls too: OpenBLAS's threads cost more than they
                # give at these sizes (a (K, 64, 64) @ (64, 64) took 100x longer on two busy
                # cores), and one thread rounds alike on any core count.
                with one_blas_thread():
                    loss, unconverged = self._batch(rows, p, b, passes, len(batches))
                self.loss[p].append(loss)
                self.unconverged[p].append(unconverged)
                self._report(p, b, passes, len(batches), loss, 100,
                             rows.stop - rows.start, unconverged)
            self.optimizer.pass_end(self.model)
            if self.on_pass_end is not None:
                self.on_pass_end(self)
        return self.loss

    def _batch(self, rows: slice, p: int, b: int, passes: int,
               batches: int) -> tuple[float, int]:
        model = self.model
        with np.errstate(over="ignore", invalid="ignore"):  # huge weights: caught just below
            A = model.operator_stack()
            ham = Hamiltonian(A, model.sigma)
        if not ham.finite():
            raise _diverged(self.params["weight_optimization_kwargs"], p, b)
        X = self.X[rows]
        n = model.dim
        R = np.zeros((n, n), dtype=np.complex128)
        Rk = np.zeros((len(model.operators), n, n), dtype=np.complex128)
        energy = 0.0
        unconverged = 0
        step = ham.chunk_rows()
        for start in range(0, len(X), step):
            if self.should_stop():
                raise TrainingCancelled(f"cancelled in pass {p + 1}, batch {b + 1}")
            chunk = X[start:start + step]
            solve = partial(self._solve_part, ham, chunk, rows.start + start)
            try:
                results = map_parts(solve, len(chunk), self.rng)
            except np.linalg.LinAlgError as exc:  # LAPACK gives up on absurdly scaled matrices
                raise _diverged(self.params["weight_optimization_kwargs"], p, b) from exc
            for e, r, rk, u in results:  # in part order: the sums do not depend on the cores
                R += r
                Rk += rk
                energy += e
                unconverged += u
            done = start + len(chunk)
            if done < len(X):
                self._report(p, b, passes, batches, energy / done, int(100 * done / len(X)),
                             done, unconverged)
        rate = self.state["learning_rate_axes"]
        if rate > 0:
            model.axes_step(model.energy_gradient(A, R, Rk, len(X)), rate,
                            self.state["normalize_axes"])
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked just below
            self.optimizer.batch_step(model, R, Rk, len(X))
        if not np.isfinite(model.weights).all():
            raise _diverged(self.params["weight_optimization_kwargs"], p, b)
        return energy / len(X), unconverged

    def _solve_part(self, ham: Hamiltonian, chunk: np.ndarray, first: int, part: slice,
                    rng: np.random.Generator) -> tuple[float, np.ndarray, np.ndarray, int]:
        """Ground states of ``chunk[part]`` (rows ``first + part`` of X): energy sum, R, Rk and
        the unconverged rows. Runs on a worker thread; parts write disjoint rows of the
        warm-start states."""
        X = chunk[part]
        here = slice(first + part.start, first + part.stop)
        warm = self._states[here] if self._solved[here].all() else None
        direction = self._directions[here] if self._iterative and warm is not None else None
        found = solve(ham.rows(X), self.state, warm, rng, direction)
        if self._iterative:
            self._directions[here] = next_directions(warm, found, self._converged[here])
            self._converged[here] = ~found.unconverged
        self._states[here] = found.states
        self._solved[here] = True
        r, rk = density_sums(found.states, X)
        return float(found.energies.sum()), r, rk, int(found.unconverged.sum())

    def _report(self, p: int, b: int, passes: int, batches: int, loss: float,
                batch_done: int, solved: int, unconverged: int) -> None:
        if self.progress is None:
            return
        done = p * batches + b + (1 if batch_done >= 100 else 0)
        self.progress(Progress(p, b, passes, batches, loss,
                               int(100 * done / (passes * batches)), batch_done, solved,
                               unconverged, state_warning(self.state, unconverged, solved)))


def state_warning(state: Mapping[str, Any], unconverged: int, rows: int) -> str:
    """What a user reads when iterative states did not converge: how many, why, the fix."""
    if unconverged == 0:
        return ""
    method = state["state_method"]
    share = f"{100 * unconverged / max(rows, 1):.3g}% of this batch's rows ({unconverged} of {rows})"
    if method == "EIGS":
        return f"EIGS did not converge for {share}: use NP_EIGH"
    budget = state["iterations"]
    target = f"tol={state['tol']:g}" if "tol" in state else "the default accuracy"
    return (f"{method} stopped at its iteration budget (iterations={budget}) above {target} for "
            f"{share}: their states and this loss are approximate; raise iterations "
            f"(e.g. to {2 * budget}) or use NP_EIGH")


def _diverged(spec: Mapping[str, Any], p: int, b: int) -> ValidationError:
    """Weights that overflowed: the step size is what a user can change."""
    method = spec["optimization_method"]
    name = {"GRAD": "learning_rate", "ADAM": "step_size"}.get(method)
    where = f"the weights became non-finite in pass {p + 1}, batch {b + 1} (training diverged)"
    if name is None:
        return ValidationError("data", "weights", where, "scale the data's columns to unit size")
    return ValidationError(f"weight_optimization_kwargs.{name}", spec[name], where,
                           f"lower {name} (for example by a factor of 10)")
