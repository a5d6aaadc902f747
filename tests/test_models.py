"""utils.models: the tiny BERT configuration, mean pooling and the classifier f(x; θ, ω)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from transformers import AutoModelForSequenceClassification, BertModel

from utils import mean_pooled_bert
from utils.finetuning import build_classifier
from utils.models import (EncoderClassifier, check_vocabulary, count_parameters, mean_pool,
                          tiny_bert_config)
from utils.tokenization import train_tokenizer

LABELS = ["negative", "positive"]
TEXTS = ["the plot of this movie was superb .", "the ending was dreadful , a complete waste of money .",
         "i need help with the invoice please .", "this book is not boring at all ."]


@pytest.fixture
def classifier(mlm_model):
    return build_classifier(mlm_model, "full", LABELS).eval()


def _logits(model, tokenizer, texts):
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(enc["input_ids"], enc["attention_mask"])


# --- configuration ---------------------------------------------------------------------------------

def test_tiny_bert_config_has_two_layers_hidden_128_and_two_heads():
    config = tiny_bert_config(1024)
    assert config.num_hidden_layers == 2
    assert config.hidden_size == 128
    assert config.num_attention_heads == 2
    assert config.vocab_size == 1024
    assert config.pad_token_id == 0


def test_tiny_bert_config_accepts_overrides():
    config = tiny_bert_config(500, num_hidden_layers=4, hidden_dropout_prob=0.1)
    assert config.num_hidden_layers == 4 and config.hidden_dropout_prob == 0.1
    assert config.hidden_size == 128


def test_tiny_bert_has_about_a_million_parameters_with_a_1024_vocabulary():
    encoder = BertModel(tiny_bert_config(1024), add_pooling_layer=False)
    assert 0.5e6 < count_parameters(encoder) < 1.5e6


# --- mean pooling ----------------------------------------------------------------------------------

def test_mean_pool_ignores_padding():
    torch.manual_seed(0)
    vectors = torch.randn(3, 5, 8)
    mask = torch.ones(3, 5, dtype=torch.long)
    padded_vectors = torch.cat([vectors, 100 * torch.randn(3, 4, 8)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(3, 4, dtype=torch.long)], dim=1)
    assert torch.allclose(mean_pool(vectors, mask), mean_pool(padded_vectors, padded_mask), atol=1e-6)


def test_mean_pool_is_the_average_of_the_real_tokens():
    vectors = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [50.0, 60.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(vectors, mask), torch.tensor([[2.0, 3.0]]))


def test_mean_pool_of_an_all_padding_row_is_zero_not_nan():
    pooled = mean_pool(torch.randn(1, 3, 4), torch.zeros(1, 3, dtype=torch.long))
    assert torch.equal(pooled, torch.zeros(1, 4))


def test_mean_pooled_classifier_logits_do_not_change_when_padding_is_appended(mlm_model, tokenizer):
    model = build_classifier(mlm_model, "full", LABELS, pooling="mean").eval()
    enc = tokenizer(["the plot was superb ."], return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    pad = torch.full((1, 6), tokenizer.pad_token_id)
    with torch.no_grad():
        alone = model(ids, mask)
        padded = model(torch.cat([ids, pad], dim=1), torch.cat([mask, torch.zeros_like(pad)], dim=1))
    assert torch.allclose(alone, padded, atol=1e-5)


# --- θ and ω ---------------------------------------------------------------------------------------

def test_encoder_holds_theta_and_head_holds_omega_and_together_they_are_all_parameters(classifier):
    theta = {id(p) for p in classifier.encoder.parameters()}
    omega = {id(p) for p in classifier.head.parameters()}
    everything = {id(p) for p in classifier.parameters()}
    assert theta and omega
    assert not theta & omega
    assert theta | omega == everything
    assert count_parameters(classifier) == count_parameters(classifier.encoder) + count_parameters(classifier.head)


def test_head_outputs_one_score_per_class(classifier, tokenizer):
    logits = _logits(classifier, tokenizer, TEXTS)
    assert logits.shape == (len(TEXTS), len(LABELS))
    assert classifier.num_labels == 2 and classifier.label_names == LABELS


def test_count_parameters_trainable_only_skips_frozen_parameters(mlm_model):
    model = build_classifier(mlm_model, "frozen", LABELS)
    assert count_parameters(model, trainable_only=True) == count_parameters(model.head)
    assert count_parameters(model) > count_parameters(model.head)


def test_wrong_number_of_label_names_raises_value_error(mlm_model):
    encoder = BertModel(mlm_model.config, add_pooling_layer=False)
    with pytest.raises(ValueError, match="one name per class"):
        EncoderClassifier(encoder, 3, LABELS)


@pytest.mark.parametrize("kwargs, message", [({"pooling": "max"}, "Unknown pooling"),
                                             ({"num_labels": 1}, "at least 2")])
def test_bad_pooling_or_num_labels_raises_value_error(mlm_model, kwargs, message):
    encoder = BertModel(mlm_model.config, add_pooling_layer=False)
    arguments = {"encoder": encoder, "num_labels": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        EncoderClassifier(**arguments)


# --- saving and loading ----------------------------------------------------------------------------

def test_saved_classifier_loads_in_a_text_classification_pipeline_with_the_real_label_names(
        classifier, tokenizer, tmp_path):
    directory = classifier.save_pretrained(tmp_path / "clf", tokenizer)
    classify = transformers.pipeline("text-classification", model=str(directory))
    results = classify(TEXTS)
    probabilities = torch.softmax(_logits(classifier, tokenizer, TEXTS), dim=-1)
    for result, probs in zip(results, probabilities):
        assert result["label"] in LABELS
        assert not result["label"].startswith("LABEL_")
        assert result["label"] == LABELS[int(probs.argmax())]
        assert result["score"] == pytest.approx(float(probs.max()), abs=1e-4)


def test_saved_classifier_is_a_standard_sequence_classification_model(classifier, tokenizer, tmp_path):
    classifier.save_pretrained(tmp_path, tokenizer)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.id2label == {0: "negative", 1: "positive"}
    assert loaded.config.label2id == {"negative": 0, "positive": 1}
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        theirs = loaded(**enc).logits
    assert torch.allclose(theirs, _logits(classifier, tokenizer, TEXTS), atol=1e-5)


def test_from_pretrained_round_trip_gives_identical_logits(classifier, tokenizer, tmp_path):
    classifier.save_pretrained(tmp_path)
    loaded = EncoderClassifier.from_pretrained(tmp_path)
    assert loaded.label_names == LABELS
    assert not loaded.training
    assert torch.allclose(_logits(loaded, tokenizer, TEXTS), _logits(classifier, tokenizer, TEXTS), atol=1e-6)
    for (name, a), (_, b) in zip(loaded.state_dict().items(), classifier.state_dict().items()):
        assert torch.equal(a, b), name


def test_from_pretrained_on_a_missing_directory_raises_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        EncoderClassifier.from_pretrained(tmp_path / "missing")


@pytest.fixture
def mean_classifier(mlm_model):
    """A classifier that reads the mean of the token vectors, with a head sharp enough that the texts get
    clearly different probabilities (so a wrong pooling or a lost weight shows)."""
    model = build_classifier(mlm_model, "full", LABELS, pooling="mean").eval()
    with torch.no_grad():
        model.head.out.weight.mul_(20.0)
    return model


def test_a_mean_pooled_classifier_is_saved_with_the_code_that_defines_it(mean_classifier, tokenizer, tmp_path):
    directory = mean_classifier.save_pretrained(tmp_path / "mean", tokenizer)
    config = json.loads((directory / "config.json").read_text())
    assert config["architectures"] == ["MeanPooledBertForSequenceClassification"]
    assert config["model_type"] == "mean_pooled_bert"
    assert config["auto_map"] == {
        "AutoConfig": "mean_pooled_bert.MeanPooledBertConfig",
        "AutoModelForSequenceClassification": "mean_pooled_bert.MeanPooledBertForSequenceClassification"}
    assert (directory / "mean_pooled_bert.py").read_text() == Path(mean_pooled_bert.__file__).read_text()


def test_a_saved_mean_pooled_classifier_loads_in_a_pipeline_with_trust_remote_code(mean_classifier, tokenizer,
                                                                                    tmp_path):
    directory = mean_classifier.save_pretrained(tmp_path / "mean", tokenizer)
    classify = transformers.pipeline("text-classification", model=str(directory), trust_remote_code=True)
    probabilities = torch.softmax(_logits(mean_classifier, tokenizer, TEXTS), dim=-1)
    assert float(probabilities[:, 1].max() - probabilities[:, 1].min()) > 0.02  # the texts score differently
    for result, probs in zip(classify(TEXTS), probabilities):
        assert result["label"] == LABELS[int(probs.argmax())]
        assert result["score"] == pytest.approx(float(probs.max()), abs=1e-4)


def test_a_saved_mean_pooled_classifier_is_not_loaded_as_a_cls_reading_bert_without_trust_remote_code(
        mean_classifier, tokenizer, tmp_path):
    directory = mean_classifier.save_pretrained(tmp_path / "mean", tokenizer)
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        AutoModelForSequenceClassification.from_pretrained(directory, trust_remote_code=False)


def test_loading_a_mean_pooled_classifier_leaves_standard_bert_folders_standard(mean_classifier, classifier,
                                                                                tokenizer, tmp_path):
    mean_directory = mean_classifier.save_pretrained(tmp_path / "mean", tokenizer)
    AutoModelForSequenceClassification.from_pretrained(mean_directory, trust_remote_code=True)
    cls_directory = classifier.save_pretrained(tmp_path / "cls", tokenizer)
    assert type(AutoModelForSequenceClassification.from_pretrained(cls_directory)).__name__ \
        == "BertForSequenceClassification"


def test_from_pretrained_round_trip_keeps_mean_pooling(mean_classifier, tokenizer, tmp_path):
    mean_classifier.save_pretrained(tmp_path, tokenizer)
    loaded = EncoderClassifier.from_pretrained(tmp_path)
    assert loaded.head.pooling == "mean" and loaded.label_names == LABELS
    assert torch.allclose(_logits(loaded, tokenizer, TEXTS), _logits(mean_classifier, tokenizer, TEXTS), atol=1e-6)
    for (name, a), (_, b) in zip(loaded.state_dict().items(), mean_classifier.state_dict().items()):
        assert torch.equal(a, b), name


# --- vocabulary check ------------------------------------------------------------------------------

def test_check_vocabulary_accepts_the_matching_tokenizer(classifier, mlm_model, tokenizer):
    assert classifier.encoder.get_input_embeddings().num_embeddings == len(tokenizer)
    assert check_vocabulary(tokenizer, classifier) is None
    assert check_vocabulary(tokenizer, mlm_model) is None


def test_check_vocabulary_names_both_sizes_when_a_tokenizer_of_another_size_is_paired(classifier, tokenizer):
    other = train_tokenizer(["the movie was great .", "the invoice was wrong ."] * 5, vocab_size=60)
    assert len(other) != len(tokenizer)
    with pytest.raises(ValueError, match="not trained together") as err:
        check_vocabulary(other, classifier)
    assert str(len(other)) in str(err.value)
    assert str(classifier.encoder.get_input_embeddings().num_embeddings) in str(err.value)
