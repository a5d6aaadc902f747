"""Checks for lesson 07's exercises (exercises/07_prompting_and_label_mapping_exercises.ipynb): turning the
log-probabilities at the blank into labels with a verbalizer, the label-mapping contract of a classifier's
id2label, the confusion matrix between two lists of answers, and two concept questions (a disagreement
whose confusion matrix is anti-diagonal, and whether to prompt or fine-tune a model too large to train).

The checks build their own small tensors and mappings, so they need no model and no checkpoint.
"""

from __future__ import annotations

from .core import Incorrect, case, exercise

TWO_LABELS = ("negative", "positive")
# Not in alphabetical order, so that an answer that sorts the labels is caught.
THREE_LABELS = ("Technical Issue", "Billing Inquiry", "Feedback")
# Scores closer than this are not used as a test of which label wins (except in the tie case, where the
# scores are exactly equal), so that any correct way of adding up probabilities gives the same answer.
MARGIN = 1e-3


# ---------------------------------------------------------------------------------------------------
# 07.verbalizer_predict
# ---------------------------------------------------------------------------------------------------

def _rows_from_probs(rows: list[dict[int, float]], vocab: int):
    """Log-probabilities over ``vocab`` tokens: each row gives some tokens' probabilities, the rest of the
    mass is spread evenly over the other tokens."""
    import torch

    out = torch.zeros(len(rows), vocab, dtype=torch.float64)
    for r, given in enumerate(rows):
        rest = (1.0 - sum(given.values())) / (vocab - len(given))
        out[r] = rest
        for token, p in given.items():
            out[r, token] = p
    return out.log().to(torch.float32)


def _random_rows(batch: int, vocab: int, seed: int, boost: dict[int, float] | None = None):
    import torch

    g = torch.Generator().manual_seed(seed)
    logits = 2.5 * torch.randn(batch, vocab, generator=g)
    for token, value in (boost or {}).items():
        logits[:, token] += value
    return logits.log_softmax(-1)


def _label_scores(log_probs, word_ids: dict, labels, how: str = "pool"):
    import math

    import torch

    columns = []
    for label in labels:
        ids = list(word_ids[label])
        chosen = log_probs[:, ids].double()
        if how == "pool":
            columns.append(chosen.logsumexp(-1))
        elif how == "max":
            columns.append(chosen.max(-1).values)
        elif how == "sum_log":
            columns.append(chosen.sum(-1))
        elif how == "mean_prob":
            columns.append(chosen.logsumexp(-1) - math.log(len(ids)))
    return torch.stack(columns, dim=-1)


def _predict(log_probs, word_ids, labels, how: str = "pool") -> list[str]:
    return [labels[i] for i in _label_scores(log_probs, word_ids, labels, how).argmax(-1).tolist()]


def _verbalizer_cases():
    """(where, log_probs, word_ids, labels, may_tie). Apart from the tie case, the best label of every row
    beats the second by more than MARGIN."""
    # Row 0: the single most likely token is not a label word; the best single label word is the one
    # negative word, but the three positive words together are more likely than it. Row 4: each positive
    # word is more likely than the negative one, but their product is not.
    pooling = _rows_from_probs([
        {7: 0.30, 2: 0.25, 4: 0.12, 9: 0.12, 11: 0.12},
        {7: 0.30, 2: 0.40, 4: 0.05, 9: 0.05, 11: 0.05},
        {0: 0.45, 2: 0.10, 4: 0.20, 9: 0.02, 11: 0.03},
        {5: 0.20, 2: 0.14, 4: 0.06, 9: 0.06, 11: 0.06},
        {7: 0.30, 2: 0.05, 4: 0.10, 9: 0.10, 11: 0.10},
    ], vocab=14)
    yield ("5 reviews over a vocabulary of 14 tokens, where the negative label has 1 word (id 2) and the "
           "positive label 3 (ids 11, 4, 9)", pooling, {"negative": [2], "positive": [11, 4, 9]}, TWO_LABELS, False)
    yield ("2 labels, 6 reviews, 2 words each, word_ids given positive first",
           _random_rows(6, 20, seed=1, boost={3: 2.0, 15: 2.0, 8: 2.0, 1: 2.0}),
           {"positive": [15, 3], "negative": [8, 1]}, TWO_LABELS, False)
    yield ("3 labels (Technical Issue, Billing Inquiry, Feedback, in that order) with 3, 1 and 2 words, "
           "word_ids in another order", _random_rows(9, 30, seed=2, boost={25: 2.5, 2: 2.5, 17: 2.5, 9: 4.0, 1: 2.5, 4: 2.5}),
           {"Feedback": [1, 4], "Technical Issue": [25, 2, 17], "Billing Inquiry": [9]}, THREE_LABELS, False)
    yield ("a batch of one review", _random_rows(1, 16, seed=3, boost={6: 3.0, 12: 3.0}),
           {"negative": [12, 6], "positive": [3]}, TWO_LABELS, False)
    # Rows 0 and 2: the two labels' words have exactly the same probabilities (a tie); row 1 is no tie.
    tie = _rows_from_probs([{3: 0.2, 5: 0.1, 8: 0.2, 1: 0.1}, {3: 0.3, 5: 0.1, 8: 0.2, 1: 0.1},
                            {3: 0.05, 5: 0.05, 8: 0.05, 1: 0.05}], vocab=12)
    yield ("3 reviews, two of them a tie (both labels' words exactly as likely)", tie,
           {"positive": [8, 1], "negative": [3, 5]}, TWO_LABELS, True)


def _diagnose_verbalizer(got, log_probs, word_ids, labels, where) -> str:
    variants = [
        ("max", "scored each label by its single most likely word. A label's score is the probability that one "
                "of its words fills the blank: add up the probabilities of its words (logsumexp of their "
                "log-probabilities)"),
        ("mean_prob", "averaged the probabilities of each label's words; a label with more words would then not "
                      "gain from them. Add them up instead (logsumexp of the log-probabilities)"),
        ("sum_log", "added up the log-probabilities of each label's words, which multiplies their probabilities. "
                    "The words are alternatives for the one blank: add up the probabilities (logsumexp)"),
    ]
    for how, message in variants:
        if got == _predict(log_probs, word_ids, labels, how):
            return f"On {where}, verbalizer_predict {message}."
    in_dict_order = list(word_ids)
    if list(labels) != in_dict_order:
        scores = _label_scores(log_probs, word_ids, in_dict_order)
        if got == [labels[i] for i in scores.argmax(-1).tolist()]:
            return (f"On {where}, the labels are named in the order of word_ids, not of labels. Column j of your "
                    f"scores must be labels[j]: loop over labels and look each one up in word_ids.")
    expected = _predict(log_probs, word_ids, labels)
    row = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    return (f"On {where}, review {row} got {got[row]!r}, but the label whose words together are most likely to fill "
            f"the blank is {expected[row]!r}.")


@exercise("07.verbalizer_predict", points=3, answer="verbalizer_predict", hints=[
    "For one label, mask_log_probs[:, word_ids[label]] picks the log-probabilities of its words: a "
    "batch x (number of its words) tensor.",
    "The words are alternatives for the one blank, so their probabilities add up: logsumexp(-1) of their "
    "log-probabilities is the log of that sum. Do not take only the best word, and do not average.",
    "Stack the label scores in the order of labels (torch.stack(..., dim=-1)), take argmax(-1), which keeps "
    "the first label on a tie, and return [labels[i] for i in ...tolist()].",
])
def check_verbalizer_predict(verbalizer_predict):
    import torch

    for where, log_probs, word_ids, labels, may_tie in _verbalizer_cases():
        scores = _label_scores(log_probs, word_ids, labels)
        if not may_tie:  # the cases themselves must leave no doubt about the winner
            top = scores.topk(2, dim=-1).values
            assert bool((top[:, 0] - top[:, 1] > MARGIN).all()), where
        expected = _predict(log_probs, word_ids, labels)
        given_probs = log_probs.clone()
        given_ids = {label: list(ids) for label, ids in word_ids.items()}
        with case(where):
            got = verbalizer_predict(given_probs, given_ids, list(labels))
        if not torch.equal(given_probs, log_probs) or given_ids != word_ids:
            raise Incorrect(f"On {where}, verbalizer_predict changed its inputs (an in-place operation): build new "
                            f"tensors and lists instead.")
        if isinstance(got, torch.Tensor) or not isinstance(got, list):
            raise Incorrect(f"verbalizer_predict should return a list of label names, one per review; it returned "
                            f"{type(got).__name__}.")
        if len(got) != len(log_probs):
            raise Incorrect(f"On {where}, verbalizer_predict returned {len(got)} labels for {len(log_probs)} "
                            f"reviews: one per row of mask_log_probs, also for a batch of one.")
        if not all(isinstance(x, str) for x in got):  # numpy.str_ (from numpy.array(labels)[i]) is a str too
            odd = next(x for x in got if not isinstance(x, str))
            if isinstance(odd, int) or (hasattr(odd, "item") and isinstance(getattr(odd, "item")(), int)):
                raise Incorrect(f"On {where}, verbalizer_predict returned {odd!r} ({type(odd).__name__}) among the "
                                f"labels. Return the label names, labels[i], not their positions.")
            raise Incorrect(f"On {where}, verbalizer_predict returned {odd!r} ({type(odd).__name__}) among the labels; "
                            f"return each label's name as a string, labels[i].")
        got = [str.__str__(x) for x in got]  # the plain text of each name, whatever str subclass carried it
        unknown = [x for x in got if x not in labels]
        if unknown:
            raise Incorrect(f"On {where}, {unknown[0]!r} is not one of the labels {list(labels)}.")
        if got == expected:
            continue
        if may_tie:
            first = labels[0]
            tied = [i for i, row in enumerate(scores.tolist()) if row[0] == row[1]]
            if all(got[i] == expected[i] for i in range(len(got)) if i not in tied):
                raise Incorrect(f"On {where}, a tie went to {got[tied[0]]!r}. When two labels score the same, answer "
                                f"the one that comes first in labels (here {first!r}); argmax does that.")
        raise Incorrect(_diagnose_verbalizer(got, log_probs, word_ids, labels, where))


# ---------------------------------------------------------------------------------------------------
# 07.label_mapping
# ---------------------------------------------------------------------------------------------------

VALID_MAPPINGS = [
    ("the usual mapping", {0: "negative", 1: "positive"}, TWO_LABELS, {0: "negative", 1: "positive"}),
    ("a mapping written with the ids in another order", {1: "positive", 0: "negative"}, TWO_LABELS,
     {0: "negative", 1: "positive"}),
    ("a mapping read from a saved config.json, whose ids are strings", {"0": "negative", "1": "positive"},
     TWO_LABELS, {0: "negative", 1: "positive"}),
    ("a mapping whose ids name the labels in the other order (well-formed, whatever it means)",
     {0: "positive", 1: "negative"}, TWO_LABELS, {0: "positive", 1: "negative"}),
    ("3 labels, ids as strings in no order, labels not in the ids' order",
     {"2": "Technical Issue", "0": "Feedback", "1": "Billing Inquiry"}, THREE_LABELS,
     {0: "Feedback", 1: "Billing Inquiry", 2: "Technical Issue"}),
]

# (where, id2label, labels, what the contract says about it)
BROKEN_MAPPINGS = [
    ("a mapping that leaves a label out", {0: "negative"}, TWO_LABELS,
     "'positive' is named by no id, so the service could never answer it"),
    ("a mapping with a misspelled label", {0: "negative", 1: "postive"}, TWO_LABELS,
     "'postive' is not one of the labels (and 'positive' is named by no id)"),
    ("a mapping with a label in the wrong case", {0: "negative", 1: "Positive"}, TWO_LABELS,
     "'Positive' is not one of the labels: compare the names exactly"),
    ("a mapping from a model saved without label names", {0: "LABEL_0", 1: "LABEL_1"}, TWO_LABELS,
     "'LABEL_0' is not one of the labels"),
    ("a mapping with a third, unknown label", {0: "negative", 1: "positive", 2: "neutral"}, TWO_LABELS,
     "'neutral' is not one of the labels"),
    ("a mapping that names one label twice", {0: "positive", 1: "positive"}, TWO_LABELS,
     "two ids name 'positive' (and none 'negative')"),
    ("a mapping that names id 0 twice, once as 0 and once as '0'", {0: "negative", "0": "positive", 1: "positive"},
     TWO_LABELS, "id 0 is named twice: 0 and '0' are the same output of the model"),
    # Written so that a later "0" silently overwriting 0 leaves a mapping that looks well-formed.
    ("a mapping that names id 0 twice with the same label, once as 0 and once as '0'",
     {0: "negative", 1: "positive", "0": "negative"}, TWO_LABELS,
     "id 0 is named twice, as 0 and '0' (a dict built with int(key) silently keeps the last: check each id "
     "was not seen before)"),
    ("a mapping whose ids are not 0 and 1", {1: "negative", 2: "positive"}, TWO_LABELS,
     "the ids are the model's outputs, numbered 0 .. len(labels) - 1"),
    ("a mapping whose keys are not ids", {"neg": "negative", "pos": "positive"}, TWO_LABELS,
     "'neg' is not a class id"),
    ("an empty mapping", {}, TWO_LABELS, "no label is named at all"),
    ("3 labels, one of them left out", {0: "Technical Issue", 1: "Billing Inquiry"}, THREE_LABELS,
     "'Feedback' is named by no id"),
    ("3 labels, one named twice", {0: "Feedback", 1: "Technical Issue", 2: "Feedback"}, THREE_LABELS,
     "two ids name 'Feedback' (and none 'Billing Inquiry')"),
]


def _call_mapping(check_label_mapping, id2label, labels, where):
    """(returned value, raised exception or None), with the input compared before and after."""
    given = dict(id2label)
    with case(where):
        try:
            result, error = check_label_mapping(given, list(labels)), None
        except NotImplementedError:
            raise
        except Exception as raised:  # the contract's answer to a broken mapping is an exception
            result, error = None, raised
    if given != id2label or list(given) != list(id2label):
        raise Incorrect(f"On {where}, check_label_mapping changed the mapping it was given: only read it, and "
                        f"build the mapping it returns as a new dict.")
    if error is None and result is given:
        raise Incorrect(f"On {where}, check_label_mapping returned the very dict it was given; return a new dict "
                        f"{{int id: label}}, so that what the service keeps cannot change when the caller's dict "
                        f"does.")
    return result, error


@exercise("07.label_mapping", points=2, answer="check_label_mapping", hints=[
    "Go through id2label.items() once, turning each key into an int (int('0') is 0; int('neg') raises "
    "ValueError). Keep what you have seen so far in a new dict {int id: label}.",
    "Raise ValueError when: an id is seen a second time; a label is not in labels; a label was already named "
    "by another id. After the loop: the ids must be exactly 0 .. len(labels) - 1 (sorted(ids) == "
    "list(range(len(labels)))), and every label must be named.",
    "A mapping whose ids name the labels in the other order is well-formed: the contract cannot know what the "
    "model learned, so it must accept it.",
])
def check_label_mapping_exercise(check_label_mapping):
    from collections.abc import Mapping

    for where, id2label, labels, expected in VALID_MAPPINGS:
        result, error = _call_mapping(check_label_mapping, id2label, labels, where)
        if error is not None:
            detail = f"{type(error).__name__}: {error}".strip().rstrip(".")
            if any(isinstance(k, str) for k in id2label):
                tip = " The ids of a saved config.json are strings: int(key) turns '0' into 0."
            elif expected != dict(enumerate(labels)):
                tip = (" The contract checks that the mapping is well-formed; it cannot know what the model learned, "
                       "so a mapping that names the labels in another order passes.")
            else:
                tip = " Only the rules of the contract may refuse a mapping; the order of the ids does not matter."
            raise Incorrect(f"On {where} ({id2label!r}, labels {list(labels)}), check_label_mapping raised "
                            f"{detail}, but the mapping is valid.{tip}")
        if not isinstance(result, Mapping):
            raise Incorrect(f"On {where}, check_label_mapping returned {type(result).__name__}; for a valid mapping "
                            f"it should return it as a dict {{int id: label}}.")
        if not all(type(k) is int for k in result):
            odd = next(k for k in result if type(k) is not int)
            raise Incorrect(f"On {where} ({id2label!r}), the returned mapping has the key {odd!r} "
                            f"({type(odd).__name__}); return the ids as ints, int(key).")
        if dict(result) != expected:
            raise Incorrect(f"On {where} ({id2label!r}), check_label_mapping returned {dict(result)!r}; it should "
                            f"return the same mapping with int ids, {expected!r}.")
    for where, id2label, labels, why in BROKEN_MAPPINGS:
        result, error = _call_mapping(check_label_mapping, id2label, labels, where)
        if error is None:
            raise Incorrect(f"On {where} ({id2label!r}, labels {list(labels)}), check_label_mapping did not raise: "
                            f"{why}. Raise ValueError with a sentence that says so.")
        if not isinstance(error, ValueError):
            raise Incorrect(f"On {where} ({id2label!r}), check_label_mapping raised {type(error).__name__}; a broken "
                            f"mapping is a wrong value, so raise ValueError (the service catches that one).")
        if not str(error).strip():
            raise Incorrect(f"On {where}, check_label_mapping raised ValueError without a message. Say what is "
                            f"wrong and how to fix it: {why}.")


# ---------------------------------------------------------------------------------------------------
# 07.confusion
# ---------------------------------------------------------------------------------------------------

def _reference_matrix(reference, predicted, labels):
    counts = [[0] * len(labels) for _ in labels]
    for r, p in zip(reference, predicted):
        counts[labels.index(r)][labels.index(p)] += 1
    return counts


def _confusion_cases():
    """(where, reference, predicted, labels). The off-diagonal counts differ, so a transposed matrix is caught."""
    neg, pos = TWO_LABELS
    yield ("10 reviews, 2 labels", [neg, neg, neg, neg, pos, pos, pos, pos, pos, neg],
           [neg, pos, neg, neg, pos, neg, neg, neg, pos, neg], TWO_LABELS)
    tech, bill, feed = THREE_LABELS
    yield ("8 e-mails, 3 labels (Technical Issue, Billing Inquiry, Feedback, in that order)",
           [tech, tech, bill, bill, bill, feed, feed, tech], [tech, bill, bill, feed, feed, feed, tech, tech],
           THREE_LABELS)
    yield ("6 e-mails in which 'Billing Inquiry' never occurs", [tech, feed, feed, tech, feed, feed],
           [feed, feed, tech, tech, feed, feed], THREE_LABELS)
    yield ("one review", [pos], [neg], TWO_LABELS)
    yield ("two lists that agree everywhere", [pos, neg, pos, pos], [pos, neg, pos, pos], TWO_LABELS)
    yield ("a prompt with its label words swapped (every answer turned around)", [neg, pos, pos, neg, pos],
           [pos, neg, neg, pos, neg], TWO_LABELS)


def _as_counts(got, n: int, where: str):
    import numpy as np

    if hasattr(got, "detach"):
        got = got.detach().cpu().numpy()
    try:
        array = np.asarray(got)
    except Exception:  # a ragged list of lists, say
        array = None
    if array is None or array.dtype == object or array.shape != (n, n):
        shape = getattr(array, "shape", None)
        raise Incorrect(f"On {where} ({n} labels), confusion_matrix should return a table of counts, {n} x {n} "
                        f"(a list of lists or an array), got {type(got).__name__}"
                        f"{f' of shape {shape}' if shape else ''}: one row and one column per label in labels, "
                        f"also for a label that never occurs.")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise Incorrect(f"On {where}, confusion_matrix should hold numbers (counts), got {array.dtype}.")
    return array


@exercise("07.confusion", points=2, answer="confusion_matrix", hints=[
    "Start from an n x n table of zeros, n = len(labels). For each pair (r, p) of zip(reference, predicted), "
    "add 1 to the cell in row labels.index(r) and column labels.index(p).",
    "Rows are the reference's answers and columns the predicted ones: row i, column j counts the reviews that "
    "reference calls labels[i] and predicted calls labels[j]. Use the order of labels, not sorted().",
    "Check the inputs first: different lengths, or a label that is not in labels, raise ValueError.",
])
def check_confusion(confusion_matrix):
    import numpy as np

    for where, reference, predicted, labels in _confusion_cases():
        given_ref, given_pred = list(reference), list(predicted)
        with case(where):
            got = confusion_matrix(given_ref, given_pred, list(labels))
        if given_ref != reference or given_pred != predicted:
            raise Incorrect(f"On {where}, confusion_matrix changed the lists it was given: only read them.")
        array = _as_counts(got, len(labels), where)
        expected = np.array(_reference_matrix(reference, predicted, list(labels)))
        if np.array_equal(array, expected):
            continue
        if np.allclose(array, expected / len(reference)):
            message = "returned shares; return counts (how many reviews fall in each cell)"
        elif np.array_equal(array, expected.T):
            message = ("is transposed: rows are the reference's answers and columns the predicted ones, so cell "
                       "[i][j] counts reviews that reference calls labels[i] and predicted calls labels[j]")
        elif np.array_equal(array, np.array(_reference_matrix(reference, predicted, sorted(labels)))):
            message = "puts the labels in sorted order; row and column i must be labels[i], in the order given"
        else:
            i, j = (int(x) for x in np.argwhere(array != expected)[0])
            message = (f"has {array[i, j].item()!r} in row {i} ({labels[i]!r}), column {j} ({labels[j]!r}); there are "
                       f"{expected[i, j]} reviews that reference calls {labels[i]!r} and predicted calls "
                       f"{labels[j]!r}")
        raise Incorrect(f"On {where}, the matrix {message}.")
    neg, pos = TWO_LABELS
    refused = [("two lists of different lengths (3 and 2 answers)", [neg, pos, pos], [neg, pos],
                "the answers must be to the same reviews"),
               ("a predicted label that is not in labels ('neutral')", [neg, pos], [neg, "neutral"],
                "'neutral' is not one of the labels"),
               ("a reference label that is not in labels ('Positive')", [neg, "Positive", pos], [neg, pos, pos],
                "'Positive' is not one of the labels (the names are compared exactly)")]
    for where, reference, predicted, why in refused:
        with case(where):
            try:
                confusion_matrix(list(reference), list(predicted), list(TWO_LABELS))
            except NotImplementedError:
                raise
            except ValueError:
                continue
            except Exception as error:
                raise Incorrect(f"On {where}, confusion_matrix raised {type(error).__name__}; raise ValueError with a "
                                f"sentence saying what is wrong ({why}).") from None
        raise Incorrect(f"On {where}, confusion_matrix did not raise: {why}. Raise ValueError.")


# ---------------------------------------------------------------------------------------------------
# Concept questions: the key of each is a salted hash of its answer (grading/questions.py)
# ---------------------------------------------------------------------------------------------------

from .questions import single_choice  # noqa: E402 (the questions' helper, next to the questions)

single_choice("07.disagreement", points=1, answer="answer_07_disagreement", options="abcd",
    key="2c44253132286a0d",
    hints=[
        "Each backend alone is better than chance. What would their agreement be if one of them answered the "
        "opposite label every time?",
        "A service that starts has passed the contract. Which kind of mistake is well-formed, so the contract "
        "lets it through, and still turns every answer around?",
    ],
    feedback={
        "e82574a79c6b97b9": "the service starts, so the contract ran and passed; and a mapping whose labels are "
                            "swapped is well-formed (every label named once, no unknown name), so no stricter "
                            "contract on the mapping alone could refuse it.",
        "d9d2f2d57a5473ac": "a weakness on negation touches only the negated reviews, and the prompt had it last "
                            "week too, when both backends were right on about four reviews in five; here they "
                            "disagree on 485 of 500.",
        "d93d4e155bc24266": "answers close to random would agree with the other backend on about half of the "
                            "reviews, not on 15 of 500: counts far off the diagonal say that one backend answers "
                            "the opposite of the other.",
    })


single_choice("07.prompt_or_fine_tune", points=1, answer="answer_07_prompt_or_fine_tune", options="abcd",
    key="516c5868ffedf86c",
    hints=[
        "Lesson 07 measured both ways on a model of half a million parameters: what did fine-tuning cost there, "
        "and how does that cost change with the size of the model?",
        "When a model cannot be trained at all, what can the labeled reviews still do for a prompt?",
    ],
    feedback={
        "24ae69ff9a413ae5": "lesson 07 measured that on a model of half a million parameters, whose fine-tuning "
                            "took seconds; the cost grows with the model, and this one the laptop cannot train at "
                            "all. Fine-tuning's lead with a few hundred labels is for a model that can be trained.",
        "fb2e560d3f6baf96": "calibration only moves the threshold between the labels: in lesson 07, 512 labels "
                            "added little to centering, and negated reviews stayed wrong however many labels set "
                            "the threshold.",
        "95a7eeb94f853e7d": "the prompt reaches sentiment words that no labeled review contains through "
                            "pre-training: the model learned from unlabeled text that 'superb' keeps company with "
                            "'great', which is why lesson 07's prompt gets plain reviews right with no labels.",
    })
