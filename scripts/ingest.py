"""Ingest: the original .xls to a tidy CSV with short column names, validated."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study.data import read_raw
from concrete_study.files import write_csv
from concrete_study.logs import log_to


def main(raw: str, clean: str) -> None:
    table = read_raw(raw)
    write_csv(clean, table)
    print(f"{raw}: {len(table)} rows, {table.shape[1]} columns -> {clean}")


with log_to(snakemake.log[0]):
    main(snakemake.input.raw, snakemake.output.clean)
