"""The C pass (cpu_pass.c) against numpy's (the reference): the same bytes, every prediction and
every gradient, NaN, infinity and the zeros' signs included; numpy's where the C pass is not built."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
from conftest import ENV, ROOT

from concrete_study import cpu_pass, embedding
from concrete_study.runs import FREQUENCIES, WIDTH

R = 3


def shapes_of(n_inputs: int, hidden: list[int], embedded: bool = False) -> list[tuple[int, ...]]:
    shapes = [(R, *s) for s in embedding.shapes(n_inputs)] if embedded else []
    widths = [n_inputs * WIDTH if embedded else n_inputs, *hidden, 1]
    for fan_in, fan_out in zip(widths, widths[1:], strict=False):
        shapes += [(R, fan_in, fan_out), (R, 1, fan_out)]
    return shapes


def both_passes(shapes, n_embedding: int, x: np.ndarray, seed: int = 0, broken: bool = False, unit=False):
    """Predictions and gradient buffer of the C pass and of numpy's, from one set of values (with
    `unit`, an embedding's frequencies all 1: its angles are then the inputs themselves)."""
    rng = np.random.default_rng(seed)
    size = sum(int(np.prod(s)) for s in shapes)
    values = (rng.standard_normal(size) * 0.5).astype(np.float32)
    if broken:  # a diverged replica: infinities and NaN among its weights
        values[rng.choice(size, 40, replace=False)] = rng.choice([np.inf, -np.inf, np.nan], 40)
    if unit:
        values[: int(np.prod(shapes[0]))] = 1
    out = {}
    for native in (True, False):
        grads = np.full(size, np.float32(7), dtype=np.float32)  # every gradient is written over
        net = cpu_pass.CpuMLP(values.copy(), grads, shapes, n_embedding)
        pred, cache = net.forward(x, use_native=native)
        gradient = np.random.default_rng(seed + 1).standard_normal(pred.shape).astype(np.float32)
        gradient[0, 0] = -0.0
        net.backward(cache, gradient)
        out[native] = (pred.tobytes(), grads.tobytes(), cache[-1])
    return out[True], out[False]


needs_c = pytest.mark.skipif(cpu_pass.native() is None, reason="no C compiler here")


@needs_c
@pytest.mark.parametrize(
    "hidden, rows",
    [([128, 64], 64), ([128, 64], 17), ([32] * 12, 64), ([12] * 4, 155), ([64, 64, 32], 2), ([5], 33)],
)
@pytest.mark.parametrize("broken", [False, True])
def test_the_c_pass_computes_numpys_bytes(hidden, rows, broken):
    x = np.random.default_rng(5).standard_normal((R, rows, 8)).astype(np.float32)
    native, reference = both_passes(shapes_of(8, hidden), 0, x, broken=broken)
    assert native[2] and not reference[2]  # each pass ran as asked
    assert native[:2] == reference[:2]


@needs_c
def test_shared_rows_a_batch_slice_and_an_embedding_too():
    # Validation rows: one array for every replica (stride 0), as the engine passes them.
    shared = np.broadcast_to(np.random.default_rng(6).standard_normal((40, 8)).astype(np.float32), (R, 40, 8))
    native, reference = both_passes(shapes_of(8, [16, 8]), 0, shared)
    assert native[2] and native[:2] == reference[:2]
    # A batch: a slice of each replica's shuffled rows.
    epoch = np.random.default_rng(7).standard_normal((R, 100, 8)).astype(np.float32)
    native, reference = both_passes(shapes_of(8, [16, 8]), 0, epoch[:, 64:])
    assert native[2] and native[:2] == reference[:2]
    # Below an embedding the C pass computes the first layer's input gradient too.
    assert embedding.FREQUENCIES == FREQUENCIES
    native, reference = both_passes(shapes_of(8, [32, 16], embedded=True), 3, epoch[:, :64])
    assert native[2] and native[:2] == reference[:2]


@needs_c
@pytest.mark.parametrize("broken", [False, True])
def test_the_embeddings_angles_round_as_numpys_rint(broken):
    # Halves round to even, -0 stays -0, values from 2^23 on are whole already; inf and NaN.
    special = [-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 0.49999997, 8388607.5, 8388609.0, 3e7, 1e30]
    special += [-1e30, np.inf, -np.inf, np.nan, 1e-40, -3.25, 0.75]
    x = np.resize(np.array(special, dtype=np.float32), (R, 40, 8)).astype(np.float32)
    native, reference = both_passes(shapes_of(8, [16], embedded=True), 3, x, broken=broken, unit=True)
    assert native[2] and native[:2] == reference[:2]


def test_one_row_takes_numpys_pass():
    # numpy's matmul computes a product with one row by other BLAS routines than the C pass calls.
    x = np.random.default_rng(8).standard_normal((R, 1, 8)).astype(np.float32)
    native, reference = both_passes(shapes_of(8, [16, 8]), 0, x)
    assert not native[2] and native[:2] == reference[:2]


def test_without_a_c_compiler_training_warns_once_and_computes_the_same_bytes(tmp_path):
    code = (
        "import hashlib, json, numpy as np\n"
        "from concrete_study.engine import train\n"
        "from concrete_study.runs import Run\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.normal(size=(100, 8)).astype(np.float32); y = x.sum(1).astype(np.float32)\n"
        "r = train(Run(hidden=[16, 8], epochs=3), [0, 1], x, y, x[:20], y[:20])\n"
        "w = b''.join(v.numpy().tobytes() for sd in r.state_dicts for v in sd.values())\n"
        "print(json.dumps(hashlib.md5(w).hexdigest()))\n"
    )
    runs = {}
    for label, compiler in (("c", os.environ.get("CC", "cc")), ("numpy", "false")):
        env = {**ENV, "CC": compiler, "XDG_CACHE_HOME": str(tmp_path / label)}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        runs[label] = (json.loads(proc.stdout.splitlines()[-1]), proc.stderr)
    assert runs["c"][0] == runs["numpy"][0]
    if cpu_pass.native() is not None:  # here the compiler works: the first run compiled and used it
        assert "warning" not in runs["c"][1]
        assert list((tmp_path / "c" / "concrete-study").glob("cpu_pass-*.so"))
    warnings = [line for line in runs["numpy"][1].splitlines() if "cpu_pass.c not compiled" in line]
    assert len(warnings) == 1 and "same bytes" in warnings[0]


def test_a_library_that_does_not_load_is_built_anew(tmp_path):
    """A home shared by nodes that differ: a library under this pass's name that does not load
    here (damaged, or built elsewhere) is compiled again, and training goes on, the same bytes."""
    code = (
        "import numpy as np\n"
        "from concrete_study import cpu_pass\n"
        "from concrete_study.engine import train\n"
        "from concrete_study.runs import Run\n"
        "x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32); y = x.sum(1)\n"
        "r = train(Run(hidden=[8], epochs=2), [0], x, y, x[:10], y[:10])\n"
        "print(cpu_pass.native() is not None, r.state_dicts[0]['0.weight'].sum().item())\n"
    )
    env = {**ENV, "XDG_CACHE_HOME": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    if first.stdout.split()[0] != "True":
        pytest.skip("no C compiler here: nothing to load")
    (library,) = (tmp_path / "concrete-study").glob("cpu_pass-*.so")
    library.write_bytes(b"not a shared library")
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0 and "warning" not in again.stderr, again.stderr
    assert again.stdout == first.stdout and library.read_bytes().startswith(b"\x7fELF")


def test_the_library_is_keyed_by_what_makes_it_loadable():
    cc = shlex.split(os.environ.get("CC", "cc"))
    assert cpu_pass.library_key(cc) == cpu_pass.library_key(cc)
    assert cpu_pass.library_key([*cc, "-m64"]) != cpu_pass.library_key(cc)  # another compiler command
