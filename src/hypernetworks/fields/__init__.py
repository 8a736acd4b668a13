"""Neural fields with hypernetworks: image completion, super-resolution, D'OH compression.

* :class:`FieldHyperNetwork` — a set encoder over an image's ``(coordinate, value)``
  context pixels and a hypernetwork that generates one SIREN per image (Sitzmann et al.,
  "Implicit Neural Representations with Periodic Activation Functions", 2020), beside a
  :class:`CNP` baseline (Garnelo et al. 2018) with the same API and test-time optimisation
  baselines (:class:`SirenFit`; :meth:`FieldHyperNetwork.finetune`).
* :class:`DOH` — decoder-only random hypernetworks for compression (Gordon et al.,
  "D'OH: Decoder-Only random Hypernetworks for Implicit Neural Representations"), beside
  :class:`COIN` (Dupont et al. 2021) and JPEG.

Example:
    >>> import torch
    >>> from hypernetworks.fields import FieldHyperNetwork, random_masks
    >>> images = torch.rand(16, 1, 8, 8)
    >>> model = FieldHyperNetwork(1, hidden=16, layers=2, steps=3).fit(images)
    >>> mask = random_masks(16, 8, 8, 10)
    >>> model.complete(images, mask).shape
    torch.Size([16, 1, 8, 8])
"""

from ._base import FieldModel as FieldModel
from ._cnp import CNP as CNP
from ._cnp import SirenFit as SirenFit
from ._codes import Code as Code
from ._codes import psnr as psnr
from ._coin import COIN as COIN
from ._coin import jpeg_curve as jpeg_curve
from ._compress import DOH as DOH
from ._context import context_set as context_set
from ._context import random_masks as random_masks
from ._encoders import AttentionEncoder as AttentionEncoder
from ._encoders import ContextEncoder as ContextEncoder
from ._hypernet import FieldHyperNetwork as FieldHyperNetwork
from ._siren import SineLayer as SineLayer
from ._siren import Siren as Siren
from ._siren import fit_sirens as fit_sirens
from ._siren import pixel_grid as pixel_grid
from ._siren import subpixel_offsets as subpixel_offsets

__all__ = [
    "CNP",
    "COIN",
    "DOH",
    "Code",
    "AttentionEncoder",
    "ContextEncoder",
    "FieldHyperNetwork",
    "FieldModel",
    "SineLayer",
    "Siren",
    "SirenFit",
    "context_set",
    "fit_sirens",
    "jpeg_curve",
    "psnr",
    "pixel_grid",
    "random_masks",
    "subpixel_offsets",
]
