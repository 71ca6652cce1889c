# The standard benchmark: the published 90/10 splits, an honest choice per split, one test score.


localrules:
    get_data,
    benchmark_splits,
    benchmark_select,
    benchmark_summary,
    benchmark_figure,


# Defined only when split files are missing (no DVC remote provided them: `dvc pull` first) and
# the config says where to download them.
if not all(os.path.exists(f) for f in SPLIT_FILES) and TABLE_SPEC["splits_url"]:

    rule download_splits:
        input:
            md5=optional(TABLE_SPEC["splits_md5"]),
            code=code("download_splits"),
        output:
            SPLIT_FILES,
        log:
            out("logs/download_splits.log"),
        params:
            url=lambda wildcards: TABLE_SPEC["splits_url"],  # its {name} is not a wildcard
        script:
            script_path("download_splits")


# `snakemake get_data` (run by `make data`) downloads whatever DVC did not provide.
rule get_data:
    input:
        TABLE_SPEC["file"],
        SPLIT_FILES,


# The published splits of dataset.splits, or seeded random 90/10 ones (split N: split.seed + N).
rule benchmark_splits:
    input:
        clean=rules.ingest.output.clean,
        files=SPLIT_FILES,
        code=code("benchmark_splits"),
    output:
        splits=out("benchmark/splits.npz"),
    log:
        out("logs/benchmark/splits.log"),
    params:
        splits=BENCHMARK["splits"],
        inner=BENCHMARK["inner"],
        seed=config["split"]["seed"],
    script:
        script_path("benchmark_splits")


# A candidate's splits train in four jobs (SPLIT_GROUPS), each a group of them side by side.
rule benchmark_inner:
    input:
        clean=rules.ingest.output.clean,
        splits=rules.benchmark_splits.output.splits,
        code=code("benchmark_inner"),
    output:
        inner=out("benchmark/inner/{candidate}/group_{group}.npz"),
    log:
        messages=out("logs/benchmark/inner/{candidate}/group_{group}.log"),
        benchmark=out("benchmarks/benchmark/inner/{candidate}/group_{group}.tsv"),
    priority: 20  # the benchmark's chain (inner, select, retrain) is the longest: start it first
    threads: config["threads"]
    resources:
        mem_mb=resource("mem_mb", candidate_job_size),
        runtime=resource("runtime", candidate_job_size),
    params:
        run=candidate_run,
        splits=group_splits,
        seeds=SEEDS,
        device=config["device"],
        dataset=TABLE_INPUTS,
    script:
        script_path("benchmark_inner")


rule benchmark_select:
    input:
        inner=candidate_files(rules.benchmark_inner.output.inner),
        code=code("benchmark_select"),
    output:
        selection=out("benchmark/selection.json"),
    log:
        out("logs/benchmark/select.log"),
    priority: 20  # a priority is the rule's own, not inherited: without it the retrain waits
    params:
        candidates=candidate_params(),  # in the order of the inputs; ties go to the first
    script:
        script_path("benchmark_select")


rule benchmark_retrain:
    input:
        clean=rules.ingest.output.clean,
        splits=rules.benchmark_splits.output.splits,
        selection=rules.benchmark_select.output.selection,
        code=code("benchmark_retrain"),
    output:
        predictions=out("benchmark/retrain/{candidate}/group_{group}.csv"),
    log:
        messages=out("logs/benchmark/retrain/{candidate}/group_{group}.log"),
        benchmark=out("benchmarks/benchmark/retrain/{candidate}/group_{group}.tsv"),
    priority: 20  # the benchmark's chain (inner, select, retrain) is the longest: start it first
    threads: config["threads"]
    resources:
        mem_mb=resource("mem_mb", candidate_job_size),
        runtime=resource("runtime", candidate_job_size),
    params:
        run=candidate_run,
        splits=group_splits,
        seeds=SEEDS,
        device=config["device"],
        dataset=TABLE_INPUTS,
    script:
        script_path("benchmark_retrain")


# The peer: LightGBM tuned on each split's inner rows, retrained, tested once. One job for all the
# splits: whatever changes one split's inputs (the splits file, the peer's settings) changes all.
rule benchmark_peer:
    input:
        clean=rules.ingest.output.clean,
        splits=rules.benchmark_splits.output.splits,
        code=code("benchmark_peer"),
    output:
        predictions=expand(out("benchmark/peer/split_{split}.csv"), split=range(BENCHMARK["splits"])),
        choices=expand(out("benchmark/peer/split_{split}.json"), split=range(BENCHMARK["splits"])),
    log:
        messages=out("logs/benchmark/peer.log"),
        benchmark=out("benchmarks/benchmark/peer.tsv"),
    priority: 10  # one of the longest jobs: started early, it does not end the run alone
    threads: 1
    resources:
        mem_mb=resource("mem_mb", peer_job_size),
        runtime=resource("runtime", peer_job_size),
    params:
        peer=PEER,
        seeds=SEEDS,
        dataset=TABLE_INPUTS,
    script:
        script_path("benchmark_peer")


rule benchmark_summary:
    input:
        predictions=candidate_files(rules.benchmark_retrain.output.predictions),
        selection=rules.benchmark_select.output.selection,
        inner=candidate_files(rules.benchmark_inner.output.inner),
        peer=peer_files("predictions"),
        peer_choices=peer_files("choices"),
        published=optional(TABLE_SPEC["published"]),
        code=code("benchmark_summary"),
    output:
        test_predictions=captioned(
            out("benchmark/test_predictions.csv"), "benchmark_predictions", "7 Standard benchmark"
        ),
        per_split=captioned(out("benchmark/per_split.csv"), "benchmark_per_split", "7 Standard benchmark"),
        summary=out("benchmark/summary.json"),
        table_csv=out("tables/benchmark.csv"),
        table_md=captioned(out("tables/benchmark.md"), "benchmark_table", "7 Standard benchmark"),
    log:
        out("logs/benchmark/summary.log"),
    params:
        seeds=SEEDS,
        names=list(CANDIDATES),  # the order of the inner inputs
        level=config["interval_level"],
        dataset=TABLE,
        kind=SPLITS_KIND,
    script:
        script_path("benchmark_summary")


rule benchmark_figure:
    input:
        per_split=rules.benchmark_summary.output.per_split,
        table=rules.benchmark_summary.output.table_csv,
        code=code("benchmark_figure"),
    output:
        png=captioned(figure("benchmark_rmse_per_split"), "benchmark_figure", "7 Standard benchmark"),
    log:
        out("logs/figures/benchmark_figure.log"),
    params:
        dataset=TABLE,
        splits=SPLITS_KIND,
    script:
        script_path("benchmark_figure")
