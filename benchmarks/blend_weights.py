"""How the blend's weight should be set, judged on the inner rows alone.

Per split of a finished benchmark (`results/benchmark`), the inner validation rows are halved at
random many times. On one half the network's epoch budget is chosen, as the benchmark chooses it,
and the blend's weight among the given weights; the other half scores that blend against an
equal average (0.5) of the same two models. No test row is read. Prints the RMSE of each rule over
all halves (the root of the mean squared error), and the mean weight chosen.

    .venv/bin/python benchmarks/blend_weights.py [--results results/benchmark] [--halvings 50]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from concrete_study.benchmark import read_inner
from concrete_study.evaluation import blend_weight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/benchmark", type=Path)
    parser.add_argument("--halvings", type=int, default=50)
    parser.add_argument("--weights", default=",".join(f"{i / 10:g}" for i in range(11)))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]

    selection = json.loads((args.results / "selection.json").read_text())["splits"]
    names = sorted({c["candidate"] for c in selection})
    inner = read_inner(
        [p for name in names for p in sorted((args.results / "inner" / name).glob("group_*.npz"))], names
    )
    rng = np.random.default_rng(args.seed)
    squared = {"chosen": [], "equal": []}
    chosen_weights = []
    for choice in selection:
        s = choice["split"]
        network = inner[choice["candidate"]]  # the candidate this split chose; its budget is chosen again
        ours = network["predictions"][:, s].mean(axis=1)  # (budgets, rows): the seed ensemble
        y = network["y_val"][s]
        peer = json.loads((args.results / "peer" / f"split_{s}.json").read_text())
        theirs = np.asarray(peer["inner_val_predictions"]).mean(axis=0)
        for _ in range(args.halvings):
            order = rng.permutation(len(y))
            a, b = order[: len(y) // 2], order[len(y) // 2 :]
            budget = int(np.argmin([np.mean((p[a] - y[a]) ** 2) for p in ours]))
            w, _ = blend_weight(ours[budget, a], theirs[a], y[a], weights)
            chosen_weights.append(w)
            squared["chosen"].append(np.mean((w * ours[budget, b] + (1 - w) * theirs[b] - y[b]) ** 2))
            squared["equal"].append(np.mean((0.5 * ours[budget, b] + 0.5 * theirs[b] - y[b]) ** 2))
    print(f"{len(selection)} splits x {args.halvings} halvings of the inner rows; weights {weights}")
    print(
        f"weight chosen on one half: RMSE {np.sqrt(np.mean(squared['chosen'])):.3f} on the other half "
        f"(mean weight {np.mean(chosen_weights):.2f})"
    )
    print(f"equal average (0.5):       RMSE {np.sqrt(np.mean(squared['equal'])):.3f}")


if __name__ == "__main__":
    main()
