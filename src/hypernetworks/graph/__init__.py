"""Graph hypernetworks: parameters for architectures never trained.

A :class:`GraphHyperNetwork` reads a network's computational graph (``torch.fx``, with
``torch.export`` as the fallback) and predicts every parameter in one forward pass, for
architectures it has never seen (GHN: Zhang, Ren & Urtasun 2019; GHN-2: Knyazev et al.
2021; GHN-3: Knyazev et al. 2023; LoGAH's low-rank decoder: Zhou et al. 2024). Benchmarks
on digits and MNIST-5k compare zero-shot accuracy and fine-tuning from the prediction with
fine-tuning from a random start and with training from scratch.

Example:
    >>> import torch
    >>> from hypernetworks.datasets import load_digits
    >>> from hypernetworks.graph import ArchitectureSpace, GraphHyperNetwork, held_out
    >>> x, y = load_digits(images=True)
    >>> space = ArchitectureSpace((1, 8, 8), 10)
    >>> train = space.sample(8, seed=0)
    >>> ghn = GraphHyperNetwork(dim=16).fit(train, (x, y), steps=5)
    >>> net = ghn.apply(held_out(space, 1, train)[0]())
    >>> tuple(net(x[:4]).shape)
    (4, 10)
"""

from ._benchmarks import BENCHMARKS as BENCHMARKS
from ._benchmarks import evaluate_architecture as evaluate_architecture
from ._benchmarks import graph_benchmark as graph_benchmark
from ._benchmarks import reference_rows as reference_rows
from ._calibrate import calibrate_batchnorm as calibrate_batchnorm
from ._decoders import HybridDecoder as HybridDecoder
from ._decoders import LowRankDecoder as LowRankDecoder
from ._decoders import TilingDecoder as TilingDecoder
from ._encode import Encoded as Encoded
from ._encode import encode as encode
from ._ghn import GraphHyperNetwork as GraphHyperNetwork
from ._reference import train_reference as train_reference
from ._space import ArchitectureSpace as ArchitectureSpace
from ._space import CNNSpec as CNNSpec
from ._space import MLPSpec as MLPSpec
from ._space import held_out as held_out
from ._space import out_of_distribution as out_of_distribution
from ._trace import OPS as OPS
from ._trace import Graph as Graph
from ._trace import Node as Node
from ._trace import UnsupportedModelError as UnsupportedModelError
from ._trace import trace as trace
from ._units import unit_roles as unit_roles

__all__ = [
    "BENCHMARKS",
    "OPS",
    "ArchitectureSpace",
    "CNNSpec",
    "Encoded",
    "Graph",
    "GraphHyperNetwork",
    "HybridDecoder",
    "LowRankDecoder",
    "MLPSpec",
    "Node",
    "TilingDecoder",
    "UnsupportedModelError",
    "calibrate_batchnorm",
    "encode",
    "evaluate_architecture",
    "graph_benchmark",
    "held_out",
    "out_of_distribution",
    "reference_rows",
    "trace",
    "train_reference",
    "unit_roles",
]
