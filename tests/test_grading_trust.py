"""Checks students can trust: for each wrong answer a student really wrote that a check once let through
(or a right one it turned down, or a message that sent the student the wrong way), the answer itself and
the verdict it must get now. Lessons 01, 02, 03 and 07."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grading_answers import assert_passes, assert_turned_down
from grading import core


# ---------------------------------------------------------------------------------------------------
# 01.masking
# ---------------------------------------------------------------------------------------------------

def masking(random_as: str = "vocabulary", minus_100: bool = True, unchanged_keep_label: bool = True):
    """An apply_mask that follows the 80/10/10 rule except where told."""
    def apply_mask(input_ids, tokenizer, generator=None):
        special = torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))
        chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special
        split = torch.rand(input_ids.shape, generator=generator)
        labels = input_ids.clone()
        if minus_100:
            labels[~chosen] = -100
        masked = input_ids.clone()
        masked[chosen & (split < 0.8)] = tokenizer.mask_token_id
        randomised = chosen & (split >= 0.8) & (split < 0.9)
        if random_as == "[UNK]":
            masked[randomised] = tokenizer.unk_token_id
        elif random_as == "one id":
            masked[randomised] = int(torch.randint(len(tokenizer), (1,), generator=generator))
        else:
            masked[randomised] = torch.randint(len(tokenizer), input_ids.shape, generator=generator)[randomised]
        if not unchanged_keep_label:
            labels[chosen & (split >= 0.9)] = -100
        return masked, labels
    return apply_mask


def test_the_masking_rule_written_right_passes():
    assert_passes("01.masking", masking())


def test_unk_as_the_random_token_is_turned_down_and_named():
    assert_turned_down("01.masking", masking(random_as="[UNK]"), "the [UNK] token, which is not a random token")


def test_one_random_id_for_the_whole_batch_is_turned_down():
    assert_turned_down("01.masking", masking(random_as="one id"), "Draw a new random id for every position")


def test_labels_never_set_to_minus_100_are_named_as_such_not_as_special_tokens_chosen():
    status, message = core.evaluate(core.get_exercise("01.masking"), masking(minus_100=False))
    assert status == core.INCORRECT and "must get the label -100" in message and "were chosen" not in message


def test_the_unchanged_tokens_losing_their_label_are_named_not_a_mask_share():
    status, message = core.evaluate(core.get_exercise("01.masking"), masking(unchanged_keep_label=False))
    assert status == core.INCORRECT and "left unchanged lost their label" in message and "became [MASK]" not in message


# ---------------------------------------------------------------------------------------------------
# 02.attention_pattern and 02.mean_pool, with left padding
# ---------------------------------------------------------------------------------------------------

def causal_ignoring_padding(attention_mask, causal=False):
    n = attention_mask.shape[1]
    keys = attention_mask.bool()[:, None, :].expand(-1, n, -1)
    return torch.ones(n, n, dtype=torch.bool).tril().expand_as(keys) if causal else keys


def test_a_causal_pattern_that_ignores_padding_is_caught_on_left_padding_with_its_own_message():
    assert_turned_down("02.attention_pattern", causal_ignoring_padding, "real tokens may attend to padding")


def mean_of_the_first_tokens(token_vectors, attention_mask):
    lengths = attention_mask.sum(1).tolist()
    return torch.stack([token_vectors[row, :int(n)].mean(0) for row, n in enumerate(lengths)])


def test_mean_pooling_that_assumes_right_padding_is_caught():
    assert_turned_down("02.mean_pool", mean_of_the_first_tokens, "padded on the left")


# ---------------------------------------------------------------------------------------------------
# 03.classifier and 03.train_step
# ---------------------------------------------------------------------------------------------------

def classifier_with_a_random_pooler(mlm_model, label_names):
    from transformers import BertModel

    from utils import models

    encoder = BertModel(mlm_model.config)
    encoder.load_state_dict(mlm_model.bert.state_dict(), strict=False)
    return models.EncoderClassifier(encoder, len(label_names), label_names)


def test_a_classifier_whose_pooler_was_hidden_by_strict_false_does_not_pass():
    assert_turned_down("03.classifier", classifier_with_a_random_pooler, "add_pooling_layer=False")


def training_step(mistake: str = ""):
    def step(model, optimizer, input_ids, attention_mask, labels):
        scores = model(input_ids, None if mistake == "no mask" else attention_mask)
        if mistake == "softmax first":
            loss = F.cross_entropy(scores.softmax(-1), labels)
        elif mistake == "mse":
            loss = F.mse_loss(scores, F.one_hot(labels, scores.shape[-1]).float())
        else:
            loss = F.cross_entropy(scores, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if mistake == "step twice":
            optimizer.step()
        return loss.item()
    return step


def test_a_right_training_step_passes():
    assert_passes("03.train_step", training_step())


@pytest.mark.parametrize("mistake, words", [
    ("softmax first", "give it the scores (logits) as they come, not their softmax"),
    ("no mask", "pass the attention mask to the model"),
    ("mse", "squared error between the scores and one-hot labels"),
    ("step twice", "call optimizer.step() once per batch"),
])
def test_each_training_step_mistake_gets_its_own_message(mistake, words):
    assert_turned_down("03.train_step", training_step(mistake), words)


def test_the_first_training_step_hint_does_not_give_the_whole_answer():
    first = core.get_exercise("03.train_step").hints[0]
    assert "zero_grad" not in first and "backward" not in first and "cross_entropy" not in first


# ---------------------------------------------------------------------------------------------------
# 07.label_mapping and 07.verbalizer_predict
# ---------------------------------------------------------------------------------------------------

def mapping_that_lets_a_later_key_overwrite(id2label, labels):
    mapping = {int(key): label for key, label in id2label.items()}  # "0" after 0 silently replaces it
    if sorted(mapping) != list(range(len(labels))):
        raise ValueError("the ids must be 0 .. len(labels) - 1")
    if any(label not in labels for label in mapping.values()) or len(set(mapping.values())) != len(labels):
        raise ValueError("every label must be named exactly once")
    return mapping


def test_a_mapping_check_that_lets_key_0_be_overwritten_by_0_as_text_does_not_pass():
    assert_turned_down("07.label_mapping", mapping_that_lets_a_later_key_overwrite, "id 0 is named twice")


def verbalizer_returning_numpy_strings(mask_log_probs, word_ids, labels):
    scores = torch.stack([mask_log_probs[:, word_ids[label]].logsumexp(-1) for label in labels], dim=-1)
    return [np.array(labels)[i] for i in scores.argmax(-1).tolist()]


def test_label_names_of_type_numpy_str_are_label_names():
    assert isinstance(verbalizer_returning_numpy_strings(torch.zeros(1, 3), {"a": [0], "b": [1]}, ["a", "b"])[0],
                      np.str_)
    assert_passes("07.verbalizer_predict", verbalizer_returning_numpy_strings)


def test_positions_instead_of_names_are_still_named_as_positions():
    def positions(mask_log_probs, word_ids, labels):
        scores = torch.stack([mask_log_probs[:, word_ids[label]].logsumexp(-1) for label in labels], dim=-1)
        return scores.argmax(-1).tolist()

    assert_turned_down("07.verbalizer_predict", positions, "not their positions")


# ---------------------------------------------------------------------------------------------------
# The same kind elsewhere: 04.predict also takes label names of type numpy.str_
# ---------------------------------------------------------------------------------------------------

def predict_returning_numpy_strings(model, tokenizer, texts):
    model.eval()
    batch = tokenizer(list(texts), padding=True, return_tensors="pt")
    with torch.no_grad():
        scores = model(batch["input_ids"], batch["attention_mask"])
    return [np.array(model.label_names)[i] for i in scores.argmax(-1).tolist()]


def test_predicted_label_names_of_type_numpy_str_are_label_names():
    assert_passes("04.predict", predict_returning_numpy_strings)
