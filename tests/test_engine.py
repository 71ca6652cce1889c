"""The stacked training engine: exact per-seed training, determinism, divergence as data."""

import gc
import time

import numpy as np
import pytest
import torch
from conftest import concrete

from concrete_study import model
from concrete_study.data import fit_and_scale, split_indices
from concrete_study.engine import train
from concrete_study.model import analytic_parameter_count
from concrete_study.runs import Run


def sequential(n_inputs: int, hidden: list[int]) -> torch.nn.Sequential:
    """The original study's model, as torch writes it: the reference the network is held to."""
    widths = [n_inputs, *hidden, 1]
    layers = []
    for fan_in, fan_out in zip(widths, widths[1:], strict=False):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


@pytest.fixture(scope="module")
def arrays():
    dataset, table = concrete()
    split = split_indices(len(table), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
    return fit_and_scale(table, split, "train", dataset)[1]


def small(**kw):
    return Run(**({"hidden": [16, 8], "epochs": 5} | kw))


def fit(arrays, run, seeds):
    return train(run, seeds, arrays["X_train"], arrays["y_train"], arrays["X_val"], arrays["y_val"])


@pytest.mark.parametrize("hidden, count", [([128, 64], 9473), ([128] * 4, 50817), ([32], 321)])
def test_parameter_counts_match_the_original(hidden, count):
    assert analytic_parameter_count(8, hidden) == count
    net = model.network(Run(hidden=hidden), 8)
    assert model.parameter_count(net) == sum(p.numel() for p in model.initial(net, 0)) == count


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_initialisation_is_pytorch_default_of_the_same_seed(dropout):
    net = model.network(Run(hidden=[128, 64], dropout=dropout), 8)
    ours = model.state_dict(net, model.initial(net, seed=3))
    torch.manual_seed(3)
    reference = sequential(8, [128, 64])
    linears = [m for m in reference if isinstance(m, torch.nn.Linear)]
    for key, layer in zip(model.linear_keys(net), linears, strict=True):
        assert torch.equal(ours[key], layer.weight)
        assert torch.equal(ours[key.replace("weight", "bias")], layer.bias)
        bound = 1 / np.sqrt(layer.in_features)
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound


def test_same_run_twice_is_identical(arrays):
    a = fit(arrays, small(), [0, 1])
    b = fit(arrays, small(), [0, 1])
    np.testing.assert_array_equal(a.train_mse, b.train_mse)
    np.testing.assert_array_equal(a.val_mse, b.val_mse)
    for sa, sb in zip(a.state_dicts, b.state_dicts, strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_leaves_the_garbage_collector_as_it_found_it(arrays):
    fit(arrays, small(), [0])
    assert gc.get_freeze_count() == 0 and gc.isenabled()


@pytest.mark.parametrize("optimizer, weight_decay", [("adam", 0.0), ("sgd_momentum", 0.0), ("adam", 0.1)])
def test_stacked_seed_equals_that_seed_trained_alone(arrays, optimizer, weight_decay):
    """The summed loss gives each replica exactly its own gradient; decay is element-wise too; and
    its parameters' updates are the same bytes wherever they lie in the optimizer's buffer (its
    padding to whole units): in stacks of 1, 2 and 3 replicas, [6] puts them in each unit's tail."""
    decay = weight_decay
    run = small(
        hidden=[6], optimizer=optimizer, momentum=0.9, scheduler="step", step_size=2, weight_decay=decay
    )
    alone = fit(arrays, run, [3])
    for seeds in ([3, 5], [1, 5, 3]):
        stacked, k = fit(arrays, run, seeds), seeds.index(3)
        np.testing.assert_array_equal(stacked.val_predictions[k], alone.val_predictions[0])
        np.testing.assert_array_equal(stacked.train_mse[:, k], alone.train_mse[:, 0])
        for key, value in alone.state_dicts[0].items():
            assert torch.equal(stacked.state_dicts[k][key], value), key
    assert not np.allclose(stacked.val_mse[:, 0], stacked.val_mse[:, 2])


def test_weight_decay_shrinks_the_weights(arrays):
    def norm(result):
        return sum(float(w.norm()) for w in result.state_dicts[0].values())

    plain, decayed = fit(arrays, small(epochs=20), [0]), fit(arrays, small(epochs=20, weight_decay=0.5), [0])
    assert norm(decayed) < 0.95 * norm(plain)


def test_history_records_schedule_gradients_and_weights(arrays):
    run = small(scheduler="step", step_size=2, gamma=0.5)
    start = time.perf_counter()
    r = fit(arrays, run, [0, 1])
    wall = time.perf_counter() - start
    np.testing.assert_allclose(r.lr, [0.01, 0.01, 0.005, 0.005, 0.0025])
    assert r.train_mse.shape == r.val_mse.shape == (5, 2)
    assert r.val_mse[-1].max() < r.val_mse[0].min()
    assert r.grad_last_epoch.shape == (3, 2) and (r.grad_last_epoch > 0).all()
    # time_sec is the cumulative time of the stack in seconds: rising, and within the call's time.
    assert r.time_sec[0] > 0 and np.all(np.diff(r.time_sec) > 0) and r.time_sec[-1] <= wall
    reference = sequential(8, [16, 8])
    reference.load_state_dict(r.state_dicts[1])
    pred = reference(torch.as_tensor(arrays["X_val"])).squeeze(-1).detach().numpy()
    np.testing.assert_allclose(pred, r.val_predictions[1], rtol=1e-5, atol=1e-4)
    cosine = fit(arrays, small(scheduler="cosine", epochs=4), [0])
    np.testing.assert_allclose(cosine.lr, 0.005 * (1 + np.cos(np.pi * np.arange(4) / 4)))


def test_divergence_is_recorded_not_raised(arrays):
    r = fit(arrays, small(optimizer="sgd", lr=5.0), [0, 1])
    assert all(d is not None for d in r.diverged_at)
    first = min(r.diverged_at)
    assert np.isnan(r.val_mse[first - 1 :]).all()


def test_one_diverging_seed_leaves_the_others_as_if_trained_alone(arrays):
    """At this learning rate seed 3 blows up in its first epoch and seed 0 does not: the dead
    replica is masked out of the loss and its neighbour trains exactly as it would alone."""
    run = small(optimizer="sgd", lr=0.15)
    stacked = fit(arrays, run, [0, 3])
    alone = fit(arrays, run, [0])
    assert stacked.diverged_at == [None, 1]
    assert np.isnan(stacked.val_mse[:, 1]).all() and np.isnan(stacked.train_mse[:, 1]).all()
    assert np.isfinite(stacked.val_mse[:, 0]).all()
    np.testing.assert_allclose(stacked.val_mse[:, 0], alone.val_mse[:, 0], rtol=1e-5)
    np.testing.assert_allclose(stacked.train_mse[:, 0], alone.train_mse[:, 0], rtol=1e-5)


def test_standardised_target_reports_mpa(arrays):
    r = fit(arrays, small(standardize_target=True, epochs=20), [0])
    assert 20 < r.val_mse[-1, 0] < 200


@pytest.mark.parametrize("own_rows", [False, True])
def test_weights_of_a_standardised_target_predict_mpa(arrays, own_rows):
    """The target's scaling is folded into the output layer: a saved model predicts MPa."""
    a, run = arrays, small(standardize_target=True, epochs=6)
    data = (a["X_train"], a["y_train"], a["X_val"], a["y_val"])
    if own_rows:  # two replicas with their own (here: shifted) targets
        data = (np.stack([a["X_train"]] * 2), np.stack([a["y_train"], a["y_train"] + 50]), *data[2:])
        data = (*data[:2], np.stack([a["X_val"]] * 2), np.stack([a["y_val"], a["y_val"] + 50]))
    r = train(run, [0, 1], *data, snapshot_epochs=(3,))
    for sds, preds in ((r.state_dicts, r.val_predictions), (r.state_dicts_at[3], r.val_predictions_at[3])):
        for sd, expected in zip(sds, preds, strict=True):
            reference = sequential(8, [16, 8])
            reference.load_state_dict(sd)
            got = reference(torch.as_tensor(a["X_val"])).squeeze(-1).detach().numpy()
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
    if own_rows:
        assert r.val_predictions[1].mean() - r.val_predictions[0].mean() == pytest.approx(50, abs=5)


def test_replicas_with_their_own_rows_train_as_if_alone(arrays):
    """Splits stack like seeds: each replica reads only its own rows."""
    run = small()
    x, y = arrays["X_train"], arrays["y_train"]
    half = len(x) // 2
    rows = [np.arange(half), np.arange(half, 2 * half)]
    stacked = train(
        run,
        [0, 1],
        np.stack([x[r] for r in rows]),
        np.stack([y[r] for r in rows]),
        np.stack([arrays["X_val"]] * 2),
        np.stack([arrays["y_val"]] * 2),
    )
    for k, seed in enumerate([0, 1]):
        alone = train(run, [seed], x[rows[k]], y[rows[k]], arrays["X_val"], arrays["y_val"])
        np.testing.assert_allclose(stacked.val_mse[:, k], alone.val_mse[:, 0], rtol=1e-5)
    assert not np.allclose(stacked.val_mse[:, 0], fit(arrays, run, [0]).val_mse[:, 0])


def test_snapshots_are_the_shorter_runs(arrays):
    """With a schedule that ignores the total, epoch 3 of a 5-epoch run is the 3-epoch run."""
    a = arrays
    long = train(small(), [0, 1], a["X_train"], a["y_train"], a["X_val"], a["y_val"], snapshot_epochs=(3,))
    short = fit(arrays, small(epochs=3), [0, 1])
    assert set(long.state_dicts_at) == {3} and set(long.val_predictions_at) == {3}
    np.testing.assert_array_equal(long.val_predictions_at[3], short.val_predictions)
    for a, b in zip(long.state_dicts_at[3], short.state_dicts, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_validated_only_at_the_snapshots_the_same_snapshots(arrays):
    """The protocol validates after its members' epochs only: the same predictions and weights
    there, and the validation loss of those epochs and the last alone."""
    a = arrays
    data = (a["X_train"], a["y_train"], a["X_val"], a["y_val"])
    every = train(small(), [0, 1], *data, snapshot_epochs=(2,))
    some = train(small(), [0, 1], *data, snapshot_epochs=(2,), every_epoch_validated=False)
    np.testing.assert_array_equal(some.val_predictions_at[2], every.val_predictions_at[2])
    np.testing.assert_array_equal(some.val_predictions, every.val_predictions)
    np.testing.assert_array_equal(some.train_mse, every.train_mse)
    assert np.isfinite(some.val_mse[[1, 4]]).all() and np.isnan(some.val_mse[[0, 2, 3]]).all()
    np.testing.assert_array_equal(some.val_mse[[1, 4]], every.val_mse[[1, 4]])


def test_without_validation_rows_only_the_training_loss_is_recorded(arrays):
    a = arrays
    r = train(small(), [0, 1], a["X_train"], a["y_train"], None, None, snapshot_epochs=(2,))
    assert np.isnan(r.val_mse).all() and np.isfinite(r.train_mse).all()
    assert r.diverged_at == [None, None] and len(r.state_dicts_at[2]) == 2
    same = fit(arrays, small(), [0, 1])  # validation only watches: the weights are the same
    assert all(
        torch.equal(x[k], y[k]) for x, y in zip(r.state_dicts, same.state_dicts, strict=True) for k in x
    )
