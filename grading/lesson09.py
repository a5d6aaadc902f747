"""Checks for lesson 09's exercises (exercises/09_real_text_exercises.ipynb): macro-F1 by hand (checked
against scikit-learn), a bootstrap interval for a test score, and choosing a strategy for a budget of labels
and compute.

The checks build their own label lists and arrays, and a metric that records what it is called with, so they
need no model, no data and no network.
"""

from __future__ import annotations

import contextlib
import math

from .core import Incorrect, case, exercise
from .lesson06 import python_number

# ---------------------------------------------------------------------------------------------------
# 09.macro_f1
# ---------------------------------------------------------------------------------------------------

# Any correct way of computing macro-F1 (exact fractions, float64, float32 arrays) lands this close to
# scikit-learn's; the usual mistakes land 0.01 or more away on these cases.
F1_TOLERANCE = 1e-6


def _label_cases():
    """(where, true labels, predicted labels, number of classes)."""
    import random

    rng = random.Random(8)
    true = [rng.choice([0, 0, 0, 0, 1, 1, 2]) for _ in range(60)]
    pred = [y if rng.random() < 0.7 else rng.randrange(3) for y in true]
    yield "60 messages in 3 imbalanced classes", true, pred, 3
    yield "always predicting the majority class 'negative' (0)", true, [0] * len(true), 3
    yield "a class that is never predicted", [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 0], 3
    yield "3 classes of which class 2 occurs in neither list", [0, 0, 0, 1, 1, 0], [0, 1, 0, 1, 1, 0], 3
    yield ("4 classes of which class 3 occurs in neither list", [0, 1, 2, 2, 1, 0, 2], [0, 2, 2, 1, 1, 0, 2], 4)
    yield "every prediction right", [2, 0, 1, 0], [2, 0, 1, 0], 3
    yield "two classes", [0, 1, 1, 1, 0, 1], [0, 1, 0, 1, 1, 1], 2


def _per_class(true, pred, classes):
    """(precision, recall, F1) of each class, 0 where a denominator is 0."""
    out = []
    for c in range(classes):
        hits = sum(t == c and p == c for t, p in zip(true, pred))
        predicted, actual = sum(p == c for p in pred), sum(t == c for t in true)
        precision = hits / predicted if predicted else 0.0
        recall = hits / actual if actual else 0.0
        out.append((precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0))
    return out


def _f1_mistake(got: float, true, pred, classes: int) -> str | None:
    """What a usual mistake would have returned, if ``got`` is that (a few words for the message)."""
    from sklearn.metrics import accuracy_score, f1_score

    expected = f1_score(true, pred, average="macro", labels=list(range(classes)), zero_division=0)
    scores = _per_class(true, pred, classes)
    mean_p = sum(p for p, _, _ in scores) / classes
    mean_r = sum(r for _, r, _ in scores) / classes
    occurring = sorted(set(true) | set(pred))
    predicted = sorted(set(pred))
    mistakes = [
        (100 * expected, f"returned {got:.4g}, a percentage; return a number between 0 and 1"),
        (accuracy_score(true, pred), f"returned the accuracy ({got:.6f}); compute each class's F1 from its precision "
                                     f"and recall and average those"),
        (f1_score(true, pred, average="weighted", labels=list(range(classes)), zero_division=0),
         f"weighted each class by its number of examples ({got:.6f}); macro means every class counts the same: a "
         f"plain average"),
        (2 * mean_p * mean_r / (mean_p + mean_r) if mean_p + mean_r else 0.0,
         f"returned the F1 of the average precision and the average recall ({got:.6f}); compute the F1 of each "
         f"class first, then average the F1 scores"),
        (f1_score(true, pred, average="macro", labels=occurring, zero_division=0) if len(occurring) < classes
         else None,
         f"averaged only the classes that occur in the lists ({got:.6f}); divide by num_classes: a class that occurs "
         f"in neither list has F1 0 and still counts"),
        (f1_score(true, pred, average="macro", labels=predicted, zero_division=0) if len(predicted) < classes
         else None,
         f"averaged only the classes that were predicted ({got:.6f}); a class the classifier never predicts has F1 0 "
         f"and still counts in the average"),
    ]
    for value, message in mistakes:
        if value is not None and abs(got - value) < F1_TOLERANCE:
            return message
    return None


@exercise("09.macro_f1", points=3, answer="macro_f1", hints=[
    "For each class c: precision = (predicted c and truly c) / (predicted c), recall = (predicted c and truly "
    "c) / (truly c), F1 = 2 * precision * recall / (precision + recall).",
    "Macro-F1 is the plain average of the classes' F1 scores, each class counting the same however many "
    "examples it has. A class never predicted (or never present) has F1 0: when a denominator is 0, use 0.",
    "Loop over range(num_classes), not over the classes that happen to occur: a class absent from both lists "
    "still counts, with F1 0.",
])
def check_macro_f1(macro_f1):
    from sklearn.metrics import f1_score

    for where, true, pred, classes in _label_cases():
        expected = f1_score(true, pred, average="macro", labels=list(range(classes)), zero_division=0)
        given_true, given_pred = list(true), list(pred)
        with case(where):
            try:
                got = macro_f1(given_true, given_pred, classes)
            except ZeroDivisionError:
                raise Incorrect(f"On {where}, macro_f1 divided by zero: a class that is never predicted has "
                                f"precision 0/0. Count its F1 as 0, as scikit-learn does with zero_division=0.") from None
        if given_true != true or given_pred != pred:
            raise Incorrect(f"On {where}, macro_f1 changed the lists it was given (sorted them?); only read them.")
        got = python_number(got, "macro_f1", where)
        if abs(got - expected) < F1_TOLERANCE:
            continue
        mistake = _f1_mistake(got, true, pred, classes)
        if mistake:
            raise Incorrect(f"On {where}, macro_f1 {mistake}.")
        raise Incorrect(f"On {where}, macro_f1 returned {got:.6f}; scikit-learn's f1_score(average='macro') gives "
                        f"{expected:.6f}.")


# ---------------------------------------------------------------------------------------------------
# 09.bootstrap
# ---------------------------------------------------------------------------------------------------

# The check's test set: n examples whose "labels" are their own numbers (0 .. n-1) and whose "predictions"
# are their numbers plus OFFSET, so that the metric can tell which examples each resample holds and whether
# a prediction travelled with its own true label. The score of a resample is a weighted accuracy with
# hidden weights, all different, so that two resamples almost never tie.
BOOT_N = 120
OFFSET = 1000
BOOT_RESAMPLES = 400


class _RecordingMetric:
    """A metric that scores a resample (a weighted accuracy of a hidden classifier) and records every call."""

    def __init__(self, n: int, seed: int):
        import numpy as np

        rng = np.random.default_rng(seed)
        self.n = n
        self.right = rng.random(n) < 0.75
        self.weight = rng.uniform(0.5, 1.5, n)
        self.calls = []  # (true labels, predictions, score) as the metric saw them

    def __call__(self, y_true, y_pred):
        import numpy as np

        try:
            t, p = np.array(y_true, copy=True), np.array(y_pred, copy=True)
        except Exception:  # noqa: BLE001 (whatever it was given is recorded, and scored 0)
            t, p = np.array([]), np.array([])
        score = 0.0
        if t.ndim == 1 and t.shape == p.shape and len(t) and np.issubdtype(t.dtype, np.number):
            ids = t.astype(int)
            if ids.min() >= 0 and ids.max() < self.n:
                score = float((self.weight[ids] * self.right[ids]).sum() / self.weight[ids].sum())
        self.calls.append((t, p, score))
        return score


@contextlib.contextmanager
def _random_state_kept():
    """The caller's global random states (Python's and NumPy's) as they were, whatever the answer draws."""
    import random

    import numpy as np

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _interval(value, where: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)):
        shape = getattr(value, "shape", None)
        extra = f" of shape {tuple(shape)}" if shape is not None else ""
        raise Incorrect(f"On {where}, bootstrap_interval returned {type(value).__name__}{extra}; return a tuple of two "
                        f"Python numbers, (low, high): low, high = np.percentile(...), then return float(low), "
                        f"float(high).")
    if len(value) != 2:
        raise Incorrect(f"On {where}, bootstrap_interval returned {len(value)} values; return two, (low, high).")
    low = python_number(value[0], "bootstrap_interval", where, "the low end is")
    high = python_number(value[1], "bootstrap_interval", where, "the high end is")
    return low, high


def _resample_scores(calls, n: int, resamples: int | None, where: str) -> tuple[list[float], list[tuple]]:
    """The score of each resample the answer drew, and the resamples (as tuples of example numbers), from what
    the metric recorded; :class:`Incorrect` if the resamples are not what the bootstrap draws (or, unless
    ``resamples`` is None, not as many as asked)."""
    import numpy as np

    whole = np.arange(n)
    scores, drawn = [], []
    for t, p, score in calls:
        if t.ndim != 1 or t.shape != p.shape:
            raise Incorrect(f"On {where}, metric was called with arrays of shapes {t.shape} and {p.shape}; call it "
                            f"once per resample, with that resample's true labels and predictions, two 1-D arrays.")
        if len(t) == n and np.array_equal(t, whole) and np.array_equal(p, whole + OFFSET):
            continue  # the test set itself, as it is: the point estimate, not a resample
        if len(t) != n:
            raise Incorrect(f"On {where}, a resample held {len(t)} examples; each resample draws n = {n} examples, as "
                            f"many as the test set has (with replacement).")
        numeric = np.issubdtype(t.dtype, np.number) and np.issubdtype(p.dtype, np.number)
        if numeric and np.isin(p, whole).all() and np.array_equal(t, p + OFFSET):
            raise Incorrect(f"On {where}, metric was given the predictions first: call metric(true labels, "
                            f"predictions), in that order, as f1_score and accuracy_score take them.")
        if not numeric or not np.isin(t, whole).all():
            raise Incorrect(f"On {where}, metric was given values that are not the test examples' labels; give it "
                            f"y_true and y_pred taken at the resample's indices.")
        if not np.array_equal(p, t + OFFSET):
            raise Incorrect(f"On {where}, a resample took the true labels of some examples and the predictions of "
                            f"others: draw one set of indices per resample and take y_true and y_pred at the same "
                            f"indices, so that each prediction stays with its own label.")
        scores.append(score)
        drawn.append(tuple(int(i) for i in t))
    if not drawn:
        raise Incorrect(f"On {where}, metric was only ever called on the test set as it is: draw resamples of it and "
                        f"score each one.")
    if resamples is not None and len(drawn) != resamples:
        raise Incorrect(f"On {where}, bootstrap_interval scored {len(drawn)} resamples for resamples={resamples}: draw "
                        f"and score exactly one per resample.")
    if all(len(set(d)) == n for d in drawn):
        raise Incorrect(f"On {where}, no resample holds an example twice: they were drawn without replacement, so "
                        f"each is the test set reordered and has the same score. Draw with replacement "
                        f"(rng.integers(0, n, size=n)).")
    missing = sorted(set(range(n)) - {i for d in drawn for i in d})
    if missing:
        raise Incorrect(f"On {where}, example {missing[-1]} never came up in {len(drawn)} resamples of {n}: draw "
                        f"indices from 0 to n - 1 (rng.integers(0, n) draws up to n - 1 already).")
    return scores, drawn


def _window(values: list[float], q: float) -> tuple[float, float]:
    """The range that any usual definition of the q-quantile of ``values`` falls in: from the order statistic
    just below its position to the one just above."""
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    return ordered[max(0, math.floor(at) - 1)], ordered[min(len(ordered) - 1, math.ceil(at) + 1)]


def _interval_message(low: float, high: float, scores: list[float], where: str) -> str | None:
    import numpy as np

    (a, b), (c, d) = _window(scores, 0.025), _window(scores, 0.975)
    if a <= low <= b and c <= high <= d:
        return None
    expected = np.percentile(scores, [2.5, 97.5])
    near = lambda pair: abs(low - pair[0]) < 1e-9 and abs(high - pair[1]) < 1e-9  # noqa: E731
    mean = float(np.mean(scores))
    if c <= low <= d and a <= high <= b:
        why = "has its ends the wrong way round: return (low, high), the low end first"
    elif low == high:
        why = (f"has no width ({low:.4f} to {high:.4f}): return the 2.5th and 97.5th percentiles of the resamples' "
               f"scores")
    elif any(near((mean - s, mean + s)) for s in (np.std(scores), np.std(scores, ddof=1))):
        why = ("is the mean plus or minus one standard deviation of the scores, about a 68 % interval: return their "
               "2.5th and 97.5th percentiles, np.percentile(scores, [2.5, 97.5])")
    elif near(np.percentile(scores, [0.025, 0.975])):
        why = ("took the percentiles 0.025 and 0.975 of 100, next to the lowest score: np.percentile takes percents, "
               "[2.5, 97.5] (np.quantile takes [0.025, 0.975])")
    elif near(np.percentile(scores, [5, 95])):
        why = "is a 90 % interval (percentiles 5 and 95): the middle 95 % runs from 2.5 to 97.5"
    else:
        why = (f"is not the 2.5th and 97.5th percentiles of the scores of the resamples you drew "
               f"({expected[0]:.4f} and {expected[1]:.4f}): np.percentile(scores, [2.5, 97.5])")
    return f"On {where}, the interval ({low:.4f}, {high:.4f}) {why}."


@exercise("09.bootstrap", points=3, answer="bootstrap_interval", hints=[
    "rng = np.random.default_rng(seed); rows = rng.integers(0, n, size=(resamples, n)) gives, per resample, n "
    "indices drawn with replacement. Index y_true and y_pred with the same row, so that each prediction keeps its "
    "own label.",
    "scores = [metric(y_true[row], y_pred[row]) for row in rows]; then low, high = np.percentile(scores, [2.5, "
    "97.5]).",
    "Return (float(low), float(high)): a tuple of two Python numbers, the low end first.",
])
def check_bootstrap(bootstrap_interval):
    import numpy as np

    whole = np.arange(BOOT_N)
    runs = []
    with _random_state_kept():
        for number, seed in enumerate((3, 3, 4)):
            where = (f"{BOOT_N} test examples with resamples={BOOT_RESAMPLES}, seed={seed}"
                     + (" (a second call with the same seed)" if number == 1 else ""))
            metric = _RecordingMetric(BOOT_N, seed=11)
            given_true, given_pred = whole.copy(), whole + OFFSET
            with case(where):
                got = bootstrap_interval(given_true, given_pred, metric, resamples=BOOT_RESAMPLES, seed=seed)
            if not (np.array_equal(given_true, whole) and np.array_equal(given_pred, whole + OFFSET)):
                raise Incorrect(f"On {where}, bootstrap_interval changed the arrays it was given (shuffled them in "
                                f"place?); draw indices instead, and leave y_true and y_pred as they are.")
            low, high = _interval(got, where)
            scores, drawn = _resample_scores(metric.calls, BOOT_N, BOOT_RESAMPLES, where)
            message = _interval_message(low, high, scores, where)
            if message:
                raise Incorrect(message)
            runs.append(((low, high), drawn))
        if runs[0] != runs[1]:
            raise Incorrect(f"Called twice with seed=3, bootstrap_interval drew other resamples the second time: draw "
                            f"from a generator made from the seed inside the function, np.random.default_rng(seed), so "
                            f"that the same seed gives the same interval.")
        if runs[2][1] == runs[0][1]:
            raise Incorrect("With seed=3 and seed=4, bootstrap_interval drew the same resamples: make the generator "
                            "from the seed it is given, np.random.default_rng(seed), not from a fixed number.")
        where = f"{BOOT_N} test examples, called without resamples or seed"
        metric = _RecordingMetric(BOOT_N, seed=12)
        with case(where):
            got = bootstrap_interval(whole.copy(), whole + OFFSET, metric)
        _interval(got, where)
        scores, _ = _resample_scores(metric.calls, BOOT_N, None, where)
        if len(scores) != 1000:
            raise Incorrect(f"On {where}, bootstrap_interval drew {len(scores)} resamples; without the argument it "
                            f"should draw 1000, the default of the def line.")


# ---------------------------------------------------------------------------------------------------
# Concept question: the key is a salted hash of its answer (grading/questions.py)
# ---------------------------------------------------------------------------------------------------

from .questions import single_choice  # noqa: E402 (the questions' helper, next to the question)

single_choice("09.strategy", points=1, answer="answer_09_strategy", options="abcd",
    key="8aea7daef7e7caa4",
    hints=[
        "Section 8 of the lesson: which strategy is ahead with a few hundred labels?",
        "Which strategies can be retrained in a few seconds every morning, once the sentence vectors of the "
        "messages seen before are cached, and which needs about a second per step of 32 messages?",
    ],
    feedback={
        "072a7025a332ff4d": "with θ frozen, the encoder's 22 million parameters are not trained at all: the head "
                            "is a logistic regression on 384 numbers per message. Lesson 09 found it ahead of the "
                            "bag of words in every seed from 64 to 500 labels.",
        "f99edf02ebc7a594": "lesson 09 measured about a second per step of 32 sentences on a 2-core CPU: a pass "
                            "over 300 messages, more every day, takes ten seconds and more, past the morning's "
                            "budget; and its lead was one run with 2,000 labels.",
        "8ca9a2dd79f657c4": "an encoder trained from scratch must learn English and the task from the same few "
                            "hundred messages: lesson 09's, with 500 labels, stayed behind the bag of words and "
                            "far behind the frozen pre-trained encoder.",
    })
