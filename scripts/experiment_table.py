"""One experiment's table: a row per run, mean and std over seeds, as CSV and Markdown; beside its
log, the time per model of each run whose job trained here (the report shows it)."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import os

import pandas as pd

from concrete_study.dataset import Dataset
from concrete_study.files import write_csv, write_text
from concrete_study.logs import log_to
from concrete_study.runs import read_runs
from concrete_study.tables import experiment_table, table_markdown, time_table


def main(runs, times, title, columns, dataset, csv_out, md_out, time_out) -> None:
    table = experiment_table(read_runs(runs), dataset, tuple(columns))
    write_csv(csv_out, table)
    write_text(md_out, table_markdown(table, title, dataset))
    # The runs of an epoch sweep share their job's log: each file is read once.
    read = {path: pd.read_csv(path) for path in set(times.values()) if os.path.exists(path)}
    logs = {rid: read[path] for rid, path in times.items() if path in read}
    write_csv(time_out, time_table(table, logs))


with log_to(snakemake.log.messages):
    main(
        snakemake.params.runs,
        snakemake.params.times,
        snakemake.params.title,
        snakemake.params.columns,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.log.time,
    )
