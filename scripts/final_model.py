"""Task 6: retrain the chosen configuration on train+val with every seed, test it once."""

from pathlib import Path

import torch

from concrete_study.data import read_clean, read_study_split
from concrete_study.files import remove_temporaries, save_torch, write_csv, write_json
from concrete_study.final import final_model
from concrete_study.logs import log_to
from concrete_study.records import write_history
from concrete_study.runs import Run


def main(clean, split_files, run, seeds, device, threads, n_boot, repeats, level, width, peer, out) -> None:
    torch.set_num_threads(threads)
    remove_temporaries(Path(out.model).parent)
    table, split = read_clean(clean), read_study_split(split_files)
    final = final_model(run, seeds, table, split, device, n_boot, repeats, level, width, peer)
    write_history(out.history, final.result, seeds)
    write_csv(out.test_predictions, final.test_predictions)
    write_csv(out.fit_predictions, final.fit_predictions)
    write_csv(out.importance, final.importance)
    save_torch(out.model, final.bundle)
    write_json(out.metrics, final.metrics)
    m = final.metrics
    print(
        f"test MSE ensemble {m['test_mse']:.3f} (95% CI {m['test_mse_ci95'][0]:.2f}-"
        f"{m['test_mse_ci95'][1]:.2f}), single seeds {m['test_mse_mean_single_seed']:.3f}"
    )


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        {p: snakemake.input[p] for p in ("train", "val", "test")},
        Run(**snakemake.params.run),
        snakemake.params.seeds,
        snakemake.params.device,
        snakemake.threads,
        snakemake.params.bootstrap,
        snakemake.params.repeats,
        snakemake.params.level,
        snakemake.params.width,
        snakemake.params.peer,
        snakemake.output,
    )
