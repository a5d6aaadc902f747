"""The checks of lesson 05 (grading/lesson05.py) turn down the usual wrong answers with a message that says what
is wrong, while right answers written another way than the solution pass; the span check's own reference is the
course's decoding, utils.task_forms.best_span. What every lesson's checks share is tested in
tests/test_grading_lessons.py."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from grading import core, lesson05
from grading_answers import assert_passes, assert_turned_down, lesson_answer, wrong_answer_ids
from utils import task_forms

LESSON_05 = [ex.id for ex in core.exercises() if ex.id.startswith("05.")]


def test_lesson_05_has_the_task_forms_exercises_in_the_order_of_the_lesson():
    assert LESSON_05 == ["05.segments", "05.align_labels", "05.question_vector", "05.best_span", "05.task_head"]
    assert not [ex.id for ex in core.exercises() if ex.id.split(".")[1] in ("segments", "align_labels", "task_head")
                and not ex.id.startswith("05.")], "the task-form exercises live in lesson 05 only"


@pytest.mark.parametrize("exercise_id", LESSON_05)
def test_the_solution_notebooks_answer_passes(exercise_id):
    assert_passes(exercise_id, lesson_answer(exercise_id))


@pytest.mark.parametrize("where, start, end, allowed, limit", list(lesson05._span_cases()),
                         ids=[case[0] for case in lesson05._span_cases()])
def test_the_span_checks_reference_is_the_courses_decoding(where, start, end, allowed, limit):
    assert lesson05._reference_span(start, end, allowed, limit) == task_forms.best_span(start, end, allowed, limit)


def test_the_span_checks_reference_agrees_with_the_course_on_random_float_scores_too():
    rng = random.Random(0)
    for _ in range(200):
        allowed = lesson05._row(rng.randint(1, 5), rng.randint(0, 12), rng.randint(0, 3))
        start, end = ([rng.gauss(0, 2) for _ in allowed] for _ in range(2))
        limit = rng.randint(1, 8)
        assert lesson05._reference_span(start, end, allowed, limit) == task_forms.best_span(start, end, allowed, limit)


def test_the_span_cases_hold_a_row_without_answer_ties_and_a_best_span_at_the_length_limit():
    cases = list(lesson05._span_cases())
    spans = [(lesson05._reference_span(s, e, a, n), s, e, a, n) for _, s, e, a, n in cases]
    assert sum(span is None for span, *_ in spans) >= 2
    assert any(span and span[1] - span[0] + 1 == n for span, _, _, _, n in spans)
    scores = [[s[i] + e[j] for i in range(len(a)) for j in range(i, min(len(a), i + n)) if a[i] and a[j]]
              for span, s, e, a, n in spans if span]
    assert sum(values.count(max(values)) > 1 for values in scores) >= 3, "ties for the best score"


def test_the_pair_layout_the_segments_check_expects_is_the_tokenizers():
    from grading.lesson01 import toy_tokenizer

    tokenizer = toy_tokenizer(True)
    encoded = tokenizer("w1 w2 w3", "w4 w5")
    assert (tokenizer.convert_ids_to_tokens(encoded["input_ids"]), encoded["token_type_ids"]) == \
        lesson05._reference_pair(["w1", "w2", "w3"], ["w4", "w5"])


# ---------------------------------------------------------------------------------------------------
# Typical wrong answers, each with a word of its message
# ---------------------------------------------------------------------------------------------------

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


def _spans(start_scores, end_scores, allowed, max_answer_tokens, *, check_start=True, check_end=True, extra=0):
    """Every span the loops of a student's answer would try: (score, start, end), in order of start then end."""
    n = len(start_scores)
    for s in range(n):
        for e in range(s, min(n, s + max_answer_tokens + extra)):
            if (allowed[s] or not check_start) and (allowed[e] or not check_end):
                yield float(start_scores[s]) + float(end_scores[e]), s, e


def _first_best(spans, *, keep_ties_late=False, start_from=float("-inf")):
    best, best_score = None, start_from
    for score, s, e in spans:
        if score > best_score or (keep_ties_late and score == best_score):
            best, best_score = (s, e), score
    return best


def span_right(start_scores, end_scores, allowed, max_answer_tokens):
    return _first_best(_spans(start_scores, end_scores, allowed, max_answer_tokens))


def span_from_two_argmaxes(start_scores, end_scores, allowed, max_answer_tokens):
    return int(start_scores.argmax()), int(end_scores.argmax())


def span_from_two_argmaxes_in_the_passage(start_scores, end_scores, allowed, max_answer_tokens):
    outside = ~torch.tensor(allowed, dtype=torch.bool)
    if not bool((~outside).any()):
        return None
    return (int(start_scores.masked_fill(outside, float("-inf")).argmax()),
            int(end_scores.masked_fill(outside, float("-inf")).argmax()))


def span_ignoring_allowed(start_scores, end_scores, allowed, max_answer_tokens):
    return _first_best(_spans(start_scores, end_scores, allowed, max_answer_tokens, check_start=False,
                              check_end=False))


def span_checking_only_the_start(start_scores, end_scores, allowed, max_answer_tokens):
    return _first_best(_spans(start_scores, end_scores, allowed, max_answer_tokens, check_end=False))


def span_without_a_length_limit(start_scores, end_scores, allowed, max_answer_tokens):
    return _first_best(_spans(start_scores, end_scores, allowed, len(allowed)))


def span_one_token_too_long(start_scores, end_scores, allowed, max_answer_tokens):
    return _first_best(_spans(start_scores, end_scores, allowed, max_answer_tokens, extra=1))


def span_one_token_too_short(start_scores, end_scores, allowed, max_answer_tokens):
    return _first_best(_spans(start_scores, end_scores, allowed, max_answer_tokens, extra=-1))


def span_zero_zero_for_no_answer(start_scores, end_scores, allowed, max_answer_tokens):
    return span_right(start_scores, end_scores, allowed, max_answer_tokens) or (0, 0)


def span_raising_when_nothing_is_valid(start_scores, end_scores, allowed, max_answer_tokens):
    _, s, e = max(_spans(start_scores, end_scores, allowed, max_answer_tokens), key=lambda span: span[0])
    return s, e


def span_from_a_best_score_of_zero(start_scores, end_scores, allowed, max_answer_tokens):
    return _first_best(_spans(start_scores, end_scores, allowed, max_answer_tokens), start_from=0.0)


def span_keeping_the_last_of_a_tie(start_scores, end_scores, allowed, max_answer_tokens):
    return _first_best(_spans(start_scores, end_scores, allowed, max_answer_tokens), keep_ties_late=True)


def span_of_tensors(start_scores, end_scores, allowed, max_answer_tokens):
    best = span_right(start_scores, end_scores, allowed, max_answer_tokens)
    return None if best is None else (torch.tensor(best[0]), torch.tensor(best[1]))


def span_of_numpy_integers(start_scores, end_scores, allowed, max_answer_tokens):
    best = span_right(start_scores, end_scores, allowed, max_answer_tokens)
    return None if best is None else tuple(np.array(best))


def span_as_one_tensor(start_scores, end_scores, allowed, max_answer_tokens):
    best = span_right(start_scores, end_scores, allowed, max_answer_tokens)
    return None if best is None else torch.tensor(best)


def span_ending_past_its_last_token(start_scores, end_scores, allowed, max_answer_tokens):
    best = span_right(start_scores, end_scores, allowed, max_answer_tokens)
    return None if best is None else (best[0], best[1] + 1)


def span_masking_the_scores_in_place(start_scores, end_scores, allowed, max_answer_tokens):
    outside = ~torch.tensor(allowed, dtype=torch.bool)
    start_scores[outside] = float("-inf")
    end_scores[outside] = float("-inf")
    return span_right(start_scores, end_scores, [True] * len(allowed), max_answer_tokens)


def span_from_the_course(start_scores, end_scores, allowed, max_answer_tokens):
    return task_forms.best_span(start_scores, end_scores, allowed, max_answer_tokens)


def span_by_a_score_matrix(start_scores, end_scores, allowed, max_answer_tokens):
    n = len(allowed)
    inside = torch.tensor(allowed, dtype=torch.bool)
    first, last = torch.arange(n)[:, None], torch.arange(n)[None, :]
    valid = (first <= last) & (last - first < max_answer_tokens) & inside[:, None] & inside[None, :]
    if not valid.any():
        return None
    scores = (start_scores[:, None] + end_scores[None, :]).masked_fill(~valid, float("-inf"))
    best = int(scores.flatten().argmax())
    return best // n, best % n


def span_looping_over_ends_first(start_scores, end_scores, allowed, max_answer_tokens):
    best, best_score = None, float("-inf")
    for e in range(len(allowed)):
        for s in range(max(0, e - max_answer_tokens + 1), e + 1):
            if allowed[s] and allowed[e] and float(start_scores[s] + end_scores[e]) > best_score:
                best, best_score = (s, e), float(start_scores[s] + end_scores[e])
    return best


def span_from_sorted_candidates(start_scores, end_scores, allowed, max_answer_tokens):
    spans = sorted(_spans(start_scores, end_scores, allowed, max_answer_tokens), key=lambda c: (-c[0], c[1], c[2]))
    return tuple(spans[0][1:]) if spans else None


def span_as_a_list(start_scores, end_scores, allowed, max_answer_tokens):
    best = span_right(start_scores, end_scores, allowed, max_answer_tokens)
    return None if best is None else list(best)


def span_reading_lists(start_scores, end_scores, allowed, max_answer_tokens):
    return span_right(start_scores.tolist(), end_scores.tolist(), list(allowed), max_answer_tokens)


WRONG = [
    ("05.segments", pair_all_zero, "the second sentence and its [SEP] are in segment 1"),
    ("05.segments", pair_sep_in_second_segment, "the first [SEP] closes the first sentence, so it is in segment 0"),
    ("05.segments", pair_last_sep_in_first_segment, "the last [SEP] closes the second sentence"),
    ("05.segments", pair_with_one_sep, "It has 1 [SEP] where the layout has 2"),
    ("05.segments", pair_without_cls, "It has 0 [CLS] where the layout has 1"),
    ("05.segments", pair_segments_as_booleans, "the segment ids hold False (bool)"),
    ("05.segments", pair_segments_as_floats, "the segment ids hold 0.0 (float)"),
    ("05.segments", pair_segments_one_and_two, "0 for [CLS], the first sentence and its [SEP]"),
    ("05.segments", pair_built_in_the_callers_lists, "changed its input `first` in place (its length went from 5 to 7)"),
    ("05.segments", pair_as_one_string, "should return two lists"),
    ("05.segments", pair_with_a_length_limit, "keep the arguments of the def line"),
    ("05.segments", pair_of_pieces_that_equal_anything, "every piece kept as it is"),
    ("05.align_labels", align_every_piece, "only a word's first piece carries its label"),
    ("05.align_labels", align_last_piece, "first piece of word"),
    ("05.align_labels", align_words_only, "one label per token"),
    ("05.align_labels", align_zero_for_specials, "special token or padding"),
    ("05.align_labels", align_as_floats, "returned -100.0 (float) among the labels"),
    ("05.align_labels", align_as_a_float_array, "whole numbers (int)"),
    ("05.align_labels", align_replacing_none_in_word_ids, "changed its input `word_ids` in place"),
    ("05.align_labels", align_by_previous_label, "it is the first piece of word 1"),
    ("05.align_labels", align_as_a_generator, "got a generator"),
    ("05.question_vector", "a", "the same question about two reviews has two answers"),
    ("05.question_vector", "c", "no encoder, however large"),
    ("05.question_vector", "d", "each new review brings answers that no class names"),
    ("05.best_span", span_from_two_argmaxes, "the span ends before it starts"),
    ("05.best_span", span_from_two_argmaxes_in_the_passage, "Taking the best start and the best end separately"),
    ("05.best_span", span_ignoring_allowed, "starts at position 0, where allowed is False"),
    ("05.best_span", span_checking_only_the_start, "ends at position 13, where allowed is False"),
    ("05.best_span", span_without_a_length_limit, "a span of 7 tokens, more than max_answer_tokens=3"),
    ("05.best_span", span_one_token_too_long, "a span of 5 tokens, one more than max_answer_tokens=4"),
    ("05.best_span", span_one_token_too_short, "exactly max_answer_tokens=3 tokens"),
    ("05.best_span", span_zero_zero_for_no_answer, "(0, 0) would point at [CLS]"),
    ("05.best_span", span_raising_when_nothing_is_valid, "raised ValueError"),
    ("05.best_span", span_from_a_best_score_of_zero, "a best score that starts at 0 is never beaten"),
    ("05.best_span", span_keeping_the_last_of_a_tie, "ties go to the earliest start, then the earliest end: (6, 7)"),
    ("05.best_span", span_of_tensors, "the start came back as a tensor"),
    ("05.best_span", span_of_numpy_integers, "the start came back as a NumPy int64"),
    ("05.best_span", span_as_one_tensor, "should return a pair (start, end) of token positions, or None"),
    ("05.best_span", span_ending_past_its_last_token, "one token past the best valid span, (7, 9)"),
    ("05.best_span", span_masking_the_scores_in_place, "changed its input `start_scores` in place"),
    ("05.best_span", span_from_the_course, "imported from utils.task_forms, not written"),
    ("05.task_head", head_mean_for_tokens, "one score per class for each example"),
    ("05.task_head", head_mean_pooled, "read the [CLS] vector"),
    ("05.task_head", head_mixing_positions, "changed the scores at other positions"),
    ("05.task_head", head_no_error, "should raise a ValueError"),
    ("05.task_head", head_reading(position=-1), "the vectors at position 6"),
    ("05.task_head", head_reading(position=1), "the vectors at position 1"),
    ("05.task_head", head_reading(end="softmax"), "the head ends in softmax"),
    ("05.task_head", head_reading(end="sigmoid"), "the head ends in a sigmoid"),
    ("05.task_head", head_reading(end="relu"), "the head ends in a ReLU"),
    ("05.task_head", head_made_once_and_shared, "share their parameters"),
    ("05.task_head", head_that_reads_nothing, "the scores do not change when the [CLS] vector (position 0) does"),
    ("05.task_head", head_with_a_vague_error, "does not name the forms it knows"),
    ("05.task_head", head_from_a_dict, "raised KeyError; raise a ValueError"),
    ("05.task_head", head_returning_none_for_other_forms, "returned None"),
    ("05.task_head", head_with_an_assert, "raised AssertionError; raise a ValueError"),
]

RIGHT = [
    ("05.segments", pair_segments_as_a_tensor),
    ("05.segments", pair_as_tuples),
    ("05.align_labels", align_as_a_tensor),
    ("05.align_labels", align_with_numpy_integers),
    ("05.align_labels", align_with_a_set_of_seen_words),
    ("05.best_span", span_right),
    ("05.best_span", span_by_a_score_matrix),
    ("05.best_span", span_looping_over_ends_first),
    ("05.best_span", span_from_sorted_candidates),
    ("05.best_span", span_as_a_list),
    ("05.best_span", span_reading_lists),
    ("05.task_head", head_reading(end="log_softmax")),
    ("05.task_head", head_with_a_hidden_layer),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG, ids=wrong_answer_ids(WRONG))
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[f"{i}-{getattr(r, '__name__', r)}" for i, r in RIGHT])
def test_a_right_answer_written_another_way_passes(exercise_id, right):
    assert_passes(exercise_id, right)
