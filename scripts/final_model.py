"""Task 6: the benchmark's protocol on the study's split, tested once."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from pathlib import Path

import torch

from concrete_study.data import read_clean, read_study_split
from concrete_study.dataset import Dataset
from concrete_study.files import remove_temporaries, save_torch, write_csv, write_json
from concrete_study.final import final_model
from concrete_study.logs import log_to, measured
from concrete_study.runs import Run


def main(
    clean, dataset, split_files, candidates, peer, seeds, device, threads, level, n_boot, repeats, out
) -> None:
    torch.set_num_threads(threads)
    remove_temporaries(Path(out.model).parent)
    table, split = read_clean(clean), read_study_split(split_files)
    final = final_model(candidates, seeds, table, dataset, split, device, peer, level, n_boot, repeats)
    write_csv(out.test_predictions, final.test_predictions)
    write_csv(out.fit_predictions, final.fit_predictions)
    write_csv(out.importance, final.importance)
    save_torch(out.model, final.bundle)
    write_json(out.metrics, final.metrics)
    m = final.metrics
    print(
        f"{m['chosen']['candidate']}: test RMSE {m['test_rmse']:.3f}, MSE {m['test_mse']:.3f} "
        f"(95% CI {m['test_mse_ci95'][0]:.2f}-{m['test_mse_ci95'][1]:.2f}), "
        f"single seeds {m['test_mse_mean_single_seed']:.3f}"
    )


with log_to(snakemake.log.messages), measured(snakemake.log.benchmark):
    main(
        snakemake.input.clean,
        Dataset.from_params(snakemake.params.dataset),
        {p: snakemake.input[p] for p in ("train", "val", "test")},
        {name: Run(**params) for name, params in snakemake.params.candidates.items()},
        snakemake.params.peer,
        snakemake.params.seeds,
        snakemake.params.device,
        snakemake.threads,
        snakemake.params.level,
        snakemake.params.bootstrap,
        snakemake.params.repeats,
        snakemake.output,
    )
