"""Where a finished run's time went, from Snakemake's own records (.snakemake/metadata).

Prints the wall time from the first job's start to the last job's end, the sum of the jobs' times
(what `--cores N` divides), its ratio to cores x wall, the time per rule, and the critical path:
the chain of jobs, each waiting on the one before, whose times add up the most. No number of cores
makes the run shorter than that chain. Run it in a checkout after a full run from empty results
(a rerun of some jobs leaves the others' old times in the records):

    .venv/bin/python benchmarks/critical_path.py [--repo .] [--cores 2]
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
from collections import defaultdict
from pathlib import Path


def jobs(repo: Path) -> dict[tuple, dict]:
    """One entry per job (a rule and its log file): its rule, outputs, inputs and times."""
    out: dict[tuple, dict] = {}
    for record in (repo / ".snakemake" / "metadata").iterdir():
        meta = json.loads(record.read_text())
        if meta.get("incomplete") or meta.get("starttime") is None:
            continue
        path = base64.b64decode(record.name).decode()
        key = (meta["rule"], *sorted(meta.get("log") or [path]))  # every rule here has its own log
        inputs = meta.get("input") or []  # a list, or in older records its repr
        inputs = ast.literal_eval(inputs) if isinstance(inputs, str) else inputs
        job = out.setdefault(
            key,
            {
                "rule": meta["rule"],
                "start": meta["starttime"],
                "end": meta["endtime"],
                "inputs": set(inputs),
                "outputs": set(),
            },
        )
        job["outputs"].add(path)
        job["start"], job["end"] = min(job["start"], meta["starttime"]), max(job["end"], meta["endtime"])
    return out


def critical_path(all_jobs: dict[tuple, dict]) -> tuple[float, list[dict]]:
    """The chain of jobs with the largest summed time, each consuming an output of the one before."""
    producer = {path: key for key, job in all_jobs.items() for path in job["outputs"]}
    longest: dict[tuple, tuple[float, tuple | None]] = {}

    def finish(key: tuple) -> float:
        if key not in longest:
            job = all_jobs[key]
            before = [producer[p] for p in job["inputs"] if p in producer and producer[p] != key]
            best = max(before, key=finish, default=None)
            longest[key] = ((finish(best) if best else 0.0) + job["end"] - job["start"], best)
        return longest[key][0]

    last = max(all_jobs, key=finish)
    chain, key = [], last
    while key is not None:
        chain.append(all_jobs[key])
        key = longest[key][1]
    return finish(last), chain[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    all_jobs = jobs(args.repo)
    wall = max(j["end"] for j in all_jobs.values()) - min(j["start"] for j in all_jobs.values())
    busy = sum(j["end"] - j["start"] for j in all_jobs.values())
    print(f"{len(all_jobs)} jobs: wall {wall:.0f} s, their summed time {busy:.0f} s")
    print(f"summed time / ({args.cores} cores x wall) = {busy / (args.cores * wall):.2f}")
    per_rule: dict[str, list[float]] = defaultdict(list)
    for job in all_jobs.values():
        per_rule[job["rule"]].append(job["end"] - job["start"])
    for rule, times in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {rule:26s} {len(times):3d} jobs {sum(times):7.1f} s (longest {max(times):.1f})")
    length, chain = critical_path(all_jobs)
    print(f"critical path {length:.0f} s, the floor on any number of cores:")
    for job in chain:
        print(f"  {job['rule']:26s} {job['end'] - job['start']:7.1f} s  {sorted(job['outputs'])[0]}")


if __name__ == "__main__":
    main()
