"""Checks for lesson 06's exercises (exercises/06_diagnosing_failures_exercises.ipynb): whether a loss at
initialisation is close to ln C, the overfit-one-batch check as a training loop, a diagnosis rule that
names the failure a training history shows, which cause fits which symptom, and which stage to blame when
two kinds of review get the same vector.

The checks build hand-made histories and small random classifiers (a second at most), so they need no
checkpoint: a diagnosis rule reads numbers, and a training loop must drive any model's loss down.
"""

from __future__ import annotations

import math

from .core import Incorrect, case, exercise
from .lesson04 import small_classifier

TWO_LABELS = ("negative", "positive")
THREE_LABELS = ("Technical Issue", "Billing Inquiry", "Feedback")


def _kind(value) -> str:
    """What ``value`` is, in a student's words: a tensor, a NumPy array or value, or a Python type."""
    shape = getattr(value, "shape", None)
    module = type(value).__module__.split(".")[0]
    if module == "torch":
        return f"a tensor of shape {tuple(shape)}" if shape is not None else "a torch object"
    if module == "numpy":
        return (f"a NumPy array of shape {tuple(shape)}" if shape else
                f"a NumPy {type(value).__name__}")
    return f"a {type(value).__name__}"


def python_number(value, name: str, where: str, what: str | None = None) -> float:
    """``value`` as a float when it is one number, a Python int or float or a NumPy scalar (not a bool, and not a
    tensor or an array, even of one element), or :class:`Incorrect` saying what came back and how to turn it
    into a number. ``what`` names the value in the message (default: what ``name`` returned). Used by the
    exercises of lessons 06, 08 and 09 whose task asks for a Python number."""
    import numbers

    subject = what or f"{name} returned"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        how = (" .item() (or float(...)) turns a one-element tensor or array into one." if callable(
            getattr(value, "item", None)) else "")
        if getattr(value, "requires_grad", False) is True:
            how += " (A tensor kept instead keeps its whole computation graph in memory.)"
        raise Incorrect(f"On {where}, {subject} {_kind(value)} ({value!r:.60}); {name} should give a Python "
                        f"number.{how}")
    value = float(value)
    if not math.isfinite(value):
        raise Incorrect(f"On {where}, {subject} {value}; it should be a finite number.")
    return value


# ---------------------------------------------------------------------------------------------------
# 06.init_loss
# ---------------------------------------------------------------------------------------------------

def _number_or_tensor(value, as_tensor: bool):
    import torch

    return torch.tensor(value) if as_tensor else value


# (where, loss, num_classes, tolerance or None for the default, expected, advice when wrong)
_INIT_CASES = [
    ("a 2-class head at loss 0.70", 0.70, 2, None, True, "ln 2 = 0.693: use the natural logarithm, math.log(C)"),
    ("a 2-class head at loss ln 2 exactly", math.log(2), 2, None, True, "the loss of a uniform guess is ln C"),
    ("a 2-class head at loss 1.00", 1.00, 2, None, False,
     "1.00 is 0.31 away from ln 2 = 0.693, more than the tolerance. Use the natural logarithm, math.log(C), "
     "not log2 or log10"),
    ("a 2-class head at loss 0.40", 0.40, 2, None, False,
     "a loss far BELOW ln C is as suspicious as one far above: an untrained head cannot know the answers (the "
     "labels may leak into the input, or the loss is not the mean cross-entropy). Compare the distance to ln C "
     "both ways (abs)"),
    ("a 2-class head whose loss is nan", float("nan"), 2, None, False,
     "a nan loss is never OK. Comparisons with nan are always False, so `not (distance > tolerance)` lets it "
     "through: test `distance <= tolerance`, or math.isfinite first"),
    ("a 2-class head whose loss is inf", float("inf"), 2, None, False, "an infinite loss is never OK"),
    ("a 3-class head at loss 1.10", 1.10, 3, None, True, "ln 3 = 1.099: the reference depends on num_classes"),
    ("a 3-class head at loss 0.69 (ln 2)", 0.69, 3, None, False,
     "with 3 classes a uniform guess costs ln 3 = 1.099, not ln 2: use num_classes"),
    ("a 10-class head at loss 2.30", 2.30, 10, None, True, "ln 10 = 2.303 (the natural logarithm)"),
    ("a 10-class head at loss 2.00", 2.00, 10, None, False, "2.00 is 0.30 away from ln 10 = 2.303"),
    ("a 1,000-class head at loss 6.90", 6.90, 1000, None, True, "ln 1000 = 6.908 (the natural logarithm)"),
    ("a 2-class head at loss 0.72 with tolerance=0.05", 0.72, 2, 0.05, True, "0.72 is 0.027 away from ln 2"),
    ("a 2-class head at loss 0.75 with tolerance=0.05", 0.75, 2, 0.05, False,
     "0.75 is 0.057 away from ln 2, more than tolerance=0.05: use the tolerance you are given"),
    ("a 2-class head at loss 1.60 with tolerance=1.0", 1.60, 2, 1.0, True,
     "1.60 is 0.91 away from ln 2, within tolerance=1.0: use the tolerance you are given"),
]


@exercise("06.init_loss", points=1, answer="loss_at_init_ok", hints=[
    "Before training, a head that knows nothing gives each of the C classes probability 1/C, so the "
    "cross-entropy of every example is -ln(1/C) = ln C: math.log(num_classes).",
    "OK means close on either side: abs(loss - ln C) <= tolerance. A loss far below ln C is suspicious too.",
    "Turn the loss into a Python number first (float(loss) works for a tensor too), and return a Python bool: "
    "a nan loss must give False.",
])
def check_init_loss(loss_at_init_ok):
    import numpy as np
    import torch

    for as_tensor in (False, True):
        for where, loss, num_classes, tolerance, expected, advice in _INIT_CASES:
            if as_tensor:
                where = f"{where}, given as a 0-dim tensor"
            given = _number_or_tensor(loss, as_tensor)
            with case(where):
                got = (loss_at_init_ok(given, num_classes) if tolerance is None
                       else loss_at_init_ok(given, num_classes, tolerance=tolerance))
            if isinstance(got, torch.Tensor):
                raise Incorrect(f"On {where}, loss_at_init_ok returned a tensor; return a Python bool (True or "
                                f"False): bool(...) of the comparison, or float(loss) first.")
            if isinstance(got, np.bool_):
                got = bool(got)
            if not isinstance(got, bool):
                raise Incorrect(f"On {where}, loss_at_init_ok returned {got!r} ({type(got).__name__}); return True or "
                                f"False.")
            if got != expected:
                raise Incorrect(f"On {where}, loss_at_init_ok returned {got}, expected {expected}: {advice}.")
    with case("a call without tolerance (the default, 0.25)"):
        inside, outside = loss_at_init_ok(0.9, 2), loss_at_init_ok(0.96, 2)
    if bool(inside) is not True or bool(outside) is not False:
        raise Incorrect("Called without tolerance, loss_at_init_ok should use the default of the def line, 0.25: "
                        "0.90 is within 0.25 of ln 2 = 0.693 and 0.96 is not.")


# ---------------------------------------------------------------------------------------------------
# 06.overfit
# ---------------------------------------------------------------------------------------------------

VOCABULARY = 50
OVERFIT_STEPS = 20
OVERFIT_LR = 1e-2
# The correct loop reaches about 0.01 on these batches in 20 steps; a loop that does not learn stays near ln C.
OVERFIT_TARGET = 0.05


def _overfit_batch(rows: int, width: int, num_labels: int, seed: int):
    """A tokenizer-like batch (input_ids, token_type_ids, attention_mask; padding in the later rows) and
    labels that use every class."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCABULARY, (rows, width), generator=g)
    mask = torch.ones_like(ids)
    for row in range(1, rows):
        length = max(2, width - row)
        ids[row, length:] = 0
        mask[row, length:] = 0
    labels = torch.arange(rows) % num_labels
    labels = labels[torch.randperm(rows, generator=g)]
    return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask}, labels


def _overfit_cases():
    yield "a batch of 8 padded examples with 2 labels", small_classifier(TWO_LABELS, seed=11, vocabulary=VOCABULARY), \
        *_overfit_batch(8, 10, 2, seed=11)
    yield "a batch of 6 padded examples with 3 labels", small_classifier(THREE_LABELS, seed=12, vocabulary=VOCABULARY), \
        *_overfit_batch(6, 9, 3, seed=12)
    yield "a batch of one example", small_classifier(TWO_LABELS, seed=13, vocabulary=VOCABULARY), \
        *_overfit_batch(1, 7, 2, seed=13)


def _loop(model, batch, labels, steps: int, lr: float, variant: str = "correct") -> list[float]:
    """The losses of the overfit loop, done right or with one of the usual mistakes."""
    import torch
    import torch.nn.functional as F

    rate = 1e-3 if variant == "default_lr" else lr
    trained = model.head if variant == "head_only" else model

    def new_optimizer():
        if variant == "sgd":
            return torch.optim.SGD(trained.parameters(), lr=rate)
        return torch.optim.AdamW(trained.parameters(), lr=rate)

    optimizer = new_optimizer()
    mask = None if variant == "no_mask" else batch["attention_mask"]
    losses = []
    model.train()
    for _ in range(steps):
        if variant == "fresh_optimizer":
            optimizer = new_optimizer()
        if variant != "no_zero_grad":
            optimizer.zero_grad()
        loss = F.cross_entropy(model(batch["input_ids"], mask), labels)
        loss.backward()
        if variant != "no_step":
            optimizer.step()
        losses.append(loss.item())
    return losses


_LOOP_MISTAKES = {
    # A step before backward, or a zero_grad between backward and step, updates nothing at all (the
    # gradients are None when step runs), the same as no step: one message says where step belongs.
    "no_step": "the loss never moved, so the parameters were never updated: in every step call "
               "optimizer.step() right after loss.backward(), with no zero_grad between them (zero the gradients "
               "at the start of the step)",
    "no_zero_grad": "the gradients of all earlier steps were added to each new one: call optimizer.zero_grad() at "
                    "the start of every step",
    "fresh_optimizer": "a new optimizer was made in every step, so AdamW forgot its running averages: make it "
                       "once, before the loop",
    "sgd": "the updates are plain SGD's: use torch.optim.AdamW(model.parameters(), lr=lr), as the task says",
    "head_only": "only the prediction network's parameters were updated: give the optimizer all of the model's, "
                 "model.parameters() (θ and ω), as a long run would train them",
    "default_lr": f"the steps used the learning rate 1e-3 instead of lr={OVERFIT_LR:g}, the one you were given: "
                  f"pass lr on to AdamW",
    "no_mask": "the model did not get the attention mask, so padding was read as text: call "
               "model(batch['input_ids'], batch['attention_mask'])",
}


def _close(a: list[float], b: list[float]) -> bool:
    return all(abs(x - y) <= 2e-3 + 2e-2 * abs(y) for x, y in zip(a, b))


def _loop_message(model, batch, labels, got: list[float], where: str) -> str:
    import copy

    for variant, message in _LOOP_MISTAKES.items():
        if _close(got, _loop(copy.deepcopy(model), batch, labels, len(got), OVERFIT_LR, variant)):
            return f"On {where}, {message}."
    return (f"On {where}, the losses are not those of steps of AdamW on this batch: in every step zero_grad, "
            f"forward, loss, backward, step, and record loss.item() of the loss you minimised.")


@exercise("06.overfit", points=3, answer="overfit_one_batch", hints=[
    "Make the optimizer once, before the loop: torch.optim.AdamW(model.parameters(), lr=lr). Then repeat steps "
    "times: zero the gradients, score the batch, take the mean cross-entropy, backward, step.",
    "The classifier takes model(input_ids, attention_mask, token_type_ids), so model(**batch) scores the batch; "
    "torch.nn.functional.cross_entropy(scores, labels) is the mean loss.",
    "Append loss.item() in every step (the loss before that step's update), and return the list: steps numbers, "
    "falling towards 0.",
])
def check_overfit(overfit_one_batch):
    import copy

    import torch
    import torch.nn.functional as F

    for where, model, batch, labels in _overfit_cases():
        start = copy.deepcopy(model)
        trained = copy.deepcopy(model)
        expected = _loop(trained, batch, labels, OVERFIT_STEPS, OVERFIT_LR)
        given = {k: v.clone() for k, v in batch.items()}
        given_labels = labels.clone()
        with case(where):
            got = overfit_one_batch(model, given, given_labels, steps=OVERFIT_STEPS, lr=OVERFIT_LR)
        if any(not torch.equal(given[k], v) for k, v in batch.items()) or not torch.equal(given_labels, labels):
            raise Incorrect(f"On {where}, overfit_one_batch changed the batch or the labels it was given; only read "
                            f"them.")
        if isinstance(got, torch.Tensor) or not isinstance(got, (list, tuple)):
            raise Incorrect(f"overfit_one_batch should return a list with one loss per step (Python numbers, "
                            f"loss.item()); it returned {type(got).__name__}.")
        if len(got) != OVERFIT_STEPS:
            raise Incorrect(f"On {where}, overfit_one_batch returned {len(got)} losses for steps={OVERFIT_STEPS}: "
                            f"one per step, each recorded before that step's update.")
        if any(isinstance(x, torch.Tensor) for x in got):
            raise Incorrect(f"On {where}, the losses are tensors; append loss.item(), a Python number (a tensor "
                            f"keeps the whole computation graph of every step alive).")
        got = [python_number(x, "overfit_one_batch", where, f"the loss of step {i + 1} is") for i, x in enumerate(got)]
        with torch.no_grad():
            scores = start(batch["input_ids"], batch["attention_mask"])
            first = F.cross_entropy(scores, labels).item()
            summed = F.cross_entropy(scores, labels, reduction="sum").item()
            unmasked = F.cross_entropy(start(batch["input_ids"]), labels).item()
        if abs(got[0] - first) > 1e-3 * max(1.0, first):
            if len(labels) > 1 and abs(got[0] - summed) <= 1e-3 * summed:
                raise Incorrect(f"On {where}, the first loss is the sum over the batch, {got[0]:.3f}; take the mean "
                                f"cross-entropy ({first:.3f}), as F.cross_entropy(scores, labels) does by default.")
            if abs(got[0] - unmasked) <= 1e-3 * max(1.0, unmasked):
                raise Incorrect(f"On {where}, {_LOOP_MISTAKES['no_mask']}.")
            raise Incorrect(f"On {where}, the first loss is {got[0]:.4f}, but the mean cross-entropy of the batch "
                            f"before any update is {first:.4f}. Record loss.item() of each step's loss, before "
                            f"optimizer.step().")
        if not _close(got, expected):
            raise Incorrect(_loop_message(start, batch, labels, got, where))
        if all(torch.equal(p, q) for p, q in zip(model.parameters(), start.parameters())):
            raise Incorrect(f"On {where}, the model you were given did not change: train it in place (no copy), so "
                            f"that the caller can look at what it learned.")
        if not all(torch.allclose(p, q, rtol=1e-2, atol=1e-3) for p, q in zip(model.parameters(), trained.parameters())):
            raise Incorrect(f"On {where}, the losses are right but the model's parameters are not where these steps "
                            f"leave them: train the model you were given, once per step.")
        if got[-1] > OVERFIT_TARGET:
            raise Incorrect(f"On {where}, the last loss is {got[-1]:.3f}; overfitting one batch should reach about 0.")


# ---------------------------------------------------------------------------------------------------
# 06.diagnose
# ---------------------------------------------------------------------------------------------------

CODES = ("diverged", "not_learning", "below_chance", "majority_class", "healthy")


def _falling(start: float, end: float, steps: int) -> list[float]:
    """A loss curve that falls from ``start`` to ``end`` over ``steps`` steps, with a little wobble."""
    return [end + (start - end) * math.exp(-4 * i / max(1, steps - 1)) + 0.02 * ((-1) ** i) * (i % 3)
            for i in range(steps)]


def _history(losses, num_classes=2, *, train_acc=None, val_loss=None, val_acc=None, counts=None,
             epochs: int = 3) -> dict:
    history = {"train_loss": list(losses),
               "train_acc": list(train_acc) if train_acc is not None else [0.9] * epochs,
               "val_loss": list(val_loss) if val_loss is not None else [0.3] * epochs,
               "val_acc": list(val_acc) if val_acc is not None else [0.9] * epochs,
               "num_classes": num_classes}
    if counts is not None:
        history["val_pred_counts"] = [list(row) for row in counts]
    return history


def diagnosis_cases():
    """(where, history, the code the rules give, advice when the answer differs). The tests check that
    utils.diagnose names the same failure first."""
    nan, inf = float("nan"), float("inf")
    ln2, ln3 = math.log(2), math.log(3)
    balanced = [[98, 102], [101, 99], [100, 100]]
    yield ("a healthy 2-class run", _history(_falling(0.70, 0.05, 75), counts=balanced), "healthy",
           "the loss fell far below ln 2, validation accuracy is 0.9 and the predictions are balanced")
    yield ("a run whose loss jumps to 9 and then sits at ln 2",
           _history([0.7, 5.0, 9.0, 7.0, 6.0] + [ln2 + 0.01 * (i % 2) for i in range(70)], val_acc=[0.5] * 3,
                    train_acc=[0.5] * 3, counts=[[200, 0]] * 3), "diverged",
           "steps 1-5 average 5.5, more than twice max(first loss, ln C); divergence is checked first, before the "
           "other rules")
    yield ("a run whose loss becomes nan at step 20",
           _history(_falling(0.7, 0.3, 19) + [nan] * 56, val_acc=[0.5] * 3, counts=[[200, 0]] * 3), "diverged",
           "a nan loss compares False with everything, so no mean > ceiling test can see it: check "
           "math.isfinite on every loss first")
    yield ("a one-epoch run of 3 steps whose first loss is inf",
           _history([inf, nan, nan], train_acc=[0.5], val_loss=[], val_acc=[], epochs=1), "diverged",
           "an inf loss is not finite; note that 2 x max(inf, ln C) is inf too, so only math.isfinite catches it")
    yield ("a one-epoch run of 4 steps whose loss climbs from 0.7 to 2.6",
           _history([0.7, 1.2, 2.0, 2.6], train_acc=[0.5], val_loss=[0.9], val_acc=[0.5], counts=[[100, 100]],
                    epochs=1), "diverged",
           "with fewer than 5 losses the window is all of them, w = min(5, len(losses)): here their mean, 1.63, is "
           "more than 2 x max(0.7, ln 2) = 1.4")
    yield ("a healthy run with one noisy batch of loss 1.6 at step 30",
           _history([v if i != 29 else 1.6 for i, v in enumerate(_falling(0.7, 0.2, 75))], counts=balanced),
           "healthy",
           "one noisy batch is not divergence: compare the mean of 5 consecutive losses, not single losses, with "
           "the ceiling")
    # Steps 38-42 straddle two windows that start at a multiple of 5 (35-39 and 40-44), whose means stay below
    # the ceiling: only windows that start at every step find it.
    yield ("a run whose loss is 1.9 for steps 38-42",
           _history([1.9 if 37 <= i < 42 else v for i, v in enumerate(_falling(0.7, 0.2, 75))], counts=balanced),
           "diverged",
           "steps 38-42 average 1.9, above 2 x ln 2 = 1.39. Slide the window one step at a time over the whole "
           "run, losses[i:i + w] for every i, not in blocks of 5 or at the start only")
    yield ("a healthy run whose head started overconfident (first loss 3.0)",
           _history(_falling(3.0, 0.05, 75), counts=balanced), "healthy",
           "the ceiling is twice max(first loss, ln C): a loss that starts high and falls has not diverged")
    yield ("a healthy run whose first batch happened to be easy (first loss 0.2)",
           _history([0.2] + _falling(0.65, 0.1, 74), counts=balanced), "healthy",
           "the ceiling is twice max(first loss, ln C), here 2 x ln 2 = 1.39 (the natural logarithm), not "
           "twice the first loss")
    yield ("a one-epoch run of 3 steps without validation",
           _history([0.69, 0.4, 0.2], train_acc=[0.7], val_loss=[], val_acc=[], epochs=1), "healthy",
           "with fewer than 5 losses, the window is all of them; without validation (empty val_acc, no "
           "val_pred_counts), skip the rules that need it")
    yield ("a run without validation, whose val_acc and val_pred_counts are empty lists (as train_classifier "
           "returns them)",
           _history(_falling(0.7, 0.1, 60), val_loss=[], val_acc=[], counts=[]), "healthy",
           "without validation, val_pred_counts is an empty list: skip the rules that need it when it is empty, "
           "not only when it is missing")
    yield ("a one-epoch run of 3 steps whose loss rose from 0.3 to 0.7",
           _history([0.3, 0.6, 0.7], train_acc=[0.5], val_loss=[], val_acc=[], epochs=1), "not_learning",
           "with 3 losses, len // 4 is 0, and the rule takes at least 1: the last loss, 0.7, is above 0.9 x ln 2 = "
           "0.62 (losses[-0:] would be the whole list)")
    yield ("a run whose loss stays at ln 2, with a lucky last batch of 0.3",
           _history([ln2 + 0.01 * ((-1) ** i) for i in range(74)] + [0.3], train_acc=[0.5] * 3,
                    val_acc=[0.5] * 3, counts=[[110, 90]] * 3), "not_learning",
           "the last quarter of the losses (18 steps) averages about ln 2: average them, do not look at the last "
           "loss alone")
    yield ("a run that learns in its last quarter (from 0.75 to 0.45)",
           _history([0.75] * 60 + [0.45] * 20, counts=balanced), "healthy",
           "only the last quarter of the losses counts (len // 4 of them), not the mean of the whole run")
    yield ("a 2-class run ending at loss 0.45", _history(_falling(0.7, 0.45, 80), counts=balanced), "healthy",
           "0.45 is below 0.9 x ln 2 = 0.62: use the natural logarithm, math.log(num_classes)")
    yield ("a run whose validation labels were inverted (accuracy 0.05)",
           _history(_falling(0.7, 0.05, 75), val_acc=[0.08, 0.06, 0.05], counts=balanced), "below_chance",
           "0.05 is below 0.6 x 1/C = 0.3: the model is consistently wrong")
    yield ("a 2-class run at validation accuracy 0.3 exactly",
           _history(_falling(0.7, 0.3, 75), train_acc=[0.6] * 3, val_acc=[0.3] * 3, counts=balanced), "healthy",
           "0.3 is not below 0.6 x 1/2 = 0.3: the rule is 'below', so equal is not enough")
    yield ("a 2-class run at validation accuracy 0.35",
           _history(_falling(0.7, 0.5, 75), train_acc=[0.45] * 3, val_acc=[0.35] * 3, counts=balanced), "healthy",
           "0.35 is not below 0.6 x 1/2 = 0.3: below_chance is for accuracy far under chance")
    yield ("a run whose validation accuracy climbs from 0.1 to 0.9",
           _history(_falling(0.7, 0.1, 75), val_acc=[0.1, 0.5, 0.9], counts=balanced), "healthy",
           "the rules read the last epoch's validation accuracy and predictions, not the first")
    yield ("a run that predicts class 0 for 196 of 200 reviews",
           _history(_falling(0.7, 0.2, 75), val_acc=[0.5] * 3, counts=[[150, 50], [190, 10], [196, 4]]),
           "majority_class", "196 of 200 predictions, 98 %, are one class")
    yield ("a run that predicts class 1 for exactly 90 % of the reviews",
           _history(_falling(0.7, 0.2, 75), val_acc=[0.6] * 3, counts=[[60, 140], [30, 170], [20, 180]]),
           "majority_class", "180 of 200 is 90 %, and 'at least 90 %' includes 90 %; any class can be the majority")
    yield ("a run that was one-sided in its first epoch only",
           _history(_falling(0.7, 0.1, 75), val_acc=[0.5, 0.9, 0.92], counts=[[200, 0], [101, 99], [100, 100]]),
           "healthy", "only the last epoch's predictions count")
    three = [[60, 70, 70]] * 3
    yield ("a healthy 3-class run", _history(_falling(1.1, 0.1, 60), 3, counts=three), "healthy",
           "ln 3 = 1.10; the loss fell far below it")
    yield ("a 3-class run whose loss stays at 1.0",
           _history([1.0 + 0.005 * ((-1) ** i) for i in range(60)], 3, val_acc=[0.34] * 3, counts=three),
           "not_learning", "with 3 classes the reference is ln 3 = 1.10, and 1.0 is not 10 % below it: use "
           "num_classes")
    yield ("a 3-class run at validation accuracy 0.15",
           _history(_falling(1.1, 0.1, 60), 3, val_acc=[0.2, 0.16, 0.15], counts=three), "below_chance",
           "0.15 is below 0.6 x 1/3 = 0.2")
    yield ("a 3-class run at validation accuracy 0.25",
           _history(_falling(1.1, 0.8, 60), 3, train_acc=[0.3] * 3, val_acc=[0.25] * 3, counts=three), "healthy",
           "0.25 is not below 0.6 x 1/3 = 0.2: chance depends on the number of classes")
    yield ("a 3-class run that predicts the middle class for 190 of 200 emails",
           _history(_falling(1.1, 0.3, 60), 3, val_acc=[0.36] * 3, counts=[[5, 190, 5]] * 3), "majority_class",
           "190 of 200 predictions are class 1: look at every class's count")
    yield ("a 3-class run at validation accuracy 0.04 that answers class 2 for 190 of 200 emails",
           _history(_falling(1.1, 0.3, 60), 3, val_acc=[0.1, 0.05, 0.04], counts=[[5, 5, 190]] * 3), "below_chance",
           "rules 3 and 4 both apply (0.04 is below 0.6 x 1/3 = 0.2), and the first rule that applies is the "
           "answer: try them in order")


@exercise("06.diagnose", points=3, answer="diagnose_one", hints=[
    "Work through the rules in order and return as soon as one applies; return 'healthy' at the end. Read C = "
    "history['num_classes'], ln C = math.log(C), chance = 1 / C.",
    "Divergence first: any loss that is not math.isfinite is divergence (nan compares False with everything). "
    "Then the mean of each window losses[i:i + w], w = min(5, len(losses)), against 2 * max(losses[0], ln C).",
    "Not learning: the last max(1, len(losses) // 4) losses. The validation rules read history['val_acc'][-1] and "
    "history.get('val_pred_counts') of the last epoch, and are skipped when those are empty or missing.",
])
def check_diagnose(diagnose_one):
    import copy

    for where, history, expected, advice in diagnosis_cases():
        given = copy.deepcopy(history)
        with case(where):
            got = diagnose_one(given)
        if not _same_history(given, history):
            raise Incorrect(f"On {where}, diagnose_one changed the history it was given; only read it.")
        if not isinstance(got, str):
            raise Incorrect(f"diagnose_one should return one code as a string, such as 'healthy'; on {where} it "
                            f"returned {type(got).__name__}.")
        if got not in CODES:
            raise Incorrect(f"On {where}, diagnose_one returned {got!r}, which is not one of the codes "
                            f"{', '.join(repr(c) for c in CODES)}.")
        if got != expected:
            raise Incorrect(f"On {where}, diagnose_one returned {got!r}, but the rules give {expected!r}: {advice}.")


def _same_history(a: dict, b: dict) -> bool:
    """Equal, counting nan as equal to nan."""
    if set(a) != set(b):
        return False
    for key in b:
        x, y = a[key], b[key]
        if isinstance(y, list):
            if not isinstance(x, list) or len(x) != len(y):
                return False
            for u, v in zip(x, y):
                if isinstance(v, float) and math.isnan(v):
                    if not (isinstance(u, float) and math.isnan(u)):
                        return False
                elif u != v:
                    return False
        elif x != y:
            return False
    return True


# ---------------------------------------------------------------------------------------------------
# Concept questions: the key of each is a salted hash of its answer (grading/questions.py)
# ---------------------------------------------------------------------------------------------------

from .questions import matching, single_choice  # noqa: E402 (the questions' helper, next to the questions)

matching("06.symptoms", points=2, answer="answer_06_symptoms", items=6, options="ABCDEFGH",
    key="c8121ea31955912b",
    hints=[
        "Each symptom has one cause, and two causes fit none of them. Lesson 06's summary table lists a symptom"
        " next to each failure.",
        "Which failures does the training loss show, which only the validation or test numbers, and which only "
        "two evaluations of the same input?",
    ],
    feedback={
        "883b3fa5dc55d20a": "the model answers almost always one label, with a low training loss: what in the "
                            "training data would teach it that?",
        "3bbb739c11772d22": "the loss jumps far above where it started in the first steps: what makes a step "
                            "overshoot?",
        "ffc4bb3e9fb973b8": "the same model, the same reviews, the same batches, two different accuracies: what"
                            " in the model is still random when it evaluates?",
        "af2324eec1ed5905": "the loss barely moves, with no error and no spike, and a ten times larger step "
                            "learns normally: what does that say about the step?",
        "6b22264122ee4e57": "the training loss fell as in the reference run, yet validation accuracy is far "
                            "BELOW chance on a balanced split: what makes a model that learned answer the other"
                            " label almost every time?",
        "c4eec9e7db599ca4": "seen words are fine, held-out words at chance, and the encoder's tensors were "
                            "reported missing: what did the encoder start from?",
    })


single_choice("06.which_stage", points=1, answer="answer_06_which_stage", options="abcd",
    key="fd5d32fb39de45ec",
    hints=[
        "What does the prediction network receive, and what can any ω do with two reviews that get nearly the "
        "same vector?",
        "Of θ and ω, which one was trained here, and which one decides where a review's vector lands?",
    ],
    feedback={
        "d07cdfefb3a58b60": "a deeper ω was tried, and it stayed near chance too: any ω, however deep, gives "
                            "nearly the same scores to two reviews whose vectors nearly coincide (lesson 02's "
                            "probe). The difference is missing from the vectors, not from the head.",
        "e4f0eab86eb0280b": "a learning rate that is merely too low gets there with more steps (lesson 06, "
                            "section 4), and they trained as long as they liked; a faster ω would still read two "
                            "kinds of review whose vectors lie on top of each other.",
        "19dfd0e542dfb3d3": "more labels give ω more examples of the same overlapping vectors: the two kinds "
                            "still land on top of each other, even for the reviews ω trains on. Labels help once "
                            "the encoder is allowed to learn from them.",
    })
