"""The study's result on one page (results/summary.md, the report's first) and its headline numbers
(results/summary.json, what `dvc metrics show` prints)."""

import pandas as pd

from concrete_study.files import read_json, write_json, write_text
from concrete_study.logs import log_to
from concrete_study.summary import commit_state, headline, lock_state, summary_markdown


def main(final_file, benchmark_file, published, out) -> None:
    final, benchmark = read_json(final_file), read_json(benchmark_file)
    built_from = f"{commit_state('.')}; {lock_state('.', written=[out.json])}"
    write_json(out.json, headline(final, benchmark))
    write_text(out.md, summary_markdown(final, benchmark, pd.read_csv(published), built_from))


with log_to(snakemake.log[0]):
    main(snakemake.input.final, snakemake.input.benchmark, snakemake.input.published, snakemake.output)
