# concrete-study: a deep-learning study of concrete compressive strength.
# Reads like a table of contents: config, validation, one .smk per stage, and `all`.
import os
import sys

from snakemake.utils import min_version

from concrete_study.config import ConfigError, read_yaml, validate
from concrete_study.data import DataError, check_md5
from concrete_study.runs import expand_study, resolve

min_version("9.0")


# A --configfile replaces config/config.yaml instead of being merged into it: a study is one file.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


try:
    for _path in workflow.overwrite_configfiles or ["config/config.yaml"]:
        read_yaml(_path)  # rejects duplicate keys, which Snakemake's loader silently merges
    _checked = validate(config, os.path.join(workflow.basedir, "config", "schema.yaml"))
except ConfigError as exc:
    sys.exit(f"config error: {exc}")
config.clear()
config.update(_checked)
STUDY = expand_study(config)
try:
    check_md5(config["data"]["raw"], config["data"]["md5"])
except DataError as exc:
    sys.exit(f"data error: {exc}")

# Library modules whose edits change trained numbers; plotting edits only redraw.
ENGINE_SOURCES = [
    "src/concrete_study/engine.py",
    "src/concrete_study/model.py",
    "src/concrete_study/records.py",
]


wildcard_constraints:
    job=r"h[A-Za-z0-9_.\-]+",
    experiment=r"[a-z][a-z0-9_]*",


report: "report/workflow.rst"



include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/analysis.smk"
include: "rules/figures.smk"
include: "rules/final.smk"


rule all:
    input:
        rules.inspect_data.output,
        rules.baselines.output,
        expand("results/tables/{experiment}.{ext}", experiment=STUDY.experiments, ext=["csv", "md"]),
        rules.parameter_table.output,
        FIGURES,
        FINAL_OUTPUTS,
    default_target: True
