"""Train one job: every seed of one configuration, stacked in one process."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import json
from pathlib import Path

import torch

from concrete_study.data import fit_and_scale, read_clean, read_study_split
from concrete_study.dataset import Dataset
from concrete_study.engine import train
from concrete_study.files import remove_temporaries, save_torch, write_json
from concrete_study.logs import log_to, measured
from concrete_study.model import linear_layer_names
from concrete_study.records import (
    job_metrics,
    seed_key,
    write_gradients,
    write_history,
    write_times,
    write_val_predictions,
)
from concrete_study.runs import Run


def main(
    clean: str,
    split_files: dict[str, str],
    dataset: Dataset,
    out,
    time_log: str,
    run: Run,
    seeds: list[int],
    device: str,
    threads: int,
) -> None:
    torch.set_num_threads(threads)
    remove_temporaries(Path(out.metrics).parent)
    print(f"run {json.dumps(run.params())} seeds {seeds} threads {threads}")
    # The inputs the run reads (raw, or raw and derived), scaled on the training rows: the
    # protocol's path too (data.fit_and_scale).
    _, a = fit_and_scale(read_clean(clean), read_study_split(split_files), "train", dataset, run.inputs)
    x_train, y_train, x_val, y_val = (a[k] for k in ("X_train", "y_train", "X_val", "y_val"))
    result = train(run, seeds, x_train, y_train, x_val, y_val, device=device)
    write_history(out.history, result, seeds)
    write_gradients(out.gradients, result.grad_last_epoch, linear_layer_names(run.hidden), seeds)
    write_val_predictions(out.predictions, result.val_predictions, y_val, seeds)
    save_torch(out.weights, {seed_key(s): sd for s, sd in zip(seeds, result.state_dicts, strict=True)})
    write_times(time_log, result)
    write_json(out.metrics, job_metrics(result, run, seeds, threads))  # last: marks a finished job
    print(f"done in {result.time_sec[-1]:.1f} s on {result.device}")


with log_to(snakemake.log.messages), measured(snakemake.log.benchmark):
    main(
        snakemake.input.clean,
        {p: snakemake.input[p] for p in ("train", "val")},
        Dataset.from_params(snakemake.params.dataset),
        snakemake.output,
        snakemake.log.time,
        Run(**snakemake.params.run),
        snakemake.params.seeds,
        snakemake.params.device,
        snakemake.threads,
    )
