"""The checks of lesson 08 (grading/lesson08.py) turn down the usual wrong answers with a message that says
what is wrong, and pass unusual right ones; the course's own functions pass the checks but earn nothing as
answers. What every lesson's checks share is tested in tests/test_grading_lessons.py."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import datasets
import nbformat
import pytest

from grading_answers import (answer_cell, assert_passes, assert_turned_down, lesson_answer, verdict,
                             wrong_answer_ids)
from grading import core, generate

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "08_real_models_solutions.ipynb"
NAMES = ["negative", "positive"]


def test_the_courses_own_functions_pass_the_digest_checks_but_earn_nothing_as_an_answer():
    from utils import encoders

    borrowed = lambda path, chunk_size=1 << 20: encoders.sha256_of(path)  # noqa: E731
    core.get_exercise("08.sha256_of").check(borrowed)  # the check itself agrees with the course's version
    status, message = verdict("08.sha256_of", borrowed)
    assert status == core.INCORRECT and "imported from utils.encoders, not written" in message


# ---------------------------------------------------------------------------------------------------
# Typical wrong answers, each with a word of its message
# ---------------------------------------------------------------------------------------------------

def digest_read_whole(path, chunk_size=1 << 20):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digest_bytes(path, chunk_size=1 << 20):
    return hashlib.sha256(Path(path).read_bytes()).digest()


def digest_upper(path, chunk_size=1 << 20):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest().upper()


def digest_md5(path, chunk_size=1 << 20):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def digest_of_name(path, chunk_size=1 << 20):
    return hashlib.sha256(str(path).encode()).hexdigest()


def digest_first_chunk(path, chunk_size=1 << 20):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(chunk_size)).hexdigest()


def digest_last_chunk(path, chunk_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest = hashlib.sha256(chunk)
    return digest.hexdigest()


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify_case_sensitive(path, expected):
    found = _digest(path)
    if found != expected.strip():
        raise ValueError(f"SHA-256 {found}, expected {expected}")
    return found


def verify_returns_false(path, expected):
    return _digest(path) == expected.strip().lower()


def verify_with_assert(path, expected):
    found = _digest(path)
    assert found == expected.strip().lower(), "the weights are not the pinned ones"
    return found


def verify_vague_message(path, expected):
    found = _digest(path)
    if found != expected.strip().lower():
        raise ValueError("The weights are not the pinned ones; do not load them.")
    return found


def verify_prefix_only(path, expected):
    found = _digest(path)
    if found[:16] != expected.strip().lower()[:16]:
        raise ValueError(f"SHA-256 {found}, expected {expected}")
    return found


def verify_never_raises(path, expected):
    return _digest(path)


def verify_returns_true(path, expected):
    found = _digest(path)
    if found != expected.strip().lower():
        raise ValueError(f"SHA-256 {found}, expected {expected}")
    return True


def verify_startswith(path, expected):
    found = _digest(path)
    if not found.startswith(expected.strip().lower()):
        raise ValueError(f"SHA-256 {found}, expected {expected}")
    return found


def _tokens(tokenizer, texts):
    return [tokenizer.tokenize(t) for t in texts]


def rate_per_text(tokenizer, texts):
    shares = [sum(x == tokenizer.unk_token for x in ts) / len(ts) for ts in _tokens(tokenizer, texts) if ts]
    if not shares:
        raise ValueError("no tokens")
    return sum(shares) / len(shares)


def rate_with_specials(tokenizer, texts):
    ids = [i for t in texts for i in tokenizer(t)["input_ids"]]
    if len(ids) == 2 * len(texts):
        raise ValueError("no tokens")
    return sum(i == tokenizer.unk_token_id for i in ids) / len(ids)


def rate_per_word(tokenizer, texts):
    words = [w for t in texts for w in re.findall(r"\w+|[^\w\s]", t)]
    if not words:
        raise ValueError("no words")
    return sum(x == tokenizer.unk_token for ts in _tokens(tokenizer, texts) for x in ts) / len(words)


def rate_hard_coded(tokenizer, texts):
    tokens = [x for ts in _tokens(tokenizer, texts) for x in ts]
    if not tokens:
        raise ValueError("no tokens")
    return sum(x == "[UNK]" for x in tokens) / len(tokens)


def rate_percent(tokenizer, texts):
    tokens = [x for ts in _tokens(tokenizer, texts) for x in ts]
    if not tokens:
        raise ValueError("no tokens")
    return 100 * sum(x == tokenizer.unk_token for x in tokens) / len(tokens)


def rate_divides_by_zero(tokenizer, texts):
    tokens = [x for ts in _tokens(tokenizer, texts) for x in ts]
    return sum(x == tokenizer.unk_token for x in tokens) / len(tokens)


def rate_zero_when_empty(tokenizer, texts):
    tokens = [x for ts in _tokens(tokenizer, texts) for x in ts]
    return sum(x == tokenizer.unk_token for x in tokens) / len(tokens) if tokens else 0.0


def rate_as_tensor(tokenizer, texts):
    import torch

    tokens = [x for ts in _tokens(tokenizer, texts) for x in ts]
    if not tokens:
        raise ValueError("no tokens")
    return torch.tensor([x == tokenizer.unk_token for x in tokens], dtype=torch.float).mean()


def rate_as_array(tokenizer, texts):
    import numpy as np

    tokens = [x for ts in _tokens(tokenizer, texts) for x in ts]
    if not tokens:
        raise ValueError("no tokens")
    return np.array([np.mean([x == tokenizer.unk_token for x in tokens])])


FEATURES = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=NAMES)})


def format_without_label_check(rows):
    return rows.select_columns(["sentence", "label"]).rename_column("sentence", "text").cast(FEATURES)


def format_keeps_idx(rows):
    return rows.rename_column("sentence", "text")


def format_int_labels(rows):
    if set(rows["label"]) - {0, 1}:
        raise ValueError("labels must be 0 or 1")
    return rows.select_columns(["sentence", "label"]).rename_column("sentence", "text")


def format_names_swapped(rows):
    if set(rows["label"]) - {0, 1}:
        raise ValueError("labels must be 0 or 1")
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["positive", "negative"])})
    return rows.select_columns(["sentence", "label"]).rename_column("sentence", "text").cast(features)


def format_reversed(rows):
    formatted = lesson_answer("08.to_course_format")(rows)
    return formatted.select(range(len(formatted) - 1, -1, -1))


def format_label_first(rows):
    formatted = lesson_answer("08.to_course_format")(rows)
    return formatted.select_columns(["label", "text"])


def format_raises_key_error(rows):
    if "sentence" not in rows.column_names:
        raise KeyError("sentence")
    return lesson_answer("08.to_course_format")(rows)


def format_returns_dict(rows):
    return lesson_answer("08.to_course_format")(rows).to_dict()


WRONG = [
    ("08.sha256_of", digest_read_whole, "read the file whole"),
    ("08.sha256_of", digest_bytes, "returned bytes"),
    ("08.sha256_of", digest_upper, "lower-case"),
    ("08.sha256_of", digest_md5, "a SHA-256 digest is 64"),
    ("08.sha256_of", digest_of_name, "hashed the file's name"),
    ("08.sha256_of", digest_first_chunk, "first chunk only"),
    ("08.sha256_of", digest_last_chunk, "last chunk only"),
    ("08.verify_weights", verify_case_sensitive, "upper case"),
    ("08.verify_weights", verify_returns_false, "returned bool"),
    ("08.verify_weights", verify_with_assert, "raise ValueError"),
    ("08.verify_weights", verify_vague_message, "Name both digests"),
    ("08.verify_weights", verify_prefix_only, "differs in its last digit"),
    ("08.verify_weights", verify_never_raises, "instead of raising"),
    ("08.verify_weights", verify_returns_true, "returned bool"),
    ("08.unknown_rate", rate_per_text, "averaged each text's own share"),
    ("08.unknown_rate", rate_with_specials, "counted [CLS] and [SEP]"),
    ("08.unknown_rate", rate_per_word, "divided by the number of words"),
    ("08.unknown_rate", rate_hard_coded, "tokenizer.unk_token"),
    ("08.unknown_rate", rate_percent, "percentage"),
    ("08.unknown_rate", rate_divides_by_zero, "divided by zero"),
    ("08.unknown_rate", rate_zero_when_empty, "Raise ValueError"),
    ("08.to_course_format", format_without_label_check, "-1"),
    ("08.to_course_format", format_keeps_idx, "exactly ['text', 'label']"),
    ("08.to_course_format", format_int_labels, "ClassLabel"),
    ("08.to_course_format", format_names_swapped, "0 is negative"),
    ("08.to_course_format", format_reversed, "another order"),
    ("08.to_course_format", format_label_first, "in that order"),
    ("08.to_course_format", format_raises_key_error, "raised KeyError"),
    ("08.to_course_format", format_returns_dict, "return a datasets.Dataset"),
    ("08.verify_weights", verify_startswith, "cut to its first 32 digits"),
    ("08.unknown_rate", rate_as_tensor, "a tensor of shape ()"),
    ("08.unknown_rate", rate_as_array, "a NumPy array of shape (1,)"),
    ("08.tiny_vocabulary", "a", "Not a: a wider head"),
    ("08.tiny_vocabulary", "c", "Not c: more layers"),
    ("08.tiny_vocabulary", "d", "Not d: the synthetic reviews never contain"),
    ("08.tiny_vocabulary", 2, "one letter as a string"),
    ("08.paper_figure", "b", "Not b: two runs of the same recipe differ"),
    ("08.paper_figure", "c", "Not c: SST-2's test labels are hidden"),
    ("08.paper_figure", "d", "Not d: choosing by the accuracy you report"),
    ("08.paper_figure", ["c", "a"], "Choose one option only"),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG,
                         ids=wrong_answer_ids(WRONG))
def test_a_typical_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


def test_verify_weights_that_never_wrote_sha256_of_is_told_so():
    namespace = {}
    exec(compile(answer_cell(nbformat.read(SOLUTION, as_version=4), "verify_weights"), str(SOLUTION), "exec"),
         namespace)
    stub = nbformat.reads(generate.exercise_for(SOLUTION)[1], as_version=4)
    exec(compile(answer_cell(stub, "sha256_of"), str(SOLUTION), "exec"), namespace)
    status, message = verdict("08.verify_weights", namespace["verify_weights"])
    assert status == core.INCORRECT and "sha256_of" in message


def test_an_upper_case_letter_with_spaces_is_accepted():
    assert verdict("08.tiny_vocabulary", " B ")[0] == core.CORRECT
    assert verdict("08.paper_figure", "A")[0] == core.CORRECT


# ---------------------------------------------------------------------------------------------------
# Unusual answers that are right
# ---------------------------------------------------------------------------------------------------

def digest_with_readinto(path, chunk_size=1 << 20):
    digest, buffer = hashlib.sha256(), bytearray(chunk_size)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(memoryview(buffer)[:size])
    return digest.hexdigest()


def rate_with_numpy_mean(tokenizer, texts):
    import numpy as np

    ids = [i for t in texts for i in tokenizer(t, add_special_tokens=False)["input_ids"]]
    if not ids:
        raise ValueError("There are no tokens in these texts.")
    return np.mean(np.array(ids) == tokenizer.unk_token_id)  # a NumPy float64 is a float


def format_with_map(rows):
    if not {"sentence", "label"} <= set(rows.column_names):
        raise ValueError("SST-2's rows need a sentence and a label column")
    if any(label not in (0, 1) for label in rows["label"]):
        raise ValueError("every label must be 0 or 1")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=NAMES)})
    return rows.map(lambda row: {"text": row["sentence"], "label": row["label"]}, remove_columns=rows.column_names,
                    features=features)


RIGHT = [
    ("08.sha256_of", digest_with_readinto),
    ("08.unknown_rate", rate_with_numpy_mean),
    ("08.to_course_format", format_with_map),
    ("08.paper_figure", "a."),
]


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[f"{i}-{getattr(r, '__name__', repr(r))}" for i, r in RIGHT])
def test_an_unusual_right_answer_passes(exercise_id, right):
    assert_passes(exercise_id, right)
