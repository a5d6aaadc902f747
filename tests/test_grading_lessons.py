"""What every lesson's checks share (grading/lessonNN.py), tested once for every exercise of every lesson:
each lesson registers its exercises in the order its solution notebook asks them, each with hints; the
answer in the solution notebook passes, and checking it leaves the caller's random numbers as they were;
the stub of the exercise notebook generated from it is not attempted. Each lesson's own test file keeps
what is its own: its table of typical wrong answers (and of right answers written another way)."""

from __future__ import annotations

import random
import re

import nbformat
import numpy as np
import pytest
import torch

from grading import core
from grading_answers import SOLUTIONS, assert_not_attempted, assert_passes, lesson_answer

torch.set_num_threads(1)

EXERCISES = [ex.id for ex in core.exercises()]
# Checks that hand the answer the global random generator on purpose, so checking moves it on: 01.masking
# calls apply_mask once without a generator (its default), 03.classifier and 05.task_head ask for a new
# head, whose weights are drawn from it.
DRAWS_FROM_THE_GLOBAL_GENERATOR = {"01.masking", "03.classifier", "05.task_head"}


def random_state() -> tuple:
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


@pytest.mark.parametrize("lesson", sorted(SOLUTIONS))
def test_each_lesson_registers_its_exercises_in_the_order_its_solution_notebook_asks_them(lesson):
    code = "\n".join(c.source for c in nbformat.read(SOLUTIONS[lesson], as_version=4).cells if c.cell_type == "code")
    asked = re.findall(r'check\("([^"]+)"', code)
    registered = [ex.id for ex in core.exercises() if ex.id.split(".", 1)[0] == lesson]
    assert asked == registered and registered, "each exercise checked once, in the order the lesson registers them"
    assert all(core.get_exercise(i).hints for i in registered)


def test_every_registered_exercise_belongs_to_a_lesson_with_a_solution_notebook():
    assert {i.split(".", 1)[0] for i in EXERCISES} == set(SOLUTIONS)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_solution_notebooks_answer_passes_and_checking_it_leaves_the_random_state_alone(exercise_id):
    answer = lesson_answer(exercise_id)
    before = random_state()
    assert_passes(exercise_id, answer)
    after = random_state()
    unchanged = torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]) and before[2] == after[2]
    if exercise_id in DRAWS_FROM_THE_GLOBAL_GENERATOR:
        assert not unchanged, f"{exercise_id} no longer draws from the global generator: take it off the list"
    else:
        assert unchanged, f"checking {exercise_id} changed the caller's random state"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_exercise_notebooks_stub_is_not_attempted(exercise_id):
    assert_not_attempted(exercise_id, lesson_answer(exercise_id, stub=True))
