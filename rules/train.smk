# Tasks 1.4, 2, 3, 5: one job per configuration, all seeds stacked in one process.


rule train:
    input:
        clean=rules.ingest.output.clean,
        train=rules.split.output.train,
        val=rules.split.output.val,
        code=code("train"),
    output:
        history=out("runs/{job}/history.csv"),
        gradients=out("runs/{job}/gradients.csv"),
        predictions=out("runs/{job}/val_predictions.csv"),
        weights=out("runs/{job}/weights.pt"),
        metrics=out("runs/{job}/metrics.json"),
    # Wall time is a log, not a result: a clone that pulled the results needs none (docs/dvc.md).
    log:
        messages=out("logs/train/{job}.log"),
        time=out("logs/train/{job}.time.csv"),
        benchmark=out("benchmarks/train/{job}.tsv"),
    # The deep nets are the longest jobs: start them first.
    priority: lambda wc: 10 if is_deep(wc) else 0
    threads: config["threads"]
    resources:
        mem_mb=resource("mem_mb", train_job_size),
        runtime=resource("runtime", train_job_size),
    params:
        run=lambda wc: STUDY.jobs[wc.job].params(),
        dataset=TABLE_INPUTS,
        seeds=SEEDS,
        device=config["device"],
    script:
        script_path("train")
