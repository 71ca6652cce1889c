# What every stage shares: the checked config, the study's runs and jobs, and small helpers.
import csv
import json
import os
import re
import sys

from concrete_study.config import ConfigError, read_yaml, validate
from concrete_study.data import DataError, check_file_md5, check_split_sizes
from concrete_study.dataset import read_table
from concrete_study.forkserver import Server
from concrete_study.resources import peer_size, request, train_size
from concrete_study.runs import WIDTH as EMBEDDING_WIDTH
from concrete_study.runs import expand_study, resolve
from concrete_study.sources import library_sources
from concrete_study.splits import check_md5s, read_splits, split_file_names, split_groups

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
TABLE_SPEC = config["dataset"]
BENCHMARK = config["benchmark"]


def canonical(value):
    """A param with its mappings' keys sorted: their order in the config must not cause reruns."""
    return json.loads(json.dumps(value, sort_keys=True))


PEER = canonical(BENCHMARK["peer"])
SPLITS_DIR = TABLE_SPEC["splits"]
SPLIT_FILES = (
    [os.path.join(SPLITS_DIR, n) for n in split_file_names(BENCHMARK["splits"])] if SPLITS_DIR else []
)
SPLITS_KIND = "published" if SPLITS_DIR else "seeded random"
# The benchmark's candidates by run id, in the config's order (a repeated one counts once).
CANDIDATES = {run.id: run for run in (resolve(config, c) for c in BENCHMARK["candidates"])}
# The split numbers each of a candidate's jobs trains: four jobs a candidate, so that its chain
# (inner, select, retrain) is short on many cores, and two of its jobs side by side fit the
# CPU's cache better than two of twice the size. A replica trains the same bytes in a stack of
# any size, so the grouping changes the time, never a result.
SPLIT_GROUPS = split_groups(BENCHMARK["splits"], 4)


def results_folder(configfiles):
    """Where a study writes: config/config.yaml's study (the one dvc.yaml pins) results/, a study
    given with --configfile NAME.yaml results/NAME/, so that studies never share a file."""
    main = os.path.join(workflow.basedir, "config", "config.yaml")
    if not configfiles or os.path.abspath(configfiles[-1]) == os.path.abspath(main):
        return "results"
    return os.path.join("results", os.path.splitext(os.path.basename(configfiles[-1]))[0])


RESULTS = results_folder(workflow.overwrite_configfiles)


def out(path):
    """A path in the study's results folder."""
    return os.path.join(RESULTS, path)


# The table is read and checked before any job: a bad table is one line, and nothing already
# computed is touched. Where the file is missing (no DVC remote had it), only the download rules
# (`snakemake get_data`) can run.
DATASET = None
ROWS = 0
try:
    check_file_md5(TABLE_SPEC["file"], TABLE_SPEC["md5"])
    # Damaged or inconsistent split files stop the workflow before any job; missing ones are
    # downloaded (rules/benchmark.smk) and checked there.
    if SPLITS_DIR and TABLE_SPEC["splits_md5"]:
        check_md5s(SPLITS_DIR, TABLE_SPEC["splits_md5"], BENCHMARK["splits"])
    if os.path.exists(TABLE_SPEC["file"]):
        DATASET, _table = read_table(TABLE_SPEC)
        ROWS = len(_table)
        check_split_sizes(ROWS, config["split"], TABLE_SPEC["file"])
        if SPLIT_FILES and all(os.path.exists(f) for f in SPLIT_FILES):
            read_splits(SPLITS_DIR, BENCHMARK["splits"], len(_table))
        del _table
    elif not TABLE_SPEC["url"]:
        raise DataError(f"{TABLE_SPEC['file']}: file not found (dataset.file; `dvc pull` gets a tracked one)")
except DataError as exc:
    sys.exit(f"data error: {exc}")
if DATASET and DATASET.left_out:
    print(
        f"warning: {TABLE_SPEC['file']}: left out, one value on every row: {', '.join(DATASET.left_out)}",
        file=sys.stderr,
    )
# The report's captions read the config (Jinja): the study's folder and the table's resolved facts.
config["results"] = RESULTS
if DATASET:
    config["dataset"].update(name=DATASET.name, figure_input=DATASET.figure_input)


def sweep_times():
    """Each experiment table's seconds per model, from its time log where this clone trained its
    runs: the report shows them beside the table, and no pinned file carries time."""
    times = {}
    for experiment in STUDY.experiments:
        path = out(f"logs/tables/{experiment}.time.csv")
        if os.path.exists(path):
            with open(path) as fh:
                times[experiment] = list(csv.DictReader(fh))
    return times


config["sweep_times"] = sweep_times()
# The table's facts, a param of the jobs that show or read them: an edit reruns just those.
TABLE = DATASET.params() if DATASET else {}
TABLE_INPUTS = DATASET.inputs_only().params() if DATASET else {}  # what a training job reads


# The jobs Snakemake runs on this machine fork from one process that imported torch, pandas and
# matplotlib once (src/concrete_study/forkserver.py). Not where an executor runs them elsewhere
# (SLURM): there each job is a process of its own size.
FORKSERVER = Server()


onstart:
    # A fork copies one thread: with `threads` above 1 the server's libraries would run a pool of
    # them, and it would fork no job (forkserver.py).
    if workflow.local_exec and not workflow.remote_exec and config["threads"] == 1:
        FORKSERVER.start(1, ".snakemake/log/forkserver.log")


onsuccess:
    FORKSERVER.stop()


onerror:
    FORKSERVER.stop()


wildcard_constraints:
    job=r"h[A-Za-z0-9_.\-]+",
    candidate=r"h[A-Za-z0-9_.\-]+",
    experiment=r"[a-z][a-z0-9_]*",
    depth=r"\d+",
    split=r"\d+",
    group=r"\d+",


def script_path(name):
    """A rule's script, as the `script:` directive names it from rules/."""
    return f"../scripts/{name}.py"


def code(name):
    """The library files the script imports: an edit of one reruns exactly the rules using it."""
    return library_sources(os.path.join(workflow.basedir, "scripts", f"{name}.py"), workflow.basedir)


def captioned(path, caption, category, **kwargs):
    """An output shown in the report, with its caption from report/<caption>.rst."""
    return report(path, caption=f"../report/{caption}.rst", category=category, **kwargs)


def optional(path):
    """An input that the config may leave out (null): a list of it, or an empty one."""
    return [path] if path else []


def file_name(column):
    """A column's name as part of a file name: letters, digits, . _ - kept, the rest as _."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", column)


def figure(name):
    return out(f"figures/{name}.png")


def job_file(output, job):
    """One output of the train rule (history, weights...) of one job."""
    return expand(getattr(rules.train.output, output), job=job)[0]


def run_files(output, reader):
    """One output of the train rule for each job whose runs `reader` (an output of the study, see
    runs.Study) reads, in job order."""
    return [job_file(output, job) for job in STUDY.jobs_of(STUDY.runs_read_by(reader))]


def runs_read(reader):
    """Each run that `reader` reads, in its order: id, hyperparameters and its job's history."""
    return [
        {"id": rid, "run": STUDY.runs[rid].params(), "history": job_file("history", STUDY.job_of[rid])}
        for rid in STUDY.runs_read_by(reader)
    ]


# Input and params functions of the rules that read training runs. `reader` may name wildcards
# ("table/{experiment}"); it is looked up only when its job is planned, so a figure the config
# does not ask for costs nothing.
def files_of_runs(output, reader):
    return lambda wildcards: run_files(output, reader.format(**wildcards))


def time_logs(reader):
    """The time log of each run's job, by run id: params, not inputs, so that a clone whose results
    came with `dvc pull` (and no logs) has nothing to rerun."""
    return lambda wildcards: {
        rid: expand(rules.train.log.time, job=STUDY.job_of[rid])[0]
        for rid in STUDY.runs_read_by(reader.format(**wildcards))
    }


def file_of_run(output, reader):
    """The same, for an output that reads a single run."""
    return lambda wildcards: job_file(output, STUDY.job_of[STUDY.runs_read_by(reader.format(**wildcards))[0]])


def runs_of(reader):
    return lambda wildcards: runs_read(reader.format(**wildcards))


def depth_title(reader, text):
    """A depth figure's title: `text` with {net} as '<n> hidden layers of width <w>'."""

    def title(wildcards):
        hidden = STUDY.runs[STUDY.runs_read_by(reader.format(**wildcards))[0]].hidden
        return text.format(net=f"{len(hidden)} hidden layers of width {hidden[0]}")

    return title


def experiment_title(wildcards):
    return config["experiments"][wildcards.experiment].get("title", wildcards.experiment)


def experiment_columns(wildcards):
    return config["experiments"][wildcards.experiment]["columns"]


def peer_files(output):
    """One output of the peer's job, a file per split; none where the config has no peer."""
    return getattr(rules.benchmark_peer.output, output) if BENCHMARK["peer"] else []


def is_deep(wildcards):
    return len(STUDY.jobs[wildcards.job].hidden) >= config["deep_layers"]


def job_size(run, nets):
    """The peak memory (MB) and the seconds of a job that trains `nets` nets of `run` side by side
    on the table (resources.py)."""
    inputs = len(DATASET.columns(run.inputs)) if DATASET else 0
    if run.embedding == "periodic":  # the MLP reads each input's embedding
        inputs *= EMBEDDING_WIDTH
    return train_size(ROWS, inputs, run.hidden, nets, run.epochs)


def train_job_size(wildcards):
    return job_size(STUDY.jobs[wildcards.job], len(SEEDS))


def candidate_job_size(wildcards):
    """A benchmark job's: a stack of its candidate's seeds for each split of its group."""
    return job_size(CANDIDATES[wildcards.candidate], len(SEEDS) * len(group_splits(wildcards)))


def final_job_size(wildcards):
    """The final model's: each candidate trained in turn, then the chosen one again."""
    sizes = [job_size(run, len(SEEDS)) for run in CANDIDATES.values()]
    return max(m for m, _ in sizes), sum(s for _, s in sizes) + max(s for _, s in sizes)


def peer_job_size(wildcards):
    """The LightGBM peer's: it reads the raw inputs."""
    return peer_size(ROWS, len(DATASET.features) if DATASET else 0, BENCHMARK, len(SEEDS))


def resource(name, size):
    """A rule's `mem_mb` or `runtime`, from its job's size, on the attempt (a retry asks for more)."""
    return lambda wildcards, attempt: getattr(request(*size(wildcards), attempt), name)


def study_outputs():
    """Every output of the study: what `snakemake` builds with no target, and what dvc.yaml pins.
    The intermediate ones (data, runs, the benchmark's parts) are asked for too, so that one that
    is missing, as a pulled file refused for its bytes, is rebuilt. A figure whose runs the config
    does not name (Figure 9, the depth figures) is not asked for. Where the table is still to be
    downloaded, its facts are not known yet: this run gets the data, the next runs the study."""
    if DATASET is None:
        print("the table is not here yet: this run downloads it, run again for the study", file=sys.stderr)
        return [TABLE_SPEC["file"], *SPLIT_FILES]
    depth = config["figures"]["depth"] or {"gradients": [], "predictions": []}
    return [
        *rules.ingest.output,
        *rules.split.output,
        *rules.scale.output,
        *expand(rules.train.output, job=STUDY.jobs),
        *rules.benchmark_splits.output,
        *candidate_files(rules.benchmark_inner.output.inner),
        *rules.benchmark_select.output,
        *candidate_files(rules.benchmark_retrain.output.predictions),
        *peer_files("predictions"),
        *peer_files("choices"),
        *rules.inspect_data.output,
        *rules.baselines.output,
        *expand(rules.experiment_table.output, experiment=STUDY.experiments),
        *rules.parameter_table.output,
        *rules.data_figures.output,
        *rules.learning_curves.output,
        *rules.optimizer_curves.output,
        *(rules.schedule_figure.output if "schedules" in STUDY.reads else []),
        *(rules.regularization_figure.output if "regularization" in STUDY.reads else []),
        *rules.weight_figures.output,
        *rules.gradient_figure.output,
        *expand(rules.depth_gradient_figure.output, depth=depth["gradients"]),
        *expand(rules.depth_prediction_figure.output, depth=depth["predictions"]),
        *(rules.depth_first_layer_figure.output if "depth_first_layer" in STUDY.reads else []),
        *rules.final_model.output,
        *rules.final_figures.output,
        *rules.benchmark_summary.output,
        *rules.benchmark_figure.output,
        *rules.summary.output,
    ]


def candidate_files(output):
    """One output of a candidate's jobs (benchmark_inner, benchmark_retrain) per candidate and split
    group: candidate by candidate, each one's in split order."""
    return expand(output, candidate=CANDIDATES, group=range(len(SPLIT_GROUPS)))


def candidate_run(wildcards):
    """The hyperparameters of a job's candidate."""
    return CANDIDATES[wildcards.candidate].params()


def candidate_params():
    """Every candidate's hyperparameters, by name, in the config's order."""
    return {name: run.params() for name, run in CANDIDATES.items()}


def group_splits(wildcards):
    """The split numbers of a job's group."""
    return SPLIT_GROUPS[int(wildcards.group)]
