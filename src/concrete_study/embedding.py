"""Periodic embeddings of the numerical inputs (PLR, as in RealMLP and TabM), in plain numpy.

Each standardised input x becomes relu(W [cos(2π c x), sin(2π c x)] + b) before the MLP reads it:
FREQUENCIES trainable frequencies c and a linear map to WIDTH values, both its own for every input
and every seed. A network then bends each input's scale the way the target needs (steps, curves)
instead of learning it from one linear layer.

cos and sin are computed from +, *, and rint only (a polynomial after range reduction): libm's and
numpy's SIMD versions differ between CPUs, and the engine's bytes must not (numerics.py).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from concrete_study.runs import FREQUENCIES, WIDTH  # per input: trainable frequencies, values the MLP reads

# Taylor coefficients of sin(πf)/f and cos(πf) in f², for |f| <= 1/2: the polynomials' error is
# below 1e-7, float32's rounding brings the results' to 6e-7 at most.
SIN = [np.float32(math.pi ** (2 * n + 1) * (-1) ** n / math.factorial(2 * n + 1)) for n in range(6)]
COS = [np.float32(math.pi ** (2 * n) * (-1) ** n / math.factorial(2 * n)) for n in range(7)]


@functools.cache
def zeros(shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of `shape`, float32, kept (and read-only): numpy's maximum and comparison against an
    array of them take a third of the time they take against the scalar 0, with the same results.
    The engine's relu uses them too."""
    out = np.zeros(shape, dtype=np.float32)
    out.flags.writeable = False
    return out


def _poly(coefficients, f2, out):
    """Horner's rule into `out`: the first step c_n * f2 needs no array of c_n."""
    np.multiply(f2, coefficients[-1], out=out)
    out += coefficients[-2]
    for c in coefficients[-3::-1]:
        out *= f2
        out += c
    return out


def cos_sin_2pi(t: np.ndarray, axis: int = -1) -> np.ndarray:
    """[cos(2πt), sin(2πt)] stacked along `axis` (twice its length), float32, the same bytes on
    every CPU."""
    shape = list(t.shape)
    n = shape[axis]
    shape[axis] = 2 * n
    out = np.empty(shape, dtype=np.float32)
    halves = [slice(None)] * t.ndim
    halves[axis] = slice(0, n)
    cos = out[tuple(halves)]
    halves[axis] = slice(n, 2 * n)
    sin = out[tuple(halves)]
    # Every step in contiguous temporaries, and one write into each half: a pass into a strided
    # half takes three times as long, and a fresh temporary costs its pages' faults.
    f = np.rint(t)
    np.subtract(t, f, out=f)  # in [-1/2, 1/2]: the angle 2πf in [-π, π]
    f2 = f * f
    s = _poly(SIN, f2, np.empty_like(f2))  # of the half angle πf
    s *= f
    c = _poly(COS, f2, f)  # f is not needed after this
    np.multiply(s, s, out=f2)  # cos 2a = 1 - 2 sin² a, sin 2a = 2 sin a cos a
    f2 *= np.float32(-2)
    np.add(f2, np.float32(1), out=cos)
    s *= c
    np.multiply(s, np.float32(2), out=sin)
    return out


def initial(n_inputs: int, generator, scales) -> list:
    """One seed's embedding parameters as torch tensors: frequencies (inputs, FREQUENCIES), weight
    (inputs, 2 FREQUENCIES, WIDTH), bias (inputs, WIDTH); uniform draws, which torch makes the same
    on every CPU (its normal draws are not: they have an AVX2 kernel). Each input's frequencies are
    split evenly among `scales`, their standard deviations (mean 0): slow features for smooth
    trends, fast ones for sharp steps."""
    import torch

    def uniform(bound, *shape):
        return (torch.rand(*shape, generator=generator) * 2 - 1) * bound

    bound = 1 / math.sqrt(2 * FREQUENCIES)  # nn.Linear's default for its fan-in
    frequencies, weight, bias = shapes(n_inputs)
    f = uniform(1.0, *frequencies)  # then each group times its bound (x 1.0 is exact: the same bytes)
    group = FREQUENCIES // len(scales)
    for i, scale in enumerate(scales):
        f[:, i * group : (i + 1) * group] *= scale * math.sqrt(3)
    return [f, uniform(bound, *weight), uniform(bound, *bias)]


def shapes(n_inputs: int) -> list[tuple[int, ...]]:
    """The shapes of one seed's frequencies, weight and bias."""
    return [(n_inputs, FREQUENCIES), (n_inputs, 2 * FREQUENCIES, WIDTH), (n_inputs, WIDTH)]


def forward(x: np.ndarray, frequencies, weight, bias):
    """x (R, B, inputs) with each replica's frequencies (R, inputs, k), weight (R, inputs, 2k, d)
    and bias (R, inputs, d) -> (R, B, inputs * d), and what `backward` needs."""
    xt = x.transpose(0, 2, 1)[:, :, None, :]  # (R, inputs, 1, B): rows last, for long loops
    periodic = cos_sin_2pi(frequencies[..., None] * xt, axis=2)  # (R, inputs, 2k, B): cos, sin
    z = np.matmul(periodic.transpose(0, 1, 3, 2), weight)  # (R, inputs, B, d)
    z += bias[:, :, None, :]
    np.maximum(z, zeros(z.shape), out=z)
    out = np.ascontiguousarray(z.transpose(0, 2, 1, 3)).reshape(x.shape[0], x.shape[1], -1)
    return out, (xt, periodic, out, weight)


def backward(cache, grad: np.ndarray):
    """The gradients of frequencies, weight and bias from the gradient of `forward`'s output."""
    xt, periodic, out, weight = cache
    r, inputs = xt.shape[:2]
    b, d = out.shape[1], out.shape[2] // inputs
    # relu, and the bias's sum over the rows, in the output's layout (R, B, inputs, d): the rows
    # are then an outer loop of long inner ones.
    g_out = (grad * np.greater(out, zeros(out.shape))).reshape(r, b, inputs, d)
    g_bias = g_out.sum(axis=1)
    g = np.ascontiguousarray(g_out.transpose(0, 2, 1, 3))  # (R, inputs, B, d)
    g_weight = np.matmul(periodic, g)
    g_periodic = np.matmul(weight, g.transpose(0, 1, 3, 2))  # (R, inputs, 2k, B)
    k = periodic.shape[2] // 2
    # d cos(2πt)/dt = -2π sin, d sin(2πt)/dt = 2π cos, and t = frequency * x.
    g_t = g_periodic[:, :, k:] * periodic[:, :, :k]
    g_t -= g_periodic[:, :, :k] * periodic[:, :, k:]
    g_t *= xt
    g_frequencies = g_t.sum(axis=3)
    g_frequencies *= np.float32(2 * math.pi)
    return g_frequencies, g_weight, g_bias


def forward_torch(x, frequencies, weight, bias):
    """`forward` in torch's own kernels, for a GPU (not bit-exact anyway)."""
    import torch

    t = 2 * math.pi * frequencies.unsqueeze(-1) * x.transpose(1, 2).unsqueeze(2)  # (R, inputs, k, B)
    periodic = torch.cat([torch.cos(t), torch.sin(t)], dim=2)
    z = torch.relu(periodic.transpose(2, 3) @ weight + bias.unsqueeze(2))
    return z.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
