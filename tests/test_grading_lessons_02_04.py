"""The checks of lessons 02 and 04 (grading/lesson02.py, lesson04.py) turn down the usual wrong answers with
a message that says what is wrong, while right answers written another way than the solution pass. What
every lesson's checks share is tested in tests/test_grading_lessons.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grading_answers import assert_passes, assert_turned_down, wrong_answer_ids


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


def _pair(first, second):
    return ["[CLS]", *first, "[SEP]", *second, "[SEP]"], [0] * (len(first) + 2) + [1] * (len(second) + 1)


def pair_all_zero(first, second):
    tokens, _ = _pair(first, second)
    return tokens, [0] * len(tokens)


def pair_sep_in_second_segment(first, second):
    tokens, _ = _pair(first, second)
    return tokens, [0] * (len(first) + 1) + [1] * (len(second) + 2)


def pair_last_sep_in_first_segment(first, second):
    tokens, _ = _pair(first, second)
    return tokens, [0] * (len(first) + 2) + [1] * len(second) + [0]


def pair_with_one_sep(first, second):
    return ["[CLS]", *first, "[SEP]", *second], [0] * (len(first) + 2) + [1] * len(second)


def pair_without_cls(first, second):
    return [*first, "[SEP]", *second, "[SEP]"], [0] * (len(first) + 1) + [1] * (len(second) + 1)


def pair_segments_as_booleans(first, second):
    tokens, segments = _pair(first, second)
    return tokens, [bool(s) for s in segments]


def pair_segments_as_floats(first, second):
    tokens, segments = _pair(first, second)
    return tokens, [float(s) for s in segments]


def pair_segments_one_and_two(first, second):
    tokens, segments = _pair(first, second)
    return tokens, [s + 1 for s in segments]


def pair_built_in_the_callers_lists(first, second):
    first.insert(0, "[CLS]")
    first.append("[SEP]")
    second.append("[SEP]")
    return first + second, [0] * len(first) + [1] * len(second)


def pair_as_one_string(first, second):
    tokens, segments = _pair(first, second)
    return " ".join(tokens), segments


class _AnyText(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


def pair_of_pieces_that_equal_anything(first, second):
    _, segments = _pair(first, second)
    return [_AnyText("?") for _ in segments], segments


def pair_with_a_length_limit(first, second, max_length):
    return _pair(first, second)


def pair_segments_as_a_tensor(first, second):
    tokens, segments = _pair(first, second)
    return tokens, torch.tensor(segments)


def pair_as_tuples(first, second):
    tokens, segments = _pair(first, second)
    return tuple(tokens), tuple(segments)


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


def _aligned(word_ids, word_labels):
    out, previous = [], None
    for w in word_ids:
        out.append(-100 if w is None or w == previous else word_labels[w])
        previous = w
    return out


def align_as_floats(word_ids, word_labels):
    return [float(x) for x in _aligned(word_ids, word_labels)]


def align_as_a_float_array(word_ids, word_labels):
    return np.array(_aligned(word_ids, word_labels), dtype=float)


def align_replacing_none_in_word_ids(word_ids, word_labels):
    for i, w in enumerate(word_ids):
        if w is None:
            word_ids[i] = -1
    return [-100 if w == -1 else x for w, x in zip(word_ids, _aligned([None if w == -1 else w for w in word_ids],
                                                                      word_labels))]


def align_by_previous_label(word_ids, word_labels):
    out, previous = [], None
    for w in word_ids:
        label = -100 if w is None else word_labels[w]
        out.append(-100 if label == previous else label)
        previous = label
    return out


def align_as_a_generator(word_ids, word_labels):
    return (x for x in _aligned(word_ids, word_labels))


def align_as_a_tensor(word_ids, word_labels):
    return torch.tensor(_aligned(word_ids, word_labels))


def align_with_numpy_integers(word_ids, word_labels):
    return list(np.array(_aligned(word_ids, word_labels)))


def align_with_a_set_of_seen_words(word_ids, word_labels):
    out, seen = [], set()
    for w in word_ids:
        out.append(-100 if w is None or w in seen else word_labels[w])
        seen.add(w)
    return out


class _Reads(torch.nn.Module):
    def __init__(self, hidden_size, num_labels, position=0, end=None):
        super().__init__()
        self.out = torch.nn.Linear(hidden_size, num_labels)
        self.position, self.end = position, end

    def forward(self, vectors):
        scores = self.out(vectors[:, self.position])
        return {"softmax": lambda: scores.softmax(-1), "sigmoid": scores.sigmoid, "relu": scores.relu,
                "log_softmax": lambda: scores.log_softmax(-1)}.get(self.end, lambda: scores)()


def head_reading(position=0, end=None):
    def task_head(form, hidden_size, num_labels):
        if form in ("sentence", "pair"):
            return _Reads(hidden_size, num_labels, position, end)
        if form == "tokens":
            return torch.nn.Linear(hidden_size, num_labels)
        raise ValueError(f"unknown form {form!r}: use 'sentence', 'pair' or 'tokens'")
    task_head.__name__ = f"head_reading_position_{position}" + (f"_then_{end}" if end else "")
    return task_head


_SHARED_HEADS = {}


def head_made_once_and_shared(form, hidden_size, num_labels):
    key = (form, hidden_size, num_labels)
    if key not in _SHARED_HEADS:
        _SHARED_HEADS[key] = head_reading()(form, hidden_size, num_labels)
    return _SHARED_HEADS[key]


def head_with_a_vague_error(form, hidden_size, num_labels):
    if form not in ("sentence", "pair", "tokens"):
        raise ValueError("bad form")
    return head_reading()(form, hidden_size, num_labels)


def head_from_a_dict(form, hidden_size, num_labels):
    return {"sentence": lambda: _ClsHead(hidden_size, num_labels), "pair": lambda: _ClsHead(hidden_size, num_labels),
            "tokens": lambda: torch.nn.Linear(hidden_size, num_labels)}[form]()


def head_returning_none_for_other_forms(form, hidden_size, num_labels):
    return head_reading()(form, hidden_size, num_labels) if form in ("sentence", "pair", "tokens") else None


def head_with_an_assert(form, hidden_size, num_labels):
    assert form in ("sentence", "pair", "tokens"), "form must be sentence, pair or tokens"
    return head_reading()(form, hidden_size, num_labels)


class _Constant(torch.nn.Module):
    def __init__(self, hidden_size, num_labels):
        super().__init__()
        self.out = torch.nn.Linear(hidden_size, num_labels)

    def forward(self, vectors):
        return self.out.bias.expand(vectors.shape[0], -1)


def head_that_reads_nothing(form, hidden_size, num_labels):
    if form in ("sentence", "pair"):
        return _Constant(hidden_size, num_labels)
    return head_reading()(form, hidden_size, num_labels)


class _TwoLayers(torch.nn.Module):
    def __init__(self, hidden_size, num_labels):
        super().__init__()
        self.dense, self.out = torch.nn.Linear(hidden_size, hidden_size), torch.nn.Linear(hidden_size, num_labels)

    def forward(self, vectors):
        return self.out(torch.tanh(self.dense(vectors[:, 0])))


def head_with_a_hidden_layer(form, hidden_size, num_labels):
    if form in ("sentence", "pair"):
        return _TwoLayers(hidden_size, num_labels)
    if form == "tokens":
        return torch.nn.Sequential(torch.nn.Linear(hidden_size, hidden_size), torch.nn.GELU(),
                                   torch.nn.Linear(hidden_size, num_labels))
    raise ValueError("form must be one of 'sentence', 'pair', 'tokens'")


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
    ("04.align_labels", align_every_piece, "only a word's first piece carries its label"),
    ("04.align_labels", align_last_piece, "first piece of word"),
    ("04.align_labels", align_words_only, "one label per token"),
    ("04.align_labels", align_zero_for_specials, "special token or padding"),
    ("04.align_labels", align_as_floats, "returned -100.0 (float) among the labels"),
    ("04.align_labels", align_as_a_float_array, "whole numbers (int)"),
    ("04.align_labels", align_replacing_none_in_word_ids, "changed its input `word_ids` in place"),
    ("04.align_labels", align_by_previous_label, "it is the first piece of word 1"),
    ("04.align_labels", align_as_a_generator, "got a generator"),
    ("04.segments", pair_all_zero, "the second sentence and its [SEP] are in segment 1"),
    ("04.segments", pair_sep_in_second_segment, "the first [SEP] closes the first sentence, so it is in segment 0"),
    ("04.segments", pair_last_sep_in_first_segment, "the last [SEP] closes the second sentence"),
    ("04.segments", pair_with_one_sep, "It has 1 [SEP] where the layout has 2"),
    ("04.segments", pair_without_cls, "It has 0 [CLS] where the layout has 1"),
    ("04.segments", pair_segments_as_booleans, "the segment ids hold False (bool)"),
    ("04.segments", pair_segments_as_floats, "the segment ids hold 0.0 (float)"),
    ("04.segments", pair_segments_one_and_two, "0 for [CLS], the first sentence and its [SEP]"),
    ("04.segments", pair_built_in_the_callers_lists, "changed its input `first` in place (its length went from 5 to 7)"),
    ("04.segments", pair_as_one_string, "should return two lists"),
    ("04.segments", pair_with_a_length_limit, "keep the arguments of the def line"),
    ("04.segments", pair_of_pieces_that_equal_anything, "every piece kept as it is"),
    ("04.task_head", head_mean_for_tokens, "one score per class for each example"),
    ("04.task_head", head_mean_pooled, "read the [CLS] vector"),
    ("04.task_head", head_mixing_positions, "changed the scores at other positions"),
    ("04.task_head", head_no_error, "should raise a ValueError"),
    ("04.task_head", head_reading(position=-1), "the vectors at position 6"),
    ("04.task_head", head_reading(position=1), "the vectors at position 1"),
    ("04.task_head", head_reading(end="softmax"), "the head ends in softmax"),
    ("04.task_head", head_reading(end="sigmoid"), "the head ends in a sigmoid"),
    ("04.task_head", head_reading(end="relu"), "the head ends in a ReLU"),
    ("04.task_head", head_made_once_and_shared, "share their parameters"),
    ("04.task_head", head_that_reads_nothing, "the scores do not change when the [CLS] vector (position 0) does"),
    ("04.task_head", head_with_a_vague_error, "does not name the forms it knows"),
    ("04.task_head", head_from_a_dict, "raised KeyError; raise a ValueError"),
    ("04.task_head", head_returning_none_for_other_forms, "returned None"),
    ("04.task_head", head_with_an_assert, "raised AssertionError; raise a ValueError"),
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
    ("04.align_labels", align_as_a_tensor),
    ("04.align_labels", align_with_numpy_integers),
    ("04.align_labels", align_with_a_set_of_seen_words),
    ("04.segments", pair_segments_as_a_tensor),
    ("04.segments", pair_as_tuples),
    ("04.task_head", head_reading(end="log_softmax")),
    ("04.task_head", head_with_a_hidden_layer),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG,
                         ids=wrong_answer_ids(WRONG))
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[f"{i}-{getattr(r, '__name__', r)}" for i, r in RIGHT])
def test_a_right_answer_written_another_way_passes(exercise_id, right):
    # predict_passing_the_whole_batch: the classifier takes token_type_ids too, so model(**batch) is an answer.
    assert_passes(exercise_id, right)


def test_the_pair_layout_the_segments_check_expects_is_the_tokenizers():
    from grading.lesson01 import toy_tokenizer
    from grading.lesson04 import _reference_pair

    tokenizer = toy_tokenizer(True)
    encoded = tokenizer("w1 w2 w3", "w4 w5")
    assert (tokenizer.convert_ids_to_tokens(encoded["input_ids"]), encoded["token_type_ids"]) == \
        _reference_pair(["w1", "w2", "w3"], ["w4", "w5"])
