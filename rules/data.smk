# Task 1.1 and 1.3: the raw file, a clean table, its summary, the split, the scaler, baselines.


localrules:
    ingest,
    inspect_data,
    split,
    scale,
    baselines,


# Defined only when the raw file is missing (no DVC remote provided it: `dvc pull` first), so
# a pulled file is never replaced by a download.
if not os.path.exists(config["data"]["raw"]):

    rule download_data:
        output:
            raw=config["data"]["raw"],
        log:
            "results/logs/download_data.log",
        params:
            url=config["data"]["url"],
            md5=config["data"]["md5"],
        script:
            script_path("download_data")


rule ingest:
    input:
        raw=config["data"]["raw"],
        code=code("ingest"),
    output:
        clean="results/data/clean.csv",
    log:
        "results/logs/ingest.log",
    script:
        script_path("ingest")


rule inspect_data:
    input:
        clean=rules.ingest.output.clean,
        code=code("inspect_data"),
    output:
        json="results/data/summary.json",
        md=captioned("results/data/summary.md", "summary", "1 Data"),
    log:
        "results/logs/inspect_data.log",
    script:
        script_path("inspect_data")


rule split:
    input:
        clean=rules.ingest.output.clean,
        code=code("split"),
    output:
        train="results/data/split/train.txt",
        val="results/data/split/val.txt",
        test="results/data/split/test.txt",
    log:
        "results/logs/split.log",
    params:
        seed=config["split"]["seed"],
        fractions={k: float(config["split"][k]) for k in ("train", "val", "test")},
    script:
        script_path("split")


rule scale:
    input:
        clean=rules.ingest.output.clean,
        train=rules.split.output.train,
        val=rules.split.output.val,
        test=rules.split.output.test,
        code=code("scale"),
    output:
        scaler="results/data/scaler.json",
        arrays="results/data/scaled.npz",
    log:
        "results/logs/scale.log",
    script:
        script_path("scale")


rule baselines:
    input:
        arrays=rules.scale.output.arrays,
        code=code("baselines"),
    output:
        json="results/data/baselines.json",
    log:
        "results/logs/baselines.log",
    script:
        script_path("baselines")
