"""utils.finetuning: the four strategies, the history format, and clear errors on bad input."""

from __future__ import annotations

import math

import datasets
import pytest
import torch
from transformers import BertModel

from utils import config as cfg
from utils.finetuning import (STRATEGIES, _batch, _pad_ids, batch_order, build_classifier, check_labeled_split,
                              default_pooling, encoder_is_fixed, evaluate, fine_tune, train_classifier)
from utils.models import mean_pool
from utils.tokenization import train_tokenizer

FAST = dict(epochs=1, batch_size=16, train_size=64, progress=False)


def _snapshot(module):
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _pretrained_encoder_state(mlm_model):
    return {name: value for name, value in mlm_model.bert.state_dict().items() if not name.startswith("pooler.")}


def _same(state_a, state_b):
    assert state_a.keys() == state_b.keys()
    return all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def _labeled(texts, labels, label_feature=None):
    features = None
    if label_feature is not None:
        features = datasets.Features({"text": datasets.Value("string"), "label": label_feature})
    return datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)


@pytest.fixture(scope="module")
def runs(mlm_model, tokenizer, small_reviews):
    """One short run of each strategy (64 examples, one epoch), shared by the tests below."""
    before = _snapshot(mlm_model)
    results = {s: fine_tune(mlm_model, tokenizer, small_reviews, s, **FAST) for s in STRATEGIES}
    results["mlm_before"] = before
    return results


# --- what each strategy trains ---------------------------------------------------------------------

def test_frozen_leaves_every_encoder_parameter_equal_to_the_pretrained_one(runs, mlm_model):
    model, _ = runs["frozen"]
    assert _same(model.encoder.state_dict(), _pretrained_encoder_state(mlm_model))
    assert all(not p.requires_grad for p in model.encoder.parameters())


def test_frozen_changes_the_head(runs, mlm_model):
    model, history = runs["frozen"]
    untrained = build_classifier(mlm_model, "frozen", model.label_names)  # same seed: the starting head
    assert len(history["train_loss"]) > 0
    assert not _same(model.head.state_dict(), untrained.head.state_dict())


def test_full_changes_the_encoder_and_the_head(runs, mlm_model):
    model, _ = runs["full"]
    untrained = build_classifier(mlm_model, "full", model.label_names)
    assert _same(untrained.encoder.state_dict(), _pretrained_encoder_state(mlm_model))
    assert not _same(model.encoder.state_dict(), _pretrained_encoder_state(mlm_model))
    assert not _same(model.head.state_dict(), untrained.head.state_dict())


def test_scratch_encoder_differs_from_the_pretrained_weights_before_training(mlm_model):
    untrained = build_classifier(mlm_model, "scratch", ["negative", "positive"])
    pretrained = _pretrained_encoder_state(mlm_model)
    state = untrained.encoder.state_dict()
    word_embeddings = "embeddings.word_embeddings.weight"
    assert not torch.equal(state[word_embeddings], pretrained[word_embeddings])
    assert not _same(state, pretrained)
    assert all(p.requires_grad for p in untrained.parameters())


def test_none_returns_a_history_with_empty_train_loss_and_one_validation_result(runs, small_reviews):
    model, history = runs["none"]
    assert history["train_loss"] == [] and history["train_acc"] == []
    assert len(history["val_acc"]) == 1
    assert sum(history["val_pred_counts"][0]) == len(small_reviews["validation"])


def test_none_keeps_the_pretrained_encoder(runs, mlm_model):
    model, _ = runs["none"]
    assert _same(model.encoder.state_dict(), _pretrained_encoder_state(mlm_model))


def test_fine_tuning_never_modifies_the_pretrained_model(runs, mlm_model):
    assert _same(_snapshot(mlm_model), runs["mlm_before"])


def test_fine_tuning_is_reproducible_with_the_same_seed(mlm_model, tokenizer, small_reviews, runs):
    _, again = fine_tune(mlm_model, tokenizer, small_reviews, "frozen", **FAST)
    assert again["train_loss"] == pytest.approx(runs["frozen"][1]["train_loss"])
    assert again["val_pred_counts"] == runs["frozen"][1]["val_pred_counts"]


# --- how the head reads the encoder ---------------------------------------------------------------

def test_frozen_strategy_reads_the_mean_of_the_token_vectors_by_default(runs, mlm_model, tokenizer):
    model, _ = runs["frozen"]
    assert model.head.pooling == "mean" == default_pooling("frozen")
    batch = tokenizer(["the plot was great .", "a dull film with a poor ending , sadly ."], padding=True,
                      return_tensors="pt")
    with torch.no_grad():
        vectors = model.encoder(**batch).last_hidden_state
        by_hand = model.head.out(torch.tanh(model.head.dense(mean_pool(vectors, batch["attention_mask"]))))
        assert torch.allclose(model(batch["input_ids"], batch["attention_mask"]), by_hand, atol=1e-6)


@pytest.mark.parametrize("strategy", ["none", "full", "scratch"])
def test_strategies_that_train_the_encoder_or_nothing_read_cls_by_default(runs, strategy):
    model, _ = runs[strategy]
    assert model.head.pooling == "cls" == default_pooling(strategy)


@pytest.mark.parametrize("strategy, pooling", [("frozen", "cls"), ("full", "mean"), ("scratch", "mean")])
def test_an_explicit_pooling_wins_over_the_strategy_default(mlm_model, tokenizer, small_reviews, strategy, pooling):
    assert build_classifier(mlm_model, strategy, ["negative", "positive"], pooling=pooling).head.pooling == pooling
    model, _ = fine_tune(mlm_model, tokenizer, small_reviews, strategy, pooling=pooling, epochs=1, batch_size=32,
                         train_size=32, progress=False)
    assert model.head.pooling == pooling


def test_default_pooling_of_an_unknown_strategy_raises_value_error_listing_the_choices():
    with pytest.raises(ValueError, match="Unknown strategy") as err:
        default_pooling("partial")
    assert "frozen" in str(err.value)


def test_unknown_pooling_raises_value_error_listing_the_choices(mlm_model):
    with pytest.raises(ValueError, match="Unknown pooling") as err:
        build_classifier(mlm_model, "frozen", ["negative", "positive"], pooling="max")
    assert "cls" in str(err.value) and "mean" in str(err.value)


# --- the history format ----------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["frozen", "full", "scratch"])
def test_history_has_per_step_losses_and_per_epoch_metrics(runs, small_reviews, strategy):
    _, history = runs[strategy]
    assert set(history) >= {"train_loss", "train_acc", "val_loss", "val_acc", "val_pred_counts", "num_classes"}
    assert history["num_classes"] == 2
    steps = -(-FAST["train_size"] // FAST["batch_size"])
    assert len(history["train_loss"]) == steps * FAST["epochs"]
    for key in ("train_acc", "val_loss", "val_acc", "val_pred_counts"):
        assert len(history[key]) == FAST["epochs"], key
    for counts in history["val_pred_counts"]:
        assert len(counts) == 2
        assert sum(counts) == len(small_reviews["validation"])
    assert all(0.0 <= a <= 1.0 for a in history["train_acc"] + history["val_acc"])


def test_history_has_one_entry_per_epoch_for_two_epochs(mlm_model, tokenizer, small_reviews):
    _, history = fine_tune(mlm_model, tokenizer, small_reviews, "frozen", epochs=2, batch_size=32,
                           train_size=32, progress=False)
    assert len(history["train_loss"]) == 2
    assert len(history["val_acc"]) == len(history["val_loss"]) == len(history["val_pred_counts"]) == 2


def test_batches_grouped_by_length_hold_every_example_once_with_less_padding():
    lengths = [int(n) for n in torch.randint(3, 60, (1000,), generator=torch.Generator().manual_seed(0))]
    plain = batch_order(lengths, 16, torch.Generator().manual_seed(1))
    grouped = batch_order(lengths, 16, torch.Generator().manual_seed(1), group_by_length=True, group=10)
    for batches in (plain, grouped):
        assert sorted(i for batch in batches for i in batch) == list(range(1000))
        assert [len(b) for b in batches].count(16) == len(batches) - 1, "full batches but one"
    padded = lambda batches: sum(len(b) * max(lengths[i] for i in b) for b in batches)  # noqa: E731
    assert padded(grouped) < 0.7 * padded(plain), "grouping by length leaves less padding"
    assert grouped != sorted(grouped, key=lambda b: lengths[b[0]]), "the batches still come in a random order"
    # Without grouping the order is the plain shuffle, so runs without it train exactly as before.
    assert plain == [torch.randperm(1000, generator=torch.Generator().manual_seed(1)).tolist()[k:k + 16]
                     for k in range(0, 1000, 16)]


def test_fine_tuning_grouped_by_length_takes_one_step_per_batch(mlm_model, tokenizer, small_reviews):
    _, history = fine_tune(mlm_model, tokenizer, small_reviews, "frozen", epochs=1, batch_size=16, train_size=40,
                           progress=False, group_by_length=True)
    assert len(history["train_loss"]) == 3 and len(history["train_acc"]) == 1


@pytest.mark.parametrize("side", ["right", "left"])
def test_texts_tokenized_once_are_padded_exactly_as_tokenizing_the_batch_pads_them(tokenizer, side):
    texts = ["the acting was great .", "a", "superb " * 200, "", "the plot was dull and the ending was worse ."]
    saved = tokenizer.padding_side
    tokenizer.padding_side = side
    try:
        token_ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
        for rows in ([0, 1, 2, 3, 4], [4, 0], [1], [3, 1]):
            ids, mask = _pad_ids([token_ids[i] for i in rows], tokenizer, torch.device("cpu"))
            expected_ids, expected_mask = _batch(tokenizer, [texts[i] for i in rows], torch.device("cpu"))
            assert torch.equal(ids, expected_ids) and torch.equal(mask, expected_mask)
    finally:
        tokenizer.padding_side = saved
    assert max(map(len, token_ids)) == 128, "a text longer than the limit is cut as before"


def test_a_frozen_encoder_runs_once_and_trains_the_head_as_running_it_every_step(
        mlm_model, tokenizer, small_reviews, monkeypatch):
    monkeypatch.setattr("utils.finetuning._STORED", {})
    train = small_reviews["train"].select(range(40))
    calls = []
    runs = {}
    for cached in (True, False):
        model = build_classifier(mlm_model, "frozen", ["negative", "positive"], seed=3)
        assert encoder_is_fixed(model)
        hook = model.encoder.register_forward_hook(lambda *_: calls.append(cached))
        if not cached:
            monkeypatch.setattr("utils.finetuning._fixed_token_vectors", lambda *a, **k: None)
            monkeypatch.setattr("utils.finetuning.encoder_is_fixed", lambda _: False)
        history = train_classifier(model, tokenizer, train, epochs=2, batch_size=8, lr=1e-2, seed=3, progress=False)
        hook.remove()
        runs[cached] = model, history
    assert calls.count(True) == 1, "the frozen encoder ran once, for all 40 examples"
    assert calls.count(False) == 10, "without it, once per step (5 steps, 2 epochs)"
    (cached, cached_history), (plain, plain_history) = runs[True], runs[False]
    assert cached_history["train_loss"] == pytest.approx(plain_history["train_loss"], rel=1e-4)
    assert cached_history["train_acc"] == plain_history["train_acc"]
    moved = max(float((a - b).detach().abs().max()) for a, b in zip(cached.head.parameters(), plain.head.parameters()))
    assert moved < 1e-4, "the same head, up to rounding"


def test_an_encoder_counts_as_fixed_exactly_when_none_of_its_parameters_trains(mlm_model):
    assert encoder_is_fixed(build_classifier(mlm_model, "frozen", ["a", "b"]))
    assert not encoder_is_fixed(build_classifier(mlm_model, "full", ["a", "b"]))
    partly = build_classifier(mlm_model, "frozen", ["a", "b"])
    partly.encoder.encoder.layer[-1].requires_grad_(True)   # the top layer unfrozen: θ moves
    assert not encoder_is_fixed(partly)


def test_a_frozen_encoder_with_dropout_trains_in_evaluation_mode(mlm_model, tokenizer, small_reviews, monkeypatch):
    """Frozen means θ fixed and the encoder used as it will be at prediction time: without dropout, as in
    MiniLM's case (dropout 0.1), where a training-mode encoder would give other vectors at every step."""
    import copy

    monkeypatch.setattr("utils.finetuning._STORED", {})
    config = copy.deepcopy(mlm_model.config)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.3
    encoder = BertModel(config, add_pooling_layer=False)
    encoder.load_state_dict(mlm_model.bert.state_dict())
    model = build_classifier(encoder, "frozen", ["negative", "positive"], seed=1)
    vectors = []
    model.encoder.register_forward_hook(lambda module, args, output: vectors.append(module.training))
    train_classifier(model, tokenizer, small_reviews["train"].select(range(16)), epochs=2, batch_size=8,
                     lr=1e-2, progress=False)
    assert vectors == [False], "computed once, in evaluation mode"
    assert not model.encoder.training


def test_a_budget_in_steps_takes_exactly_that_many_optimizer_steps(mlm_model, tokenizer, small_reviews):
    train = small_reviews["train"].select(range(40))   # 3 steps per epoch in batches of 16
    for steps in (1, 3, 7):
        model = build_classifier(mlm_model, "full", ["negative", "positive"])
        history = train_classifier(model, tokenizer, train, small_reviews["validation"], batch_size=16, lr=1e-3,
                                   steps=steps, progress=False)
        assert len(history["train_loss"]) == steps
        assert len(history["val_acc"]) == math.ceil(steps / 3), "validated after every pass, the last one cut short"
    with pytest.raises(ValueError, match="whole number of optimizer steps"):
        train_classifier(build_classifier(mlm_model, "full", ["a", "b"]), tokenizer, train, steps=0, progress=False)


def test_fused_adamw_trains_the_same_model_to_within_rounding(mlm_model, tokenizer, small_reviews):
    runs = {fused: fine_tune(mlm_model, tokenizer, small_reviews, "full", epochs=1, batch_size=16, train_size=40,
                             progress=False, fused=fused) for fused in (False, True)}
    (plain, plain_history), (fused, fused_history) = runs[False], runs[True]
    assert plain_history["train_loss"] == pytest.approx(fused_history["train_loss"], rel=1e-4)
    moved = max(float((a - b).detach().abs().max()) for a, b in zip(plain.parameters(), fused.parameters()))
    assert moved < 1e-4, "the same updates, up to rounding"
    before = dict(mlm_model.named_parameters())["bert.embeddings.word_embeddings.weight"]
    assert not torch.equal(fused.encoder.embeddings.word_embeddings.weight, before), "θ was updated too"


def test_adamw_is_fused_by_default_on_a_cpu_and_not_when_asked(mlm_model, tokenizer, small_reviews, monkeypatch):
    asked = []
    adamw = torch.optim.AdamW

    def recording(*args, **kwargs):
        asked.append(kwargs.get("fused"))
        return adamw(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", recording)
    for fused in (None, False):
        fine_tune(mlm_model, tokenizer, small_reviews, "frozen", epochs=1, batch_size=16, train_size=16,
                  progress=False, fused=fused)
    assert asked == [True, None], "fused on the CPU by default; fused=False leaves torch its own default"


def test_evaluate_reports_accuracy_loss_and_predictions(runs, tokenizer, small_reviews):
    model, history = runs["frozen"]
    result = evaluate(model, tokenizer, small_reviews["validation"])
    assert len(result["predictions"]) == len(small_reviews["validation"])
    assert result["pred_counts"] == history["val_pred_counts"][-1]
    correct = sum(p == y for p, y in zip(result["predictions"], small_reviews["validation"]["label"]))
    assert result["accuracy"] == pytest.approx(correct / len(small_reviews["validation"]))
    assert result["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)


# --- bad input, clear messages ---------------------------------------------------------------------

def test_unknown_strategy_raises_value_error_listing_the_choices(mlm_model, tokenizer, small_reviews):
    with pytest.raises(ValueError, match="Unknown strategy") as err:
        fine_tune(mlm_model, tokenizer, small_reviews, "partial", **FAST)
    for strategy in STRATEGIES:
        assert strategy in str(err.value)


def test_label_outside_the_class_range_raises_value_error_mentioning_the_range():
    split = _labeled(["a", "b", "c"], [0, 1, 5])
    with pytest.raises(ValueError, match=r"outside 0\.\.1") as err:
        check_labeled_split(split, 2)
    assert "[5]" in str(err.value)


def test_negative_label_raises_value_error():
    with pytest.raises(ValueError, match="outside"):
        check_labeled_split(_labeled(["a", "b"], [0, -1]), 2)


def test_fractional_labels_raise_value_error_asking_for_whole_numbers():
    with pytest.raises(ValueError, match="whole-number"):
        check_labeled_split(_labeled(["a", "b"], [0.0, 1.0]), 2)


def test_string_labels_without_label2id_raise_value_error_mentioning_label2id():
    split = _labeled(["good", "bad"], ["positive", "negative"])
    with pytest.raises(ValueError, match="label2id"):
        check_labeled_split(split, 2)


def test_string_labels_with_an_incomplete_label2id_raise_value_error_naming_the_missing_label():
    split = _labeled(["good", "bad", "meh"], ["positive", "negative", "neutral"])
    with pytest.raises(ValueError, match="neutral") as err:
        check_labeled_split(split, 3, label2id={"negative": 0, "positive": 2})
    assert "positive" not in str(err.value).split("found")[0]


def test_string_labels_with_a_complete_label2id_are_converted_to_int_labels():
    split = _labeled(["good", "bad", "meh"], ["positive", "negative", "neutral"])
    converted = check_labeled_split(split, 3, label2id={"negative": 0, "neutral": 1, "positive": 2})
    assert converted["label"] == [2, 0, 1]
    assert all(isinstance(label, int) for label in converted["label"])
    assert converted["text"] == ["good", "bad", "meh"]


def test_string_labels_are_converted_when_the_split_has_extra_columns():
    split = datasets.Dataset.from_dict({"text": ["good", "bad"], "label": ["positive", "negative"], "idx": [0, 1]})
    converted = check_labeled_split(split, 2, label2id={"negative": 0, "positive": 1})
    assert converted["label"] == [1, 0]
    assert converted["idx"] == [0, 1]


def test_converted_string_labels_train_a_classifier(mlm_model, tokenizer):
    split = _labeled(["the plot was superb .", "the plot was dreadful ."] * 8, ["positive", "negative"] * 8)
    converted = check_labeled_split(split, 2, label2id={"negative": 0, "positive": 1})
    model = build_classifier(mlm_model, "frozen", ["negative", "positive"])
    history = train_classifier(model, tokenizer, converted, converted, epochs=1, batch_size=8, progress=False)
    assert len(history["train_loss"]) == 2
    assert sum(history["val_pred_counts"][0]) == 16


def test_class_label_split_passes_unchanged():
    split = _labeled(["a", "b"], [1, 0], datasets.ClassLabel(names=["negative", "positive"]))
    assert check_labeled_split(split, 2)["label"] == [1, 0]


def test_empty_dataset_raises_value_error_mentioning_empty():
    empty = _labeled([], [], datasets.ClassLabel(names=["negative", "positive"]))
    with pytest.raises(ValueError, match="empty"):
        check_labeled_split(empty, 2)


def test_empty_train_split_in_training_raises_value_error(mlm_model, tokenizer):
    empty = _labeled([], [], datasets.ClassLabel(names=["negative", "positive"]))
    model = build_classifier(mlm_model, "frozen", ["negative", "positive"])
    with pytest.raises(ValueError, match="empty"):
        train_classifier(model, tokenizer, empty, epochs=1, progress=False)


def test_split_without_a_label_column_raises_value_error_naming_it():
    with pytest.raises(ValueError, match="missing: label"):
        check_labeled_split(datasets.Dataset.from_dict({"text": ["a"], "y": [0]}), 2)


def test_a_non_dataset_split_raises_type_error():
    with pytest.raises(TypeError, match="datasets.Dataset"):
        check_labeled_split({"text": ["a"], "label": [0]}, 2)


def test_tokenizer_and_model_vocabulary_mismatch_raises_value_error(mlm_model, tokenizer, small_reviews):
    other = train_tokenizer(["the movie was great .", "the invoice was wrong ."] * 5, vocab_size=60)
    assert len(other) != len(tokenizer)
    model = build_classifier(mlm_model, "frozen", ["negative", "positive"])
    with pytest.raises(ValueError, match="tokens but the model has embeddings"):
        train_classifier(model, other, small_reviews["train"], epochs=1, progress=False)


def test_model_with_no_trainable_parameter_raises_value_error(mlm_model, tokenizer, small_reviews):
    model = build_classifier(mlm_model, "frozen", ["negative", "positive"])
    for p in model.parameters():
        p.requires_grad_(False)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="No parameter of the model is trainable"):
        train_classifier(model, tokenizer, small_reviews["train"], epochs=1, progress=False)
    assert _same(_snapshot(model), before)


def test_train_size_larger_than_the_train_split_raises_value_error(mlm_model, tokenizer, small_reviews):
    with pytest.raises(ValueError, match="train_size=1000"):
        fine_tune(mlm_model, tokenizer, small_reviews, "frozen", epochs=1, train_size=1000, progress=False)


def test_task_that_is_not_a_datasetdict_raises_value_error(mlm_model, tokenizer, small_reviews):
    with pytest.raises(ValueError, match="DatasetDict"):
        fine_tune(mlm_model, tokenizer, small_reviews["train"], "frozen", **FAST)


def test_unknown_profile_name_raises_value_error_listing_laptop_and_full():
    with pytest.raises(ValueError, match="Unknown profile") as err:
        cfg.get_profile("huge")
    assert "laptop" in str(err.value) and "full" in str(err.value)


def test_get_profile_returns_a_profile_object_as_it_is_and_defaults_to_laptop(tiny_profile):
    assert cfg.get_profile(tiny_profile) is tiny_profile
    assert cfg.get_profile().name == "laptop"
    assert cfg.get_profile("full").corpus_sentences > cfg.get_profile("laptop").corpus_sentences


def test_a_frozen_encoder_is_run_once_for_several_runs_on_the_same_texts(mlm_model, tokenizer, small_reviews,
                                                                          monkeypatch):
    """A grid of learning rates and several seeds train and score the same frozen θ on the same texts: its pass
    over them is made once, and the head's scores are the ones a pass through the whole model gives."""
    monkeypatch.setattr("utils.finetuning._STORED", {})
    calls = []
    train = small_reviews["train"].select(range(24))
    models = []
    for seed in (1, 2):
        model = build_classifier(mlm_model, "frozen", ["negative", "positive"], seed=seed)
        model.encoder.register_forward_hook(lambda module, args, output: calls.append(args or output))
        train_classifier(model, tokenizer, train, epochs=1, batch_size=8, lr=1e-2, seed=seed, progress=False)
        result = evaluate(model, tokenizer, small_reviews["validation"])
        models.append((model, result))
    assert len(calls) <= 2, "one pass for the training texts and one for the validation texts, for both runs"
    model, result = models[1]
    enc = tokenizer(list(small_reviews["validation"]["text"]), padding=True, return_tensors="pt")
    model.encoder.requires_grad_(True)   # now evaluate runs the whole model
    with torch.no_grad():
        direct = model(enc["input_ids"], enc["attention_mask"]).argmax(-1).tolist()
    assert direct == result["predictions"]
