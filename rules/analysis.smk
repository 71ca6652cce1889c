# Tables: one per experiment (Figures 4, 6 and 10 of the original) and the parameter count.


localrules:
    experiment_table,
    parameter_table,


rule experiment_table:
    input:
        histories=files_of_runs("history", "table/{experiment}"),
        code=code("experiment_table"),
    output:
        csv=captioned(
            out("tables/{experiment}.csv"),
            "experiment_table",
            "2-3 Training sweeps",
            subcategory="{experiment}",
        ),
        md=out("tables/{experiment}.md"),
    log:
        messages=out("logs/tables/{experiment}.log"),
        time=out("logs/tables/{experiment}.time.csv"),
    params:
        runs=runs_of("table/{experiment}"),
        times=time_logs("table/{experiment}"),
        title=experiment_title,
        columns=experiment_columns,
        dataset=TABLE,
    script:
        script_path("experiment_table")


rule parameter_table:
    input:
        code=code("parameter_table"),
    output:
        csv=captioned(
            out("tables/parameter_count.csv"),
            "parameter_count",
            "2-3 Training sweeps",
        ),
        md=out("tables/parameter_count.md"),
    log:
        out("logs/tables/parameter_count.log"),
    params:
        hidden=[list(h) for h in sorted({r.hidden for r in STUDY.runs.values()}, key=lambda h: (len(h), h))],
        inputs=len(DATASET.features) if DATASET else 0,  # the original's MLPs read the raw inputs
    script:
        script_path("parameter_table")
