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


INSPECTED = STUDY.figures["inspected"][0]
SWEEPS = "2-3 Training sweeps"


rule data_figures:
    input:
        clean=rules.ingest.output.clean,
        code=code("data_figures"),
    output:
        hist=captioned(figure("fig01_cement_histogram"), "fig01", "1 Data"),
        box=captioned(figure("fig02_input_boxplots"), "fig02", "1 Data"),
        hist2d=captioned(figure("fig03_cement_strength_hist2d"), "fig03", "1 Data"),
    log:
        "results/logs/figures/data_figures.log",
    script:
        script_path("data_figures")


rule learning_curves:
    input:
        histories=figure_runs("learning_curves")[1],
        baselines=rules.baselines.output.json,
        code=code("curve_figure"),
    output:
        png=captioned(figure("fig05_learning_curves"), "fig05", SWEEPS),
    log:
        "results/logs/figures/learning_curves.log",
    params:
        runs=figure_runs("learning_curves")[0],
        label_keys=["hidden"],
        drop_sgd=False,
        title="Learning curves of three architectures",
    script:
        script_path("curve_figure")


use rule learning_curves as optimizer_curves with:
    input:
        histories=figure_runs("optimizer_curves")[1],
        baselines=rules.baselines.output.json,
        code=code("curve_figure"),
    output:
        png=captioned(figure("fig07_optimizers"), "fig07", SWEEPS),
        with_sgd=captioned(figure("fig08_optimizers_with_sgd"), "fig08", SWEEPS),
    log:
        "results/logs/figures/optimizer_curves.log",
    params:
        runs=figure_runs("optimizer_curves")[0],
        label_keys=["optimizer", "momentum", "lr"],
        drop_sgd=True,
        title="Optimizers",


rule schedule_figure:
    input:
        histories=run_files("history", STUDY.experiments.get("schedulers", [])),
        code=code("schedule_figure"),
    output:
        png=captioned(figure("fig09_learning_rate_schedules"), "fig09", SWEEPS),
        data="results/figures/fig09_learning_rate_schedules.csv",
    log:
        "results/logs/figures/schedule_figure.log",
    params:
        jobs=STUDY.jobs_of(STUDY.experiments.get("schedulers", [])),  # the order of the inputs
        epochs={r: STUDY.runs[r].epochs for r in STUDY.experiments.get("schedulers", [])},
        job_of={r: STUDY.job_of[r] for r in STUDY.experiments.get("schedulers", [])},
    script:
        script_path("schedule_figure")


rule weight_figures:
    input:
        weights=job_file("weights", STUDY.job_of[INSPECTED]),
        code=code("weight_figures"),
    output:
        init_hist=captioned(figure("fig11_initial_weight_histograms"), "fig11", "4 Weights"),
        trained=captioned(figure("fig12_trained_weight_heatmaps"), "fig12", "4 Weights"),
        untrained=captioned(figure("fig13_untrained_weight_heatmaps"), "fig13", "4 Weights"),
    log:
        "results/logs/figures/weight_figures.log",
    params:
        hidden=STUDY.runs[INSPECTED].params()["hidden"],
        seed=SEEDS[0],
    script:
        script_path("weight_figures")


rule gradient_figure:
    input:
        gradients=job_file("gradients", STUDY.job_of[INSPECTED]),
        code=code("gradient_figure"),
    output:
        png=captioned(figure("fig14_gradients_per_layer"), "fig14", "5 Gradients"),
    log:
        "results/logs/figures/gradient_figure.log",
    params:
        title=f"Mean |gradient| per layer, last epoch ({STUDY.job_of[INSPECTED]})",
        log_scale=False,
    script:
        script_path("gradient_figure")


use rule gradient_figure as depth_gradient_figure with:
    input:
        gradients=lambda wc: job_file("gradients", depth_job(int(wc.depth))),
        code=code("gradient_figure"),
    output:
        png=captioned(figure("depth_gradients_{depth}_layers"), "depth_gradients", "5 Gradients"),
    log:
        "results/logs/figures/depth_gradients_{depth}.log",
    params:
        title=lambda wc: f"Mean |gradient| per layer, {wc.depth} hidden layers of width {config['figures']['depth_width']}",
        log_scale=True,


rule depth_first_layer_figure:
    input:
        gradients=run_files("gradients", STUDY.experiments.get("depth", [])),
        code=code("depth_first_layer_figure"),
    output:
        png=captioned(figure("depth_first_layer_gradient"), "depth_first_layer", "5 Gradients"),
    log:
        "results/logs/figures/depth_first_layer.log",
    script:
        script_path("depth_first_layer_figure")


rule depth_prediction_figure:
    input:
        predictions=lambda wc: job_file("predictions", depth_job(int(wc.depth))),
        code=code("depth_prediction_figure"),
    output:
        png=captioned(
            figure("depth_predictions_{depth}_layers"),
            "depth_predictions",
            "5 Gradients",
        ),
    log:
        "results/logs/figures/depth_predictions_{depth}.log",
    params:
        seed=SEEDS[0],
        title=lambda wc: f"{wc.depth} hidden layers of width {config['figures']['depth_width']}: validation set",
    script:
        script_path("depth_prediction_figure")


# Every figure, from the rules' own outputs. Figure 9 needs an experiment named `schedulers`;
# the depth figures one named `depth`.
FIGURES = [
    *rules.data_figures.output,
    *rules.learning_curves.output,
    *rules.optimizer_curves.output,
    *rules.weight_figures.output,
    *rules.gradient_figure.output,
]
if "schedulers" in STUDY.experiments:
    FIGURES += rules.schedule_figure.output
if "depth" in STUDY.experiments:
    FIGURES += expand(rules.depth_gradient_figure.output, depth=config["figures"]["depth_gradients"])
    FIGURES += expand(
        rules.depth_prediction_figure.output,
        depth=config["figures"]["depth_predictions"],
    )
    FIGURES += rules.depth_first_layer_figure.output
