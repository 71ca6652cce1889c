# Tables: one per experiment (Figures 4, 6 and 10 of the original) and the parameter count.


localrules:
    experiment_table,
    parameter_table,


rule experiment_table:
    input:
        histories=lambda wc: run_files("history", STUDY.experiments[wc.experiment]),
        metrics=lambda wc: run_files("metrics", STUDY.experiments[wc.experiment]),
        code=code("experiment_table"),
    output:
        csv=captioned(
            "results/tables/{experiment}.csv",
            "experiment_table",
            "2-3 Training sweeps",
            subcategory="{experiment}",
        ),
        md="results/tables/{experiment}.md",
    log:
        "results/logs/tables/{experiment}.log",
    params:
        jobs=lambda wc: STUDY.jobs_of(STUDY.experiments[wc.experiment]),  # the order of the inputs
        runs=lambda wc: {r: STUDY.runs[r].params() for r in STUDY.experiments[wc.experiment]},
        job_of=lambda wc: {r: STUDY.job_of[r] for r in STUDY.experiments[wc.experiment]},
        title=lambda wc: config["experiments"][wc.experiment].get("title", wc.experiment),
    script:
        script_path("experiment_table")


rule parameter_table:
    input:
        code=code("parameter_table"),
    output:
        csv=captioned(
            "results/tables/parameter_count.csv",
            "parameter_count",
            "2-3 Training sweeps",
        ),
        md="results/tables/parameter_count.md",
    log:
        "results/logs/tables/parameter_count.log",
    params:
        hidden=[list(h) for h in sorted({r.hidden for r in STUDY.runs.values()}, key=lambda h: (len(h), h))],
    script:
        script_path("parameter_table")


TABLES = expand(rules.experiment_table.output, experiment=STUDY.experiments) + rules.parameter_table.output
