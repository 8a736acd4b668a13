"""hypernetworks: hypernetworks for any PyTorch model.

Turn any ``nn.Module`` into a model whose weights are generated from a condition (a task
id, hyperparameters, a set of examples, noise or a raw vector), with Magnitude Invariant
Parametrizations on by default, one weight set per batch or per sample, and a plain
standalone model out at the end.

Example:
    >>> import torch, torch.nn as nn
    >>> import hypernetworks as hn
    >>> net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    >>> model = hn.hypernetize(net, hn.TaskEmbedding(num_tasks=5, dim=16))
    >>> model(torch.randn(4, 8), torch.tensor([0, 1, 2, 3])).shape
    torch.Size([4, 3])
"""

from ._conditioners import Conditioner as Conditioner
from ._conditioners import Hyperparameters as Hyperparameters
from ._conditioners import Noise as Noise
from ._conditioners import SetEncoder as SetEncoder
from ._conditioners import TaskEmbedding as TaskEmbedding
from ._conditioners import Vector as Vector
from ._forms import Chunks as Chunks
from ._forms import Contracted as Contracted
from ._forms import Factored as Factored
from ._heads import Chunked as Chunked
from ._heads import Full as Full
from ._heads import Head as Head
from ._heads import HeadModule as HeadModule
from ._heads import LayerWise as LayerWise
from ._heads import LowRank as LowRank
from ._mip import MIP as MIP
from ._model import HyperModel as HyperModel
from ._model import hypernetize as hypernetize
from ._select import select_parameters as select_parameters

__version__ = "0.1.0"

__all__ = [
    "MIP",
    "Chunked",
    "Conditioner",
    "Chunks",
    "Contracted",
    "Factored",
    "Full",
    "Head",
    "HeadModule",
    "HyperModel",
    "Hyperparameters",
    "LayerWise",
    "LowRank",
    "Noise",
    "SetEncoder",
    "TaskEmbedding",
    "Vector",
    "hypernetize",
    "select_parameters",
]
