"""Sentence pairs and token labels: the data, the models, their training, scores and export (lesson 04)."""

from __future__ import annotations

import datasets
import pytest
import torch
import transformers
from sklearn.metrics import precision_recall_fscore_support

from utils import data, finetuning, task_forms


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------

def test_review_pairs_are_balanced_labeled_by_agreement_and_never_shared_between_splits():
    pairs = data.make_review_pairs(seed=3, train_size=300, validation_size=50, test_size=100)
    assert pairs["train"].features["label"].names == ["disagree", "agree"]
    assert set(pairs["train"].column_names) == {"text", "text_pair", "label"}
    seen = [tuple(r.values())[:2] for split in pairs.values() for r in split]
    assert len(seen) == len(set(seen))
    assert 0.4 < sum(pairs["train"]["label"]) / 300 < 0.6
    polarity = {w: p for p, words in data.label_words("polarity", "all").items() for w in words}
    for row in pairs["train"].select(range(100)):
        found = [[polarity[w] for w in text.split() if w in polarity] for text in (row["text"], row["text_pair"])]
        if all(len(f) == 1 for f in found):  # no typo hid the opinion word
            assert row["label"] == int(found[0][0] == found[1][0])
    held_out = set(w for words in data.label_words("polarity", "held_out").values() for w in words)
    assert not any(w in held_out for r in pairs["train"] for w in (r["text"] + " " + r["text_pair"]).split())
    assert data.make_review_pairs(seed=3, train_size=300, validation_size=50, test_size=100)["test"][:5] == pairs["test"][:5]


def test_review_tags_give_one_tag_per_word_from_the_tag_set():
    tags = data.make_review_tags(seed=1, train_size=200, validation_size=20, test_size=50)
    names = tags["train"].features["tags"].feature.names
    assert names == ["O", "POS", "NEG", "ASPECT"]
    for split in tags.values():
        for row in split:
            assert len(row["tokens"]) == len(row["tags"])
    row = next(r for r in tags["test"] if names.index("POS") in r["tags"])
    word = row["tokens"][row["tags"].index(names.index("POS"))]
    assert word in data.label_words("polarity", "held_out")["positive"] or len(word) < 4 or word not in data.ASPECTS
    assert data.word_tag("terrible") == "NEG" and data.word_tag("plot") == "ASPECT" and data.word_tag("the") == "O"
    with pytest.raises(ValueError, match="positive whole number"):
        data.make_review_tags(train_size=0)


# ---------------------------------------------------------------------------------------------------
# Word labels on pieces, and the scores per word
# ---------------------------------------------------------------------------------------------------

def test_align_labels_labels_the_first_piece_and_skips_the_rest(tokenizer):
    enc = tokenizer(["the", "plotxqz", "was", "superb"], is_split_into_words=True)
    word_ids = enc.word_ids()
    labels = task_forms.align_labels(word_ids, [0, 3, 0, 1])
    assert len(labels) == len(word_ids)
    assert labels[0] == labels[-1] == -100
    firsts = [i for i, w in enumerate(word_ids) if w is not None and (i == 0 or word_ids[i - 1] != w)]
    assert [labels[i] for i in firsts] == [0, 3, 0, 1]
    assert all(labels[i] == -100 for i in range(len(labels)) if i not in firsts)
    with pytest.raises(ValueError, match="one label per word"):
        task_forms.align_labels([None, 0, 1, 2, None], [0, 1])


def test_word_scores_agree_with_scikit_learn():
    gold = [[0, 1, 0, 3], [2, 2, 0], [0, 0, 1]]
    pred = [[0, 1, 1, 3], [2, 0, 0], [3, 0, 1]]
    ours = task_forms.word_scores(gold, pred, data.TAG_NAMES)
    flat_gold, flat_pred = sum(gold, []), sum(pred, [])
    p, r, f, _ = precision_recall_fscore_support(flat_gold, flat_pred, labels=[1, 2, 3], average="micro")
    assert (ours["precision"], ours["recall"], ours["f1"]) == pytest.approx((p, r, f))
    per = precision_recall_fscore_support(flat_gold, flat_pred, labels=[1, 2, 3], zero_division=0)
    for k, tag in enumerate(["POS", "NEG", "ASPECT"]):
        assert ours["per_tag"][tag]["f1"] == pytest.approx(per[2][k])
    assert ours["word_accuracy"] == pytest.approx(7 / 10)
    with pytest.raises(ValueError, match="one tag per word"):
        task_forms.word_scores([[0, 1]], [[0]], data.TAG_NAMES)


@pytest.mark.parametrize("rows, words", [
    ({"tokens": [["a", "b"]], "tags": [[0]]}, "2 words but 1 tags"),
    ({"tokens": [["a", "b"]], "tags": [["O", "HAPPY"]]}, "'HAPPY', which is not in the tag set"),
    ({"tokens": [["a"]], "tags": [[7]]}, "not in the tag set"),
    ({"text": ["a b"], "label": [0]}, "needs the columns 'tokens'"),
])
def test_bad_token_labels_are_refused_with_what_was_expected(rows, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace("[", r"\[")):
        task_forms.check_tagged_split(datasets.Dataset.from_dict(rows), data.TAG_NAMES)


def test_tag_names_are_turned_into_ids():
    split = task_forms.check_tagged_split(datasets.Dataset.from_dict({"tokens": [["a", "plot"]], "tags": [["O", "ASPECT"]]}),
                                          data.TAG_NAMES)
    assert split["tags"] == [[0, 3]]


def test_a_pair_task_given_one_text_column_says_what_it_needs(mlm_model, tokenizer):
    model = finetuning.build_classifier(mlm_model, "full", data.PAIR_LABELS)
    one_column = datasets.Dataset.from_dict({"text": ["a b"], "label": [1]})
    with pytest.raises(ValueError, match="two text columns, 'text' and 'text_pair'"):
        task_forms.train_pair_classifier(model, tokenizer, one_column)


# ---------------------------------------------------------------------------------------------------
# Models: training, the two ways of encoding a pair, export for pipeline()
# ---------------------------------------------------------------------------------------------------

def test_the_joint_pair_classifier_reads_segment_ids_and_the_pipeline_takes_the_pair(mlm_model, tokenizer, tmp_path):
    pairs = data.make_review_pairs(seed=0, train_size=64, validation_size=16, test_size=16)
    model = finetuning.build_classifier(mlm_model, "full", data.PAIR_LABELS)
    history = task_forms.train_pair_classifier(model, tokenizer, pairs["train"], pairs["validation"], epochs=1,
                                               lr=3e-4, progress=False)
    assert len(history["val_acc"]) == 1
    a, b = pairs["test"][0]["text"], pairs["test"][0]["text_pair"]
    enc = tokenizer(a, b, return_tensors="pt")
    assert enc["token_type_ids"].sum() > 0
    with torch.no_grad():
        with_segments = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        without = model(enc["input_ids"], enc["attention_mask"])
    assert not torch.allclose(with_segments, without), "segment 1 changes the input"
    folder = model.save_pretrained(tmp_path / "pair", tokenizer)
    answer = transformers.pipeline("text-classification", model=str(folder))({"text": a, "text_pair": b})
    probabilities = with_segments.softmax(-1)[0]
    best = int(probabilities.argmax())
    assert answer["label"] == data.PAIR_LABELS[best]
    assert answer["score"] == pytest.approx(float(probabilities[best]), abs=1e-4)


def test_the_bi_encoder_encodes_each_sentence_alone(mlm_model, tokenizer):
    model = task_forms.build_bi_encoder(mlm_model, tokenizer, data.PAIR_LABELS).eval()
    batch = tokenizer(["the plot was great .", "a dull film ."], ["a superb book .", "the acting was poor ."],
                      padding=True, return_tensors="pt")
    alone = tokenizer(["the plot was great ."], ["a superb book ."], return_tensors="pt")
    with torch.no_grad():
        together = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        single = model(alone["input_ids"], alone["attention_mask"], alone["token_type_ids"])
        u = model._vector([tokenizer("the plot was great .", return_tensors="pt")["input_ids"][0]])
    assert torch.allclose(together[0], single[0], atol=1e-5), "padding and the other rows change nothing"
    first = alone["input_ids"][0][alone["token_type_ids"][0] == 0]
    assert torch.allclose(model._vector([first]), u, atol=1e-6), "the first sentence is [CLS] a [SEP], encoded alone"
    with pytest.raises(ValueError, match="token_type_ids"):
        model(batch["input_ids"], batch["attention_mask"])


def test_the_tagger_trains_scores_words_and_exports_for_the_token_classification_pipeline(mlm_model, tokenizer, tmp_path):
    tags = data.make_review_tags(seed=0, train_size=64, validation_size=16, test_size=16)
    tagger = task_forms.build_tagger(mlm_model, data.TAG_NAMES, seed=1)
    history = task_forms.train_tagger(tagger, tokenizer, tags["train"], tags["validation"], epochs=1, progress=False)
    assert len(history["train_loss"]) == 2 and len(history["val_f1"]) == 1
    scores = task_forms.evaluate_tagger(tagger, tokenizer, tags["test"])
    assert 0.0 <= scores["f1"] <= 1.0 and set(scores["per_tag"]) == {"POS", "NEG", "ASPECT"}
    folder = tagger.save_pretrained(tmp_path / "tagger", tokenizer)
    reloaded = task_forms.TokenTagger.from_pretrained(folder)
    words = tags["test"][0]["tokens"]
    assert task_forms.predict_word_tags(reloaded, tokenizer, [words]) == task_forms.predict_word_tags(tagger, tokenizer, [words])
    found = transformers.pipeline("token-classification", model=str(folder), aggregation_strategy="first")(" ".join(words))
    assert all(f["entity_group"] in data.TAG_NAMES for f in found)
    predicted = task_forms.predict_word_tags(tagger, tokenizer, [words])[0]
    assert [f["word"] for f in found] == [w for w, t in zip(words, predicted) if t != 0]
    with pytest.raises(ValueError, match="'full'.*'scratch'"):
        task_forms.build_tagger(mlm_model, data.TAG_NAMES, "frozen")
