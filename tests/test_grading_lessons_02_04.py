"""The checks of lessons 02 and 04 (grading/lesson02.py, lesson04.py) turn down the usual wrong answers with
a message that says what is wrong, while right answers written another way than the solution pass. What
every lesson's checks share is tested in tests/test_grading_lessons.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grading import core
from grading_answers import assert_passes, assert_turned_down, verdict, wrong_answer_ids


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


def pool_in_half_precision(v, m):
    w = m.unsqueeze(-1).half()
    return (v.half() * w).sum(1) / w.sum(1)


def pool_as_numpy(v, m):
    w = m.unsqueeze(-1).float().numpy()
    return (v.numpy() * w).sum(1) / w.sum(1)


def pool_without_return(v, m):
    w = m.unsqueeze(-1).float()
    (v * w).sum(1) / w.sum(1)


def pool_reshaping_the_mask_in_place(v, m):
    m.unsqueeze_(-1)
    return (v * m).sum(1) / m.sum(1)


def pool_in_float64(v, m):
    w = m.unsqueeze(-1).double()
    return (v.double() * w).sum(1) / w.sum(1)


def pool_row_by_row(v, m):
    return torch.stack([v[row][m[row].bool()].mean(0) for row in range(v.shape[0])])


def pool_with_a_clamped_count(v, m):
    w = m.unsqueeze(-1).float()
    return (v * w).sum(1) / w.sum(1).clamp(min=1e-9)


def pool_with_nan_padding(v, m):
    w = m.unsqueeze(-1).float()
    return torch.nansum(v.masked_fill(w == 0, float("nan")), 1) / w.sum(1)


def pool_with_where(v, m):
    w = m.bool().unsqueeze(-1)
    return torch.where(w, v, 0).sum(1) / w.sum(1)


def _pattern(m, causal):
    n = m.shape[1]
    allowed = m.bool()[:, None, :].expand(-1, n, -1)
    return allowed & _lower(n) if causal else allowed


def pattern_of_integers(m, causal=False):
    return _pattern(m, causal).int()


def pattern_of_floats(m, causal=False):
    return _pattern(m, causal).float()


def pattern_additive(m, causal=False):
    return torch.where(_pattern(m, causal), 0.0, float("-inf"))


def pattern_as_numpy(m, causal=False):
    return _pattern(m, causal).numpy()


def pattern_by_rows(m, causal=False):
    n = m.shape[1]
    allowed = m.bool()[:, :, None].expand(-1, -1, n)
    return allowed & _lower(n) if causal else allowed


def pattern_that_reshapes_the_mask(m, causal=False):
    m.unsqueeze_(1)
    return _pattern(m.squeeze(1), causal)


def pattern_of_rows_and_columns(m, causal=False):
    allowed = m.bool()[:, :, None] & m.bool()[:, None, :]
    return allowed & _lower(m.shape[1]) if causal else allowed


def pattern_by_einsum(m, causal=False):
    allowed = torch.einsum("bi,bj->bij", torch.ones_like(m).float(), m.float()).bool()
    return allowed & _lower(m.shape[1]) if causal else allowed


def pattern_by_loops(m, causal=False):
    b, n = m.shape
    out = torch.zeros(b, n, n, dtype=torch.bool)
    for x in range(b):
        for i in range(n):
            for j in range(n):
                out[x, i, j] = bool(m[x, j]) and (not causal or j <= i)
    return out


def split_that_freezes_theta(model):
    theta, omega = _split(model)
    for p in theta.values():
        p.requires_grad_(False)
    return theta, omega


def split_with_prefixes(model):
    return dict(model.encoder.named_parameters(prefix="encoder")), dict(model.head.named_parameters(prefix="head"))


def split_from_the_state_dict_keeping_vars(model):
    state = model.state_dict(keep_vars=True)
    return ({k: v for k, v in state.items() if k.startswith("encoder.")},
            {k: v for k, v in state.items() if k.startswith("head.")})


def split_by_what_is_not_the_head(model):
    theta, omega = {}, {}
    for n, p in model.named_parameters():
        (omega if n.startswith("head.") else theta)[n] = p
    return theta, omega


def _sizes(tensors):
    return sum(float(t.detach().pow(2).sum()) for t in tensors)


def change_as_a_tensor(before, after):
    change = sum((after[k] - v).pow(2).sum() for k, v in before.items())
    return (change / sum(v.pow(2).sum() for v in before.values())).sqrt()


def change_computed_in_after(before, after):
    with torch.no_grad():
        for k in before:
            after[k].sub_(before[k])
        return (_sizes(after.values()) / _sizes(before.values())) ** 0.5


def change_divided_by_after(before, after):
    return (_sizes(after[k] - v for k, v in before.items()) / _sizes(after.values())) ** 0.5


def change_of_the_largest_tensor_change(before, after):
    return max(float((after[k] - v).detach().norm() / v.norm()) for k, v in before.items())


def change_in_absolute_values(before, after):
    with torch.no_grad():
        return (sum(float((after[k] - v).abs().sum()) for k, v in before.items())
                / sum(float(v.abs().sum()) for v in before.values()))


def change_of_concatenated_tensors(before, after):
    a = torch.cat([after[k].detach().flatten() for k in before])
    b = torch.cat([v.detach().flatten() for v in before.values()])
    return ((a - b).norm() / b.norm()).item()


def change_with_numpy(before, after):
    a = np.concatenate([after[k].detach().numpy().ravel() for k in before])
    b = np.concatenate([v.detach().numpy().ravel() for v in before.values()])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def change_of_root_mean_squares(before, after):
    count = sum(v.numel() for v in before.values())
    return math.sqrt(_sizes(after[k] - v for k, v in before.items()) / count) / math.sqrt(_sizes(before.values()) / count)


def change_in_float32(before, after):
    return np.float32(change_of_concatenated_tensors(before, after))


def _names(model, scores):
    return [model.label_names[i] for i in scores.argmax(-1).tolist()]


def predict_padding_on_the_left(model, tokenizer, texts):
    tokenizer.padding_side = "left"
    model.eval()
    return _names(model, _scores(model, tokenizer, texts))


def predict_sorting_the_texts(model, tokenizer, texts):
    texts.sort()
    model.eval()
    return _names(model, _scores(model, tokenizer, texts))


def predict_dicts(model, tokenizer, texts):
    model.eval()
    return [{"label": name} for name in _names(model, _scores(model, tokenizer, texts))]


def predict_a_tuple(model, tokenizer, texts):
    model.eval()
    return tuple(_names(model, _scores(model, tokenizer, texts)))


def predict_one_text_at_a_time(model, tokenizer, texts):
    model.eval()
    return [_names(model, _scores(model, tokenizer, [text]))[0] for text in texts]


def predict_from_probabilities(model, tokenizer, texts):
    model.eval()
    return _names(model, _scores(model, tokenizer, texts).softmax(-1))


WRONG = [
    ("02.mean_pool", pool_everything, "padding included"),
    ("02.mean_pool", pool_by_width, "full length of the row"),
    ("02.mean_pool", pool_sum, "returned the sum"),
    ("02.mean_pool", pool_cls, "[CLS] vector"),
    ("02.mean_pool", pool_whole_batch, "whole batch"),
    ("02.mean_pool", pool_squeezed, "still one row for a batch of one"),
    ("02.mean_pool", pool_in_place, "changed its input `token_vectors` in place"),
    ("02.mean_pool", pool_reshaping_the_mask_in_place, "its shape went from (4, 6) to (4, 6, 1)"),
    ("02.mean_pool", pool_one_row_off, "row 3 is not the average of its 6 real token vectors"),
    ("02.mean_pool", pool_in_half_precision, "keep the precision of token_vectors (torch.float32)"),
    ("02.mean_pool", pool_as_numpy, "should return a torch.Tensor, got a numpy.ndarray"),
    ("02.mean_pool", pool_without_return, "is its return statement missing?"),
    ("02.attention_pattern", pattern_transposed, "wrong way round"),
    ("02.attention_pattern", pattern_without_diagonal, "itself included"),
    ("02.attention_pattern", pattern_never_causal, "may attend to later tokens"),
    ("02.attention_pattern", pattern_always_causal, "every real token, before and after it"),
    ("02.attention_pattern", pattern_attends_to_padding, "may attend to padding"),
    ("02.attention_pattern", pattern_by_rows, "may attend to padding"),
    ("02.attention_pattern", pattern_2d, "batch x tokens x tokens"),
    ("02.attention_pattern", pattern_no_default, "causal=False"),
    ("02.attention_pattern", pattern_of_integers, "return a boolean one (.bool())"),
    ("02.attention_pattern", pattern_of_floats, "return a boolean one (.bool())"),
    ("02.attention_pattern", pattern_additive, "an additive mask"),
    ("02.attention_pattern", pattern_as_numpy, "torch.from_numpy"),
    ("02.attention_pattern", pattern_that_reshapes_the_mask, "changed its input `attention_mask` in place"),
    ("02.not_classifier", "b", "Not b: the Softmax over the vocabulary belonged to the pre-training head"),
    ("02.not_classifier", 3, "one letter as a string"),
    ("02.probe", "a", "Not a: a deeper network"),
    ("04.split", split_without_prefix, "lack the 'encoder.' in front"),
    ("04.split", split_swapped, "swapped"),
    ("04.split", split_trainable_only, "do not filter on requires_grad"),
    ("04.split", split_copies, "not the model's own parameter"),
    ("04.split", split_lists, "should be a dict"),
    ("04.split", split_that_freezes_theta, "changed its input `model` in place"),
    ("04.relative_change", change_mean_of_ratios, "averaged the relative change of each tensor"),
    ("04.relative_change", change_of_norms, "not the difference of the sizes"),
    ("04.relative_change", change_squared, "square root"),
    ("04.relative_change", change_by_position, "Pair them by name"),
    ("04.relative_change", change_as_a_tensor, "asks for one Python number: return value.item()"),
    ("04.relative_change", change_computed_in_after, "changed its input `after` in place"),
    ("04.relative_change", change_divided_by_after, "divided by the size of after"),
    ("04.relative_change", change_of_the_largest_tensor_change, "over all tensors is 1.144"),
    ("04.relative_change", change_in_absolute_values, "over all tensors is 1.144"),
    ("04.predict", predict_ids, "not the class numbers"),
    ("04.predict", predict_sorted_names, "do not sort them"),
    ("04.predict", predict_without_mask, "pass the attention mask"),
    ("04.predict", predict_with_dropout, "model.eval()"),
    ("04.predict", predict_first_label, "class with the highest score"),
    ("04.predict", predict_padding_on_the_left, "padded on the left"),
    ("04.predict", predict_sorting_the_texts, "changed its input `texts` in place"),
    ("04.predict", predict_dicts, "the label names themselves, model.label_names[i] (strings)."),
    ("04.predict", predict_a_tuple, "should return a list of label names, one per text; it returned a tuple"),
    ("04.statements", "ADEF", "5 of the 6 statements"),
    ("04.statements", "AXE", "letters A to F"),
    ("04.statements", 7, "letters of every right statement"),
]

RIGHT = [
    ("02.mean_pool", pool_in_float64),
    ("02.mean_pool", pool_row_by_row),
    ("02.mean_pool", pool_with_a_clamped_count),
    ("02.mean_pool", pool_with_nan_padding),
    ("02.mean_pool", pool_with_where),
    ("02.attention_pattern", pattern_of_rows_and_columns),
    ("02.attention_pattern", pattern_by_einsum),
    ("02.attention_pattern", pattern_by_loops),
    ("04.split", split_with_prefixes),
    ("04.split", split_from_the_state_dict_keeping_vars),
    ("04.split", split_by_what_is_not_the_head),
    ("04.relative_change", change_of_concatenated_tensors),
    ("04.relative_change", change_with_numpy),
    ("04.relative_change", change_of_root_mean_squares),
    ("04.relative_change", change_in_float32),
    ("04.predict", predict_one_text_at_a_time),
    ("04.predict", predict_from_probabilities),
    ("04.predict", predict_passing_the_whole_batch),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG,
                         ids=wrong_answer_ids(WRONG))
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[f"{i}-{getattr(r, '__name__', r)}" for i, r in RIGHT])
def test_a_right_answer_written_another_way_passes(exercise_id, right):
    # predict_passing_the_whole_batch: the classifier takes token_type_ids too, so model(**batch) is an answer.
    assert_passes(exercise_id, right)




@pytest.mark.parametrize("label", range(3))
def test_one_label_for_every_text_is_called_that_whatever_the_label(label):
    # Padded on the left, the check's small classifier gives (nearly) one class to every text; how nearly depends
    # on the CPU's arithmetic, so a constant answer must never be taken for left padding.
    def predict_one_label(model, tokenizer, texts):
        return [model.label_names[label % len(model.label_names)]] * len(texts)

    assert_turned_down("04.predict", predict_one_label, "class with the highest score")


def test_left_padding_asked_for_in_the_call_is_turned_down():
    def predict_left_padded_in_the_call(model, tokenizer, texts):
        model.eval()
        with torch.no_grad():
            enc = tokenizer(list(texts), padding=True, padding_side="left", return_tensors="pt")
            return [model.label_names[i] for i in model(enc["input_ids"], enc["attention_mask"]).argmax(-1).tolist()]

    status, message = verdict("04.predict", predict_left_padded_in_the_call)
    assert status == core.INCORRECT
    assert "padded on the left" in message or "same label" in message, message
