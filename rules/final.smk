# Task 6: the benchmark's protocol on the study's split: chosen on val, retrained on train+val, tested once.


localrules:
    final_figures,


rule final_model:
    input:
        clean=rules.ingest.output.clean,
        train=rules.split.output.train,
        val=rules.split.output.val,
        test=rules.split.output.test,
        code=code("final_model"),
    output:
        model=out("final/model.pt"),
        metrics=out("final/metrics.json"),
        test_predictions=captioned(out("final/test_predictions.csv"), "final_predictions", "6 Final model"),
        fit_predictions=out("final/fit_predictions.csv"),
        importance=captioned(out("final/importance.csv"), "importance_table", "6 Final model"),
    log:
        messages=out("logs/final_model.log"),
        benchmark=out("benchmarks/final_model.tsv"),
    priority: 10  # one of the longest jobs: started early, it does not end the run alone
    threads: config["threads"]
    resources:
        mem_mb=resource("mem_mb", final_job_size),
        runtime=resource("runtime", final_job_size),
    params:
        candidates=candidate_params(),
        dataset=TABLE,
        peer=PEER,
        seeds=SEEDS,
        device=config["device"],
        level=config["interval_level"],
        bootstrap=config["final"]["bootstrap"],
        repeats=config["final"]["importance_repeats"],
    script:
        script_path("final_model")


rule final_figures:
    input:
        metrics=rules.final_model.output.metrics,
        test_predictions=rules.final_model.output.test_predictions,
        fit_predictions=rules.final_model.output.fit_predictions,
        importance=rules.final_model.output.importance,
        code=code("final_figures"),
    output:
        predicted=captioned(figure("fig20_final_predicted_vs_true"), "fig20", "6 Final model"),
        importance=captioned(figure("feature_importance"), "importance", "6 Final model"),
    log:
        out("logs/figures/final_figures.log"),
    params:
        dataset=TABLE,
    script:
        script_path("final_figures")
