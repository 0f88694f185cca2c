"""Weight optimizers: GRAD and ADAM on Hellmann-Feynman gradients, ANALYTIC in closed form.

The states are held fixed during a weight step, so the loss is quadratic in the weights and its
gradient only needs R and Rk (``hamiltonian.density_sums``), summed over the batch's rows once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from qwidgets.sim.engine.models import HilbertModel


class WeightOptimizer:
    """GRAD (plain steps) or ADAM, per batch; ANALYTIC accumulates the pass and solves once."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.method: str = spec["optimization_method"]
        self.spec = dict(spec)
        self._m: np.ndarray | None = None
        self._v: np.ndarray | None = None
        self._t = 0
        self._R: np.ndarray | None = None
        self._Rk: np.ndarray | None = None

    @property
    def per_pass(self) -> bool:
        return self.method == "ANALYTIC"

    def batch_step(self, model: HilbertModel, R: np.ndarray, Rk: np.ndarray, rows: int) -> None:
        if self.per_pass:
            self._R = R if self._R is None else self._R + R
            self._Rk = Rk if self._Rk is None else self._Rk + Rk
            return
        for _ in range(self.spec["iterations"]):
            G = model.energy_gradient(model.operator_stack(), R, Rk, rows)
            grad = model.weight_gradient(G)
            model.weights = model.weights - self._update(grad)

    def pass_end(self, model: HilbertModel) -> None:
        if self.per_pass and self._R is not None and self._Rk is not None:
            model.weights = model.analytic_weights(self._R, self._Rk)
        self._R = self._Rk = None

    def _update(self, grad: np.ndarray) -> np.ndarray:
        if self.method == "GRAD":
            return self.spec["learning_rate"] * grad
        b1, b2 = self.spec["first_moment_decay"], self.spec["second_moment_decay"]
        eps = float(self.spec["epsilon"])  # travels as a string ("1e-08") on the wire
        if self._m is None or self._v is None:
            self._m, self._v = np.zeros_like(grad), np.zeros_like(grad)
        self._t += 1
        self._m = b1 * self._m + (1 - b1) * grad
        self._v = b2 * self._v + (1 - b2) * grad * grad
        m_hat = self._m / (1 - b1**self._t)
        v_hat = self._v / (1 - b2**self._t)
        return self.spec["step_size"] * m_hat / (np.sqrt(v_hat) + eps)
