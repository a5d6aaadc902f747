"""One list of lessons (utils/syllabus.py): the README's table, lesson 00, the notebooks/ folder, the
exercises and their checks, and Colab's set-up cells all agree with it, and a lesson is added in one place."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from utils import colab, syllabus

ROOT = Path(__file__).resolve().parent.parent
LESSONS = syllabus.LESSONS
START_HERE = ROOT / "notebooks" / "00_start_here.ipynb"


def test_the_lessons_in_notebooks_are_the_syllabus_in_order():
    on_disk = sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))
    assert on_disk == [lesson.file for lesson in LESSONS], (
        "notebooks/ and utils/syllabus.py disagree: add the lesson's entry to LESSONS (or its notebook)")


def test_lessons_are_numbered_by_their_place_from_00():
    assert [lesson.number for lesson in LESSONS] == [f"{i:02d}" for i in range(len(LESSONS))]
    assert LESSONS[0].file == "00_start_here.ipynb"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_each_lesson_opens_with_its_number_and_its_syllabus_title(lesson):
    first = nbformat.read(ROOT / lesson.notebook, as_version=4).cells[0].source.splitlines()[0]
    assert first == f"# Lesson {lesson.number}: {lesson.title}", "the notebook's title and its syllabus entry differ"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_a_lesson_with_exercises_has_its_solutions_exercises_and_checks_and_one_without_has_none(lesson):
    files = [f"exercises/{lesson.name}_exercises.ipynb", f"solutions/{lesson.name}_solutions.ipynb",
             f"grading/lesson{lesson.number}.py"]
    if lesson.exercises:
        assert [lesson.exercise_notebook, lesson.solution_notebook, lesson.checks_module] == files
        missing = [path for path in files if not (ROOT / path).is_file()]
        assert not missing, f"lesson {lesson.number} has exercises in the syllabus, but not {missing}"
    else:
        assert not any((ROOT / path).is_file() for path in files), "exercises=False, yet it has exercises"


def test_every_exercise_notebook_belongs_to_a_lesson_or_is_the_review():
    graded = {lesson.exercise_notebook for lesson in LESSONS if lesson.exercises} | {syllabus.REVIEW_EXERCISES}
    on_disk = {path.relative_to(ROOT).as_posix() for path in (ROOT / "exercises").glob("*.ipynb")}
    assert on_disk == graded


def test_every_question_is_one_question_and_every_summary_one_line():
    for lesson in LESSONS:
        assert lesson.question.endswith("?") and lesson.question.count("?") == 1, lesson.name
        assert lesson.summary and "\n" not in lesson.summary and len(lesson.summary) <= 160, lesson.name
        assert lesson.topic.isidentifier() and lesson.topic.islower(), lesson.name


def test_inserting_a_lesson_is_one_entry_and_renumbers_the_lessons_after_it():
    new = syllabus.Lesson("task_forms", "Task forms", "What does the form of the task change?", "one line")
    course = list(LESSONS)
    at = next(i for i, lesson in enumerate(course) if lesson.topic == "notation") + 1
    renumbered = syllabus.numbered(course[:at] + [new] + course[at:])
    names = [lesson.name for lesson in renumbered]
    assert names[at] == f"{at:02d}_task_forms"
    assert names[at + 1] == f"{at + 1:02d}_{course[at].topic}", "the lesson that was at its place moves up one"
    assert names[:at] == [lesson.name for lesson in LESSONS[:at]], "the lessons before it keep their numbers"


def test_readme_syllabus_table_is_the_one_the_list_writes():
    assert syllabus.main(["--check"]) == 0, "run `python -m utils.syllabus`"


def test_readme_table_has_one_line_per_lesson_with_its_link_question_and_badge():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for lesson in LESSONS:
        line = next((line for line in readme.splitlines() if line.startswith(f"| {lesson.number} |")), "")
        assert f"[{lesson.title}]({lesson.notebook})" in line and lesson.question in line
        assert colab.badge(lesson.notebook) in line


def test_the_rewrite_replaces_only_the_table_and_says_what_to_do_without_one(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Course\n\nBefore.\n\n{syllabus.TABLE_START}\n| old |\n{syllabus.TABLE_END}\n\nAfter.\n")
    assert syllabus.main(["--check"], readme=readme) == 1
    assert syllabus.main([], readme=readme) == 0
    text = readme.read_text()
    assert text == f"# Course\n\nBefore.\n\n{syllabus.readme_table()}\n\nAfter.\n"
    assert syllabus.main(["--check"], readme=readme) == 0 and syllabus.main([], readme=readme) == 0
    assert readme.read_text() == text, "a second run changes nothing"
    readme.write_text("# Course without a table\n")
    capsys.readouterr()
    assert syllabus.main([], readme=readme) == 1
    assert syllabus.TABLE_START in capsys.readouterr().err


def start_here_outputs() -> str:
    nb = nbformat.read(START_HERE, as_version=4)
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.extend(value for value in output.get("data", {}).values() if isinstance(value, str))
    return "\n".join(texts)


def test_lesson_00_shows_each_lessons_title_and_question_from_the_list():
    shown = start_here_outputs()
    for lesson in LESSONS:
        assert f"[{lesson.title}]({lesson.file})" in shown and lesson.question in shown, (
            f"lesson 00's stored outputs do not show lesson {lesson.number}: re-run notebooks/00_start_here.ipynb")
    source = "\n".join(cell.source for cell in nbformat.read(START_HERE, as_version=4).cells)
    assert "syllabus.LESSONS" in source
    written_out = [lesson.question for lesson in LESSONS if lesson.question in source]
    assert not written_out, "lesson 00 reads the questions from utils.syllabus instead of writing them out"


def test_colab_installs_minilm_for_the_lessons_the_list_says_load_it():
    assert colab.MINILM_LESSONS == syllabus.minilm_lessons()
    assert syllabus.minilm_lessons() == {lesson.number for lesson in LESSONS if lesson.minilm}


def test_the_slowest_lessons_are_named_by_their_notebooks_slowest_first():
    ordered = syllabus.slowest_first()
    seconds = {lesson.notebook: lesson.test_seconds for lesson in LESSONS}
    assert ordered and all((ROOT / path).is_file() for path in ordered)
    assert [seconds[path] for path in ordered] == sorted((seconds[path] for path in ordered), reverse=True)


def test_an_unknown_lesson_number_is_refused_with_the_known_ones():
    assert syllabus.lesson("03").topic == LESSONS[3].topic
    with pytest.raises(KeyError, match="no lesson '42'.*00, 01"):
        syllabus.lesson("42")


def test_the_syllabus_imports_only_the_standard_library():
    """Colab's set-up cell imports utils.colab, which reads the syllabus, before anything is installed."""
    probe = ("import sys; before = set(sys.modules); import utils.syllabus; "
             "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names)))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['utils']"


def test_a_lesson_knows_its_files():
    lesson = replace(syllabus.Lesson("x", "X", "Why?", "one line"), number="07")
    assert (lesson.file, lesson.notebook, lesson.checks_module) == ("07_x.ipynb", "notebooks/07_x.ipynb",
                                                                    "grading/lesson07.py")
    assert replace(lesson, exercises=False).exercise_notebook is None
