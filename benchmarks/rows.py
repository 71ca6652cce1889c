"""Rows benchmark: how one training job's time grows with the table's rows.

A synthetic table (8 inputs, a noisy smooth target) of 1k, 10k and 50k rows goes through what a
training job does (scripts/train.py): the clean table read from CSV, the study's split, the
scaler, every seed trained side by side for a fixed number of epochs. A fixed number of epochs is
a number of optimizer steps proportional to the rows, so the time per 1,000 rows should stay
flat; the benchmark prints it, its ratio to the smallest table's, and the job's peak memory. Each
size runs in a fresh process, after a warm-up, the best of `--repeats`.

    .venv/bin/python benchmarks/rows.py [--rows 1000 10000 50000] [--epochs 20] [--seeds 5]
"""

from __future__ import annotations

# First: importing the library pins the numerics before numpy and torch compute (numerics.py).
import concrete_study  # noqa: F401

# isort: split
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic(rows: int, path: Path) -> None:
    """A regression table of `rows` rows: 8 inputs, a smooth target with noise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 8))
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2 + 0.1 * rng.normal(size=rows)
    pd.DataFrame(x, columns=[f"x{i}" for i in range(8)]).assign(y=y).to_csv(path, index=False)


def one_job(table: str, epochs: int, seeds: int, repeats: int) -> float:
    """Seconds of the best of `repeats` training jobs on `table`, as scripts/train.py runs one."""
    import torch

    from concrete_study.data import fit_and_scale, read_clean, split_indices
    from concrete_study.dataset import read_table
    from concrete_study.engine import train
    from concrete_study.runs import Run

    torch.set_num_threads(1)
    dataset, _ = read_table({"file": table, "target": "y"})
    run = Run(hidden=(128, 64), epochs=epochs)
    best = float("inf")
    for attempt in range(repeats + 1):  # the first is a warm-up: compile, caches
        start = time.perf_counter()
        clean = read_clean(table)
        split = split_indices(len(clean), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
        a = fit_and_scale(clean, {p: split[p] for p in ("train", "val")}, "train", dataset)[1]
        train(run, list(range(seeds)), a["X_train"], a["y_train"], a["X_val"], a["y_val"])
        if attempt:
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--part", help=argparse.SUPPRESS)  # one size, in its own process
    args = parser.parse_args()
    if args.part:
        seconds = one_job(args.part, args.epochs, args.seeds, args.repeats)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
        return
    print(f"one training job: [128, 64], {args.seeds} seeds, {args.epochs} epochs, batch 64, 1 thread")
    per_thousand = {}
    with tempfile.TemporaryDirectory(prefix="concrete-rows-") as tmp:
        for rows in args.rows:
            table = Path(tmp) / f"table_{rows}.csv"
            synthetic(rows, table)
            cmd = [sys.executable, __file__, "--part", str(table), "--epochs", str(args.epochs)]
            cmd += ["--seeds", str(args.seeds), "--repeats", str(args.repeats)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            measured = json.loads(out.splitlines()[-1])
            seconds = measured["seconds"]
            per_thousand[rows] = seconds / rows * 1000
            ratio = per_thousand[rows] / per_thousand[args.rows[0]]
            cost = f"{per_thousand[rows]:.3f} s per 1,000 rows"
            peak = f"peak {measured['peak_mb']:.0f} MB"
            print(f"{rows:>7,} rows: {seconds:8.2f} s, {cost}, ratio to the first {ratio:.2f}, {peak}")


if __name__ == "__main__":
    main()
