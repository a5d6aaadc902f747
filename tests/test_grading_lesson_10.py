"""The checks of lesson 10 (grading/lesson10.py) turn down the usual wrong answers with a message that says what
is wrong, while right answers written another way than the solution pass; the checks' references agree with the
course's own code (utils.instructions). What every lesson's checks share is tested in
tests/test_grading_lessons.py."""

from __future__ import annotations

import pytest
import torch

from grading import core, lesson10
from grading_answers import assert_passes, assert_turned_down, lesson_answer, wrong_answer_ids
from utils import instructions

LESSON_10 = [ex.id for ex in core.exercises() if ex.id.startswith("10.")]


def test_lesson_10_has_its_exercises_in_the_order_of_the_notebook():
    assert LESSON_10 == ["10.answer_labels", "10.dpo_loss", "10.knowledge", "10.tuning_changes", "10.alignment",
                         "10.prompt_alone"]


@pytest.mark.parametrize("exercise_id", LESSON_10)
def test_the_solution_notebooks_answer_passes(exercise_id):
    assert_passes(exercise_id, lesson_answer(exercise_id))


@pytest.mark.parametrize("where, pieces, answer, length", list(lesson10._label_cases()),
                         ids=[case[0] for case in lesson10._label_cases()])
def test_the_label_checks_reference_is_the_courses_mask(where, pieces, answer, length):
    prompt = [i for piece in pieces for i in piece]
    assert lesson10._reference_labels(pieces, answer, length) == instructions.answer_only_labels(prompt, answer, length)


@pytest.mark.parametrize("where, pc, pr, rc, rr, beta", list(lesson10._dpo_cases()),
                         ids=[case[0] for case in lesson10._dpo_cases()])
def test_the_dpo_checks_reference_is_the_courses_loss(where, pc, pr, rc, rr, beta):
    course = instructions.dpo_loss(*(torch.tensor(v, dtype=torch.float64) for v in (pc, pr, rc, rr)), beta=beta)
    assert lesson10._reference_dpo(pc, pr, rc, rr, beta) == pytest.approx(course.item(), rel=1e-9)


# --- right answers written another way ------------------------------------------------------------

def labels_with_numpy(prompt_pieces, answer_ids, length):
    import numpy as np

    prompt = np.concatenate([np.array(p, dtype=np.int64) for p in prompt_pieces]) if prompt_pieces else np.array([])
    if len(prompt) + len(answer_ids) > length:
        raise ValueError("too long")
    labels = np.full(length, -100, dtype=np.int64)
    labels[len(prompt):len(prompt) + len(answer_ids)] = answer_ids
    return labels


def dpo_by_hand(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    z = beta * ((policy_chosen - policy_rejected) - (reference_chosen - reference_rejected))
    return torch.nn.functional.softplus(-z).mean()


@pytest.mark.parametrize("exercise_id, answer", [("10.answer_labels", labels_with_numpy), ("10.dpo_loss", dpo_by_hand)])
def test_right_answers_written_another_way_pass(exercise_id, answer):
    assert_passes(exercise_id, answer)


# --- the usual wrong answers ------------------------------------------------------------------------

def labels_copy_prompt(prompt_pieces, answer_ids, length):
    ids = [i for p in prompt_pieces for i in p] + list(answer_ids)
    if len(ids) > length:
        raise ValueError("too long")
    return ids + [-100] * (length - len(ids))


def labels_shifted(prompt_pieces, answer_ids, length):
    n = sum(len(p) for p in prompt_pieces)
    if n + len(answer_ids) > length:
        raise ValueError("too long")
    labels = [-100] * (n - 1) + list(answer_ids)
    return labels + [-100] * (length - len(labels))


def labels_pad_zero(prompt_pieces, answer_ids, length):
    n = sum(len(p) for p in prompt_pieces)
    if n + len(answer_ids) > length:
        raise ValueError("too long")
    return [-100] * n + list(answer_ids) + [0] * (length - n - len(answer_ids))


def labels_last_piece_only(prompt_pieces, answer_ids, length):
    n = len(prompt_pieces[-1])
    labels = [-100] * n + list(answer_ids)
    return labels + [-100] * max(0, length - len(labels))


def labels_no_length_check(prompt_pieces, answer_ids, length):
    n = sum(len(p) for p in prompt_pieces)
    labels = [-100] * n + list(answer_ids)
    return (labels + [-100] * (length - len(labels)))[:length]


def labels_unpadded(prompt_pieces, answer_ids, length):
    return [-100] * sum(len(p) for p in prompt_pieces) + list(answer_ids)


def dpo_no_reference(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    return -torch.nn.functional.logsigmoid(beta * (policy_chosen - policy_rejected)).mean()


def dpo_swapped(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    margin = (policy_rejected - reference_rejected) - (policy_chosen - reference_chosen)
    return -torch.nn.functional.logsigmoid(beta * margin).mean()


def dpo_no_beta(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return -torch.nn.functional.logsigmoid(margin).mean()


def dpo_summed(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return -torch.nn.functional.logsigmoid(beta * margin).sum()


def dpo_naive_log(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return -torch.log(torch.sigmoid(beta * margin)).mean()


def dpo_float(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    return float(dpo_by_hand(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta))


WRONG = [
    ("10.answer_labels", labels_copy_prompt, "every prompt position gets -100"),
    ("10.answer_labels", labels_shifted, "do not shift them"),
    ("10.answer_labels", labels_pad_zero, "padding is not a token to learn"),
    ("10.answer_labels", labels_last_piece_only, "sum of their lengths"),
    ("10.answer_labels", labels_no_length_check, "raise a ValueError"),
    ("10.answer_labels", labels_unpadded, "the padding's included"),
    ("10.dpo_loss", dpo_no_reference, "reference model's log-probabilities are missing"),
    ("10.dpo_loss", dpo_swapped, "swapped"),
    ("10.dpo_loss", dpo_no_beta, "beta is missing"),
    ("10.dpo_loss", dpo_summed, "their mean"),
    ("10.dpo_loss", dpo_naive_log, "logsigmoid"),
    ("10.dpo_loss", dpo_float, "a tensor holding one number"),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG, ids=wrong_answer_ids(WRONG))
def test_the_usual_wrong_answers_are_turned_down_with_a_message(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


@pytest.mark.parametrize("exercise_id, letter", [("10.knowledge", "a"), ("10.tuning_changes", "b"),
                                                 ("10.alignment", "c"), ("10.prompt_alone", "d")])
def test_a_wrong_option_is_answered_with_what_it_gets_wrong(exercise_id, letter):
    status, message = core.evaluate(core.get_exercise(exercise_id), letter)
    assert status == core.INCORRECT and message.startswith(f"Not {letter}")
