"""Graded exercises: the in-notebook checks and the instructor's batch grader (every lesson's exercises).

In an exercise notebook::

    from utils.grading import check, hint
    check("01.masking", apply_mask)   # correct / not correct yet / not attempted, with the points
    hint("01.masking")                # the next hint

Each lesson's checks live in ``lessonNN.py`` next to this file and are found automatically; how to add
one is in ``solutions/README.md``. ``python -m utils.grading.generate`` writes ``exercises/`` from
``solutions/``; ``python -m utils.grade`` grades submitted notebooks.
"""

from .core import (CORRECT, INCORRECT, MISSING, NOT_ATTEMPTED, CheckResult, Exercise, Incorrect, as_number, case,
                   check, exercise, exercises, get_exercise, hint)

__all__ = ["CORRECT", "INCORRECT", "MISSING", "NOT_ATTEMPTED", "CheckResult", "Exercise", "Incorrect", "as_number",
           "case", "check", "exercise", "exercises", "get_exercise", "hint"]
