"""The exercises in nbgrader's format (python -m grading.export --nbgrader OUT/): the format of the
source assignments, and, where nbgrader is installed, the round trip through nbgrader itself."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading import core, export

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*_solutions.ipynb"))


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("course")
    process = subprocess.run([sys.executable, "-m", "grading.export", "--nbgrader", str(out)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    return out


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_each_lesson_becomes_a_source_assignment_with_one_locked_graded_cell_per_exercise(course, solution):
    name = export.assignment_name(solution)
    nb = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    lesson = name.split("_", 1)[0]
    graded = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    expected = {export.grade_id(ex.id): ex for ex in core.exercises() if ex.id.startswith(lesson + ".")}
    assert sorted(graded) == sorted(expected)
    for grade_id, cell in graded.items():
        ex = expected[grade_id]
        meta = cell.metadata.nbgrader
        assert meta["locked"] and not meta["solution"] and meta["points"] == ex.points
        assert f'check("{ex.id}"' in cell.source and ".passed" in cell.source.splitlines()[-1]
    solutions = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert solutions and all("### BEGIN SOLUTION" in c.source and c.cell_type == "code" for c in solutions)
    ids = [c.metadata.nbgrader["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids))
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert not any("BEGIN SOLUTION" in c.source for c in nb.cells if c.cell_type == "markdown")


def test_a_failing_check_fails_its_test_cell_and_a_passing_one_does_not():
    source = export._assert_passed('pooling = check("02.mean_pool", mean_pool)', "02.mean_pool")
    namespace = {"check": lambda *args: core.CheckResult("02.mean_pool", core.INCORRECT, 0, 3), "mean_pool": None}
    with pytest.raises(AssertionError, match="02.mean_pool is not correct yet"):
        exec(source, namespace)
    namespace["check"] = lambda *args: core.CheckResult("02.mean_pool", core.CORRECT, 3, 3)
    exec(source, namespace)
    assert namespace["pooling"].passed


def _nbgrader() -> str | None:
    """nbgrader is pinned in requirements.txt: the course's environment has it beside its Python."""
    beside = Path(sys.executable).parent / "nbgrader"
    return os.environ.get("NBGRADER") or (str(beside) if beside.exists() else shutil.which("nbgrader"))


@pytest.mark.skipif(_nbgrader() is None, reason="nbgrader is not installed (`make setup` installs it; or set "
                                                "NBGRADER=/path/to/nbgrader): round trip not run")
def test_nbgrader_gives_the_solutions_full_marks_and_the_untouched_release_zero(course):
    name = "02_sequence_encoders"
    # nbgrader calls tools of its own environment (alembic) by name: put its folder first on PATH.
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               PATH=os.pathsep.join([str(Path(_nbgrader()).resolve().parent), os.environ.get("PATH", "")]))

    def nbgrader(*args: str) -> subprocess.CompletedProcess:
        process = subprocess.run([_nbgrader(), *args], cwd=course, env=env, capture_output=True, text=True,
                                 timeout=1200)
        assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
        return process

    # The lesson's graded cells (answers and their locked checks), after one import cell: what nbgrader does
    # with them is the round trip; the rest of the notebook would only load the lesson's data again.
    source = course / "source" / name / f"{name}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells = [nbformat.v4.new_code_cell("import torch\nfrom grading import check")] + [
        c for c in nb.cells if "nbgrader" in c.metadata]
    assert sum(bool(c.metadata.nbgrader.get("grade")) for c in nb.cells[1:]) == len(
        [ex for ex in core.exercises() if ex.id.startswith("02.")])
    nbformat.write(nb, source)
    nbgrader("generate_assignment", name, "--force")
    release = course / "release" / name / f"{name}.ipynb"
    assert "### BEGIN SOLUTION" not in release.read_text(encoding="utf-8")
    for student, submission in (("solved", source), ("untouched", release)):
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(submission, folder / f"{name}.ipynb")
    nbgrader("autograde", name, "--force")
    nbgrader("export", "--to", str(course / "grades.csv"))
    scores = {row["student_id"]: row for row in csv.DictReader((course / "grades.csv").open(encoding="utf-8"))}
    maximum = sum(ex.points for ex in core.exercises() if ex.id.startswith("02."))
    assert float(scores["solved"]["max_score"]) == maximum
    assert float(scores["solved"]["score"]) == maximum
    assert float(scores["untouched"]["score"]) == 0
