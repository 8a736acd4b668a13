"""Hyperparameter-conditioned training: train once, then sweep or optimise any
hyperparameter without retraining.

A :class:`HyperSweep` trains a hypernetwork that maps hyperparameters (loss weights,
weight decays, label smoothing, augmentation strength, ...) to the weights of the target
trained for them. Each step draws a setting from the user's priors (:class:`Uniform`,
:class:`LogUniform`, optionally with extra mass at the range ends) and passes it to the
user's loss. Afterwards: :meth:`HyperSweep.sweep` over any grid,
:meth:`HyperSweep.optimize` by gradient descent on a validation loss, and
:meth:`HyperSweep.materialize` for the plain network at the chosen setting.
"""

from ._benchmarks import BENCHMARKS as BENCHMARKS
from ._priors import LogUniform as LogUniform
from ._priors import Prior as Prior
from ._priors import Uniform as Uniform
from ._sweep import BoundNet as BoundNet
from ._sweep import HyperSweep as HyperSweep
from ._sweep import OptimizeResult as OptimizeResult

__all__ = [
    "BENCHMARKS",
    "BoundNet",
    "HyperSweep",
    "LogUniform",
    "OptimizeResult",
    "Prior",
    "Uniform",
]
