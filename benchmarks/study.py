"""Study benchmark: the whole workflow from an empty results folder, in a temporary copy.

Prints the wall time of `snakemake --cores N` for the study without the standard benchmark, then
what the benchmark adds when run after it (an upper bound: run together, its jobs share the cores
with the study's), how the training jobs' time splits into process start-up (imports, reading
data) and training proper, the time of a no-op rerun, and the peak memory of a training job.
Training time measured in the same run is the reference: the wall time is also given as a ratio
to the ideal (training CPU time / cores).

    .venv/bin/python benchmarks/study.py [--cores 2] [--configfile config/smoke.yaml]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def copy_repo(dest: Path) -> None:
    names = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, names):
        if (ROOT / name).is_file() and not name.startswith("results/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    (dest / "data").mkdir(exist_ok=True)
    shutil.copytree(ROOT / "data", dest / "data", dirs_exist_ok=True)


def first_row(tsv: Path) -> dict:
    """The one row of a Snakemake benchmark file."""
    with open(tsv) as fh:
        return next(csv.DictReader(fh, delimiter="\t"))


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    # The copy's own library, not the checkout's, is what its jobs import.
    env = {**os.environ, "PYTHONPATH": str(cwd / "src"), "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", help="a study config (default: config/config.yaml)")
    args = parser.parse_args()
    extra = ["--configfile", args.configfile] if args.configfile else []
    with tempfile.TemporaryDirectory(prefix="concrete-bench-") as tmp:
        repo = Path(tmp)
        copy_repo(repo)
        snakemake = [str(BIN / "snakemake"), "--cores", str(args.cores), *extra]
        wall = timed([*snakemake, "--omit-from", "benchmark_splits"], repo)
        bench_wall = timed(snakemake, repo)
        noop = timed(snakemake, repo)
        bench_s = sum(
            float(first_row(t)["s"]) for t in (repo / "results" / "benchmarks" / "benchmark").rglob("*.tsv")
        )
        job_s, train_s, peak_mb = 0.0, 0.0, 0.0
        jobs = sorted((repo / "results" / "benchmarks" / "train").glob("*.tsv"))
        for tsv in jobs:
            row = first_row(tsv)
            job_s += float(row["s"])
            peak_mb = max(peak_mb, float(row["max_rss"]))
            metrics = json.loads((repo / "results" / "runs" / tsv.stem / "metrics.json").read_text())
            train_s += metrics["train_time_sec"]
    startup = job_s - train_s
    ideal = job_s / args.cores
    print(f"study {args.configfile or 'config/config.yaml'}, snakemake --cores {args.cores}")
    print(f"  study wall time          {wall:8.1f} s   (goal < 360 s: {wall / 360:.2f} of it)")
    print(f"  + standard benchmark     {bench_wall:8.1f} s   (run after the study; goal < 120 s)")
    print(f"    its jobs               {bench_s:8.1f} s of job time in all")
    print(f"  training jobs            {len(jobs):8d}     {job_s:8.1f} s of job time in all")
    print(f"    training proper        {train_s:8.1f} s   ({train_s / job_s:.0%})")
    print(f"    process start-up       {startup:8.1f} s   ({startup / job_s:.0%}: imports, data, writing)")
    print(f"  wall / ideal             {wall / ideal:8.2f}     (ideal = training job time / cores)")
    print(f"  no-op rerun              {noop:8.2f} s   (goal < 5 s)")
    print(f"  peak memory of a job     {peak_mb:8.0f} MB  (goal < 600 MB)")


if __name__ == "__main__":
    main()
