"""Graded exercises tell the truth: the in-notebook checks, the generated exercises and the batch grader
(grading, python -m grading).

The grader's tests run it twice, as an instructor would, each time on a batch of notebooks made in a
temporary folder from the solution notebooks: once on whole notebooks (solutions and untouched exercises,
with private extra checks, and two submissions made of a solution's answer cells: one with a wrong
answer, one with an answer imported from the course package), once on small broken submissions, one per
way a submission can go wrong. The tests then read the rows.

The whole-notebook batch is also where the exercise notebooks are run (make test does not run them with
nbval): every one of them, untouched, goes through the grader as a student's first submission would, and
must run to its end and score zero without an error. Of the solutions it takes lessons 01 and 02, which
the other whole-notebook tests compare against; that every lesson's solution passes its checks is tested
for all lessons elsewhere: nbval compares each solution notebook's check outputs ("correct, N points"),
and tests/test_grading_lesson_*.py run each answer and stub through its check.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import secrets
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from grading import core, generate, grader, sandbox

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*_solutions.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*_exercises.ipynb"))
WHOLE_SOLUTIONS = [p for p in SOLUTIONS if p.name[:2] in ("01", "02")]
SOLUTION_01 = ROOT / "solutions" / "01_pretraining_mlm_solutions.ipynb"
SOLUTION_02 = ROOT / "solutions" / "02_sequence_encoders_solutions.ipynb"


# ---------------------------------------------------------------------------------------------------
# The in-notebook check and hint
# ---------------------------------------------------------------------------------------------------

def correct_perplexity(losses):
    import math

    values = [float(x) for x in losses]
    return math.exp(sum(values) / len(values))


def test_check_says_correct_with_the_points(capsys):
    result = core.check("01.perplexity", correct_perplexity)
    out = capsys.readouterr().out
    assert result.passed and result.status == core.CORRECT and result.points == result.max_points == 1
    assert out.strip() == "01.perplexity: correct, 1 point."


def test_check_says_not_correct_with_a_useful_message_and_no_traceback(capsys):
    def mean_of_exp(losses):
        import math

        return sum(math.exp(float(x)) for x in losses) / len(losses)

    result = core.check("01.perplexity", mean_of_exp)
    out = capsys.readouterr().out
    assert result.status == core.INCORRECT and result.points == 0 and not result
    assert out.startswith("01.perplexity: not correct yet (0 of 1 point).")
    assert "Average the losses first" in out and 'hint("01.perplexity")' in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("stub", ["ellipsis", "raises NotImplementedError"])
def test_check_says_not_attempted_for_an_untouched_stub(capsys, stub):
    def apply_mask(input_ids, tokenizer, generator=None):
        raise NotImplementedError("Write your code here, then run the check below.")

    result = core.check("01.masking", ... if stub == "ellipsis" else apply_mask)
    out = capsys.readouterr().out
    assert result.status == core.NOT_ATTEMPTED
    assert out.startswith("01.masking: not attempted yet (0 of 3 points).") and "Traceback" not in out


def test_an_error_in_the_students_code_is_reported_in_one_line(capsys):
    def broken(losses):
        return losses[10] / 0

    result = core.check("01.perplexity", broken)
    out = capsys.readouterr().out.strip()
    assert result.status == core.INCORRECT
    assert "`perplexity` raised IndexError" in out and "Traceback" not in out and "\n" not in out


def test_an_error_in_the_students_code_names_the_case_it_happened_on(capsys):
    def apply_mask(*args, **kwargs):
        raise KeyError("boom")

    core.check("01.masking", apply_mask)
    out = capsys.readouterr().out.strip()
    assert "`apply_mask` raised KeyError: 'boom' on " in out and "\n" not in out


def test_a_wrong_type_of_answer_is_named_not_crashed_on(capsys):
    class AlwaysEqual(str):
        def __eq__(self, other):
            return True

    assert core.check("01.unchanged", 2).status == core.INCORRECT
    assert core.check("01.unchanged", AlwaysEqual("a")).status == core.INCORRECT
    assert "one letter as a string" in capsys.readouterr().out


def _solution_answer(notebook: str, name: str) -> str:
    """The answer the solutions notebook binds to ``name`` (a concept question's letter)."""
    nb = nbformat.read(ROOT / "solutions" / notebook, as_version=4)
    found = [m.group(1) for cell in nb.cells if cell.cell_type == "code"
             for m in [re.search(rf"^{name} = \"(\w+)\"", cell.source, re.MULTILINE)] if m]
    assert len(found) == 1, f"{notebook} binds {name} once"
    return found[0]


def test_check_finds_the_answer_by_its_name_when_it_is_not_given(capsys):
    global answer_01_unchanged
    answer_01_unchanged = _solution_answer("01_pretraining_mlm_solutions.ipynb", "answer_01_unchanged")
    try:
        assert core.check("01.unchanged").passed
    finally:
        del answer_01_unchanged
    assert core.check("01.unchanged").status == core.MISSING


def test_an_unknown_exercise_is_named_with_the_known_ones(capsys):
    result = core.check("01.no_such_thing", correct_perplexity)
    out = capsys.readouterr().out
    assert result.status == core.UNKNOWN and "There is no exercise '01.no_such_thing'" in out
    assert "01.masking" in out and "03.order" in out and "Traceback" not in out


def test_hint_shows_one_more_hint_each_time(capsys):
    core._hints_shown.pop("03.train_step", None)
    core.hint("03.train_step")
    core.hint("03.train_step")
    first, second = capsys.readouterr().out.strip().splitlines()
    assert first.startswith("03.train_step, hint 1 of 3:") and second.startswith("03.train_step, hint 2 of 3:")
    core.hint("nope")
    assert "Known exercises" in capsys.readouterr().out


def test_every_lesson_module_registers_valid_exercises():
    ids = [ex.id for ex in core.exercises()]
    assert ids[:4] == ["01.masking", "01.unchanged", "01.masked_accuracy", "01.perplexity"]
    assert {"03.classifier", "03.freeze", "03.train_step", "03.order"} <= set(ids)
    assert len(ids) == len(set(ids))
    assert all(ex.points > 0 and ex.answer.isidentifier() and ex.hints for ex in core.exercises())


def test_registering_an_exercise_twice_or_without_points_is_refused():
    core.exercises()  # every lesson module registered first
    with pytest.raises(ValueError, match="registered twice"):
        core.exercise("01.masking", points=1, answer="x")(lambda answer: None)
    with pytest.raises(ValueError, match="points"):
        core.exercise("99.free", points=0, answer="x")
    with pytest.raises(ValueError, match="answer"):
        core.exercise("99.bad_name", points=1, answer="not a name")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_each_check_in_a_solution_notebook_is_pinned_to_correct_so_nbval_fails_when_an_answer_breaks(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and re.search(r'check\("', cell.source):
            printed = "".join(out.get("text", "") for out in cell.outputs)
            exercise_id = re.search(r'check\("([^"]+)"', cell.source).group(1)
            assert cell.source.startswith("# NBVAL_CHECK_OUTPUT"), exercise_id
            assert printed.startswith(f"{exercise_id}: correct"), (exercise_id, printed)


# ---------------------------------------------------------------------------------------------------
# Exercises are generated from the solutions
# ---------------------------------------------------------------------------------------------------

def test_exercises_are_up_to_date_with_the_solutions():
    assert [p.name for p in EXERCISES] == [generate.exercise_name(p.name) for p in SOLUTIONS]
    stale = generate.stale_exercises()
    assert not stale, f"run `make exercises`: {[p.name for p in stale]} differ from what the solutions generate"


def test_generating_twice_gives_the_same_bytes():
    for solution in SOLUTIONS:
        assert generate.exercise_for(solution) == generate.exercise_for(solution)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_an_exercise_notebook_has_stubs_no_answers_no_outputs_and_its_own_badge(path):
    nb = nbformat.read(path, as_version=4)
    text = path.read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text and "NBVAL_CHECK_OUTPUT" not in text
    assert f"blob/main/exercises/{path.name})" in nb.cells[0].source and "solutions/" not in nb.cells[0].source
    assert nb.cells[0].source.startswith(f"# Lesson {path.name[:2]} exercises: ")
    assert nb.metadata["workbook"] == {"lesson": path.name[:2]}
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    if path.name[:2] != "99":  # the review is concept questions only: it has no function to write
        assert sum("raise NotImplementedError" in c.source for c in code) >= 2
    assert any(re.search(r"^answer_\w+ = \.\.\.$", c.source, re.M) for c in code)


def test_an_indented_region_becomes_raise_and_a_top_level_one_becomes_ellipsis():
    source = ("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n"
              "    ### END SOLUTION\n\n### BEGIN SOLUTION\nanswer_a = 'b'\nfirst, second = 1, 2\n### END SOLUTION\nf(1)")
    assert generate.stub_code(source) == (
        "def f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n"
        "    raise NotImplementedError(\"Write your code here, then run the check below.\")\n\n"
        "# YOUR CODE HERE\nanswer_a = ...\nfirst = ...\nsecond = ...\nf(1)")


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a"),
    ("if True:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n", "inside a function"),
    ("### BEGIN SOLUTION\nprint(1)\n### END SOLUTION\n", "must bind a name"),
])
def test_a_region_that_cannot_become_a_stub_is_refused_with_a_reason(source, message):
    with pytest.raises(generate.GenerateError, match=message):
        generate.stub_code(source, "test cell")


def test_solution_notes_in_markdown_are_removed():
    text = "Intro.\n\n<!-- ### BEGIN SOLUTION -->\nThe answer is b.\n<!-- ### END SOLUTION -->\n\n## Next"
    assert generate.strip_markdown(text) == "Intro.\n\n## Next"


# ---------------------------------------------------------------------------------------------------
# The batch grader, on whole notebooks
# ---------------------------------------------------------------------------------------------------

EXTRA_CHECKS = '''
import math

from grading import Incorrect, exercise


@exercise("01.perplexity_private", points=2, answer="perplexity")
def check_private(perplexity):
    if abs(perplexity([math.log(50.0)] * 3) - 50.0) > 1e-6:
        raise Incorrect("not 50")
'''


def run_grader(paths: list[Path], out: Path, *options: str,
               env: dict | None = None) -> tuple[subprocess.CompletedProcess, list[dict]]:
    process = subprocess.run([sys.executable, "-m", "grading", *map(str, paths), "--out", str(out), *options],
                             cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    rows = list(csv.DictReader(out.open(encoding="utf-8"))) if out.exists() else []
    return process, rows


def cell_binding(nb, name: str) -> int:
    """Index of the code cell that defines ``name`` (a function or a top-level variable)."""
    pattern = re.compile(rf"^(def {name}\(|{name} = )", re.M)
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and pattern.search(c.source))


def answers_only(solution: Path, replace: dict[str, str]) -> nbformat.NotebookNode:
    """A submission made of a solution notebook's answer cells only (after an import cell), with the cells
    that define the names in ``replace`` given the sources there: a kernel runs it in seconds, where the
    whole notebook would first load the libraries and the lesson's data."""
    nb = nbformat.read(solution, as_version=4)
    cells = [nbformat.v4.new_code_cell("import math\nimport torch")]
    for name, source in replace.items():
        nb.cells[cell_binding(nb, name)].source = source
    cells += [c for c in nb.cells if c.cell_type == "code" and (generate.BEGIN in c.source or c.source in replace.values())]
    return nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)


@pytest.fixture(scope="module")
def whole_notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole")
    wrong = ("def masked_accuracy(logits, labels):\n"
             "    return float((logits.argmax(-1) == labels).float().mean())  # counts every position\n")
    nbformat.write(answers_only(SOLUTION_01, {"masked_accuracy": wrong}), folder / "01_one_wrong.ipynb")
    (folder / "extra_checks.py").write_text(EXTRA_CHECKS)
    borrowed = answers_only(SOLUTION_02, {"mean_pool": "from utils.models import mean_pool\n"})
    nbformat.write(borrowed, folder / "02_borrowed.ipynb")
    paths = WHOLE_SOLUTIONS + EXERCISES + [folder / "01_one_wrong.ipynb", folder / "02_borrowed.ipynb"]
    process, rows = run_grader(paths, folder / "grades.csv", "--timeout", "300", "--jobs", "2",
                               "--extra-checks", str(folder / "extra_checks.py"), "--feedback", str(folder / "fb"))
    return {"process": process, "rows": rows, "paths": paths, "folder": folder}


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {Path(row["submission"]).name: row for row in rows}


def test_grader_exits_0_and_writes_one_row_per_submission_in_order(whole_notebooks):
    assert whole_notebooks["process"].returncode == 0, whole_notebooks["process"].stderr[-2000:]
    assert [row["submission"] for row in whole_notebooks["rows"]] == [str(p) for p in whole_notebooks["paths"]]
    assert "submission" in whole_notebooks["process"].stdout and f"{len(whole_notebooks['paths'])} submission(s) graded" in whole_notebooks["process"].stdout


def test_the_solutions_get_full_marks(whole_notebooks):
    rows = by_name(whole_notebooks["rows"])
    for path in WHOLE_SOLUTIONS:
        row = rows[path.name]
        assert row["total"] == row["max"] and float(row["max"]) > 0 and row["error"] == "", row


def test_every_untouched_exercise_notebook_runs_to_its_end_and_gets_zero_without_errors(whole_notebooks):
    rows = by_name(whole_notebooks["rows"])
    assert len(EXERCISES) == len(SOLUTIONS)
    for path in EXERCISES:
        row = rows[path.name]
        assert row["total"] == "0" and float(row["max"]) > 0 and row["error"] == "", row


def test_each_submission_is_graded_on_its_own_lessons_exercises(whole_notebooks):
    rows = by_name(whole_notebooks["rows"])
    lesson_01, lesson_02 = rows["01_pretraining_mlm_solutions.ipynb"], rows["02_sequence_encoders_solutions.ipynb"]
    assert lesson_01["02.mean_pool"] == "" and lesson_02["01.masking"] == ""
    assert lesson_01["01.masking"] == "3" and lesson_02["02.mean_pool"] == "3"


def test_one_wrong_answer_loses_exactly_that_items_points(whole_notebooks):
    rows = by_name(whole_notebooks["rows"])
    right, wrong = rows["01_pretraining_mlm_solutions.ipynb"], rows["01_one_wrong.ipynb"]
    assert wrong["01.masked_accuracy"] == "0" and right["01.masked_accuracy"] == "2"
    assert float(right["total"]) - float(wrong["total"]) == 2
    assert all(wrong[k] == right[k] for k in right if k.startswith("01.") and k != "01.masked_accuracy")


def test_extra_checks_add_their_own_column(whole_notebooks):
    header = list(whole_notebooks["rows"][0])
    assert header[-4:] == ["01.perplexity_private", "total", "max", "error"]
    rows = by_name(whole_notebooks["rows"])
    assert rows["01_pretraining_mlm_solutions.ipynb"]["01.perplexity_private"] == "2"
    lesson_01_points = sum(ex.points for ex in core.exercises() if ex.id.startswith("01."))
    assert rows["01_pretraining_mlm_solutions.ipynb"]["max"] == f"{lesson_01_points + 2:g}"
    assert rows["01_pretraining_mlm_exercises.ipynb"]["01.perplexity_private"] == "0"
    assert rows["02_sequence_encoders_solutions.ipynb"]["01.perplexity_private"] == ""


def test_an_answer_imported_from_the_course_package_earns_nothing_and_says_why(whole_notebooks):
    row = by_name(whole_notebooks["rows"])["02_borrowed.ipynb"]
    solved = by_name(whole_notebooks["rows"])["02_sequence_encoders_solutions.ipynb"]
    assert row["02.mean_pool"] == "0" and float(row["total"]) == float(solved["total"]) - 3
    feedback = (whole_notebooks["folder"] / "fb" / grader.feedback_name(row["submission"])).read_text()
    assert "`mean_pool` is imported from utils.models, not written" in feedback


def borrowed_wrappers():
    import functools

    from utils import models
    from utils.models import mean_pool as imported

    def calls_it(vectors, mask):
        return models.mean_pool(vectors, mask)

    def helper(vectors, mask):
        return imported(vectors, mask)

    def calls_a_helper_that_calls_it(vectors, mask):
        return helper(vectors, mask)

    class Pooler:
        def pool(self, vectors, mask):
            return models.mean_pool(vectors, mask)

    renamed = functools.partial(models.mean_pool)
    return {"imported": imported, "wrapper": calls_it, "through a helper": calls_a_helper_that_calls_it,
            "lambda": lambda v, m: models.mean_pool(v, m), "partial": renamed, "method": Pooler().pool}


@pytest.mark.parametrize("how", list(borrowed_wrappers()))
def test_an_answer_that_is_or_wraps_a_course_function_is_refused_by_module_and_code_not_name(how):
    answer = borrowed_wrappers()[how]
    status, message = core.evaluate(core.get_exercise("02.mean_pool"), answer)
    assert status == core.INCORRECT and "`mean_pool` is imported from utils.models, not written" in message


def test_an_answer_of_the_students_own_that_calls_torch_and_builds_a_course_class_is_fine():
    def own_mean_pool(token_vectors, attention_mask):
        import torch

        weights = attention_mask.to(token_vectors.dtype).unsqueeze(-1)
        return torch.sum(token_vectors * weights, 1) / weights.sum(1)

    assert core.evaluate(core.get_exercise("02.mean_pool"), own_mean_pool) == (core.CORRECT, "")
    assert core.borrowed_from(own_mean_pool) is None


# ---------------------------------------------------------------------------------------------------
# The batch grader, on broken submissions
# ---------------------------------------------------------------------------------------------------

# What lesson 01's exercises are worth in all, from the registry (concept questions may be added).
LESSON_01_MAX = f"{sum(ex.points for ex in core.exercises() if ex.id.startswith('01.')):g}"


def small_submission() -> nbformat.NotebookNode:
    """Lesson 01's answer cells without the cells that import the heavy libraries, so that a kernel runs
    it in a second: the concept question and perplexity answered (from the solution notebook), the
    other two left as the exercise notebook's stubs."""
    solution = nbformat.read(SOLUTION_01, as_version=4)
    exercise = nbformat.read(ROOT / "exercises" / generate.exercise_name(SOLUTION_01.name), as_version=4)
    nb = nbformat.v4.new_notebook(metadata=exercise.metadata)
    nb.cells = [nbformat.v4.new_code_cell("import math"),
                solution.cells[cell_binding(solution, "answer_01_unchanged")],
                solution.cells[cell_binding(solution, "perplexity")],
                exercise.cells[cell_binding(exercise, "apply_mask")],
                exercise.cells[cell_binding(exercise, "masked_accuracy")],
                exercise.cells[cell_binding(exercise, "answer_01_two_datasets")]]
    return nb


def with_cell(source: str, at: int = 2) -> nbformat.NotebookNode:
    nb = small_submission()
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


CHEAT = '''
import sys, types
import grading
import grading.core as core
core.evaluate = lambda *args, **kwargs: ("correct", "")
core._REGISTRY.clear()
grading.check = lambda *args, **kwargs: print("correct")
def check(*args, **kwargs):
    print("01.unchanged: correct, 1 point.")
sys.modules["grading"] = types.ModuleType("grading")
class AlwaysEqual(str):
    def __eq__(self, other):
        return True
answer_01_unchanged = AlwaysEqual("a")
def perplexity(losses):
    return 1.0
print('WORKBOOK-GRADE-0000:{"id": "01.unchanged", "status": "correct", "message": ""}')
'''


def broken_submissions(folder: Path) -> dict[str, Path]:
    paths = {}

    def save(name: str, nb) -> None:
        paths[name] = folder / f"01_{name}.ipynb"
        nbformat.write(nb, paths[name])

    paths["not_json"] = folder / "01_not_json.ipynb"
    paths["not_json"].write_text("this is not a notebook {")
    paths["not_a_notebook"] = folder / "01_not_a_notebook.ipynb"
    paths["not_a_notebook"].write_text(json.dumps({"name": "my answers", "cells": "all of them"}))
    paths["nonexistent"] = folder / "01_nonexistent.ipynb"
    save("cell_raises", with_cell("raise RuntimeError('boom')"))
    save("endless_loop", with_cell("while True:\n    pass"))
    save("kernel_dies", with_cell("import os\nos._exit(1)"))
    save("floods_output", with_cell("import sys\nfor _ in range(300):\n    sys.stdout.write('x' * 100_000 + '\\n')\n"
                                    "print('y' * 10_000_000, end='')"))
    deleted = small_submission()
    del deleted.cells[2]
    save("answer_deleted", deleted)
    cheat = small_submission()
    cheat.cells.append(nbformat.v4.new_code_cell(CHEAT))
    save("cheats", cheat)
    looping = small_submission()
    looping.cells[2].source = "def perplexity(losses):\n    while True:\n        pass"
    save("answer_loops", looping)
    odd = small_submission()
    odd.metadata["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}
    odd.cells.append(nbformat.v4.new_code_cell("import io, sys\nsys.stdout = sys.stderr = io.StringIO()"))
    save("odd_kernel_and_stdout", odd)
    save("kills_its_parent", with_cell("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"))
    save("allocates_without_end", with_cell("import numpy\nchunks = []\nwhile True:\n"
                                            "    chunks.append(numpy.empty(2**28))"))
    save("intact", small_submission())
    return paths


# What bwrap says where the kernel lets no user make namespaces (a Linux without unprivileged user namespaces).
REFUSING_BWRAP = ("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, likely because the kernel does "
                  "not allow non-privileged user namespaces.' >&2\nexit 1\n")


def refusing_bwrap_env(folder: Path) -> dict:
    """The environment of a grader that finds a bwrap which may not make a sandbox (first on the PATH)."""
    tools = folder / "refusing-bwrap"
    tools.mkdir()
    (tools / "bwrap").write_text(REFUSING_BWRAP)
    (tools / "bwrap").chmod(0o755)
    return dict(os.environ, PATH=os.pathsep.join([str(tools), os.environ.get("PATH", "")]))


@functools.lru_cache(maxsize=None)
def sandbox_here() -> sandbox.Sandbox:
    return sandbox.choose(ROOT)


def batch(request, folder: Path, paths: list[Path], *options: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Grade ``paths`` on the path ``request.param`` names: "sandboxed" (bubblewrap; skipped where it cannot run)
    or "not sandboxed" (a bwrap that may not make a sandbox, so the grader falls back and says so)."""
    if request.param == "sandboxed":
        if not sandbox_here().on:
            pytest.skip(f"no sandbox on this machine: {sandbox_here().reason}")
        process, rows = run_grader(paths, folder / "grades.csv", *options)
        assert process.returncode == 0, process.stderr[-2000:]
        assert "graded in a sandbox (bubblewrap)" in process.stdout and "Not sandboxed" not in process.stderr
    else:
        process, rows = run_grader(paths, folder / "grades.csv", *options, env=refusing_bwrap_env(folder))
        assert process.returncode == 0, process.stderr[-2000:]
        assert process.stderr.count("Not sandboxed: bwrap may not make a sandbox here (bwrap: No permissions") == 1
        assert "(not sandboxed: bwrap may not make a sandbox here" in process.stdout
    assert [row["submission"] for row in rows] == [str(p) for p in paths]
    return process, rows


@pytest.fixture(scope="module", params=["sandboxed", "not sandboxed"])
def broken(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    paths = broken_submissions(folder)
    _, rows = batch(request, folder, list(paths.values()), "--timeout", "10", "--check-timeout", "10", "--jobs", "2",
                    "--feedback", str(folder / "feedback"))
    graded = {name: row for name, row in zip(paths, rows)}
    graded["_folder"] = folder
    return graded


def test_a_small_intact_submission_gets_its_two_answers(broken):
    assert broken["intact"]["total"] == "2" and broken["intact"]["max"] == LESSON_01_MAX and broken["intact"]["error"] == ""


@pytest.mark.parametrize("name, message", [
    ("not_json", "not a Jupyter notebook: the file is not JSON"),
    ("not_a_notebook", "not a Jupyter notebook"),
    ("nonexistent", "no such file"),
])
def test_a_file_that_is_not_a_notebook_gets_a_row_with_zero_and_why(broken, name, message):
    row = broken[name]
    assert row["total"] == "0" and row["max"] == LESSON_01_MAX and message in row["error"]
    assert all(row[k] == "0" for k in ("01.masking", "01.unchanged", "01.masked_accuracy", "01.perplexity"))


def test_a_cell_that_raises_is_reported_and_the_answers_before_and_after_still_count(broken):
    row = broken["cell_raises"]
    assert row["01.unchanged"] == "1" and row["01.perplexity"] == "1"
    assert "cell 3 (`raise RuntimeError('boom')`) raised RuntimeError: boom" in row["error"]


def test_an_endless_loop_is_stopped_and_the_rest_is_graded_without_it(broken):
    row = broken["endless_loop"]
    assert row["total"] == "2"
    assert "was still running when the time limit (10 s) ran out; graded a re-run without it" in row["error"]


def test_a_kernel_that_dies_costs_only_its_cell(broken):
    row = broken["kernel_dies"]
    assert row["total"] == "2" and "stopped the kernel" in row["error"]


def test_a_flood_of_output_is_thrown_away_not_graded(broken):
    assert broken["floods_output"]["total"] == "2" and broken["floods_output"]["error"] == ""


def test_a_deleted_answer_cell_costs_that_answer_and_says_so(broken):
    row = broken["answer_deleted"]
    assert row["01.unchanged"] == "1" and row["01.perplexity"] == "0"
    assert row["error"] == ("no answer defined for 01.perplexity (`perplexity`): the cell that defines it was "
                            "deleted, renamed or failed")


def test_a_submission_cannot_fool_the_grader_by_redefining_or_patching_the_checks(broken):
    row = broken["cheats"]
    assert row["total"] == "0", row


def test_a_notebook_asking_for_another_kernel_and_redirecting_stdout_is_still_graded(broken):
    row = broken["odd_kernel_and_stdout"]
    assert row["total"] == "2" and row["error"] == ""


def test_an_answer_that_loops_when_checked_is_stopped(broken):
    row = broken["answer_loops"]
    assert row["01.unchanged"] == "1" and row["01.perplexity"] == "0"
    assert "01.perplexity: `perplexity` ran for more than 10 s" in row["error"]


def test_a_submission_that_kills_its_parent_costs_only_its_own_cell_and_every_other_row_is_written(broken):
    row = broken["kills_its_parent"]
    assert "stopped the process grading it (signal 9" in row["error"] and "graded a re-run without it" in row["error"]
    assert row["total"] == "2"  # the answers of the other cells still count
    rows = list(csv.DictReader((broken["_folder"] / "grades.csv").open(encoding="utf-8")))
    assert len(rows) == len([name for name in broken if not name.startswith("_")]) and rows[-1]["total"] == "2"


def test_a_submission_that_allocates_without_end_gets_its_row_saying_it_used_more_than_the_limit(broken):
    row = broken["allocates_without_end"]
    assert row["total"] == "2", row
    assert "used more than 4 GB of memory (the limit, --memory-limit)" in row["error"], row["error"]




# ---------------------------------------------------------------------------------------------------
# What a submission tries in the sandbox, and what its row says
# ---------------------------------------------------------------------------------------------------

# These try to change the machine, so they run only in the sandbox. Marked slow here rather than by a fixture
# name in tests/conftest.py: one grader batch, with a cell that waits for pip.
SLOW = pytest.mark.slow
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
# A package of this test's own, installed in the course's Python while the batch runs, for a submission to
# try to uninstall (it is removed again at the end).
PROBE_PACKAGE = "workbook-sandbox-probe"


def wheel_source(name: str) -> str:
    """Python that writes ``NAME-1.0-py3-none-any.whl``, a wheel of one module, in the working folder: what
    pip installs without the network."""
    return f'''import base64, hashlib, zipfile
files = {{"{name}/__init__.py": b"INSTALLED = True\\n",
         "{name}-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: {name.replace('_', '-')}\\nVersion: 1.0\\n",
         "{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}}
record = "".join(f"{{path}},sha256={{base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()}},"
                 f"{{len(data)}}\\n" for path, data in files.items()) + "{name}-1.0.dist-info/RECORD,,\\n"
with zipfile.ZipFile("{name}-1.0-py3-none-any.whl", "w") as wheel:
    for path, data in files.items():
        wheel.writestr(path, data)
    wheel.writestr("{name}-1.0.dist-info/RECORD", record)'''


def escape_submissions(folder: Path, token: str) -> dict[str, Path]:
    """Lesson 01's small submission with one more cell, each trying to reach outside: pip, a process left
    running (a sleep and a listening server, in sessions of their own, named by ``token``), a file written
    into the repository, a download (a cell that raises if it took more than 5 s)."""
    cells = {
        "pip_install": wheel_source("workbook_escape") + "\n%pip install --no-index --no-deps "
                                                          "./workbook_escape-1.0-py3-none-any.whl",
        "pip_uninstall": f"%pip uninstall -y {PROBE_PACKAGE}",
        "background": (f"import subprocess, sys\nsubprocess.Popen(['sleep', '3581.{token}'], start_new_session=True)\n"
                       f"subprocess.Popen([sys.executable, '-c', \"import socket, time; s = socket.socket(); "
                       f"s.bind(('127.0.0.1', 0)); s.listen(); time.sleep(3600)  # {token}\"], start_new_session=True)"),
        "writes_repository": (f"import pathlib, utils\n"
                              f"pathlib.Path(utils.__file__).with_name('escape_{token}.py').write_text('ESCAPED = True')"),
        "download": ("import time, urllib.request\nstart = time.monotonic()\ntry:\n"
                     "    urllib.request.urlopen('https://pypi.org/simple/', timeout=60).read()\nfinally:\n"
                     "    if time.monotonic() - start > 5:\n"
                     "        raise RuntimeError(f'the download took {time.monotonic() - start:.0f} s')"),
    }
    paths = {}
    for name, source in {**cells, "intact": None}.items():
        paths[name] = folder / f"01_{name}.ipynb"
        nbformat.write(with_cell(source) if source else small_submission(), paths[name])
    return paths


def processes_named(token: str) -> list[int]:
    """The processes whose command line holds ``token`` (this one excepted)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def escapes(tmp_path_factory):
    if not sandbox_here().on:
        pytest.skip(f"no sandbox on this machine: {sandbox_here().reason}")
    folder = tmp_path_factory.mktemp("escapes")
    token = secrets.token_hex(8)
    subprocess.run([sys.executable, "-c", wheel_source(PROBE_PACKAGE.replace("-", "_"))], cwd=folder, check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    str(folder / "workbook_sandbox_probe-1.0-py3-none-any.whl")], check=True, capture_output=True)
    try:
        paths = escape_submissions(folder, token)
        process, rows = run_grader(list(paths.values()), folder / "grades.csv", "--timeout", "60", "--jobs", "2")
        assert process.returncode == 0, process.stderr[-2000:]
        assert "graded in a sandbox (bubblewrap)" in process.stdout
        yield {"rows": dict(zip(paths, rows)), "token": token, "left_running": processes_named(token),
               "installed": subprocess.run([sys.executable, "-m", "pip", "show", "-q", PROBE_PACKAGE],
                                           capture_output=True).returncode == 0}
    finally:
        for pid in processes_named(token):
            os.kill(pid, 9)
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", PROBE_PACKAGE], capture_output=True)


@SLOW
def test_in_the_sandbox_a_pip_install_fails_installs_nothing_and_the_row_says_read_only(escapes):
    row = escapes["rows"]["pip_install"]
    assert row["total"] == "2", row
    assert "cell 3 (`import base64, hashlib, zipfile`) met a read-only environment" in row["error"], row["error"]
    assert not list(SITE_PACKAGES.glob("workbook_escape*"))


@SLOW
def test_in_the_sandbox_a_pip_uninstall_fails_removes_nothing_and_the_row_says_read_only(escapes):
    row = escapes["rows"]["pip_uninstall"]
    assert row["total"] == "2", row
    assert f"cell 3 (`%pip uninstall -y {PROBE_PACKAGE}`) met a read-only environment" in row["error"], row["error"]
    assert escapes["installed"], f"{PROBE_PACKAGE} was uninstalled from the course's Python"


@SLOW
def test_in_the_sandbox_a_background_process_ends_with_its_row(escapes):
    row = escapes["rows"]["background"]
    assert row["total"] == "2" and row["error"] == "", row
    assert escapes["left_running"] == [], "a process the submission started outlived the batch"


@SLOW
def test_in_the_sandbox_a_write_into_the_repository_fails_and_the_row_says_read_only(escapes):
    row = escapes["rows"]["writes_repository"]
    assert row["total"] == "2", row
    assert "cell 3 (`import pathlib, utils`) met a read-only environment" in row["error"], row["error"]
    assert not (ROOT / "utils" / f"escape_{escapes['token']}.py").exists()


@SLOW
def test_in_the_sandbox_a_download_fails_at_once_and_the_row_says_no_network(escapes):
    row = escapes["rows"]["download"]
    assert row["total"] == "2", row
    assert row["error"] == ("cell 3 (`import time, urllib.request`) met no network: submissions are graded "
                            "offline"), row["error"]


@SLOW
def test_in_the_sandbox_a_submission_that_tries_nothing_is_graded_as_without_it(escapes):
    row = escapes["rows"]["intact"]
    assert row["total"] == "2" and row["max"] == LESSON_01_MAX and row["error"] == "", row


def feedback_table(text: str) -> dict[str, tuple[str, str]]:
    """exercise id -> (verdict, points earned) from a feedback file's table."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 4 and re.match(r"^\d\d\.", cells[0]):
            found[cells[0]] = (cells[1], cells[2].split(" / ")[0])
    return found


def test_every_submission_gets_a_feedback_file_that_matches_its_csv_row(broken):
    folder = broken["_folder"] / "feedback"
    for name, row in broken.items():
        if name.startswith("_"):
            continue
        text = (folder / grader.feedback_name(row["submission"])).read_text(encoding="utf-8")
        table = feedback_table(text)
        ids = [k for k in row if re.match(r"^\d\d\.", k) and row[k] != ""]
        assert sorted(table) == sorted(ids), name
        assert all(table[i][1] == row[i] for i in ids), (name, table, row)
        assert f"**Total: {row['total']} of {row['max']} points.**" in text
        for problem in filter(None, row["error"].split("; ")):
            assert problem[:60].replace("|", "\\|") in text, (name, problem)


def test_a_resumed_batch_grades_only_the_submissions_the_csv_does_not_have(tmp_path):
    paths = []
    for name in ("first", "second", "third"):
        paths.append(tmp_path / f"01_{name}.ipynb")
        nbformat.write(small_submission(), paths[-1])
    out = tmp_path / "grades.csv"
    process, rows = run_grader(paths[:2], out, "--timeout", "30")
    assert process.returncode == 0 and len(rows) == 2
    with out.open("a", encoding="utf-8") as handle:  # a row cut off by a power cut while it was written
        handle.write(f"{paths[2]},0,1")
    process, rows = run_grader(paths, out, "--timeout", "30", "--resume")
    assert process.returncode == 0, process.stderr[-2000:]
    assert "2 submission(s) already in" in process.stderr
    graded = re.findall(r"^graded (.*?): ", process.stderr, re.M)
    assert graded == [str(paths[2])]
    assert [row["submission"] for row in rows] == [str(p) for p in paths] and all(r["total"] == "2" for r in rows)


def test_ctrl_c_stops_the_batch_and_says_how_many_rows_were_written(tmp_path):
    import signal
    import time

    paths = [tmp_path / "01_quick.ipynb", tmp_path / "01_slow.ipynb"]
    nbformat.write(small_submission(), paths[0])
    nbformat.write(with_cell("import time\ntime.sleep(600)"), paths[1])
    out = tmp_path / "grades.csv"
    # Ctrl-C in a terminal: SIGINT with its default action. A test run started in the background (`make test &`
    # in a script, some CI runners) passes SIGINT on ignored, and a Python started so ignores it too.
    process = subprocess.Popen([sys.executable, "-m", "grading", *map(str, paths), "--out", str(out),
                                "--timeout", "600", "--jobs", "2"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(out.read_text().splitlines() if out.exists() else []) < 2:
        time.sleep(1)
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Stopped: 1 row(s) written" in err and "--resume" in err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [row["submission"] for row in rows] == [str(paths[0])]
