# concrete-study: a deep-learning study of concrete compressive strength.
# A table of contents: the config, one .smk per stage of the study, and `all`.
from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces config/config.yaml instead of being merged into it: a study is one file.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/analysis.smk"
include: "rules/figures.smk"
include: "rules/final.smk"
include: "rules/benchmark.smk"
include: "rules/summary.smk"


# Every output of the study, listed in one place (rules/common.smk).
rule all:
    default_target: True
    input:
        study_outputs(),
