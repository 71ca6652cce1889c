"""Figures 11-13: initial weight histograms with the init bound, trained and untrained heatmaps."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import numpy as np
import torch

from concrete_study import plotting
from concrete_study.logs import log_to
from concrete_study.model import initial_mlp, linear_layer_names, state_dict_keys
from concrete_study.records import seed_key


def main(weights: str, hidden: list[int], n_inputs: int, seed: int, out) -> None:
    trained = torch.load(weights, weights_only=True)[seed_key(seed)]
    untrained = initial_mlp(n_inputs, hidden, seed).state_dict()
    names = linear_layer_names(hidden)
    keys = [w for w, _ in state_dict_keys(hidden)]
    before = [(n, untrained[k].numpy()) for n, k in zip(names, keys, strict=True)]
    after = [(n, trained[k].numpy()) for n, k in zip(names, keys, strict=True)]
    plotting.weight_histograms(
        [(n, w, w.shape[1]) for n, w in before],
        out.init_hist,
        f"Untrained weights (seed {seed}): uniform within ±1/√fan_in",
    )
    # One colour scale per layer for both heatmaps, so trained and untrained compare directly.
    limits = [
        float(max(np.abs(a).max(), np.abs(b).max())) for (_, a), (_, b) in zip(before, after, strict=True)
    ]
    plotting.weight_heatmaps(after, limits, out.trained, f"Trained weights (seed {seed})")
    plotting.weight_heatmaps(before, limits, out.untrained, f"Untrained weights (seed {seed})")


with log_to(snakemake.log[0]):
    main(
        snakemake.input.weights,
        snakemake.params.hidden,
        snakemake.params.inputs,
        snakemake.params.seed,
        snakemake.output,
    )
