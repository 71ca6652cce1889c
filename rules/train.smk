# Tasks 1.4, 2, 3, 5: one job per configuration, all seeds stacked in one process.


rule train:
    input:
        arrays=rules.scale.output.arrays,
        code=code("train"),
    output:
        history="results/runs/{job}/history.csv",
        gradients="results/runs/{job}/gradients.csv",
        predictions="results/runs/{job}/val_predictions.csv",
        weights="results/runs/{job}/weights.pt",
        metrics="results/runs/{job}/metrics.json",
    # Wall time is a log, not a result: a clone that pulled the results needs none (docs/dvc.md).
    log:
        messages="results/logs/train/{job}.log",
        time="results/logs/train/{job}.time.csv",
    benchmark:
        "results/benchmarks/train/{job}.tsv"
    # The deep nets are the longest jobs: start them first.
    priority: lambda wc: 10 if is_deep(wc) else 0
    threads: config["threads"]
    resources:
        mem_mb=1000,
        runtime=lambda wc: 30 if is_deep(wc) else 10,
    params:
        run=lambda wc: STUDY.jobs[wc.job].params(),
        seeds=SEEDS,
        device=config["device"],
    script:
        script_path("train")
