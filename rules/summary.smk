# The result on one page, the report's first: the final model, the benchmark, the intervals.


localrules:
    summary,


rule summary:
    input:
        final=rules.final_model.output.metrics,
        benchmark=rules.benchmark_summary.output.summary,
        published=BENCHMARK["published"],
        code=code("summary"),
    output:
        json="results/summary.json",
        md=captioned("results/summary.md", "result", "0 Result"),
        rst="results/summary.rst",  # the report's first page (report/workflow.rst)
    log:
        "results/logs/summary.log",
    script:
        script_path("summary")
