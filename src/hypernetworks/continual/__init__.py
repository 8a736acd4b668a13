"""Continual learning with hypernetworks (von Oswald, Henning, Grewe & Sacramento, ICLR 2020).

A task-conditioned hypernetwork learns tasks one after another; an output regulariser,
computed in one batched call over all earlier task ids, keeps the weights it generates for
earlier tasks where they were. Baselines in the same harness: fine-tuning, EWC and joint
training. Class-incremental evaluation infers the task from predictive entropy
(HNET+ENT) or, with ``replay=m``, from a task classifier trained on m stored samples per
task (:class:`TaskInference`, stored-sample replay). Benchmarks on scikit-learn's digits:
``permuted_digits`` and ``split_digits``.

Example:
    >>> import torch.nn as nn
    >>> from hypernetworks.continual import permuted_digits, run
    >>> tasks = permuted_digits(num_tasks=2)
    >>> mlp = nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10))
    >>> result = run(tasks, mlp, "hnet", iterations=20, progress=False)
    >>> len(result["accuracy_matrix"]), round(result["param_ratio"]) > 1
    (2, True)
"""

from ..datasets import Task as Task
from ..datasets import permuted_digits as permuted_digits
from ..datasets import split_digits as split_digits
from ._benchmarks import BENCHMARKS as BENCHMARKS
from ._benchmarks import hnet_options as hnet_options
from ._benchmarks import target_for as target_for
from ._harness import infer_tasks as infer_tasks
from ._harness import learn_tasks as learn_tasks
from ._harness import run as run
from ._harness import summarize as summarize
from ._learners import EWC as EWC
from ._learners import Finetune as Finetune
from ._learners import HNet as HNet
from ._learners import Joint as Joint
from ._learners import Learner as Learner
from ._replay import TaskInference as TaskInference
from ._tasks import as_tasks as as_tasks

__all__ = [
    "BENCHMARKS",
    "EWC",
    "Finetune",
    "HNet",
    "Joint",
    "Learner",
    "Task",
    "TaskInference",
    "as_tasks",
    "infer_tasks",
    "hnet_options",
    "learn_tasks",
    "permuted_digits",
    "run",
    "split_digits",
    "summarize",
    "target_for",
]
