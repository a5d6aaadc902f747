"""utils.pretraining: the masking rule (checked against transformers' own collator) and the cached
pre-training."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from pathlib import Path

import pytest
import torch
import transformers
from transformers import BertForMaskedLM, DataCollatorForLanguageModeling

from utils import config as cfg
from utils import pretraining
from utils.pretraining import IGNORE_INDEX, load_or_pretrain, load_pretrained, mask_tokens

ROWS, WIDTH = 2000, 32
SIGMAS = 5.0


# --- a large batch of token ids: [CLS] words [SEP] [PAD]... -------------------------------------------

@pytest.fixture(scope="module")
def unpadded_rows(tokenizer):
    """ROWS sequences of 8..WIDTH tokens, each [CLS] + ordinary token ids + [SEP], without padding."""
    generator = torch.Generator().manual_seed(0)
    special = set(tokenizer.all_special_ids)
    ordinary = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    rows = []
    for _ in range(ROWS):
        length = int(torch.randint(8, WIDTH + 1, (1,), generator=generator))
        body = ordinary[torch.randint(len(ordinary), (length - 2,), generator=generator)].tolist()
        rows.append([tokenizer.cls_token_id, *body, tokenizer.sep_token_id])
    return rows


@pytest.fixture(scope="module")
def batch(unpadded_rows, tokenizer):
    ids = torch.full((ROWS, WIDTH), tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(unpadded_rows):
        ids[i, :len(row)] = torch.tensor(row)
    return ids


def _special_mask(ids, tokenizer):
    special = torch.tensor(tokenizer.all_special_ids)
    return torch.isin(ids, special)


def _proportions(original, masked, labels, tokenizer):
    """Counts behind the four proportions of BERT's rule: chosen among maskable tokens, then among the
    chosen: replaced by [MASK], by another token, or left unchanged."""
    maskable = ~_special_mask(original, tokenizer)
    chosen = labels != IGNORE_INDEX
    n_maskable, n_chosen = int(maskable.sum()), int(chosen.sum())
    to_mask = int((chosen & (masked == tokenizer.mask_token_id)).sum())
    unchanged = int((chosen & (masked == original)).sum())
    other = n_chosen - to_mask - unchanged
    return {"chosen": (n_chosen, n_maskable), "mask": (to_mask, n_chosen), "random": (other, n_chosen),
            "unchanged": (unchanged, n_chosen)}


def _expected(vocab_size):
    # A random replacement can land on [MASK] or on the original token (1 / V each).
    return {"chosen": 0.15, "mask": 0.8 + 0.1 / vocab_size, "random": 0.1 * (1 - 2 / vocab_size),
            "unchanged": 0.1 + 0.1 / vocab_size}


# --- mask_tokens: the rule -------------------------------------------------------------------------

def test_special_tokens_are_never_chosen_for_masking(batch, tokenizer):
    masked, labels = mask_tokens(batch, tokenizer, generator=torch.Generator().manual_seed(1))
    special = _special_mask(batch, tokenizer)
    assert special.any()
    assert (labels[special] == IGNORE_INDEX).all()
    assert torch.equal(masked[special], batch[special])
    for token_id in (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id):
        assert (labels[batch == token_id] == IGNORE_INDEX).all()


def test_labels_are_ignore_index_exactly_where_not_chosen_and_original_ids_where_chosen(batch, tokenizer):
    masked, labels = mask_tokens(batch, tokenizer, generator=torch.Generator().manual_seed(2))
    chosen = labels != IGNORE_INDEX
    assert chosen.any()
    assert torch.equal(labels[chosen], batch[chosen])
    assert (labels[~chosen] == IGNORE_INDEX).all()
    # Only chosen positions may change.
    assert torch.equal(masked[~chosen], batch[~chosen])


def test_mask_tokens_does_not_modify_its_input(batch, tokenizer):
    before = batch.clone()
    mask_tokens(batch, tokenizer, generator=torch.Generator().manual_seed(3))
    assert torch.equal(batch, before)


def test_masking_proportions_are_15_percent_chosen_then_80_10_10(batch, tokenizer):
    masked, labels = mask_tokens(batch, tokenizer, generator=torch.Generator().manual_seed(4))
    counts = _proportions(batch, masked, labels, tokenizer)
    expected = _expected(len(tokenizer))
    assert counts["chosen"][1] > 20_000  # enough tokens for a tight test
    for key, (hits, total) in counts.items():
        p = expected[key]
        standard_error = math.sqrt(p * (1 - p) / total)
        assert abs(hits / total - p) < SIGMAS * standard_error, (key, hits / total, p)


def test_masking_proportions_agree_with_transformers_data_collator(unpadded_rows, batch, tokenizer):
    ours_masked, ours_labels = mask_tokens(batch, tokenizer, generator=torch.Generator().manual_seed(5))
    ours = _proportions(batch, ours_masked, ours_labels, tokenizer)

    torch.manual_seed(1234)  # a different stream from ours, so the comparison is a statistical one
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    out = collator([{"input_ids": row} for row in unpadded_rows])
    theirs_original = torch.full_like(out["input_ids"], tokenizer.pad_token_id)
    for i, row in enumerate(unpadded_rows):
        theirs_original[i, :len(row)] = torch.tensor(row)
    # The collator also leaves special tokens alone and marks the rest with -100.
    assert (out["labels"][_special_mask(theirs_original, tokenizer)] == IGNORE_INDEX).all()
    chosen = out["labels"] != IGNORE_INDEX
    assert torch.equal(out["labels"][chosen], theirs_original[chosen])
    theirs = _proportions(theirs_original, out["input_ids"], out["labels"], tokenizer)

    for key in ours:
        (h1, n1), (h2, n2) = ours[key], theirs[key]
        p1, p2 = h1 / n1, h2 / n2
        pooled = (h1 + h2) / (n1 + n2)
        standard_error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        assert abs(p1 - p2) < SIGMAS * standard_error, (key, p1, p2)


def test_same_generator_seed_gives_the_same_masking(batch, tokenizer):
    a = mask_tokens(batch, tokenizer, generator=torch.Generator().manual_seed(7))
    b = mask_tokens(batch, tokenizer, generator=torch.Generator().manual_seed(7))
    c = mask_tokens(batch, tokenizer, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


@pytest.mark.parametrize("probability", [0.0, 1.0, -0.1, 1.5])
def test_mlm_probability_outside_zero_one_raises_value_error(batch, tokenizer, probability):
    with pytest.raises(ValueError, match="mlm_probability"):
        mask_tokens(batch[:2], tokenizer, mlm_probability=probability)


def test_higher_mlm_probability_chooses_more_tokens(batch, tokenizer):
    _, low = mask_tokens(batch, tokenizer, 0.1, generator=torch.Generator().manual_seed(9))
    _, high = mask_tokens(batch, tokenizer, 0.5, generator=torch.Generator().manual_seed(9))
    assert (high != IGNORE_INDEX).sum() > 3 * (low != IGNORE_INDEX).sum()


# --- load_or_pretrain: caching ---------------------------------------------------------------------

def _count_calls(monkeypatch):
    calls = []
    original = pretraining.pretrain

    def spy(*args, **kwargs):
        calls.append(kwargs.get("steps"))
        return original(*args, **kwargs)

    monkeypatch.setattr(pretraining, "pretrain", spy)
    return calls


def test_checkpoint_holds_model_tokenizer_history_and_settings(pretrained_dir, tiny_profile):
    names = {p.name for p in pretrained_dir.iterdir()}
    assert {"config.json", "tokenizer.json", pretraining.HISTORY_FILE, pretraining.SETTINGS_FILE} <= names
    settings = json.loads((pretrained_dir / pretraining.SETTINGS_FILE).read_text())
    assert settings["pretrain_steps"] == tiny_profile.pretrain_steps
    assert settings["vocab_size"] == tiny_profile.vocab_size
    assert settings["seed"] == cfg.SEED


def test_history_has_one_loss_per_step_and_summary_numbers(pretrained, tiny_profile):
    model, tokenizer, history = pretrained
    assert len(history["train_loss"]) == tiny_profile.pretrain_steps
    assert all(math.isfinite(x) and x > 0 for x in history["train_loss"])
    assert history["perplexity"] == pytest.approx(math.exp(history["final_loss"]))
    assert history["parameters"] == sum(p.numel() for p in model.parameters())
    assert history["tokens_seen"] > 0


def test_pretrained_model_and_tokenizer_share_one_vocabulary(pretrained, tiny_profile):
    model, tokenizer, _ = pretrained
    assert isinstance(model, BertForMaskedLM)
    assert len(tokenizer) <= tiny_profile.vocab_size
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert not model.training


def test_second_call_with_the_same_settings_loads_instead_of_training(pretrained_dir, pretrained, tiny_profile,
                                                                        monkeypatch):
    calls = _count_calls(monkeypatch)
    weights = pretrained_dir / "model.safetensors"
    mtime = os.stat(weights).st_mtime_ns
    start = time.perf_counter()
    model, tokenizer, history = load_or_pretrain(tiny_profile, directory=pretrained_dir, progress=False)
    assert calls == []
    assert time.perf_counter() - start < 10
    assert os.stat(weights).st_mtime_ns == mtime
    assert history == pretrained[2]
    for (name, a), (_, b) in zip(model.state_dict().items(), pretrained[0].state_dict().items()):
        assert torch.equal(a, b), name


def test_changing_a_setting_retrains(pretrained_dir, tiny_profile, tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    shutil.copytree(pretrained_dir, directory)
    calls = _count_calls(monkeypatch)
    changed = dataclasses.replace(tiny_profile, pretrain_steps=3)
    _, _, history = load_or_pretrain(changed, directory=directory, progress=False)
    assert calls == [3]
    assert len(history["train_loss"]) == 3
    assert json.loads((directory / pretraining.SETTINGS_FILE).read_text())["pretrain_steps"] == 3
    # The new checkpoint is the one loaded next time, without training again.
    _, _, again = load_or_pretrain(changed, directory=directory, progress=False)
    assert calls == [3]
    assert again["train_loss"] == history["train_loss"]


def test_changing_the_seed_retrains(pretrained_dir, tiny_profile, tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    shutil.copytree(pretrained_dir, directory)
    calls = _count_calls(monkeypatch)
    load_or_pretrain(tiny_profile, seed=cfg.SEED + 1, directory=directory, progress=False)
    assert len(calls) == 1
    assert json.loads((directory / pretraining.SETTINGS_FILE).read_text())["seed"] == cfg.SEED + 1


def test_the_environment_can_name_another_pre_training_seed(pretrained_dir, tiny_profile, tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    shutil.copytree(pretrained_dir, directory)
    calls = _count_calls(monkeypatch)
    monkeypatch.setenv("WORKBOOK_PRETRAIN_SEED", str(cfg.SEED + 2))
    assert cfg.pretraining_seed() == cfg.SEED + 2
    load_or_pretrain(tiny_profile, directory=directory, progress=False)
    assert len(calls) == 1
    assert json.loads((directory / pretraining.SETTINGS_FILE).read_text())["seed"] == cfg.SEED + 2
    monkeypatch.delenv("WORKBOOK_PRETRAIN_SEED")
    assert cfg.pretraining_seed() == cfg.SEED


@pytest.mark.parametrize("value", ["zero", "1.5"])
def test_a_pre_training_seed_that_is_not_a_whole_number_is_refused_with_the_fix(monkeypatch, value):
    monkeypatch.setenv("WORKBOOK_PRETRAIN_SEED", value)
    with pytest.raises(ValueError, match="WORKBOOK_PRETRAIN_SEED=.* is not a whole number.*unset it"):
        cfg.pretraining_seed()


def test_pre_training_again_with_the_same_settings_gives_the_same_checkpoint(pretrained, tiny_profile, tmp_path):
    # The vocabulary does not depend on the run, and every random draw is seeded: a learner who deletes
    # artifacts/ and trains again gets the checkpoint back, weight for weight.
    model, tokenizer, history = load_or_pretrain(tiny_profile, directory=tmp_path / "again", progress=False)
    assert tokenizer.get_vocab() == pretrained[1].get_vocab()
    assert history["train_loss"] == pretrained[2]["train_loss"]
    for (name, a), (_, b) in zip(model.state_dict().items(), pretrained[0].state_dict().items()):
        assert torch.equal(a, b), name


def test_default_checkpoint_directory_is_under_workbook_artifacts(workbook_environment):
    assert pretraining.checkpoint_dir() == Path(workbook_environment) / pretraining.CHECKPOINT_NAME
    assert cfg.artifacts_dir() == Path(workbook_environment)
    assert cfg.ROOT not in pretraining.checkpoint_dir().parents


def test_checkpoint_loads_in_a_fill_mask_pipeline(pretrained_dir):
    fill = transformers.pipeline("fill-mask", model=str(pretrained_dir))
    predictions = fill("the plot of this movie was [MASK] .")
    assert len(predictions) >= 1
    for p in predictions:
        assert "token_str" in p and isinstance(p["token_str"], str)
        assert 0.0 <= p["score"] <= 1.0


def test_load_pretrained_returns_the_saved_model(pretrained_dir, pretrained):
    model, tokenizer, history = load_pretrained(pretrained_dir)
    assert history == pretrained[2]
    assert tokenizer.get_vocab() == pretrained[1].get_vocab()
    ids = tokenizer(["the movie was great ."], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, pretrained[0](input_ids=ids).logits)


def test_load_pretrained_on_a_missing_directory_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m utils.pretraining"):
        load_pretrained(tmp_path / "nowhere")


def test_pretrain_on_an_empty_corpus_raises_value_error(pretrained):
    model, tokenizer, _ = pretrained
    with pytest.raises(ValueError, match="empty"):
        pretraining.pretrain(model, tokenizer, [], steps=1)


# --- masked_token_accuracy -------------------------------------------------------------------------

def test_masked_token_accuracy_is_a_float_between_zero_and_one(pretrained):
    model, tokenizer, _ = pretrained
    texts = ["the plot of this movie was superb .", "i need help with the invoice please ."] * 20
    accuracy = pretraining.masked_token_accuracy(model, tokenizer, texts)
    assert isinstance(accuracy, float)
    assert 0.0 <= accuracy <= 1.0
    assert pretraining.masked_token_accuracy(model, tokenizer, texts) == accuracy  # same seed, same masks


def test_masked_token_accuracy_is_one_for_a_model_that_copies_the_input(tokenizer):
    """A stand-in 'model' whose logits put all weight on the original token scores 1.0."""
    texts = ["the plot of this movie was superb .", "i need help with the invoice please ."] * 10
    originals = {}

    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask):
            truth = originals["ids"]
            logits = torch.nn.functional.one_hot(truth, len(tokenizer)).float()
            return type("Out", (), {"logits": logits})()

    original_tokenizer_call = tokenizer.__call__

    def remember(*args, **kwargs):
        enc = original_tokenizer_call(*args, **kwargs)
        originals["ids"] = enc["input_ids"]
        return enc

    class Wrapped:
        def __getattr__(self, name):
            return getattr(tokenizer, name)

        def __len__(self):
            return len(tokenizer)

        def __call__(self, *args, **kwargs):
            return remember(*args, **kwargs)

    assert pretraining.masked_token_accuracy(Oracle(), Wrapped(), texts) == 1.0


# --- masked_lm_loss on sentences the model did not train on --------------------------------------------

def test_masked_lm_loss_agrees_with_the_loss_transformers_computes_on_the_same_masks(pretrained):
    model, tokenizer, _ = pretrained
    texts = ["the plot of this movie was superb .", "i need help with the invoice please .",
             "my sister called me in the morning ."] * 10
    ours = pretraining.masked_lm_loss(model, tokenizer, texts, seed=3)
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    inputs, labels = pretraining.mask_tokens(enc["input_ids"], tokenizer, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        library = model(input_ids=inputs, attention_mask=enc["attention_mask"], labels=labels).loss.item()
    assert ours["loss"] == pytest.approx(library, rel=1e-5)
    assert ours["perplexity"] == pytest.approx(math.exp(library), rel=1e-5)
    assert ours["masked_tokens"] == int((labels != -100).sum()) > 0


def test_masked_lm_loss_of_a_blind_guess_is_log_of_the_vocabulary_size(tokenizer):
    class Uniform(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask):
            return type("Out", (), {"logits": torch.zeros(*input_ids.shape, len(tokenizer))})()

    result = pretraining.masked_lm_loss(Uniform(), tokenizer, ["the plot of this movie was superb ."] * 40)
    assert result["loss"] == pytest.approx(math.log(len(tokenizer)), rel=1e-5)
    assert result["perplexity"] == pytest.approx(len(tokenizer), rel=1e-4)


def test_masked_lm_loss_without_texts_raises_value_error(pretrained):
    model, tokenizer, _ = pretrained
    with pytest.raises(ValueError, match="No texts"):
        pretraining.masked_lm_loss(model, tokenizer, [])


def test_command_line_rejects_an_unknown_profile_with_a_message_not_a_traceback(capsys):
    from utils.pretraining import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--profile", "huge"])
    assert exit_info.value.code == 2
    assert "Unknown profile 'huge'" in capsys.readouterr().err


# --- the training step: loss at the masked positions only, batches grouped by length, the schedule -------

def test_step_loss_at_masked_positions_equals_the_loss_transformers_computes(pretrained):
    model, tokenizer, _ = pretrained
    texts = ["the plot of this movie was superb and lovely , a real gem .", "i need help with the invoice .",
             "my sister called me in the morning ."] * 8
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    inputs, labels = pretraining.mask_tokens(enc["input_ids"], tokenizer, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ours = pretraining.masked_lm_step_loss(model, inputs, enc["attention_mask"], labels).item()
        library = model(input_ids=inputs, attention_mask=enc["attention_mask"], labels=labels).loss.item()
    assert ours == pytest.approx(library, rel=1e-5)


def test_length_grouped_batches_are_full_hold_similar_lengths_and_cover_the_corpus(tokenizer):
    generator = torch.Generator().manual_seed(0)
    lengths = [3 + (i * 7) % 25 for i in range(1000)]
    encoded = [[tokenizer.cls_token_id] + [7] * (n - 2) + [tokenizer.sep_token_id] for n in lengths]
    grouped = pretraining.padded_batches(encoded, 50, tokenizer.pad_token_id, generator, group_by_length=True)
    plain = pretraining.padded_batches(encoded, 50, tokenizer.pad_token_id, torch.Generator().manual_seed(0))
    epoch = [next(grouped) for _ in range(20)]  # 1,000 sentences, batches of 50: one pass
    assert all(ids.shape[0] == 50 for ids, _ in epoch)
    assert sum(int(mask.sum()) for _, mask in epoch) == sum(lengths), "every sentence once per pass"
    padding = sum(int((mask == 0).sum()) for _, mask in epoch)
    padding_plain = sum(int((mask == 0).sum()) for _, mask in (next(plain) for _ in range(20)))
    assert padding < padding_plain / 3


def test_learning_rate_warms_up_holds_then_decays_to_zero():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = pretraining.learning_rate_schedule(optimizer, 100)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] < 0.5 and rates[5:80] == [1.0] * 75
    assert rates[80] == 1.0 > rates[90] > rates[99] >= 0.0 and rates[99] < 0.01


def test_a_checkpoint_of_another_recipe_is_trained_again(pretrained_dir, tiny_profile, tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    shutil.copytree(pretrained_dir, directory)
    settings = json.loads((directory / pretraining.SETTINGS_FILE).read_text())
    assert settings["recipe"] == pretraining.RECIPE
    (directory / pretraining.SETTINGS_FILE).write_text(json.dumps({**settings, "recipe": pretraining.RECIPE - 1}))
    calls = _count_calls(monkeypatch)
    load_or_pretrain(tiny_profile, directory=directory, progress=False)
    assert len(calls) == 1


# --- scores by kind of chosen position -----------------------------------------------------------------

class _Copier(torch.nn.Module):
    """A stand-in 'model' that predicts, at every position, the token it reads there."""

    def __init__(self, vocabulary_size):
        super().__init__()
        self.size = vocabulary_size
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask):
        return type("Out", (), {"logits": 10.0 * torch.nn.functional.one_hot(input_ids, self.size).float()})()


TEXTS = ["the plot of this movie was superb and lovely , a real gem .", "i need help with the invoice please .",
         "my sister called me in the morning ."] * 40


def test_a_model_that_copies_its_input_is_right_only_where_the_answer_is_in_the_input(tokenizer):
    scores = pretraining.masked_token_scores(_Copier(len(tokenizer)), tokenizer, TEXTS)
    assert scores["unchanged"]["accuracy"] == 1.0
    assert scores["[MASK]"]["accuracy"] == 0.0 and scores["random"]["accuracy"] == 0.0
    assert scores["unchanged"]["loss"] < scores["[MASK]"]["loss"]
    # Counting the unchanged positions with the others gives the copier credit for about a tenth of them.
    assert 0.05 < pretraining.masked_token_accuracy(_Copier(len(tokenizer)), tokenizer, TEXTS) < 0.15


def test_the_kinds_of_chosen_position_add_up_to_all_of_them(pretrained):
    model, tokenizer, _ = pretrained
    scores = pretraining.masked_token_scores(model, tokenizer, TEXTS, seed=4)
    kinds = [scores[k] for k in pretraining.KINDS]
    assert sum(k["tokens"] for k in kinds) == scores["all"]["tokens"] > 0
    total = scores["all"]["tokens"]
    assert sum(k["accuracy"] * k["tokens"] for k in kinds) == pytest.approx(scores["all"]["accuracy"] * total)
    assert sum(k["loss"] * k["tokens"] for k in kinds) == pytest.approx(scores["all"]["loss"] * total)
    assert scores["[MASK]"]["tokens"] > 5 * scores["unchanged"]["tokens"]
    by_kind = pretraining.masked_token_accuracy(model, tokenizer, TEXTS, seed=4, by_kind=True)
    assert by_kind == {kind: s["accuracy"] for kind, s in scores.items()}
    assert by_kind["all"] == pretraining.masked_token_accuracy(model, tokenizer, TEXTS, seed=4)
    assert scores["all"]["loss"] == pytest.approx(pretraining.masked_lm_loss(model, tokenizer, TEXTS, seed=4)["loss"])


def test_masked_token_scores_without_texts_raises_value_error(pretrained):
    model, tokenizer, _ = pretrained
    with pytest.raises(ValueError, match="No texts"):
        pretraining.masked_token_scores(model, tokenizer, [])


# --- the kinship of adjectives, recorded during pre-training ----------------------------------------------

def _kinship_model(tokenizer, same_polarity: bool):
    """A masked language model whose embedding of each held-out polarity word is that of a seen word, of the
    same polarity or of the other one."""
    from utils import data
    from utils.models import build_mlm_model, tiny_bert_config

    model = build_mlm_model(tiny_bert_config(len(tokenizer)), seed=0)
    seen, held = data.label_words("polarity", "seen"), data.label_words("polarity", "held_out")
    other = {"positive": "negative", "negative": "positive"}
    vocabulary = tokenizer.get_vocab()
    with torch.no_grad():
        weight = model.get_input_embeddings().weight
        for label, words in held.items():
            source = seen[label if same_polarity else other[label]][0]
            for word in words:
                weight[vocabulary[word]] = weight[vocabulary[source]]
    return model


def test_neighbour_agreement_reads_which_seen_word_each_held_out_word_sits_next_to():
    from utils import data
    from utils.tokenization import train_tokenizer

    words = [w for part in ("seen", "held_out") for ws in data.label_words("polarity", part).values() for w in ws]
    tokenizer = train_tokenizer(list(data.make_corpus(2000, seed=0)["text"]) + [" ".join(words)] * 50, vocab_size=400)
    assert all(w in tokenizer.get_vocab() for w in words)
    assert pretraining.adjective_kinship(_kinship_model(tokenizer, True), tokenizer)["neighbour_agreement"] == 1.0
    assert pretraining.adjective_kinship(_kinship_model(tokenizer, False), tokenizer)["neighbour_agreement"] == 0.0
    blank = pretraining.adjective_kinship(_kinship_model(tokenizer, True), tokenizer)["blank_agreement"]
    assert 0.0 <= blank <= 1.0


def test_kinship_is_none_when_the_vocabulary_lacks_the_polarity_words(pretrained):
    model, tokenizer, _ = pretrained   # the test profile's 200-entry vocabulary splits most adjectives
    kinship = pretraining.adjective_kinship(model, tokenizer)
    assert set(kinship) == {"neighbour_agreement", "blank_agreement"}
    assert all(v is None or 0.0 <= v <= 1.0 for v in kinship.values())


def test_recording_probes_during_pre_training_changes_no_weight(pretrained):
    _, tokenizer, _ = pretrained
    from utils.data import make_corpus
    from utils.models import build_mlm_model, tiny_bert_config

    corpus = make_corpus(200, seed=3)["text"]
    runs = []
    for probe in (None, lambda m: {"norm": float(m.get_input_embeddings().weight.detach().norm())}):
        model = build_mlm_model(tiny_bert_config(len(tokenizer)), seed=3)
        history = pretraining.pretrain(model, tokenizer, corpus, steps=7, batch_size=16, seed=3, progress=False,
                                       probe=probe, probe_every=3)
        runs.append((model, history))
    (plain, plain_history), (probed, probed_history) = runs
    assert "probes" not in plain_history
    assert [p["step"] for p in probed_history["probes"]] == [0, 3, 6, 7]
    assert probed_history["train_loss"] == plain_history["train_loss"]
    for (name, a), (_, b) in zip(plain.state_dict().items(), probed.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_checkpoint_saved_without_probes_is_trained_again_only_when_they_are_asked_for(
        pretrained_dir, pretrained, tiny_profile, tmp_path, monkeypatch):
    assert [p["step"] for p in pretrained[2]["probes"]] == [0, tiny_profile.pretrain_steps]
    directory = tmp_path / "ckpt"
    shutil.copytree(pretrained_dir, directory)
    history_path = directory / pretraining.HISTORY_FILE
    old = {k: v for k, v in json.loads(history_path.read_text()).items() if k != "probes"}
    history_path.write_text(json.dumps(old))
    calls = _count_calls(monkeypatch)
    _, _, history = load_or_pretrain(tiny_profile, directory=directory, progress=False)
    assert calls == [] and "probes" not in history
    model, _, history = load_or_pretrain(tiny_profile, directory=directory, progress=False, probes=True)
    assert len(calls) == 1 and history["probes"] == pretrained[2]["probes"]
    for (name, a), (_, b) in zip(model.state_dict().items(), pretrained[0].state_dict().items()):
        assert torch.equal(a, b), name
