# Helpers the rules share: which job trains a run, which runs a figure shows.


def _is_deep(wildcards):
    return len(STUDY.jobs[wildcards.job]["hidden"]) >= config["deep_layers"]


def _jobs_of(experiment):
    return sorted({STUDY.job_of[r] for r in STUDY.experiments[experiment]})


def _depth_job(depth):
    width = config["figures"]["depth_width"]
    for rid in STUDY.experiments.get("depth", []):
        if STUDY.runs[rid]["hidden"] == [width] * depth:
            return STUDY.job_of[rid]
    raise ValueError(f"config key 'figures': no run of experiment 'depth' has {depth} x {width}")


def _curves(figure):
    return {rid: STUDY.runs[rid] for rid in STUDY.figures[figure]}


def _histories(run_ids):
    return [f"results/runs/{STUDY.job_of[r]}/history.csv" for r in run_ids]


INSPECTED_JOB = STUDY.job_of[STUDY.figures["inspected"][0]]
DEPTH_JOBS = {r: STUDY.job_of[r] for r in STUDY.experiments.get("depth", [])}
