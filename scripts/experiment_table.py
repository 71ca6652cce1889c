"""One experiment's table: a row per run, mean and std over seeds, as CSV and Markdown."""

import pandas as pd

from concrete_study.io import read_json, write_csv, write_text
from concrete_study.logs import log_to
from concrete_study.tables import experiment_table, table_markdown


def main(histories, metrics, runs, job_of, title, csv_out, md_out) -> None:
    jobs = sorted(set(job_of.values()))
    by_job = dict(zip(jobs, [None] * len(jobs), strict=True))
    for path in histories:
        by_job[path.split("/")[-2]] = pd.read_csv(path)
    parameters = {path.split("/")[-2]: read_json(path)["parameters"] for path in metrics}
    table = experiment_table(runs, job_of, by_job, parameters)
    write_csv(csv_out, table)
    write_text(md_out, table_markdown(table, title))


with log_to(snakemake.log[0]):
    main(
        snakemake.input.histories,
        snakemake.input.metrics,
        snakemake.params.runs,
        snakemake.params.job_of,
        snakemake.params.title,
        snakemake.output.csv,
        snakemake.output.md,
    )
