"""PyTorch, eager, as its tutorials write it: ``nn.Sequential``, ``CrossEntropyLoss``,
``torch.optim.SGD`` (momentum/nesterov as the recipe says, ``fused=True``, its fastest
CPU implementation) and ``zero_grad(set_to_none=True)``.

Batches are gathered from the training tensor by a fresh ``torch.randperm`` each epoch
(a DataLoader adds per-sample Python overhead and is slower). The last, ragged batch is
kept, as fastnn keeps it. ``torch.optim.SGD``'s momentum buffer ``buf = mu buf + g``,
``p -= lr buf`` is fastnn's (scikit-learn's) ``v = mu v - lr g``, ``p += v`` with
``v = -lr buf``, and likewise for Nesterov, so the updates are the same.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from benchmarks.race.entrants import Setup

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def configure_threads(threads: int | None) -> None:
    """Intra-op and inter-op pools. The inter-op size can only be set once per process,
    before any parallel work, so it is set here, first thing in the worker."""
    if threads is None:
        return
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set in this process (in-process tests)
        torch.set_num_interop_threads(threads)


def versions() -> dict[str, str]:
    return {"torch": torch.__version__}


class TorchTrainer:
    def __init__(self, setup: Setup) -> None:
        recipe, data, init = setup.recipe, setup.data, setup.init
        modules: list[nn.Module] = []
        for i, (W, b) in enumerate(init):
            linear = nn.Linear(*W.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
            if i < len(init) - 1:
                modules.append(ACTIVATIONS[recipe.activation]())
        self.net = nn.Sequential(*modules)
        self.loss = nn.CrossEntropyLoss()  # mean over the batch, softmax included
        self.optimizer = torch.optim.SGD(
            self.net.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.optimizer == "nesterov",
            fused=True,  # one kernel per parameter: faster than the default loop on CPU
        )
        self.x = torch.from_numpy(data.x_train)
        self.y = torch.from_numpy(data.y_train)
        self.x_test = torch.from_numpy(data.x_test)
        self.y_test = torch.from_numpy(data.y_test)
        self.batch_size = recipe.batch_size
        self.shuffle = setup.shuffle
        self.generator = torch.Generator().manual_seed(setup.seed)

    def train_epoch(self) -> None:
        n = self.x.shape[0]
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        self.net.train()
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.net(self.x[idx]), self.y[idx])
            loss.backward()
            self.optimizer.step()

    def test_accuracy(self) -> float:
        self.net.eval()
        with torch.inference_mode():
            predicted = self.net(self.x_test).argmax(dim=1)
        return float((predicted == self.y_test).float().mean())

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        return [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears]


def build(setup: Setup) -> TorchTrainer:
    return TorchTrainer(setup)
