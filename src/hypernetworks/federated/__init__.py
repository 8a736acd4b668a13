"""Personalized federated learning with hypernetworks, in-process or on Flower.

* **pFedHN / pFedHN-PC** (Shamsian, Navon, Fetaya & Chechik, ICML 2021): a server-side
  hypernetwork generates every sampled client's model in one batched call;
* **PeFLL-style** new clients (Scott, Zakerinia & Lampert, ICLR 2024): an embedding
  network over a client's data conditions the hypernetwork, so an unseen client gets its
  model from one forward pass;
* **HyperFL** (Guo et al., AAAI 2025): only the hypernetwork is shared and averaged;
  embeddings and classifiers stay private, which defeats gradient inversion;
* baselines **FedAvg**, **FedAvg + fine-tuning** and **local-only**.

The same method code runs in an in-process engine (``engine="local"``) and as a Flower
``ServerApp``/``ClientApp`` pair (``engine="flower"``: Flower's simulation engine; the
same apps run as a real SuperLink/SuperNode deployment, see ``_app.py``).

Example:
    >>> import torch, torch.nn as nn
    >>> from hypernetworks.federated import simulate
    >>> x, y = torch.randn(12, 4), torch.arange(12) % 2
    >>> client = (x[:8], y[:8], x[8:], y[8:])
    >>> data = [client] * 3
    >>> result = simulate(data, nn.Linear(4, 2), method="pfedhn", rounds=2, seed=0)
    >>> len(result.client_accuracies), 0.0 <= result.mean_client_accuracy <= 1.0
    (3, True)
"""

from ._app import write_flower_app as write_flower_app
from ._attack import gradient_inversion as gradient_inversion
from ._attack import psnr as psnr
from ._baselines import FedAvg as FedAvg
from ._baselines import FedAvgFT as FedAvgFT
from ._baselines import LocalOnly as LocalOnly
from ._benchmarks import digits_mlp as digits_mlp
from ._benchmarks import federated_data as federated_data
from ._benchmarks import mnist_cnn as mnist_cnn
from ._hyperfl import HyperFL as HyperFL
from ._pefll import PeFLL as PeFLL
from ._pfedhn import PFedHN as PFedHN
from ._pfedhn import PFedHNPC as PFedHNPC
from ._protocol import Info as Info
from ._protocol import Method as Method
from ._protocol import Settings as Settings
from ._simulate import METHODS as METHODS
from ._simulate import FederatedResult as FederatedResult
from ._simulate import simulate as simulate

__all__ = [
    "METHODS",
    "FedAvg",
    "FedAvgFT",
    "FederatedResult",
    "HyperFL",
    "Info",
    "LocalOnly",
    "Method",
    "PFedHN",
    "PFedHNPC",
    "PeFLL",
    "Settings",
    "digits_mlp",
    "federated_data",
    "gradient_inversion",
    "mnist_cnn",
    "psnr",
    "simulate",
    "write_flower_app",
]
