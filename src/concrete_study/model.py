"""The MLP of the study: hidden widths, ReLU, a linear output of one unit.

torch is imported where a network is built: the tables that count parameters need no torch,
whose import is a second of every job's start-up.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def layer_sizes(n_inputs: int, hidden: list[int]) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every linear layer, output layer last."""
    widths = [n_inputs, *hidden, 1]
    return list(zip(widths[:-1], widths[1:], strict=True))


def analytic_parameter_count(n_inputs: int, hidden: list[int]) -> int:
    """sum((in + 1) * out) over the linear layers: weights plus biases."""
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in layer_sizes(n_inputs, hidden))


def run_parameter_count(run, n_inputs: int) -> int:
    """The parameters of one model of `run` (runs.Run) over `n_inputs` inputs: its embedding's,
    where it has one, and its MLP's."""
    from concrete_study import embedding

    if run.embedding == "none":
        return analytic_parameter_count(n_inputs, run.hidden)
    embedded = sum(math.prod(shape) for shape in embedding.shapes(n_inputs))
    return embedded + analytic_parameter_count(n_inputs * embedding.WIDTH, run.hidden)


def build_mlp(n_inputs: int, hidden: list[int]) -> nn.Sequential:
    """nn.Sequential of Linear and ReLU, PyTorch's default initialisation."""
    from torch import nn

    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(layer_sizes(n_inputs, hidden)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(hidden):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def initial_mlp(n_inputs: int, hidden: list[int], seed: int) -> nn.Sequential:
    """The untrained model of `seed`: the same weights the engine starts that seed from."""
    import torch

    torch.manual_seed(seed)
    return build_mlp(n_inputs, hidden)


def counted_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def linear_layer_names(hidden: list[int]) -> list[str]:
    """Readable names of the linear layers: hidden_0 .. hidden_{n-1}, out."""
    return [f"hidden_{i}" for i in range(len(hidden))] + ["out"]


# An embedded net's state dict holds its embedding (embedding.py) under these keys, beside the MLP's.
EMBEDDING_KEYS = ("embedding.frequencies", "embedding.weight", "embedding.bias")


def state_dict_keys(hidden: list[int]) -> list[tuple[str, str]]:
    """(weight key, bias key) of each linear layer in build_mlp's state dict."""
    return [(f"{2 * i}.weight", f"{2 * i}.bias") for i in range(len(hidden) + 1)]
