"""The checks of lesson 08 (utils/grading/lesson08.py) grade fairly: each passes the answer in the solution
notebook, reports the untouched stub of the exercise notebook as not attempted, and turns down the usual
wrong answers with a message that says what is wrong."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from grading_answers import assert_not_attempted, assert_passes, assert_turned_down, load_answer, wrong_answer_ids
from utils import models
from utils.grading import core

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "08_real_text_solutions.ipynb"
IDS = ["08.mean_pool", "08.macro_f1", "08.strategy"]


def answer(exercise_id: str, stub: bool = False):
    """The answer to ``exercise_id`` as the solution notebook defines it, or as the exercise notebook's stub."""
    return load_answer(SOLUTION, [exercise_id], {"torch": torch}, stub)


def test_lesson_08_registers_its_exercises_in_the_order_its_notebook_asks_them():
    assert [ex.id for ex in core.exercises() if ex.id.startswith("08.")] == IDS
    assert all(core.get_exercise(i).hints for i in IDS)


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_solution_notebooks_answer_passes(exercise_id):
    assert_passes(exercise_id, answer(exercise_id))


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_exercise_notebooks_stub_is_not_attempted(exercise_id):
    assert_not_attempted(exercise_id, answer(exercise_id, stub=True))


def test_the_courses_own_mean_pooling_earns_no_points_but_a_copy_of_it_does():
    status, message = core.evaluate(core.get_exercise("08.mean_pool"), models.mean_pool)
    assert status == core.INCORRECT and "utils.models" in message
    namespace = {}
    exec(inspect.getsource(models.mean_pool), {"torch": torch}, namespace)
    assert_passes("08.mean_pool", namespace["mean_pool"])


# ---------------------------------------------------------------------------------------------------
# Typical wrong answers, each with a word of its message
# ---------------------------------------------------------------------------------------------------

def pool_with_padding(token_vectors, attention_mask):
    return token_vectors.mean(dim=1)


def pool_cls(token_vectors, attention_mask):
    return token_vectors[:, 0]


def pool_sum(token_vectors, attention_mask):
    return (token_vectors * attention_mask.unsqueeze(-1)).sum(dim=1)


def pool_padded_length(token_vectors, attention_mask):
    return (token_vectors * attention_mask.unsqueeze(-1)).sum(dim=1) / token_vectors.shape[1]


def pool_hidden(token_vectors, attention_mask):
    return (token_vectors * attention_mask.unsqueeze(-1)).mean(dim=2)


def pool_in_place(token_vectors, attention_mask):
    token_vectors *= attention_mask.unsqueeze(-1)
    return token_vectors.sum(dim=1) / attention_mask.sum(dim=1, keepdim=True)


def pool_numpy(token_vectors, attention_mask):
    mask = attention_mask.unsqueeze(-1).to(token_vectors.dtype)
    return ((token_vectors * mask).sum(dim=1) / mask.sum(dim=1)).numpy()


def _per_class(y_true, y_pred, num_classes):
    out = []
    for c in range(num_classes):
        hits = sum(t == c and p == c for t, p in zip(y_true, y_pred))
        predicted, actual = y_pred.count(c), y_true.count(c)
        out.append((hits, predicted, actual))
    return out


def f1_accuracy(y_true, y_pred, num_classes):
    return sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)


def f1_divides_by_zero(y_true, y_pred, num_classes):
    scores = []
    for hits, predicted, actual in _per_class(y_true, y_pred, num_classes):
        precision, recall = hits / predicted, hits / actual
        scores.append(2 * precision * recall / (precision + recall) if hits else 0.0)
    return sum(scores) / num_classes


def _f1(hits, predicted, actual):
    precision = hits / predicted if predicted else 0.0
    recall = hits / actual if actual else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def f1_weighted(y_true, y_pred, num_classes):
    return sum(_f1(*c) * c[2] for c in _per_class(y_true, y_pred, num_classes)) / len(y_true)


def f1_predicted_classes_only(y_true, y_pred, num_classes):
    scores = [_f1(*c) for c in _per_class(y_true, y_pred, num_classes) if c[1]]
    return sum(scores) / len(scores)


def f1_percent(y_true, y_pred, num_classes):
    return 100 * sum(_f1(*c) for c in _per_class(y_true, y_pred, num_classes)) / num_classes


def f1_mean_precision(y_true, y_pred, num_classes):
    return sum(h / p if p else 0.0 for h, p, _ in _per_class(y_true, y_pred, num_classes)) / num_classes


WRONG = [
    ("08.mean_pool", pool_with_padding, "padding included"),
    ("08.mean_pool", pool_cls, "first ([CLS]) vector"),
    ("08.mean_pool", pool_sum, "summed"),
    ("08.mean_pool", pool_padded_length, "padded length"),
    ("08.mean_pool", pool_hidden, "not over the hidden size"),
    ("08.mean_pool", pool_in_place, "changed the token vectors"),
    ("08.mean_pool", pool_numpy, "return a torch.Tensor"),
    ("08.macro_f1", f1_accuracy, "the accuracy"),
    ("08.macro_f1", f1_divides_by_zero, "divided by zero"),
    ("08.macro_f1", f1_weighted, "weighted each class"),
    ("08.macro_f1", f1_predicted_classes_only, "only the classes that were predicted"),
    ("08.macro_f1", f1_percent, "percentage"),
    ("08.macro_f1", f1_mean_precision, "scikit-learn's f1_score"),
    ("08.strategy", "a", "Not that one"),
    ("08.strategy", "b", "Not that one"),
    ("08.strategy", "d", "Not that one"),
    ("08.strategy", 3, "one letter as a string"),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG, ids=wrong_answer_ids(WRONG))
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


def test_an_upper_case_letter_with_spaces_is_accepted():
    assert_passes("08.strategy", " C ")
