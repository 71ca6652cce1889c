"""The result on one page: its numbers are the final model's and the benchmark's, in Markdown for
git and as tables on the report's first page."""

import json
import math
import re

import pytest
from conftest import ROOT
from docutils.core import publish_parts

from concrete_study.markdown import render


@pytest.mark.slow
def test_the_headline_is_the_final_model_and_the_benchmark(smoke_study):
    results = smoke_study / "results" / "smoke"
    final = json.loads((results / "final" / "metrics.json").read_text())
    bench = json.loads((results / "benchmark" / "summary.json").read_text())
    head = json.loads((results / "summary.json").read_text())
    assert head["final"]["test_rmse"] == final["test_rmse"] and head["final"]["test_r2"] == final["test_r2"]
    assert head["final"]["test_rmse_ci95_low"] ** 2 == pytest.approx(final["test_mse_ci95"][0])
    assert head["benchmark"]["rmse_mean"] == bench["rmse_mean"]
    assert head["interval"]["benchmark_coverage"] == bench["coverage"]
    assert head["interval"]["final_coverage"] == final["interval"]["test_coverage"]
    assert head["benchmark"]["peer_rmse_mean"] == bench["peer"]["rmse_mean"]
    assert sum(len(group) for group in head.values()) == 15
    page = (results / "summary.md").read_text()
    lo, hi = (math.sqrt(v) for v in final["test_mse_ci95"])
    assert f"| {final['test_rmse']:.2f} ({lo:.2f}-{hi:.2f}) | {final['test_mae']:.2f} |" in page
    assert "| Original study's final model | 5.51 |" in page  # MSE 30.41
    assert (
        "| Final model: MLP [16, 8] on the derived inputs through periodic embeddings, each seed the mean "
        "of 2 snapshots, blended in equal parts with LightGBM, 2 seeds each |" in page
    )
    assert f"| Its LightGBM peer alone | {final['peer']['rmse']:.2f} |" in page  # the smoke study blends
    assert f"| {bench['rmse_mean']:.2f} ± {bench['rmse_se']:.2f} | measured here |" in page
    assert "| Best published: WGBoost | 4.15 ± 0.52 (sd) |" in page
    assert (
        f"| LightGBM peer, a seed ensemble tuned per split on the same inner rows | "
        f"{bench['peer']['rmse_mean']:.2f} ± " in page
    )
    assert (
        page.index("LightGBM peer")
        < page.index("Equal blend of the network and the peer")
        < page.index("Best published")
    )
    # Nothing on the page depends on the commit or the machine's clock: a rebuild in a clean clone
    # leaves git status clean.
    assert "commit" not in page and "Built from" not in page
    # The report's first page is the same page in reStructuredText: rendered, its tables are tables.
    html = publish_parts((results / "summary.rst").read_text(), writer="html")["html_body"]
    assert html.count("<table") == 2 and "<pre" not in html and "|" not in html
    assert f"<td>{final['test_rmse']:.2f} ({lo:.2f}-{hi:.2f})</td>" in html


def test_one_page_renders_as_markdown_and_restructuredtext():
    page = [
        ("title", "Result"),
        ("heading", "Scores"),
        ("table", ["model", "RMSE"], [["net", "3.78"], ["peer", "3.97"]], "lr"),
        ("text", "Intervals covered 90%."),
    ]
    assert render(page, "md") == (
        "# Result\n\n## Scores\n\n| model | RMSE |\n| --- | ---: |\n| net | 3.78 |\n| peer | 3.97 |\n\n"
        "Intervals covered 90%.\n"
    )
    html = publish_parts(render(page, "rst"), writer="html")["html_body"]
    assert '<h1 class="title">Result</h1>' in html and "<th" in html and "<td>3.97</td>" in html
    assert "Intervals covered 90%." in html


def test_the_readme_quotes_the_result_page():
    """Every number in the README's result table is one that results/summary.md holds."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The result") : readme.index("## Run it")]
    table = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    page = (ROOT / "results" / "summary.md").read_text()
    numbers = [n for line in table for n in re.findall(r"\d+\.\d+", line) if n not in ("90", "95")]
    assert len(numbers) >= 15
    assert [n for n in numbers if n not in page] == []
