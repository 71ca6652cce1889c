"""Rows benchmark: one training job (or the LightGBM peer's, `--job peer`) on tables of 1k, 10k and
50k rows, run as a cluster runs it, and what the workflow asks the cluster for it (resources.py).

A synthetic table (8 inputs, a noisy smooth target) of each size goes into the smoke study's config
(`dataset` replaced, 5 seeds, [128, 64] at its base). Its data rules run first; then the training
job of the base run runs alone in a Snakemake process with `--no-hooks`, as a cluster node runs
it: that Snakemake (which reads the table at parse time) and the job's script in a process of its
own. The peak is the sum of their resident memory, sampled every 20 ms, as SLURM's accounting sums
a job's processes. Printed per size: the job's seconds per 1,000 rows (its own measurement), the
peak, the memory requested, and requested / peak, which should lie between 1 and 2.

    .venv/bin/python benchmarks/rows.py [--rows 1000 10000 50000] [--seeds 5]
        [--hidden 128 64] [--inputs 8] [--job train|peer]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import yaml

from concrete_study.config import validate
from concrete_study.resources import peer_size, request, train_size
from concrete_study.runs import expand_study, resolve

ROOT = Path(__file__).resolve().parents[1]


def synthetic(rows: int, inputs: int, path: Path) -> None:
    """A regression table of `rows` rows: `inputs` inputs, a smooth target with noise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, inputs))
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2 + 0.1 * rng.normal(size=rows)
    pd.DataFrame(x, columns=[f"x{i}" for i in range(inputs)]).assign(y=y).to_csv(path, index=False)


def peak_of_tree(cmd: list[str], cwd: Path) -> float:
    """Run `cmd`; the peak of its processes' summed resident memory, in MB."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    total += p.memory_info().rss
            except psutil.Error:
                pass
            peak = max(peak, total / 2**20)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return peak


def one_size(repo: Path, rows: int, args) -> dict:
    """The base run's training job (or the peer's) on a table of `rows` rows: its peak, seconds
    and request."""
    table = repo / f"table_{rows}.csv"
    synthetic(rows, args.inputs, table)
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config["dataset"] = {"file": str(table), "target": "y"}
    config["seeds"] = args.seeds
    config["base"]["hidden"] = args.hidden
    configfile = repo / "config" / f"rows{rows}.yaml"
    configfile.write_text(yaml.safe_dump(config))
    checked = validate(config, ROOT / "config" / "schema.yaml")
    study = expand_study(checked)
    job = study.job_of[resolve(checked).id]
    results = Path("results") / f"rows{rows}"  # relative to the copy, as Snakemake names its files
    snakemake = [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "--quiet", "--no-hooks"]
    snakemake += ["--configfile", str(configfile), "--"]  # then the targets
    if args.job == "train":
        prepare = [results / "data" / "split" / p for p in ("train.txt", "val.txt")]
        target, measured = (
            results / "runs" / job / "metrics.json",
            results / "benchmarks" / "train" / f"{job}.tsv",
        )
        run = study.jobs[job]
        asked = request(*train_size(rows, args.inputs, run.hidden, args.seeds, run.epochs))
    else:  # the LightGBM peer's job: every split of the benchmark
        prepare = [results / "benchmark" / "splits.npz"]
        target, measured = (
            results / "benchmark" / "peer" / "split_0.csv",
            results / "benchmarks" / "benchmark" / "peer.tsv",
        )
        asked = request(*peer_size(rows, args.inputs, checked["benchmark"], args.seeds))
    prepared = subprocess.run([*snakemake, *map(str, prepare)], cwd=repo, capture_output=True, text=True)
    if prepared.returncode:
        sys.exit(f"the data rules failed:\n{prepared.stderr[-3000:]}")
    peak = peak_of_tree([*snakemake, str(target)], repo)
    with open(repo / measured) as fh:
        own = next(csv.DictReader(fh, delimiter="\t"))
    return {"peak": peak, "seconds": float(own["s"]), "script_mb": float(own["max_rss"]), "request": asked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 64])
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--job", choices=["train", "peer"], default="train")
    args = parser.parse_args()
    shape = f"{args.seeds} seeds, {args.inputs} inputs"
    if args.job == "train":
        print(f"one training job: {args.hidden}, {shape}, the smoke study's epochs")
    else:
        print(f"the LightGBM peer's job: {shape}, the smoke study's splits and grid")
    with tempfile.TemporaryDirectory(prefix="concrete-rows-") as tmp:
        repo = Path(tmp)
        listed = ["git", "ls-files", "-co", "--exclude-standard"]
        files = subprocess.run(listed, cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
        for name in files:
            if (ROOT / name).is_file():
                (repo / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, repo / name)
        env_note = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(repo / "src") + (os.pathsep + env_note if env_note else "")
        for rows in args.rows:
            m = one_size(repo, rows, args)
            ratio = m["request"].mem_mb / m["peak"]
            seconds = f"{m['seconds']:7.2f} s ({m['seconds'] / rows * 1000:.3f} s per 1,000 rows)"
            peak = f"peak {m['peak']:.0f} MB (script {m['script_mb']:.0f} MB)"
            asked = f"requested {m['request'].mem_mb} MB and {m['request'].runtime} min"
            print(f"{rows:>7,} rows: {seconds}, {peak}, {asked}, requested / peak {ratio:.2f}")


if __name__ == "__main__":
    main()
