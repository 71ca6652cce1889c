# Task 6: the chosen configuration retrained on train+val with every seed and tested once.

localrules:
    final_figures,


FINAL_RUN = resolve(config, config["final"].get("run", {}))


rule final_model:
    conda:
        "../environment.yml"
    input:
        clean=rules.ingest.output.clean,
        train=rules.split.output.train,
        val=rules.split.output.val,
        test=rules.split.output.test,
        code=ENGINE_SOURCES + ["src/concrete_study/final.py"],
    output:
        model="results/final/model.pt",
        metrics="results/final/metrics.json",
        history="results/final/history.csv",
        test_predictions=report("results/final/test_predictions.csv", caption="../report/final_predictions.rst", category="6 Final model"),
        fit_predictions="results/final/fit_predictions.csv",
        importance=report("results/final/importance.csv", caption="../report/importance_table.rst", category="6 Final model"),
    params:
        run=FINAL_RUN,
        seeds=list(range(config["seeds"])),
        device=config["device"],
        bootstrap=config["final"]["bootstrap"],
        repeats=config["final"]["importance_repeats"],
    threads: config["threads"]
    resources:
        mem_mb=600,
        runtime=10,
    log:
        "results/logs/final_model.log",
    benchmark:
        "results/benchmarks/final_model.tsv"
    script:
        "../scripts/final_model.py"


rule final_figures:
    conda:
        "../environment.yml"
    input:
        metrics=rules.final_model.output.metrics,
        test_predictions=rules.final_model.output.test_predictions,
        fit_predictions=rules.final_model.output.fit_predictions,
        importance=rules.final_model.output.importance,
    output:
        predicted=report("results/figures/fig20_final_predicted_vs_true.png", caption="../report/fig20.rst", category="6 Final model"),
        importance=report("results/figures/feature_importance.png", caption="../report/importance.rst", category="6 Final model"),
    log:
        "results/logs/figures/final_figures.log",
    script:
        "../scripts/final_figures.py"


FINAL_OUTPUTS = rules.final_model.output + rules.final_figures.output
