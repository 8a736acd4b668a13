"""What every recipe's run shares: seeding, progress, tables, NaN checks, and files
(``metrics.json``, plots, checkpoints) written atomically into a locked ``--out`` folder.

See docs/recipes.md for the contract. Example:

    >>> from hypernetworks.runner import Run, format_table
    >>> with Run("demo", {"steps": 3}, seed=0, progress=False) as run:
    ...     losses = [run.check_finite(1.0 / (s + 1), step=s) for s in run.progress(range(3))]
    >>> [round(v, 2) for v in losses]
    [1.0, 0.5, 0.33]
"""

from ._arguments import add_common_arguments as add_common_arguments
from ._arguments import nonnegative_int as nonnegative_int
from ._arguments import positive_float as positive_float
from ._arguments import positive_int as positive_int
from ._arguments import probability as probability
from ._distributed import WeightedLoss as WeightedLoss
from ._distributed import all_ranks_sum as all_ranks_sum
from ._distributed import average_gradients as average_gradients
from ._distributed import close_process_group as close_process_group
from ._distributed import data_parallel as data_parallel
from ._distributed import shard as shard
from ._distributed import world as world
from ._distributed import zero_loss as zero_loss
from ._errors import CheckpointError as CheckpointError
from ._errors import DeviceError as DeviceError
from ._errors import NonFiniteError as NonFiniteError
from ._errors import OutputBusyError as OutputBusyError
from ._errors import OutputError as OutputError
from ._errors import RunError as RunError
from ._files import OutputLock as OutputLock
from ._files import atomic_write as atomic_write
from ._files import check_writable as check_writable
from ._files import write_json as write_json
from ._report import check_finite as check_finite
from ._report import format_table as format_table
from ._report import progress as progress
from ._run import CHECKPOINT_FORMAT as CHECKPOINT_FORMAT
from ._run import Run as Run

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "DeviceError",
    "NonFiniteError",
    "OutputBusyError",
    "OutputError",
    "OutputLock",
    "Run",
    "RunError",
    "WeightedLoss",
    "add_common_arguments",
    "all_ranks_sum",
    "atomic_write",
    "average_gradients",
    "check_finite",
    "check_writable",
    "close_process_group",
    "data_parallel",
    "format_table",
    "nonnegative_int",
    "positive_float",
    "probability",
    "positive_int",
    "progress",
    "shard",
    "world",
    "write_json",
    "zero_loss",
]
