"""The podcast tests run torch models on one thread: the machine is shared, results stay stable."""

import pytest


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
