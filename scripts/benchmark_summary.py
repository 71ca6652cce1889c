"""The benchmark's test predictions with intervals, per-split scores (the peer's beside the
network's), summary and comparison table."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import numpy as np
import pandas as pd

from concrete_study.benchmark import (
    blend,
    calibrated,
    chosen_inner_seeds,
    comparison_markdown,
    comparison_table,
    interval_predictions,
    paired_difference,
    per_split_scores,
    side_by_side,
    summarize_benchmark,
    with_spread,
)
from concrete_study.dataset import Dataset
from concrete_study.evaluation import Blend
from concrete_study.files import read_json, write_csv, write_json, write_text
from concrete_study.logs import log_to
from concrete_study.protocol import read_inner
from concrete_study.summary import read_published


def calibration(inner_seeds: dict, y_val) -> dict:
    """Per split, a model's residuals and spread on the inner validation rows, from its inner
    predictions per seed: what its interval is calibrated on."""
    return {s: Blend().calibration(y_val[s], [p]) for s, p in inner_seeds.items()}


def read_predictions(paths) -> pd.DataFrame:
    """Test predictions from several files, with each row's spread. A candidate that no split chose
    wrote its header alone: left out, since its empty columns would turn every number into an object."""
    frames = [pd.read_csv(p) for p in paths]
    return with_spread(pd.concat([f for f in frames if len(f)], ignore_index=True))


def scored(predictions, chosen, calibration, seeds, level, dataset):
    """Per-split scores, intervals and summary of one model's test predictions."""
    chosen, predictions = calibrated(predictions, chosen, calibration, level)
    per_split = per_split_scores(predictions, chosen, seeds, dataset)
    intervals = interval_predictions(predictions, dataset)
    return per_split, intervals, summarize_benchmark(per_split, intervals, level, dataset.target)


def main(
    prediction_files,
    selection_file,
    inner_files,
    names,
    peer_files,
    peer_choices,
    published,
    seeds,
    level,
    dataset,
    kind,
    out,
):
    chosen = read_json(selection_file)["splits"]
    inner = read_inner(inner_files, names)
    y_val = inner[names[0]]["y_val"]
    network_inner = {c["split"]: chosen_inner_seeds(inner, c) for c in chosen}
    predictions = read_predictions(prediction_files)
    per_split, intervals, summary = scored(
        predictions, chosen, calibration(network_inner, y_val), seeds, level, dataset
    )
    if peer_files:
        peer_predictions = read_predictions(peer_files)
        peer_chosen = [read_json(p) for p in peer_choices]
        peer_inner = {c["split"]: np.asarray(c["inner_val_predictions"]) for c in peer_chosen}
        peer_calibration = calibration(peer_inner, y_val)
        peer, _, summary["peer"] = scored(
            peer_predictions, peer_chosen, peer_calibration, seeds, level, dataset
        )
        summary["paired"] = paired_difference(per_split, peer)
        blend_chosen, mixed, blend_calibration = blend(
            network_inner, peer_chosen, y_val, predictions, peer_predictions
        )
        blended, _, summary["blend"] = scored(mixed, blend_chosen, blend_calibration, seeds, level, dataset)
        per_split = side_by_side(per_split, peer, blended)
    table = comparison_table(summary, read_published(published), out.summary)
    write_csv(out.test_predictions, intervals)
    write_csv(out.per_split, per_split)
    write_json(out.summary, summary)
    write_csv(out.table_csv, table)
    write_text(out.table_md, comparison_markdown(table, summary, dataset, kind))
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
        snakemake.params.level,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.params.kind,
        snakemake.output,
    )
