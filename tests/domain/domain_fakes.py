"""Test data for the domain-mixing tests."""

import torch


class Tagged(torch.utils.data.Dataset):
    """Items are (domain id, index) tensors so a batch shows exactly which keys were read."""

    def __init__(self, tag: int, n: int) -> None:
        self.tag, self.n = tag, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor([self.tag, i])
