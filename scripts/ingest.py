"""Ingest: the table the config describes (dataset), checked, to a clean CSV: the raw inputs,
then the target."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study.dataset import read_table
from concrete_study.files import write_csv
from concrete_study.logs import log_to


def main(spec: dict, clean: str) -> None:
    dataset, table = read_table(spec)
    write_csv(clean, table)
    print(f"{spec['file']}: {len(table)} rows, {len(dataset.features)} inputs, target {dataset.target}")
    if dataset.left_out:
        print(f"left out, one value on every row: {', '.join(dataset.left_out)}")


with log_to(snakemake.log[0]):
    main(snakemake.params.spec, snakemake.output.clean)
