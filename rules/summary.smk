# The result on one page, the report's first: the final model, the benchmark, the intervals.


localrules:
    summary,


rule summary:
    input:
        final=rules.final_model.output.metrics,
        benchmark=rules.benchmark_summary.output.summary,
        published=optional(TABLE_SPEC["published"]),
        code=code("summary"),
    output:
        json=out("summary.json"),
        md=captioned(out("summary.md"), "result", "0 Result"),
        rst=out("summary.rst"),  # the report's first page (report/workflow.rst)
    log:
        out("logs/summary.log"),
    params:
        dataset=TABLE,
        reference=TABLE_SPEC["reference"],
        splits=SPLITS_KIND,
    script:
        script_path("summary")
