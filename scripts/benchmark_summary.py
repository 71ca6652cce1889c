"""The benchmark's test predictions with intervals, per-split scores, summary and comparison table."""

import pandas as pd

from concrete_study.benchmark import (
    comparison_markdown,
    comparison_table,
    interval_predictions,
    per_split_scores,
    summarize_benchmark,
)
from concrete_study.files import read_json, write_csv, write_json, write_text
from concrete_study.logs import log_to


def main(prediction_files, selection_file, published, seeds, out) -> None:
    selection = read_json(selection_file)
    predictions = pd.concat([pd.read_csv(p) for p in prediction_files], ignore_index=True)
    chosen = selection["splits"]
    per_split = per_split_scores(predictions, chosen, seeds)
    intervals = interval_predictions(predictions, chosen)
    summary = summarize_benchmark(per_split, intervals, selection["level"])
    table = comparison_table(summary, pd.read_csv(published))
    write_csv(out.test_predictions, intervals)
    write_csv(out.per_split, per_split)
    write_json(out.summary, summary)
    write_csv(out.table_csv, table)
    write_text(out.table_md, comparison_markdown(table, summary))
    print(f"RMSE {summary['rmse_mean']:.3f} ± {summary['rmse_se']:.3f}, coverage {summary['coverage']:.3f}")


with log_to(snakemake.log[0]):
    main(
        snakemake.input.predictions,
        snakemake.input.selection,
        snakemake.input.published,
        snakemake.params.seeds,
        snakemake.output,
    )
