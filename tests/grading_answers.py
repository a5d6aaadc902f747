"""What the per-lesson grading tests share: an answer read out of a solution notebook (or the stub out of
the exercise notebook generated from it), and the verdict a check gives it."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import nbformat

from grading import core, generate


def answer_cell(nb, name: str) -> str:
    """The source of the code cell that defines ``name`` (a function or a top-level answer)."""
    pattern = re.compile(rf"^(def {name}\(|{name} = )", re.M)
    return next(c.source for c in nb.cells if c.cell_type == "code" and pattern.search(c.source))


def load_answer(solution: Path, exercise_ids: list[str], namespace: dict, stub: bool = False):
    """Run the answer cells of ``exercise_ids`` in order in ``namespace`` (as the notebook would, so a later
    answer may call an earlier one) and return the last one's answer."""
    nb = (nbformat.reads(generate.exercise_for(solution)[1], as_version=4) if stub
          else nbformat.read(solution, as_version=4))
    for exercise_id in exercise_ids:
        name = core.get_exercise(exercise_id).answer
        exec(compile(answer_cell(nb, name), str(solution), "exec"), namespace)
    return namespace[core.get_exercise(exercise_ids[-1]).answer]


def verdict(exercise_id: str, value) -> tuple[str, str]:
    return core.evaluate(core.get_exercise(exercise_id), value)


def assert_passes(exercise_id: str, value) -> None:
    """The check accepts ``value`` (the solution notebook's answer) with no message."""
    assert verdict(exercise_id, value) == (core.CORRECT, "")


def assert_not_attempted(exercise_id: str, value) -> None:
    """The check reports ``value`` (the exercise notebook's stub) as not attempted, and says so."""
    status, message = verdict(exercise_id, value)
    assert status == core.NOT_ATTEMPTED and message


def assert_turned_down(exercise_id: str, wrong, words: str) -> None:
    """The check refuses a typical wrong answer with a one-line message containing ``words``."""
    status, message = verdict(exercise_id, wrong)
    assert status == core.INCORRECT
    assert words in message, message
    assert "Traceback" not in message and "\n" not in message


def wrong_answer_ids(wrong: list[tuple]) -> list[str]:
    """Readable test ids for a list of (exercise id, wrong answer, words of the message)."""
    return [f"{i}-{getattr(w, '__name__', repr(w))}" for i, w, _ in wrong]


ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = {path.name[:2]: path for path in sorted((ROOT / "solutions").glob("*_solutions.ipynb"))}


@functools.lru_cache(maxsize=None)
def _lesson_notebook(lesson: str, stub: bool):
    solution = SOLUTIONS[lesson]
    return (nbformat.reads(generate.exercise_for(solution)[1], as_version=4) if stub
            else nbformat.read(solution, as_version=4))


def notebook_imports(nb) -> str:
    """The import statements at the top level of a notebook's code cells, in order."""
    statements = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # an IPython magic: no import of the answers' in it
            continue
        statements += [ast.get_source_segment(cell.source, node) for node in tree.body
                       if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(statements)


def lesson_answer(exercise_id: str, stub: bool = False):
    """The answer to ``exercise_id`` as its lesson's solution notebook defines it (or the exercise notebook
    generated from it, with ``stub``): the notebook's imports, then the answer cells of the lesson's exercises
    up to this one, in order, in one namespace, as "Run all" would (a later answer may call an earlier one)."""
    lesson = exercise_id.split(".", 1)[0]
    nb = _lesson_notebook(lesson, stub)
    path = str(SOLUTIONS[lesson])
    namespace: dict = {}
    exec(compile(notebook_imports(nb), path, "exec"), namespace)
    ids = [ex.id for ex in core.exercises() if ex.id.split(".", 1)[0] == lesson]
    for earlier in ids[:ids.index(exercise_id) + 1]:
        exec(compile(answer_cell(nb, core.get_exercise(earlier).answer), path, "exec"), namespace)
    return namespace[core.get_exercise(exercise_id).answer]
