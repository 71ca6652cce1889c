"""Figure 9: the learning rate of each scheduler run per epoch, read from its training history."""

import pandas as pd

from concrete_study import plotting
from concrete_study.io import write_csv
from concrete_study.logs import log_to
from concrete_study.runs import run_id
from concrete_study.tables import read_histories


def main(histories, runs, job_of, png, data) -> None:
    by_job = read_histories(histories)
    rows, schedules = [], []
    for rid, run in sorted(runs.items()):
        h = by_job[job_of[rid]]
        lr = h[(h["seed"] == h["seed"].min()) & (h["epoch"] <= run["epochs"])].sort_values("epoch")
        rows += [{"run": rid, "epoch": e, "lr": v} for e, v in zip(lr["epoch"], lr["lr"], strict=True)]
        if rid == run_id(run):
            schedules.append((rid, lr["lr"].to_numpy()))
    plotting.learning_rate_schedules(schedules, png)
    write_csv(data, pd.DataFrame(rows))


with log_to(snakemake.log[0]):
    main(
        snakemake.input.histories,
        snakemake.params.runs,
        snakemake.params.job_of,
        snakemake.output.png,
        snakemake.output.data,
    )
