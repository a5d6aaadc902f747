"""Prompting, the label-mapping contract and the polarity service (utils.prompting, utils.causal_lm)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utils import causal_lm, prompting
from utils.finetuning import build_classifier

LABELS = list(prompting.CANONICAL_LABELS)
TEXTS = ["the plot was great .", "a boring film .", "i found the acting lovely and the ending dull ."]


@pytest.fixture(scope="module")
def words(tokenizer):
    """Four ordinary words that are single tokens of the tiny test tokenizer, and one that is not."""
    vocab = tokenizer.get_vocab()
    single = sorted(w for w in vocab if w.isalpha() and len(w) >= 3)[:4]
    assert len(single) == 4, "the test tokenizer should know a few whole words"
    several = single[0] + single[1] + "q"
    assert len(tokenizer.tokenize(several)) > 1
    return {"single": single, "several": several}


@pytest.fixture(scope="module")
def verbalizer(words):
    a, b, c, d = words["single"]
    return {a: "positive", b: "positive", c: "negative", d: "negative"}


@pytest.fixture(scope="module")
def classifier(mlm_model):
    return build_classifier(mlm_model, "full", LABELS).eval()


@pytest.fixture(scope="module")
def tiny_lm(tokenizer):
    torch.manual_seed(0)
    return causal_lm.GPT2LMHeadModel(causal_lm.tiny_gpt_config(tokenizer, n_layer=1, n_embd=32, n_inner=64)).eval()


# ---------------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("template, complaint", [
    ("{text} and great .", "0 [MASK]"),
    ("{text} [MASK] and [MASK] .", "2 [MASK]"),
    ("it was [MASK] .", "0 {text}"),
    ("{text} {text} [MASK] .", "2 {text}"),
    ("{review} was [MASK] .", "{review}"),
    ("{text was [MASK] .", "braces"),
])
def test_a_template_needs_exactly_one_text_slot_and_one_mask_slot(template, complaint):
    with pytest.raises(ValueError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        prompting.check_template(template)


def test_a_template_is_filled_with_the_review_without_its_closing_full_stop():
    assert prompting.fill_template("{text} and [MASK] .", "the plot was great .") == "the plot was great and [MASK] ."
    assert prompting.fill_template("[MASK] : {text}", "a {curly} review") == "[MASK] : a {curly} review"
    with pytest.raises(ValueError, match="contains"):
        prompting.fill_template("{text} [MASK]", "a [MASK] in the review")


def test_a_causal_template_must_end_with_the_blank_after_the_review():
    assert prompting.check_causal_template("{text} , [MASK] .")
    with pytest.raises(ValueError, match="after the blank"):
        prompting.check_causal_template("[MASK] , {text} .")
    with pytest.raises(ValueError, match="come after the blank"):
        prompting.check_causal_template("{text} , [MASK] overall .")


# ---------------------------------------------------------------------------------------------------
# Verbalizer scoring with the masked language model
# ---------------------------------------------------------------------------------------------------

def test_verbalizer_scores_are_log_probabilities_at_the_mask_one_per_class(mlm_model, tokenizer, verbalizer):
    log_probs = prompting.mask_log_probs(mlm_model, tokenizer, TEXTS, "{text} and [MASK] .")
    assert log_probs.shape == (len(TEXTS), len(tokenizer))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(len(TEXTS)), atol=1e-4)

    scores = prompting.verbalizer_scores(mlm_model, tokenizer, TEXTS, verbalizer, "{text} and [MASK] .", LABELS)
    assert scores.shape == (len(TEXTS), len(LABELS))
    for j, label in enumerate(LABELS):
        ids = tokenizer.convert_tokens_to_ids([w for w, lab in verbalizer.items() if lab == label])
        assert torch.allclose(scores[:, j], log_probs[:, ids].exp().sum(-1).log(), atol=1e-5)
    assert bool((scores <= 0).all())


def test_scores_of_a_batch_equal_scores_one_by_one(mlm_model, tokenizer, verbalizer):
    backend = prompting.PromptBackend(mlm_model, tokenizer, verbalizer, ["{text} and [MASK] .", "[MASK] , {text} ."])
    batch = backend.scores(TEXTS)
    alone = torch.cat([backend.scores([t]) for t in TEXTS])
    assert torch.allclose(batch, alone, atol=1e-5)


def test_several_templates_average_their_scores(mlm_model, tokenizer, verbalizer):
    templates = ["{text} and [MASK] .", "[MASK] , {text} ."]
    each = [prompting.PromptBackend(mlm_model, tokenizer, verbalizer, t).scores(TEXTS) for t in templates]
    both = prompting.PromptBackend(mlm_model, tokenizer, verbalizer, templates).scores(TEXTS)
    assert torch.allclose(both, (each[0] + each[1]) / 2, atol=1e-5)


def test_a_threshold_from_labels_lies_halfway_between_the_labels():
    scores = torch.tensor([[0.0, 1.0], [0.0, 3.0], [0.0, 5.0], [0.0, 7.0]])
    bias = prompting.label_threshold_bias(scores, torch.tensor([0, 0, 1, 1]))
    # class means of (positive - negative): 2 and 6, so the threshold is 4
    assert float(bias[1] - bias[0]) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="every label"):
        prompting.label_threshold_bias(scores, torch.tensor([1, 1, 1, 1]))


def test_with_as_many_labeled_examples_of_each_label_the_threshold_from_labels_is_the_centered_one():
    # The mean over a balanced set is the midpoint of the two labels' means: labels add nothing to centering.
    scores = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1] * 20)
    assert torch.allclose(prompting.label_threshold_bias(scores, labels), prompting.centering_bias(scores), atol=1e-6)
    lopsided = torch.tensor([0] * 30 + [1] * 10)
    assert not torch.allclose(prompting.label_threshold_bias(scores, lopsided), prompting.centering_bias(scores))


def test_moving_the_threshold_keeps_the_order_of_the_reviews():
    # A bias moves the threshold only: the reviews keep their order by score difference.
    scores = torch.randn(30, 2, generator=torch.Generator().manual_seed(1))
    bias = prompting.label_threshold_bias(scores, torch.tensor([0, 1] * 15))
    difference = lambda s: s[:, 1] - s[:, 0]
    assert torch.equal(difference(scores).argsort(), difference(scores - bias).argsort())


def test_centering_subtracts_the_mean_score_so_answers_split_around_it():
    # score differences 1.5, 0.5, -0.5, -1.5, plus a lean of 1 towards column 0
    scores = torch.tensor([[1.25, -1.25], [0.75, -0.75], [0.25, -0.25], [-0.25, 0.25]])
    bias = prompting.centering_bias(scores)
    assert torch.allclose(bias, torch.tensor([0.5, -0.5]))
    assert (scores.argmax(-1) == 0).sum() == 3 and ((scores - bias).argmax(-1) == 0).sum() == 2
    with pytest.raises(ValueError, match="one score row per unlabeled example"):
        prompting.centering_bias(torch.zeros(0, 2))


def test_a_centered_backend_needs_no_labels_and_changes_only_its_bias(mlm_model, tokenizer, verbalizer):
    backend = prompting.PromptBackend(mlm_model, tokenizer, verbalizer)
    centered = backend.centered(TEXTS)
    assert torch.allclose(centered.bias, backend.raw_scores(TEXTS).mean(0))
    assert torch.allclose(centered.scores(TEXTS).mean(0), torch.zeros(2), atol=1e-5)
    assert centered.model is backend.model and centered.templates == backend.templates


def test_a_threshold_from_labels_changes_only_the_bias(mlm_model, tokenizer, verbalizer):
    backend = prompting.PromptBackend(mlm_model, tokenizer, verbalizer)
    tuned = backend.threshold_from_labels(TEXTS[:2], ["positive", "negative"])
    assert torch.allclose(tuned.scores(TEXTS), backend.raw_scores(TEXTS) - tuned.bias)
    assert tuned.model is backend.model and not torch.equal(tuned.bias, backend.bias)


def test_labeled_draws_are_balanced_nested_and_repeatable():
    labels = [0] * 30 + [1] * 50
    draws = prompting.draw_labeled(labels, [4, 8, 20], seed=3)
    for n, rows in draws.items():
        assert len(set(rows)) == n and sum(labels[i] for i in rows) == n // 2
    assert set(draws[4]) <= set(draws[8]) <= set(draws[20])
    assert draws == prompting.draw_labeled(labels, [4, 8, 20], seed=3)
    assert draws != prompting.draw_labeled(labels, [4, 8, 20], seed=4)


@pytest.mark.parametrize("sizes, message", [([7], "multiple of 2"), ([1], "multiple of 2"), ([80], "at most 60")])
def test_a_labeled_draw_that_cannot_be_balanced_says_what_to_ask_for(sizes, message):
    with pytest.raises(ValueError, match=message):
        prompting.draw_labeled([0] * 30 + [1] * 50, sizes, seed=0)
    with pytest.raises(ValueError, match="one label only"):
        prompting.draw_labeled([1] * 10, [2], seed=0)


# ---------------------------------------------------------------------------------------------------
# The label contract
# ---------------------------------------------------------------------------------------------------

def test_a_valid_verbalizer_passes_as_it_is(tokenizer, verbalizer):
    assert prompting.check_verbalizer(verbalizer, tokenizer) == verbalizer
    assert prompting.check_verbalizer(list(verbalizer.items()), tokenizer) == verbalizer


def test_verbalizer_contract_violations_say_what_is_wrong(tokenizer, words, verbalizer):
    a, b, c, _ = words["single"]
    cases = {
        "no label word for \\['negative'\\]": {a: "positive"},
        "not one of the service's labels": {a: "positive", c: "postive", b: "negative"},
        "same word as": {a: "positive", c: "negative", a.upper(): "negative"},
        "mapped once": [(a, "positive"), (c, "negative"), (a, "negative")],
        "single token": {**verbalizer, words["several"]: "positive"},
        "not in the tokenizer's vocabulary": {**verbalizer, "ωμέγα": "positive"},
        "special token": {**verbalizer, "[MASK]": "positive"},
    }
    for message, broken in cases.items():
        with pytest.raises(ValueError, match=message):
            prompting.check_verbalizer(broken, tokenizer)


def test_a_causal_verbalizer_may_use_words_of_several_pieces(tokenizer, words, verbalizer):
    several = {**verbalizer, words["several"]: "positive"}
    assert prompting.check_verbalizer(several, tokenizer, single_token=False) == several


def test_a_valid_id2label_passes_in_any_spelling():
    assert prompting.check_id2label({0: "negative", 1: "positive"}) == {0: "negative", 1: "positive"}
    assert prompting.check_id2label({"1": "positive", "0": "negative"}) == {0: "negative", 1: "positive"}
    assert prompting.check_id2label(["positive", "negative"]) == {0: "positive", 1: "negative"}


@pytest.mark.parametrize("id2label, outputs, message", [
    ({0: "negative"}, 2, "0..1"),
    ({0: "negative", 1: "positive", 2: "neutral"}, 3, "not one of the service's labels"),
    ({0: "negative", "0": "positive", 1: "positive"}, 2, "names class id 0 twice"),
    ({0: "positive", 1: "positive"}, 2, "both id 0 and id 1"),
    ({0: "LABEL_0", 1: "LABEL_1"}, 2, "without label names"),
    ({0: "negative", 2: "positive"}, 2, "0..1"),
    ({"first": "negative", 1: "positive"}, 2, "not a class id"),
])
def test_id2label_contract_violations_say_what_is_wrong(id2label, outputs, message):
    with pytest.raises(ValueError, match=message):
        prompting.check_id2label(id2label, num_outputs=outputs)


def test_every_label_must_be_covered_by_the_classifier():
    with pytest.raises(ValueError, match="No id of id2label maps to \\['positive'\\]"):
        prompting.check_id2label({0: "negative", 1: "neutral"}, labels=["negative", "neutral", "positive"])


# ---------------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------------

def test_the_service_answers_with_canonical_labels_from_both_backends(mlm_model, tokenizer, classifier, verbalizer):
    for service in (prompting.PolarityService.from_classifier(classifier, tokenizer),
                    prompting.PolarityService.from_prompt(mlm_model, tokenizer, verbalizer)):
        answers = service.classify(TEXTS)
        assert len(answers) == len(TEXTS) and set(answers) <= set(LABELS)
        assert service.scores(TEXTS).shape == (len(TEXTS), 2)


def test_the_classifier_backend_puts_columns_in_canonical_order(classifier, tokenizer):
    straight = prompting.ClassifierBackend(classifier, tokenizer).scores(TEXTS)
    reversed_ids = prompting.ClassifierBackend(classifier, tokenizer, {0: "positive", 1: "negative"}).scores(TEXTS)
    assert torch.allclose(straight, reversed_ids.flip(-1))


def test_a_broken_mapping_stops_the_service_from_being_built(mlm_model, tokenizer, classifier, words):
    with pytest.raises(ValueError, match="exactly one id"):
        prompting.PolarityService.from_classifier(classifier, tokenizer, {0: "positive", 1: "positive"})
    with pytest.raises(ValueError, match="no label word"):
        prompting.PolarityService.from_prompt(mlm_model, tokenizer, {words["single"][0]: "positive"})
    with pytest.raises(ValueError, match="one \\{text\\} slot|exactly\\s+one"):
        prompting.PolarityService.from_prompt(mlm_model, tokenizer, template="[MASK] .")


def test_the_service_refuses_a_single_string_and_other_models(classifier, tokenizer, mlm_model):
    service = prompting.PolarityService.from_classifier(classifier, tokenizer)
    with pytest.raises(TypeError, match="list of reviews"):
        service.classify("the plot was great .")
    with pytest.raises(TypeError, match="EncoderClassifier"):
        prompting.ClassifierBackend(mlm_model, tokenizer)


# ---------------------------------------------------------------------------------------------------
# Comparing backends
# ---------------------------------------------------------------------------------------------------

def test_agreement_is_the_share_of_equal_answers():
    assert prompting.agreement(["positive", "negative", "positive", "positive"],
                               ["positive", "positive", "positive", "negative"]) == 0.5
    with pytest.raises(ValueError, match="same"):
        prompting.agreement(["positive"], ["positive", "negative"])


def test_confusion_matrix_counts_reference_rows_and_predicted_columns():
    reference = ["negative", "negative", "positive", "positive", "positive"]
    predicted = ["negative", "positive", "positive", "positive", "negative"]
    matrix = prompting.confusion_matrix(reference, predicted)
    assert matrix.tolist() == [[1, 1], [1, 2]]
    assert prompting.confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]).tolist() == matrix.tolist()
    with pytest.raises(ValueError, match="Unknown label"):
        prompting.confusion_matrix(["negative"], ["neutral"])


def test_swapped_answers_swap_the_columns_and_turn_agreement_around():
    rng = np.random.default_rng(0)
    reference = [LABELS[i] for i in rng.integers(0, 2, 50)]
    predicted = [LABELS[i] for i in rng.integers(0, 2, 50)]
    swapped = ["positive" if p == "negative" else "negative" for p in predicted]
    assert (prompting.confusion_matrix(reference, swapped) ==
            prompting.confusion_matrix(reference, predicted)[:, ::-1]).all()
    assert prompting.agreement(reference, swapped) == pytest.approx(1 - prompting.agreement(reference, predicted))


# ---------------------------------------------------------------------------------------------------
# The causal language model backend
# ---------------------------------------------------------------------------------------------------

def test_causal_scores_follow_the_chain_rule(tiny_lm, tokenizer, words):
    word = words["several"]
    got = prompting.causal_word_log_probs(tiny_lm, tokenizer, TEXTS[:1], [word], "{text} , [MASK] .")
    prefix = [tokenizer.cls_token_id] + tokenizer("the plot was great ,", add_special_tokens=False)["input_ids"]
    pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        log_probs = tiny_lm(input_ids=torch.tensor([prefix + pieces])).logits.log_softmax(-1)[0]
    expected = sum(float(log_probs[len(prefix) - 1 + k, piece]) for k, piece in enumerate(pieces))
    assert float(got[0, 0]) == pytest.approx(expected, abs=1e-4)


def test_causal_scores_of_a_batch_equal_scores_one_by_one(tiny_lm, tokenizer, verbalizer, words):
    backend = prompting.CausalPromptBackend(tiny_lm, tokenizer, {**verbalizer, words["several"]: "negative"})
    batch = backend.scores(TEXTS)
    assert batch.shape == (len(TEXTS), 2)
    assert torch.allclose(batch, torch.cat([backend.scores([t]) for t in TEXTS]), atol=1e-4)
    assert set(prompting.PolarityService(backend).classify(TEXTS)) <= set(LABELS)


def test_the_causal_model_is_cached_with_its_tokenizer(tiny_profile, pretrained_dir, tmp_path):
    first, tokenizer, history = causal_lm.load_or_pretrain_causal(
        tiny_profile, steps=2, directory=tmp_path / "clm", mlm_directory=pretrained_dir, progress=False)
    again, _, history_again = causal_lm.load_or_pretrain_causal(
        tiny_profile, steps=2, directory=tmp_path / "clm", mlm_directory=pretrained_dir, progress=False)
    assert len(history["train_loss"]) == 2 and history_again == history
    assert all(torch.equal(p, q) for p, q in zip(first.state_dict().values(), again.state_dict().values()))
    assert first.config.vocab_size == len(tokenizer)


def test_two_callers_asking_for_the_causal_model_at_once_train_it_once(tiny_profile, pretrained, tmp_path,
                                                                       monkeypatch):
    import threading
    import time

    # The two callers are threads of this process, which share torch's random generator and the library's
    # loading state; they are given the masked LM ready-made, so the only work they share is the locked one
    # (in the course, the callers are separate processes).
    monkeypatch.setattr(causal_lm, "load_or_pretrain", lambda *args, **kwargs: pretrained)
    trained = []
    real = causal_lm.pretrain_causal

    def slow_pretrain(*args, **kwargs):
        trained.append(threading.get_ident())
        time.sleep(0.5)   # long enough for the other caller to arrive while this one trains
        return real(*args, **kwargs)

    monkeypatch.setattr(causal_lm, "pretrain_causal", slow_pretrain)
    models = []

    def ask():
        models.append(causal_lm.load_or_pretrain_causal(tiny_profile, steps=2, directory=tmp_path / "clm",
                                                        progress=False)[0])

    callers = [threading.Thread(target=ask) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(trained) == 1 and len(models) == 2
    assert all(torch.equal(p, q) for p, q in zip(*(m.state_dict().values() for m in models)))


def test_next_token_loss_is_the_library_causal_loss(tiny_lm, tokenizer):
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    with torch.no_grad():
        ours = causal_lm.next_token_loss(tiny_lm, enc["input_ids"], enc["attention_mask"])
        library = tiny_lm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
    assert float(ours) == pytest.approx(float(library), abs=1e-5)
