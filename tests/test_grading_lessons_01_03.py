"""The checks of lessons 01 and 03 (grading/lesson01.py, lesson03.py) tell right from wrong: each
realistic wrong answer below is turned down with a message that says what is wrong, each right answer
written in an unusual way passes, and what the grading core reports for any check (an input changed in
place, a tensor where a Python number is asked, an answer that is not a function) is said clearly."""

from __future__ import annotations

import copy
import math
import statistics

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import BertModel

from grading_answers import assert_passes, assert_turned_down, wrong_answer_ids
from utils import finetuning, models
from grading import core

torch.set_num_threads(1)

# ---------------------------------------------------------------------------------------------------
# 01.masking
# ---------------------------------------------------------------------------------------------------


def _special(input_ids, tokenizer):
    return torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))


def masking(keep_special=False, special_below_5=False, mask_id_103=False, not_chosen_label=-100, in_place=False,
            random_label=False, swapped=False, as_floats=False, as_lists=False, with_chosen=False, share=0.15):
    """An apply_mask that follows the 80/10/10 rule, but for the one mistake asked for."""
    def apply_mask(input_ids, tokenizer, generator=None):
        special = (input_ids < 5) if special_below_5 else _special(input_ids, tokenizer)
        chosen = torch.rand(input_ids.shape, generator=generator) < share
        if not keep_special:
            chosen &= ~special
        roll = torch.rand(input_ids.shape, generator=generator)
        labels = input_ids.clone()
        labels[~chosen] = not_chosen_label
        masked = input_ids if in_place else input_ids.clone()
        masked[chosen & (roll < 0.8)] = 103 if mask_id_103 else tokenizer.mask_token_id
        randomised = chosen & (roll >= 0.8) & (roll < 0.9)
        random_ids = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
        masked[randomised] = random_ids[randomised]
        if random_label:
            labels[randomised] = random_ids[randomised]
        if swapped:
            return labels, masked
        if as_floats:
            return masked.float(), labels.float()
        if as_lists:
            return masked.tolist(), labels.tolist()
        if with_chosen:
            return masked, labels, chosen
        return masked, labels
    return apply_mask


def mask_overlapping_draws(input_ids, tokenizer, generator=None):
    """[MASK] for 80 %, then a random token for 10 % drawn independently: some [MASK]s are overwritten."""
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~_special(input_ids, tokenizer)
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    masked = input_ids.clone()
    masked[chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)] = tokenizer.mask_token_id
    randomised = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.1)
    masked[randomised] = torch.randint(len(tokenizer), input_ids.shape, generator=generator)[randomised]
    return masked, labels


def mask_ninety_ten(input_ids, tokenizer, generator=None):
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~_special(input_ids, tokenizer)
    masked = input_ids.clone()
    masked[chosen & (torch.rand(input_ids.shape, generator=generator) < 0.9)] = tokenizer.mask_token_id
    return masked, input_ids.masked_fill(~chosen, -100)


def mask_without_the_generator(input_ids, tokenizer, generator=None):
    return masking()(input_ids, tokenizer, None)


def mask_with_a_global_seed(input_ids, tokenizer, generator=None):
    torch.manual_seed(0)
    return masking()(input_ids, tokenizer, None)


def mask_a_fixed_share_per_sentence(input_ids, tokenizer, generator=None):
    """round(15 % of the real tokens) per sentence: a one-word sentence is never masked."""
    special = _special(input_ids, tokenizer)
    labels, masked = torch.full_like(input_ids, -100), input_ids.clone()
    for row in range(input_ids.shape[0]):
        real = (~special[row]).nonzero().flatten()
        picked = real[torch.randperm(len(real), generator=generator)[:round(0.15 * len(real))]]
        labels[row, picked] = input_ids[row, picked]
        roll = torch.rand(len(picked), generator=generator)
        masked[row, picked[roll < 0.8]] = tokenizer.mask_token_id
        randomised = picked[(roll >= 0.8) & (roll < 0.9)]
        masked[row, randomised] = torch.randint(len(tokenizer), (len(randomised),), generator=generator)
    return masked, labels


def mask_padding_by_id_0(input_ids, tokenizer, generator=None):
    """Padding taken to be id 0, as in BERT's own vocabulary."""
    special = (input_ids == 0) | (input_ids == tokenizer.cls_token_id) | (input_ids == tokenizer.sep_token_id)
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special
    roll = torch.rand(input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    randomised = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[randomised] = torch.randint(len(tokenizer), input_ids.shape, generator=generator)[randomised]
    return masked, input_ids.masked_fill(~chosen, -100)


def mask_as_numpy(input_ids, tokenizer, generator=None):
    masked, labels = masking()(input_ids, tokenizer, generator)
    return masked.numpy(), labels.numpy()


# Right answers written another way than the solution.

def mask_with_independent_draws(input_ids, tokenizer, generator=None):
    """80 % [MASK]; of the rest, half random: the same shares from separate draws."""
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~_special(input_ids, tokenizer)
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    masked = input_ids.masked_fill(to_mask, tokenizer.mask_token_id)
    masked[to_random] = torch.randint(len(tokenizer), input_ids.shape, generator=generator)[to_random]
    return masked, torch.where(chosen, input_ids, torch.full_like(input_ids, -100))


def mask_with_bernoulli(input_ids, tokenizer, generator=None):
    special = torch.tensor([tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                            for row in input_ids.tolist()]).bool()
    chosen = torch.bernoulli(torch.full(input_ids.shape, 0.15), generator=generator).bool() & ~special
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & chosen
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    masked = input_ids.masked_fill(to_mask, tokenizer.mask_token_id)
    masked = torch.where(to_random, torch.randint(len(tokenizer), input_ids.shape, generator=generator), masked)
    return masked, input_ids.masked_fill(~chosen, -100)


def mask_returning_int32(input_ids, tokenizer, generator=None):
    masked, labels = masking()(input_ids, tokenizer, generator)
    return masked.int(), labels.int()


def mask_with_random_words_only(input_ids, tokenizer, generator=None):
    """Random replacements drawn from the ordinary words only, never a special token."""
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~_special(input_ids, tokenizer)
    roll = torch.rand(input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    randomised = chosen & (roll >= 0.8) & (roll < 0.9)
    words = torch.tensor([i for i in range(len(tokenizer)) if i not in tokenizer.all_special_ids])
    masked[randomised] = words[torch.randint(len(words), input_ids.shape, generator=generator)][randomised]
    return masked, input_ids.masked_fill(~chosen, -100)


# ---------------------------------------------------------------------------------------------------
# 01.masked_accuracy and 01.perplexity
# ---------------------------------------------------------------------------------------------------

def _chosen_right(logits, labels):
    chosen = labels != -100
    return logits.argmax(-1)[chosen] == labels[chosen], chosen


def accuracy_as_a_tensor(logits, labels):
    right, chosen = _chosen_right(logits, labels)
    return right.float().mean() if chosen.any() else torch.tensor(0.0)


def accuracy_over_every_position(logits, labels):
    return (logits.argmax(-1) == labels).float().mean().item()


def accuracy_count(logits, labels):
    return int(_chosen_right(logits, labels)[0].sum())


def accuracy_without_a_guard(logits, labels):
    return _chosen_right(logits, labels)[0].float().mean().item()


def accuracy_in_percent(logits, labels):
    right, chosen = _chosen_right(logits, labels)
    return 100 * right.float().mean().item() if chosen.any() else 0.0


def accuracy_that_overwrites_the_labels(logits, labels):
    labels[labels == -100] = 0
    chosen = labels != 0
    return (logits.argmax(-1)[chosen] == labels[chosen]).float().mean().item() if chosen.any() else 0.0


def accuracy_of_the_top_scores(logits, labels):
    chosen = labels != -100
    return (logits.max(-1).values[chosen] == labels[chosen]).float().mean().item() if chosen.any() else 0.0


def accuracy_that_forgets_to_return(logits, labels):
    _chosen_right(logits, labels)[0].float().mean()


def accuracy_with_numpy(logits, labels):
    predicted, gold = logits.argmax(-1).numpy(), labels.numpy()
    chosen = gold != -100
    return np.float32((predicted[chosen] == gold[chosen]).mean()) if chosen.any() else 0.0


def accuracy_in_integers(logits, labels):
    right, chosen = _chosen_right(logits, labels)
    return int(right.sum()) / int(chosen.sum()) if chosen.any() else 0


def perplexity_mean_of_exp(losses):
    return sum(math.exp(float(x)) for x in losses) / len(losses)


def perplexity_exp_of_sum(losses):
    return math.exp(sum(float(x) for x in losses))


def perplexity_in_bits(losses):
    return 2 ** (sum(float(x) for x in losses) / len(losses))


def perplexity_without_exp(losses):
    return sum(float(x) for x in losses) / len(losses)


def perplexity_of_the_median(losses):
    return math.exp(statistics.median(float(x) for x in losses))


def perplexity_that_sorts_the_losses(losses):
    losses.sort()
    return math.exp(sum(losses) / len(losses))


def perplexity_of_the_first_batch(losses):
    return math.exp(float(losses[0]))


def perplexity_with_torch(losses):
    return torch.exp(torch.as_tensor(losses, dtype=torch.float32).mean())


def perplexity_with_numpy(losses):
    return np.exp(np.mean([float(x) for x in losses]))


def perplexity_geometric_mean(losses):
    return math.prod(math.exp(float(x)) for x in losses) ** (1 / len(losses))


# ---------------------------------------------------------------------------------------------------
# 03.classifier, 03.freeze, 03.train_step
# ---------------------------------------------------------------------------------------------------

def classifier_that_deletes_the_head(mlm_model, label_names):
    encoder = copy.deepcopy(mlm_model.bert)
    del mlm_model.cls
    return models.EncoderClassifier(encoder, len(label_names), label_names)


def classifier_that_replaces_the_head(mlm_model, label_names):
    encoder = copy.deepcopy(mlm_model.bert)
    mlm_model.cls = torch.nn.Identity()
    return models.EncoderClassifier(encoder, len(label_names), label_names)


def classifier_that_freezes_the_pretrained_model(mlm_model, label_names):
    mlm_model.bert.requires_grad_(False)
    encoder = copy.deepcopy(mlm_model.bert).requires_grad_(True)
    return models.EncoderClassifier(encoder, len(label_names), label_names)


def classifier_sharing_the_encoder(mlm_model, label_names):
    return models.EncoderClassifier(mlm_model.bert, len(label_names), label_names)


def classifier_sharing_the_embeddings(mlm_model, label_names):
    encoder = copy.deepcopy(mlm_model.bert)
    encoder.embeddings = mlm_model.bert.embeddings
    return models.EncoderClassifier(encoder, len(label_names), label_names)


def classifier_with_a_random_encoder(mlm_model, label_names):
    return models.EncoderClassifier(BertModel(mlm_model.config, add_pooling_layer=False), len(label_names),
                                    label_names)


def classifier_keeping_the_whole_mlm(mlm_model, label_names):
    return models.EncoderClassifier(copy.deepcopy(mlm_model), len(label_names), label_names)


def classifier_without_label_names(mlm_model, label_names):
    return models.EncoderClassifier(copy.deepcopy(mlm_model.bert), len(label_names))


def classifier_from_the_library(mlm_model, label_names):
    from transformers import BertForSequenceClassification

    return BertForSequenceClassification(mlm_model.config)


def classifier_by_deep_copy(mlm_model, label_names):
    return models.EncoderClassifier(copy.deepcopy(mlm_model.bert), len(label_names), label_names)


def classifier_from_a_copy_of_everything(mlm_model, label_names):
    return models.EncoderClassifier(copy.deepcopy(mlm_model).bert, len(label_names), label_names)


def classifier_that_switches_the_model_to_eval(mlm_model, label_names):
    mlm_model.eval()  # the mode is not a parameter: the pre-trained values are untouched
    encoder = BertModel(mlm_model.config, add_pooling_layer=False)
    encoder.load_state_dict(mlm_model.bert.state_dict())
    return models.EncoderClassifier(encoder, len(label_names), label_names)


def _freeze(model):
    model.encoder.requires_grad_(False)
    model.head.requires_grad_(True)


def freeze_returning_a_tensor(model):
    _freeze(model)
    return torch.tensor(sum(p.numel() for p in model.parameters() if p.requires_grad))


def freeze_returning_a_float(model):
    _freeze(model)
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


def freeze_counting_every_parameter(model):
    _freeze(model)
    return models.count_parameters(model)


def freeze_counting_before_freezing(model):
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    _freeze(model)
    return count


def freeze_counting_the_frozen_ones(model):
    _freeze(model)
    return sum(p.numel() for p in model.parameters() if not p.requires_grad)


def freeze_counting_tensors(model):
    _freeze(model)
    return sum(1 for p in model.parameters() if p.requires_grad)


def freeze_the_embeddings_only(model):
    model.encoder.embeddings.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freeze_by_eval(model):
    model.encoder.eval()
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freeze_a_copy(model):
    frozen = copy.deepcopy(model)
    _freeze(frozen)
    return sum(p.numel() for p in frozen.parameters() if p.requires_grad)


def freeze_without_return(model):
    _freeze(model)


def freeze_with_the_course_counter(model):
    _freeze(model)
    return models.count_parameters(model, trainable_only=True)


def freeze_counting_the_head_with_the_course_counter(model):
    _freeze(model)
    return models.count_parameters(model.head)


def freeze_by_name(model):
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name.startswith("head.")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freeze_returning_a_numpy_integer(model):
    _freeze(model)
    return np.int64(sum(p.numel() for p in model.parameters() if p.requires_grad))


def training_step(mistake: str = ""):
    """One SGD step, right but for the one mistake asked for."""
    def step(model, optimizer, input_ids, attention_mask, labels):
        scores = model(input_ids, attention_mask)
        loss = {"nll on scores": lambda: F.nll_loss(scores, labels),
                "label smoothing": lambda: F.cross_entropy(scores, labels, label_smoothing=0.1),
                }.get(mistake, lambda: F.cross_entropy(scores, labels))()
        if mistake == "own SGD":
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        if mistake == "own Adam":
            optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
        optimizer.zero_grad()
        loss.backward()
        if mistake == "by hand":
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter -= 0.1 * parameter.grad
        else:
            optimizer.step()
        if mistake == "labels changed":
            labels.fill_(0)
        if mistake == "tensor":
            return loss
        if mistake == "detached tensor":
            return loss.detach()
        if mistake == "no return":
            return None
        return loss.item()
    step.__name__ = "training_step_" + (mistake.replace(" ", "_") or "right")
    return step


def training_step_with_one_hot_targets(model, optimizer, input_ids, attention_mask, labels):
    scores = model(input_ids, attention_mask)
    loss = F.cross_entropy(scores, F.one_hot(labels, scores.shape[-1]).float())  # the same loss, as probabilities
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def training_step_in_eval_mode(model, optimizer, input_ids, attention_mask, labels):
    model.eval()  # no dropout in these models: the step is the same
    loss = F.cross_entropy(model(input_ids, attention_mask), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


WRONG = [
    ("01.masking", masking(keep_special=True), "[CLS], [SEP] or [PAD] tokens were chosen"),
    ("01.masking", masking(special_below_5=True), "special tokens at unusual ids"),
    ("01.masking", masking(mask_id_103=True), "most chosen tokens became id 103"),
    ("01.masking", masking(not_chosen_label=0), "the positions that were not chosen got the label 0"),
    ("01.masking", masking(in_place=True), "changed its input `input_ids` in place"),
    ("01.masking", masking(random_label=True), "the label must be the original id"),
    ("01.masking", masking(swapped=True), "Return (masked_ids, labels), in that order"),
    ("01.masking", masking(as_floats=True), "should hold token ids (integers)"),
    ("01.masking", masking(as_lists=True), "should be a torch.Tensor, got list"),
    ("01.masking", masking(with_chosen=True), "a tuple of 3"),
    ("01.masking", masking(share=0.2), "should be chosen with probability 15 %"),
    ("01.masking", mask_overlapping_draws, "expected about 80%"),
    ("01.masking", mask_ninety_ten, "expected about 80%"),
    ("01.masking", mask_without_the_generator, "Draw every random number from the generator"),
    ("01.masking", mask_with_a_global_seed, "Generators with different seeds chose the same tokens"),
    ("01.masking", mask_a_fixed_share_per_sentence, "whatever the length of its sentence"),
    ("01.masking", mask_padding_by_id_0, "special tokens at unusual ids"),
    ("01.masking", mask_as_numpy, "should be a torch.Tensor, got ndarray"),
    ("01.masked_accuracy", accuracy_as_a_tensor, "asks for one Python number: return value.item()"),
    ("01.masked_accuracy", accuracy_over_every_position, "the accuracy over every position"),
    ("01.masked_accuracy", accuracy_count, "the number of right guesses; divide it by the number of chosen"),
    ("01.masked_accuracy", accuracy_without_a_guard, "returned nan (0 divided by 0)"),
    ("01.masked_accuracy", accuracy_in_percent, "a percentage; return the share"),
    ("01.masked_accuracy", accuracy_that_overwrites_the_labels, "changed its input `labels` in place"),
    ("01.masked_accuracy", accuracy_of_the_top_scores, "predicted right is"),
    ("01.masked_accuracy", accuracy_that_forgets_to_return, "is its return statement missing?"),
    ("01.perplexity", perplexity_mean_of_exp, "the mean of exp(loss)"),
    ("01.perplexity", perplexity_exp_of_sum, "expected 7.389"),
    ("01.perplexity", perplexity_in_bits, "expected 1024"),
    ("01.perplexity", perplexity_without_exp, "expected 1024"),
    ("01.perplexity", perplexity_of_the_median, "For losses [4.5, 0.5, 1.0]"),
    ("01.perplexity", perplexity_that_sorts_the_losses, "changed its input `batch_losses` in place"),
    ("01.perplexity", perplexity_of_the_first_batch, "expected 7.389"),
    ("03.classifier", classifier_that_deletes_the_head, "changed its input `mlm_model` in place (its part 'cls' is gone)"),
    ("03.classifier", classifier_that_replaces_the_head, "changed its input `mlm_model` in place"),
    ("03.classifier", classifier_that_freezes_the_pretrained_model, "requires_grad went from True to False"),
    ("03.classifier", classifier_sharing_the_encoder, "they share their weights"),
    ("03.classifier", classifier_sharing_the_embeddings, "they share their weights"),
    ("03.classifier", classifier_with_a_random_encoder, "is not the pre-trained one"),
    ("03.classifier", classifier_keeping_the_whole_mlm, "output layer over the vocabulary"),
    ("03.classifier", classifier_without_label_names, "Pass label_names on to the classifier"),
    ("03.classifier", classifier_from_the_library, "needs an .encoder (θ) and a .head (ω)"),
    ("03.freeze", freeze_returning_a_tensor, "asks for one Python int: return value.item()"),
    ("03.freeze", freeze_returning_a_float, "asks for a whole number, a Python int"),
    ("03.freeze", freeze_counting_every_parameter, "the number of trainable parameters after freezing is 1122"),
    ("03.freeze", freeze_counting_before_freezing, "the number of trainable parameters after freezing is 1122"),
    ("03.freeze", freeze_counting_the_frozen_ones, "the number of trainable parameters after freezing is 1122"),
    ("03.freeze", freeze_counting_tensors, "returned 4;"),
    ("03.freeze", freeze_the_embeddings_only, "some encoder parameters are still trainable"),
    ("03.freeze", freeze_by_eval, "model.eval() or torch.no_grad() do not freeze anything"),
    ("03.freeze", freeze_a_copy, "freezing a copy leaves the model given as it was"),
    ("03.freeze", freeze_without_return, "is its return statement missing?"),
    ("03.train_step", training_step("nll on scores"), "nll_loss expects log probabilities"),
    ("03.train_step", training_step("label smoothing"), "with the optimizer given"),
    ("03.train_step", training_step("own SGD"), "do not make your own"),
    ("03.train_step", training_step("own Adam"), "with the optimizer given"),
    ("03.train_step", training_step("by hand"), "nor change the parameters by hand"),
    ("03.train_step", training_step("labels changed"), "changed its input `labels` in place"),
    ("03.train_step", training_step("tensor"), "still requires gradients"),
    ("03.train_step", training_step("detached tensor"), "asks for one Python number"),
    ("03.train_step", training_step("no return"), "is its return statement missing?"),
]

RIGHT = [
    ("01.masking", masking()),
    ("01.masking", mask_with_independent_draws),
    ("01.masking", mask_with_bernoulli),
    ("01.masking", mask_returning_int32),
    ("01.masking", mask_with_random_words_only),
    ("01.masked_accuracy", accuracy_with_numpy),
    ("01.masked_accuracy", accuracy_in_integers),
    ("01.perplexity", perplexity_with_torch),  # the exercise asks for the perplexity, not for a Python number
    ("01.perplexity", perplexity_with_numpy),
    ("01.perplexity", perplexity_geometric_mean),
    ("03.classifier", classifier_by_deep_copy),
    ("03.classifier", classifier_from_a_copy_of_everything),
    ("03.classifier", classifier_that_switches_the_model_to_eval),
    ("03.freeze", freeze_with_the_course_counter),
    ("03.freeze", freeze_counting_the_head_with_the_course_counter),
    ("03.freeze", freeze_by_name),
    ("03.freeze", freeze_returning_a_numpy_integer),
    ("03.train_step", training_step()),
    ("03.train_step", training_step_with_one_hot_targets),
    ("03.train_step", training_step_in_eval_mode),
]


@pytest.mark.parametrize("exercise_id, wrong, words", WRONG, ids=wrong_answer_ids(WRONG))
def test_a_realistic_wrong_answer_is_turned_down_with_a_message_that_says_why(exercise_id, wrong, words):
    assert_turned_down(exercise_id, wrong, words)


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[f"{i}-{getattr(r, '__name__', r)}" for i, r in RIGHT])
def test_a_right_answer_written_another_way_passes(exercise_id, right):
    assert_passes(exercise_id, right)


def test_a_course_helper_beside_the_students_own_work_is_not_a_borrowed_answer():
    # count_parameters is shown by the lessons and allowed in 03.freeze; the course's own classifier is not.
    assert core.borrowed_from(freeze_with_the_course_counter, allowed=core.get_exercise("03.freeze").helpers) is None
    assert core.borrowed_from(freeze_with_the_course_counter) == "utils.models"

    def classifier_from_the_course(mlm_model, label_names):
        return finetuning.build_classifier(mlm_model, "full", label_names)

    assert_turned_down("03.classifier", classifier_from_the_course, "is imported from utils.finetuning, not written")


# ---------------------------------------------------------------------------------------------------
# What the grading core says for any check
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    (3, "should be a function (def perplexity(...):), but it is an int"),
    (None, "should be a function (def perplexity(...):), but it is None"),
    ("math.exp", "but it is a str"),
])
def test_an_answer_that_is_not_a_function_is_named_as_such(value, words):
    assert_turned_down("01.perplexity", value, words)


def test_a_function_with_other_arguments_than_the_def_line_is_told_to_keep_them():
    def masked_accuracy(logits):
        return 0.0

    assert_turned_down("01.masked_accuracy", masked_accuracy, "could not be called the way the exercise calls it")
    assert_turned_down("01.masked_accuracy", masked_accuracy, "keep the arguments of the def line")


def test_an_error_inside_the_students_code_is_still_the_students():
    def masked_accuracy(logits, labels):
        return len(None)

    status, message = core.evaluate(core.get_exercise("01.masked_accuracy"), masked_accuracy)
    assert status == core.INCORRECT and message.startswith("`masked_accuracy` raised TypeError")


def test_an_input_changed_in_place_is_named_with_what_changed_and_how_to_avoid_it():
    def perplexity(batch_losses):
        batch_losses.append(0.0)
        return math.exp(sum(batch_losses[:-1]) / (len(batch_losses) - 1))

    status, message = core.evaluate(core.get_exercise("01.perplexity"), perplexity)
    assert status == core.INCORRECT
    assert "`perplexity` changed its input `batch_losses` in place (its length went from 1 to 2)" in message
    assert "list(batch_losses)" in message and "could not use" not in message


@pytest.mark.parametrize("value, python, whole, words", [
    (torch.tensor(2.0), True, False, "one Python number: return value.item()"),
    (torch.tensor(2.0, requires_grad=True), True, False, "still requires gradients"),
    (torch.tensor([1.0, 2.0]), False, False, "one number, got a torch.Tensor of shape (2,)"),
    (2.0, False, True, "a whole number, a Python int"),
    (True, False, False, "should return a number, got a bool"),
    (float("nan"), False, False, "it should be a finite number"),
    ([1.0], False, False, "should return a number, got a list"),
])
def test_as_number_says_what_came_back_instead_of_the_number_asked_for(value, python, whole, words):
    with pytest.raises(core.Incorrect, match=None) as error:
        core.as_number(value, "f", "a case", python=python, whole=whole)
    assert words in str(error.value)


@pytest.mark.parametrize("value, python, whole, expected", [
    (torch.tensor(2.5), False, False, 2.5), (np.float32(0.5), True, False, 0.5), (np.int64(3), True, True, 3.0),
    (3, True, True, 3.0), (0.25, True, False, 0.25),
])
def test_as_number_takes_the_numbers_each_kind_of_exercise_allows(value, python, whole, expected):
    assert core.as_number(value, "f", "a case", python=python, whole=whole) == expected
