# Figures 1-19 of the study and the regularization figure, drawn from recorded results (Figure 20
# is in final.smk).


localrules:
    data_figures,
    learning_curves,
    optimizer_curves,
    schedule_figure,
    regularization_figure,
    weight_figures,
    gradient_figure,
    depth_gradient_figure,
    depth_first_layer_figure,
    depth_prediction_figure,


INSPECTED = STUDY.runs_read_by("inspected")[0]
# Figures 1 and 3 are named after what they show: the figures' input and the target.
FIGURE_INPUT = file_name(DATASET.figure_input if DATASET else "input")
TARGET = file_name(TABLE_SPEC["target"])
SWEEPS = "2-3 Training sweeps"


rule data_figures:
    input:
        clean=rules.ingest.output.clean,
        code=code("data_figures"),
    output:
        hist=captioned(figure(f"fig01_{FIGURE_INPUT}_histogram"), "fig01", "1 Data"),
        box=captioned(figure("fig02_input_boxplots"), "fig02", "1 Data"),
        hist2d=captioned(figure(f"fig03_{FIGURE_INPUT}_{TARGET}_hist2d"), "fig03", "1 Data"),
    log:
        out("logs/figures/data_figures.log"),
    params:
        dataset=TABLE,
    script:
        script_path("data_figures")


rule learning_curves:
    input:
        histories=files_of_runs("history", "learning_curves"),
        baselines=rules.baselines.output.json,
        code=code("curve_figure"),
    output:
        png=captioned(figure("fig05_learning_curves"), "fig05", SWEEPS),
    log:
        out("logs/figures/learning_curves.log"),
    params:
        runs=runs_of("learning_curves"),
        label_keys=["hidden"],
        drop_sgd=False,
        title="Learning curves of three architectures",
        dataset=TABLE,
    script:
        script_path("curve_figure")


use rule learning_curves as optimizer_curves with:
    input:
        histories=files_of_runs("history", "optimizer_curves"),
        baselines=rules.baselines.output.json,
        code=code("curve_figure"),
    output:
        png=captioned(figure("fig07_optimizers"), "fig07", SWEEPS),
        with_sgd=captioned(figure("fig08_optimizers_with_sgd"), "fig08", SWEEPS),
    log:
        out("logs/figures/optimizer_curves.log"),
    params:
        runs=runs_of("optimizer_curves"),
        label_keys=["optimizer", "momentum", "lr"],
        drop_sgd=True,
        title="Optimizers",
        dataset=TABLE,


rule schedule_figure:
    input:
        histories=files_of_runs("history", "schedules"),
        code=code("schedule_figure"),
    output:
        png=captioned(figure("fig09_learning_rate_schedules"), "fig09", SWEEPS),
        data=out("figures/fig09_learning_rate_schedules.csv"),
    log:
        out("logs/figures/schedule_figure.log"),
    params:
        runs=runs_of("schedules"),
    script:
        script_path("schedule_figure")


rule regularization_figure:
    input:
        histories=files_of_runs("history", "regularization"),
        baselines=rules.baselines.output.json,
        code=code("regularization_figure"),
    output:
        png=captioned(figure("regularization_curves"), "regularization", SWEEPS),
        verdict=out("figures/regularization_curves.txt"),  # the caption includes it
    log:
        out("logs/figures/regularization_figure.log"),
    params:
        runs=runs_of("regularization"),
        dataset=TABLE,
    script:
        script_path("regularization_figure")


rule weight_figures:
    input:
        weights=file_of_run("weights", "inspected"),
        code=code("weight_figures"),
    output:
        init_hist=captioned(figure("fig11_initial_weight_histograms"), "fig11", "4 Weights"),
        trained=captioned(figure("fig12_trained_weight_heatmaps"), "fig12", "4 Weights"),
        untrained=captioned(figure("fig13_untrained_weight_heatmaps"), "fig13", "4 Weights"),
    log:
        out("logs/figures/weight_figures.log"),
    params:
        run=STUDY.runs[INSPECTED].params(),
        inputs=len(DATASET.columns(STUDY.runs[INSPECTED].inputs)) if DATASET else 0,
        seed=SEEDS[0],
    script:
        script_path("weight_figures")


rule gradient_figure:
    input:
        gradients=file_of_run("gradients", "inspected"),
        code=code("gradient_figure"),
    output:
        png=captioned(figure("fig14_gradients_per_layer"), "fig14", "5 Gradients"),
    log:
        out("logs/figures/gradient_figure.log"),
    params:
        title=f"Mean |gradient| per layer, last epoch ({STUDY.job_of[INSPECTED]})",
        log_scale=False,
    script:
        script_path("gradient_figure")


use rule gradient_figure as depth_gradient_figure with:
    input:
        gradients=file_of_run("gradients", "depth_gradients/{depth}"),
        code=code("gradient_figure"),
    output:
        png=captioned(figure("depth_gradients_{depth}_layers"), "depth_gradients", "5 Gradients"),
    log:
        out("logs/figures/depth_gradients_{depth}.log"),
    params:
        title=depth_title("depth_gradients/{depth}", "Mean |gradient| per layer, {net}"),
        log_scale=True,


rule depth_first_layer_figure:
    input:
        gradients=files_of_runs("gradients", "depth_first_layer"),
        code=code("depth_first_layer_figure"),
    output:
        png=captioned(figure("depth_first_layer_gradient"), "depth_first_layer", "5 Gradients"),
    log:
        out("logs/figures/depth_first_layer.log"),
    script:
        script_path("depth_first_layer_figure")


rule depth_prediction_figure:
    input:
        predictions=file_of_run("predictions", "depth_predictions/{depth}"),
        code=code("depth_prediction_figure"),
    output:
        png=captioned(
            figure("depth_predictions_{depth}_layers"),
            "depth_predictions",
            "5 Gradients",
        ),
    log:
        out("logs/figures/depth_predictions_{depth}.log"),
    params:
        seed=SEEDS[0],
        title=depth_title("depth_predictions/{depth}", "{net}: validation set"),
        dataset=TABLE,
    script:
        script_path("depth_prediction_figure")
