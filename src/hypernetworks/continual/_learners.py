"""Continual learners: the task-conditioned hypernetwork and its baselines.

* :class:`HNet` — "Continual learning with hypernetworks" (von Oswald, Henning, Grewe &
  Sacramento, ICLR 2020): a :class:`~hypernetworks.TaskEmbedding` hypernetwork learns
  one task after another; an output regulariser keeps the weights it generates for
  earlier tasks where they were, computed in one batched call over all earlier task ids;
  optionally with the paper's one-step look-ahead.
* :class:`Finetune` — the target trained on each task in turn.
* :class:`EWC` — elastic weight consolidation (Kirkpatrick et al. 2017), our own
  implementation: a diagonal empirical Fisher from per-sample gradients (``torch.func``),
  accumulated over tasks so the penalty costs O(P) whatever the number of tasks.
* :class:`Joint` — multitask training on all data seen so far (the upper bound).

All train with Adam, a fresh optimizer per task, and draw their batches from a generator
seeded by ``(seed, task)``, so that a run resumed from a checkpoint repeats an
uninterrupted one exactly.
"""

from ._baselines import EWC, Finetune, Joint
from ._hnet import HNet
from ._learner import Learner

__all__ = ["EWC", "METHODS", "Finetune", "HNet", "Joint", "Learner"]

#: The continual methods by CLI name.
METHODS = {"hnet": HNet, "finetune": Finetune, "ewc": EWC, "joint": Joint}
