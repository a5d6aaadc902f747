"""Sentence pairs, token labels and spans: the data, the models, their training, scores and export (lesson 05)."""

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


# ---------------------------------------------------------------------------------------------------
# A span of the passage as the answer: SQuAD's scores, the decoding, the model and the pipeline
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, normalised", [
    ("The Soundtrack!", "soundtrack"),
    ("  an apple,  a day ", "apple day"),
    ("Not great.", "not great"),
    ("theatre", "theatre"),          # an article only as a whole word
    ("a", ""),
])
def test_squad_normalisation_lowers_and_drops_punctuation_articles_and_extra_spaces(text, normalised):
    assert task_forms.normalize_answer(text) == normalised


@pytest.mark.parametrize("prediction, golds, em, f1", [
    ("the soundtrack", ["Soundtrack"], 1.0, 1.0),
    ("soundtrack was", ["the soundtrack"], 0.0, 2 / 3),             # P 1/2, R 1
    ("great", ["not great"], 0.0, 2 / 3),                            # P 1, R 1/2
    ("the battery was not great", ["not great"], 0.0, 2 / 3),        # 4 words after normalising: P 2/4, R 1
    ("very dull", ["quite dull", "dull"], 0.0, 2 / 3),               # the best gold: 'dull'
    ("quite dull", ["quite dull", "dull"], 1.0, 1.0),
    ("great great", ["great"], 0.0, 2 / 3),                          # a bag: 'great' is shared once
    ("the acting", ["the plot"], 0.0, 0.0),
    ("", ["the plot"], 0.0, 0.0),
    ("", [""], 1.0, 1.0),
])
def test_exact_match_and_token_f1_on_hand_worked_cases(prediction, golds, em, f1):
    assert task_forms.exact_match(prediction, golds) == em
    assert task_forms.token_f1(prediction, golds) == pytest.approx(f1)


def test_squad_scores_average_over_the_questions_and_refuse_a_bare_string():
    scores = task_forms.squad_scores(["the plot", "great"], [["plot"], ["not great"]])
    assert scores == pytest.approx({"exact_match": 0.5, "f1": (1 + 2 / 3) / 2})
    with pytest.raises(ValueError, match="non-empty list"):
        task_forms.exact_match("plot", "plot")
    with pytest.raises(ValueError, match="one prediction per question"):
        task_forms.squad_scores(["plot"], [["plot"], ["acting"]])


# Positions 0-3 are [CLS] and a three-token question, 4-9 the passage, 10 the last [SEP].
PASSAGE = [False] * 4 + [True] * 6 + [False]


def _scores(**peaks):
    """Start and end scores of 0 everywhere but at the given positions (start3=5.0 puts 5 at position 3)."""
    start, end = [0.0] * 11, [0.0] * 11
    for key, value in peaks.items():
        (start if key.startswith("start") else end)[int(key.removeprefix("start").removeprefix("end"))] = value
    return start, end


@pytest.mark.parametrize("where, peaks, limit, expected", [
    ("the best start and end", dict(start5=3.0, end7=2.0), 8, (5, 7)),
    ("an end before its start is not a span", dict(start8=5.0, end5=4.0), 8, (8, 8)),
    ("a span in the question is not an answer", dict(start1=9.0, end2=9.0, start6=1.0, end6=1.0), 8, (6, 6)),
    ("the last [SEP] is not an answer", dict(start9=2.0, end10=9.0, end9=1.0), 8, (9, 9)),
    ("a span over the length limit is not considered", dict(start4=5.0, end9=5.0, end6=1.0), 3, (4, 6)),
    ("a one-token limit leaves one-token spans", dict(start4=5.0, end9=5.0), 1, (4, 4)),
    ("ties go to the earliest span", {}, 8, (4, 4)),
])
def test_best_span_is_the_best_valid_one(where, peaks, limit, expected):
    start, end = _scores(**peaks)
    assert task_forms.best_span(start, end, PASSAGE, limit) == expected, where


def test_best_span_is_none_when_no_span_is_valid_and_agrees_with_every_span_tried():
    assert task_forms.best_span([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [False, False, False], 5) is None
    with pytest.raises(ValueError, match="one entry per token"):
        task_forms.best_span([1.0, 2.0], [1.0], [True, True], 5)
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        start, end = torch.randn(12, generator=generator), torch.randn(12, generator=generator)
        allowed = torch.rand(12, generator=generator) < 0.6
        limit = int(torch.randint(1, 6, (1,), generator=generator))
        spans = [(i, j) for i in range(12) for j in range(i, min(12, i + limit)) if allowed[i] and allowed[j]]
        expected = max(spans, key=lambda s: float(start[s[0]] + end[s[1]]), default=None)
        assert task_forms.best_span(start, end, allowed, limit) == expected


def test_the_answers_characters_map_to_tokens_and_back_to_whole_words(tokenizer):
    context = "the plot was superb , but the battrey was not great ."
    enc = task_forms.encode_questions(tokenizer, ["how was the battery ?"], [context])
    char_start = context.index("not great")
    start, end = task_forms.answer_token_span(enc, 0, char_start, char_start + len("not great"))
    assert context[enc["offset_mapping"][0][start][0]:enc["offset_mapping"][0][end][1]] == "not great"
    assert all(enc.sequence_ids(0)[k] == 1 for k in range(start, end + 1))
    words = task_forms.word_chars(enc, 0)
    typo = [k for k in range(len(words)) if words[k] and context[words[k][0]:words[k][1]] == "battrey"]
    assert len(typo) > 1, "the typo is cut into several pieces"
    assert context[words[typo[1]][0]:words[typo[-1]][1]] == "battrey", "a span starting inside a word is widened"
    assert words[:2] == [None, None] and task_forms.passage_mask(enc, 0)[:2] == [False, False]
    assert task_forms.answer_token_span(enc, 0, len(context) + 5, len(context) + 9) is None


@pytest.mark.parametrize("rows, words", [
    ({"question": ["q"], "context": ["a b"]}, "needs the columns 'question', 'context'"),
    ({"question": ["q"], "context": ["the plot"], "answers": [{"text": ["plot"], "answer_start": [0]}]},
     "is not at character 0"),
    ({"question": ["q"], "context": ["the plot"], "answers": [{"text": [], "answer_start": []}]}, "no gold answer"),
])
def test_bad_question_answering_data_is_refused_with_what_was_expected(rows, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        task_forms.check_question_split(datasets.Dataset.from_dict(rows))


@pytest.fixture(scope="module")
def span_model_folder(mlm_model, tokenizer, tmp_path_factory):
    questions = data.make_review_questions(seed=0, train_size=64, validation_size=8, test_size=40)
    model = task_forms.build_span_model(mlm_model, seed=1)
    history = task_forms.train_span_model(model, tokenizer, questions["train"], steps=3, progress=False)
    assert len(history["train_loss"]) == 3
    return model, model.save_pretrained(tmp_path_factory.mktemp("span") / "qa", tokenizer), questions["test"]


def test_the_span_model_is_saved_as_bert_for_question_answering_with_the_same_scores(span_model_folder, tokenizer):
    model, folder, test = span_model_folder
    library = transformers.AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    assert type(library).__name__ == "BertForQuestionAnswering"
    enc = tokenizer(test["question"][:4], test["context"][:4], padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        theirs = library(**enc)
    assert torch.allclose(ours[0], theirs.start_logits, atol=1e-5) and torch.allclose(ours[1], theirs.end_logits, atol=1e-5)
    reloaded = task_forms.SpanExtractor.from_pretrained(folder)
    assert task_forms.predict_answers(reloaded, tokenizer, test["question"], test["context"]) == \
        task_forms.predict_answers(model, tokenizer, test["question"], test["context"])
    with pytest.raises(ValueError, match="'full'.*'scratch'"):
        task_forms.build_span_model(model.encoder, "frozen")


def test_the_pipeline_answers_with_a_span_of_the_passage_as_the_lessons_decoding_does(span_model_folder, tokenizer):
    model, folder, test = span_model_folder
    pipe = transformers.pipeline(task_forms.QUESTION_ANSWERING_TASK, model=str(folder))
    one = pipe(question=test["question"][0], context=test["context"][0])
    assert set(one) == {"score", "start", "end", "answer"} and 0 < one["score"] <= 1
    assert test["context"][0][one["start"]:one["end"]] == one["answer"]
    answers = pipe([{"question": q, "context": c} for q, c in zip(test["question"], test["context"])], max_answer_len=8)
    ours = task_forms.predict_answers(model, tokenizer, test["question"], test["context"], max_answer_tokens=8)
    for theirs, mine, question, context in zip(answers, ours, test["question"], test["context"]):
        # The pipeline adds up the scores of spans that read the same (found twice, or inside the same words):
        # only such an answer can differ from the best single span.
        if theirs["answer"] != mine["answer"]:
            enc = task_forms.encode_questions(tokenizer, [question], [context])
            words, passage = task_forms.word_chars(enc, 0), task_forms.passage_mask(enc, 0)
            reading = [(i, j) for i in range(len(words)) for j in range(i, min(len(words), i + 8))
                       if passage[i] and passage[j] and context[words[i][0]:words[j][1]].lower() == theirs["answer"].lower()]
            assert len(reading) > 1, (question, context, theirs, mine)
    short = pipe(question=test["question"][0], context=test["context"][0], max_answer_len=1)
    assert len(short["answer"].split()) == 1
    with pytest.raises(ValueError, match="max_answer_len"):
        pipe(question=test["question"][0], context=test["context"][0], max_answer_len=0)


def test_the_pipeline_keeps_the_question_out_pools_equal_answers_and_can_answer_nothing(span_model_folder):
    from transformers.modeling_outputs import QuestionAnsweringModelOutput

    _, folder, _ = span_model_folder
    pipe = transformers.pipeline(task_forms.QUESTION_ANSWERING_TASK, model=str(folder))
    question, context = "what was superb ?", "the plot was superb and the plot was superb too , the acting dull ."
    enc = pipe.tokenizer(question, context, return_offsets_mapping=True)
    tokens = enc["input_ids"]

    def pieces(text, sequence, nth=0):
        """The first and the last token of the nth occurrence of the word ``text`` in the question (0) or passage (1)."""
        source = (question, context)[sequence]
        at = [m for m in range(len(source)) if source.startswith(text + " ", m) and (m == 0 or source[m - 1] == " ")][nth]
        inside = [k for k, (seq, (a, b)) in enumerate(zip(enc.sequence_ids(), enc["offset_mapping"]))
                  if seq == sequence and a >= at and b <= at + len(text)]
        return inside[0], inside[-1]

    superb, acting = pieces("superb", 0), pieces("acting", 1)
    plots = [pieces("plot", 1, 0), pieces("plot", 1, 1)]

    def scores_at(start_peaks, end_peaks):
        start, end = torch.zeros(1, len(tokens)), torch.zeros(1, len(tokens))
        for k, v in start_peaks.items():
            start[0, k] = v
        for k, v in end_peaks.items():
            end[0, k] = v
        return lambda **inputs: QuestionAnsweringModelOutput(start_logits=start, end_logits=end)

    # The question's 'superb' scores highest, but the question is never an answer.
    pipe.model.forward = scores_at({superb[0]: 20.0, acting[0]: 5.0}, {superb[1]: 20.0, acting[1]: 5.0})
    assert pipe(question=question, context=context)["answer"] == "acting"
    # 'plot' twice, each a little below 'acting' once: pooled, 'plot' wins.
    pipe.model.forward = scores_at({plots[0][0]: 4.8, plots[1][0]: 4.8, acting[0]: 5.0},
                                   {plots[0][1]: 4.8, plots[1][1]: 4.8, acting[1]: 5.0})
    assert pipe(question=question, context=context)["answer"] == "plot"
    assert pipe(question=question, context=context, top_k=2)[1]["answer"] == "acting"
    # [CLS] far above every span: the empty answer, but only when it is allowed.
    pipe.model.forward = scores_at({0: 9.0, acting[0]: 1.0}, {0: 9.0, acting[1]: 1.0})
    assert pipe(question=question, context=context, handle_impossible_answer=True)["answer"] == ""
    assert pipe(question=question, context=context)["answer"] == "acting"


# --- lesson 05's span comparison ---------------------------------------------------------------------

def test_the_lessons_span_questions_ask_for_the_praise_or_the_complaint():
    questions = task_forms.span_questions()
    assert {split: len(rows) for split, rows in questions.items()} == {"train": 2000, "validation": 300, "test": 500}
    assert all(set(rows["kind"]) == {"praise or complaint"} for rows in questions.values())


def test_run_span_trains_and_scores_the_splits_asked_and_the_choice_is_the_best_of_its_grid(mlm_model, tokenizer):
    questions = data.make_review_questions(seed=1, train_size=16, validation_size=8, test_size=8,
                                           kinds=("praise or complaint",))
    run = task_forms.run_span(mlm_model, tokenizer, questions, "full", 1e-3, 0, steps=2, splits=("test",))
    assert set(run) == {"model", "test"} and isinstance(run["model"], task_forms.SpanExtractor)
    assert 0 <= run["test"]["exact_match"] <= run["test"]["f1"] <= 1 and len(run["test"]["predictions"]) == 8
    found = task_forms.choose_span_learning_rates(mlm_model, tokenizer, questions, steps=1, grid=(1e-4, 1e-3),
                                                  rows=["from scratch"])
    assert list(found) == ["from scratch"]
    assert found["from scratch"]["grid"][found["from scratch"]["chosen"]] == max(found["from scratch"]["grid"].values())
