"""The code base stays clean: ruff, snakefmt and Snakemake's linter."""

import ast
import re
import subprocess

from conftest import BIN, ENV, ROOT


def test_ruff_is_clean():
    proc = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_snakefmt_is_clean():
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "rules"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakemake_lint_finds_nothing_but_the_missing_conda_directives():
    """Rules carry no `conda:` directive: the project installs with pip into one environment
    (environment.yml is the manual conda route), and an environment that installs the project
    itself cannot be built from Snakemake's conda folder. Every other lint must be absent."""
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--lint"], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    out = proc.stdout + proc.stderr
    lints = re.findall(r"^    \* (.+)$", out, re.M)
    rules = re.findall(r"^Lints for rule (\w+)", out, re.M)
    assert "Lints for snakefile" not in out, out
    assert set(lints) == {"Specify a conda environment or container for each rule.:"}, out
    assert len(lints) == len(rules), out


def test_no_function_of_the_library_or_a_script_is_longer_than_60_lines():
    """A function a reader takes in at once: the library's and the scripts' are at most 60 lines."""
    long = []
    for path in [*(ROOT / "src" / "concrete_study").glob("*.py"), *(ROOT / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.name} ({lines} lines)")
    assert long == []
