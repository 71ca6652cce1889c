"""The standard benchmark: the split loader, the conformal quantile, no test row leaks, outputs."""

import dataclasses
import json
import math
import shutil
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ENV, ROOT, SMOKE, SPLITS, copy_repo, poisoned, snakemake

from concrete_study.benchmark import (
    calibrated,
    interval_predictions,
    paired_difference,
    per_split_scores,
    retrain_and_test,
    summarize_benchmark,
)
from concrete_study.errors import DataError
from concrete_study.evaluation import Blend, Interval, conformal_quantile, seed_spread
from concrete_study.peer import grid_points, peer_split
from concrete_study.protocol import inner_predictions, read_inner, select, write_inner
from concrete_study.runs import Run
from concrete_study.splits import (
    check_md5s,
    inner_split,
    read_published_split,
    read_splits,
    split_groups,
    splits_subset,
)

MD5 = SPLITS.parent.parent / "config" / "uci_splits.md5"


def test_fresh_splits_for_the_check_beyond_the_published_ones_read_and_check(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from other_splits import write_splits

    write_splits(tmp_path / "splits", tmp_path / "md5", 3, 1030, 103, seed=7)
    check_md5s(tmp_path / "splits", tmp_path / "md5", 3)
    fresh = read_splits(tmp_path / "splits", 3, 1030)
    published = read_splits(SPLITS, 3, 1030)
    for new, old in zip(fresh, published, strict=True):
        assert len(new["train"]) == 927 and len(new["test"]) == 103
        assert set(new["test"]) != set(old["test"])


@pytest.mark.slow
def test_the_check_on_fresh_splits_runs_the_benchmark_on_them(tmp_path):
    """benchmarks/other_splits.py end to end, on the smoke study: its report and its summary."""
    out = tmp_path / "summary.json"
    script = ROOT / "benchmarks" / "other_splits.py"
    cmd = [
        sys.executable,
        str(script),
        "--configfile",
        "config/smoke.yaml",
        "--splits",
        "2",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["splits"] == 2 and summary["test_rows"] == 2 * 103
    assert proc.stdout.startswith("2 random 90/10 splits, seed 2026") and "network minus peer" in proc.stdout


def test_the_published_splits_read_and_check():
    splits = read_splits(SPLITS, 20, 1030)
    assert all(len(s["train"]) == 927 and len(s["test"]) == 103 for s in splits)
    check_md5s(SPLITS, MD5, 20)
    inner = inner_split(splits[0]["train"], 0.2, 0)
    assert len(inner["val"]) == 185 and len(inner["train"]) == 742
    assert sorted(np.concatenate([inner["train"], inner["val"]])) == sorted(splits[0]["train"])


@pytest.fixture
def split_dir(tmp_path):
    for part in ("train", "test"):
        shutil.copy2(SPLITS / f"index_{part}_0.txt", tmp_path)
    return tmp_path


def _rewrite(path, edit):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


@pytest.mark.parametrize(
    "part, edit, message",
    [
        ("train", None, "index_train_0.txt: split file not found"),
        ("test", lambda ls: ls[:-1] + ["12x"], "index_test_0.txt: line 103: '12x' is not a row position"),
        ("test", lambda ls: ls[:-1] + ["1030"], "row 1030 is out of range 0..1029"),
        ("test", lambda ls: ls + [ls[0]], "row {first} is listed twice"),
        ("train", lambda ls: ls[:-1], "covers 1029 of 1030 rows"),
        ("train", lambda ls: ls[:-1] + ["{test0}"], "is also in index_train_0.txt"),
    ],
)
def test_a_bad_split_file_is_one_clear_error(split_dir, part, edit, message):
    path = split_dir / f"index_{part}_0.txt"
    first = path.read_text().split()[0]
    test0 = (split_dir / "index_test_0.txt").read_text().split()[0]
    if edit is None:
        path.unlink()
    else:
        _rewrite(path, lambda ls: [x.replace("{test0}", test0) for x in edit(ls)])
    with pytest.raises(DataError, match=message.replace("{first}", first).replace("(", r"\(")):
        read_published_split(split_dir, 0, 1030)


def test_a_changed_split_file_fails_its_md5(split_dir):
    _rewrite(split_dir / "index_test_0.txt", lambda ls: ls[1:] + ls[:1])  # same rows, reordered
    with pytest.raises(DataError, match=r"index_test_0.txt: md5 .* not the published split"):
        check_md5s(split_dir, MD5, 1)


def test_conformal_quantile_takes_the_finite_sample_rank():
    residuals = np.array([9.0, -1, 2, 8, 3, 7, 4, 6, 5])  # |r| = 1..9
    assert conformal_quantile(residuals, 0.9) == 9.0  # ceil(10 * 0.9) = 9th smallest
    assert conformal_quantile(residuals, 0.5) == 5.0  # ceil(10 * 0.5) = 5th
    assert conformal_quantile(residuals, 0.8) == 8.0
    assert math.isinf(conformal_quantile(residuals[:5], 0.9))  # ceil(6 * 0.9) = 6 > 5


def test_conformal_intervals_cover_at_the_level_on_exchangeable_data():
    rng = np.random.default_rng(0)
    n, trials, level = 50, 4000, 0.9
    calibration = rng.standard_t(3, size=(trials, n))
    new = rng.standard_t(3, size=trials)
    q = np.array([conformal_quantile(c, level) for c in calibration])
    coverage = float(np.mean(np.abs(new) <= q))
    # At least the level, and at most level + 1/(n+1) up to the Monte Carlo error (about 0.005).
    assert level - 0.01 <= coverage <= level + 1 / (n + 1) + 0.015


def _one_split(index):
    split = read_published_split(SPLITS, index, 1030)
    inner = inner_split(split["train"], 0.2, index)
    return {
        "train": split["train"][None],
        "test": split["test"][None],
        "inner_train": inner["train"][None],
        "inner_val": inner["val"][None],
    }


@pytest.mark.parametrize("index", [0, 7])
def test_no_test_row_reaches_the_scaler_the_selection_or_the_calibration(table, dataset, index):
    """Change the split's test rows beyond recognition: the choice and its interval do not move,
    and the retrained model's predictions on the other test rows do not either."""
    splits = _one_split(index)
    seeds = [0, 1]
    candidates = {"a": Run(hidden=[4], epochs=4), "b": Run(hidden=[6], epochs=4)}

    def choose(t):
        inner = {
            name: inner_predictions(r, seeds, t, dataset, splits, "cpu") for name, r in candidates.items()
        }
        return inner, select(inner, candidates)

    (inner, chosen), (inner_p, chosen_p) = choose(table), choose(poisoned(table, splits["test"][0]))
    assert chosen == chosen_p
    for name in candidates:
        np.testing.assert_array_equal(inner[name]["predictions"], inner_p[name]["predictions"])

    run = candidates[chosen[0]["candidate"]]
    before = retrain_and_test(run, seeds, table, dataset, splits, chosen, "cpu")
    first = splits["test"][0, :1]  # only this test row changes: the others' predictions stay
    after = retrain_and_test(run, seeds, poisoned(table, first), dataset, splits, chosen, "cpu")
    others = ~before["row"].isin(first)
    np.testing.assert_array_equal(before.loc[others, "predicted"], after.loc[others, "predicted"])
    assert not np.allclose(before.loc[~others, "predicted"], after.loc[~others, "predicted"])


def test_split_groups_cover_every_split_once_in_order():
    assert split_groups(20, 2) == [list(range(10)), list(range(10, 20))]
    assert split_groups(5, 2) == [[0, 1, 2], [3, 4]]
    assert split_groups(2, 3) == [[0], [1]]  # never an empty job


@pytest.mark.parametrize("embedding", ["none", "periodic"])
def test_a_candidate_in_groups_of_splits_predicts_what_it_does_in_one_job(
    table, dataset, tmp_path, embedding
):
    """How a candidate's splits are grouped into jobs changes which replicas share a process, not
    a single byte."""
    both = {key: np.concatenate([_one_split(2)[key], _one_split(5)[key]]) for key in _one_split(2)}
    run = Run(hidden=[6], epochs=4, inputs="derived", embedding=embedding)
    seeds = [0, 1]
    whole = inner_predictions(run, seeds, table, dataset, both, "cpu")
    paths = []
    for numbers in split_groups(2, 2):
        part = splits_subset(both, numbers)
        paths.append(tmp_path / f"group_{numbers[0]}.npz")
        write_inner(paths[-1], numbers, inner_predictions(run, seeds, table, dataset, part, "cpu"))
    joined = read_inner(paths, ["a"])["a"]
    for key in ("predictions", "y_val"):
        np.testing.assert_array_equal(joined[key], whole[key])
    with pytest.raises(ValueError, match="a: the inner files hold splits \\[1, 0\\]"):
        read_inner(paths[::-1], ["a"])
    chosen = [{"split": 0}, {"split": 1}]
    together = retrain_and_test(run, seeds, table, dataset, both, chosen, "cpu")
    apart = [retrain_and_test(run, seeds, table, dataset, both, [c], "cpu") for c in chosen]
    pd.testing.assert_frame_equal(together, pd.concat(apart, ignore_index=True))


def test_a_snapshot_candidate_averages_its_trajectory(table, dataset):
    """Each seed of a candidate with snapshots predicts the mean of what the same training
    predicts after each kept epoch; retrained, the same."""
    splits, seeds = _one_split(3), [0, 1]
    plain = Run(hidden=[6], epochs=4, inputs="derived", embedding="periodic")
    snap = dataclasses.replace(plain, snapshots=(2, 3))
    budgets = [plain.with_epochs(e) for e in (2, 3, 4)]
    trajectory = [inner_predictions(r, seeds, table, dataset, splits, "cpu")["predictions"] for r in budgets]
    averaged = inner_predictions(snap, seeds, table, dataset, splits, "cpu")["predictions"]
    expected = np.mean([t.astype(np.float32) for t in trajectory], axis=0)
    np.testing.assert_allclose(averaged, expected, rtol=1e-6)
    assert not np.allclose(averaged, trajectory[-1], rtol=1e-3)
    retrained = retrain_and_test(snap, seeds, table, dataset, splits, [{"split": 0}], "cpu")
    alone = [retrain_and_test(r, seeds, table, dataset, splits, [{"split": 0}], "cpu") for r in budgets]
    for column in ("seed_0", "seed_1", "predicted"):
        mean = np.mean([b[column].to_numpy() for b in alone], axis=0)
        np.testing.assert_allclose(retrained[column], mean, rtol=1e-5)


PEER = {
    "grid": {"num_leaves": [4, 15], "min_child_samples": [5]},
    "learning_rate": 0.2,
    "max_rounds": 60,
    "early_stopping": 10,
}


def test_the_peer_is_tuned_on_inner_rows_only_and_gives_the_same_bytes_again(table, dataset):
    splits = _one_split(3)
    choice, before = peer_split(PEER, [0, 1], table, dataset, splits, 0)
    assert choice["params"] in grid_points(PEER) and len(choice["rounds"]) == 2
    assert np.shape(choice["inner_val_predictions"]) == (2, len(splits["inner_val"][0]))
    assert list(before.columns[:4]) == [
        "split",
        "row",
        "strength",
        "predicted",
    ]
    np.testing.assert_allclose(before["predicted"], before[["seed_0", "seed_1"]].mean(axis=1))
    assert np.sqrt(np.mean((before["predicted"] - before["strength"]) ** 2)) < 8  # it learned something
    # The test rows changed beyond recognition: the same choice, the same predictions of the rest.
    first = splits["test"][0, :1]
    choice_p, _ = peer_split(PEER, [0, 1], poisoned(table, splits["test"][0]), dataset, splits, 0)
    assert choice_p == choice
    _, again = peer_split(PEER, [0, 1], poisoned(table, first), dataset, splits, 0)
    others = ~before["row"].isin(first)
    np.testing.assert_array_equal(before.loc[others, "predicted"], again.loc[others, "predicted"])


def test_the_paired_difference_by_hand():
    network = pd.DataFrame({"rmse": [4.0, 5.0, 3.0]})
    peer = pd.DataFrame({"rmse": [4.5, 4.0, 3.5]})  # differences -0.5, +1.0, -0.5
    paired = paired_difference(network, peer)
    assert paired["rmse_difference_mean"] == pytest.approx(0.0)
    assert paired["rmse_difference_se"] == pytest.approx(math.sqrt(0.75) / math.sqrt(3))
    assert (paired["network_wins"], paired["peer_wins"]) == (2, 1)


def test_the_equal_blend_by_hand():
    network, peer = np.array([[12.0, 22.0], [14.0, 22.0]]), np.array([[4.0, 14.0], [6.0, 14.0]])
    np.testing.assert_array_equal(Blend(2).combine([network, peer]), [[8.0, 18.0], [10.0, 18.0]])
    np.testing.assert_array_equal(Blend(1).combine([network]), network)  # the network alone
    with pytest.raises(ValueError, match="a blend of 2 parts was given 1"):
        Blend(2).combine([network])


def test_the_spread_and_the_interval_by_hand():
    # Two seeds of a network (variance 2) and of a peer (variance 0) on row 0, means 3 apart.
    network, peer = np.array([[1.0, 4.0], [3.0, 4.0]]), np.array([[5.0, 4.0], [5.0, 4.0]])
    np.testing.assert_allclose(seed_spread(network), [math.sqrt(2), 0.0])
    np.testing.assert_allclose(seed_spread(network, peer), [math.sqrt(2 + 0 + 9), 0.0])
    # What calibrates them on rows of strength 3 and 4: the residuals of the means (2 and 4), or of
    # the equal blend's (3.5 and 4), and those spreads.
    residuals, spread = Blend(1).calibration(np.array([3.0, 4.0]), [network])
    np.testing.assert_allclose(residuals, [1.0, 0.0])
    np.testing.assert_allclose(spread, seed_spread(network))
    residuals, spread = Blend(2).calibration(np.array([3.0, 4.0]), [network, peer])
    np.testing.assert_allclose(residuals, [-0.5, 0.0])
    np.testing.assert_allclose(spread, seed_spread(network, peer))
    # Scores |r| / (spread + median spread 1): 0.5, 1, 0.75; at level 0.5 the 2nd smallest.
    interval = Interval.calibrate([1.0, -2.0, 3.0], np.array([1.0, 1.0, 3.0]), 0.5)
    assert (interval.width, interval.scale, interval.offset) == ("spread", 0.75, 1.0)
    np.testing.assert_allclose(interval.half_width([0.0, 3.0]), [0.75, 3.0])
    assert Interval.from_dict(interval.to_dict()) == interval
    # One seed and no peer: no spread to follow, so the interval is fixed: |r|'s 2nd smallest.
    fixed = Interval.calibrate([1.0, -2.0, 3.0], np.zeros(3), 0.5)
    assert (fixed.width, fixed.scale, fixed.half_width([0.0, 3.0])) == ("fixed", 2.0, 2.0)


def test_scores_and_summary_of_a_tiny_benchmark_by_hand(dataset):
    """Two splits of two test rows, two seeds: every number below is worked out by hand."""
    predictions = pd.DataFrame(
        {
            "split": [0, 0, 1, 1],
            "row": [5, 3, 1, 2],
            "strength": [10.0, 20.0, 30.0, 40.0],
            "predicted": [11.0, 18.0, 30.0, 43.0],  # errors 1, -2 | 0, 3
            "seed_0": [12.0, 18.0, 31.0, 43.0],  # errors 2, -2 | 1, 3
            "seed_1": [10.0, 18.0, 29.0, 43.0],  # errors 0, -2 | -1, 3
            "spread": [1.0, 3.0, 0.0, 2.0],
        }
    )
    chosen = [
        {"split": 0, "candidate": "a", "epochs": 4, "inner_val_mse": 1.0},
        {"split": 1, "candidate": "a", "epochs": 8, "inner_val_mse": 2.0},
    ]
    calibration = {
        0: (np.array([1.0, -2.0, 3.0]), np.array([1.0, 1.0, 3.0])),  # scale 0.75, offset 1
        1: (np.array([0.0, 4.0, -1.0]), np.array([2.0, 2.0, 2.0])),  # scores 0, 1, 0.25: scale 0.25, offset 2
    }
    chosen, predictions = calibrated(predictions, chosen, calibration, 0.5)
    assert list(predictions["half_width"]) == [1.5, 3.0, 0.5, 1.0]
    per_split = per_split_scores(predictions, chosen, [0, 1], dataset)
    assert list(per_split["mse"]) == [2.5, 4.5] and list(per_split["mae"]) == [1.5, 1.5]
    assert list(per_split["single_mse"]) == [(4 + 4 + 0 + 4) / 4, (1 + 9 + 1 + 9) / 4]
    assert list(per_split["coverage"]) == [1.0, 0.5]  # |1| <= 1.5, |-2| <= 3 | |3| > 1
    assert list(per_split["width"]) == [4.5, 1.5]
    assert list(per_split["interval_scale"]) == [0.75, 0.25] and list(per_split["interval_offset"]) == [1, 2]
    intervals = interval_predictions(predictions, dataset)
    assert list(intervals["row"]) == [3, 5, 1, 2] and list(intervals["lower"]) == [15.0, 9.5, 29.5, 42.0]
    summary = summarize_benchmark(per_split, intervals, 0.5, "strength")
    rmse = [math.sqrt(2.5), math.sqrt(4.5)]
    assert summary["rmse_mean"] == pytest.approx(sum(rmse) / 2)
    assert summary["rmse_se"] == pytest.approx(abs(rmse[0] - rmse[1]) / 2)  # sd of two / sqrt(2)
    assert summary["coverage"] == 3 / 4 and summary["width_mean"] == 3.0 and summary["test_rows"] == 4
    assert summary["coverage_split_sd"] == pytest.approx(math.sqrt(0.125))
    assert (summary["coverage_split_min"], summary["coverage_split_max"]) == (0.5, 1.0)
    assert summary["chosen"] == [
        {"candidate": "a", "epochs": 4, "splits": 1},
        {"candidate": "a", "epochs": 8, "splits": 1},
    ]


@pytest.mark.slow
def test_smoke_benchmark_outputs(smoke_study):
    bench = smoke_study / "results" / "smoke" / "benchmark"
    config = yaml.safe_load((smoke_study / "config" / "smoke.yaml").read_text())
    n_splits = config["benchmark"]["splits"]
    summary = json.loads((bench / "summary.json").read_text())
    per_split = pd.read_csv(bench / "per_split.csv")
    predictions = pd.read_csv(bench / "test_predictions.csv")
    assert summary["splits"] == n_splits == len(per_split) and summary["level"] == 0.9
    assert list(predictions.columns) == ["split", "row", "strength", "predicted", "lower", "upper"]
    assert len(predictions) == summary["test_rows"] == 103 * n_splits
    for s in range(n_splits):
        rows = np.loadtxt(smoke_study / "data" / "uci_splits" / f"index_test_{s}.txt", dtype=int)
        assert sorted(predictions[predictions["split"] == s]["row"]) == sorted(rows)
    assert (predictions["lower"] < predictions["predicted"]).all()
    assert (predictions["predicted"] < predictions["upper"]).all()
    rmse0 = np.sqrt(np.mean((predictions[predictions["split"] == 0].eval("predicted - strength")) ** 2))
    assert per_split.loc[0, "rmse"] == pytest.approx(rmse0)
    # Each split chose one of the candidates on its inner rows, at that candidate's own epochs.
    names = set(per_split["candidate"])
    assert names <= {p.name for p in (bench / "inner").iterdir()} and set(per_split["epochs"]) == {12}
    table = (smoke_study / "results" / "smoke" / "tables" / "benchmark.md").read_text()
    assert "This project" in table and "MC dropout, grid search | 4.82 ± 0.16" in table
    assert "| TabPFNv2 | 3.97 | one 2/3 : 1/3 split | no |" in table
    # The peer: tuned per split, its scores beside the network's, the paired difference.
    assert table.index("## Measured here") < table.index("LightGBM peer") < table.index("## Published")
    peer = summary["peer"]
    assert peer["splits"] == n_splits and peer["test_rows"] == 103 * n_splits and 0.5 < peer["coverage"] <= 1
    assert per_split["peer_rmse"].mean() == pytest.approx(peer["rmse_mean"])
    np.testing.assert_allclose(per_split["rmse_difference"], per_split["rmse"] - per_split["peer_rmse"])
    wins = (per_split["rmse_difference"] < 0).sum()
    assert summary["paired"]["network_wins"] == wins and summary["paired"]["peer_wins"] == n_splits - wins
    # The grid's keys in sorted order, whatever their order in the config.
    assert set(per_split["peer_params"]) <= {
        "min_child_samples=5 num_leaves=7",
        "min_child_samples=10 num_leaves=7",
    }
    assert "Network minus peer, split by split" in table
    # The equal blend: its test predictions are the mean of the two parts'.
    network = pd.concat(pd.read_csv(p) for p in (bench / "retrain").rglob("group_*.csv"))
    for s in range(n_splits):
        ours = network[network["split"] == s].set_index("row")["predicted"]
        theirs = pd.read_csv(bench / "peer" / f"split_{s}.csv").set_index("row")["predicted"]
        blended = (ours + theirs.loc[ours.index]) / 2
        truth = predictions[predictions["split"] == s].set_index("row")["strength"].loc[ours.index]
        rmse = float(np.sqrt(np.mean((blended - truth) ** 2)))
        assert per_split.loc[s, "blend_rmse"] == pytest.approx(rmse)
    assert (predictions["lower"] >= 0).all()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_failed_split_download_is_one_line_and_leaves_no_file(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    shutil.rmtree(repo / "data" / "uci_splits")
    config = yaml.safe_load((repo / "config" / "smoke.yaml").read_text())
    url = f"http://127.0.0.1:{_closed_port()}/{{name}}"
    config["dataset"]["splits_url"] = url
    (repo / "config" / "smoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(repo, "get_data", *SMOKE, check=False)
    assert proc.returncode != 0
    # One line, on the terminal and in the log (which Snakemake shows for a failed job).
    errors = sorted({line for line in proc.stderr.splitlines() if line.startswith("error:")})
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"error: {url.format(name='index_train_0.txt')}: download failed (")
    assert "dvc pull" in errors[0] and "Traceback" not in proc.stderr
    assert not (repo / "data" / "uci_splits").exists() or not any((repo / "data" / "uci_splits").iterdir())
