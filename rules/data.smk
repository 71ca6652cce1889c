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
        conda:
            "../environment.yml"
        output:
            raw=config["data"]["raw"],
        params:
            url=config["data"]["url"],
            md5=config["data"]["md5"],
        log:
            "results/logs/download_data.log",
        script:
            "../scripts/download_data.py"


rule ingest:
    conda:
        "../environment.yml"
    input:
        raw=config["data"]["raw"],
    output:
        clean="results/data/clean.csv",
    log:
        "results/logs/ingest.log",
    script:
        "../scripts/ingest.py"


rule inspect_data:
    conda:
        "../environment.yml"
    input:
        clean=rules.ingest.output.clean,
    output:
        json="results/data/summary.json",
        md=report("results/data/summary.md", caption="../report/summary.rst", category="1 Data"),
    log:
        "results/logs/inspect_data.log",
    script:
        "../scripts/inspect_data.py"


rule split:
    conda:
        "../environment.yml"
    input:
        clean=rules.ingest.output.clean,
    output:
        train="results/data/split/train.txt",
        val="results/data/split/val.txt",
        test="results/data/split/test.txt",
    params:
        seed=config["split"]["seed"],
        fractions={k: float(config["split"][k]) for k in ("train", "val", "test")},
    log:
        "results/logs/split.log",
    script:
        "../scripts/split.py"


rule scale:
    conda:
        "../environment.yml"
    input:
        clean=rules.ingest.output.clean,
        train=rules.split.output.train,
        val=rules.split.output.val,
        test=rules.split.output.test,
    output:
        scaler="results/data/scaler.json",
        arrays="results/data/scaled.npz",
    log:
        "results/logs/scale.log",
    script:
        "../scripts/scale.py"


rule baselines:
    conda:
        "../environment.yml"
    input:
        arrays=rules.scale.output.arrays,
    output:
        json="results/data/baselines.json",
    log:
        "results/logs/baselines.log",
    script:
        "../scripts/baselines.py"
