# Tables: one per experiment (Figures 4, 6 and 10 of the original) and the parameter count.

localrules:
    experiment_table,
    parameter_table,


rule experiment_table:
    conda:
        "../environment.yml"
    input:
        histories=lambda wc: expand("results/runs/{job}/history.csv", job=_jobs_of(wc.experiment)),
        metrics=lambda wc: expand("results/runs/{job}/metrics.json", job=_jobs_of(wc.experiment)),
    output:
        csv=report(
            "results/tables/{experiment}.csv",
            caption="../report/experiment_table.rst",
            category="2-3 Training sweeps",
            subcategory="{experiment}",
        ),
        md="results/tables/{experiment}.md",
    params:
        runs=lambda wc: {r: STUDY.runs[r] for r in STUDY.experiments[wc.experiment]},
        job_of=lambda wc: {r: STUDY.job_of[r] for r in STUDY.experiments[wc.experiment]},
        title=lambda wc: config["experiments"][wc.experiment].get("title", wc.experiment),
    log:
        "results/logs/tables/{experiment}.log",
    script:
        "../scripts/experiment_table.py"


rule parameter_table:
    conda:
        "../environment.yml"
    output:
        csv=report(
            "results/tables/parameter_count.csv",
            caption="../report/parameter_count.rst",
            category="2-3 Training sweeps",
        ),
        md="results/tables/parameter_count.md",
    params:
        hidden=[
            list(h)
            for h in sorted({tuple(r["hidden"]) for r in STUDY.runs.values()}, key=lambda h: (len(h), h))
        ],
    log:
        "results/logs/tables/parameter_count.log",
    script:
        "../scripts/parameter_table.py"
