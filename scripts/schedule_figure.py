"""Figure 9: the learning rate of each scheduler run per epoch, read from its training history."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import pandas as pd

from concrete_study import plotting
from concrete_study.files import write_csv
from concrete_study.logs import log_to
from concrete_study.runs import read_runs


def main(runs, png, data) -> None:
    rows, schedules = [], []
    for rid, _, h in read_runs(runs):  # sorted by run id, as the experiment lists them
        lr = h[h["seed"] == h["seed"].min()]  # the schedule is the same for every seed
        rows += [{"run": rid, "epoch": e, "lr": v} for e, v in zip(lr["epoch"], lr["lr"], strict=True)]
        schedules.append((rid, lr["lr"].to_numpy()))
    plotting.learning_rate_schedules(schedules, png)
    write_csv(data, pd.DataFrame(rows))


with log_to(snakemake.log[0]):
    main(snakemake.params.runs, snakemake.output.png, snakemake.output.data)
