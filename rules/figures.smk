# Figures 1-19 of the study, drawn from recorded results (Figure 20 is in final.smk).

localrules:
    data_figures,
    learning_curves,
    optimizer_curves,
    schedule_figure,
    weight_figures,
    gradient_figure,
    depth_gradient_figure,
    depth_first_layer_figure,
    depth_prediction_figure,


FIGURES = [
    "results/figures/fig01_cement_histogram.png",
    "results/figures/fig02_input_boxplots.png",
    "results/figures/fig03_cement_strength_hist2d.png",
    "results/figures/fig05_learning_curves.png",
    "results/figures/fig07_optimizers.png",
    "results/figures/fig08_optimizers_with_sgd.png",
    "results/figures/fig11_initial_weight_histograms.png",
    "results/figures/fig12_trained_weight_heatmaps.png",
    "results/figures/fig13_untrained_weight_heatmaps.png",
    "results/figures/fig14_gradients_per_layer.png",
]
# Figure 9 needs an experiment named `schedulers`; the depth figures one named `depth`.
if "schedulers" in STUDY.experiments:
    FIGURES.append("results/figures/fig09_learning_rate_schedules.png")
if DEPTH_JOBS:
    FIGURES += expand(
        "results/figures/depth_gradients_{depth}_layers.png", depth=config["figures"]["depth_gradients"]
    )
    FIGURES += expand(
        "results/figures/depth_predictions_{depth}_layers.png", depth=config["figures"]["depth_predictions"]
    )
    FIGURES.append("results/figures/depth_first_layer_gradient.png")


rule data_figures:
    conda:
        "../environment.yml"
    input:
        clean=rules.ingest.output.clean,
    output:
        hist=report("results/figures/fig01_cement_histogram.png", caption="../report/fig01.rst", category="1 Data"),
        box=report("results/figures/fig02_input_boxplots.png", caption="../report/fig02.rst", category="1 Data"),
        hist2d=report("results/figures/fig03_cement_strength_hist2d.png", caption="../report/fig03.rst", category="1 Data"),
    log:
        "results/logs/figures/data_figures.log",
    script:
        "../scripts/data_figures.py"


rule learning_curves:
    conda:
        "../environment.yml"
    input:
        histories=_histories(STUDY.figures["learning_curves"]),
        baselines=rules.baselines.output.json,
    output:
        png=report("results/figures/fig05_learning_curves.png", caption="../report/fig05.rst", category="2-3 Training sweeps"),
    params:
        runs=_curves("learning_curves"),
        label_keys=["hidden"],
        drop_sgd=False,
        title="Learning curves of three architectures",
    log:
        "results/logs/figures/learning_curves.log",
    script:
        "../scripts/curve_figure.py"


use rule learning_curves as optimizer_curves with:
    input:
        histories=_histories(STUDY.figures["optimizer_curves"]),
        baselines=rules.baselines.output.json,
    output:
        png=report("results/figures/fig07_optimizers.png", caption="../report/fig07.rst", category="2-3 Training sweeps"),
        with_sgd=report("results/figures/fig08_optimizers_with_sgd.png", caption="../report/fig08.rst", category="2-3 Training sweeps"),
    params:
        runs=_curves("optimizer_curves"),
        label_keys=["optimizer", "momentum", "lr"],
        drop_sgd=True,
        title="Optimizers",
    log:
        "results/logs/figures/optimizer_curves.log",


rule schedule_figure:
    conda:
        "../environment.yml"
    input:
        histories=lambda wc: expand(
            "results/runs/{job}/history.csv", job=_jobs_of("schedulers")
        ),
    output:
        png=report("results/figures/fig09_learning_rate_schedules.png", caption="../report/fig09.rst", category="2-3 Training sweeps"),
        data="results/figures/fig09_learning_rate_schedules.csv",
    params:
        runs=lambda wc: {r: STUDY.runs[r] for r in STUDY.experiments["schedulers"]},
        job_of=lambda wc: {r: STUDY.job_of[r] for r in STUDY.experiments["schedulers"]},
    log:
        "results/logs/figures/schedule_figure.log",
    script:
        "../scripts/schedule_figure.py"


rule weight_figures:
    conda:
        "../environment.yml"
    input:
        weights=f"results/runs/{INSPECTED_JOB}/weights.pt",
    output:
        init_hist=report("results/figures/fig11_initial_weight_histograms.png", caption="../report/fig11.rst", category="4 Weights"),
        trained=report("results/figures/fig12_trained_weight_heatmaps.png", caption="../report/fig12.rst", category="4 Weights"),
        untrained=report("results/figures/fig13_untrained_weight_heatmaps.png", caption="../report/fig13.rst", category="4 Weights"),
    params:
        run=STUDY.jobs[INSPECTED_JOB],
        seed=0,
    log:
        "results/logs/figures/weight_figures.log",
    script:
        "../scripts/weight_figures.py"


rule gradient_figure:
    conda:
        "../environment.yml"
    input:
        gradients=f"results/runs/{INSPECTED_JOB}/gradients.csv",
    output:
        png=report("results/figures/fig14_gradients_per_layer.png", caption="../report/fig14.rst", category="5 Gradients"),
    params:
        title=f"Mean |gradient| per layer, last epoch ({INSPECTED_JOB})",
        log_scale=False,
    log:
        "results/logs/figures/gradient_figure.log",
    script:
        "../scripts/gradient_figure.py"


use rule gradient_figure as depth_gradient_figure with:
    input:
        gradients=lambda wc: f"results/runs/{_depth_job(int(wc.depth))}/gradients.csv",
    output:
        png=report("results/figures/depth_gradients_{depth}_layers.png", caption="../report/depth_gradients.rst", category="5 Gradients"),
    params:
        title=lambda wc: f"Mean |gradient| per layer, {wc.depth} hidden layers of width {config['figures']['depth_width']}",
        log_scale=True,
    log:
        "results/logs/figures/depth_gradients_{depth}.log",


rule depth_first_layer_figure:
    conda:
        "../environment.yml"
    input:
        gradients=[f"results/runs/{j}/gradients.csv" for j in sorted(set(DEPTH_JOBS.values()))],
    output:
        png=report("results/figures/depth_first_layer_gradient.png", caption="../report/depth_first_layer.rst", category="5 Gradients"),
    log:
        "results/logs/figures/depth_first_layer.log",
    script:
        "../scripts/depth_first_layer_figure.py"


rule depth_prediction_figure:
    conda:
        "../environment.yml"
    input:
        predictions=lambda wc: f"results/runs/{_depth_job(int(wc.depth))}/val_predictions.csv",
    output:
        png=report("results/figures/depth_predictions_{depth}_layers.png", caption="../report/depth_predictions.rst", category="5 Gradients"),
    params:
        title=lambda wc: f"{wc.depth} hidden layers of width {config['figures']['depth_width']}: validation set",
    log:
        "results/logs/figures/depth_predictions_{depth}.log",
    script:
        "../scripts/depth_prediction_figure.py"
