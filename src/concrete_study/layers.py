"""The network's layer types, each defined once.

A layer type is a class here: the shapes of its parameters and their initial values, their names
in a model file's state dict, and what it computes (`forward`: every replica of a stack at once,
(R, rows, width) in and out, in torch on any device; autograd differentiates it). Training on a
GPU, `predict` and the figures all run these definitions. The exact CPU pass (cpu_pass.c) holds
the one other piece a type may have: a kernel, named by `kernel`, that computes the same by float
operations that give the same bytes on every x86-64 CPU, forward and backward.

A network (model.py) is a sequence of these layers.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from concrete_study.runs import FREQUENCIES, WIDTH

if TYPE_CHECKING:
    import torch

# The generators of a seed's embedding values and dropout masks are offset from its seed.
EMBEDDING_SEED_OFFSET = 2_000_003
DROPOUT_SEED_OFFSET = 3_000_017


@dataclass(frozen=True)
class Step:
    """What a pass needs beyond its rows: whether it trains (dropout drops only then), and then the
    replicas' seeds and the optimizer step it computes the gradient of (dropout's masks)."""

    training: bool = False
    seeds: tuple[int, ...] = ()
    number: int = 0


EVALUATION = Step()  # a pass that does not train: validation, prediction


@dataclass(frozen=True)
class Linear:
    """h @ W + b: nn.Linear, its default initialisation, its weight (out, in) in a state dict."""

    fan_in: int
    fan_out: int
    kernel = "linear"
    names = ("weight", "bias")

    @property
    def width(self) -> int:
        return self.fan_out

    def shapes(self) -> list[tuple[int, ...]]:
        return [(self.fan_in, self.fan_out), (1, self.fan_out)]

    def initial(self, seed: int) -> list[torch.Tensor]:
        """Drawn from torch's global generator, which model.initial seeds once per net."""
        from torch import nn

        layer = nn.Linear(self.fan_in, self.fan_out)
        return [layer.weight.detach().T, layer.bias.detach()[None]]

    def to_state(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        return [params[0].T, params[1][0]]

    def from_state(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        return [tensors[0].T, tensors[1][None]]

    def forward(self, h: torch.Tensor, params: list[torch.Tensor], step: Step) -> torch.Tensor:
        import torch

        return torch.baddbmm(params[1], h, params[0])


@dataclass(frozen=True)
class ReLU:
    """max(h, 0)."""

    width: int
    kernel = "relu"
    names = ()

    def shapes(self) -> list[tuple[int, ...]]:
        return []

    def forward(self, h: torch.Tensor, params: list[torch.Tensor], step: Step) -> torch.Tensor:
        import torch

        return torch.relu(h)


@dataclass(frozen=True)
class Dropout:
    """In training, each unit kept with probability 1 - rate and then scaled by 1 / (1 - rate);
    the identity otherwise. A replica's mask depends on its seed, the step and the layer's place
    `index` alone (dropout_keys, dropout_mask): a replica trains the same bytes in a stack of any
    size, on any CPU, and its masks on a GPU are the same."""

    width: int
    rate: float
    index: int
    kernel = "dropout"
    names = ()

    def shapes(self) -> list[tuple[int, ...]]:
        return []

    @property
    def threshold(self) -> int:
        """A unit is dropped where its 24-bit draw is below this."""
        return round(self.rate * 2**24)

    @property
    def scale(self) -> np.float32:
        return np.float32(1.0 / (1.0 - self.rate))

    def keys(self, step: Step) -> np.ndarray:
        return dropout_keys(step.seeds, step.number, self.index)

    def forward(self, h: torch.Tensor, params: list[torch.Tensor], step: Step) -> torch.Tensor:
        if not step.training:
            return h
        return h * dropout_mask(self.keys(step), h.shape[1], self.width, self.threshold, self.scale, h.device)


def _mix32(x):
    """A 32-bit integer hash (lowbias32): numpy uint32 arrays wrap as C's uint32_t does; torch's
    int64 tensors hold the same values, each product split so that none overflows."""
    mask = 0xFFFFFFFF
    for shift, factor in ((16, 0x7FEB352D), (15, 0x846CA68B), (16, None)):
        x = x ^ (x >> shift)
        if factor is None:
            break
        if isinstance(x, np.ndarray):
            x = x * np.uint32(factor)
        else:
            low = x * (factor & 0xFFFF)
            high = ((x * (factor >> 16)) & 0xFFFF) << 16
            x = (low + high) & mask
    return x


def dropout_keys(seeds, step: int, index) -> np.ndarray:
    """Each replica's key for one step of one dropout layer, (R,) uint32; of several layers
    (`index` a list), (layers, R), one row each."""
    x = (np.asarray(seeds, dtype=np.int64) + DROPOUT_SEED_OFFSET).astype(np.uint32)
    x = _mix32(x) ^ np.uint32(step & 0xFFFFFFFF)
    index = np.asarray(index, dtype=np.uint32)
    return _mix32(_mix32(x) ^ (index[:, None] if index.ndim else index))


def unit_hashes(count: int) -> np.ndarray:
    """mix32(k) of units k = 0 .. count - 1, uint32: what every step's masks hash their key with."""
    return _mix32(np.arange(count, dtype=np.uint32))


@functools.lru_cache(maxsize=16)
def _unit_hashes_on(count: int, device) -> torch.Tensor:
    import torch

    return torch.as_tensor(unit_hashes(count).astype(np.int64), device=device)


def dropout_mask(keys: np.ndarray, rows: int, width: int, threshold: int, scale, device) -> torch.Tensor:
    """(R, rows, width): 0 where unit k of a replica's (rows, width) draws mix32(key ^ mix32(k))
    >> 8 below `threshold`, `scale` elsewhere; as cpu_pass.c's dropout computes it."""
    import torch

    k = _unit_hashes_on(rows * width, torch.device(device))
    draws = _mix32(torch.as_tensor(keys.astype(np.int64), device=device)[:, None] ^ k) >> 8
    kept = torch.tensor(float(scale), dtype=torch.float32, device=device)
    return torch.where(draws < threshold, torch.zeros((), device=device), kept).reshape(-1, rows, width)


# Taylor coefficients of sin(πf)/f and cos(πf) in f², for |f| <= 1/2: the kernel's polynomials,
# whose error is below 1e-7 (float32's rounding brings the results' to 6e-7 at most).
SIN = [np.float32(math.pi ** (2 * n + 1) * (-1) ** n / math.factorial(2 * n + 1)) for n in range(6)]
COS = [np.float32(math.pi ** (2 * n) * (-1) ** n / math.factorial(2 * n)) for n in range(7)]


@dataclass(frozen=True)
class PeriodicEmbedding:
    """Periodic embeddings of the numerical inputs (PLR, as in RealMLP and TabM): each
    standardised input x becomes relu([cos(2π c x), sin(2π c x)] W + b), FREQUENCIES trainable
    frequencies c and a linear map to WIDTH values, both its own for every input and seed. A
    network then bends each input's scale the way the target needs (steps, curves) instead of
    learning it from one linear layer. The kernel computes cos and sin from +, *, and rounding
    (SIN, COS after range reduction): libm's versions differ between CPUs, and its bytes must not."""

    inputs: int
    scales: tuple[float, ...]
    kernel = "periodic"
    names = ("frequencies", "weight", "bias")

    @property
    def width(self) -> int:
        return self.inputs * WIDTH

    def shapes(self) -> list[tuple[int, ...]]:
        return [(self.inputs, FREQUENCIES), (self.inputs, 2 * FREQUENCIES, WIDTH), (self.inputs, WIDTH)]

    def initial(self, seed: int) -> list[torch.Tensor]:
        """Uniform draws from a generator of the seed's own, which torch makes the same on every
        CPU (its normal draws are not: they have an AVX2 kernel). Each input's frequencies are
        split evenly among `scales`, their standard deviations (mean 0): slow features for smooth
        trends, fast ones for sharp steps."""
        import torch

        generator = torch.Generator().manual_seed(EMBEDDING_SEED_OFFSET + seed)

        def uniform(bound, *shape):
            return (torch.rand(*shape, generator=generator) * 2 - 1) * bound

        bound = 1 / math.sqrt(2 * FREQUENCIES)  # nn.Linear's default for its fan-in
        frequencies, weight, bias = self.shapes()
        f = uniform(1.0, *frequencies)  # then each group times its bound (x 1.0 is exact)
        group = FREQUENCIES // len(self.scales)
        for i, scale in enumerate(self.scales):
            f[:, i * group : (i + 1) * group] *= scale * math.sqrt(3)
        return [f, uniform(bound, *weight), uniform(bound, *bias)]

    def to_state(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        return list(params)

    def from_state(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        return list(tensors)

    def forward(self, h: torch.Tensor, params: list[torch.Tensor], step: Step) -> torch.Tensor:
        import torch

        frequencies, weight, bias = params
        t = 2 * math.pi * frequencies.unsqueeze(-1) * h.transpose(1, 2).unsqueeze(2)  # (R, inputs, k, B)
        periodic = torch.cat([torch.cos(t), torch.sin(t)], dim=2)
        z = torch.relu(periodic.transpose(2, 3) @ weight + bias.unsqueeze(2))
        return z.transpose(1, 2).reshape(h.shape[0], h.shape[1], -1)


Layer = Linear | ReLU | Dropout | PeriodicEmbedding
