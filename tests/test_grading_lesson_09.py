"""The checks of lesson 09 (grading/lesson09.py) turn down the usual wrong answers with a message that says
what is wrong, and pass unusual answers that are right. What every lesson's checks share is tested in
tests/test_grading_lessons.py."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from grading_answers import assert_passes, assert_turned_down, lesson_answer, wrong_answer_ids
from grading import lesson09


def test_the_bootstrap_check_leaves_the_callers_random_state_alone_even_when_the_answer_seeds_it():
    def seeds_the_global_generators(y_true, y_pred, metric, resamples=1000, seed=0):
        np.random.seed(seed)
        random.seed(seed)
        return lesson_answer("09.bootstrap")(y_true, y_pred, metric, resamples, seed)

    np.random.seed(5)
    random.seed(5)
    expected = (np.random.random(), random.random())
    np.random.seed(5)
    random.seed(5)
    assert_passes("09.bootstrap", seeds_the_global_generators)
    assert (np.random.random(), random.random()) == expected


def test_the_macro_f1_cases_tell_the_classes_that_occur_from_num_classes():
    absent = [(t, p, k) for _, t, p, k in lesson09._label_cases() if len(set(t) | set(p)) < k]
    assert len(absent) >= 2


# ---------------------------------------------------------------------------------------------------
# Typical wrong answers, each with a word of its message
# ---------------------------------------------------------------------------------------------------

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


def f1_classes_that_occur(y_true, y_pred, num_classes):
    classes = sorted(set(y_true) | set(y_pred))
    return sum(_f1(*_per_class(y_true, y_pred, num_classes)[c]) for c in classes) / len(classes)


def f1_of_the_averages(y_true, y_pred, num_classes):
    counts = _per_class(y_true, y_pred, num_classes)
    precision = sum(h / p if p else 0.0 for h, p, _ in counts) / num_classes
    recall = sum(h / a if a else 0.0 for h, _, a in counts) / num_classes
    return 2 * precision * recall / (precision + recall)


def f1_percent(y_true, y_pred, num_classes):
    return 100 * sum(_f1(*c) for c in _per_class(y_true, y_pred, num_classes)) / num_classes


def f1_mean_precision(y_true, y_pred, num_classes):
    return sum(h / p if p else 0.0 for h, p, _ in _per_class(y_true, y_pred, num_classes)) / num_classes


def f1_as_tensor(y_true, y_pred, num_classes):
    return torch.tensor(sum(_f1(*c) for c in _per_class(y_true, y_pred, num_classes)) / num_classes)


def f1_sorts_the_lists(y_true, y_pred, num_classes):
    result = sum(_f1(*c) for c in _per_class(y_true, y_pred, num_classes)) / num_classes
    y_true.sort()
    return result


def _scores(y_true, y_pred, metric, rows):
    return [metric(y_true[row], y_pred[row]) for row in rows]


def _ends(scores, percents=(2.5, 97.5)):
    low, high = np.percentile(scores, percents)
    return float(low), float(high)


def boot_without_replacement(y_true, y_pred, metric, resamples=1000, seed=0):
    rng = np.random.default_rng(seed)
    return _ends(_scores(y_true, y_pred, metric, [rng.permutation(len(y_true)) for _ in range(resamples)]))


def boot_apart(y_true, y_pred, metric, resamples=1000, seed=0):
    rng = np.random.default_rng(seed)
    n = len(y_true)
    return _ends([metric(y_true[rng.integers(0, n, n)], y_pred[rng.integers(0, n, n)]) for _ in range(resamples)])


def boot_predictions_only(y_true, y_pred, metric, resamples=1000, seed=0):
    rng = np.random.default_rng(seed)
    return _ends([metric(y_true, y_pred[rng.integers(0, len(y_true), len(y_true))]) for _ in range(resamples)])


def boot_half_size(y_true, y_pred, metric, resamples=1000, seed=0):
    rng = np.random.default_rng(seed)
    return _ends(_scores(y_true, y_pred, metric, rng.integers(0, len(y_true), size=(resamples, len(y_true) // 2))))


def _rows(y_true, resamples, seed):
    return np.random.default_rng(seed).integers(0, len(y_true), size=(resamples, len(y_true)))


def boot_mean_and_std(y_true, y_pred, metric, resamples=1000, seed=0):
    scores = np.array(_scores(y_true, y_pred, metric, _rows(y_true, resamples, seed)))
    return float(scores.mean() - scores.std()), float(scores.mean() + scores.std())


def boot_fractions(y_true, y_pred, metric, resamples=1000, seed=0):
    return _ends(_scores(y_true, y_pred, metric, _rows(y_true, resamples, seed)), (0.025, 0.975))


def boot_ninety(y_true, y_pred, metric, resamples=1000, seed=0):
    return _ends(_scores(y_true, y_pred, metric, _rows(y_true, resamples, seed)), (5, 95))


def boot_high_first(y_true, y_pred, metric, resamples=1000, seed=0):
    low, high = _ends(_scores(y_true, y_pred, metric, _rows(y_true, resamples, seed)))
    return high, low


def boot_array(y_true, y_pred, metric, resamples=1000, seed=0):
    return np.percentile(_scores(y_true, y_pred, metric, _rows(y_true, resamples, seed)), [2.5, 97.5])


def boot_unseeded(y_true, y_pred, metric, resamples=1000, seed=0):
    return _ends(_scores(y_true, y_pred, metric, _rows(y_true, resamples, None)))


def boot_seed_ignored(y_true, y_pred, metric, resamples=1000, seed=0):
    return _ends(_scores(y_true, y_pred, metric, _rows(y_true, resamples, 0)))


def boot_never_the_last(y_true, y_pred, metric, resamples=1000, seed=0):
    rows = np.random.default_rng(seed).integers(0, len(y_true) - 1, size=(resamples, len(y_true)))
    return _ends(_scores(y_true, y_pred, metric, rows))


def boot_shuffles_in_place(y_true, y_pred, metric, resamples=1000, seed=0):
    scores = []
    for row in _rows(y_true, resamples, seed):
        y_true[:], y_pred[:] = y_true[row], y_pred[row]
        scores.append(metric(y_true, y_pred))
    return _ends(scores)


def boot_point_estimate(y_true, y_pred, metric, resamples=1000, seed=0):
    score = float(metric(y_true, y_pred))
    return score, score


def boot_arguments_swapped(y_true, y_pred, metric, resamples=1000, seed=0):
    return _ends(_scores(y_pred, y_true, metric, _rows(y_true, resamples, seed)))


def boot_one_short(y_true, y_pred, metric, resamples=1000, seed=0):
    return _ends(_scores(y_true, y_pred, metric, _rows(y_true, resamples - 1, seed)))


def boot_other_default(y_true, y_pred, metric, resamples=500, seed=0):
    return _ends(_scores(y_true, y_pred, metric, _rows(y_true, resamples, seed)))


def boot_tensors(y_true, y_pred, metric, resamples=1000, seed=0):
    low, high = _ends(_scores(y_true, y_pred, metric, _rows(y_true, resamples, seed)))
    return torch.tensor(low), torch.tensor(high)


WRONG = [
    ("09.macro_f1", f1_accuracy, "the accuracy"),
    ("09.macro_f1", f1_divides_by_zero, "divided by zero"),
    ("09.macro_f1", f1_weighted, "weighted each class"),
    ("09.macro_f1", f1_predicted_classes_only, "only the classes that were predicted"),
    ("09.macro_f1", f1_classes_that_occur, "divide by num_classes"),
    ("09.macro_f1", f1_of_the_averages, "F1 of the average precision and the average recall"),
    ("09.macro_f1", f1_percent, "percentage"),
    ("09.macro_f1", f1_mean_precision, "scikit-learn's f1_score"),
    ("09.macro_f1", f1_as_tensor, "a tensor of shape ()"),
    ("09.macro_f1", f1_sorts_the_lists, "changed the lists"),
    ("09.bootstrap", boot_without_replacement, "drawn without replacement"),
    ("09.bootstrap", boot_apart, "each prediction stays with its own label"),
    ("09.bootstrap", boot_predictions_only, "each prediction stays with its own label"),
    ("09.bootstrap", boot_half_size, "a resample held 60 examples"),
    ("09.bootstrap", boot_mean_and_std, "plus or minus one standard deviation"),
    ("09.bootstrap", boot_fractions, "np.percentile takes percents"),
    ("09.bootstrap", boot_ninety, "a 90 % interval"),
    ("09.bootstrap", boot_high_first, "the low end first"),
    ("09.bootstrap", boot_array, "returned ndarray of shape (2,)"),
    ("09.bootstrap", boot_unseeded, "drew other resamples the second time"),
    ("09.bootstrap", boot_seed_ignored, "drew the same resamples"),
    ("09.bootstrap", boot_never_the_last, "example 119 never came up"),
    ("09.bootstrap", boot_shuffles_in_place, "changed the arrays it was given"),
    ("09.bootstrap", boot_point_estimate, "only ever called on the test set as it is"),
    ("09.bootstrap", boot_arguments_swapped, "given the predictions first"),
    ("09.bootstrap", boot_one_short, "scored 399 resamples for resamples=400"),
    ("09.bootstrap", boot_other_default, "the default of the def line"),
    ("09.bootstrap", boot_tensors, "the low end is a tensor"),
    ("09.strategy", "a", "Not a: with θ frozen"),
    ("09.strategy", "b", "Not b: lesson 09 measured about a second per step"),
    ("09.strategy", "c", "Not c: an encoder trained from scratch"),
    ("09.strategy", 3, "one letter as a string"),
    ("09.strategy", "c)", "Not c:"),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG, ids=wrong_answer_ids(WRONG))
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


# ---------------------------------------------------------------------------------------------------
# Unusual answers that are right
# ---------------------------------------------------------------------------------------------------

def f1_in_float32(y_true, y_pred, num_classes):
    """Counts in float32 arrays, as a NumPy or torch implementation might hold them."""
    t, p = np.array(y_true), np.array(y_pred)
    classes = np.arange(num_classes)[:, None]
    hits = ((t == classes) & (p == classes)).sum(1).astype(np.float32)
    predicted = (p == classes).sum(1).astype(np.float32)
    actual = (t == classes).sum(1).astype(np.float32)
    f1 = np.where(predicted + actual > 0, 2 * hits / np.maximum(predicted + actual, 1), np.float32(0))
    return f1.mean(dtype=np.float32)


def f1_from_a_confusion_matrix(y_true, y_pred, num_classes):
    from collections import Counter

    pairs = Counter(zip(y_true, y_pred))
    total = 0.0
    for c in range(num_classes):
        hits = pairs[c, c]
        wrong = sum(n for (t, p), n in pairs.items() if (t == c) != (p == c))
        total += 2 * hits / (2 * hits + wrong) if hits + wrong else 0.0
    return total / num_classes


def boot_with_python_random(y_true, y_pred, metric, resamples=1000, seed=0):
    """random.choices in a loop, lists given to the metric, the nearest-rank percentiles."""
    draw, n = random.Random(seed), len(y_true)
    scores = []
    for _ in range(resamples):
        rows = draw.choices(range(n), k=n)
        scores.append(metric([y_true[i] for i in rows], [y_pred[i] for i in rows]))
    scores.sort()
    return scores[int(0.025 * resamples)], scores[min(resamples - 1, int(0.975 * resamples))]


def boot_with_the_point_estimate(y_true, y_pred, metric, resamples=1000, seed=0):
    """Scores the test set itself too (to print it), and returns NumPy floats."""
    metric(y_true, y_pred)
    low, high = np.quantile(_scores(y_true, y_pred, metric, _rows(y_true, resamples, seed)), [0.025, 0.975])
    return [low, high]


RIGHT = [
    ("09.macro_f1", f1_in_float32),
    ("09.macro_f1", f1_from_a_confusion_matrix),
    ("09.bootstrap", boot_with_python_random),
    ("09.bootstrap", boot_with_the_point_estimate),
    ("09.strategy", " D "),
]


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[f"{i}-{getattr(r, '__name__', repr(r))}" for i, r in RIGHT])
def test_an_unusual_right_answer_passes(exercise_id, right):
    assert_passes(exercise_id, right)
