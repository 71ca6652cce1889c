"""Each rule's code inputs come from its script's imports, transitively, in the workflow's tree."""

import shutil

from conftest import ROOT

from concrete_study.sources import library_sources


def test_imports_are_followed_through_the_library_of_the_given_tree(tmp_path):
    shutil.copytree(ROOT / "src", tmp_path / "src")
    lib = tmp_path / "src" / "concrete_study"
    script = tmp_path / "job.py"
    script.write_text(
        "import os\n"
        "from concrete_study import plotting\n"
        "import concrete_study_extra\n"  # another package: not the library
        "def main():\n"
        "    from concrete_study.errors import DataError\n"  # an import inside a function counts
    )
    found = library_sources(script, tmp_path)
    # plotting imports dataset and files, which import inputs and errors: followed transitively.
    modules = ("dataset", "errors", "files", "inputs", "plotting")
    assert found == [f"src/concrete_study/{m}.py" for m in modules]
    # The tree's own copy decides: a module that imports more there reruns more.
    (lib / "errors.py").write_text((lib / "errors.py").read_text() + "\nfrom concrete_study import runs\n")
    assert "src/concrete_study/runs.py" in library_sources(script, tmp_path)
    assert "src/concrete_study/runs.py" not in library_sources(script, ROOT)


def test_a_modules_c_source_is_one_of_its_files():
    script = ROOT / "scripts" / "train.py"
    found = library_sources(script, ROOT)
    assert "src/concrete_study/cpu_pass.py" in found and "src/concrete_study/cpu_pass.c" in found
    figure = library_sources(ROOT / "scripts" / "curve_figure.py", ROOT)
    assert figure and not any(name.endswith(".c") for name in figure)
