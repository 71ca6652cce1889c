"""A job's frame (logs.log_to): its output in its log, a failure in one line, a quick exit."""

import gc

import pytest

from concrete_study.errors import DataError
from concrete_study.logs import log_to


@pytest.fixture
def thawed():
    yield
    gc.unfreeze()  # what a finished job froze goes back to the collector of this process


def test_a_finished_job_leaves_its_objects_out_of_the_last_collection(tmp_path, capsys, thawed):
    gc.unfreeze()
    with log_to(tmp_path / "job.log"):
        print("trained")
        made = [[] for _ in range(1000)]
    assert gc.get_freeze_count() >= len(made)
    assert (tmp_path / "job.log").read_text() == "trained\n" and capsys.readouterr().out == ""


def test_a_failed_job_is_one_line_on_the_terminal_and_not_frozen(tmp_path, capsys, thawed):
    gc.unfreeze()
    with pytest.raises(SystemExit) as exit_, log_to(tmp_path / "job.log"):
        raise DataError("data/x.csv: column 'age' missing")
    assert exit_.value.code == 1 and gc.get_freeze_count() == 0
    assert capsys.readouterr().err == "error: data/x.csv: column 'age' missing\n"
    assert (tmp_path / "job.log").read_text() == "error: data/x.csv: column 'age' missing\n"
