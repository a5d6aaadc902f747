"""utils.data: the synthetic corpus and labeled tasks, and above all the seen / held-out split."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import datasets
import pytest

from utils import data

TASKS = ["polarity", "polarity3", "support"]
EXPECTED_LABELS = {
    "polarity": ["negative", "positive"],
    "polarity3": ["negative", "neutral", "positive"],
    "support": ["Billing Inquiry", "Technical Issue", "Feedback"],
}


def _words(text: str) -> set[str]:
    return set(text.split())


def _all_words(task: str, part: str) -> set[str]:
    return {w for words in data.label_words(task, part).values() for w in words}


@pytest.fixture(scope="module", params=TASKS)
def task(request):
    """Each task at its default sizes: (name, DatasetDict)."""
    return request.param, data.make_task(request.param)


# --- reproducibility -------------------------------------------------------------------------------

def test_same_seed_gives_identical_corpus():
    assert data.make_corpus(500, seed=3)["text"] == data.make_corpus(500, seed=3)["text"]


def test_different_seed_gives_different_corpus():
    assert data.make_corpus(500, seed=3)["text"] != data.make_corpus(500, seed=4)["text"]


@pytest.mark.parametrize("name", TASKS)
def test_same_seed_gives_identical_task(name):
    first = data.make_task(name, seed=5, train_size=200, validation_size=50, test_size=50)
    second = data.make_task(name, seed=5, train_size=200, validation_size=50, test_size=50)
    for split in ("train", "validation", "test"):
        assert first[split]["text"] == second[split]["text"]
        assert first[split]["label"] == second[split]["label"]


@pytest.mark.parametrize("name", TASKS)
def test_different_seed_gives_different_task(name):
    first = data.make_task(name, seed=5, train_size=200, validation_size=50, test_size=50)
    second = data.make_task(name, seed=6, train_size=200, validation_size=50, test_size=50)
    for split in ("train", "validation", "test"):
        assert first[split]["text"] != second[split]["text"]


def test_make_reviews_and_make_support_emails_are_the_named_tasks():
    sizes = dict(train_size=30, validation_size=10, test_size=10)
    assert data.make_reviews(**sizes)["train"]["text"] == data.make_task("polarity", **sizes)["train"]["text"]
    assert (data.make_reviews(num_labels=3, **sizes)["test"]["text"]
            == data.make_task("polarity3", **sizes)["test"]["text"])
    assert (data.make_support_emails(**sizes)["validation"]["text"]
            == data.make_task("support", **sizes)["validation"]["text"])


# --- shape of the data -----------------------------------------------------------------------------

def test_default_corpus_has_at_least_20000_sentences(default_corpus):
    assert isinstance(default_corpus, datasets.Dataset)
    assert default_corpus.column_names == ["text"]
    assert len(default_corpus) >= 20_000
    assert all(isinstance(t, str) and t.strip() for t in default_corpus["text"][:1000])


def test_task_is_a_datasetdict_with_train_validation_test_splits_of_the_requested_sizes():
    task = data.make_task("polarity", train_size=120, validation_size=30, test_size=40)
    assert isinstance(task, datasets.DatasetDict)
    assert set(task) == {"train", "validation", "test"}
    assert {split: len(task[split]) for split in task} == {"train": 120, "validation": 30, "test": 40}


def test_task_columns_are_text_and_label_with_class_label_names(task):
    name, dd = task
    for split in ("train", "validation", "test"):
        assert dd[split].column_names == ["text", "label"]
        feature = dd[split].features["label"]
        assert isinstance(feature, datasets.ClassLabel)
        assert feature.names == EXPECTED_LABELS[name]
        assert set(dd[split]["label"]) <= set(range(len(EXPECTED_LABELS[name])))


def test_polarity_label_names_are_negative_positive_and_support_names_are_the_three_topics():
    assert data.make_reviews(train_size=5, validation_size=5, test_size=5)["train"].features["label"].names == [
        "negative", "positive"]
    assert data.make_support_emails(train_size=5, validation_size=5, test_size=5)["train"].features[
        "label"].names == ["Billing Inquiry", "Technical Issue", "Feedback"]


# --- the seen / held-out split ---------------------------------------------------------------------

def test_seen_and_held_out_label_words_do_not_overlap():
    for name in TASKS:
        seen, held_out = _all_words(name, "seen"), _all_words(name, "held_out")
        assert seen and held_out
        assert not seen & held_out
        assert _all_words(name, "all") == seen | held_out


def test_no_held_out_label_word_occurs_in_train_or_validation(task):
    name, dd = task
    held_out = _all_words(name, "held_out")
    for split in ("train", "validation"):
        offenders = [t for t in dd[split]["text"] if _words(t) & held_out]
        assert offenders == [], f"{name}/{split}: held-out words in {offenders[:3]}"


def test_no_seen_label_word_occurs_in_test(task):
    name, dd = task
    seen = _all_words(name, "seen")
    offenders = [t for t in dd["test"]["text"] if _words(t) & seen]
    assert offenders == [], f"{name}/test: seen words in {offenders[:3]}"


def test_test_texts_carry_held_out_label_words(task):
    # Typos can alter a word, so a few test texts may have lost theirs; nearly all must have one.
    name, dd = task
    held_out = _all_words(name, "held_out")
    with_word = sum(bool(_words(t) & held_out) for t in dd["test"]["text"])
    assert with_word >= 0.95 * len(dd["test"])


def test_train_texts_carry_seen_label_words(task):
    name, dd = task
    seen = _all_words(name, "seen")
    with_word = sum(bool(_words(t) & seen) for t in dd["train"]["text"])
    assert with_word >= 0.95 * len(dd["train"])


@pytest.mark.parametrize("name", TASKS)
def test_every_held_out_label_word_occurs_in_the_unlabeled_corpus(name, default_corpus):
    corpus_words = set()
    for text in default_corpus["text"]:
        corpus_words.update(text.split())
    missing = sorted(_all_words(name, "held_out") - corpus_words)
    assert missing == []


def test_the_corpus_does_not_depend_on_how_the_labeled_reviews_are_worded(monkeypatch):
    # The labeled reviews may be reworded without changing the corpus, and so without changing the
    # pre-trained checkpoint of lesson 01.
    before = data.make_corpus(2000, seed=4)["text"]

    def reworded(*args, **kwargs):
        raise AssertionError("make_corpus used a generator of the labeled reviews")

    for name in ("_review", "_neutral_review", "_review_example"):
        monkeypatch.setattr(data, name, reworded)
    assert data.make_corpus(2000, seed=4)["text"] == before


def test_no_text_occurs_in_two_splits(task):
    name, dd = task
    texts = {split: set(dd[split]["text"]) for split in dd}
    for a, b in combinations(texts, 2):
        assert not texts[a] & texts[b], f"{name}: {a} and {b} share texts"


def test_no_text_is_repeated_within_a_split(task):
    _, dd = task
    for split in dd:
        assert len(set(dd[split]["text"])) == len(dd[split])


def test_binary_polarity_labels_are_roughly_balanced():
    dd = data.make_reviews()
    for split in dd:
        counts = Counter(dd[split]["label"])
        for label in (0, 1):
            assert 0.25 <= counts[label] / len(dd[split]) <= 0.75, (split, counts)


@pytest.mark.parametrize("name", [
    "polarity3",
    "support",
])
def test_three_class_labels_are_roughly_balanced(name):
    dd = data.make_task(name)
    for split in dd:
        counts = Counter(dd[split]["label"])
        for label in (0, 1, 2):
            assert 0.2 <= counts[label] / len(dd[split]) <= 0.5, (split, counts)


def test_negation_examples_exist_in_train_and_test():
    dd = data.make_reviews()
    for split in ("train", "test"):
        negated = [t for t in dd[split]["text"] if " not " in f" {t} "]
        assert len(negated) >= 0.05 * len(dd[split]), split


def test_typos_are_rare_and_can_be_switched_off():
    clean = data.make_task("polarity", train_size=300, validation_size=10, test_size=10, typo_rate=0.0)
    typo = data.make_task("polarity", train_size=300, validation_size=10, test_size=10, typo_rate=0.5)
    vocabulary = ({w for ws in data.label_words("polarity3", "all").values() for w in ws}
                  | set(data.PRODUCTS) | set(data.ASPECTS))
    clean_unknown = {w for t in clean["train"]["text"] for w in t.split() if w.isalpha() and len(w) >= 4} - vocabulary
    typo_unknown = {w for t in typo["train"]["text"] for w in t.split() if w.isalpha() and len(w) >= 4} - vocabulary
    assert len(typo_unknown) > len(clean_unknown)


# --- bad arguments ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, -3, 2.5])
def test_non_positive_or_fractional_train_size_raises_value_error(size):
    with pytest.raises(ValueError, match="train_size"):
        data.make_task("polarity", train_size=size)


def test_zero_test_size_raises_value_error_naming_it():
    with pytest.raises(ValueError, match="test_size must be a positive"):
        data.make_reviews(test_size=0)


def test_unknown_task_name_raises_value_error_listing_the_tasks():
    with pytest.raises(ValueError, match="Unknown task") as err:
        data.make_task("sentiment")
    for name in TASKS:
        assert name in str(err.value)


def test_make_reviews_with_five_labels_raises_value_error():
    with pytest.raises(ValueError, match="num_labels"):
        data.make_reviews(num_labels=5)


def test_empty_corpus_request_raises_value_error():
    with pytest.raises(ValueError, match="num_sentences"):
        data.make_corpus(0)


def test_unknown_label_word_part_raises_value_error():
    with pytest.raises(ValueError, match="held_out"):
        data.label_words("polarity", "unseen")


# ---------------------------------------------------------------------------------------------------
# Product topics: the task the corpus never distinguishes (lesson 02)
# ---------------------------------------------------------------------------------------------------

def _products_in(split) -> set[str]:
    return {w for text in split["text"] for w in text.split() if w in data.PRODUCTS}


def test_product_topics_train_on_seen_products_and_test_on_held_out_ones():
    topics = data.make_product_topics(seed=3, train_size=300, validation_size=100, test_size=200)
    seen = {w for group in data.PRODUCT_GROUPS.values() for w in group["seen"]}
    held_out = {w for group in data.PRODUCT_GROUPS.values() for w in group["held_out"]}
    assert _products_in(topics["train"]) == seen and _products_in(topics["validation"]) <= seen
    assert _products_in(topics["test"]) == held_out
    assert topics["test"].features["label"].names == data.PRODUCT_LABELS


def test_product_topic_labels_match_the_product_named_in_each_sentence():
    topics = data.make_product_topics(seed=4, train_size=200, validation_size=50, test_size=200)
    group_of = {w: data.PRODUCT_LABELS.index(g) for g, parts in data.PRODUCT_GROUPS.items()
                for words in parts.values() for w in words}
    for split in topics.values():
        for row in split:
            (product,) = [w for w in row["text"].split() if w in data.PRODUCTS]
            assert row["label"] == group_of[product]


def test_product_topics_repeat_no_sentence_and_draw_both_classes():
    topics = data.make_product_topics(seed=5)
    texts = [t for split in topics.values() for t in split["text"]]
    assert len(texts) == len(set(texts))
    for split in topics.values():
        share = sum(split["label"]) / len(split)
        assert 0.4 < share < 0.6


def test_product_topics_every_product_appears_in_the_corpus_alike():
    corpus = " ".join(data.make_corpus(4000, seed=1)["text"]).split()
    counts = {p: corpus.count(p) for p in data.PRODUCTS}
    assert min(counts.values()) > 0.5 * max(counts.values()), counts


def test_product_topics_too_many_examples_or_bad_size_raise_value_error():
    with pytest.raises(ValueError, match="test_size"):
        data.make_product_topics(test_size=0)
    with pytest.raises(ValueError, match="ask for fewer"):
        data.make_product_topics(test_size=100_000)


def test_product_topics_pose_any_grouping_of_the_products():
    groups = {"a": {"seen": ["movie", "phone"], "held_out": ["camera"]},
              "b": {"seen": ["hotel", "book"], "held_out": ["game"]}}
    topics = data.make_product_topics(seed=6, train_size=100, validation_size=20, test_size=60, groups=groups)
    assert topics["train"].features["label"].names == ["a", "b"]
    assert _products_in(topics["test"]) == {"camera", "game"}
    with pytest.raises(ValueError, match="held_out"):
        data.make_product_topics(groups={"a": {"seen": ["movie"]}, "b": {"seen": ["hotel"], "held_out": ["game"]}})


# --- the shortcut in the review data, and balanced_openings, its fix (lesson 03) ----------------------

_OPENING = r"^the (\w+) (?:was|is) (?:really |truly |quite |very |rather |pretty )?(\w+) [,.]"


def _opening_agreement(task: datasets.DatasetDict, split: str) -> tuple[int, float]:
    """How many reviews open with "the X was ADJ", and the share of them whose label is ADJ's polarity."""
    import re

    polarity = {w: label for label, words in data.label_words("polarity", "all").items() for w in words}
    names = task[split].features["label"].names
    agree = []
    for text, label in zip(task[split]["text"], task[split]["label"]):
        match = re.match(_OPENING, text)
        if match and match.group(2) in polarity:
            agree.append(polarity[match.group(2)] == names[label])
    return len(agree), sum(agree) / len(agree)


@pytest.mark.parametrize("seed", [0, 123])
def test_the_default_reviews_open_with_the_x_was_adj_only_against_the_label(seed):
    count, agreement = _opening_agreement(data.make_reviews(seed=seed), "train")
    assert count >= 100 and agreement == 0.0, "the shortcut lesson 03 shows: this opening always flips the label"


@pytest.mark.parametrize("seed", [0, 123])
def test_balanced_openings_leave_no_opening_that_tells_the_label(seed):
    reviews = data.make_reviews(seed=seed, balanced_openings=True)
    for split in ("train", "test"):
        count, agreement = _opening_agreement(reviews, split)
        assert count >= 100
        assert 0.3 < agreement < 0.9, f"{split}: the opening alone should not decide the label ({agreement:.2f})"
    assert reviews["train"]["text"] != data.make_reviews(seed=seed)["train"]["text"]
    assert reviews["train"]["text"] == data.make_reviews(seed=seed, balanced_openings=True)["train"]["text"]


def test_balanced_openings_for_the_support_task_raise_value_error_saying_why():
    with pytest.raises(ValueError, match="support emails have no such shortcut"):
        data.make_task("support", balanced_openings=True)


# --- questions whose answer is a span of a review (the span form of task) --------------------------

@pytest.fixture(scope="module")
def questions():
    return data.make_review_questions(seed=5, train_size=600, validation_size=100, test_size=300)


def _polarity_of(words: list[str]) -> str | None:
    """The polarity of an opinion's words ("very dull", "not great"), None when a typo hid the adjective."""
    polarity = {w: p for p, ws in data.label_words("polarity", "all").items() for w in ws}
    found = [polarity[w] for w in words if w in polarity]
    if len(found) != 1:
        return None
    flip = {"positive": "negative", "negative": "positive"}
    return flip[found[0]] if "not" in words else found[0]


def _same_or_typo(written: str, word: str) -> bool:
    """``written`` is ``word`` or one of the course's typos of it (two neighbouring letters swapped, or one dropped)."""
    return written == word or (sorted(written) == sorted(word) and len(word) > 3) or \
        any(written == word[:i] + word[i + 1:] for i in range(len(word)))


def _opinion_after(context: str, start: int, text: str) -> list[str]:
    """The words after an answered part, up to the end of its clause: its opinion."""
    rest = context[start + len(text):].split()
    stop = next((i for i, w in enumerate(rest) if w in {",", ";", "."}), len(rest))
    return [w for w in rest[:stop] if not any(_same_or_typo(w, verb) for verb in ("was", "is", "felt"))]


def test_review_questions_are_spans_of_their_passage_in_squads_layout(questions):
    assert set(questions) == {"train", "validation", "test"}
    assert [len(questions[s]) for s in ("train", "validation", "test")] == [600, 100, 300]
    assert questions["train"].column_names == ["id", "question", "context", "answers", "kind"]
    for split in questions.values():
        assert len(set(split["id"])) == len(split)
        for row in split:
            assert row["answers"]["text"] and len(row["answers"]["text"]) == len(row["answers"]["answer_start"])
            for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"]):
                assert text and row["context"][start:start + len(text)] == text
    assert set(questions["train"]["kind"]) == set(data.QUESTION_KINDS)
    shares = Counter(questions["train"]["kind"])
    assert min(shares.values()) > 0.18 * 600


def test_review_questions_train_on_seen_opinion_words_and_test_on_held_out_ones(questions):
    seen, held_out = _all_words("polarity", "seen"), _all_words("polarity", "held_out")
    for split in ("train", "validation"):
        assert not any(_words(r["context"] + " " + r["question"]) & held_out for r in questions[split])
    assert not any(_words(r["context"] + " " + r["question"]) & seen for r in questions["test"])
    assert sum(bool(_words(r["context"]) & held_out) for r in questions["test"]) > 0.95 * 300


def test_each_kind_of_question_is_answered_by_the_part_it_asks_about(questions):
    checked = Counter()
    for row in questions["train"]:
        text, start = row["answers"]["text"][0], row["answers"]["answer_start"][0]
        if row["kind"] == "opinion of a part":
            aspect = row["question"].split()[-2]
            before = row["context"][:start].split()
            assert any(_same_or_typo(w, aspect) for w in before[-3:]), (row["question"], row["context"])  # "the battery was | not great"
            opinion_words = ["not"] + [i.strip() for i in data.INTENSIFIERS if i] + sorted(_all_words("polarity", "all"))
            assert all(any(_same_or_typo(w, o) for o in opinion_words) for w in text.split()), (row["question"], text)
        elif row["kind"] == "praise or complaint":
            wanted = "positive" if "praise" in row["question"] or "good" in row["question"] else "negative"
            assert len(text.split()) == 1 or any(_same_or_typo(text.split()[0], w)
                                                 for w in ("not", *(i.strip() for i in data.INTENSIFIERS if i)))
            if _polarity_of(text.split()) is not None:
                assert _polarity_of(text.split()) == wanted, (row["question"], row["context"], text)
            before = row["context"][:start].split()
            assert before and any(_same_or_typo(w, v) for w in before[-1:] for v in ("was", "is", "felt")) \
                or any(_same_or_typo(w, a) for w in before[-1:] for a in data.ASPECTS), (row["question"], row["context"])
        else:
            assert text.startswith("the ") and len(text.split()) == 2
            assert any(_same_or_typo(text.split()[1], aspect) for aspect in data.ASPECTS), (row["question"], text)
            opinion = _opinion_after(row["context"], start, text)
            if row["kind"] == "named opinion":
                named = row["question"].removeprefix("which part was ").removeprefix("what was ").removesuffix(" ?")
                assert len(opinion) == len(named.split()) and all(map(_same_or_typo, opinion, named.split())), \
                    (row["question"], row["context"])
            else:
                wanted = "negative" if ("dislike" in row["question"] or "not like" in row["question"]) else "positive"
                if _polarity_of(opinion) is not None:
                    assert _polarity_of(opinion) == wanted, (row["question"], row["context"])
        checked[row["kind"]] += 1
    assert all(checked[kind] > 100 for kind in data.QUESTION_KINDS)


def test_an_intensified_opinion_also_accepts_the_adjective_alone(questions):
    rows = [r for r in questions["train"] if len(r["answers"]["text"]) == 2]
    assert rows and all(r["kind"] in ("opinion of a part", "praise or complaint") for r in rows)
    for row in rows:
        full, short = row["answers"]["text"]
        assert full.endswith(" " + short) and len(full.split()) == 2 and full.split()[0] != "not"


def test_review_questions_ask_nothing_twice_and_repeat_with_their_seed(questions):
    asked = [(r["question"], r["context"]) for split in questions.values() for r in split]
    assert len(asked) == len(set(asked))
    again = data.make_review_questions(seed=5, train_size=600, validation_size=100, test_size=300)
    assert again["test"][:20] == questions["test"][:20]
    assert data.make_review_questions(seed=6, train_size=20, validation_size=5, test_size=5)["train"]["context"] != \
        questions["train"]["context"][:20]
    with pytest.raises(ValueError, match="test_size must be a positive whole number"):
        data.make_review_questions(test_size=0)
    with pytest.raises(ValueError, match="kinds must be a tuple of some of"):
        data.make_review_questions(kinds=("praise",))
    with pytest.raises(ValueError, match="kinds must be a tuple of some of"):
        data.make_review_questions(kinds="praise or complaint")


def test_the_questions_of_one_kind_are_all_of_that_kind():
    only = data.make_review_questions(seed=5, train_size=50, validation_size=10, test_size=10, kinds=("praise or complaint",))
    assert all(set(split["kind"]) == {"praise or complaint"} for split in only.values())
