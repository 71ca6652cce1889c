"""One experiment's table: a row per run, mean and std over seeds, as CSV and Markdown."""

from concrete_study.files import read_json, write_csv, write_text
from concrete_study.logs import log_to
from concrete_study.records import read_histories
from concrete_study.runs import Run
from concrete_study.tables import experiment_table, table_markdown


def main(histories, metrics, jobs, runs, job_of, title, csv_out, md_out) -> None:
    parameters = {job: read_json(path)["parameters"] for job, path in zip(jobs, metrics, strict=True)}
    table = experiment_table(runs, job_of, read_histories(histories, jobs), parameters)
    write_csv(csv_out, table)
    write_text(md_out, table_markdown(table, title))


with log_to(snakemake.log[0]):
    main(
        snakemake.input.histories,
        snakemake.input.metrics,
        snakemake.params.jobs,
        {rid: Run(**run) for rid, run in snakemake.params.runs.items()},
        snakemake.params.job_of,
        snakemake.params.title,
        snakemake.output.csv,
        snakemake.output.md,
    )
