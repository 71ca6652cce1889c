"""Periodic embeddings: the kernel's gradients against torch's autograd of the layer's definition,
and an embedded net trained by the engine and served by a model's Ensemble."""

import math

import numpy as np
import pytest
import torch
from reference_pass import _embed, _embed_backward

from concrete_study.data import Standardiser
from concrete_study.engine import train
from concrete_study.layers import FREQUENCIES, WIDTH, PeriodicEmbedding, Step
from concrete_study.model import EMBEDDING_KEYS
from concrete_study.model_file import Ensemble
from concrete_study.runs import Run


def stacked_initial(replicas, n_inputs, scales=Run.frequency_scales):
    layer = PeriodicEmbedding(n_inputs, tuple(scales))
    per_replica = [layer.initial(seed) for seed in range(replicas)]
    return [torch.stack(part).numpy() for part in zip(*per_replica, strict=True)]


def test_gradients_equal_autograd_of_the_definition():
    """The reference the kernel is held to (reference_pass.py) computes the definition's values
    and autograd's gradients of them."""
    replicas, rows, n_inputs = 3, 17, 5
    params = stacked_initial(replicas, n_inputs)
    params[0] *= 30  # frequencies far from their start: many periods over the inputs
    x = np.random.default_rng(0).standard_normal((replicas, rows, n_inputs)).astype(np.float32)
    out, saved = _embed(x, *params)
    assert out.shape == (replicas, rows, n_inputs * WIDTH)
    upstream = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    grads = _embed_backward(x, params, out, saved, upstream)

    tensors = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    layer = PeriodicEmbedding(n_inputs, Run.frequency_scales)
    reference = layer.forward(torch.tensor(x, dtype=torch.float64), tensors, Step())
    np.testing.assert_allclose(out, reference.detach().numpy(), atol=2e-5)
    (reference * torch.tensor(upstream, dtype=torch.float64)).sum().backward()
    for got, param in zip(grads, tensors, strict=True):
        assert got.shape == param.shape
        scale = param.grad.abs().max().item()
        np.testing.assert_allclose(got, param.grad.numpy(), atol=1e-4 * scale)


@pytest.fixture(scope="module")
def curve():
    """A strength with a periodic bend in one input: what a plain MLP fits badly in few epochs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 4)).astype(np.float32)
    y = (30 + 3 * x[:, 0] + 5 * np.sin(2 * x[:, 1])).astype(np.float32)
    return x[:240], y[:240], x[240:], y[240:]


def small(**kw):
    return Run(**({"hidden": [16, 8], "epochs": 30, "standardize_target": True} | kw))


def test_embedded_seed_stacked_equals_it_alone_and_learns_the_bend(curve):
    run = small(embedding="periodic")
    stacked, alone = train(run, [0, 4], *curve), train(run, [4], *curve)
    for k in alone.state_dicts[0]:
        assert torch.equal(stacked.state_dicts[1][k], alone.state_dicts[0][k]), k
    assert list(stacked.state_dicts[0])[:3] == list(EMBEDDING_KEYS)
    assert stacked.parameters == 4 * (FREQUENCIES + (2 * FREQUENCIES + 1) * WIDTH) + (
        (4 * WIDTH + 1) * 16 + 17 * 8 + 9
    )
    plain = train(small(), [0, 4], *curve)
    assert stacked.val_mse[-1].max() < 0.5 * plain.val_mse[-1].min()


def test_ensemble_predicts_what_the_engine_validated(curve):
    result = train(small(embedding="periodic", epochs=5), [0, 1], *curve)
    columns = ["a", "b", "c", "d"]
    scaler = Standardiser(columns, [0.0] * 4, [1.0] * 4)
    members = {name: [sd] for name, sd in zip(["s0", "s1"], result.state_dicts, strict=True)}
    run = small(embedding="periodic", epochs=5)
    ensemble = Ensemble(run, scaler, members, {})
    # The target's scale is folded into the output layer: equal but for its rounding.
    np.testing.assert_allclose(
        ensemble.predict_scaled(curve[2]), result.val_predictions, rtol=1e-5, atol=1e-4
    )
    broken = {k: v[:, :3] if k == EMBEDDING_KEYS[0] else v for k, v in result.state_dicts[0].items()}
    with pytest.raises(RuntimeError, match="'embedding' has shapes"):
        Ensemble(run, scaler, {"s0": [broken]}, {})


@pytest.mark.parametrize("scales", [(0.1,), (0.1, 1.0), (0.05, 0.2, 1.0, 4.0)])
def test_initial_frequencies_have_the_chosen_spreads(scales):
    """Each input's frequencies fall into equal groups, one per scale, of that standard deviation."""
    frequencies = stacked_initial(200, 8, scales)[0]  # (replicas, inputs, frequencies)
    groups = np.split(frequencies, len(scales), axis=2)
    for scale, group in zip(scales, groups, strict=True):
        assert group.std() == pytest.approx(scale, rel=0.05)
        assert np.abs(group).max() <= np.float32(scale * math.sqrt(3))
