"""Graded exercises: the in-notebook checks, every lesson's checks, the exercise generator, the nbgrader
export and the instructor's batch grader. The course's library is ``utils``; this package sits beside it
and imports from it, never the other way round.

In an exercise notebook::

    from grading import check, hint
    check("01.masking", apply_mask)   # correct / not correct yet / not attempted, with the points
    hint("01.masking")                # the next hint

Each lesson's checks live in ``lessonNN.py`` next to this file and are found automatically; how to add
one is in ``solutions/README.md``. ``python -m grading.generate`` writes ``exercises/`` from
``solutions/``; ``python -m grading SUBMISSION.ipynb ... --out grades.csv`` grades submitted notebooks.
"""

from .core import (CORRECT, INCORRECT, MISSING, NOT_ATTEMPTED, CheckResult, Exercise, Incorrect, as_number, case,
                   check, exercise, exercises, get_exercise, hint)

__all__ = ["CORRECT", "INCORRECT", "MISSING", "NOT_ATTEMPTED", "CheckResult", "Exercise", "Incorrect", "as_number",
           "case", "check", "exercise", "exercises", "get_exercise", "hint"]
