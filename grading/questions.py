"""Concept questions, graded the same way in every lesson: one right option, several right options,
steps to put in order, or items to match with causes (every lesson's concept exercises and lesson 99's
review).

A question is registered in ``grading/lessonNN.py`` with one call::

    single_choice("02.not_classifier", points=1, answer="answer_02_not_classifier", options="abcd",
                  key="5c0d...", feedback={"9a1e...": "what option a gets wrong", ...}, hints=[...])

The right answer is not written next to the check: ``key`` is a salted hash of it, and each option's
message in ``feedback`` is keyed by the salted hash of that option, so the module does not show which
option is right (a student who hashes every option, or tries every option with ``check``, can still find
it: the hashes keep the answer from being read, not from being guessed). Make both with

    python -m grading.questions 02.not_classifier c --options abcd

which prints the key and the feedback keys, option by option, to paste into the call. When the module is
imported, each question checks that its key matches exactly one possible answer and that every option
that needs a message has one, so a mistyped key stops the import with a clear error.

What the student may write: a letter in either case, with spaces or punctuation around it (``"b"``,
``" B "``, ``"b)"``), or a list of letters; for several right options or an order, a string of letters
(``"ADE"``, ``"a, d, e"``) or a list (``["a", "d", "e"]``), and for several right options a set.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
from collections.abc import Mapping, Sequence

from .core import Incorrect, exercise

_HASH_CHARS = 16


def _hash(exercise_id: str, text: str) -> str:
    return hashlib.sha256(f"workbook|{exercise_id}|{text}".encode("utf-8")).hexdigest()[:_HASH_CHARS]


def answer_key(exercise_id: str, letters: str) -> str:
    """The salted hash of the right answer ``letters`` (upper case, in the form the kind of question
    compares: sorted for several right options, in order for an order or a matching)."""
    return _hash(exercise_id, "answer:" + letters.upper())


def option_key(exercise_id: str, item: str) -> str:
    """The salted hash that keys the message of one option (a letter) or, in a matching, of one item
    (its number)."""
    return _hash(exercise_id, "option:" + str(item).upper())


def _letters(answer, shown: str, *, allow_set: bool, what: str) -> list[str]:
    """The letters of ``answer``, upper case, in the order written; :class:`Incorrect` if it is not a
    string or a list of letters, or names a letter that is not an option (``shown``, as the notebook
    writes them)."""
    options = shown.upper()
    example = f"\"{shown[0]}\"" if what == "one letter" else f"\"{shown[:2]}\""
    kinds = (list, tuple, set, frozenset) if allow_set else (list, tuple)
    if isinstance(answer, str):
        letters = [c for c in answer.upper() if c.isalnum()]
    elif isinstance(answer, kinds) and all(isinstance(x, str) for x in answer):
        letters = [c for x in (sorted(answer) if isinstance(answer, (set, frozenset)) else answer)
                   for c in x.upper() if c.isalnum()]
    else:
        raise Incorrect(f"Answer with {what} as a string, such as {example}, or a list of letters; got "
                        f"{type(answer).__name__} {answer!r}.")
    unknown = [c for c in letters if c not in options]
    if unknown:
        raise Incorrect(f"Use the letters {shown[0]} to {shown[-1]} only; {_show(unknown[0], shown)!r} is not "
                        f"one of the options (got {answer!r}).")
    if not letters:
        raise Incorrect(f"The answer names no option: write {what}, such as {example}.")
    return letters


def _show(letters: str, shown: str) -> str:
    """``letters`` in the case the notebook writes its options in."""
    return letters.lower() if shown.islower() else letters.upper()


def _normalise_options(options: str, where: str) -> str:
    options = options.upper()
    if not options.isalpha() or len(set(options)) != len(options) or len(options) < 2:
        raise ValueError(f"{where}: options must be two or more different letters, such as 'abcd'.")
    return options


def _find(exercise_id: str, key: str, candidates, where: str) -> str:
    found = [c for c in candidates if answer_key(exercise_id, c) == key]
    if len(found) != 1:
        raise ValueError(f"{where}: the key matches no possible answer; make it with "
                         f"`python -m grading.questions {exercise_id} ANSWER --options ...`.")
    return found[0]


def _feedback(exercise_id: str, feedback: Mapping[str, str], items: Sequence[str], where: str) -> dict[str, str]:
    """The message of each item (option letter or item number), looked up by its salted hash."""
    by_hash = {option_key(exercise_id, item): item for item in items}
    unknown = [k for k in feedback if k not in by_hash]
    if unknown:
        raise ValueError(f"{where}: feedback key {unknown[0]!r} is the hash of no option; make the keys with "
                         f"`python -m grading.questions`.")
    return {by_hash[k]: " ".join(message.split()) for k, message in feedback.items()}


def _register(exercise_id, points, answer, hints, check):
    exercise(exercise_id, points=points, answer=answer, hints=hints)(check)
    return check


def single_choice(exercise_id: str, *, points: float, answer: str, options: str, key: str,
                  feedback: Mapping[str, str], hints: Sequence[str] = ()):
    """Register a multiple-choice question with one right option. ``feedback`` holds, keyed by
    :func:`option_key`, a message for every wrong option saying what that option gets wrong."""
    where = f"Question {exercise_id}"
    shown, options = options, _normalise_options(options, where)
    right = _find(exercise_id, key, options, where)
    messages = _feedback(exercise_id, feedback, options, where)
    missing = [o for o in options if o != right and o not in messages]
    if missing or right in messages:
        raise ValueError(f"{where}: give a message for every wrong option and none for the right one.")

    def check(value):
        letters = _letters(value, shown, allow_set=False, what="one letter")
        if len(set(letters)) != 1:
            raise Incorrect(f"Choose one option only; got {_show(', '.join(dict.fromkeys(letters)), shown)}.")
        if letters[0] != right:
            raise Incorrect(f"Not {_show(letters[0], shown)}: {messages[letters[0]]}")

    return _register(exercise_id, points, answer, hints, check)


def several_choices(exercise_id: str, *, points: float, answer: str, options: str, key: str,
                    feedback: Mapping[str, str], noun: str = "statement", hints: Sequence[str] = ()):
    """Register a question whose answer is every right option (true statements, right reasons: one or
    more). ``feedback`` holds a message for EVERY option, keyed by :func:`option_key`: shown when the
    option is judged wrongly (chosen when it is wrong, or left out when it is right), so it should say
    what to look at without saying which way the option goes."""
    where = f"Question {exercise_id}"
    shown, options = options, _normalise_options(options, where)
    subsets = ("".join(c) for n in range(1, len(options) + 1) for c in itertools.combinations(options, n))
    right = set(_find(exercise_id, key, subsets, where))
    messages = _feedback(exercise_id, feedback, options, where)
    if set(messages) != set(options):
        raise ValueError(f"{where}: give a message for every option.")

    def check(value):
        letters = _letters(value, shown, allow_set=True, what=f"the letters of every right {noun}")
        if len(set(letters)) != len(letters):
            raise Incorrect(f"Name each {noun} once; got {_show(''.join(letters), shown)}.")
        chosen = set(letters)
        misjudged = [o for o in options if (o in chosen) != (o in right)]
        if misjudged:
            good = len(options) - len(misjudged)
            first = misjudged[0]
            verb = "is" if good == 1 else "are"
            raise Incorrect(f"{good} of the {len(options)} {noun}s {verb} judged right. Look again at "
                            f"{_show(first, shown)}: {messages[first]}")

    return _register(exercise_id, points, answer, hints, check)


def ordering(exercise_id: str, *, points: float, answer: str, options: str, key: str,
             feedback: Mapping[str, str], noun: str = "step", hints: Sequence[str] = ()):
    """Register a question whose answer is every option in the right order. ``feedback`` holds a message
    for EVERY step, keyed by :func:`option_key`, saying what that step needs before it or what must wait
    for it; the check names how many steps are in place and shows the message of the first misplaced
    one."""
    where = f"Question {exercise_id}"
    shown, options = options, _normalise_options(options, where)
    right = _find(exercise_id, key, ("".join(p) for p in itertools.permutations(options)), where)
    messages = _feedback(exercise_id, feedback, options, where)
    if set(messages) != set(options):
        raise ValueError(f"{where}: give a message for every {noun}.")

    def check(value):
        if isinstance(value, (set, frozenset)):
            raise Incorrect(f"A set has no order: give the {len(options)} letters as a string, such as "
                            f"\"{shown}\", or a list.")
        letters = _letters(value, shown, allow_set=False, what=f"the {len(options)} letters in order")
        if sorted(letters) != sorted(options):
            raise Incorrect(f"Use each of the letters {shown[0]} to {shown[-1]} exactly once; got "
                            f"{_show(''.join(letters), shown)}.")
        placed = sum(a == b for a, b in zip(letters, right))
        if placed != len(options):
            position = next(i for i, (a, b) in enumerate(zip(letters, right)) if a != b)
            step = letters[position]
            verb = "is" if placed == 1 else "are"
            raise Incorrect(f"{placed} of the {len(options)} {noun}s {verb} in place. The first one out of place is "
                            f"{_show(step, shown)}, which you put in position {position + 1}: {messages[step]}")

    return _register(exercise_id, points, answer, hints, check)


def matching(exercise_id: str, *, points: float, answer: str, items: int, options: str, key: str,
             feedback: Mapping[str, str], noun: str = "symptom", hints: Sequence[str] = ()):
    """Register a question that matches each of ``items`` numbered items (1, 2, ...) with a different
    option (a cause, say; some options may fit none). ``feedback`` holds a message for EVERY item, keyed
    by :func:`option_key` of its number, saying what to look at in it."""
    where = f"Question {exercise_id}"
    shown, options = options, _normalise_options(options, where)
    numbers = [str(i + 1) for i in range(items)]
    right = _find(exercise_id, key, ("".join(p) for p in itertools.permutations(options, items)), where)
    messages = _feedback(exercise_id, feedback, numbers, where)
    if set(messages) != set(numbers):
        raise ValueError(f"{where}: give a message for every {noun}.")

    def check(value):
        letters = _letters(value, shown, allow_set=False, what=f"one letter per {noun}")
        if len(letters) != items:
            raise Incorrect(f"Give one letter per {noun}, in the order of the {noun}s: {items} letters, got "
                            f"{len(letters)}.")
        matched = sum(a == b for a, b in zip(letters, right))
        if matched != items:
            first = next(i for i, (a, b) in enumerate(zip(letters, right)) if a != b)
            verb = "is" if matched == 1 else "are"
            raise Incorrect(f"{matched} of the {items} {noun}s {verb} matched with their cause. {noun.capitalize()} "
                            f"{first + 1} is not: {messages[numbers[first]]}")

    return _register(exercise_id, points, answer, hints, check)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grading.questions",
        description="Print the hashed key of a concept question's right answer, and the keys of its options' "
                    "messages, to paste into grading/lessonNN.py.")
    parser.add_argument("exercise_id", help="the question's id, such as 03.order")
    parser.add_argument("answer", help="the right answer: one letter, the right letters, or the letters in order")
    parser.add_argument("--options", required=True, help="every option's letter, such as abcd")
    parser.add_argument("--kind", choices=("single", "several", "order", "match"), default=None,
                        help="single right option, several right options, an order, or a matching (default: "
                             "single for one letter, several otherwise)")
    args = parser.parse_args(argv)
    options = args.options.upper()
    letters = "".join(c for c in args.answer.upper() if c.isalnum())
    if not letters or any(c not in options for c in letters):
        parser.error(f"the answer {args.answer!r} must use the letters of --options {args.options!r}")
    kind = args.kind or ("single" if len(letters) == 1 else "several")
    if kind == "several":
        letters = "".join(sorted(set(letters)))
    print(f"key={answer_key(args.exercise_id, letters)!r}")
    items = [str(i + 1) for i in range(len(letters))] if kind == "match" else list(options)
    print("feedback={")
    for item in items:
        if kind == "match":
            label = f"{item}: matched with {letters[int(item) - 1]}"
        else:
            label = args.options[options.index(item)]
            if kind == "single" and item == letters:
                label += " (the right option: leave it out, it gets no message)"
        print(f"    {option_key(args.exercise_id, item)!r}: \"...\",  # {label}")
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
