"""Calibrated uncertainty from a noise-conditioned hypernetwork.

A hypernetwork fed with noise z ~ N(0, I) generates a whole weight set per draw: an
implicit distribution over networks (HyperGAN, Ratzlaff & Fuxin 2019; Bayesian
hypernetworks, Krueger et al. 2017). :class:`NoiseHypernet` trains it as a variational
posterior (likelihood + β/N · KL, the entropy of the implicit posterior estimated from
nearest-neighbour distances between draws) and runs K draws in one vectorized call through
the core's per-sample path. Baselines in the same harness: :class:`Single`,
:class:`DeepEnsemble` (Lakshminarayanan et al. 2017; members trained vectorized with
``torch.func.stack_module_state``) and :class:`MCDropout` (Gal & Ghahramani 2016).
Benchmarks: ``mnist-ood`` and ``regression`` (``hypernetworks uncertainty``).

Example:
    >>> import torch
    >>> from hypernetworks.uncertainty import NoiseHypernet, classification_summary, mlp
    >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    >>> hyper = NoiseHypernet(mlp(4, (16,), 3), noise_dim=4, num_data=64, k=4)
    >>> _ = hyper.fit(x, y, epochs=2, batch_size=32)
    >>> summary = classification_summary(hyper.members(x, 10))  # 10 sampled networks
    >>> summary["probs"].shape, summary["mutual_information"].shape
    (torch.Size([64, 3]), torch.Size([64]))
"""

from ._baselines import DeepEnsemble as DeepEnsemble
from ._baselines import MCDropout as MCDropout
from ._baselines import Single as Single
from ._benchmarks import BENCHMARKS as BENCHMARKS
from ._benchmarks import DEFAULTS as DEFAULTS
from ._benchmarks import METHODS as METHODS
from ._hypernet import NoiseHypernet as NoiseHypernet
from ._method import Method as Method
from ._method import member_nll as member_nll
from ._method import mlp as mlp
from ._metrics import auroc as auroc
from ._metrics import classification_summary as classification_summary
from ._metrics import expected_calibration_error as expected_calibration_error
from ._metrics import gaussian_mixture as gaussian_mixture
from ._metrics import interval_calibration_error as interval_calibration_error

__all__ = [
    "BENCHMARKS",
    "DEFAULTS",
    "METHODS",
    "DeepEnsemble",
    "MCDropout",
    "Method",
    "NoiseHypernet",
    "Single",
    "auroc",
    "classification_summary",
    "expected_calibration_error",
    "gaussian_mixture",
    "interval_calibration_error",
    "member_nll",
    "mlp",
]
