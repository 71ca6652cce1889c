"""One benchmark candidate on every split's inner training rows: inner-validation predictions."""

import numpy as np
import torch

from concrete_study.benchmark import inner_predictions
from concrete_study.data import TARGET, read_clean
from concrete_study.files import atomic_path
from concrete_study.logs import log_to
from concrete_study.runs import Run


def main(clean, splits_file, run, seeds, epochs, device, threads, out) -> None:
    torch.set_num_threads(threads)
    table = read_clean(clean)
    with np.load(splits_file) as npz:
        splits = dict(npz)
    inner = inner_predictions(run, seeds, table, splits, epochs, device)
    y_val = np.stack([table.iloc[rows][TARGET].to_numpy() for rows in splits["inner_val"]])
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, y_val=y_val, **inner)
    print(f"{run.id}: {len(seeds)} seeds x {len(y_val)} splits, budgets {list(inner['epochs'])}")


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        snakemake.input.splits,
        Run(**snakemake.params.run),
        snakemake.params.seeds,
        snakemake.params.epochs,
        snakemake.params.device,
        snakemake.threads,
        snakemake.output.inner,
    )
