"""The numpy engine: Hilbert-space models, state solvers, optimizers, training. No I/O."""

from qwidgets.sim.engine.api import TrainedModel, infer, train

__all__ = ["TrainedModel", "infer", "train"]
