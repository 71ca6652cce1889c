"""Task 6 and the predict command: metrics, the model file, safe loading, clear errors."""

import io
import json
import pickle
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import BIN, ROOT, concrete, poisoned

from concrete_study.data import split_indices
from concrete_study.errors import ModelFileError
from concrete_study.evaluation import Interval, bootstrap_mse_interval, interval_coverage, regression_metrics
from concrete_study.final import final_model
from concrete_study.model import EMBEDDING_KEYS
from concrete_study.model_file import MODEL_FORMAT, load_model
from concrete_study.runs import Run

pytestmark = pytest.mark.slow
SMOKE_PEER = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())["benchmark"]["peer"]


def predict(*args, cwd):
    return subprocess.run(
        [str(BIN / "concrete-study"), "predict", *args], cwd=cwd, capture_output=True, text=True
    )


def test_metrics_are_complete_and_consistent(smoke_study):
    final = smoke_study / "results" / "smoke" / "final"
    m = json.loads((final / "metrics.json").read_text())
    test = pd.read_csv(final / "test_predictions.csv")
    assert len(test) == m["test_rows"] == 155 and m["fit_rows"] == 875
    assert m["test_mse"] == pytest.approx(np.mean((test["predicted"] - test["strength"]) ** 2))
    assert m["test_rmse"] == pytest.approx(np.sqrt(m["test_mse"]))
    lo, hi = m["test_mse_ci95"]
    assert lo < m["test_mse"] < hi
    assert set(m["per_seed"]) == {"seed_0", "seed_1"}
    assert m["test_mse"] < m["baseline_mean_test_mse"]
    assert 200 < m["baseline_mean_test_mse"] < 400
    imp = pd.read_csv(final / "importance.csv")
    # One importance row per raw input: a derived input moves with the raw ones it comes from.
    assert set(imp["feature"]) == set(concrete()[0].features) and imp["mse_increase_mean"].iloc[0] > 0
    # The smoke study serves the equal blend: its parts alone are scored on the same rows.
    assert m["blend"]["weights"] == [0.5, 0.5] and m["blend"]["peer_seeds"] == 2
    assert m["blend"]["peer_params"] in [
        {"min_child_samples": c, "num_leaves": 7} for c in SMOKE_PEER["grid"]["min_child_samples"]
    ]
    # The candidate was chosen on the val rows: the embedded one, which the benchmark's splits chose too.
    assert (
        m["chosen"]["candidate"].endswith("_periodic_f0.1-1_snap6_e12") and m["chosen"]["inner_val_mse"] > 0
    )
    assert m["network"]["mse"] != m["peer"]["mse"] and m["run"]["inputs"] == "derived"
    assert m["run"]["embedding"] == "periodic" and m["run"]["frequency_scales"] == [0.1, 1.0]
    # Each seed keeps its snapshot beside its last weights; the scales reached the engine: each
    # input's second half of frequencies, drawn 10 times wider, still spreads wider after training.
    assert m["run"]["snapshots"] == [6]
    for members in torch.load(final / "model.pt", weights_only=True)["state_dicts"].values():
        assert len(members) == 2 and not torch.equal(members[0]["0.weight"], members[1]["0.weight"])
        for weights in members:
            slow, fast = weights[EMBEDDING_KEYS[0]].abs().chunk(2, dim=1)
            assert fast.mean() > 4 * slow.mean()
    blended = (m["network"]["rmse"] + m["peer"]["rmse"]) / 2
    assert m["test_rmse"] <= blended + 1e-9  # a blend's RMSE is at most the blend of the RMSEs


def test_model_file_predicts_what_the_workflow_recorded(smoke_study, tmp_path):
    final = smoke_study / "results" / "smoke" / "final"
    model = load_model(final / "model.pt")
    assert model.content["dataset"]["features"][0] == "cement" and model.content["seeds"] == [0, 1]
    assert model.content["description"].startswith("predicts strength (MPa) of the table 'concrete' from")
    recorded = json.loads((final / "metrics.json").read_text())
    assert model.content["metrics"]["test_mse"] == recorded["test_mse"]
    test = pd.read_csv(final / "test_predictions.csv")
    mixtures = tmp_path / "mixtures.csv"
    test.drop(columns=["predicted", "seed_0", "seed_1"]).to_csv(mixtures, index=False)
    proc = predict("--model", str(final / "model.pt"), str(mixtures), "-o", "out.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(scored["predicted_strength"], test["predicted"], rtol=1e-5)
    assert (scored["predicted_strength_std"] > 0).all()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.drop(columns=["age"]), "missing column 'age'"),
        (lambda t: t.assign(colour="grey"), "unexpected column 'colour'"),
        (lambda t: t.assign(water=["a lot"] + list(t["water"][1:])), "column 'water' row 1: non-numeric"),
        (lambda t: t.assign(slag=[-1.0] + list(t["slag"][1:])), "column 'slag' row 1: -1 is not >= 0"),
        (lambda t: t.assign(cement=[None] + list(t["cement"][1:])), "column 'cement' row 1: missing value"),
    ],
)
def test_predict_rejects_bad_rows_in_one_line(smoke_study, tmp_path, edit, message):
    clean = pd.read_csv(smoke_study / "results" / "smoke" / "data" / "clean.csv").head(5)
    bad = tmp_path / "bad.csv"
    edit(clean).to_csv(bad, index=False)
    proc = predict("--model", str(smoke_study / "results/smoke/final/model.pt"), str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert message in proc.stderr and str(bad) in proc.stderr


def test_predict_refuses_a_ragged_row_and_an_undefined_input_and_writes_nothing(smoke_study, tmp_path):
    model = str(smoke_study / "results/smoke/final/model.pt")
    header = "cement,slag,fly_ash,water,superplasticizer,coarse_aggregate,fine_aggregate,age\n"
    ragged = tmp_path / "ragged.csv"  # one field more than the header, as a new user typed it
    ragged.write_text(header + "540,0,0,162,2.5,1040,676,28\n540,0,0,162,2.5,1040,676,28,9\n")
    proc = predict("--model", model, str(ragged), "-o", "out.csv", cwd=tmp_path)
    assert proc.returncode == 2 and not (tmp_path / "out.csv").exists()
    assert proc.stderr.strip() == (
        f"concrete-study: error: {ragged}: row 2 has 9 fields, the header 8: "
        "every row needs one value per column"
    )
    # The smoke study's final model reads water/cement: undefined without cement.
    no_cement = tmp_path / "no_cement.csv"
    no_cement.write_text(header + "540,0,0,162,2.5,1040,676,28\n0,200,100,180,0,1000,700,28\n")
    (tmp_path / "out.csv").write_text("kept\n")
    proc = predict("--model", model, str(no_cement), "-o", "out.csv", cwd=tmp_path)
    assert proc.returncode == 2 and (tmp_path / "out.csv").read_text() == "kept\n"
    assert proc.stderr.strip() == (
        f"concrete-study: error: {no_cement}: derived input 'water_cement': row 2: 'water / cement' "
        "is undefined there (inf)"
    )


def test_a_model_averages_its_members_and_an_older_file_is_refused(smoke_study, tmp_path):
    """Each seed predicts the mean of its members' predictions; a file of another format is
    refused in one line that says to rebuild it."""
    good = smoke_study / "results" / "smoke" / "final" / "model.pt"
    mixtures = pd.read_csv(smoke_study / "results" / "smoke" / "data" / "clean.csv").head(6)
    both = load_model(good).served.ensemble.predict(mixtures)
    data = torch.load(good, weights_only=True)
    alone = []
    for k in (0, 1):
        one = data | {"state_dicts": {seed: [members[k]] for seed, members in data["state_dicts"].items()}}
        torch.save(one, tmp_path / "one.pt")
        alone.append(load_model(tmp_path / "one.pt").served.ensemble.predict(mixtures))
    np.testing.assert_allclose(both, np.mean(alone, axis=0), rtol=1e-6)
    assert not np.allclose(alone[0], alone[1], rtol=1e-3)
    torch.save(data | {"format": "concrete-study-model/7"}, tmp_path / "older.pt")
    with pytest.raises(ModelFileError) as refused:
        load_model(tmp_path / "older.pt")
    assert str(refused.value) == (
        f"{tmp_path / 'older.pt'}: format concrete-study-model/7, this version reads {MODEL_FORMAT}: "
        "rebuild it (snakemake results/final/model.pt)"
    )


def test_an_interval_never_goes_below_zero(smoke_study):
    model = load_model(smoke_study / "results" / "smoke" / "final" / "model.pt")
    mixtures = pd.read_csv(smoke_study / "results" / "smoke" / "data" / "clean.csv").head(4)
    model.interval = Interval(0.9, "fixed", 1000.0)  # wider than any strength
    scored = model.predict_table(mixtures, "mixtures")
    assert (scored["lower_strength"] == 0).all() and (scored["upper_strength"] > 1000).all()
    np.testing.assert_allclose(scored["upper_strength"], scored["predicted_strength"] + 1000.0)


class Payload:
    """An object whose unpickling would run code: weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_tampered_model_files_are_refused(smoke_study, tmp_path):
    good = smoke_study / "results" / "smoke" / "final" / "model.pt"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "concrete-study-model/2", "x": Payload()}, evil)
    with pytest.raises(ModelFileError, match="refused, not a safe model file"):
        load_model(evil)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(pickle.dumps([1, 2]) + b"junk")
    with pytest.raises(ModelFileError, match="refused|not a model file"):
        load_model(garbage)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ModelFileError):
        load_model(truncated)
    data = torch.load(good, weights_only=True)
    data["state_dicts"]["seed_0"][1]["0.weight"] = torch.zeros(3, 3)
    damaged = tmp_path / "damaged.pt"
    torch.save(data, damaged)
    with pytest.raises(ModelFileError, match="damaged model file"):
        load_model(damaged)
    data = torch.load(good, weights_only=True)
    data["state_dicts"]["seed_0"] = data["state_dicts"]["seed_0"][0]  # a dict, not a list of members
    torch.save(data, damaged)
    with pytest.raises(ModelFileError, match="damaged model file \\(a seed's weights are not a list"):
        load_model(damaged)
    data = torch.load(good, weights_only=True)
    data["peer"]["boosters"][1] = "tree\nnot a booster"
    torch.save(data, damaged)
    with pytest.raises(ModelFileError, match="damaged model file \\(the peer's boosters"):
        load_model(damaged)
    # Derived inputs come from the file: an expression that could run code is refused.
    data = torch.load(good, weights_only=True)
    data["dataset"]["derived"]["water_cement"] = "__import__('os').system('echo pwned')"
    torch.save(data, damaged)
    with pytest.raises(ModelFileError, match="refused: derived input 'water_cement': .* may be called"):
        load_model(damaged)
    proc = predict("--model", str(evil), "x.csv", cwd=tmp_path)
    assert proc.returncode == 2 and "refused" in proc.stderr and "pwned" not in proc.stdout


def test_interval_coverage_counts_the_rows_inside_their_bounds():
    strength = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    lower = np.array([0.0, 2.0, 3.5, 3.0, 6.0])
    upper = np.array([1.0, 3.0, 4.0, 4.0, 7.0])
    # Inside: 1 (on its upper bound), 2 (on its lower bound), 4; outside: 3 (below), 5 (below).
    assert interval_coverage(strength, lower, upper) == 3 / 5
    # As pandas columns: 2 and 3 on their upper bounds, 1 and 4 above, 5 inside.
    assert interval_coverage(pd.Series(strength), pd.Series(lower - 10), pd.Series(upper - 1)) == 3 / 5


def test_regression_metrics_and_bootstrap():
    true = np.array([1.0, 2.0, 3.0, 4.0])
    m = regression_metrics(true, true + np.array([1.0, -1.0, 1.0, -1.0]))
    assert m == {"mse": 1.0, "rmse": 1.0, "mae": 1.0, "r2": pytest.approx(1 - 1 / 1.25)}
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    noise = rng.normal(size=500)
    lo, hi = bootstrap_mse_interval(y, y + noise, n=500)
    assert lo < np.mean(noise**2) < hi and hi - lo < 0.5


def test_predict_reads_standard_input(smoke_study):
    clean = pd.read_csv(smoke_study / "results" / "smoke" / "data" / "clean.csv").head(3)
    proc = subprocess.run(
        [
            str(BIN / "concrete-study"),
            "predict",
            "--model",
            str(smoke_study / "results/smoke/final/model.pt"),
            "-",
        ],
        input=clean.drop(columns=["strength"]).to_csv(index=False),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_csv(io.StringIO(proc.stdout))
    assert len(scored) == 3 and scored["predicted_strength"].between(0, 150).all()


def test_predict_gives_the_calibrated_interval_and_flags_inputs_out_of_range(smoke_study, tmp_path):
    final = smoke_study / "results" / "smoke" / "final"
    m = json.loads((final / "metrics.json").read_text())
    interval = m["interval"]
    assert interval["level"] == 0.9 and interval["calibration_rows"] == 154  # the val rows
    assert interval["width"] == "spread" and interval["scale"] > 0 and interval["offset"] > 0
    clean = pd.read_csv(smoke_study / "results" / "smoke" / "data" / "clean.csv").head(3)
    mixtures = clean.drop(columns=["strength"])
    mixtures.loc[1, "cement"] = 5400.0  # far outside the data, as a new user tried
    mixtures.loc[2, ["water", "age"]] = [0.5, 3650]
    path = tmp_path / "mixtures.csv"
    mixtures.to_csv(path, index=False)
    proc = predict("--model", str(final / "model.pt"), str(path), "-o", "out.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == (
        "concrete-study: warning: 2 of 3 rows have inputs outside the range seen in training "
        "(column out_of_range): their predictions are extrapolations"
    )
    scored = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(scored["out_of_range"]) == ["", "cement", "water,age"]
    # Each end is the prediction ∓ the half-width, or 0 MPa where that would be below: the
    # mixture with ten times the data's cement is predicted below 0, an extrapolation. The
    # half-width follows how much the seeds of the network and of the peer disagree.
    net, peer = load_model(final / "model.pt").served.parts(mixtures)
    spread = np.sqrt(net.var(axis=0, ddof=1) + peer.var(axis=0, ddof=1) + (net.mean(0) - peer.mean(0)) ** 2)
    pred, half = scored["predicted_strength"], interval["scale"] * (spread + interval["offset"])
    assert len(set(half)) == 3
    np.testing.assert_allclose(scored["lower_strength"], (pred - half).clip(lower=0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(scored["upper_strength"], (pred + half).clip(lower=0), rtol=1e-5, atol=1e-9)


def test_no_test_row_reaches_the_final_choice_its_calibration_or_its_scaler():
    """The final model is the benchmark's protocol on the study's split: change its test rows
    beyond recognition and the choice, the interval and the model file's weights stay the same,
    while the test metrics move."""
    dataset, table = concrete()
    split = split_indices(len(table), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
    candidates = {"a": Run(hidden=[4], epochs=3), "b": Run(hidden=[6], epochs=3, snapshots=(2,))}
    peer = {"grid": {"num_leaves": [4, 7]}, "learning_rate": 0.2, "max_rounds": 30, "early_stopping": 5}

    def final(t):
        return final_model(candidates, [0, 1], t, dataset, split, "cpu", peer, 0.9, n_boot=20, repeats=1)

    before, after = final(table), final(poisoned(table, split["test"]))
    assert before.metrics["chosen"] == after.metrics["chosen"]
    assert before.metrics["chosen"]["candidate"] in candidates
    assert before.bundle["interval"]["scale"] == after.bundle["interval"]["scale"]
    assert before.bundle["peer"] == after.bundle["peer"] and before.bundle["scaler"] == after.bundle["scaler"]
    for seed, members in before.bundle["state_dicts"].items():
        for mine, theirs in zip(members, after.bundle["state_dicts"][seed], strict=True):
            assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert before.metrics["test_mse"] != after.metrics["test_mse"]
    assert before.metrics["fit_rows"] == len(split["train"]) + len(split["val"])
