"""The checks of lesson 06 (grading/lesson06.py) turn down the usual wrong answers with a message that says
what is wrong, and pass unusual right ones; the hand-made histories of the diagnosis check give the same
first finding as utils.diagnose. What every lesson's checks share is tested in tests/test_grading_lessons.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.diagnose import diagnose
from grading_answers import assert_passes, assert_turned_down, verdict
from grading import core, lesson06


@pytest.mark.parametrize("where, history, expected", [c[:3] for c in lesson06.diagnosis_cases()],
                         ids=[c[0] for c in lesson06.diagnosis_cases()])
def test_each_hand_made_history_gets_the_same_first_finding_from_utils_diagnose(where, history, expected):
    assert diagnose(history)[0].code == expected


# ---------------------------------------------------------------------------------------------------
# Typical wrong answers, each with a word of its message
# ---------------------------------------------------------------------------------------------------

def init_log2(loss, num_classes, tolerance=0.25):
    return abs(float(loss) - math.log2(num_classes)) <= tolerance


def init_one_sided(loss, num_classes, tolerance=0.25):
    return float(loss) <= math.log(num_classes) + tolerance


def init_lets_nan_through(loss, num_classes, tolerance=0.25):
    return not abs(float(loss) - math.log(num_classes)) > tolerance


def init_fixed_two_classes(loss, num_classes, tolerance=0.25):
    return abs(float(loss) - math.log(2)) <= tolerance


def init_ignores_tolerance(loss, num_classes, tolerance=0.25):
    return abs(float(loss) - math.log(num_classes)) <= 0.25


def init_returns_tensor(loss, num_classes, tolerance=0.25):
    return abs(torch.as_tensor(loss) - math.log(num_classes)) <= tolerance


def _steps(model, batch, labels, steps, lr, mistake=None):
    trained = model.head if mistake == "head_only" else model
    optimizer = torch.optim.AdamW(trained.parameters(), lr=1e-3 if mistake == "default_lr" else lr)
    losses = []
    for _ in range(steps):
        if mistake == "fresh":
            optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        if mistake != "no_zero_grad":
            optimizer.zero_grad()
        loss = F.cross_entropy(model(batch["input_ids"], None if mistake == "no_mask" else batch["attention_mask"]),
                               labels, reduction="sum" if mistake == "sum" else "mean")
        if mistake == "step_first":
            optimizer.step()
            loss.backward()
        else:
            loss.backward()
            if mistake == "zero_late":
                optimizer.zero_grad()
            if mistake != "no_step":
                optimizer.step()
        if mistake == "tensors":
            losses.append(loss)
        elif mistake == "numpy":
            losses.append(loss.detach().numpy())
        elif mistake == "float32":
            losses.append(np.float32(loss.item()))
        else:
            losses.append(loss.item())
    return losses


def overfit_without_zero_grad(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "no_zero_grad")


def overfit_without_step(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "no_step")


def overfit_step_before_backward(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "step_first")


def overfit_zero_grad_after_backward(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "zero_late")


def overfit_new_optimizer_each_step(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "fresh")


def overfit_with_sgd(model, batch, labels, steps=30, lr=1e-3):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def overfit_without_mask(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "no_mask")


def overfit_summed_loss(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "sum")


def overfit_keeps_tensors(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "tensors")


def overfit_on_a_copy(model, batch, labels, steps=30, lr=1e-3):
    import copy
    return _steps(copy.deepcopy(model), batch, labels, steps, lr)


def overfit_whole_batch(model, batch, labels, steps=30, lr=1e-3):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(**batch), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def overfit_one_step_short(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps - 1, lr)


def overfit_head_only(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "head_only")


def overfit_default_lr(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "default_lr")


def overfit_numpy_losses(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "numpy")


def overfit_float32_losses(model, batch, labels, steps=30, lr=1e-3):
    return _steps(model, batch, labels, steps, lr, "float32")


def _rules(history, *, finite=True, window=True, ceiling_from_first=True, quarter=True, ln=math.log,
           last_epoch=True, at_least=True, all_classes=True, windows="sliding", width=None, at_least_one=True,
           below="<", majority_first=False, empty_counts=True):
    """diagnose_one with one of the rules changed."""
    losses = history["train_loss"]
    c = history["num_classes"]
    ln_c = ln(c)
    if finite and not all(math.isfinite(v) for v in losses):
        return "diverged"
    w = (width or min(5, len(losses))) if window else 1
    ceiling = 2 * (max(losses[0], ln_c) if ceiling_from_first else ln_c)
    starts = {"sliding": range(len(losses) - w + 1), "blocks": range(0, len(losses) - w + 1, w),
              "first": range(min(1, len(losses) - w + 1))}[windows]
    if any(sum(losses[i:i + w]) / w > ceiling for i in starts):
        return "diverged"
    n = max(1, len(losses) // 4) if quarter else 1
    tail = losses[-n:] if at_least_one else losses[-(len(losses) // 4):]
    if sum(tail) / len(tail) > 0.9 * ln_c:
        return "not_learning"
    epoch = -1 if last_epoch else 0
    counts = history.get("val_pred_counts") or []
    if majority_first and counts and max(counts[epoch]) >= 0.9 * sum(counts[epoch]):
        return "majority_class"
    accuracy = history["val_acc"][epoch] if history["val_acc"] else None
    if accuracy is not None and (accuracy < 0.6 / c if below == "<" else accuracy <= 0.6 / c):
        return "below_chance"
    if not empty_counts:  # a list that is there but empty is taken for one with counts
        counts = history.get("val_pred_counts")
    if counts if empty_counts else counts is not None:
        row = counts[epoch] if all_classes else counts[epoch][:1]
        share = max(row) / sum(counts[epoch])
        if share >= 0.9 if at_least else share > 0.9:
            return "majority_class"
    return "healthy"


WRONG = [
    ("06.init_loss", init_log2, "natural logarithm"),
    ("06.init_loss", init_one_sided, "BELOW ln C"),
    ("06.init_loss", init_lets_nan_through, "nan"),
    ("06.init_loss", init_fixed_two_classes, "ln 3"),
    ("06.init_loss", init_ignores_tolerance, "use the tolerance you are given"),
    ("06.init_loss", init_returns_tensor, "Python bool"),
    ("06.overfit", overfit_without_zero_grad, "optimizer.zero_grad() at the start of every step"),
    ("06.overfit", overfit_without_step, "never updated"),
    ("06.overfit", overfit_step_before_backward, "right after loss.backward()"),
    ("06.overfit", overfit_zero_grad_after_backward, "no zero_grad between them"),
    ("06.overfit", overfit_new_optimizer_each_step, "once, before the loop"),
    ("06.overfit", overfit_without_mask, "attention mask"),
    ("06.overfit", overfit_with_sgd, "AdamW"),
    ("06.overfit", overfit_summed_loss, "mean cross-entropy"),
    ("06.overfit", overfit_keeps_tensors, "loss.item()"),
    ("06.overfit", overfit_on_a_copy, "train it in place"),
    ("06.overfit", overfit_one_step_short, "one per step"),
    ("06.overfit", overfit_head_only, "only the prediction network's parameters were updated"),
    ("06.overfit", overfit_default_lr, "instead of lr=0.01"),
    ("06.overfit", overfit_numpy_losses, "the loss of step 1 is a NumPy ndarray"),
    ("06.diagnose", lambda h: _rules(h, finite=False), "math.isfinite"),
    ("06.diagnose", lambda h: _rules(h, window=False), "one noisy batch is not divergence"),
    ("06.diagnose", lambda h: _rules(h, ceiling_from_first=False), "starts high and falls"),
    ("06.diagnose", lambda h: _rules(h, quarter=False), "do not look at the last loss alone"),
    ("06.diagnose", lambda h: _rules(h, ln=math.log10), "natural logarithm"),
    ("06.diagnose", lambda h: _rules(h, last_epoch=False), "last epoch"),
    ("06.diagnose", lambda h: _rules(h, at_least=False), "includes 90 %"),
    ("06.diagnose", lambda h: _rules(h, all_classes=False), "any class can be the majority"),
    ("06.diagnose", lambda h: _rules(h, windows="blocks"), "not in blocks of 5"),
    ("06.diagnose", lambda h: _rules(h, windows="first"), "at the start only"),
    ("06.diagnose", lambda h: _rules(h, width=5), "with fewer than 5 losses the window is all of them"),
    ("06.diagnose", lambda h: _rules(h, at_least_one=False), "takes at least 1"),
    ("06.diagnose", lambda h: _rules(h, below="<="), "equal is not enough"),
    ("06.diagnose", lambda h: _rules(h, majority_first=True), "try them in order"),
    ("06.diagnose", lambda h: _rules(h, empty_counts=False), "out of range on a run without validation"),
    ("06.diagnose", lambda h: [_rules(h)], "one code as a string"),
    ("06.diagnose", lambda h: "ok", "not one of the codes"),
    ("06.symptoms", "CFBEAD", "4 of the 6 symptoms are matched"),
    ("06.symptoms", "CFB", "one letter per symptom"),
    ("06.symptoms", "CFBEDZ", "letters A to H"),
    ("06.symptoms", 3, "one letter per symptom"),
    ("06.which_stage", "a", "Not a: a deeper ω was tried"),
    ("06.which_stage", "b", "Not b: a learning rate that is merely too low"),
    ("06.which_stage", "d", "Not d: more labels give ω more examples"),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG,
                         ids=[f"{i}-{getattr(w, '__name__', repr(w))}-{n}" for n, (i, w, _) in enumerate(WRONG)])
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


def test_a_diagnosis_that_changes_the_history_is_turned_down():
    def sort_then_judge(history):
        history["train_loss"].sort()  # in place: the caller's history loses its order
        return "healthy"

    status, message = verdict("06.diagnose", sort_then_judge)
    assert status == core.INCORRECT and "changed the history" in message


def test_a_loop_that_passes_the_whole_batch_to_the_classifier_is_right():
    # The classifier takes token_type_ids too (a sentence pair needs them), so model(**batch) is an answer.
    assert_passes("06.overfit", overfit_whole_batch)


# ---------------------------------------------------------------------------------------------------
# Unusual answers that are right
# ---------------------------------------------------------------------------------------------------

def init_isclose_numpy(loss, num_classes, tolerance=0.25):
    return np.isclose(float(loss), np.log(num_classes), rtol=0, atol=tolerance) & np.isfinite(float(loss))


def overfit_float_tuple(model, batch, labels, steps=30, lr=1e-3):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        model.zero_grad()
        loss = F.nll_loss(F.log_softmax(model(**batch), dim=-1), labels)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return tuple(losses)


def diagnose_with_numpy(history):
    losses = np.array(history["train_loss"], dtype=float)
    c = history["num_classes"]
    if not np.isfinite(losses).all():
        return "diverged"
    w = min(5, len(losses))
    if (np.convolve(losses, np.ones(w) / w, mode="valid") > 2 * max(losses[0], np.log(c))).any():
        return "diverged"
    if losses[-max(1, len(losses) // 4):].mean() > 0.9 * np.log(c):
        return "not_learning"
    if len(history["val_acc"]) and history["val_acc"][-1] < 0.6 / c:
        return "below_chance"
    counts = history.get("val_pred_counts", [])
    if len(counts) and max(counts[-1]) / sum(counts[-1]) >= 0.9:
        return "majority_class"
    return "healthy"


RIGHT = [
    ("06.init_loss", init_isclose_numpy),     # a NumPy bool is accepted as True or False
    ("06.overfit", overfit_float_tuple),      # a tuple of floats, nll_loss of log_softmax, model.zero_grad()
    ("06.overfit", overfit_float32_losses),   # NumPy scalars count as numbers
    ("06.diagnose", diagnose_with_numpy),     # windows by convolution, NumPy means
    ("06.which_stage", "C)"),
]


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[f"{i}-{getattr(r, '__name__', repr(r))}" for i, r in RIGHT])
def test_an_unusual_right_answer_passes(exercise_id, right):
    assert_passes(exercise_id, right)


def test_the_new_hand_made_histories_test_what_they_name():
    """The spike of steps 38-42 hides from windows that start at a multiple of 5; the 4-step run diverged only
    by the mean of all its losses; the 3-step run's last loss is above 0.9 x ln 2, their mean below it."""
    cases = {where: history for where, history, *_ in lesson06.diagnosis_cases()}
    spike = cases["a run whose loss is 1.9 for steps 38-42"]["train_loss"]
    ceiling = 2 * max(spike[0], math.log(2))
    assert max(sum(spike[i:i + 5]) / 5 for i in range(0, len(spike) - 4, 5)) < ceiling
    assert max(sum(spike[i:i + 5]) / 5 for i in range(len(spike) - 4)) > ceiling
    short = cases["a one-epoch run of 4 steps whose loss climbs from 0.7 to 2.6"]["train_loss"]
    assert sum(short) / len(short) > 2 * max(short[0], math.log(2)) > sum(short) / 5
    rising = cases["a one-epoch run of 3 steps whose loss rose from 0.3 to 0.7"]["train_loss"]
    assert rising[-1] > 0.9 * math.log(2) > sum(rising) / len(rising)
