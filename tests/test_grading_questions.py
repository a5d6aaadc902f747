"""Concept questions grade fairly in every lesson (grading/questions.py): the answer in the solution
notebook passes in any reasonable spelling, every wrong choice gets its own message, no key can be read next
to its check, and the review of the whole course (lesson 99) is graded by the instructor's grader like any
lesson. That each stub is not attempted is tested with every exercise, in tests/test_grading_lessons.py."""

from __future__ import annotations

import csv
import itertools
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading_answers import answer_cell
from grading import core, questions

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "grading"
SOLUTIONS = {p.name[:2]: p for p in sorted((ROOT / "solutions").glob("*_solutions.ipynb"))}
REVIEW = ROOT / "solutions" / "99_review_solutions.ipynb"


def concept_questions() -> list[core.Exercise]:
    """Every exercise registered through the questions helper (its check is defined in questions.py)."""
    return [ex for ex in core.exercises() if ex.check.__code__.co_filename == questions.__file__]


QUESTIONS = concept_questions()
IDS = [ex.id for ex in QUESTIONS]


def solution_answer(ex: core.Exercise):
    path = SOLUTIONS[ex.id[:2]]
    nb = nbformat.read(path, as_version=4)
    namespace: dict = {}
    exec(compile(answer_cell(nb, ex.answer), str(path), "exec"), namespace)
    return namespace[ex.answer]


def verdict(ex: core.Exercise, value) -> tuple[str, str]:
    return core.evaluate(ex, value)


def other_spellings(value: str) -> list:
    """The same answer written as a student might: other case, spaces, punctuation, a list."""
    letters = list(value)
    return [value.lower(), value.upper(), f"  {value} ", ", ".join(letters), " ".join(letters) + ".",
            [x.upper() for x in letters], tuple(x.lower() for x in letters)]


def test_every_concept_question_of_the_course_uses_the_helper():
    expected = {"01.unchanged", "01.two_datasets", "02.not_classifier", "02.probe", "02.objective", "03.order",
                "03.flow", "03.as_is", "03.small_labeled_set", "04.statements", "04.paradigm", "04.why_freeze",
                "05.question_vector", "06.symptoms", "06.which_stage", "07.disagreement", "07.prompt_or_fine_tune",
                "08.tiny_vocabulary", "08.paper_figure"}
    assert expected <= set(IDS)
    review = [i for i in IDS if i.startswith("99.")]
    assert 10 <= len(review) <= 15
    assert all(core.get_exercise(i).hints for i in IDS)


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_solution_notebooks_answer_passes_in_any_reasonable_spelling(exercise_id):
    ex = core.get_exercise(exercise_id)
    value = solution_answer(ex)
    assert verdict(ex, value) == (core.CORRECT, "")
    for spelling in other_spellings(value):
        assert verdict(ex, spelling) == (core.CORRECT, ""), spelling


def wrong_answers(ex: core.Exercise, right: str) -> list[str]:
    """Every wrong single choice; for the other kinds, a wrong answer per option (or item) in turn."""
    options = re.search(r'options="(\w+)"', _registration(ex.id)).group(1)
    upper = options.upper()
    if len(right) == 1:
        return [o for o in options if o.upper() != right.upper()]
    if "several_choices" in _registration(ex.id):  # flip one option at a time
        chosen = set(right.upper())
        return ["".join(sorted(chosen ^ {o})) for o in upper]
    if "ordering" in _registration(ex.id):  # swap each step with the next
        out = []
        for i in range(len(right) - 1):
            letters = list(right.upper())
            letters[i], letters[i + 1] = letters[i + 1], letters[i]
            out.append("".join(letters))
        return out
    # a matching: give each item in turn a cause no other item has
    spare = [o for o in upper if o not in right.upper()]
    return [right.upper()[:i] + spare[0] + right.upper()[i + 1:] for i in range(len(right))]


def _registration(exercise_id: str) -> str:
    """The source of the call that registers ``exercise_id``."""
    text = (PACKAGE / f"lesson{exercise_id[:2]}.py").read_text(encoding="utf-8")
    start = re.search(rf'\w+\("{re.escape(exercise_id)}"', text).start()
    return text[start:text.index("\n    })", start)]


@pytest.mark.parametrize("exercise_id", IDS)
def test_each_wrong_choice_gets_its_own_message_in_one_line(exercise_id):
    ex = core.get_exercise(exercise_id)
    right = solution_answer(ex)
    messages = []
    for wrong in wrong_answers(ex, right):
        status, message = verdict(ex, wrong)
        assert status == core.INCORRECT, wrong
        assert "\n" not in message and "Traceback" not in message and len(message) > 40, message
        assert "̂" not in message, "hats stay out of printed output: write θ-hat"
        messages.append(message)
    assert len(set(messages)) == len(messages), "two wrong choices share a message"


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_right_answer_cannot_be_read_next_to_its_check(exercise_id):
    ex = core.get_exercise(exercise_id)
    right = solution_answer(ex).upper()
    source = _registration(exercise_id)
    quoted = [s.upper() for s in re.findall(r'"([^"]*)"', source)]
    assert right not in quoted and right.lower() not in re.findall(r'"([^"]*)"', source)
    # the messages are keyed by hash: no key says which option it belongs to
    keys = re.findall(r'^\s+"([0-9a-f]{16})":', source, re.M)
    assert keys and all(len(k) == 16 for k in keys)


def test_an_ordering_names_the_steps_in_place_and_the_first_misplaced_one_not_always_the_ends():
    ex = core.get_exercise("03.order")
    right = solution_answer(ex)
    middle_swapped = right[0] + right[2] + right[1] + right[3:]
    status, message = verdict(ex, middle_swapped)
    assert status == core.INCORRECT
    assert message.startswith(f"{len(right) - 2} of the {len(right)} steps are in place.")
    assert f"The first one out of place is {right[2]}, which you put in position 2" in message
    assert "needs no labels" not in message  # the first step is right: it is not asked about


def test_a_matching_names_the_first_item_that_is_not_matched():
    ex = core.get_exercise("06.symptoms")
    right = solution_answer(ex)
    status, message = verdict(ex, right[:4] + right[5] + right[4])
    assert status == core.INCORRECT and message.startswith("4 of the 6 symptoms are matched") and "Symptom 5 is not" in message


@pytest.mark.parametrize("exercise_id, wrong, words", [
    ("01.unchanged", 2, "one letter as a string"),
    ("01.unchanged", "ab", "Choose one option only"),
    ("01.unchanged", "e", "letters a to d only"),
    ("01.unchanged", "", "names no option"),
    ("03.order", set("ABCDE"), "A set has no order"),
    ("03.order", "ABCD", "exactly once"),
    ("04.statements", "AADE", "Name each statement once"),
    ("04.statements", ["A", 4], "a list of letters"),
    ("06.symptoms", "ABC", "one letter per symptom"),
    ("04.why_freeze", "G", "letters A to F only"),
])
def test_an_answer_in_the_wrong_form_is_told_what_form_to_use(exercise_id, wrong, words):
    status, message = verdict(core.get_exercise(exercise_id), wrong)
    assert status == core.INCORRECT and words in message, message


def test_a_string_that_only_claims_to_equal_the_answer_does_not_pass():
    class AlwaysEqual(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    for exercise_id in ("01.unchanged", "03.order", "04.statements", "06.symptoms"):
        assert verdict(core.get_exercise(exercise_id), AlwaysEqual("a"))[0] == core.INCORRECT


# ---------------------------------------------------------------------------------------------------
# Writing a question: the key and the messages' keys, and the mistakes the helper refuses
# ---------------------------------------------------------------------------------------------------

def test_the_key_command_prints_the_key_and_a_message_key_per_option():
    process = subprocess.run([sys.executable, "-m", "grading.questions", "98.example", "b", "--options", "abcd"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert process.returncode == 0, process.stderr
    assert f"key={questions.answer_key('98.example', 'B')!r}" in process.stdout
    for option in "abcd":
        assert questions.option_key("98.example", option) in process.stdout
    assert "leave it out" in process.stdout.splitlines()[3]  # option b, the right one


def test_the_key_of_several_right_options_does_not_depend_on_their_order():
    assert questions.answer_key("98.x", "DA") != questions.answer_key("98.x", "AD")  # order matters to the hash
    out = subprocess.run([sys.executable, "-m", "grading.questions", "98.x", "d, a", "--options", "ABCD"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert f"key={questions.answer_key('98.x', 'AD')!r}" in out  # the command sorts them, as the check does


def register(function, exercise_id, **kwargs):
    """Register a throwaway question, then remove it from the registry."""
    try:
        return function(exercise_id, points=1, answer="answer_98", **kwargs)
    finally:
        core._REGISTRY.pop(exercise_id, None)


def test_a_question_whose_key_matches_no_answer_is_refused_at_import():
    with pytest.raises(ValueError, match="matches no possible answer"):
        register(questions.single_choice, "98.bad_key", options="abc", key="0" * 16, feedback={})


def test_a_single_choice_needs_a_message_for_every_wrong_option_and_none_for_the_right_one():
    key = questions.answer_key("98.q", "B")
    messages = {questions.option_key("98.q", o): f"option {o} is wrong" for o in "AC"}
    check = register(questions.single_choice, "98.q", options="abc", key=key, feedback=messages)
    assert core.evaluate(core.Exercise("98.q", 1, "a", (), check), "c") == (core.INCORRECT, "Not c: option C is wrong")
    with pytest.raises(ValueError, match="every wrong option"):
        register(questions.single_choice, "98.q", options="abc", key=key,
                 feedback={questions.option_key("98.q", "A"): "a"})
    with pytest.raises(ValueError, match="hash of no option"):
        register(questions.single_choice, "98.q", options="abc", key=key, feedback={"not a key": "x", **messages})


def test_every_kind_of_question_finds_its_answer_from_the_key_alone():
    for function, right, extra in ((questions.several_choices, "AC", {}), (questions.ordering, "CAB", {}),
                                   (questions.matching, "CA", {"items": 2})):
        items = [str(i + 1) for i in range(extra.get("items", 0))] or list("ABC")
        feedback = {questions.option_key("98.k", i): f"look at {i}" for i in items}
        check = register(function, "98.k", options="ABC", key=questions.answer_key("98.k", right), feedback=feedback,
                         **extra)
        ex = core.Exercise("98.k", 1, "a", (), check)
        assert core.evaluate(ex, right.lower()) == (core.CORRECT, "")
        wrong = next("".join(p) for p in itertools.permutations("ABC", len(right)) if "".join(p) != right)
        assert core.evaluate(ex, wrong)[0] == core.INCORRECT


# ---------------------------------------------------------------------------------------------------
# The review notebook, graded by the instructor's grader
# ---------------------------------------------------------------------------------------------------

def test_the_grader_gives_the_review_full_marks_and_its_untouched_exercise_zero(tmp_path):
    exercise = ROOT / "exercises" / "99_review_exercises.ipynb"
    out = tmp_path / "grades.csv"
    process = subprocess.run([sys.executable, "-m", "grading", str(REVIEW), str(exercise), "--out", str(out),
                              "--timeout", "300"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stderr[-2000:]
    rows = {Path(row["submission"]).name: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    review_points = sum(ex.points for ex in core.exercises() if ex.id.startswith("99."))
    solution, untouched = rows[REVIEW.name], rows[exercise.name]
    assert solution["error"] == "" and untouched["error"] == "", (solution, untouched)
    assert float(solution["total"]) == float(solution["max"]) == review_points
    assert untouched["total"] == "0" and float(untouched["max"]) == review_points
    graded = {k for k, v in solution.items() if re.match(r"\d\d\.", k) and v != ""}
    assert graded == {i for i in IDS if i.startswith("99.")} and all(solution[i] == "1" for i in graded)
