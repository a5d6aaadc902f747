"""The checks of lessons 02 and 04 (utils/grading/lesson02.py, lesson04.py) grade fairly: each passes the
answer in the solution notebook, reports the untouched stub of the exercise notebook as not attempted,
and turns down the usual wrong answers with a message that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grading_answers import (assert_not_attempted, assert_passes, assert_turned_down, load_answer, verdict,
                             wrong_answer_ids)
from utils.grading import core

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = {"02": ROOT / "solutions" / "02_sequence_encoders_solutions.ipynb",
             "04": ROOT / "solutions" / "04_notation_solutions.ipynb"}
IDS = ["02.mean_pool", "02.attention_pattern", "02.not_classifier", "02.probe", "02.objective",
       "04.split", "04.relative_change", "04.predict", "04.statements", "04.paradigm", "04.why_freeze",
       "04.align_labels", "04.segments", "04.task_head"]


def answer(exercise_id: str, stub: bool = False):
    """The answer to ``exercise_id`` as the solution notebook defines it, or as the generated exercise
    notebook's stub does."""
    return load_answer(SOLUTIONS[exercise_id[:2]], [exercise_id], {"torch": torch}, stub)



def test_lessons_02_and_04_register_their_exercises_in_the_order_their_notebooks_ask_them():
    registered = [ex.id for ex in core.exercises() if ex.id[:2] in ("02", "04")]
    assert registered == IDS
    assert all(core.get_exercise(i).hints for i in IDS)


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_solution_notebooks_answer_passes(exercise_id):
    assert_passes(exercise_id, answer(exercise_id))


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_exercise_notebooks_stub_is_not_attempted(exercise_id):
    assert_not_attempted(exercise_id, answer(exercise_id, stub=True))


@pytest.mark.parametrize("exercise_id", ["02.mean_pool", "04.split", "04.predict"])
def test_a_check_leaves_the_callers_random_state_alone(exercise_id):
    before = torch.get_rng_state()
    verdict(exercise_id, answer(exercise_id))
    assert torch.equal(torch.get_rng_state(), before)


# ---------------------------------------------------------------------------------------------------
# Typical wrong answers, each with a word of its message
# ---------------------------------------------------------------------------------------------------

def _masked_sum(v, m):
    return (v * m.unsqueeze(-1).to(v.dtype)).sum(1)


def pool_everything(v, m):
    return v.mean(1)


def pool_by_width(v, m):
    return _masked_sum(v, m) / v.shape[1]


def pool_sum(v, m):
    return _masked_sum(v, m)


def pool_cls(v, m):
    return v[:, 0]


def pool_whole_batch(v, m):
    return _masked_sum(v, m) / m.sum()


def pool_squeezed(v, m):
    return (_masked_sum(v, m) / m.sum(1, keepdim=True)).squeeze()


def pool_in_place(v, m):
    v *= m.unsqueeze(-1)
    return v.sum(1) / m.sum(1, keepdim=True)


def pool_one_row_off(v, m):
    pooled = _masked_sum(v, m) / m.sum(1, keepdim=True)
    pooled[-1] += 0.5
    return pooled


def _keys(m):
    return m.bool()[:, None, :].expand(-1, m.shape[1], -1)


def _lower(n, diagonal=0):
    return torch.ones(n, n, dtype=torch.bool).tril(diagonal)


def pattern_transposed(m, causal=False):
    return _keys(m) & _lower(m.shape[1]).T if causal else _keys(m)


def pattern_without_diagonal(m, causal=False):
    return _keys(m) & _lower(m.shape[1], -1) if causal else _keys(m)


def pattern_never_causal(m, causal=False):
    return _keys(m)


def pattern_always_causal(m, causal=False):
    return _keys(m) & _lower(m.shape[1])


def pattern_attends_to_padding(m, causal=False):
    full = torch.ones(m.shape[0], m.shape[1], m.shape[1], dtype=torch.bool)
    return full & _lower(m.shape[1]) if causal else full


def pattern_2d(m, causal=False):
    return _lower(m.shape[1]) if causal else torch.ones(m.shape[1], m.shape[1], dtype=torch.bool)


def pattern_no_default(m, causal):
    return _keys(m) & _lower(m.shape[1]) if causal else _keys(m)


def _split(model):
    theta = {n: p for n, p in model.named_parameters() if n.startswith("encoder.")}
    return theta, {n: p for n, p in model.named_parameters() if n.startswith("head.")}


def split_without_prefix(model):
    return dict(model.encoder.named_parameters()), dict(model.head.named_parameters())


def split_swapped(model):
    return _split(model)[::-1]


def split_trainable_only(model):
    theta, omega = _split(model)
    return {n: p for n, p in theta.items() if p.requires_grad}, omega


def split_copies(model):
    theta, omega = _split(model)
    return {n: p.detach().clone() for n, p in theta.items()}, omega


def split_lists(model):
    return list(model.encoder.parameters()), list(model.head.parameters())


def _sum_squares(tensors):
    return sum(float(t.detach().pow(2).sum()) for t in tensors)


def change_mean_of_ratios(before, after):
    ratios = [float((after[k] - v).detach().norm() / v.detach().norm()) for k, v in before.items()]
    return sum(ratios) / len(ratios)


def change_of_norms(before, after):
    return abs(_sum_squares(after.values()) ** 0.5 - _sum_squares(before.values()) ** 0.5) \
        / _sum_squares(before.values()) ** 0.5


def change_squared(before, after):
    return _sum_squares(after[k] - v for k, v in before.items()) / _sum_squares(before.values())


def change_by_position(before, after):
    change = _sum_squares(a - b for a, b in zip(after.values(), before.values()))
    return (change / _sum_squares(before.values())) ** 0.5


def _scores(model, tokenizer, texts, with_mask=True):
    batch = tokenizer(list(texts), padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(batch["input_ids"], batch["attention_mask"] if with_mask else None)


def predict_ids(model, tokenizer, texts):
    model.eval()
    return _scores(model, tokenizer, texts).argmax(-1).tolist()


def predict_sorted_names(model, tokenizer, texts):
    model.eval()
    return [sorted(model.label_names)[i] for i in _scores(model, tokenizer, texts).argmax(-1).tolist()]


def predict_without_mask(model, tokenizer, texts):
    model.eval()
    return [model.label_names[i] for i in _scores(model, tokenizer, texts, with_mask=False).argmax(-1).tolist()]


def predict_with_dropout(model, tokenizer, texts):
    return [model.label_names[i] for i in _scores(model, tokenizer, texts).argmax(-1).tolist()]


def predict_first_label(model, tokenizer, texts):
    return [model.label_names[0]] * len(texts)


def predict_passing_the_whole_batch(model, tokenizer, texts):
    model.eval()
    return [model.label_names[i] for i in model(**tokenizer(list(texts), padding=True, return_tensors="pt"))
            .argmax(-1).tolist()]



def align_every_piece(word_ids, word_labels):
    return [-100 if w is None else word_labels[w] for w in word_ids]


def align_last_piece(word_ids, word_labels):
    out = []
    for i, w in enumerate(word_ids):
        later = i + 1 < len(word_ids) and word_ids[i + 1] == w
        out.append(-100 if w is None or later else word_labels[w])
    return out


def align_words_only(word_ids, word_labels):
    return list(word_labels)


def align_zero_for_specials(word_ids, word_labels):
    out, previous = [], None
    for w in word_ids:
        out.append(0 if w is None else -100 if w == previous else word_labels[w])
        previous = w
    return out


def pair_all_zero(first, second, max_length):
    tokens, _ = pair_truncating_first(first, second, 10_000)
    return tokens, [0] * len(tokens)


def pair_no_truncation(first, second, max_length):
    tokens = ["[CLS]", *first, "[SEP]", *second, "[SEP]"]
    return tokens, [0] * (len(first) + 2) + [1] * (len(second) + 1)


def pair_truncating_first(first, second, max_length):
    first, second = list(first), list(second)
    while len(first) + len(second) + 3 > max_length:
        (first if first else second).pop()
    return ["[CLS]", *first, "[SEP]", *second, "[SEP]"], [0] * (len(first) + 2) + [1] * (len(second) + 1)


def pair_sep_in_second_segment(first, second, max_length):
    tokens, _ = pair_no_truncation(first, second, max_length)
    return tokens, [0] * (len(first) + 1) + [1] * (len(second) + 2)


def head_mean_for_tokens(form, hidden_size, num_labels):
    return torch.nn.Linear(hidden_size, num_labels)


class _MeanHead(torch.nn.Module):
    def __init__(self, hidden_size, num_labels):
        super().__init__()
        self.out = torch.nn.Linear(hidden_size, num_labels)

    def forward(self, vectors):
        return self.out(vectors.mean(dim=1))


def head_mean_pooled(form, hidden_size, num_labels):
    if form == "tokens":
        return torch.nn.Linear(hidden_size, num_labels)
    return _MeanHead(hidden_size, num_labels)


class _ClsHead(torch.nn.Module):
    def __init__(self, hidden_size, num_labels):
        super().__init__()
        self.out = torch.nn.Linear(hidden_size, num_labels)

    def forward(self, vectors):
        return self.out(vectors[:, 0])


def head_mixing_positions(form, hidden_size, num_labels):
    if form != "tokens":
        return _ClsHead(hidden_size, num_labels)
    return torch.nn.Sequential(torch.nn.Conv1d(7, 7, 1), torch.nn.Linear(hidden_size, num_labels))


def head_no_error(form, hidden_size, num_labels):
    return torch.nn.Linear(hidden_size, num_labels) if form == "tokens" else _ClsHead(hidden_size, num_labels)


WRONG = [
    ("02.mean_pool", pool_everything, "padding included"),
    ("02.mean_pool", pool_by_width, "full length of the row"),
    ("02.mean_pool", pool_sum, "returned the sum"),
    ("02.mean_pool", pool_cls, "[CLS] vector"),
    ("02.mean_pool", pool_whole_batch, "whole batch"),
    ("02.mean_pool", pool_squeezed, "still one row for a batch of one"),
    ("02.mean_pool", pool_in_place, "changed the tensors it was given"),
    ("02.mean_pool", pool_one_row_off, "row 3 is not the average of its 6 real token vectors"),
    ("02.attention_pattern", pattern_transposed, "wrong way round"),
    ("02.attention_pattern", pattern_without_diagonal, "itself included"),
    ("02.attention_pattern", pattern_never_causal, "may attend to later tokens"),
    ("02.attention_pattern", pattern_always_causal, "every real token, before and after it"),
    ("02.attention_pattern", pattern_attends_to_padding, "may attend to padding"),
    ("02.attention_pattern", pattern_2d, "batch x tokens x tokens"),
    ("02.attention_pattern", pattern_no_default, "causal=False"),
    ("02.not_classifier", "b", "Not b: the distribution over the vocabulary"),
    ("02.not_classifier", 3, "one letter as a string"),
    ("02.probe", "a", "Not a: a deeper network"),
    ("04.split", split_without_prefix, "lack the 'encoder.' in front"),
    ("04.split", split_swapped, "swapped"),
    ("04.split", split_trainable_only, "do not filter on requires_grad"),
    ("04.split", split_copies, "not the model's own parameter"),
    ("04.split", split_lists, "should be a dict"),
    ("04.relative_change", change_mean_of_ratios, "averaged the relative change of each tensor"),
    ("04.relative_change", change_of_norms, "not the difference of the sizes"),
    ("04.relative_change", change_squared, "square root"),
    ("04.relative_change", change_by_position, "Pair them by name"),
    ("04.predict", predict_ids, "not the class numbers"),
    ("04.predict", predict_sorted_names, "do not sort them"),
    ("04.predict", predict_without_mask, "pass the attention mask"),
    ("04.predict", predict_with_dropout, "model.eval()"),
    ("04.predict", predict_first_label, "class with the highest score"),
    ("04.statements", "ADEF", "5 of the 6 statements"),
    ("04.statements", "AXE", "letters A to F"),
    ("04.statements", 7, "letters of every right statement"),
    ("04.align_labels", align_every_piece, "only a word's first piece carries its label"),
    ("04.align_labels", align_last_piece, "first piece of word"),
    ("04.align_labels", align_words_only, "one label per token"),
    ("04.align_labels", align_zero_for_specials, "special token or padding"),
    ("04.segments", pair_all_zero, "segment ids should be"),
    ("04.segments", pair_no_truncation, "more than max_length"),
    ("04.segments", pair_truncating_first, "should be"),
    ("04.segments", pair_sep_in_second_segment, "0 for [CLS], the first sentence and its [SEP]"),
    ("04.task_head", head_mean_for_tokens, "one score per class for each example"),
    ("04.task_head", head_mean_pooled, "read the [CLS] vector"),
    ("04.task_head", head_mixing_positions, "changed the scores at other positions"),
    ("04.task_head", head_no_error, "should raise a ValueError"),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG,
                         ids=wrong_answer_ids(WRONG))
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


def test_passing_the_tokenizers_whole_batch_to_the_classifier_is_right():
    # The classifier takes token_type_ids too (a sentence pair needs them), so model(**batch) is an answer.
    assert_passes("04.predict", predict_passing_the_whole_batch)
