# Task 1.1 and 1.3: the table, a clean copy, its summary, the split, the scaler, baselines.


localrules:
    ingest,
    inspect_data,
    split,
    scale,
    baselines,


# Defined only when the table's file is missing (no DVC remote provided it: `dvc pull` first)
# and the config says where to download it, so a pulled file is never replaced by a download.
if not os.path.exists(TABLE_SPEC["file"]) and TABLE_SPEC["url"]:

    rule download_data:
        output:
            raw=TABLE_SPEC["file"],
        log:
            out("logs/download_data.log"),
        params:
            spec=TABLE_SPEC,
        script:
            script_path("download_data")


rule ingest:
    input:
        raw=TABLE_SPEC["file"],
        code=code("ingest"),
    output:
        clean=out("data/clean.csv"),
    log:
        out("logs/ingest.log"),
    params:
        # What the clean table depends on: labels, units and the rest rerun only what shows them.
        spec=canonical({k: TABLE_SPEC[k] for k in ("file", "target", "renames", "bounds")}),
    script:
        script_path("ingest")


rule inspect_data:
    input:
        clean=rules.ingest.output.clean,
        code=code("inspect_data"),
    output:
        json=out("data/summary.json"),
        md=captioned(out("data/summary.md"), "summary", "1 Data"),
    log:
        out("logs/inspect_data.log"),
    params:
        dataset=TABLE,
    script:
        script_path("inspect_data")


rule split:
    input:
        clean=rules.ingest.output.clean,
        code=code("split"),
    output:
        train=out("data/split/train.txt"),
        val=out("data/split/val.txt"),
        test=out("data/split/test.txt"),
    log:
        out("logs/split.log"),
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
        scaler=out("data/scaler.json"),
        arrays=out("data/scaled.npz"),
    log:
        out("logs/scale.log"),
    params:
        dataset=TABLE_INPUTS,
    script:
        script_path("scale")


rule baselines:
    input:
        arrays=rules.scale.output.arrays,
        code=code("baselines"),
    output:
        json=out("data/baselines.json"),
    log:
        out("logs/baselines.log"),
    script:
        script_path("baselines")
