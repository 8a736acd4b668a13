import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same seed, on one thread (fast and repeatable on 2 cores)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
