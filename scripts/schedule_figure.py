"""Figure 9: the learning rate of each scheduler run per epoch, read from its training history."""

import pandas as pd

from concrete_study import plotting
from concrete_study.files import write_csv
from concrete_study.logs import log_to
from concrete_study.records import read_histories, run_history


def main(histories, jobs, epochs, job_of, png, data) -> None:
    by_job = read_histories(histories, jobs)
    rows, schedules = [], []
    for rid in sorted(epochs):
        h = run_history(by_job[job_of[rid]], epochs[rid])
        lr = h[h["seed"] == h["seed"].min()]  # the schedule is the same for every seed
        rows += [{"run": rid, "epoch": e, "lr": v} for e, v in zip(lr["epoch"], lr["lr"], strict=True)]
        schedules.append((rid, lr["lr"].to_numpy()))
    plotting.learning_rate_schedules(schedules, png)
    write_csv(data, pd.DataFrame(rows))


with log_to(snakemake.log[0]):
    main(
        snakemake.input.histories,
        snakemake.params.jobs,
        snakemake.params.epochs,
        snakemake.params.job_of,
        snakemake.output.png,
        snakemake.output.data,
    )
