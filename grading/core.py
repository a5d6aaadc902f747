"""The exercise registry and the in-notebook checks (every lesson's exercises; the grader reuses it).

An exercise is registered once, in ``grading/lessonNN.py``, with :func:`exercise`::

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
import functools
import importlib
import math
import os
import pkgutil
import re
import sys
import traceback
import types
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
    helpers: tuple[str, ...] = ()


_REGISTRY: dict[str, Exercise] = {}
_discovered = False
_hints_shown: dict[str, int] = {}
_cases: list[str] = []


def exercise(exercise_id: str, *, points: float, answer: str, hints: Sequence[str] = (),
             helpers: Sequence[str] = ()):
    """Register the decorated function as the check of ``exercise_id``.

    ``points`` is what a correct answer earns; ``answer`` is the name the notebook binds the answer
    to (a function such as ``apply_mask`` or a variable such as ``answer_01_order``); ``hints`` are
    shown one at a time by :func:`hint`. ``helpers`` names the course functions an answer may call beside
    its own work (``"utils.models.count_parameters"``, which the lessons show students): any other function
    of the course's package in the answer makes it borrowed (:func:`borrowed_from`).
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
    if isinstance(helpers, str):
        helpers = [helpers]

    def register(function: Callable[[object], None]) -> Callable[[object], None]:
        if exercise_id in _REGISTRY:
            raise ValueError(f"Exercise {exercise_id} is registered twice; every id must be unique.")
        _REGISTRY[exercise_id] = Exercise(exercise_id, points, answer, tuple(hints), function, tuple(helpers))
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


def _snapshot(value: object, depth: int = 0):
    """A copy of what an input holds, for :func:`_difference`: the values of a tensor or array, a module's
    parts, parameters, buffers and requires_grad flags, a dict's or list's items, a plain value. Anything else
    (a tokenizer, a generator, an optimizer) is only named, not compared. Neither torch nor numpy is imported
    here: a notebook that never imported them has no tensors to compare, and importing torch takes seconds."""
    torch, numpy = sys.modules.get("torch"), sys.modules.get("numpy")

    if torch is not None and isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, value.detach().clone(), value.requires_grad)
    if numpy is not None and isinstance(value, numpy.ndarray):
        return ("array", value.shape, value.dtype, value.copy())
    if depth > 6:
        return ("other", type(value).__name__)
    if torch is not None and isinstance(value, torch.nn.Module):
        return ("module", [name for name, _ in value.named_modules()],
                {name: _snapshot(p, depth + 1) for name, p in value.named_parameters()},
                {name: _snapshot(b, depth + 1) for name, b in value.named_buffers()})
    if isinstance(value, dict):
        return ("dict", list(value), {k: _snapshot(v, depth + 1) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return ("list", len(value), [_snapshot(v, depth + 1) for v in value])
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return ("plain", value)
    return ("other", type(value).__name__)


def _same_values(a, b) -> bool:
    """Equal tensors or arrays (of a snapshot: their library is imported), nan equal to nan."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(a, numpy.ndarray):
        return numpy.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    torch = sys.modules["torch"]
    if a.dtype.is_floating_point or a.dtype.is_complex:
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return torch.equal(a, b)


def _difference(before, now) -> str | None:
    """What changed between two :func:`_snapshot` of one input, in a few words, or None."""
    kind = before[0]
    if kind == "other":
        return None
    if now[0] != kind:
        return f"it became {_a(now[1]) if now[0] == 'other' else 'another kind of value'}"
    if kind == "plain":
        same = before[1] == now[1] or (before[1] != before[1] and now[1] != now[1])  # nan stays nan
        return None if same else "its value changed"
    if kind in ("tensor", "array"):
        if before[1] != now[1]:
            return f"its shape went from {tuple(before[1])} to {tuple(now[1])}"
        if before[2] != now[2]:
            return f"its dtype went from {before[2]} to {now[2]}"
        if not _same_values(before[3], now[3]):
            return "its values changed"
        if kind == "tensor" and before[4] != now[4]:
            return f"requires_grad went from {before[4]} to {now[4]}"
        return None
    if kind == "module":
        lost = [n for n in before[1] if n and n not in now[1]]
        added = [n for n in now[1] if n and n not in before[1]]
        if lost:
            return f"its part {lost[0]!r} is gone"
        if added:
            return f"it has a new part {added[0]!r}"
        for group, what in ((2, "parameter"), (3, "buffer")):
            for name, item in before[group].items():
                if name not in now[group]:
                    return f"its {what} {name!r} is gone"
                change = _difference(item, now[group][name])
                if change:
                    return f"its {what} {name!r}: {change}"
        return None
    if kind == "dict":
        if before[1] != now[1]:
            missing = [k for k in before[1] if k not in now[1]]
            return f"its key {missing[0]!r} is gone" if missing else "its keys changed"
        for key, item in before[2].items():
            change = _difference(item, now[2][key])
            if change:
                return f"its entry {key!r}: {change}"
        return None
    if before[1] != now[1]:
        return f"its length went from {before[1]} to {now[1]}"
    for i, (item, current) in enumerate(zip(before[2], now[2])):
        change = _difference(item, current)
        if change:
            return f"its item {i}: {change}"
    return None


def call_unchanged(function, name: str, where: str, inputs: dict, keywords: dict | None = None,
                   ignore: Sequence[str] = ()):
    """Inside a check: ``function(*inputs.values(), **keywords)`` under ``case(where)``, then
    :class:`Incorrect` if it changed one of ``inputs`` in place (a tensor's values, shape, dtype or
    requires_grad, a module's parameters, buffers or parts, a list's items, a dict's entries): the message
    names the input, what changed, and says to work on a copy. ``inputs`` maps the argument names of the
    exercise's def line to the values; those named in ``ignore`` (a model the function is meant to train)
    and objects such as tokenizers are passed but not compared."""
    before = {arg: _snapshot(value) for arg, value in inputs.items() if arg not in ignore}
    with case(where):
        result = function(*inputs.values(), **(keywords or {}))
    for arg, snapshot in before.items():
        try:
            change = _difference(snapshot, _snapshot(inputs[arg]))
        except Exception:  # noqa: BLE001 (an input that can no longer be read has changed)
            change = "it can no longer be read"
        if change:
            advice = {
                "tensor": "build new tensors instead (a - b, not a -= b or a.sub_(b); x.unsqueeze(-1), not "
                          "x.unsqueeze_(-1))",
                "array": f"build new arrays instead, or work on {arg}.copy()",
                "list": f"build new lists instead (sorted(x) or x + [...], not x.sort() or x.append(...)), or work on "
                        f"list({arg})",
                "dict": "build new values instead (d[k] - x, not d[k] -= x or d[k].sub_(x))",
                "module": "leave its parts, its parameters and their requires_grad flags as they are",
            }.get(snapshot[0], "work on a copy")
            raise Incorrect(f"On {where}, `{name}` changed its input `{arg}` in place ({change}); the caller still "
                            f"needs it as it was: {advice}.")
    return result


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


def lessons_loaded() -> None:
    """Say that the lesson modules are registered already, by whoever loaded this module (the grader's
    private copy loads them from the sources it read), so that :func:`discover` never imports them from
    the disk."""
    global _discovered
    _discovered = True


def exercises() -> list[Exercise]:
    """Every registered exercise, lesson by lesson, in the order each lesson module registers them."""
    discover()
    return list(_REGISTRY.values())


def get_exercise(exercise_id: str) -> Exercise | None:
    discover()
    return _REGISTRY.get(exercise_id)


def _known_ids() -> str:
    return ", ".join(ex.id for ex in exercises()) or "(none)"


def one_line(text: str) -> str:
    """``text`` on one line (whitespace runs become one space), cut to a length a CSV cell can show."""
    text = " ".join(str(text).split())
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT - 3] + "..."


def _raised_in_check(error: BaseException, ex: Exercise) -> bool:
    """Whether the innermost frame of ``error`` is the check's own code, or this module's helpers that a
    check calls (it could not use what the answer gave back), rather than the student's code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename in (ex.check.__code__.co_filename, _raised_in_check.__code__.co_filename)


def _call_refused(error: BaseException, answer: object) -> bool:
    """Whether ``error`` is Python refusing the call of the answer itself with the arguments the check gave
    (``mean_pool() takes 1 positional argument but 2 were given``), not an error inside the student's code."""
    name = getattr(answer, "__name__", None) or type(answer).__name__
    return isinstance(error, TypeError) and re.match(
        rf"^([\w.<>]+\.)?{re.escape(str(name))}\(\) (takes|missing|got an unexpected|got multiple)", str(error)) is not None


_STUB_MESSAGE = ("`{name}` still raises NotImplementedError: replace that line with your code, run the cell, "
                 "then this one.")


def _is_stub(answer: object) -> bool:
    """A function whose only name is NotImplementedError: the generated stub, recognised without running
    the check (which may need a second to build its inputs)."""
    code = getattr(answer, "__code__", None)
    return code is not None and tuple(code.co_names) == ("NotImplementedError",)


# The course's library: an answer that is, or wraps, one of its functions is borrowed (this package, the
# checks, is not part of it).
COURSE_PACKAGE = "utils"


def _course_module(obj: object) -> str | None:
    """The ``utils.*`` module a function, class or code object comes from (its ``__module__`` or, when that
    was changed, the file its code was compiled from), or None when it is not the course's."""
    code = obj if isinstance(obj, types.CodeType) else getattr(obj, "__code__", None)
    if isinstance(code, types.CodeType):
        parts = re.split(r"[\\/]", code.co_filename)
        for at in (len(parts) - 2, len(parts) - 3):  # utils/x.py or utils/sub/x.py, in a real package folder
            if at >= 0 and parts[at] == COURSE_PACKAGE and parts[-1].endswith(".py") \
                    and os.path.isfile(os.sep.join(parts[:at + 1] + ["__init__.py"])):
                return ".".join(parts[at:-1] + [parts[-1][:-3]])
    if isinstance(obj, types.CodeType):
        return None
    name = getattr(obj, "__module__", None)
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    if isinstance(name, str) and (name == COURSE_PACKAGE or name.startswith(COURSE_PACKAGE + ".")):
        return name
    return None


def _course_function(obj: object) -> str | None:
    """``module`` when ``obj`` is a function of the course's package (not a class: building a course class
    such as ``models.EncoderClassifier`` is assembling, which some exercises ask for)."""
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial)) \
            or isinstance(obj, (staticmethod, classmethod)):
        target = obj
        while True:
            if isinstance(target, functools.partial):
                target = target.func
            elif isinstance(target, (types.MethodType, staticmethod, classmethod)):
                target = target.__func__
            else:
                break
        return _course_module(target)
    return None


def _qualified_name(obj: object) -> str | None:
    """``module.qualname`` of a course function (through partials and methods), or None."""
    target = obj
    while isinstance(target, (functools.partial, types.MethodType, staticmethod, classmethod)):
        target = target.func if isinstance(target, functools.partial) else target.__func__
    module = _course_module(target)
    qualname = getattr(target, "__qualname__", None)
    return f"{module}.{qualname}" if module and isinstance(qualname, str) else None


def borrowed_from(answer: object, depth: int = 4, allowed: Sequence[str] = ()) -> str | None:
    """The ``utils.*`` module an answer is taken from, or None when it is the student's own.

    An answer is borrowed when it is a function of the course's package (directly, as a method, a
    ``functools.partial`` or a callable object), or when its code, or that of a function it calls that
    the student wrote, refers to one (``def mean_pool(v, m): return models.mean_pool(v, m)``, a lambda,
    a default argument, a closure). Functions of other libraries (torch, numpy) and the course's classes
    are fine, and so are the course functions named in ``allowed`` (helpers used beside the student's own
    work, such as ``utils.models.count_parameters``). Decided by the objects the code refers to, never by the
    answer's name."""
    seen: set[int] = set()

    def visit(obj: object, level: int) -> str | None:
        if id(obj) in seen or level > depth:
            return None
        seen.add(id(obj))
        if allowed and _qualified_name(obj) in allowed:
            return None
        module = _course_function(obj)
        if module is not None:
            return module
        if isinstance(obj, functools.partial):
            for value in (obj.func, *obj.args, *obj.keywords.values()):
                found = visit(value, level + 1)
                if found:
                    return found
            return None
        if isinstance(obj, (types.MethodType, staticmethod, classmethod)):
            return visit(obj.__func__, level)
        if not isinstance(obj, (types.FunctionType, type)) and callable(obj) \
                and not isinstance(obj, types.BuiltinFunctionType):
            call = getattr(type(obj), "__call__", None)
            return visit(call, level + 1) if isinstance(call, types.FunctionType) else None
        if not isinstance(obj, types.FunctionType):
            return None
        if _course_module(obj) is not None and _qualified_name(obj) not in allowed:
            return _course_module(obj)
        names: set[str] = set()
        codes = [obj.__code__]
        while codes:
            code = codes.pop()
            names.update(code.co_names)
            names.update(code.co_freevars)
            codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        referred = []
        for name in names:
            if name in obj.__globals__:
                referred.append(obj.__globals__[name])
        for cell in obj.__closure__ or ():
            try:
                referred.append(cell.cell_contents)
            except ValueError:
                pass
        referred.extend(obj.__defaults__ or ())
        referred.extend((obj.__kwdefaults__ or {}).values())
        for value in list(referred):  # attributes reached from a course module or object: models.mean_pool
            holder_is_course = _course_module(value) is not None or _course_module(type(value)) is not None
            if holder_is_course and not isinstance(value, (str, bytes, int, float)):
                for name in names:
                    try:
                        attribute = inspect_attribute(value, name)
                    except Exception:
                        continue
                    if attribute is not None:
                        referred.append(attribute)
        for value in referred:
            if isinstance(value, types.ModuleType):
                continue
            found = visit(value, level + 1)
            if found:
                return found
        return None

    return visit(answer, 0)


def inspect_attribute(holder: object, name: str):
    """``holder.name`` without running properties or ``__getattr__`` (None when it has none)."""
    import inspect

    try:
        return inspect.getattr_static(holder, name)
    except AttributeError:
        return None


def _borrowed_message(ex: Exercise, module: str) -> str:
    return (f"`{ex.answer}` is imported from {module}, not written: the course's own version earns no points. "
            f"Write the function yourself (torch and the other libraries are fine to use).")


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
    try:
        module = borrowed_from(answer, allowed=ex.helpers)
    except Exception:  # an answer built to confuse the inspection is looked at by the check as usual
        module = None
    if module is not None:
        return INCORRECT, _borrowed_message(ex, module)
    _cases.clear()
    try:
        ex.check(answer)
    except Incorrect as error:
        return INCORRECT, one_line(error) or "This answer is not right yet."
    except NotImplementedError:
        return NOT_ATTEMPTED, _STUB_MESSAGE.format(name=ex.answer)
    except TimeLimitExceeded:
        limit = f" {time_limit:g} s" if time_limit else " the time limit"
        return INCORRECT, f"`{ex.answer}` ran for more than{limit} and was stopped (an endless loop?)."
    except BaseException as error:  # the student's code may raise anything, even SystemExit
        where = f" on {_cases[-1]}" if _cases else ""
        detail = one_line(f"{type(error).__name__}: {error}").rstrip(".")
        if isinstance(error, AssertionError) and str(error):
            return INCORRECT, one_line(str(error))
        if _raised_in_check(error, ex):
            if isinstance(error, TypeError) and not callable(answer) and "not callable" in str(error):
                what = "None" if answer is None else _a(type(answer).__name__)
                return INCORRECT, (f"`{ex.answer}` should be a function (def {ex.answer}(...):), but it is "
                                   f"{what}: run the cell that defines the function.")
            if _call_refused(error, answer):
                return INCORRECT, (f"`{ex.answer}` could not be called the way the exercise calls it{where} "
                                   f"({detail}): keep the arguments of the def line the exercise gives.")
            return INCORRECT, f"The check could not use what `{ex.answer}` gave back{where} ({detail})."
        return INCORRECT, f"`{ex.answer}` raised {detail}{where}."
    finally:
        _cases.clear()
    return CORRECT, ""


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def label_list(value: object, name: str, where: str, *, what: str) -> list[int]:
    """``value``, an answer that should be a list of labels (whole numbers: ids, classes or -100), as plain ints:
    a tensor or array is read with ``tolist()``, anything else that is no list or tuple is refused, and so is a
    label that is no whole number (a float, even -100.0, or a bool), with ``what`` saying what the labels are."""
    import numbers

    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise Incorrect(f"On {where}, {name} should return a list of labels, got {what_came_back(value)}.")
    odd = next((x for x in value if isinstance(x, bool) or not isinstance(x, numbers.Integral)), None)
    if odd is not None:
        raise Incorrect(f"On {where}, {name} returned {odd!r} ({type(odd).__name__}) among the labels. {what}")
    return [int(x) for x in value]  # plain ints, whatever int subclass or numpy integer carried them


def what_came_back(value: object) -> str:
    """A few words naming what an answer returned, for a message: ``None (the function returned nothing:
    is its return statement missing?)``, ``a list``, ``a numpy.ndarray``."""
    if value is None:
        return "None (the function returned nothing: is its return statement missing?)"
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return _a(kind.__name__ if module in ("builtins", "__main__") else f"{module}.{kind.__name__}")


def as_number(value, name: str, where: str, *, python: bool = False, whole: bool = False) -> float:
    """``value`` as a float, or :class:`Incorrect` saying what came back instead of one finite number.

    By default a tensor or array holding one number is taken as that number. With ``python=True`` the
    exercise asks for one Python number, and such a tensor is refused with a message that says how to turn
    it into one (``.item()``: a loss kept as a tensor keeps its computation graph alive); with ``whole=True``
    it asks for a whole number (a Python ``int``), and a float, even 3.0, is refused. NumPy scalars count as
    Python numbers."""
    import numbers

    if not isinstance(value, numbers.Number) and callable(getattr(value, "item", None)):  # a tensor or array
        size = value.numel() if callable(getattr(value, "numel", None)) else getattr(value, "size", 1)
        kind = type(value).__module__.split(".")[0] + "." + type(value).__name__
        shape = tuple(getattr(value, "shape", ()))
        if size != 1:
            raise Incorrect(f"On {where}, {name} should return one number, got {_a(kind)} of shape {shape}.")
        if python or whole:
            grad = (" that still requires gradients (kept, it keeps its whole computation graph in memory)"
                    if getattr(value, "requires_grad", False) else "")
            raise Incorrect(f"On {where}, {name} returned {_a(kind)} of shape {shape}{grad}; the exercise asks for "
                            f"one Python {'int' if whole else 'number'}: return value.item() instead.")
        value = value.item()
    if whole and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        got = what_came_back(value) if not isinstance(value, numbers.Number) else f"{value!r} ({type(value).__name__})"
        raise Incorrect(f"On {where}, {name} returned {got}; the exercise asks for a whole number, a Python int.")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise Incorrect(f"On {where}, {name} should return a number, got {what_came_back(value)}.")
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
    ``from grading import exercise, Incorrect``."""
    package_name = __name__.rpartition(".")[0]
    # A checks file written when this package was utils.grading imports it by that name: it works too.
    names = {"grading": package_name, "grading.core": __name__, "utils.grading": package_name,
             "utils.grading.core": __name__}
    saved = {name: sys.modules.get(name) for name in names}
    # Point the public names at this copy of the package while the file runs, so that its
    # registrations land here even when this is the grader's private copy.
    for name, module in names.items():
        sys.modules[name] = sys.modules[module]
    try:
        exec(compile(source, filename, "exec"), {"__name__": "workbook_extra_checks", "__file__": filename})
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
