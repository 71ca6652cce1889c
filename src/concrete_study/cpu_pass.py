"""The exact CPU pass: forward and backward through a network's layers (model.network), every
replica of a stack, without autograd, in C (cpu_pass.c: one kernel per layer type), compiled on
first use.

Matrix products go to numpy's OpenBLAS, on numpy views of the engine's flat buffer and of its
gradient. Not torch's MKL: MKL's kernels differ between Intel and AMD CPUs in every mode but
MKL_CBWR=COMPATIBLE, which is 3-4 times slower at these sizes, while OpenBLAS pinned to its AVX2
kernels (numerics.py) gives the same bytes on every x86-64 CPU with AVX2 at full speed. Not
autograd either: the backward pass writes each gradient straight into its place in the buffer,
by the same float operations autograd would run, and one call runs a whole pass, where a layer
of torch or numpy costs several calls that each cost as much as its arithmetic at these sizes.
Where no C compiler builds it, `native()` is None and the network runs in torch (model.forward).
The kernels are held to a numpy reference of each layer in tests/reference_pass.py.
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

from concrete_study.layers import (
    COS,
    EVALUATION,
    SIN,
    Dropout,
    Linear,
    PeriodicEmbedding,
    ReLU,
    Step,
    dropout_keys,
    unit_hashes,
)
from concrete_study.model import per_layer
from concrete_study.numerics import openblas_library

SOURCE = Path(__file__).with_suffix(".c")
# IEEE arithmetic as written: no fast-math, no fused multiply-adds, no CPU-specific code. Without
# traps (floating-point exceptions are not looked at), loops with a comparison are vectorised.
COMPILE = ["-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math"]
FLOAT = np.dtype(np.float32).itemsize


class _Layer(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int64),
        ("fan_in", ctypes.c_int64),
        ("fan_out", ctypes.c_int64),
        ("relu", ctypes.c_int64),
        ("params", ctypes.c_void_p * 3),
        ("grads", ctypes.c_void_p * 3),
        ("output", ctypes.c_void_p),
        ("input_grad", ctypes.c_void_p),
        ("keys", ctypes.c_void_p),
        ("unit_hashes", ctypes.c_void_p),
        ("threshold", ctypes.c_int64),
        ("scale", ctypes.c_float),
        ("mask", ctypes.c_void_p),
        ("k", ctypes.c_int64),
        ("d", ctypes.c_int64),
        ("coefficients", ctypes.c_void_p * 2),
        ("work", ctypes.c_void_p * 6),
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


# cpu_pass.c's kernel of each layer type (its enum).
KERNELS = {"linear": 0, "relu": 1, "dropout": 2, "periodic": 3}


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
            f"concrete-study: warning: cpu_pass.c not compiled or not loadable ({reason}): the "
            "network runs in torch's own kernels, whose bytes differ from CPU to CPU",
            file=sys.stderr,
        )
        return None
    lib.cpu_forward.argtypes = [
        ctypes.POINTER(_Net), ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int,
    ]  # fmt: skip
    lib.cpu_backward.argtypes = [
        ctypes.POINTER(_Net), ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
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


class CpuNet:
    """The exact pass of the network `net` (model.network) over one flat buffer of its replicas'
    parameters (values and gradient: numpy arrays), each layer's (R, *shape) in turn."""

    def __init__(
        self, lib: ctypes.CDLL, values: np.ndarray, grads: np.ndarray, net: list, replicas: int
    ) -> None:
        self.lib, self.net, self.replicas = lib, net, replicas
        self.grad_flat = grads
        shapes = [(replicas, *shape) for layer in net for shape in layer.shapes()]
        self.values, self.grads = views(values, shapes), views(grads, shapes)
        self._workspaces: dict[tuple[int, ...], _Workspace] = {}

    def forward(self, x: np.ndarray, step: Step = EVALUATION) -> tuple[np.ndarray, tuple]:
        """x (R, rows, inputs) -> predictions (R, rows), and what `backward` needs."""
        if not _rows_readable(x):
            x = np.ascontiguousarray(x, dtype=np.float32)
        ws = self._workspaces.get(x.shape)
        if ws is None:
            ws = self._workspaces[x.shape] = _Workspace(self, x.shape)
        ws.set_step(step)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging replica is data
            self.lib.cpu_forward(ws.struct, _address(x), *_strides(x), int(step.training))
        return ws.outputs[-1][..., 0].copy(), (ws, x)

    def backward(self, cache, grad: np.ndarray) -> None:
        """Every parameter's gradient from the predictions' gradient `grad` (R, rows), into the buffer."""
        ws, x = cache
        grad = np.ascontiguousarray(grad, dtype=np.float32)
        self.lib.cpu_backward(ws.struct, _address(x), *_strides(x), _address(grad))


def _strides(x: np.ndarray) -> tuple[int, int]:
    """x's replica and row strides, in floats."""
    return x.strides[0] // FLOAT, x.strides[1] // FLOAT


def _rows_readable(x: np.ndarray) -> bool:
    """Whether the C pass reads x (R, rows, inputs) as it is: float32, each row contiguous (each
    replica's at any stride)."""
    return (
        x.dtype == np.float32 and x.strides[2] == FLOAT and x.strides[0] % FLOAT == x.strides[1] % FLOAT == 0
    )


# The embedding kernel's polynomial coefficients (layers.SIN, layers.COS), kept alive.
_COEFFICIENTS = [np.array(c, dtype=np.float32) for c in (SIN, COS)]


class _Workspace:
    """The arrays that the passes of one input shape write into, kept from step to step, and
    their description for the C pass: each layer's output and its input's gradient. A ReLU and a
    dropout compute their input's gradient in place; a linear layer's input gradient takes one of
    two arrays of its shape, never the one that holds its output's gradient."""

    def __init__(self, owner: CpuNet, shape: tuple[int, ...]) -> None:
        self.replicas, self.rows = shape[:2]
        net, self._arrays = owner.net, []  # the arrays kept alive: the C structs hold their addresses
        self.outputs = []
        for layer in net:
            self.outputs.append(self.outputs[-1] if isinstance(layer, ReLU) else self._new(layer.width))
        input_grads = self._input_gradients(net)
        self.layers = (_Layer * len(net))()
        self.dropouts: list[tuple[int, Dropout]] = []
        parts = zip(per_layer(net, owner.values), per_layer(net, owner.grads), strict=True)
        for place, ((layer, values), (_, grads)) in enumerate(parts):
            d = self.layers[place]
            d.kind = KERNELS[layer.kernel]
            d.fan_in = net[place - 1].width if place else shape[2]
            d.fan_out = layer.width
            following = net[place + 1] if place + 1 < len(net) else None
            d.relu = int(isinstance(layer, Linear) and isinstance(following, ReLU))
            d.params[: len(values)] = [_address(v) for v in values]
            d.grads[: len(grads)] = [_address(g) for g in grads]
            d.output = _address(self.outputs[place])
            d.input_grad = None if input_grads[place] is None else _address(input_grads[place])
            if isinstance(layer, Dropout):
                d.threshold, d.scale = layer.threshold, layer.scale
                d.mask = _address(self._new(layer.width))
                self._arrays.append(unit_hashes(self.rows * layer.width))
                d.unit_hashes = _address(self._arrays[-1])
                self.dropouts.append((place, layer))
            if isinstance(layer, PeriodicEmbedding):
                self._describe_embedding(d, layer)
        self._keys = np.empty(0, np.uint32)
        self.struct = _Net(
            owner.lib.sgemm,
            owner.lib.sgemv,
            self.replicas,
            self.rows,
            len(net),
            self.layers,
            _address(owner.grad_flat),
            owner.grad_flat.size,
        )

    def _new(self, *dims) -> np.ndarray:
        self._arrays.append(np.empty((self.replicas, self.rows, *dims), np.float32))
        return self._arrays[-1]

    def _input_gradients(self, net: list) -> list[np.ndarray | None]:
        """Each layer's input gradient array, where a layer below it has parameters."""
        input_grads: list[np.ndarray | None] = [None] * len(net)
        pairs: dict[int, list[np.ndarray]] = {}
        above = None  # the gradient of the current layer's output (the last's: the caller's)
        for i in range(len(net) - 1, 0, -1):
            if not any(lower.shapes() for lower in net[:i]):
                break
            fan_in = net[i - 1].width
            if isinstance(net[i], Linear):
                pair = pairs.setdefault(fan_in, [self._new(fan_in), self._new(fan_in)])
                input_grads[i] = pair[0] if pair[0] is not above else pair[1]
            else:
                input_grads[i] = above
            above = input_grads[i]
        return input_grads

    def _describe_embedding(self, d: _Layer, layer: PeriodicEmbedding) -> None:
        k, width = layer.shapes()[0][1], layer.shapes()[2][1]
        d.k, d.d = k, width
        d.coefficients[:] = [_address(c) for c in _COEFFICIENTS]
        rows = self.rows
        work = [
            np.empty((self.replicas, layer.inputs, 2 * k, rows), np.float32),  # periodic
            *(np.empty((rows, width), np.float32) for _ in "zg"),
            np.empty((2 * k, rows), np.float32),  # g_periodic
            *(np.empty(rows, np.float32) for _ in "tc"),  # g_t, column
        ]
        self._arrays += work
        d.work[:] = [_address(a) for a in work]

    def set_step(self, step: Step) -> None:
        """Each dropout layer's keys for this step (read only when training)."""
        if not step.training or not self.dropouts:
            return
        self._keys = dropout_keys(step.seeds, step.number, [layer.index for _, layer in self.dropouts])
        for (place, _), keys in zip(self.dropouts, self._keys, strict=True):
            self.layers[place].keys = _address(keys)
