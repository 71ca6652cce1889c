"""The exact pass (cpu_pass.c) against numpy's reference of each layer (reference_pass.py): the
same bytes, every prediction and every gradient, NaN, infinity and the zeros' signs included;
torch's kernels where the C pass is not built."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ENV, ROOT
from reference_pass import ReferencePass, cos_sin_2pi

from concrete_study import cpu_pass, model
from concrete_study.layers import EVALUATION, Step
from concrete_study.runs import Run

R = 3


def both_passes(run: Run, x: np.ndarray, seed=0, broken=False, unit=False, step=EVALUATION):
    """Predictions and gradient buffer of the C pass and of the reference, from one set of values
    (with `unit`, an embedding's frequencies all 1: its angles are then the inputs themselves)."""
    net = model.network(run, x.shape[2])
    size = R * model.parameter_count(net)
    rng = np.random.default_rng(seed)
    values = (rng.standard_normal(size) * 0.5).astype(np.float32)
    if broken:  # a diverged replica: infinities and NaN among its weights
        values[rng.choice(size, 40, replace=False)] = rng.choice([np.inf, -np.inf, np.nan], 40)
    if unit:
        values[: R * x.shape[2] * 8] = 1
    out = []
    for make in (
        lambda v, g: cpu_pass.CpuNet(cpu_pass.native(), v, g, net, R),
        lambda v, g: ReferencePass(v, g, net, R),
    ):
        grads = np.full(size, np.float32(7), dtype=np.float32)  # every gradient is written over
        pas = make(values.copy(), grads)
        pred, cache = pas.forward(x, step)
        if step.training or not run.dropout:  # a gradient is of a training pass
            gradient = np.random.default_rng(seed + 1).standard_normal(pred.shape).astype(np.float32)
            gradient[0, 0] = -0.0
            pas.backward(cache, gradient)
        out.append((pred.tobytes(), grads.tobytes()))
    return out


needs_c = pytest.mark.skipif(cpu_pass.native() is None, reason="no C compiler here")
TRAINING = Step(training=True, seeds=(0, 1, 2), number=7)


@needs_c
@pytest.mark.parametrize(
    "hidden, rows",
    [([128, 64], 64), ([128, 64], 17), ([32] * 12, 64), ([12] * 4, 155), ([64, 64, 32], 2), ([5], 33)],
)
@pytest.mark.parametrize("broken", [False, True])
def test_the_c_pass_computes_the_references_bytes(hidden, rows, broken):
    x = np.random.default_rng(5).standard_normal((R, rows, 8)).astype(np.float32)
    native, reference = both_passes(Run(hidden=hidden), x, broken=broken)
    assert native == reference


@needs_c
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("embedding", ["none", "periodic"])
def test_dropout_in_training_and_out_of_it(training, embedding):
    x = np.random.default_rng(9).standard_normal((R, 40, 8)).astype(np.float32)
    run = Run(hidden=[32, 16], dropout=0.3, embedding=embedding)
    step = TRAINING if training else Step()
    native, reference = both_passes(run, x, step=step)
    assert native == reference
    # Out of training dropout is the identity: the same predictions as the net without it.
    plain, _ = both_passes(Run(hidden=[32, 16], embedding=embedding), x, step=step)
    assert (native[0] == plain[0]) != training


def test_dropout_masks_drop_the_rate_and_depend_on_seed_step_and_layer():
    net = model.network(Run(hidden=[64, 64], dropout=0.2), 8)
    first, second = (layer for layer in net if layer.kernel == "dropout")
    masks = {}
    for name, layer, step in [
        ("a", first, Step(True, (0, 1), 5)),
        ("b", first, Step(True, (1,), 5)),  # seed 1 alone
        ("c", first, Step(True, (0, 1), 6)),
        ("d", second, Step(True, (0, 1), 5)),
    ]:
        masks[name] = torch.ones(len(step.seeds), 500, 64)
        masks[name] = layer.forward(masks[name], [], step).numpy()
    a = masks["a"]
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.8)}
    assert (a == 0).mean() == pytest.approx(0.2, abs=0.01)
    assert np.array_equal(a[1], masks["b"][0])  # a replica's mask is its own, in a stack of any size
    assert not np.array_equal(a[0], a[1])
    for other in "cd":  # another step, another layer: another mask
        assert (a != masks[other]).mean() > 0.25


@needs_c
def test_shared_rows_a_batch_slice_and_an_embedding_too():
    # Validation rows: one array for every replica (stride 0), as the engine passes them.
    shared = np.broadcast_to(np.random.default_rng(6).standard_normal((40, 8)).astype(np.float32), (R, 40, 8))
    native, reference = both_passes(Run(hidden=[16, 8]), shared)
    assert native == reference
    # A batch: a slice of each replica's shuffled rows.
    epoch = np.random.default_rng(7).standard_normal((R, 100, 8)).astype(np.float32)
    native, reference = both_passes(Run(hidden=[16, 8]), epoch[:, 64:])
    assert native == reference
    # Below an embedding the C pass computes the first layer's input gradient too.
    native, reference = both_passes(Run(hidden=[32, 16], embedding="periodic"), epoch[:, :64])
    assert native == reference


@needs_c
@pytest.mark.parametrize("broken", [False, True])
def test_the_embeddings_angles_round_as_numpys_rint(broken):
    # Halves round to even, -0 stays -0, values from 2^23 on are whole already; inf and NaN.
    special = [-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 0.49999997, 8388607.5, 8388609.0, 3e7, 1e30]
    special += [-1e30, np.inf, -np.inf, np.nan, 1e-40, -3.25, 0.75]
    x = np.resize(np.array(special, dtype=np.float32), (R, 40, 8)).astype(np.float32)
    run = Run(hidden=[16], embedding="periodic")
    native, reference = both_passes(run, x, broken=broken, unit=True)
    assert native == reference


def test_cos_sin_match_libm_over_many_periods():
    t = np.linspace(-40, 40, 400_001, dtype=np.float32)
    cos, sin = cos_sin_2pi(t[:, None]).T
    exact = 2 * np.pi * t.astype(np.float64)
    assert np.abs(cos - np.cos(exact)).max() < 1e-6
    assert np.abs(sin - np.sin(exact)).max() < 1e-6


@needs_c
def test_one_row_and_one_input_are_computed_too():
    # numpy's matmul takes other BLAS routines for one row: close to the reference, not its bytes.
    for shape in ((R, 1, 8), (R, 20, 1)):
        x = np.random.default_rng(8).standard_normal(shape).astype(np.float32)
        net = model.network(Run(hidden=[16, 8]), shape[2])
        values = np.random.default_rng(0).standard_normal(R * model.parameter_count(net)).astype(np.float32)
        preds = [
            make(values.copy(), np.zeros_like(values), net, R).forward(x)[0]
            for make in (lambda *a: cpu_pass.CpuNet(cpu_pass.native(), *a), ReferencePass)
        ]
        np.testing.assert_allclose(*preds, rtol=1e-5, atol=1e-5)


def test_without_a_c_compiler_training_warns_once_and_takes_torchs_kernels(tmp_path):
    """Without the C pass the network runs in torch, autograd differentiating each layer's
    definition: the path a GPU takes, here on the CPU. Other bytes, the same training."""
    code = (
        "import json, numpy as np\n"
        "from concrete_study.engine import train\n"
        "from concrete_study.runs import Run\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.normal(size=(100, 8)).astype(np.float32); y = x.sum(1).astype(np.float32)\n"
        "runs = [Run(hidden=[16, 8], epochs=5), Run(hidden=[16, 8], epochs=5, dropout=0.2),\n"
        "        Run(hidden=[16, 8], epochs=5, embedding='periodic', standardize_target=True)]\n"
        "print(json.dumps([train(r, [0, 1], x, y, x[:20], y[:20]).val_mse.tolist() for r in runs]))\n"
    )
    runs = {}
    for label, compiler in (("c", os.environ.get("CC", "cc")), ("torch", "false")):
        env = {**ENV, "CC": compiler, "XDG_CACHE_HOME": str(tmp_path / label)}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        runs[label] = (np.array(json.loads(proc.stdout.splitlines()[-1])), proc.stderr)
    np.testing.assert_allclose(runs["torch"][0], runs["c"][0], rtol=2e-3)
    if cpu_pass.native() is not None:  # here the compiler works: the first run compiled and used it
        assert "warning: cpu_pass.c" not in runs["c"][1]
        assert list((tmp_path / "c" / "concrete-study").glob("cpu_pass-*.so"))
        assert not np.array_equal(runs["torch"][0], runs["c"][0])  # each took its own path
    warnings = [line for line in runs["torch"][1].splitlines() if "cpu_pass.c not compiled" in line]
    assert len(warnings) == 1 and "torch's own kernels" in warnings[0]


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
