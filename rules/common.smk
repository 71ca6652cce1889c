# What every stage shares: the checked config, the study's runs and jobs, and small helpers.
import os
import sys

from concrete_study.config import ConfigError, read_yaml, validate
from concrete_study.data import DataError, check_md5
from concrete_study.runs import expand_study, resolve
from concrete_study.sources import library_sources
from concrete_study.splits import check_md5s, read_splits, split_file_names

try:
    for _path in workflow.overwrite_configfiles or ["config/config.yaml"]:
        read_yaml(_path)  # rejects duplicate keys, which Snakemake's loader silently merges
    _checked = validate(config, os.path.join(workflow.basedir, "config", "schema.yaml"))
except ConfigError as exc:
    sys.exit(f"config error: {exc}")
config.clear()
config.update(_checked)
STUDY = expand_study(config)
SEEDS = list(range(config["seeds"]))
BENCHMARK = config["benchmark"]
SPLIT_FILES = [os.path.join(BENCHMARK["directory"], n) for n in split_file_names(BENCHMARK["splits"])]
# The benchmark's candidates by run id, in the config's order (a repeated one counts once).
CANDIDATES = {run.id: run for run in (resolve(config, c) for c in BENCHMARK["candidates"])}
try:
    check_md5(config["data"]["raw"], config["data"]["md5"])
    # Damaged or inconsistent split files stop the workflow before any job; missing ones are
    # downloaded (rules/benchmark.smk) and checked there.
    check_md5s(BENCHMARK["directory"], BENCHMARK["md5"], BENCHMARK["splits"])
    if all(os.path.exists(f) for f in SPLIT_FILES):
        read_splits(BENCHMARK["directory"], BENCHMARK["splits"])
except DataError as exc:
    sys.exit(f"data error: {exc}")


wildcard_constraints:
    job=r"h[A-Za-z0-9_.\-]+",
    candidate=r"h[A-Za-z0-9_.\-]+",
    experiment=r"[a-z][a-z0-9_]*",
    depth=r"\d+",


def script_path(name):
    """A rule's script, as the `script:` directive names it from rules/."""
    return f"../scripts/{name}.py"


def code(name):
    """The library files the script imports: an edit of one reruns exactly the rules using it."""
    return library_sources(os.path.join(workflow.basedir, "scripts", f"{name}.py"), workflow.basedir)


def captioned(path, caption, category, **kwargs):
    """An output shown in the report, with its caption from report/<caption>.rst."""
    return report(path, caption=f"../report/{caption}.rst", category=category, **kwargs)


def figure(name):
    return f"results/figures/{name}.png"


def job_file(output, job):
    """One output of the train rule (history, weights...) of one job."""
    return expand(getattr(rules.train.output, output), job=job)[0]


def run_files(output, run_ids):
    """One output of the train rule for each job that trains these runs, in STUDY.jobs_of order."""
    return [job_file(output, job) for job in STUDY.jobs_of(run_ids)]


def is_deep(wildcards):
    return len(STUDY.jobs[wildcards.job].hidden) >= config["deep_layers"]


def depth_job(depth):
    """The job of experiment `depth` with `depth` hidden layers of the figures' width."""
    width = config["figures"]["depth_width"]
    for rid in STUDY.experiments.get("depth", []):
        if STUDY.runs[rid].hidden == (width,) * depth:
            return STUDY.job_of[rid]
    raise ValueError(f"config key 'figures': no run of experiment 'depth' has {depth} x {width}")


def figure_runs(figure):
    """The runs a learning-curve figure shows, in the config's order, and their histories."""
    run_ids = STUDY.figures[figure]
    histories = expand(rules.train.output.history, job=[STUDY.job_of[r] for r in run_ids])
    return [STUDY.runs[r].params() for r in run_ids], histories
