"""Concept questions are answered by understanding, not by test-wiseness (every lesson's questions and
lesson 99's review): the key is not the longest option, nor the shortest, more often than chance allows;
no option is a stub next to the key; the keys' letters are spread over the options; and an order to find
is not the order the steps are listed in.

The options are read from the solution notebooks' markdown ("* **a.** ..."), and each key is found through
the registry, by asking the question's own check which answer it accepts: never from a copy of the keys."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from grading import core

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = {p.name[:2]: p for p in sorted((ROOT / "solutions").glob("*_solutions.ipynb"))}

# Answering the longest (or the shortest) option of every question may score at most this share.
LENGTH_STRATEGY_LIMIT = 1 / 3
# Every option is at least this share of the key's length: no one-line stub next to a paragraph.
SHORTEST_OPTION_SHARE = 0.5
# No letter is the key of more than this share of the single-choice questions.
LETTER_SHARE_LIMIT = 0.4

_OPTION = re.compile(r"^\* \*\*([A-Za-z])\.\*\*\s*(.*)$")


def kind_of(ex: core.Exercise) -> str | None:
    """'single', 'several', 'order' or 'match' for a question registered through grading/questions.py."""
    name = ex.check.__qualname__.split(".<locals>", 1)[0]
    return {"single_choice": "single", "several_choices": "several", "ordering": "order",
            "matching": "match"}.get(name)


def option_texts(ex: core.Exercise) -> dict[str, str]:
    """The options of ``ex`` as its solution notebook lists them, in the markdown cell before the answer cell:
    {letter as written: text without markdown marks, spaces collapsed}."""
    nb = nbformat.read(SOLUTIONS[ex.id[:2]], as_version=4)
    binds = re.compile(rf"^{re.escape(ex.answer)}\s*=", re.M)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and binds.search(c.source))
    cell = next(c for c in reversed(nb.cells[:at]) if c.cell_type == "markdown")
    options: dict[str, list[str]] = {}
    current = None
    for line in cell.source.splitlines():
        found = _OPTION.match(line)
        if found:
            current = found.group(1)
            options[current] = [found.group(2)]
        elif current is not None and line.startswith("  ") and line.strip():
            options[current].append(line.strip())
        else:
            current = None
    return {letter: " ".join(re.sub(r"[*`]", "", " ".join(parts)).split()) for letter, parts in options.items()}


def accepted(ex: core.Exercise, candidates) -> list[str]:
    """The candidate answers that the question's registered check accepts."""
    return [c for c in candidates if core.evaluate(ex, c)[0] == core.CORRECT]


def key_of(ex: core.Exercise, letters: str) -> str:
    """The right answer, found by trying every possible answer of the question's kind with its check."""
    kind = kind_of(ex)
    if kind == "single":
        candidates = list(letters)
    elif kind == "order":
        candidates = ["".join(p) for p in itertools.permutations(letters)]
    else:  # several right options: every non-empty subset
        candidates = ["".join(c) for n in range(1, len(letters) + 1) for c in itertools.combinations(letters, n)]
    found = accepted(ex, candidates)
    assert len(found) == 1, f"{ex.id}: the check accepts {len(found)} of the possible answers, not exactly one"
    return found[0]


def questions(kind: str) -> list[core.Exercise]:
    return [ex for ex in core.exercises() if kind_of(ex) == kind and ex.id[:2] in SOLUTIONS]


SINGLE = questions("single")
ORDER = questions("order")
SEVERAL = questions("several")


def lengths(ex: core.Exercise) -> dict[str, int]:
    texts = option_texts(ex)
    assert len(texts) >= 3, f"{ex.id}: found {len(texts)} options ('* **a.** ...') in the markdown before its answer cell"
    return {letter: len(text) for letter, text in texts.items()}


def single_keys() -> dict[str, tuple[str, dict[str, int]]]:
    """{question id: (key letter, {option letter: length})} for every single-choice question."""
    table = {}
    for ex in SINGLE:
        size = lengths(ex)
        table[ex.id] = (key_of(ex, "".join(size)), size)
    return table


def strategy_score(pick) -> tuple[float, list[str]]:
    """What answering ``pick(lengths)`` (the letters it picks; ties share the point) scores over every
    single-choice question, and the questions where the key is among the picked letters."""
    total, hits = 0.0, []
    for exercise_id, (key, size) in single_keys().items():
        picked = pick(size)
        if key in picked:
            total += 1 / len(picked)
            hits.append(exercise_id)
    return total / len(SINGLE), hits


def longest(size: dict[str, int]) -> list[str]:
    return [o for o, n in size.items() if n == max(size.values())]


def shortest(size: dict[str, int]) -> list[str]:
    return [o for o, n in size.items() if n == min(size.values())]


def test_every_lesson_with_questions_is_read():
    assert len(SINGLE) >= 20, [ex.id for ex in SINGLE]
    assert {ex.id[:2] for ex in SINGLE} >= {"01", "02", "03", "99"}


@pytest.mark.parametrize("exercise_id", [ex.id for ex in SINGLE])
def test_no_option_is_a_stub_next_to_the_key(exercise_id):
    ex = core.get_exercise(exercise_id)
    size = lengths(ex)
    key = key_of(ex, "".join(size))
    short = {o: n for o, n in size.items() if n < SHORTEST_OPTION_SHARE * size[key]}
    assert not short, (f"{exercise_id}: option{'s' if len(short) > 1 else ''} "
                       f"{', '.join(f'{o} ({n} characters)' for o, n in short.items())} "
                       f"{'are' if len(short) > 1 else 'is'} less than half as long as the key {key} "
                       f"({size[key]} characters): write every option as a sentence a confused student could "
                       f"believe, as detailed as the key.")


def test_answering_the_longest_option_scores_at_most_a_third():
    score, hits = strategy_score(longest)
    assert score <= LENGTH_STRATEGY_LIMIT, (
        f"Answering the longest option scores {score:.0%} over the {len(SINGLE)} single-choice questions (at most "
        f"{LENGTH_STRATEGY_LIMIT:.0%} allowed); the key is the longest option in: {', '.join(hits)}.")


def test_answering_the_shortest_option_scores_at_most_a_third():
    score, hits = strategy_score(shortest)
    assert score <= LENGTH_STRATEGY_LIMIT, (
        f"Answering the shortest option scores {score:.0%} over the {len(SINGLE)} single-choice questions (at most "
        f"{LENGTH_STRATEGY_LIMIT:.0%} allowed); the key is the shortest option in: {', '.join(hits)}.")


def test_the_keys_letters_are_spread_over_the_options():
    keys = {exercise_id: key.lower() for exercise_id, (key, _) in single_keys().items()}
    counts = Counter(keys.values())
    letter, most = counts.most_common(1)[0]
    assert most <= LETTER_SHARE_LIMIT * len(keys), (
        f"'{letter}' is the key of {most} of the {len(keys)} single-choice questions (at most "
        f"{LETTER_SHARE_LIMIT:.0%} allowed): {', '.join(i for i, k in keys.items() if k == letter)}. Key counts: "
        f"{dict(sorted(counts.items()))}.")


@pytest.mark.parametrize("exercise_id", [ex.id for ex in ORDER])
def test_an_order_to_find_is_not_the_order_the_steps_are_listed_in(exercise_id):
    ex = core.get_exercise(exercise_id)
    listed = "".join(option_texts(ex))
    assert len(listed) >= 3, f"{exercise_id}: its steps ('* **A.** ...') were not found in the solution notebook"
    key = key_of(ex, listed)
    assert key.upper() != listed.upper(), f"{exercise_id}: the right order is the order the steps are listed in"


@pytest.mark.parametrize("exercise_id", [ex.id for ex in SEVERAL])
def test_the_right_options_of_a_several_choice_question_are_not_the_long_ones(exercise_id):
    ex = core.get_exercise(exercise_id)
    size = lengths(ex)
    key = set(key_of(ex, "".join(size)))
    right = [n for o, n in size.items() if o in key]
    wrong = [n for o, n in size.items() if o not in key]
    longer_half = {o for o, n in size.items() if n > sorted(size.values())[len(size) // 2 - 1]}
    assert longer_half != key, f"{exercise_id}: the right options are exactly the longer half of the options"
    if wrong:
        ratio = (sum(right) / len(right)) / (sum(wrong) / len(wrong))
        assert 2 / 3 <= ratio <= 3 / 2, (f"{exercise_id}: the right options are {ratio:.1f} times as long as the "
                                         f"wrong ones on average; write them to comparable lengths.")
        assert min(size.values()) >= SHORTEST_OPTION_SHARE * max(size.values()), (
            f"{exercise_id}: its shortest option is less than half as long as its longest.")
