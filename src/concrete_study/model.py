"""The network of a run: its layers (layers.py) in order, their initial values, state dicts and
forward pass. An optional periodic embedding, then for each hidden width a linear layer, a ReLU
and (with a dropout rate) a dropout, then a linear output of one unit.

torch is imported where a network is built: the tables that count parameters need no torch,
whose import is a second of every job's start-up.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from concrete_study import layers as L

if TYPE_CHECKING:
    import torch

    from concrete_study.runs import Run

# A state dict names a layer's parameters "<name>.<parameter>": the embedding's name is this, the
# other layers' their place after it (as nn.Sequential numbers its modules).
EMBEDDING = "embedding"
EMBEDDING_KEYS = tuple(f"{EMBEDDING}.{n}" for n in L.PeriodicEmbedding.names)


def layer_sizes(n_inputs: int, hidden: list[int]) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every linear layer, output layer last."""
    widths = [n_inputs, *hidden, 1]
    return list(zip(widths[:-1], widths[1:], strict=True))


def analytic_parameter_count(n_inputs: int, hidden: list[int]) -> int:
    """sum((in + 1) * out) over the linear layers: weights plus biases."""
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in layer_sizes(n_inputs, hidden))


def network(run: Run, n_inputs: int) -> list[L.Layer]:
    """The layers of one model of `run` (runs.Run) over `n_inputs` inputs."""
    net: list[L.Layer] = []
    width = n_inputs
    if run.embedding == "periodic":
        net.append(L.PeriodicEmbedding(n_inputs, run.frequency_scales))
        width = net[-1].width
    for fan_out in run.hidden:
        net += [L.Linear(width, fan_out), L.ReLU(fan_out)]
        if run.dropout:
            net.append(L.Dropout(fan_out, run.dropout, len(net)))
        width = fan_out
    net.append(L.Linear(width, 1))
    return net


def parameter_count(net: list[L.Layer]) -> int:
    """The parameters of one model."""
    return sum(math.prod(shape) for layer in net for shape in layer.shapes())


def names(net: list[L.Layer]) -> list[str]:
    """Each layer's name in a state dict."""
    offset = 1 if net and isinstance(net[0], L.PeriodicEmbedding) else 0
    return [
        EMBEDDING if isinstance(layer, L.PeriodicEmbedding) else str(i - offset)
        for i, layer in enumerate(net)
    ]


def linear_layer_names(hidden: list[int]) -> list[str]:
    """Readable names of the linear layers: hidden_0 .. hidden_{n-1}, out."""
    return [f"hidden_{i}" for i in range(len(hidden))] + ["out"]


def linear_keys(net: list[L.Layer]) -> list[str]:
    """The state dict keys of the linear layers' weights, output layer last."""
    return [
        f"{name}.weight" for name, layer in zip(names(net), net, strict=True) if isinstance(layer, L.Linear)
    ]


def initial(net: list[L.Layer], seed: int) -> list[torch.Tensor]:
    """The untrained parameters of `seed`, every layer's in order, in the stacked layout (a linear
    weight (in, out)): nn.Linear's default initialisation under torch.manual_seed(seed)."""
    import torch

    torch.manual_seed(seed)
    return [p for layer in net if layer.shapes() for p in layer.initial(seed)]


def per_layer(net: list[L.Layer], params: list) -> list[tuple[L.Layer, list]]:
    """Each layer with its slice of `params`, a list of every layer's parameters in order (empty
    for a layer without)."""
    out, i = [], 0
    for layer in net:
        n = len(layer.shapes())
        out.append((layer, params[i : i + n]))
        i += n
    return out


def state_dict(net: list[L.Layer], params: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """One model's parameters (the stacked layout, one replica's) as a state dict."""
    out = {}
    for name, (layer, part) in zip(names(net), per_layer(net, params), strict=True):
        for key, tensor in zip(layer.names, layer.to_state(part) if part else [], strict=True):
            out[f"{name}.{key}"] = tensor
    return out


def from_state_dict(net: list[L.Layer], sd: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """`state_dict`'s inverse; a key missing or a shape other than the net's is a RuntimeError."""
    params = []
    for name, layer in zip(names(net), net, strict=True):
        if not layer.shapes():
            continue
        tensors = [sd.get(f"{name}.{key}") for key in layer.names]
        if any(t is None for t in tensors):
            raise RuntimeError(f"the state dict has no {name}.{layer.names[0]}")
        part = layer.from_state(tensors)
        shapes = [tuple(t.shape) for t in part]
        if shapes != layer.shapes():
            raise RuntimeError(f"layer {name!r} has shapes {shapes}, not {layer.shapes()}")
        params += part
    if len(sd) != sum(len(layer.names) for layer in net):
        raise RuntimeError(f"the state dict has keys the net does not: {sorted(sd)}")
    return params


def forward(net: list[L.Layer], params: list[torch.Tensor], h: torch.Tensor, step: L.Step) -> torch.Tensor:
    """h (R, rows, inputs) -> predictions (R, rows), every replica's parameters stacked."""
    for layer, part in per_layer(net, params):
        h = layer.forward(h, part, step)
    return h.squeeze(-1)
