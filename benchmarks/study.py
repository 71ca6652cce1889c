"""Study benchmark: the whole study from empty results, this checkout against a reference commit.

Each runs `snakemake --cores N` (what `make run` runs) in a fresh copy of its own, the reference
first, then this checkout's working tree: the wall time, the jobs' summed time (what N cores
divide) by part of the study, the critical path (the longest chain of jobs, each waiting on the
one before: the floor on any number of cores), a no-op rerun and a training job's peak memory.
Last, the ratio of the two wall times: measured in one run, on one machine, one after the other.

    .venv/bin/python benchmarks/study.py [--reference 724440e] [--cores 2] [--configfile FILE]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks")]
from conftest import copy_repo  # noqa: E402  (the one copy of a checkout, as the tests make it)
from critical_path import critical_path, jobs  # noqa: E402

PARTS = {  # rule -> part of the study, for the job-time table
    "train": "Tasks 1-5 training",
    "benchmark_inner": "benchmark network (inner, retrain)",
    "benchmark_retrain": "benchmark network (inner, retrain)",
    "benchmark_peer": "LightGBM peer",
}


def reference_copy(commit: str, dest: Path) -> Path:
    """The files of `commit` (as git has them, no results) and this checkout's data."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    shutil.rmtree(dest / "results", ignore_errors=True)
    shutil.copytree(ROOT / "data", dest / "data", dirs_exist_ok=True)
    return dest


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    # The copy's own library, not the checkout's, is what its jobs import.
    env = {**os.environ, "PYTHONPATH": str(cwd / "src"), "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} in {cwd} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def peak_mb(repo: Path, snakemake: list[str]) -> float:
    """The resident memory of the training job with the most weights, at its peak: trained again in
    a process of its own (`--no-hooks`), as on a cluster: a fork's own measurement also counts the
    server's preloaded libraries."""
    runs = repo / "results" / "runs"
    job = max(runs.iterdir(), key=lambda run: (run / "weights.pt").stat().st_size).name
    timed([*snakemake, "--no-hooks", "--forcerun", "train", "--", f"results/runs/{job}/metrics.json"], repo)
    with open(repo / "results" / "benchmarks" / "train" / f"{job}.tsv") as fh:
        return float(next(csv.DictReader(fh, delimiter="\t"))["max_rss"])


def study(repo: Path, snakemake: list[str]) -> dict:
    """The study from empty results, then a no-op rerun: times from Snakemake's own records."""
    wall = timed(snakemake, repo)
    noop = timed(snakemake, repo)
    all_jobs = jobs(repo)
    parts: dict[str, list[float]] = {}
    for job in all_jobs.values():
        parts.setdefault(PARTS.get(job["rule"], "everything else"), []).append(job["end"] - job["start"])
    length, chain = critical_path(all_jobs)
    peak = peak_mb(repo, snakemake)
    return {"wall": wall, "noop": noop, "parts": parts, "path": length, "chain": chain, "peak": peak}


def report(name: str, r: dict, cores: int) -> None:
    busy = sum(sum(times) for times in r["parts"].values())
    n_jobs = sum(len(times) for times in r["parts"].values())
    print(f"\n{name}")
    print(f"  wall time           {r['wall']:7.1f} s   snakemake --cores {cores}, {n_jobs} jobs")
    print(f"  jobs' summed time   {busy:7.1f} s   {busy / (cores * r['wall']):.2f} of {cores} cores x wall")
    for part, times in sorted(r["parts"].items(), key=lambda kv: -sum(kv[1])):
        print(f"    {part:36s} {len(times):3d} jobs {sum(times):7.1f} s (longest {max(times):.1f})")
    print(f"  critical path       {r['path']:7.1f} s   the floor on any number of cores:")
    for job in r["chain"]:
        print(f"    {job['rule']:26s} {job['end'] - job['start']:7.1f} s  {sorted(job['outputs'])[0]}")
    print(f"  no-op rerun         {r['noop']:7.2f} s")
    print(f"  peak memory         {r['peak']:7.0f} MB  (the training job with the most weights)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default="724440e", help="the commit to compare with")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", help="a study config (default: config/config.yaml)")
    args = parser.parse_args()
    snakemake = [str(BIN / "snakemake"), "--cores", str(args.cores)]
    snakemake += ["--configfile", args.configfile] if args.configfile else []
    results = {}
    for name, make_copy in (
        (f"reference {args.reference}", lambda dest: reference_copy(args.reference, dest)),
        ("this checkout", copy_repo),
    ):
        with tempfile.TemporaryDirectory(prefix="concrete-bench-") as tmp:
            results[name] = study(make_copy(Path(tmp)), snakemake)
        report(name, results[name], args.cores)
    ref, this = results.values()
    print(f"\nwall time, this checkout / reference: {this['wall'] / ref['wall']:.2f}")


if __name__ == "__main__":
    main()
