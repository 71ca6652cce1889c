"""The stacked MLP's forward and backward pass on the CPU, without autograd.

Computed by numpy's OpenBLAS on numpy views of the engine's flat buffer and of its gradient. Not
torch's MKL: MKL's kernels differ between Intel and AMD CPUs in every mode but
MKL_CBWR=COMPATIBLE, which is 3-4 times slower at these sizes, while OpenBLAS pinned to its AVX2
kernels (numerics.py) gives the same bytes on every x86-64 CPU with AVX2 at full speed. Not
autograd either: the backward pass writes each gradient straight into its place in the buffer,
by the same float operations autograd ran. Layer l: h_{l+1} = relu(h_l @ W_l + b_l), the last
layer without relu; h_0 the inputs, or their embedding when the net has one.

Two implementations of one pass, the same bytes (tests/test_cpu_pass.py): `cpu_pass.c`, compiled
on first use, makes one call a pass where numpy makes eight a layer, each costing as much as its
arithmetic at these sizes; numpy's is the reference, and runs where the C pass does not (no C
compiler, or a batch of one row, where numpy's matmul takes other routines).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from concrete_study import embedding
from concrete_study.numerics import openblas_library

SOURCE = Path(__file__).with_suffix(".c")
# IEEE arithmetic as written: no fast-math, no fused multiply-adds, no CPU-specific code. Without
# traps (floating-point exceptions are not looked at), loops with a comparison are vectorised.
COMPILE = ["-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math"]
FLOAT = np.dtype(np.float32).itemsize


class _Layer(ctypes.Structure):
    _fields_ = [
        ("fan_in", ctypes.c_int64),
        ("fan_out", ctypes.c_int64),
        ("weight", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("weight_grad", ctypes.c_void_p),
        ("bias_grad", ctypes.c_void_p),
        ("output", ctypes.c_void_p),
        ("input_grad", ctypes.c_void_p),
    ]


class _Net(ctypes.Structure):
    _fields_ = [
        ("sgemm", ctypes.c_void_p),
        ("sgemv", ctypes.c_void_p),
        ("replicas", ctypes.c_int64),
        ("rows", ctypes.c_int64),
        ("n_layers", ctypes.c_int64),
        ("layers", ctypes.POINTER(_Layer)),
        ("grad", ctypes.c_void_p),
        ("grad_size", ctypes.c_int64),
    ]


class _Embedding(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int64) for name in ("inputs", "k", "d")
    ] + [
        (name, ctypes.c_void_p)
        for name in (
            "frequency", "weight", "bias", "frequency_grad", "weight_grad", "bias_grad",
            "periodic", "output", "z", "g", "g_periodic", "g_t", "column",
        )
    ]  # fmt: skip


def library_key(compiler: list[str]) -> str:
    """What makes a compiled pass loadable here: the source, the flags, the machine and its C
    library, and the compiler (its command and what it says it is). Nodes that share a home but
    differ in any of these build a library each."""
    try:
        version = subprocess.run([*compiler, "--version"], capture_output=True, text=True).stdout
    except OSError:
        version = ""  # no such compiler: _compile says so
    parts = [" ".join(COMPILE), platform.machine(), *platform.libc_ver(), " ".join(compiler), version]
    return hashlib.sha256(SOURCE.read_bytes() + "\0".join(parts).encode()).hexdigest()[:16]


@functools.cache  # once per process
def native() -> ctypes.CDLL | None:
    """The compiled C pass, built from cpu_pass.c into a cache folder on first use (one file per
    `library_key`); None, with a one-line warning, where it can be neither built nor loaded, or
    numpy has no OpenBLAS of its own to call."""
    blas = openblas_library()
    if blas is None:
        return None
    compiler = shlex.split(os.environ.get("CC", "cc"))
    path = _cache_folder() / f"cpu_pass-{library_key(compiler)}.so"
    try:
        if not path.exists():
            _compile(path, compiler)
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:  # damaged, or built by another machine under this name: build it anew
            _compile(path, compiler)
            lib = ctypes.CDLL(str(path))
    except (OSError, subprocess.CalledProcessError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(
            f"concrete-study: warning: cpu_pass.c not compiled or not loadable ({reason}): training "
            "takes numpy's slower pass, the same bytes",
            file=sys.stderr,
        )
        return None
    lib.cpu_forward.argtypes = [ctypes.POINTER(_Net), ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64]
    lib.cpu_backward.argtypes = [
        ctypes.POINTER(_Net), ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int,
    ]  # fmt: skip
    lib.cpu_embed_forward.argtypes = [
        ctypes.POINTER(_Net), ctypes.POINTER(_Embedding), ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
        ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.cpu_embed_backward.argtypes = [
        ctypes.POINTER(_Net), ctypes.POINTER(_Embedding), ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
        ctypes.c_void_p,
    ]  # fmt: skip
    lib.sgemm = ctypes.cast(blas.scipy_cblas_sgemm64_, ctypes.c_void_p).value
    lib.sgemv = ctypes.cast(blas.scipy_cblas_sgemv64_, ctypes.c_void_p).value
    return lib


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    folder = Path(base) / "concrete-study"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
    return folder


def _compile(path: Path, compiler: list[str]) -> None:
    """Compile into a file of this process's own, then rename it into place: jobs that start
    together each compile, and each finds a whole library."""
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        built = Path(tmp) / path.name
        subprocess.run(
            [*compiler, *COMPILE, "-o", str(built), str(SOURCE)], check=True, capture_output=True, text=True
        )
        os.replace(built, path)


def views(flat, shapes) -> list:
    """Consecutive views of `flat` (a tensor or an array) with the given shapes."""
    views, offset = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        views.append(flat[offset : offset + n].reshape(shape))
        offset += n
    return views


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


class CpuMLP:
    """The pass over one flat buffer (values and gradient, numpy arrays) whose consecutive
    parameters have `shapes`: an embedding's `n_embedding` first, then each layer's weight
    (R, in, out) and bias (R, 1, out)."""

    def __init__(self, values: np.ndarray, grads: np.ndarray, shapes, n_embedding: int) -> None:
        self.grad_flat = grads
        values, grads = views(values, shapes), views(grads, shapes)
        self.embedded, self.embedded_grads = values[:n_embedding], grads[:n_embedding]
        self.weights, self.weight_grads = values[n_embedding::2], grads[n_embedding::2]
        self.biases, self.bias_grads = values[n_embedding + 1 :: 2], grads[n_embedding + 1 :: 2]
        self.native = native()
        self._workspaces: dict[tuple[int, int, int], _Workspace] = {}

    def forward(self, x: np.ndarray, use_native: bool = True):
        """x (R, B, inputs) -> predictions (R, B), and what `backward` needs."""
        ws = self._workspaces.get(x.shape)
        if ws is None:
            ws = self._workspaces[x.shape] = _Workspace(self, x.shape)
        native = ws.net is not None and use_native and _rows_contiguous(x)
        embedded = None  # numpy's embedding's cache
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging replica is data
            if native:
                h = x
                if self.embedded:
                    self.native.cpu_embed_forward(
                        ws.net, ws.embedding, _address(x), *_strides(x), *_POLYNOMIALS
                    )
                    h = ws.embedded
                self.native.cpu_forward(ws.net, _address(h), *_strides(h))
            else:
                h = x
                if self.embedded:
                    h, embedded = embedding.forward(x, *self.embedded)
                _numpy_forward(ws, h)
        return ws.outputs[-1][..., 0].copy(), (ws, x, h, embedded, native)

    def backward(self, cache, grad: np.ndarray) -> None:
        """Every parameter's gradient from the predictions' gradient `grad` (R, B), into the buffer."""
        ws, x, h, embedded, native = cache
        with np.errstate(over="ignore", invalid="ignore"):
            if native:
                grad = np.ascontiguousarray(grad, dtype=np.float32)
                below = bool(self.embedded)
                self.native.cpu_backward(ws.net, _address(h), *_strides(h), _address(grad), below)
                if below:
                    self.native.cpu_embed_backward(
                        ws.net, ws.embedding, _address(x), *_strides(x), _address(ws.input_grad)
                    )
                return
            _numpy_backward(self, ws, h, grad, embedded is not None)
            if embedded is not None:
                parts = embedding.backward(embedded, ws.input_grad)
                for view, part in zip(self.embedded_grads, parts, strict=True):
                    np.add(part, np.float32(0), out=view)  # + 0, as for every gradient


def _strides(x: np.ndarray) -> tuple[int, int]:
    """x's replica and row strides, in floats."""
    return x.strides[0] // FLOAT, x.strides[1] // FLOAT


# embedding.cos_sin_2pi's coefficients, as the C pass reads them (the arrays kept alive).
_COEFFICIENTS = [np.array(c, dtype=np.float32) for c in (embedding.SIN, embedding.COS)]
_POLYNOMIALS = [_address(c) for c in _COEFFICIENTS]


def _rows_contiguous(x: np.ndarray) -> bool:
    """Whether x's rows are contiguous, as the C pass reads them (each replica's at any stride)."""
    return (
        x.dtype == np.float32 and x.strides[2] == FLOAT and x.strides[0] % FLOAT == x.strides[1] % FLOAT == 0
    )


def _numpy_forward(ws: _Workspace, x: np.ndarray) -> None:
    h = x
    for w, b, out, zeros in ws.forward:
        np.matmul(h, w, out=out)
        np.add(out, b, out=out)
        if zeros is not None:
            np.maximum(out, zeros, out=out)
        h = out


def _numpy_backward(net: CpuMLP, ws: _Workspace, x: np.ndarray, grad: np.ndarray, embedded: bool) -> None:
    g = grad[..., None]  # (R, B, 1)
    last = len(net.weights) - 1
    for i in range(last, -1, -1):
        h = x if i == 0 else ws.outputs[i - 1]
        np.add.reduce(g, axis=1, keepdims=True, out=net.bias_grads[i])
        np.matmul(h.transpose(0, 2, 1), g, out=net.weight_grads[i])
        if i == 0 and not embedded:
            break
        g_in = ws.input_grads[i]
        w_t = net.weights[i].transpose(0, 2, 1)
        if g.shape[2] == 1:
            # One output (the last layer): an outer product, one multiplication a value,
            # which numpy's matmul computes many times slower (a zero's sign aside: the
            # buffer's + 0 below evens it out).
            np.multiply(g, w_t, out=g_in)
        else:
            np.matmul(g, w_t, out=g_in)
        if i > 0:  # relu: no gradient where its output was 0
            np.multiply(g_in, np.greater(h, embedding.zeros(h.shape)), out=g_in)
        g = g_in
    # Autograd added each gradient to a zeroed buffer: 0 + x, which makes -0 +0 and leaves
    # every other value as it is.
    np.add(net.grad_flat, np.float32(0), out=net.grad_flat)


class _Workspace:
    """The arrays that the passes of one input shape write into, kept from step to step: each
    layer's output and its input's gradient (layers of one shape share two, in turn), and the C
    pass's description of them."""

    def __init__(self, net: CpuMLP, shape: tuple[int, int, int]) -> None:
        rows = shape[:2]
        self.embedded = None  # the embedding's output, where the C pass computes it
        if net.embedded:  # the first layer reads the embedding's output
            shape = (*rows, net.weights[0].shape[1])
        self.outputs = [np.empty((*rows, w.shape[2]), dtype=np.float32) for w in net.weights]
        last = len(net.weights) - 1
        self.forward = [  # each layer: its weight, bias, output, and zeros for its relu
            (w, b, out, embedding.zeros(out.shape) if i < last else None)
            for i, (w, b, out) in enumerate(zip(net.weights, net.biases, self.outputs, strict=True))
        ]
        pairs: dict[tuple, list[np.ndarray]] = {}
        self.input_grads = []
        for w in net.weights:
            grad_shape = (*rows, w.shape[1])
            pair = pairs.setdefault(grad_shape, [np.empty(grad_shape, np.float32) for _ in "ab"])
            pair.reverse()  # not the array that holds the gradient of this layer's output
            self.input_grads.append(pair[0])
        self.input_grad = self.input_grads[0]  # for an embedding below the first layer
        self.net = None
        fans = [shape[2], *(w.shape[2] for w in net.weights)]
        # Where numpy's matmul takes other routines than the C pass calls (one row, a fan-in of one).
        if net.native is not None and rows[1] > 1 and min(fans[:-1]) > 1:
            self._describe(net, rows)
            if net.embedded:
                self._describe_embedding(net, rows)

    def _describe_embedding(self, net: CpuMLP, rows: tuple[int, int]) -> None:
        frequencies, weight, _ = net.embedded
        n, k, d = weight.shape[1], frequencies.shape[2], weight.shape[3]
        self.embedded = np.empty((*rows, n * d), dtype=np.float32)
        self._embedding_arrays = [
            np.empty((rows[0], n, 2 * k, rows[1]), dtype=np.float32),  # periodic
            self.embedded,
            np.empty((rows[1], d), dtype=np.float32),  # z
            np.empty((rows[1], d), dtype=np.float32),  # g
            np.empty((2 * k, rows[1]), dtype=np.float32),  # g_periodic
            np.empty(rows[1], dtype=np.float32),  # g_t
            np.empty(rows[1], dtype=np.float32),  # column
        ]
        parameters = [*net.embedded, *net.embedded_grads]
        self.embedding = _Embedding(n, k, d, *map(_address, parameters + self._embedding_arrays))

    def _describe(self, net: CpuMLP, rows: tuple[int, int]) -> None:
        arrays = zip(
            net.weights,
            net.biases,
            net.weight_grads,
            net.bias_grads,
            self.outputs,
            self.input_grads,
            strict=True,
        )
        self.layers = (_Layer * len(net.weights))(
            *(_Layer(parts[0].shape[1], parts[0].shape[2], *map(_address, parts)) for parts in arrays)
        )
        self.net = _Net(
            net.native.sgemm,
            net.native.sgemv,
            rows[0],
            rows[1],
            len(net.weights),
            self.layers,
            _address(net.grad_flat),
            net.grad_flat.size,
        )
