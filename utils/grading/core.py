"""The exercise registry and the in-notebook checks (every lesson's exercises; the grader reuses it).

An exercise is registered once, in ``utils/grading/lessonNN.py``, with :func:`exercise`::

    @exercise("01.masking", points=3, answer="apply_mask", hints=["...", "..."])
    def check_masking(apply_mask):
        if ...:
            raise Incorrect("What is wrong, in one or two sentences, and how to fix it.")

The check function receives the student's answer (whatever the notebook bound to the name ``answer``)
and returns nothing when it is right; it raises :class:`Incorrect` with a helpful message when it is
wrong. Points are declared here and nowhere else: the notebook's :func:`check` and the batch grader
both read them from the registry.

This module imports nothing heavy, so that listing the exercises is fast; check functions import
torch or transformers inside their body.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import pkgutil
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CORRECT = "correct"
INCORRECT = "incorrect"
NOT_ATTEMPTED = "not attempted"
MISSING = "missing"          # the answer's name is not defined at all (cell deleted or not run)
UNKNOWN = "unknown exercise"

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MESSAGE_LIMIT = 400


class Incorrect(Exception):
    """Raised by a check function when the answer is wrong; its message is what the student reads."""


class TimeLimitExceeded(BaseException):
    """Raised (by the grader's timer) when the student's code runs too long during a check."""


class _Missing:
    """Stands for an answer whose name is not defined in the notebook."""

    def __repr__(self) -> str:
        return "<not defined>"


NOT_DEFINED = _Missing()


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its id, points, the name its answer is bound to, hints, and check."""

    id: str
    points: float
    answer: str
    hints: tuple[str, ...]
    check: Callable[[object], None]


_REGISTRY: dict[str, Exercise] = {}
_discovered = False
_hints_shown: dict[str, int] = {}
_cases: list[str] = []


def exercise(exercise_id: str, *, points: float, answer: str, hints: Sequence[str] = ()):
    """Register the decorated function as the check of ``exercise_id``.

    ``points`` is what a correct answer earns; ``answer`` is the name the notebook binds the answer
    to (a function such as ``apply_mask`` or a variable such as ``answer_01_order``); ``hints`` are
    shown one at a time by :func:`hint`.
    """
    if not isinstance(exercise_id, str) or not _ID_PATTERN.match(exercise_id):
        raise ValueError(f"Exercise id {exercise_id!r} is not valid: use the lesson number, a dot and a short "
                         f"name, such as '01.masking'.")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
        raise ValueError(f"Exercise {exercise_id}: points must be a positive number, got {points!r}.")
    if not isinstance(answer, str) or not answer.isidentifier():
        raise ValueError(f"Exercise {exercise_id}: answer must be the Python name the notebook binds the "
                         f"answer to, such as 'apply_mask', got {answer!r}.")
    if isinstance(hints, str):
        hints = [hints]

    def register(function: Callable[[object], None]) -> Callable[[object], None]:
        if exercise_id in _REGISTRY:
            raise ValueError(f"Exercise {exercise_id} is registered twice; every id must be unique.")
        _REGISTRY[exercise_id] = Exercise(exercise_id, points, answer, tuple(hints), function)
        return function

    return register


@contextlib.contextmanager
def case(description: str):
    """Inside a check function: name the case being tried, so that an error raised by the student's
    code while it runs is reported with it (``... on a batch with padding``)."""
    _cases.append(description)
    yield
    # Popped only when the case passed: after an error the description stays for ``evaluate`` to report
    # (it clears the list before and after every check).
    _cases.pop()


def discover() -> None:
    """Import every ``lesson*`` module of this package once, so that their exercises are registered."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package_name = __name__.rpartition(".")[0]
    package = sys.modules[package_name]
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.name.startswith("lesson"):
            importlib.import_module(f"{package_name}.{module.name}")
    # Lesson by lesson (stable within a lesson), even when one lesson's module imported another's first;
    # exercises registered later (an instructor's extra checks) still come after these.
    ordered = sorted(_REGISTRY.items(), key=lambda item: item[0].split(".", 1)[0])
    _REGISTRY.clear()
    _REGISTRY.update(ordered)


def exercises() -> list[Exercise]:
    """Every registered exercise, lesson by lesson, in the order each lesson module registers them."""
    discover()
    return list(_REGISTRY.values())


def get_exercise(exercise_id: str) -> Exercise | None:
    discover()
    return _REGISTRY.get(exercise_id)


def _known_ids() -> str:
    return ", ".join(ex.id for ex in exercises()) or "(none)"


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT - 3] + "..."


def _raised_in_check(error: BaseException, ex: Exercise) -> bool:
    """Whether the innermost frame of ``error`` is the check's own code (it could not use what the
    answer gave back) rather than the student's code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename == ex.check.__code__.co_filename


_STUB_MESSAGE = ("`{name}` still raises NotImplementedError: replace that line with your code, run the cell, "
                 "then this one.")


def _is_stub(answer: object) -> bool:
    """A function whose only name is NotImplementedError: the generated stub, recognised without running
    the check (which may need a second to build its inputs)."""
    code = getattr(answer, "__code__", None)
    return code is not None and tuple(code.co_names) == ("NotImplementedError",)


def evaluate(ex: Exercise, answer: object, time_limit: float | None = None) -> tuple[str, str]:
    """Run the check of ``ex`` on ``answer``: ``(status, message)``, never an exception.

    ``status`` is ``correct``, ``incorrect``, ``not attempted`` (a stub left as it is: the value
    ``...`` or a function that raises ``NotImplementedError``) or ``missing`` (``NOT_DEFINED``).
    """
    if answer is NOT_DEFINED:
        return MISSING, (f"`{ex.answer}` is not defined: run the cell that defines it "
                         f"(or put it back if it was deleted).")
    if answer is Ellipsis:
        return NOT_ATTEMPTED, f"Replace the `...` after `{ex.answer} =` with your answer, run that cell, then this one."
    if _is_stub(answer):
        return NOT_ATTEMPTED, _STUB_MESSAGE.format(name=ex.answer)
    _cases.clear()
    try:
        ex.check(answer)
    except Incorrect as error:
        return INCORRECT, _one_line(error) or "This answer is not right yet."
    except NotImplementedError:
        return NOT_ATTEMPTED, _STUB_MESSAGE.format(name=ex.answer)
    except TimeLimitExceeded:
        limit = f" {time_limit:g} s" if time_limit else " the time limit"
        return INCORRECT, f"`{ex.answer}` ran for more than{limit} and was stopped (an endless loop?)."
    except BaseException as error:  # the student's code may raise anything, even SystemExit
        where = f" on {_cases[-1]}" if _cases else ""
        detail = _one_line(f"{type(error).__name__}: {error}").rstrip(".")
        if isinstance(error, AssertionError) and str(error):
            return INCORRECT, _one_line(str(error))
        if _raised_in_check(error, ex):
            return INCORRECT, f"The check could not use what `{ex.answer}` gave back{where} ({detail})."
        return INCORRECT, f"`{ex.answer}` raised {detail}{where}."
    finally:
        _cases.clear()
    return CORRECT, ""


def as_number(value, name: str, where: str) -> float:
    """``value`` as a float, or :class:`Incorrect` saying what came back instead of one finite number."""
    if not isinstance(value, (int, float)) and callable(getattr(value, "item", None)):  # a tensor or array
        size = value.numel() if callable(getattr(value, "numel", None)) else getattr(value, "size", 1)
        if size != 1:
            raise Incorrect(f"On {where}, {name} should return one number, got an array of shape "
                            f"{tuple(getattr(value, 'shape', ()))}.")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Incorrect(f"On {where}, {name} should return a number, got {type(value).__name__}.")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise Incorrect(f"On {where}, {name} returned {value}; it should be a finite number.")
    return value


def _format_points(points: float) -> str:
    return f"{points:g}"


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` found: ``status``, ``points`` earned out of ``max_points``, and ``message``."""

    exercise_id: str
    status: str
    points: float
    max_points: float
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == CORRECT

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return (f"CheckResult({self.exercise_id!r}, {self.status!r}, "
                f"{_format_points(self.points)}/{_format_points(self.max_points)} points)")

    def _ipython_display_(self) -> None:
        # check() has already printed the verdict; showing the object again would only repeat it.
        return None


def describe(ex: Exercise, status: str, message: str) -> str:
    """The line (or two) :func:`check` prints for a verdict."""
    points = f"{_format_points(ex.points)} point{'' if ex.points == 1 else 's'}"
    if status == CORRECT:
        return f"{ex.id}: correct, {points}."
    if status == NOT_ATTEMPTED:
        return f"{ex.id}: not attempted yet (0 of {points}). {message}"
    if status == MISSING:
        return f"{ex.id}: no answer (0 of {points}). {message}"
    more = f' Stuck? hint("{ex.id}") gives a hint.' if ex.hints else ""
    return f"{ex.id}: not correct yet (0 of {points}). {message}{more}"


def check(exercise_id: str, answer: object = NOT_DEFINED) -> CheckResult:
    """Check the answer to ``exercise_id`` and print the verdict: correct (with the points), not
    correct yet (with what is wrong), or not attempted. Returns a :class:`CheckResult`.

    ``answer`` is the function or value to check; when it is left out, the name the exercise declares
    is looked up in the notebook.
    """
    ex = get_exercise(exercise_id) if isinstance(exercise_id, str) else None
    if ex is None:
        text = f"There is no exercise {exercise_id!r}. Known exercises: {_known_ids()}."
        print(text)
        return CheckResult(str(exercise_id), UNKNOWN, 0, 0, text)
    if answer is NOT_DEFINED:
        answer = sys._getframe(1).f_globals.get(ex.answer, NOT_DEFINED)
    status, message = evaluate(ex, answer)
    print(describe(ex, status, message))
    return CheckResult(ex.id, status, ex.points if status == CORRECT else 0, ex.points, message)


def hint(exercise_id: str) -> None:
    """Print the next hint for ``exercise_id`` (each call shows one more)."""
    ex = get_exercise(exercise_id) if isinstance(exercise_id, str) else None
    if ex is None:
        print(f"There is no exercise {exercise_id!r}. Known exercises: {_known_ids()}.")
        return
    if not ex.hints:
        print(f"{ex.id}: there are no hints for this exercise; re-read the lesson section it is about.")
        return
    shown = _hints_shown.get(ex.id, 0)
    index = min(shown, len(ex.hints) - 1)
    _hints_shown[ex.id] = shown + 1
    last = " (that is the last one)" if index == len(ex.hints) - 1 else ""
    print(f"{ex.id}, hint {index + 1} of {len(ex.hints)}{last}: {ex.hints[index]}")


def load_checks_file(source: str, filename: str) -> None:
    """Register the exercises defined by the Python ``source`` of a checks file (the grader's
    ``--extra-checks``). The file uses the same API as a lesson module:
    ``from utils.grading import exercise, Incorrect``."""
    package_name = __name__.rpartition(".")[0]
    names = ("utils.grading", "utils.grading.core")
    saved = {name: sys.modules.get(name) for name in names}
    # Point the public names at this copy of the package while the file runs, so that its
    # registrations land here even when this is the grader's private copy.
    sys.modules["utils.grading"] = sys.modules[package_name]
    sys.modules["utils.grading.core"] = sys.modules[__name__]
    try:
        exec(compile(source, filename, "exec"), {"__name__": "workbook_extra_checks", "__file__": filename})
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
