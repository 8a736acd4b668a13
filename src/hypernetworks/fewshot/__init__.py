"""Few-shot learning with set-conditioned hypernetworks: HyperShot (Sendera et al. 2022).

A backbone embeds an episode's support set; the kernel matrix between the support
examples conditions a hypernetwork (:func:`hypernetworks.hypernetize` with the
:class:`SupportKernel` conditioner) that generates the weights of the episode's
classifier, added to the prototype rule (an untrained HyperShot is ProtoNet). Baselines
in the same harness: ProtoNet, first-order MAML and a linear head fine-tuned on frozen
features. Benchmarks: 5-way 1- and 5-shot on held-out scripts of the rendered-glyph set
(:func:`hypernetworks.datasets.load_glyphs`), and glyphs → MNIST-5k.

Example:
    >>> import torch
    >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, HyperShot, evaluate, train
    >>> x, y = torch.rand(80, 1, 28, 28), torch.arange(8).repeat_interleave(10)
    >>> sampler = EpisodeSampler(x, y, ways=3, shots=1, queries=3)
    >>> model = HyperShot(ways=3, shots=1, backbone=ConvNet(channels=8))
    >>> _ = train(model, sampler, steps=2)
    >>> result = evaluate(model, sampler, episodes=4)
    >>> sorted(k for k in result if k != "episode_accuracies")
    ['accuracy', 'ci95', 'test_seconds']
"""

from ._adapt import affine_views as affine_views
from ._backbone import ConvNet as ConvNet
from ._baselines import MAML as MAML
from ._baselines import Finetune as Finetune
from ._baselines import ProtoNet as ProtoNet
from ._benchmarks import BENCHMARKS as BENCHMARKS
from ._benchmarks import DEFAULTS as DEFAULTS
from ._benchmarks import METHODS as METHODS
from ._benchmarks import build as build
from ._benchmarks import experiment as experiment
from ._episodes import Episode as Episode
from ._episodes import EpisodeSampler as EpisodeSampler
from ._episodes import mean_ci95 as mean_ci95
from ._episodes import stack_episodes as stack_episodes
from ._harness import evaluate as evaluate
from ._harness import train as train
from ._hypershot import KERNELS as KERNELS
from ._hypershot import HyperShot as HyperShot
from ._hypershot import SupportKernel as SupportKernel
from ._hypershot import kernel_matrix as kernel_matrix
from ._learner import FewShotLearner as FewShotLearner
from ._plots import plot_episodes as plot_episodes

__all__ = [
    "BENCHMARKS",
    "DEFAULTS",
    "KERNELS",
    "METHODS",
    "MAML",
    "ConvNet",
    "Episode",
    "EpisodeSampler",
    "FewShotLearner",
    "Finetune",
    "HyperShot",
    "ProtoNet",
    "SupportKernel",
    "affine_views",
    "build",
    "evaluate",
    "experiment",
    "kernel_matrix",
    "mean_ci95",
    "plot_episodes",
    "stack_episodes",
    "train",
]
