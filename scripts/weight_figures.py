"""Figures 11-13: initial weight histograms with the init bound, trained and untrained heatmaps."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import numpy as np
import torch

from concrete_study import model, plotting
from concrete_study.logs import log_to
from concrete_study.records import seed_key
from concrete_study.runs import Run


def main(weights: str, run: dict, n_inputs: int, seed: int, out) -> None:
    trained = torch.load(weights, weights_only=True)[seed_key(seed)]
    net = model.network(Run(**run), n_inputs)
    untrained = model.state_dict(net, model.initial(net, seed))
    names = model.linear_layer_names(Run(**run).hidden)
    keys = model.linear_keys(net)
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
        snakemake.params.run,
        snakemake.params.inputs,
        snakemake.params.seed,
        snakemake.output,
    )
