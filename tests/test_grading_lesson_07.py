"""The checks of lesson 07 (grading/lesson07.py) turn down the usual wrong answers with a message that says
what is wrong, and pass unusual right ones. What every lesson's checks share is tested in
tests/test_grading_lessons.py."""

from __future__ import annotations

import pytest
import torch

from grading_answers import assert_passes, assert_turned_down, lesson_answer, verdict, wrong_answer_ids
from grading import core


# ---------------------------------------------------------------------------------------------------
# Typical wrong answers, each with a word of its message
# ---------------------------------------------------------------------------------------------------

def _scores(log_probs, word_ids, labels, pool):
    return torch.stack([pool(log_probs[:, list(word_ids[label])]) for label in labels], dim=-1)


def _names(scores, labels):
    return [labels[i] for i in scores.argmax(-1).tolist()]


def predict_best_word(log_probs, word_ids, labels):
    return _names(_scores(log_probs, word_ids, labels, lambda x: x.max(-1).values), labels)


def predict_mean_probability(log_probs, word_ids, labels):
    return _names(_scores(log_probs, word_ids, labels, lambda x: x.exp().mean(-1)), labels)


def predict_sum_of_logs(log_probs, word_ids, labels):
    return _names(_scores(log_probs, word_ids, labels, lambda x: x.sum(-1)), labels)


def predict_in_dict_order(log_probs, word_ids, labels):
    return _names(_scores(log_probs, word_ids, list(word_ids), lambda x: x.logsumexp(-1)), labels)


def predict_last_on_tie(log_probs, word_ids, labels):
    scores = _scores(log_probs, word_ids, labels, lambda x: x.logsumexp(-1)).flip(-1)
    return [labels[len(labels) - 1 - i] for i in scores.argmax(-1).tolist()]


def predict_ids(log_probs, word_ids, labels):
    return _scores(log_probs, word_ids, labels, lambda x: x.logsumexp(-1)).argmax(-1).tolist()


def predict_tensor(log_probs, word_ids, labels):
    return _scores(log_probs, word_ids, labels, lambda x: x.logsumexp(-1)).argmax(-1)


def predict_squeezed(log_probs, word_ids, labels):
    names = _names(_scores(log_probs, word_ids, labels, lambda x: x.logsumexp(-1)), labels)
    return names[0] if len(names) == 1 else names


def predict_in_place(log_probs, word_ids, labels):
    log_probs.exp_()
    return _names(_scores(log_probs, word_ids, labels, lambda x: x.sum(-1)), labels)


def _solution_mapping(id2label, labels):
    return lesson_answer("07.label_mapping")(id2label, labels)


def mapping_accepts_everything(id2label, labels):
    return {int(k): v for k, v in id2label.items()}


def mapping_without_int_keys(id2label, labels):
    if sorted(map(str, id2label)) != [str(i) for i in range(len(labels))] or sorted(id2label.values()) != sorted(labels):
        raise ValueError("the mapping breaks the contract")
    return dict(id2label)


def mapping_compares_values_only(id2label, labels):
    if sorted(id2label.values()) != sorted(labels):
        raise ValueError("the labels are not the service's labels")
    return {int(k): v for k, v in id2label.items()}


def mapping_requires_label_order(id2label, labels):
    result = _solution_mapping(id2label, labels)
    if result != dict(enumerate(labels)):
        raise ValueError("id i must name labels[i]")
    return result


def mapping_with_assert(id2label, labels):
    assert set(id2label.values()) == set(labels) and len(id2label) == len(labels), "the mapping breaks the contract"
    return {int(k): v for k, v in id2label.items()}


def mapping_without_missing_check(id2label, labels):
    mapping = {int(k): v for k, v in id2label.items()}
    if len(mapping) != len(id2label) or sorted(mapping) != list(range(len(mapping))):
        raise ValueError("the ids must be 0, 1, ... each named once")
    if any(v not in labels for v in mapping.values()) or len(set(mapping.values())) != len(mapping):
        raise ValueError("an unknown label, or a label named twice")
    return mapping


def mapping_pops(id2label, labels):
    result = _solution_mapping(dict(id2label), labels)
    id2label.clear()
    return result


def mapping_returns_its_input(id2label, labels):
    mapping = _solution_mapping(id2label, labels)
    return id2label if all(type(k) is int for k in id2label) else mapping


def confusion_looks_up_in_a_dict(reference, predicted, labels):
    if len(reference) != len(predicted) or any(p not in labels for p in predicted):
        raise ValueError("the answers do not fit the labels")
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for r, p in zip(reference, predicted):
        counts[index[r]][index[p]] += 1
    return counts


def _counts(reference, predicted, labels):
    if len(reference) != len(predicted) or any(x not in labels for x in [*reference, *predicted]):
        raise ValueError("the answers do not fit the labels")
    counts = [[0] * len(labels) for _ in labels]
    for r, p in zip(reference, predicted):
        counts[labels.index(r)][labels.index(p)] += 1
    return counts


def confusion_transposed(reference, predicted, labels):
    return [list(row) for row in zip(*_counts(reference, predicted, labels))]


def confusion_sorted(reference, predicted, labels):
    return _counts(reference, predicted, sorted(labels))


def confusion_shares(reference, predicted, labels):
    return [[c / len(reference) for c in row] for row in _counts(reference, predicted, labels)]


def confusion_present_labels_only(reference, predicted, labels):
    present = [label for label in labels if label in reference or label in predicted]
    return _counts(reference, predicted, present)


def confusion_without_checks(reference, predicted, labels):
    counts = [[0] * len(labels) for _ in labels]
    for r, p in zip(reference, predicted):
        if r in labels and p in labels:
            counts[labels.index(r)][labels.index(p)] += 1
    return counts


def confusion_index_error(reference, predicted, labels):
    if len(reference) != len(predicted):
        raise IndexError("lists differ")
    return _counts(reference, predicted, labels)


def confusion_one_off(reference, predicted, labels):
    counts = _counts(reference, predicted, labels)
    counts[0][0] += 1
    return counts


WRONG = [
    ("07.verbalizer_predict", predict_best_word, "single most likely word"),
    ("07.verbalizer_predict", predict_mean_probability, "averaged the probabilities"),
    ("07.verbalizer_predict", predict_sum_of_logs, "multiplies their probabilities"),
    ("07.verbalizer_predict", predict_in_dict_order, "order of word_ids"),
    ("07.verbalizer_predict", predict_last_on_tie, "comes first in labels"),
    ("07.verbalizer_predict", predict_ids, "not their positions"),
    ("07.verbalizer_predict", predict_tensor, "list of label names"),
    ("07.verbalizer_predict", predict_squeezed, "list of label names"),
    ("07.verbalizer_predict", predict_in_place, "changed its inputs"),
    ("07.label_mapping", mapping_accepts_everything, "did not raise"),
    ("07.label_mapping", mapping_without_int_keys, "return the ids as ints"),
    ("07.label_mapping", mapping_compares_values_only, "numbered 0 .. len(labels) - 1"),
    ("07.label_mapping", mapping_requires_label_order, "cannot know what the model learned"),
    ("07.label_mapping", mapping_with_assert, "raise ValueError"),
    ("07.label_mapping", mapping_without_missing_check, "named by no id"),
    ("07.label_mapping", mapping_pops, "changed the mapping"),
    ("07.confusion", confusion_transposed, "transposed"),
    ("07.confusion", confusion_sorted, "sorted order"),
    ("07.confusion", confusion_shares, "return counts"),
    ("07.confusion", confusion_present_labels_only, "also for a label that never occurs"),
    ("07.confusion", confusion_without_checks, "did not raise"),
    ("07.confusion", confusion_index_error, "raised IndexError"),
    ("07.confusion", confusion_one_off, "row 0 ('negative'), column 0"),
    ("07.label_mapping", mapping_returns_its_input, "returned the very dict it was given"),
    ("07.confusion", confusion_looks_up_in_a_dict, "raised KeyError"),
    ("07.disagreement", "b", "Not b: the service starts"),
    ("07.disagreement", "c", "Not c: a weakness on negation"),
    ("07.disagreement", "d", "Not d: answers close to random"),
    ("07.disagreement", 3, "one letter as a string"),
    ("07.prompt_or_fine_tune", "a", "Not a: lesson 07 measured that on a model of half a million parameters"),
    ("07.prompt_or_fine_tune", "b", "Not b: calibration only moves"),
    ("07.prompt_or_fine_tune", "c", "Not c: the prompt reaches sentiment words"),
    ("07.prompt_or_fine_tune", ["d", "b"], "Choose one option only"),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG,
                         ids=wrong_answer_ids(WRONG))
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


def test_an_upper_case_letter_with_spaces_is_accepted():
    assert verdict("07.disagreement", " A ")[0] == core.CORRECT


# ---------------------------------------------------------------------------------------------------
# Unusual answers that are right
# ---------------------------------------------------------------------------------------------------

def predict_with_probabilities(log_probs, word_ids, labels):
    """Adds the probabilities themselves (not their logs), and turns the names into NumPy strings."""
    import numpy as np

    probs = log_probs.exp()
    scores = torch.stack([probs[:, list(word_ids[label])].sum(-1) for label in labels], dim=-1)
    return list(np.array(labels)[scores.argmax(-1).numpy()])


def mapping_from_a_sorted_copy(id2label, labels):
    ids = {}
    for key, label in id2label.items():
        if not str(key).strip().isdigit():
            raise ValueError(f"{key!r} is not a class id")
        if int(key) in ids:
            raise ValueError(f"id {key} is named twice")
        ids[int(key)] = label
    if sorted(ids) != list(range(len(labels))):
        raise ValueError("the ids must be 0 .. len(labels) - 1")
    if sorted(ids.values()) != sorted(labels):
        raise ValueError("every label must be named by exactly one id, and no other name is allowed")
    return dict(sorted(ids.items()))


def confusion_as_float_array(reference, predicted, labels):
    import numpy as np

    if len(reference) != len(predicted) or not set(reference) | set(predicted) <= set(labels):
        raise ValueError("the answers do not fit the labels")
    counts = np.zeros((len(labels), len(labels)))
    np.add.at(counts, ([labels.index(r) for r in reference], [labels.index(p) for p in predicted]), 1)
    return counts


RIGHT = [
    ("07.verbalizer_predict", predict_with_probabilities),
    ("07.label_mapping", mapping_from_a_sorted_copy),
    ("07.confusion", confusion_as_float_array),   # counts held as floats are still the counts
    ("07.prompt_or_fine_tune", "(d)"),
]


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[f"{i}-{getattr(r, '__name__', repr(r))}" for i, r in RIGHT])
def test_an_unusual_right_answer_passes(exercise_id, right):
    assert_passes(exercise_id, right)
