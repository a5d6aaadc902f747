"""utils.diagnose: each failure code on a history that shows it, no false alarm on healthy runs, clear
errors for bad histories, and check_setup on real small models."""

from __future__ import annotations

import dataclasses
import math
import random

import datasets
import pytest
import torch
from transformers import BertModel

from utils import data
from utils.diagnose import CODES, Finding, check_setup, diagnose, format_findings
from utils.finetuning import build_classifier, fine_tune
from utils.models import EncoderClassifier
from utils.tokenization import train_tokenizer

LABELS = ["negative", "positive"]


def history(train_loss=None, train_acc=None, val_loss=None, val_acc=None, num_classes=2, val_pred_counts=None):
    """A hand-made history in the format utils.finetuning returns; the defaults describe a healthy run."""
    h = {"train_loss": train_loss if train_loss is not None else [0.70, 0.62, 0.50, 0.41, 0.33, 0.27, 0.22, 0.18],
         "train_acc": train_acc if train_acc is not None else [0.80, 0.93],
         "val_loss": val_loss if val_loss is not None else [0.40, 0.30],
         "val_acc": val_acc if val_acc is not None else [0.86, 0.91],
         "num_classes": num_classes}
    if val_pred_counts is not None:
        h["val_pred_counts"] = val_pred_counts
    return h


def codes(findings):
    return [f.code for f in findings]


# --- one history per code ---------------------------------------------------------------------------

def test_a_loss_that_becomes_nan_is_diverged():
    found = diagnose(history(train_loss=[0.7, 0.9, 3.0, float("nan"), float("nan")]))
    assert "diverged" in codes(found)
    assert "step 4" in found[0].message


def test_a_loss_that_climbs_far_above_its_start_is_diverged():
    climbing = [0.7, 1.5, 2.5, 3.0, 2.8, 2.6, 2.4, 2.0, 1.5, 1.0]
    found = diagnose(history(train_loss=climbing))
    assert codes(found)[0] == "diverged"
    assert "0.70" in found[0].message


def test_a_single_noisy_batch_is_not_diverged():
    spike = [0.69, 0.65, 0.60, 1.5, 0.50, 0.40, 0.30, 0.25, 0.2, 0.15, 0.1, 0.08]
    assert codes(diagnose(history(train_loss=spike))) == ["healthy"]


@pytest.mark.parametrize("num_classes", [2, 3, 10])
def test_a_loss_that_stays_at_ln_c_is_not_learning(num_classes):
    flat = [math.log(num_classes) + 0.01 * (-1) ** i for i in range(40)]
    found = diagnose(history(train_loss=flat, num_classes=num_classes, train_acc=[0.5, 0.5],
                             val_acc=[1 / num_classes] * 2))
    assert codes(found) == ["not_learning"]
    assert f"ln C = {math.log(num_classes):.3f}" in found[0].message


def test_a_loss_that_stays_above_ln_c_is_not_learning():
    # A head that starts out overconfident begins above ln C; with nothing learned, it stays there.
    stuck = [0.85 + 0.01 * (-1) ** i for i in range(40)]
    assert codes(diagnose(history(train_loss=stuck))) == ["not_learning"]


def test_a_loss_just_below_the_not_learning_band_is_healthy():
    falling = [0.69] * 10 + [0.60] * 30
    assert codes(diagnose(history(train_loss=falling))) == ["healthy"]


def test_validation_accuracy_far_below_chance_is_below_chance():
    found = diagnose(history(train_acc=[0.9, 0.98], val_loss=[2.0, 3.5], val_acc=[0.08, 0.03],
                             val_pred_counts=[[95, 105], [98, 102]]))
    assert codes(found) == ["below_chance"]
    assert "0.030" in found[0].message and "0.500" in found[0].message


def test_below_chance_is_not_also_reported_as_overfitting():
    found = diagnose(history(train_acc=[0.9, 0.98], val_loss=[2.0, 3.5], val_acc=[0.08, 0.03]))
    assert "overfitting" not in codes(found)


def test_a_low_score_on_a_tiny_validation_split_is_not_below_chance():
    # 1 of 5 right happens by chance; it is no evidence of a label mix-up.
    found = diagnose(history(val_acc=[0.4, 0.2], val_pred_counts=[[3, 2], [2, 3]]))
    assert "below_chance" not in codes(found)


def test_a_large_train_validation_gap_with_rising_validation_loss_is_overfitting():
    found = diagnose(history(train_acc=[0.8, 0.95, 1.0], val_loss=[0.60, 0.70, 0.95], val_acc=[0.80, 0.66, 0.62],
                             val_pred_counts=[[100, 100], [110, 90], [120, 80]]))
    assert codes(found) == ["overfitting"]
    assert "epoch 1" in found[0].message and "stop at epoch 1" in found[0].fix


# --- early stopping: judged by validation accuracy against a guess, not by the loss ----------------------

OVERFIT = dict(train_acc=[0.8, 0.95, 1.0], val_loss=[0.75, 0.95, 1.30])
BALANCED = [0] * 100 + [1] * 100


def test_early_stopping_is_advised_when_an_earlier_epoch_beat_the_majority_class_clearly():
    # Epoch 1's validation loss, 0.75, is above ln 2 = 0.693 (an overconfident model), yet its accuracy is
    # far above a guess: the loss cannot judge whether an epoch generalised, the accuracy can.
    found = diagnose(history(**OVERFIT, val_acc=[0.80, 0.70, 0.65], val_pred_counts=[[100, 100]] * 3),
                     validation_labels=BALANCED)
    assert codes(found) == ["overfitting"]
    assert "stop at epoch 1" in found[0].fix and "0.800" in found[0].fix


def test_early_stopping_is_not_advised_when_no_epoch_beat_the_majority_class_clearly():
    labels = [0] * 103 + [1] * 97    # majority class: 0.515
    found = diagnose(history(**OVERFIT, val_acc=[0.55, 0.58, 0.56], val_pred_counts=[[100, 100]] * 3),
                     validation_labels=labels)
    assert codes(found) == ["overfitting"]
    assert "stop at" not in found[0].fix and "Stopping early would not help" in found[0].fix
    assert "0.515" in found[0].fix and "more labeled examples" in found[0].fix


def test_on_an_unbalanced_split_the_guess_is_the_majority_class_not_chance():
    labels = [0] * 160 + [1] * 40    # always answering 0 scores 0.80
    run = history(**OVERFIT, val_acc=[0.82, 0.76, 0.70], val_pred_counts=[[190, 10], [170, 30], [150, 50]])
    assert "Stopping early would not help" in diagnose(run, validation_labels=labels)[0].fix
    assert "stop at epoch 1" in diagnose(run)[0].fix   # against chance (0.5), 0.82 is clearly better


def test_a_lucky_epoch_on_a_small_split_is_not_clearly_better_than_a_guess():
    # 13 of 20 right is within three standard deviations of a coin (0.5 + 3 x 0.11).
    found = diagnose(history(**OVERFIT, val_acc=[0.65, 0.55, 0.50], val_pred_counts=[[10, 10]] * 3),
                     validation_labels=[0] * 10 + [1] * 10)
    assert "Stopping early would not help" in found[0].fix


def test_early_stopping_is_not_advised_when_the_last_epoch_is_the_most_accurate():
    found = diagnose(history(**OVERFIT, val_acc=[0.70, 0.72, 0.75], val_pred_counts=[[100, 100]] * 3),
                     validation_labels=BALANCED)
    assert codes(found) == ["overfitting"]
    assert "stop at" not in found[0].fix and "highest at the last epoch" in found[0].fix


@pytest.mark.parametrize("labels, pattern", [
    ("0101", "expected the validation split's labels"),
    ([0, 1, 2] * 10, r"one whole number in 0\.\.1"),
    ([0.0, 1.0] * 100, r"one whole number in 0\.\.1"),
    ([], r"one whole number in 0\.\.1"),
    ([0, 1] * 50, "has 100 labels but the history validated 200 examples"),
])
def test_validation_labels_that_do_not_fit_the_history_raise_value_error(labels, pattern):
    with pytest.raises(ValueError, match=pattern):
        diagnose(history(val_pred_counts=[[100, 100], [100, 100]]), validation_labels=labels)


def test_a_gap_without_rising_validation_loss_is_not_overfitting():
    found = diagnose(history(train_acc=[0.9, 1.0], val_loss=[0.70, 0.65], val_acc=[0.70, 0.72]))
    assert "overfitting" not in codes(found)


def test_almost_all_predictions_in_one_class_is_majority_class():
    found = diagnose(history(val_acc=[0.5, 0.5], val_pred_counts=[[190, 10], [196, 4]]))
    assert codes(found) == ["majority_class"]
    assert "98%" in found[0].message and "class 0" in found[0].message


def test_majority_class_is_not_also_called_overfitting():
    found = diagnose(history(train_acc=[0.95, 0.95], val_loss=[0.7, 0.9], val_acc=[0.5, 0.5],
                             val_pred_counts=[[200, 0], [200, 0]]))
    assert codes(found) == ["majority_class"]


def test_a_falling_loss_with_good_validation_is_healthy_and_only_healthy():
    found = diagnose(history(val_pred_counts=[[101, 99], [98, 102]]))
    assert codes(found) == ["healthy"]
    assert "0.910" in found[0].message


def test_the_start_of_the_loss_is_named_as_the_first_steps_one_batch():
    # Step 1's loss is one batch, far noisier than the loss on a validation split: the message says so.
    assert "from 0.700 (step 1, one batch)" in diagnose(history())[0].message
    assert "step 1, one batch: 0.693" in diagnose(history(train_loss=[0.693] * 20))[0].message


def test_a_history_without_validation_is_judged_on_its_loss_only():
    found = diagnose(history(val_loss=[], val_acc=[]))
    assert codes(found) == ["healthy"]
    assert "only the training loss" in found[0].message


def test_healthy_never_comes_with_another_code():
    broken = [history(train_loss=[0.7, float("inf")]), history(train_loss=[0.693] * 20),
              history(val_acc=[0.1, 0.02]), history(val_pred_counts=[[200, 0], [200, 0]])]
    for h in broken:
        assert "healthy" not in codes(diagnose(h))


def test_every_code_is_documented_in_codes():
    assert {"diverged", "not_learning", "overfitting", "majority_class", "below_chance", "healthy",
            "weights_not_loaded", "nothing_trainable", "encoder_frozen", "head_size_mismatch",
            "vocabulary_mismatch", "setup_ok"} <= set(CODES)
    import utils.diagnose as module
    assert all(f"``{code}``" in module.__doc__ for code in CODES)


# --- findings ---------------------------------------------------------------------------------------

def test_a_finding_is_frozen_and_prints_its_code_message_and_fix():
    finding = Finding("healthy", "all good", "nothing to do")
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.code = "diverged"
    text = format_findings([finding, Finding("diverged", "loss is nan", "lower the learning rate")])
    assert text.splitlines() == ["[healthy] all good", "    fix: nothing to do",
                                 "[diverged] loss is nan", "    fix: lower the learning rate"]


def test_every_finding_has_a_one_line_message_and_fix():
    for h in (history(), history(train_loss=[0.693] * 20), history(val_acc=[0.1, 0.02])):
        for f in diagnose(h):
            assert f.message and f.fix and "\n" not in f.message + f.fix


# --- bad histories, clear messages ------------------------------------------------------------------

@pytest.mark.parametrize("key", ["train_loss", "train_acc", "val_loss", "val_acc", "num_classes"])
def test_a_missing_key_raises_value_error_naming_it(key):
    h = history()
    del h[key]
    with pytest.raises(ValueError, match=f"no '{key}'"):
        diagnose(h)


def test_an_empty_loss_list_raises_value_error_saying_there_was_no_training():
    with pytest.raises(ValueError, match=r"'train_loss'\] is empty"):
        diagnose(history(train_loss=[]))


def test_a_history_that_is_not_a_dict_raises_value_error():
    with pytest.raises(ValueError, match="expected the dict"):
        diagnose([0.7, 0.6])


@pytest.mark.parametrize("bad, pattern", [
    (dict(train_loss="0.7 0.6"), r"'train_loss'\] is a str"),
    (dict(train_loss=[0.7, "0.6"]), r"'train_loss'\]\[1\] is '0.6'"),
    (dict(train_loss=[torch.tensor(0.7)]), r"loss\.item\(\)"),
    (dict(val_acc=[86.0, 91.0]), "not a percentage"),
    (dict(num_classes=1), "at least 2"),
    (dict(num_classes="2"), "whole number"),
    (dict(val_loss=[0.4]), "one of each per validated epoch"),
    (dict(val_pred_counts=[[100, 100]]), "1 entries for 2"),
    (dict(val_pred_counts=[[100, 100], [200]]), r"val_pred_counts'\]\[1\]"),
])
def test_wrong_types_raise_value_error_saying_what_is_expected(bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        diagnose(history(**bad))


# --- real runs --------------------------------------------------------------------------------------

def _easy_task() -> datasets.DatasetDict:
    """Reviews that differ only in their adjective: a task even the session's barely pre-trained model
    learns in a few steps (the full review task needs the real checkpoint)."""
    def split(n, seed, products):
        rng = random.Random(seed)
        rows = {"text": [], "label": []}
        for i in range(n):
            adjective = rng.choice(data.POLARITY_WORDS[LABELS[i % 2]]["seen"])
            rows["text"].append(f"the {rng.choice(data.ASPECTS)} of this {rng.choice(products)} was {adjective} .")
            rows["label"].append(i % 2)
        features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)})
        return datasets.Dataset.from_dict(rows, features=features)

    return datasets.DatasetDict(train=split(64, 0, data.PRODUCTS[:5]), validation=split(32, 1, data.PRODUCTS[5:]))


def test_a_real_short_fine_tuning_run_is_healthy(mlm_model, tokenizer):
    _, h = fine_tune(mlm_model, tokenizer, _easy_task(), "full", epochs=4, batch_size=8, lr=3e-3, progress=False)
    assert codes(diagnose(h)) == ["healthy"]


def test_the_history_of_the_none_strategy_is_refused_as_no_training(mlm_model, tokenizer, small_reviews):
    _, h = fine_tune(mlm_model, tokenizer, small_reviews, "none", progress=False)
    with pytest.raises(ValueError, match="no training to diagnose"):
        diagnose(h)


# --- check_setup on real small models ---------------------------------------------------------------

def test_a_correctly_built_classifier_is_setup_ok(mlm_model, tokenizer, pretrained_dir):
    model = build_classifier(mlm_model, "full", LABELS)
    for checkpoint in (pretrained_dir, mlm_model):
        assert codes(check_setup(model, tokenizer, num_labels=2, checkpoint=checkpoint)) == ["setup_ok"]


def test_a_frozen_strategy_classifier_is_setup_ok_when_a_frozen_encoder_is_intended(mlm_model, tokenizer):
    model = build_classifier(mlm_model, "frozen", LABELS)
    assert codes(check_setup(model, tokenizer, num_labels=2, expect_trainable="head")) == ["setup_ok"]


def test_a_randomly_initialised_encoder_is_weights_not_loaded(mlm_model, pretrained_dir):
    # seed=0: another initialisation than the checkpoint's own (which a 5-step pre-training barely moved).
    model = build_classifier(mlm_model, "scratch", LABELS, seed=0)
    for checkpoint in (pretrained_dir, mlm_model):
        found = check_setup(model, checkpoint=checkpoint)
        assert codes(found) == ["weights_not_loaded"]
        assert "random weights, not from θ" in found[0].message


def test_a_loose_load_with_the_wrong_key_prefix_is_weights_not_loaded(mlm_model, pretrained_dir):
    torch.manual_seed(0)
    encoder = BertModel(mlm_model.config, add_pooling_layer=False)
    result = encoder.load_state_dict(mlm_model.state_dict(), strict=False)  # keys are 'bert.…': nothing loads
    assert result.missing_keys
    model = EncoderClassifier(encoder, 2, LABELS)
    assert "weights_not_loaded" in codes(check_setup(model, checkpoint=pretrained_dir))


def test_an_encoder_of_another_shape_is_weights_not_loaded(mlm_model, pretrained_dir):
    config = mlm_model.config.__class__.from_dict({**mlm_model.config.to_dict(), "intermediate_size": 64})
    model = EncoderClassifier(BertModel(config, add_pooling_layer=False), 2, LABELS)
    found = check_setup(model, checkpoint=pretrained_dir)
    assert codes(found) == ["weights_not_loaded"] and "another shape" in found[0].message


def test_a_fine_tuned_encoder_still_counts_as_loaded(mlm_model, tokenizer, small_reviews):
    model, _ = fine_tune(mlm_model, tokenizer, small_reviews, "full", epochs=1, batch_size=16, progress=False)
    assert "weights_not_loaded" not in codes(check_setup(model, checkpoint=mlm_model))


def test_a_model_with_every_parameter_frozen_is_nothing_trainable(mlm_model):
    model = build_classifier(mlm_model, "full", LABELS)
    model.requires_grad_(False)
    assert codes(check_setup(model)) == ["nothing_trainable"]


def test_a_frozen_encoder_is_encoder_frozen_when_full_fine_tuning_is_intended(mlm_model):
    model = build_classifier(mlm_model, "full", LABELS)
    model.encoder.requires_grad_(False)
    found = check_setup(model, expect_trainable="all")
    assert codes(found) == ["encoder_frozen"]
    assert codes(check_setup(model, expect_trainable=None)) == ["setup_ok"]


def test_a_trainable_encoder_is_encoder_not_frozen_when_a_frozen_encoder_is_intended(mlm_model):
    model = build_classifier(mlm_model, "full", LABELS)
    assert codes(check_setup(model, expect_trainable="head")) == ["encoder_not_frozen"]


def test_a_frozen_head_is_head_frozen(mlm_model):
    model = build_classifier(mlm_model, "full", LABELS)
    model.head.out.requires_grad_(False)
    assert codes(check_setup(model)) == ["head_frozen"]


def test_a_head_with_three_outputs_for_two_labels_is_head_size_mismatch(mlm_model):
    model = build_classifier(mlm_model, "full", ["negative", "neutral", "positive"])
    found = check_setup(model, num_labels=2)
    assert codes(found) == ["head_size_mismatch"]
    assert "3 scores" in found[0].message


def test_the_pre_training_model_used_as_a_classifier_is_head_size_mismatch(mlm_model, tokenizer):
    found = check_setup(mlm_model, tokenizer, num_labels=2, checkpoint=mlm_model)
    assert codes(found) == ["head_size_mismatch"]
    assert f"{len(tokenizer)} scores" in found[0].message and "vocabulary" in found[0].message


def test_a_tokenizer_of_another_size_is_vocabulary_mismatch(mlm_model, tokenizer):
    other = train_tokenizer(["the movie was great .", "the invoice was wrong ."] * 5, vocab_size=60)
    found = check_setup(build_classifier(mlm_model, "full", LABELS), other)
    assert codes(found) == ["vocabulary_mismatch"]
    assert str(len(other)) in found[0].message


def test_a_tokenizer_of_the_same_size_from_other_text_is_vocabulary_mismatch(mlm_model, tokenizer, pretrained_dir):
    from pydoc_data.topics import topics  # Python's own reference manual: English text of another kind

    lines = [line for doc in list(topics.values())[:20] for line in doc.splitlines() if line.strip()]
    other = train_tokenizer(lines, vocab_size=len(tokenizer))
    assert len(other) == len(tokenizer)
    model = build_classifier(mlm_model, "full", LABELS)
    assert codes(check_setup(model, other, checkpoint=mlm_model)) == ["setup_ok"]  # sizes alone agree
    found = check_setup(model, other, checkpoint=pretrained_dir)
    assert codes(found) == ["vocabulary_mismatch"]
    assert "right size" in found[0].message


def test_several_set_up_problems_are_all_reported(mlm_model, tokenizer, pretrained_dir):
    model = build_classifier(mlm_model, "scratch", ["negative", "neutral", "positive"], seed=0)
    model.encoder.requires_grad_(False)
    found = codes(check_setup(model, tokenizer, num_labels=2, checkpoint=pretrained_dir))
    assert found == ["weights_not_loaded", "encoder_frozen", "head_size_mismatch"]


def test_check_setup_rejects_bad_arguments_with_clear_errors(mlm_model, tmp_path):
    model = build_classifier(mlm_model, "full", LABELS)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        check_setup("model")
    with pytest.raises(ValueError, match="expect_trainable"):
        check_setup(model, expect_trainable="some")
    with pytest.raises(ValueError, match="num_labels"):
        check_setup(model, num_labels=1)
    with pytest.raises(FileNotFoundError, match="No model.safetensors"):
        check_setup(model, checkpoint=tmp_path)
