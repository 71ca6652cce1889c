"""The benchmark's test predictions with intervals, per-split scores (the peer's beside the
network's), summary and comparison table."""

import numpy as np
import pandas as pd

from concrete_study.benchmark import (
    blend,
    comparison_markdown,
    comparison_table,
    interval_predictions,
    paired_difference,
    per_split_scores,
    side_by_side,
    summarize_benchmark,
)
from concrete_study.files import read_json, write_csv, write_json, write_text
from concrete_study.logs import log_to


def scored(predictions: pd.DataFrame, chosen: list[dict], seeds, level):
    """Per-split scores, intervals and summary of one model's test predictions."""
    per_split = per_split_scores(predictions, chosen, seeds)
    intervals = interval_predictions(predictions, chosen)
    return per_split, intervals, summarize_benchmark(per_split, intervals, level)


def main(
    prediction_files, selection_file, inner_files, names, peer_files, peer_choices, published, seeds, out
):
    selection = read_json(selection_file)
    level = selection["level"]
    predictions = pd.concat([pd.read_csv(p) for p in prediction_files], ignore_index=True)
    per_split, intervals, summary = scored(predictions, selection["splits"], seeds, level)
    if peer_files:
        peer_predictions = pd.concat([pd.read_csv(p) for p in peer_files], ignore_index=True)
        peer_chosen = [read_json(p) for p in peer_choices]
        peer, _, summary["peer"] = scored(peer_predictions, peer_chosen, seeds, level)
        summary["paired"] = paired_difference(per_split, peer)
        inner = {}
        for name, path in zip(names, inner_files, strict=True):
            with np.load(path) as npz:
                inner[name] = dict(npz)
        chosen, mixed = blend(selection["splits"], inner, peer_chosen, predictions, peer_predictions, level)
        blended, _, summary["blend"] = scored(mixed, chosen, seeds, level)
        summary["blend"]["weight_mean"] = float(blended["weight"].mean())
        per_split = side_by_side(per_split, peer, blended)
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
        snakemake.input.inner,
        snakemake.params.names,
        snakemake.input.peer,
        snakemake.input.peer_choices,
        snakemake.input.published,
        snakemake.params.seeds,
        snakemake.output,
    )
