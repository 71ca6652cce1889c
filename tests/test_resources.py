"""What a job asks a cluster for (resources.py), and how the rules ask it."""

from __future__ import annotations

from concrete_study import model
from concrete_study.resources import BASE_MB, peer_size, request, train_size, weights
from concrete_study.runs import Run


def train_request(*size, attempt=1):
    return request(*train_size(*size), attempt)


def test_weights_are_those_of_the_study_s_mlp():
    for inputs, hidden in ((8, (128, 64)), (11, (128, 128, 128, 128)), (64, (16,))):
        net = model.network(Run(hidden=hidden), inputs)
        assert weights(inputs, hidden) == model.parameter_count(net)


def test_a_retried_job_asks_for_attempt_times_as_much():
    first = train_request(50_000, 8, (128, 64), 5, 300)
    for attempt in (2, 3):
        again = train_request(50_000, 8, (128, 64), 5, 300, attempt=attempt)
        assert again.mem_mb == attempt * first.mem_mb and again.runtime == attempt * first.runtime


def test_the_request_follows_rows_inputs_widths_seeds_and_epochs():
    small = train_request(1_000, 8, (128, 64), 5, 300)
    assert small.mem_mb > BASE_MB and small.runtime >= 10
    for bigger in (
        train_request(50_000, 8, (128, 64), 5, 300),
        train_request(1_000_000, 32, (128, 64), 5, 300),
        train_request(1_000_000, 8, (128, 128, 128, 128), 5, 300),
        train_request(1_000_000, 8, (128, 64), 20, 300),
    ):
        assert bigger.mem_mb > small.mem_mb
    long = train_request(200_000, 8, (128, 64), 5, 3000)
    assert long.runtime > train_request(200_000, 8, (128, 64), 5, 300).runtime


def test_the_peer_s_request_follows_rows_splits_grid_and_rounds():
    benchmark = {
        "splits": 20,
        "peer": {"grid": {"num_leaves": [7, 15], "min_child_samples": [5]}, "max_rounds": 500},
    }
    small = request(*peer_size(1_000, 8, benchmark, 5))
    assert request(*peer_size(1_000_000, 8, benchmark, 5)).mem_mb > small.mem_mb
    longer = {**benchmark, "peer": {**benchmark["peer"], "max_rounds": 50_000}}
    assert (
        request(*peer_size(100_000, 8, longer, 5)).runtime
        > request(*peer_size(100_000, 8, benchmark, 5)).runtime
    )
