"""numpy's reference of each layer kernel of the exact CPU pass (cpu_pass.c): the same float
operations in numpy's own routines, one layer at a time. The C pass must give these bytes
(tests/test_cpu_pass.py), and cos and sin here must be close to libm's (tests/test_embedding.py)."""

from __future__ import annotations

import math

import numpy as np

from concrete_study.cpu_pass import views
from concrete_study.layers import COS, EVALUATION, SIN, Dropout, Linear, PeriodicEmbedding, ReLU, Step
from concrete_study.layers import _mix32 as mix32
from concrete_study.model import per_layer


def zeros(shape) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def _poly(coefficients, f2):
    out = f2 * coefficients[-1]
    out += coefficients[-2]
    for c in coefficients[-3::-1]:
        out *= f2
        out += c
    return out


def cos_sin_2pi(t: np.ndarray, axis: int = -1) -> np.ndarray:
    """[cos(2πt), sin(2πt)] along `axis`: the angle reduced to f in [-1/2, 1/2], sin and cos of
    πf by Horner's rule, then the double angle."""
    f = t - np.rint(t)
    f2 = f * f
    s = _poly(SIN, f2) * f
    c = _poly(COS, f2)
    cos = (s * s) * np.float32(-2) + np.float32(1)
    sin = (s * c) * np.float32(2)
    return np.concatenate([cos, sin], axis=axis)


def dropout_mask(layer: Dropout, keys: np.ndarray, rows: int) -> np.ndarray:
    k = mix32(np.arange(rows * layer.width, dtype=np.uint32))
    draws = mix32(keys.astype(np.uint32)[:, None] ^ k) >> np.uint32(8)
    mask = np.where(draws < layer.threshold, np.float32(0), layer.scale).astype(np.float32)
    return mask.reshape(len(keys), rows, layer.width)


def _embed(x, frequencies, weight, bias):
    xt = x.transpose(0, 2, 1)[:, :, None, :]  # (R, inputs, 1, B)
    periodic = cos_sin_2pi(frequencies[..., None] * xt, axis=2)  # (R, inputs, 2k, B)
    z = np.matmul(periodic.transpose(0, 1, 3, 2), weight)  # (R, inputs, B, d)
    z += bias[:, :, None, :]
    np.maximum(z, zeros(z.shape), out=z)
    out = np.ascontiguousarray(z.transpose(0, 2, 1, 3)).reshape(x.shape[0], x.shape[1], -1)
    return out, (xt, periodic)


def _embed_backward(x, params, out, saved, grad):
    _, weight, _ = params
    xt, periodic = saved
    r, inputs = xt.shape[:2]
    b, d = out.shape[1], out.shape[2] // inputs
    g_out = (grad * np.greater(out, zeros(out.shape))).reshape(r, b, inputs, d)
    g_bias = g_out.sum(axis=1)
    g = np.ascontiguousarray(g_out.transpose(0, 2, 1, 3))  # (R, inputs, B, d)
    g_weight = np.matmul(periodic, g)
    g_periodic = np.matmul(weight, g.transpose(0, 1, 3, 2))  # (R, inputs, 2k, B)
    k = periodic.shape[2] // 2
    g_t = g_periodic[:, :, k:] * periodic[:, :, :k]
    g_t -= g_periodic[:, :, :k] * periodic[:, :, k:]
    g_t *= xt
    g_frequencies = g_t.sum(axis=3)
    g_frequencies *= np.float32(2 * math.pi)
    return [g_frequencies, g_weight, g_bias]


class ReferencePass:
    """The pass of `net` over one flat buffer of its replicas' parameters, as cpu_pass.CpuNet."""

    def __init__(self, values: np.ndarray, grads: np.ndarray, net: list, replicas: int) -> None:
        self.net, self.grad_flat = net, grads
        shapes = [(replicas, *shape) for layer in net for shape in layer.shapes()]
        self.params = [part for _, part in per_layer(net, views(values, shapes))]
        self.grads = [part for _, part in per_layer(net, views(grads, shapes))]

    def forward(self, x: np.ndarray, step: Step = EVALUATION):
        h, saved = x, []
        with np.errstate(over="ignore", invalid="ignore"):
            for layer, params in zip(self.net, self.params, strict=True):
                extra = None
                if isinstance(layer, Linear):
                    out = np.matmul(h, params[0])
                    np.add(out, params[1], out=out)
                elif isinstance(layer, ReLU):
                    out = np.maximum(h, zeros(h.shape))
                elif isinstance(layer, Dropout):
                    extra = dropout_mask(layer, layer.keys(step), h.shape[1]) if step.training else None
                    out = h * extra if step.training else h.copy()
                elif isinstance(layer, PeriodicEmbedding):
                    out, extra = _embed(h, *params)
                saved.append((h, out, extra))
                h = out
        return h[..., 0].copy(), saved

    def backward(self, saved, grad: np.ndarray) -> None:
        g = grad[..., None]
        with np.errstate(over="ignore", invalid="ignore"):
            for i in range(len(self.net) - 1, -1, -1):
                layer, params, grads = self.net[i], self.params[i], self.grads[i]
                h, out, extra = saved[i]
                below = any(lower.shapes() for lower in self.net[:i])
                if isinstance(layer, Linear):
                    np.add.reduce(g, axis=1, keepdims=True, out=grads[1])
                    np.matmul(h.transpose(0, 2, 1), g, out=grads[0])
                    w_t = params[0].transpose(0, 2, 1)
                    # One output: numpy's outer product, one multiplication a value.
                    g = np.multiply(g, w_t) if g.shape[2] == 1 else np.matmul(g, w_t)
                elif isinstance(layer, ReLU):
                    g = g * np.greater(out, zeros(out.shape))
                elif isinstance(layer, Dropout):
                    g = g * extra
                elif isinstance(layer, PeriodicEmbedding):
                    for view, part in zip(grads, _embed_backward(h, params, out, extra, g), strict=True):
                        view[...] = part
                if not below:
                    break
            # Autograd added each gradient to a zeroed buffer: 0 + x makes -0 +0.
            np.add(self.grad_flat, np.float32(0), out=self.grad_flat)
