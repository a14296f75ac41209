"""Suite-wide settings.

The tests run tiny models, where OpenMP thread start-up and idle spinning cost more than a second core
saves (about 10x slower on a loaded 2-core machine), so every test runs torch on one thread. Tests that
measure threading set it themselves.
"""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
