"""Checks for lesson 05's exercises (exercises/05_task_forms_exercises.ipynb): the input of a sentence pair,
word labels aligned to WordPiece pieces, what a question-answering system needs beyond a vector of the
question, the best valid span of a passage as the answer, and the head each form of task asks for.

The checks build their inputs by hand (pieces, word ids, scores, random token vectors; a second at most), so
they need no checkpoint and no tokenizer.
"""

from __future__ import annotations

from .core import Incorrect, call_unchanged, case, exercise, label_list, what_came_back
from .questions import single_choice

# ---------------------------------------------------------------------------------------------------
# 05.segments
# ---------------------------------------------------------------------------------------------------

def _segment_cases():
    # (where, first sentence's pieces, second sentence's pieces): the layout does not depend on the words.
    yield "two short sentences", ["the", "plot", "was", "great", "."], ["a", "dull", "film", "."]
    yield "a one-piece second sentence", ["i", "loved", "it"], ["no"]
    yield "a one-piece first sentence", ["why"], ["the", "battery", "died", "after", "an", "hour", "."]
    yield "a word cut into pieces", ["the", "acting", "was", "sub", "##erb"], ["the", "screen", "is", "delight", "##ful"]
    yield "two sentences of the same length", ["w1", "w2", "w3"], ["w4", "w5", "w6"]


def _reference_pair(first, second):
    tokens = ["[CLS]", *first, "[SEP]", *second, "[SEP]"]
    return tokens, [0] * (len(first) + 2) + [1] * (len(second) + 1)


@exercise("05.segments", points=2, answer="pair_input", hints=[
    "The layout is [CLS], the first sentence's pieces, [SEP], the second's, [SEP]: three special tokens around the "
    "two sentences.",
    "Segment 0 is [CLS], the first sentence and the [SEP] after it; segment 1 is the second sentence and the last "
    "[SEP]. Count them from the lengths of the two lists.",
    "Return two lists of the same length: the tokens (strings) and the segment ids (the integers 0 and 1). Build new "
    "lists: first.append(...) would change the caller's list.",
])
def check_pair_input(pair_input):
    import numbers

    for where, first, second in _segment_cases():
        tokens, segments = _reference_pair(first, second)
        got = call_unchanged(pair_input, "pair_input", where, {"first": list(first), "second": list(second)})
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Incorrect(f"pair_input should return a pair (tokens, token_type_ids); on {where} it returned "
                            f"{what_came_back(got)}.")
        got_tokens, got_types = (x.tolist() if hasattr(x, "tolist") else x for x in got)
        if not isinstance(got_tokens, (list, tuple)) or not isinstance(got_types, (list, tuple)):
            raise Incorrect(f"On {where}, pair_input should return two lists, tokens and token_type_ids; got "
                            f"{what_came_back(got_tokens)} and {what_came_back(got_types)}.")
        got_tokens, got_types = list(got_tokens), list(got_types)
        if got_tokens and all(isinstance(t, numbers.Integral) for t in got_tokens):
            raise Incorrect(f"On {where}, the tokens came back as numbers; return the pieces themselves, as strings "
                            f"([CLS], the pieces of first, [SEP], ...): the exercise works on pieces, not ids.")
        odd = next((t for t in got_tokens if not isinstance(t, str)), None)
        if odd is not None:
            raise Incorrect(f"On {where}, the tokens hold {odd!r} ({type(odd).__name__}); every token is a piece, a "
                            f"string such as '[CLS]' or 'the'.")
        got_tokens = [str.__str__(t) for t in got_tokens]  # the plain text, whatever str subclass carried it
        if len(got_tokens) != len(got_types):
            raise Incorrect(f"On {where}, {len(got_tokens)} tokens came back with {len(got_types)} segment ids: give one "
                            f"segment id per token.")
        if got_tokens != tokens:
            missing = [t for t in ("[CLS]", "[SEP]") if tokens.count(t) != got_tokens.count(t)]
            say = (f" It has {got_tokens.count(missing[0])} {missing[0]} where the layout has "
                   f"{tokens.count(missing[0])}." if missing else "")
            raise Incorrect(f"On {where} ({first} + {second}) the tokens should be laid out as [CLS] first [SEP] "
                            f"second [SEP], every piece kept as it is; they came back as {got_tokens}.{say}")
        odd = next((t for t in got_types if isinstance(t, bool) or not isinstance(t, numbers.Integral)), None)
        if odd is not None:
            raise Incorrect(f"On {where}, the segment ids hold {odd!r} ({type(odd).__name__}); they are row numbers of "
                            f"the segment embedding table, the integers 0 and 1.")
        got_types = [int(t) for t in got_types]
        if got_types != segments:
            first_sep = len(first) + 1
            if got_types[first_sep] != 0 and got_types[:first_sep] == segments[:first_sep]:
                why = "the first [SEP] closes the first sentence, so it is in segment 0"
            elif got_types[-1] != 1 and got_types[:-1] == segments[:-1]:
                why = "the last [SEP] closes the second sentence, so it is in segment 1"
            elif set(got_types) <= {0}:
                why = "the second sentence and its [SEP] are in segment 1, not 0"
            else:
                why = "0 for [CLS], the first sentence and its [SEP]; 1 for the second sentence and the last [SEP]"
            raise Incorrect(f"On {where}, the tokens are right but the segment ids {list(got_types)} are not: {why}.")


# ---------------------------------------------------------------------------------------------------
# 05.align_labels
# ---------------------------------------------------------------------------------------------------

IGNORE = -100


def _alignment_cases():
    # (where, word_ids as encoding.word_ids() gives them, one label per word)
    yield "one piece per word", [None, 0, 1, 2, None], [0, 3, 1]
    yield "a word cut into four pieces", [None, 0, 1, 1, 1, 1, 2, None], [0, 2, 0]
    yield "two long words next to each other", [None, 0, 0, 1, 1, 1, None], [1, 2]
    yield "a padded row (None after the last [SEP])", [None, 0, 1, 1, 2, None, None, None], [3, 0, 1]
    yield "a one-word sentence", [None, 0, None], [2]
    yield "a sentence cut at the length limit (the last words have no token)", [None, 0, 1, 1, 2, None], [1, 0, 2, 3, 3]
    yield "the same label on neighbouring words", [None, 0, 1, 1, 2, 2, None], [1, 1, 1]


def _reference_alignment(word_ids, word_labels):
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORE if word is None or word == previous else word_labels[word])
        previous = word
    return labels


@exercise("05.align_labels", points=3, answer="align_labels", hints=[
    "Walk through word_ids once, remembering the word id of the token before.",
    "None (a special token or padding) gets -100. A token whose word id is the same as the previous token's is a "
    "later piece of the same word: -100. Otherwise it is a word's first piece: the word's label.",
    "Return a list as long as word_ids, of plain integers.",
])
def check_align_labels(align_labels):
    for where, word_ids, word_labels in _alignment_cases():
        expected = _reference_alignment(word_ids, word_labels)
        got = call_unchanged(align_labels, "align_labels", where,
                             {"word_ids": list(word_ids), "word_labels": list(word_labels)})
        got = label_list(got, "align_labels", where, what="Labels are class ids, whole numbers (int): the loss reads "
                         "a float tensor of targets as probabilities, not as classes.")
        if len(got) != len(word_ids):
            raise Incorrect(f"On {where}, word_ids has {len(word_ids)} tokens but {len(got)} labels came back: give one "
                            f"label per token, -100 included.")
        if got == expected:
            continue
        first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        word = word_ids[first]
        if word is None:
            why = "a special token or padding (word id None) gets -100"
        elif first > 0 and word_ids[first - 1] == word:
            why = f"it is a later piece of word {word}, which gets -100: only a word's first piece carries its label"
        else:
            why = f"it is the first piece of word {word}, which carries that word's label, {word_labels[word]}"
        raise Incorrect(f"On {where} (word_ids {word_ids}, word labels {word_labels}), token {first} got {got[first]!r} "
                        f"instead of {expected[first]}: {why}.")


# ---------------------------------------------------------------------------------------------------
# 05.question_vector
# ---------------------------------------------------------------------------------------------------

single_choice("05.question_vector", points=1, answer="answer_05_question_vector", options="abcd",
    key="d9d1bb94634d3f65",
    hints=[
        "Ask the same question about two different reviews: does the answer change, and does the question's "
        "vector?",
        "Lesson 05's section on the span of a passage: what does the question-answering model read, what does its "
        "head give at every position, and what was it trained on?",
    ],
    feedback={
        "e7076b573651c214": "the same question about two reviews has two answers (the battery lasts an hour in one, "
                            "two days in the other), while the question's vector is the same both times: the "
                            "answer has to be read in the review the question is about.",
        "789a6d9b6f834d45": "no encoder, however large, can put into the question's vector what a review it never "
                            "read says: the answer is in the passage, so the passage has to be part of the input.",
        "15e76b72cea4e347": "the answers are phrases of reviews the classifier never reads, and each new review "
                            "brings answers that no class names: the answer is picked in the passage itself, by a "
                            "start and an end score at each of its tokens.",
    })


# ---------------------------------------------------------------------------------------------------
# 05.best_span
# ---------------------------------------------------------------------------------------------------

def _row(question: int, passage: int, padding: int = 0) -> list[bool]:
    """``allowed`` for ``[CLS] question [SEP] passage [SEP]`` and padding: True on the passage's tokens only."""
    return [False] * (question + 2) + [True] * passage + [False] * (1 + padding)


def _scores(size: int, base: float, peaks: dict) -> list[float]:
    return [peaks.get(i, base) for i in range(size)]


def _span_cases():
    """(where, start scores, end scores, allowed, max_answer_tokens). Every score is a multiple of 1/4, so that
    sums are exact in float32 as in float64 and a tie is a tie in any precision."""
    import random

    # [CLS] q q q [SEP] p p p p p p p p [SEP] [PAD] [PAD]: the passage is positions 5 to 12.
    row = _row(3, 8, 2)
    n = len(row)
    yield ("a question about a passage of 8 tokens",
           _scores(n, 0.0, {7: 3.0, 10: 1.0}), _scores(n, 0.0, {9: 2.5, 6: 1.0}), row, 5)
    yield ("scores whose best start (position 10) comes after their best end (position 6)",
           _scores(n, 0.0, {10: 4.0, 6: 1.0, 8: 2.0}), _scores(n, 0.0, {6: 4.0, 11: 1.5, 12: 0.5}), row, 8)
    yield ("scores that are highest on [CLS], on the question's tokens and on the last [SEP]",
           _scores(n, -1.0, {0: 6.0, 2: 5.0, 8: 1.0}), _scores(n, -1.0, {0: 6.0, 3: 5.0, 9: 1.5, 11: 0.5, 13: 5.5}),
           row, 8)
    yield ("a best-scoring stretch of 7 tokens with max_answer_tokens=3",
           _scores(n, 0.0, {5: 5.0, 9: 2.0}), _scores(n, 0.0, {11: 5.0, 10: 2.5}), row, 3)
    # (6, 9) has 4 tokens, exactly the limit; (6, 10), one token longer, scores more but is too long.
    yield ("a best valid span exactly max_answer_tokens=4 tokens long",
           _scores(n, 0.0, {6: 3.0}), _scores(n, 0.0, {9: 3.0, 10: 4.0, 7: 1.0}), row, 4)
    yield ("max_answer_tokens=1 (one-token answers only)",
           _scores(n, 0.0, {6: 3.0, 9: 2.0}), _scores(n, 0.0, {8: 3.0, 9: 2.0}), row, 1)
    yield ("a passage cut off by truncation (allowed is False everywhere)",
           _scores(n, 0.0, {6: 3.0}), _scores(n, 0.0, {8: 3.0}), [False] * n, 5)
    yield ("scores that are all negative",
           _scores(n, -9.0, {8: -2.0, 11: -4.0}), _scores(n, -8.0, {10: -3.0, 12: -1.5}), row, 5)
    # (6, 7) and (9, 10) both score 5; (6, 10) would score 5 too but has 5 tokens, more than 3.
    yield ("two spans that tie for the best score, (6, 7) and (9, 10)",
           _scores(n, 0.0, {6: 2.0, 9: 3.0}), _scores(n, 0.0, {7: 3.0, 10: 2.0}), row, 3)
    yield ("two spans from the same start that tie, (8, 9) and (8, 11)",
           _scores(n, 0.0, {8: 2.0}), _scores(n, 0.0, {9: 2.0, 11: 2.0}), row, 6)
    yield "scores that are all equal", [1.0] * n, [1.0] * n, row, 5
    single = _row(4, 1, 3)
    yield ("a passage of a single token", _scores(len(single), 0.0, {0: 5.0, 6: 1.0}),
           _scores(len(single), 0.0, {0: 5.0, 3: 2.0}), single, 5)
    yield ("a row where every token is allowed",
           _scores(9, 0.0, {2: 1.0, 5: 2.0}), _scores(9, 0.0, {1: 3.0, 6: 1.0}), [True] * 9, 4)
    rng = random.Random(5)
    for k in range(24):
        passage, limit = rng.randint(0 if k % 6 == 5 else 1, 14), rng.randint(1, 6)
        allowed = _row(rng.randint(1, 6), passage, rng.randint(0, 4))
        start, end = ([rng.randint(-24, 24) / 4 for _ in allowed] for _ in range(2))
        where = f"random scores, row {k + 1} of 24 ({len(allowed)} tokens, max_answer_tokens={limit})"
        yield where, start, end, allowed, limit


def _reference_span(start, end, allowed, limit):
    """The valid span with the highest start + end score, the first found in order of start then end; None when
    there is none."""
    best, best_score = None, None
    for s in range(len(start)):
        for e in range(s, min(len(end), s + limit)):
            if allowed[s] and allowed[e] and (best_score is None or start[s] + end[e] > best_score):
                best, best_score = (s, e), start[s] + end[e]
    return best


def _position(value, which: str, where: str) -> int:
    """``value`` as a position, or :class:`Incorrect` unless it is a Python int."""
    import numbers

    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    module = type(value).__module__.split(".")[0]
    if module in ("torch", "numpy"):
        kind = "a tensor" if module == "torch" else f"a NumPy {type(value).__name__}"
        raise Incorrect(f"On {where}, the {which} came back as {kind} ({value!r}); return Python ints: int(...) of "
                        f"each position (argmax gives a tensor), so that the caller gets plain token positions to "
                        f"slice, compare and print.")
    got = f"{value!r} ({type(value).__name__})" if isinstance(value, numbers.Number) else what_came_back(value)
    raise Incorrect(f"On {where}, the {which} came back as {got}; a position is a whole number, a Python int.")


@exercise("05.best_span", points=3, answer="best_valid_span", hints=[
    "Try every pair of positions (start, end) with start <= end: two nested loops, the inner one starting at "
    "start. A pair is a valid span when allowed is True at both positions and it has end - start + 1 tokens, "
    "at most max_answer_tokens.",
    "Score a valid span by start_scores[start] + end_scores[end] and keep the best so far, starting from None and a "
    "best score of float('-inf'). Replace it only on a strictly higher score (>, not >=): with starts and ends in "
    "increasing order, ties then go to the earliest start, then the earliest end.",
    "Return (start, end) as two Python ints (int(...) of a tensor position), or None when no span was valid: never "
    "(0, 0), which would point at [CLS].",
])
def check_best_span(best_valid_span):
    import torch

    for where, start, end, allowed, limit in _span_cases():
        expected = _reference_span(start, end, allowed, limit)
        inputs = {"start_scores": torch.tensor(start), "end_scores": torch.tensor(end), "allowed": list(allowed),
                  "max_answer_tokens": limit}
        if expected is None:
            try:
                got = call_unchanged(best_valid_span, "best_valid_span", where, inputs)
            except Incorrect:
                raise
            except Exception as error:  # noqa: BLE001 (whatever it raised, the case asks for None)
                raise Incorrect(f"On {where}, best_valid_span raised {type(error).__name__} ({str(error)[:80]}). No "
                                f"span is valid there, and that is an answer, not an error: return None (no answer). "
                                f"max() of an empty list or argmax over nothing raises, so handle that case "
                                f"first.") from None
            if got is not None:
                cls = " (0, 0) would point at [CLS], a token that is no answer." if _pair_of(got) == (0, 0) else ""
                raise Incorrect(f"On {where}, no span is valid, yet best_valid_span returned "
                                f"{_show(got)}: return None (no answer) when allowed holds no valid span.{cls}")
            continue
        got = call_unchanged(best_valid_span, "best_valid_span", where, inputs)
        best = start[expected[0]] + end[expected[1]]
        if got is None:
            below = (" Here every sum of scores is negative: a best score that starts at 0 is never beaten."
                     if best < 0 else "")
            raise Incorrect(f"On {where}, best_valid_span returned None, yet valid spans exist: {expected} scores "
                            f"{best:g}. Keep the best span so far, starting from a best score of float('-inf'), so "
                            f"that any valid span beats it.{below}")
        if isinstance(got, torch.Tensor) or not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Incorrect(f"On {where}, best_valid_span should return a pair (start, end) of token positions, or "
                            f"None; it returned {_show(got)}.")
        s, e = (_position(value, which, where) for value, which in zip(got, ("start", "end")))
        _check_valid(s, e, allowed, limit, where)
        if (s, e) == expected:
            continue
        score = start[s] + end[e]
        if score == best:
            raise Incorrect(f"On {where}, ({s}, {e}) and {expected} tie for the best score, {best:g}; ties go to the "
                            f"earliest start, then the earliest end: {expected}. Try starts and ends in increasing "
                            f"order and replace the best span only on a strictly higher sum of scores (>, not >=).")
        if (s, e) == (expected[0], expected[1] + 1):
            raise Incorrect(f"On {where}, best_valid_span returned ({s}, {e}), one token past the best valid span, "
                            f"{expected}: end is the position of the answer's last token, inside the span (a Python "
                            f"slice of it would stop at end + 1). Return that last position itself.")
        shorter = _reference_span(start, end, allowed, limit - 1) if limit > 1 else None
        if expected[1] - expected[0] + 1 == limit and shorter == (s, e):
            raise Incorrect(f"On {where}, the best valid span is {expected}, which has exactly "
                            f"max_answer_tokens={limit} tokens; ({s}, {e}) is the best of the shorter ones. A span "
                            f"from start to end has "
                            f"end - start + 1 tokens, and up to max_answer_tokens of them are allowed.")
        raise Incorrect(f"On {where}, best_valid_span returned ({s}, {e}), which scores {score:g} "
                        f"(start_scores[{s}] + end_scores[{e}]), but {expected} is valid too and scores {best:g}: "
                        f"return the valid span with the highest sum of its start and end scores.")


def _pair_of(value):
    try:
        return tuple(int(x) for x in value) if len(value) == 2 else None
    except Exception:  # noqa: BLE001 (anything that is not a pair of numbers)
        return None


def _show(value) -> str:
    if isinstance(value, tuple) and all(isinstance(x, int) for x in value):
        return repr(value)
    return f"{value!r:.60}" if isinstance(value, (tuple, list)) else what_came_back(value)


def _check_valid(s: int, e: int, allowed, limit: int, where: str) -> None:
    """:class:`Incorrect` saying why (s, e) is not a valid span: outside the row, backwards, outside the
    passage, or too long."""
    n = len(allowed)
    outside = next((p for p in (s, e) if not 0 <= p < n), None)
    if outside is not None:
        raise Incorrect(f"On {where}, best_valid_span returned ({s}, {e}), but the row has tokens 0 to {n - 1} "
                        f"only: return the positions of the span's first and last tokens.")
    if e < s:
        raise Incorrect(f"On {where}, best_valid_span returned ({s}, {e}): the span ends before it starts. Taking the "
                        f"best start and the best end separately (two argmaxes) can give that: score every pair with "
                        f"start <= end, start_scores[start] + end_scores[end], and keep the best.")
    off = next((p for p in (s, e) if not allowed[p]), None)
    if off is not None:
        what = "starts" if off == s else "ends"
        raise Incorrect(f"On {where}, best_valid_span returned ({s}, {e}), which {what} at position {off}, where "
                        f"allowed is False ([CLS], the question, a [SEP] or padding). The answer is a span of the "
                        f"passage: skip every span whose start or end is not allowed.")
    length = e - s + 1
    if length > limit:
        how = (f"one more than max_answer_tokens={limit}: a span from start to end has end - start + 1 tokens, so "
               f"end goes up to start + max_answer_tokens - 1 at most." if length == limit + 1 else
               f"more than max_answer_tokens={limit}: skip every span with end - start + 1 > max_answer_tokens.")
        raise Incorrect(f"On {where}, best_valid_span returned ({s}, {e}), a span of {length} tokens, {how}")


# ---------------------------------------------------------------------------------------------------
# 05.task_head
# ---------------------------------------------------------------------------------------------------

FORMS = ("sentence", "pair", "tokens")


@exercise("05.task_head", points=2, answer="task_head", hints=[
    "A sentence and a pair both end in one label: read the [CLS] vector (position 0) and map it to num_labels "
    "scores. Labelling every token ends in num_labels scores at every position.",
    "nn.Linear(hidden_size, num_labels) applied to a tensor of shape (batch, tokens, hidden_size) acts on every "
    "position; applied to token_vectors[:, 0] it acts on [CLS] alone. Scores are what the last linear layer gives: "
    "no softmax after it (the loss applies log-softmax itself).",
    "Return a new nn.Module at every call (a small class with a forward, or a module built from nn.Linear) whose "
    "output for a (batch, tokens, hidden_size) input is (batch, num_labels) for 'sentence' and 'pair', "
    "(batch, tokens, num_labels) for 'tokens'; for any other form, raise ValueError(...) with a message that names "
    "the three forms.",
])
def check_task_head(task_head):
    import torch
    from torch import nn

    for form, hidden, labels in (("sentence", 16, 2), ("pair", 24, 3), ("tokens", 16, 4), ("tokens", 8, 9)):
        where = f"form={form!r}, hidden_size={hidden}, num_labels={labels}"
        with case(where):
            head = task_head(form, hidden, labels)
        if not isinstance(head, nn.Module):
            raise Incorrect(f"On {where}, task_head should return an nn.Module (ω, with trainable parameters), got "
                            f"{what_came_back(head)}.")
        if not any(p.requires_grad for p in head.parameters()):
            raise Incorrect(f"On {where}, the head has no trainable parameter: ω is what fine-tuning trains.")
        with case(where + ", called a second time"):
            other = task_head(form, hidden, labels)
        if isinstance(other, nn.Module) and {id(p) for p in head.parameters()} & {id(p) for p in other.parameters()}:
            raise Incorrect(f"On {where}, two calls returned heads that share their parameters: every task needs its "
                            f"own fresh ω, so build the layers inside task_head, at every call.")
        head.eval()
        g = torch.Generator().manual_seed(hidden + labels)
        vectors = torch.randn(3, 7, hidden, generator=g)
        out = _head_output(head, vectors, where + ", on token vectors of shape (3, 7, hidden_size)")
        wanted = (3, labels) if form != "tokens" else (3, 7, labels)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != wanted:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else what_came_back(out)
            raise Incorrect(f"On {where}, the head gave {shape} for token vectors of shape (3, 7, {hidden}); the form "
                            f"{form!r} needs {wanted}: " + ("one score per class for each example." if form != "tokens"
                                                              else "one score per tag at every position."))
        if form == "tokens":
            for position in (0, 3, 6):
                changed = vectors.clone()
                changed[:, position] += 1.0
                out2 = _head_output(head, changed, where)
                others = [i for i in range(7) if i != position]
                if not torch.allclose(out[:, others], out2[:, others], atol=1e-6):
                    raise Incorrect(f"On {where}, changing the vector at position {position} changed the scores at "
                                    f"other positions: a tag head applies the same layer to each position on its own.")
                if torch.allclose(out[:, position], out2[:, position]):
                    raise Incorrect(f"On {where}, the scores at position {position} do not depend on the vector there.")
        else:
            rest = vectors.clone()
            rest[:, 1:] += torch.randn(rest[:, 1:].shape, generator=g)
            if not torch.allclose(out, _head_output(head, rest, where), atol=1e-6):
                moved = [i for i in range(1, 7) if not torch.allclose(
                    out, _head_output(head, _shifted(vectors, i), where), atol=1e-6)]
                read = f"position {moved[0]}" if len(moved) == 1 else f"positions {moved}"
                raise Incorrect(f"On {where}, the scores changed with the vectors at {read}: the course's heads for "
                                f"one label read the [CLS] vector, at position 0, and nothing else.")
            if torch.allclose(out, _head_output(head, _shifted(vectors, 0), where), atol=1e-6):
                if bool((out == 0).all()):  # a ReLU at the end can silence every score of a few examples
                    _check_scores(_head_output(head, torch.randn(32, 7, hidden, generator=g), where), where)
                raise Incorrect(f"On {where}, the scores do not change when the [CLS] vector (position 0) does: a head "
                                f"for one label reads the [CLS] vector.")
        # Many examples, so that a linear layer's scores are certain to leave [0, 1] somewhere.
        _check_scores(_head_output(head, torch.randn(32, 7, hidden, generator=g), where), where)
    _check_unknown_form(task_head)


def _head_output(head, vectors, where: str):
    import torch

    with torch.no_grad(), case(where):
        return head(vectors.clone())


def _shifted(vectors, position: int):
    changed = vectors.clone()
    changed[:, position] += 1.0
    return changed


def _check_scores(out, where: str) -> None:
    """Scores, not probabilities: a head that ends in softmax or sigmoid squashes them."""
    import torch

    out = out.detach().float()
    if bool((out >= 0).all()) and float((out == 0).float().mean()) > 0.2:
        raise Incorrect(f"On {where}, no score is below 0 and many are exactly 0: the head ends in a ReLU. Scores may "
                        f"be negative: end with the linear layer.")
    if bool(((out >= 0) & (out <= 1)).all()):
        total = out.sum(-1)
        what = "softmax" if torch.allclose(total, torch.ones_like(total), atol=1e-4) else "a sigmoid"
        raise Incorrect(f"On {where}, every output is between 0 and 1: the head ends in {what}. Return the scores "
                        f"that the last linear layer gives (logits); the loss and the prediction apply the softmax "
                        f"themselves.")


def _check_unknown_form(task_head) -> None:
    with case("form='document'"):
        try:
            result = task_head("document", 16, 2)
        except ValueError as error:
            named = [form for form in FORMS if form in str(error)]
            if len(named) == len(FORMS):
                return
            raise Incorrect(f"task_head('document', 16, 2) raised a ValueError whose message ({str(error)!r}) does not "
                            f"name the forms it knows: say which forms are allowed ({', '.join(FORMS)}), so that the "
                            f"caller can fix the call.") from None
        except Exception as error:  # noqa: BLE001 (any other exception is the wrong kind)
            raise Incorrect(f"task_head('document', ...) raised {type(error).__name__}; raise a ValueError that names "
                            f"the forms it knows ({', '.join(FORMS)}).") from None
    got = "None" if result is None else "a head"
    raise Incorrect(f"task_head('document', 16, 2) returned {got}; an unknown form should raise a ValueError that names "
                    f"the forms it knows ({', '.join(FORMS)}).")
