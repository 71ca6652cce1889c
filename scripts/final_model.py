"""Task 6: retrain the chosen configuration on train+val with every seed, test it once."""

from pathlib import Path

import numpy as np
import torch

from concrete_study.data import FEATURES, TARGET, baselines, read_clean, read_split
from concrete_study.final import (
    Ensemble,
    bootstrap_mse_interval,
    bundle,
    fit_final,
    permutation_importance,
    regression_metrics,
)
from concrete_study.io import remove_temporaries, save_torch, write_csv, write_json
from concrete_study.logs import log_to
from concrete_study.records import write_history


def main(clean, split_files, run, seeds, device, threads, n_boot, repeats, out) -> None:
    torch.set_num_threads(threads)
    remove_temporaries(Path(out.model).parent)
    table = read_clean(clean)
    split = read_split(split_files)
    scaler, result, x_fit, y_fit = fit_final(run, seeds, table, split, device)
    ensemble = Ensemble(
        run["hidden"],
        scaler,
        dict(zip([f"seed_{s}" for s in seeds], result.state_dicts, strict=True)),
    )

    test = table.iloc[split["test"]]
    x_test = scaler.transform(test[FEATURES]).astype(np.float32)
    y_test = test[TARGET].to_numpy(dtype=np.float64)
    per_seed = ensemble.predict_scaled(x_test)  # the one look at the test set
    mean = per_seed.mean(axis=0)
    fit_pred = ensemble.predict_scaled(x_fit).mean(axis=0)

    base = baselines({"X_train": x_fit, "y_train": y_fit, "X_test": x_test, "y_test": y_test})
    ens = regression_metrics(y_test, mean)
    seed_metrics = {f"seed_{s}": regression_metrics(y_test, per_seed[r]) for r, s in enumerate(seeds)}
    lo, hi = bootstrap_mse_interval(y_test, mean, n_boot)
    metrics = {
        "test_mse": ens["mse"],
        "test_rmse": ens["rmse"],
        "test_mae": ens["mae"],
        "test_r2": ens["r2"],
        "test_mse_ci95": [lo, hi],
        "test_mse_mean_single_seed": float(np.mean([m["mse"] for m in seed_metrics.values()])),
        "test_mse_std_single_seed": float(np.std([m["mse"] for m in seed_metrics.values()], ddof=1))
        if len(seeds) > 1
        else 0.0,
        "train_mse": float(np.mean((fit_pred - y_fit) ** 2)),
        "baseline_mean_test_mse": base["mean_mse_test"],
        "baseline_linear_test_mse": base["linear_mse_test"],
        "test_rows": int(len(y_test)),
        "fit_rows": int(len(y_fit)),
        "per_seed": seed_metrics,
        "run": run,
        "seeds": seeds,
        "bootstrap_resamples": n_boot,
    }
    write_history(out.history, result, seeds)
    write_csv(
        out.test_predictions,
        test.assign(predicted=mean, **{f"seed_{s}": per_seed[r] for r, s in enumerate(seeds)}),
    )
    write_csv(
        out.fit_predictions,
        table.iloc[np.concatenate([split["train"], split["val"]])].assign(predicted=fit_pred),
    )
    write_csv(out.importance, permutation_importance(ensemble, x_test, y_test, repeats))
    save_torch(out.model, bundle(run, seeds, scaler, result, metrics))
    write_json(out.metrics, metrics)
    print(
        f"test MSE ensemble {ens['mse']:.3f} (95% CI {lo:.2f}-{hi:.2f}), "
        f"single seeds {metrics['test_mse_mean_single_seed']:.3f}"
    )


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        {p: snakemake.input[p] for p in ("train", "val", "test")},
        snakemake.params.run,
        snakemake.params.seeds,
        snakemake.params.device,
        snakemake.threads,
        snakemake.params.bootstrap,
        snakemake.params.repeats,
        snakemake.output,
    )
