"""The checks of lesson 05 (utils/grading/lesson05.py) grade fairly: each passes the answer in the
solution notebook, reports the untouched stub of the exercise notebook as not attempted, and turns down
the usual wrong answers with a message that says what is wrong. The hand-made histories of the
diagnosis check give the same first finding as utils.diagnose."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from utils.diagnose import diagnose
from grading_answers import assert_not_attempted, assert_passes, assert_turned_down, load_answer, verdict
from utils.grading import core, lesson05

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "05_diagnosing_failures_solutions.ipynb"
IDS = ["05.init_loss", "05.overfit", "05.diagnose", "05.symptoms", "05.which_stage"]


def answer(exercise_id: str, stub: bool = False):
    """The answer to ``exercise_id`` as the solution notebook defines it, or as the generated exercise
    notebook's stub does."""
    return load_answer(SOLUTION, [exercise_id], {"torch": torch, "F": F, "math": math}, stub)



def test_lesson_05_registers_its_exercises_in_the_order_its_notebook_asks_them():
    assert [ex.id for ex in core.exercises() if ex.id.startswith("05.")] == IDS
    assert all(core.get_exercise(i).hints for i in IDS)


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_solution_notebooks_answer_passes(exercise_id):
    assert_passes(exercise_id, answer(exercise_id))


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_exercise_notebooks_stub_is_not_attempted(exercise_id):
    assert_not_attempted(exercise_id, answer(exercise_id, stub=True))


def test_the_overfit_check_leaves_the_callers_random_state_alone():
    before = torch.get_rng_state()
    verdict("05.overfit", answer("05.overfit"))
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("where, history, expected", [c[:3] for c in lesson05.diagnosis_cases()],
                         ids=[c[0] for c in lesson05.diagnosis_cases()])
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
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
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
        losses.append(loss if mistake == "tensors" else loss.item())
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


def _rules(history, *, finite=True, window=True, ceiling_from_first=True, quarter=True, ln=math.log,
           last_epoch=True, at_least=True, all_classes=True):
    """diagnose_one with one of the rules changed."""
    losses = history["train_loss"]
    c = history["num_classes"]
    ln_c = ln(c)
    if finite and not all(math.isfinite(v) for v in losses):
        return "diverged"
    w = min(5, len(losses)) if window else 1
    ceiling = 2 * (max(losses[0], ln_c) if ceiling_from_first else ln_c)
    if any(sum(losses[i:i + w]) / w > ceiling for i in range(len(losses) - w + 1)):
        return "diverged"
    n = max(1, len(losses) // 4) if quarter else 1
    if sum(losses[-n:]) / n > 0.9 * ln_c:
        return "not_learning"
    epoch = -1 if last_epoch else 0
    if history["val_acc"] and history["val_acc"][epoch] < 0.6 / c:
        return "below_chance"
    counts = history.get("val_pred_counts") or []
    if counts:
        row = counts[epoch] if all_classes else counts[epoch][:1]
        share = max(row) / sum(counts[epoch])
        if share >= 0.9 if at_least else share > 0.9:
            return "majority_class"
    return "healthy"


WRONG = [
    ("05.init_loss", init_log2, "natural logarithm"),
    ("05.init_loss", init_one_sided, "BELOW ln C"),
    ("05.init_loss", init_lets_nan_through, "nan"),
    ("05.init_loss", init_fixed_two_classes, "ln 3"),
    ("05.init_loss", init_ignores_tolerance, "use the tolerance you are given"),
    ("05.init_loss", init_returns_tensor, "Python bool"),
    ("05.overfit", overfit_without_zero_grad, "optimizer.zero_grad() at the start of every step"),
    ("05.overfit", overfit_without_step, "never updated"),
    ("05.overfit", overfit_step_before_backward, "right after loss.backward()"),
    ("05.overfit", overfit_zero_grad_after_backward, "no zero_grad between them"),
    ("05.overfit", overfit_new_optimizer_each_step, "once, before the loop"),
    ("05.overfit", overfit_without_mask, "attention mask"),
    ("05.overfit", overfit_with_sgd, "AdamW"),
    ("05.overfit", overfit_summed_loss, "mean cross-entropy"),
    ("05.overfit", overfit_keeps_tensors, "loss.item()"),
    ("05.overfit", overfit_on_a_copy, "train it in place"),
    ("05.overfit", overfit_one_step_short, "one per step"),
    ("05.diagnose", lambda h: _rules(h, finite=False), "math.isfinite"),
    ("05.diagnose", lambda h: _rules(h, window=False), "one noisy batch is not divergence"),
    ("05.diagnose", lambda h: _rules(h, ceiling_from_first=False), "starts high and falls"),
    ("05.diagnose", lambda h: _rules(h, quarter=False), "do not look at the last loss alone"),
    ("05.diagnose", lambda h: _rules(h, ln=math.log10), "natural logarithm"),
    ("05.diagnose", lambda h: _rules(h, last_epoch=False), "last epoch"),
    ("05.diagnose", lambda h: _rules(h, at_least=False), "includes 90 %"),
    ("05.diagnose", lambda h: _rules(h, all_classes=False), "any class can be the majority"),
    ("05.diagnose", lambda h: [_rules(h)], "one code as a string"),
    ("05.diagnose", lambda h: "ok", "not one of the codes"),
    ("05.symptoms", "CFBEAD", "4 of the 6 symptoms are matched"),
    ("05.symptoms", "CFB", "one letter per symptom"),
    ("05.symptoms", "CFBEDZ", "letters A to H"),
    ("05.symptoms", 3, "one letter per symptom"),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG,
                         ids=[f"{i}-{getattr(w, '__name__', repr(w))}-{n}" for n, (i, w, _) in enumerate(WRONG)])
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


def test_a_diagnosis_that_changes_the_history_is_turned_down():
    def sort_then_judge(history):
        history["train_loss"].sort()  # in place: the caller's history loses its order
        return "healthy"

    status, message = verdict("05.diagnose", sort_then_judge)
    assert status == core.INCORRECT and "changed the history" in message


def test_a_loop_that_passes_the_whole_batch_to_the_classifier_is_right():
    # The classifier takes token_type_ids too (a sentence pair needs them), so model(**batch) is an answer.
    assert_passes("05.overfit", overfit_whole_batch)
