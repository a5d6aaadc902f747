"""The form of the task decides the input, the output and the prediction network ω (lesson 05).

The pre-trained encoder θ stays the same; what changes from task to task is how the input is laid out
and what ω computes from the encoder's token vectors:

================  ==================================  ==========================================
task form         input                               ω
================  ==================================  ==========================================
one sentence      ``[CLS] x [SEP]``                   ``[CLS]`` vector → one score per class
sentence pair     ``[CLS] a [SEP] b [SEP]``, segments  ``[CLS]`` vector → one score per class
                  0 then 1 (``token_type_ids``)
token labelling   ``[CLS] x [SEP]``                   every token's vector → one score per tag
span of a         ``[CLS] question [SEP] passage       every token's vector → a start score and an
passage           [SEP]``, segments 0 then 1           end score; the answer is the best valid span
================  ==================================  ==========================================

Sentence pairs train with ``utils.finetuning`` (a split with a ``text_pair`` column is encoded as pairs);
:func:`train_pair_classifier` checks the columns first. :class:`BiEncoderPairClassifier` encodes the two
sentences apart, for comparison. Token labelling has its own model (:class:`TokenTagger`), label
alignment to WordPiece pieces (:func:`align_labels`), training loop and per-word scores. The span form
(extractive question answering, as on SQuAD) reuses the tagger's per-position head with two outputs
(:class:`SpanExtractor`), decodes the best valid span (:func:`best_span`), scores answers as SQuAD does
(:func:`exact_match`, :func:`token_f1`) and is saved as a ``BertForQuestionAnswering``, which
:class:`QuestionAnsweringPipeline` answers from. The tagger and the span model share one training loop.

Build lesson 05's saved models from a shell with ``python -m utils.task_forms``.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import string
from collections import Counter
from pathlib import Path

import datasets
import torch
from torch import nn
from transformers import (AutoModelForQuestionAnswering, BertForQuestionAnswering, BertForTokenClassification, BertModel,
                          Pipeline)
from transformers.pipelines import PIPELINE_REGISTRY

from . import config as cfg
from .finetuning import (pad_batch, build_classifier, encoder_from_mlm, evaluate, optimizer_and_schedule,
                         train_classifier)
from .models import check_vocabulary, labeled_config, mean_pool, save_exported

IGNORE = -100  # the label cross-entropy skips: special tokens, padding, and a word's later pieces
PAIR_CLASSIFIER_NAME = "tiny-bert-pair-classifier"
TOKEN_TAGGER_NAME = "tiny-bert-token-tagger"


# ---------------------------------------------------------------------------------------------------
# Sentence pairs
# ---------------------------------------------------------------------------------------------------

def check_pair_split(split, name: str = "train") -> datasets.Dataset:
    """Fail clearly unless ``split`` is a pair task: columns ``text``, ``text_pair`` and ``label``."""
    if not isinstance(split, datasets.Dataset):
        raise TypeError(f"The {name} split must be a datasets.Dataset with columns 'text', 'text_pair' and 'label', "
                        f"got {type(split).__name__}.")
    if "text_pair" not in split.column_names:
        raise ValueError(f"A sentence-pair task needs two text columns, 'text' and 'text_pair', but the {name} split "
                         f"has {split.column_names}. Put the second sentence of each pair in a 'text_pair' column "
                         f"(dataset.rename_column(old, 'text_pair')), or train a one-sentence classifier instead.")
    return split


def train_pair_classifier(model: nn.Module, tokenizer, train: datasets.Dataset,
                          validation: datasets.Dataset | None = None, **options) -> dict:
    """:func:`utils.finetuning.train_classifier` on a pair task, after checking that both splits have the
    two text columns. The tokenizer makes ``[CLS] text [SEP] text_pair [SEP]`` with segment ids."""
    check_pair_split(train, "train")
    if validation is not None:
        check_pair_split(validation, "validation")
    return train_classifier(model, tokenizer, train, validation, **options)


class BiEncoderPairClassifier(nn.Module):
    """A pair classifier that encodes each sentence *alone* (a bi-encoder): θ turns ``[CLS] a [SEP]`` and
    ``[CLS] b [SEP]`` into two mean-pooled vectors u and v, and ω classifies (u, v, |u − v|, u ⊙ v):
    Sentence-BERT's features (u, v, |u − v|; Reimers & Gurevych, 2019) plus the element-wise product, as in
    InferSent (Conneau et al., 2017). No token of one sentence ever attends to the
    other. It takes the same batch as the joint model (the pair in one sequence, with segment ids) and
    splits it, so the two train and evaluate with the same code."""

    def __init__(self, encoder: BertModel, label_names: list[str], cls_token_id: int, pad_token_id: int = 0):
        super().__init__()
        hidden = encoder.config.hidden_size
        self.encoder = encoder
        self.head = nn.Sequential(nn.Linear(4 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, len(label_names)))
        self.label_names = list(label_names)
        self.cls_token_id, self.pad_token_id = cls_token_id, pad_token_id

    @property
    def num_labels(self) -> int:
        return self.head[-1].out_features

    def _vector(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        ids, mask = pad_batch(pieces, self.pad_token_id, "right")
        return mean_pool(self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        if token_type_ids is None:
            raise ValueError("A pair classifier needs token_type_ids (0 for the first sentence, 1 for the second): "
                             "tokenize the pair with tokenizer(text, text_pair).")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        real = attention_mask.bool()
        first = [row[real[i] & (token_type_ids[i] == 0)] for i, row in enumerate(input_ids)]   # [CLS] a [SEP]
        cls = input_ids.new_tensor([self.cls_token_id])
        second = [torch.cat([cls, row[real[i] & (token_type_ids[i] == 1)]]) for i, row in enumerate(input_ids)]
        u, v = self._vector(first), self._vector(second)
        return self.head(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))


def build_bi_encoder(mlm_model, tokenizer, label_names: list[str], seed: int = cfg.SEED) -> BiEncoderPairClassifier:
    """A :class:`BiEncoderPairClassifier` with θ from the pre-trained ``mlm_model`` and a random ω."""
    torch.manual_seed(seed)
    encoder = encoder_from_mlm(copy.deepcopy(mlm_model))
    return BiEncoderPairClassifier(encoder, label_names, tokenizer.cls_token_id, tokenizer.pad_token_id)


# ---------------------------------------------------------------------------------------------------
# Token labelling
# ---------------------------------------------------------------------------------------------------

def align_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """One label per token from one label per word. ``word_ids`` says which word each token came from
    (``encoding.word_ids()``; None for ``[CLS]``, ``[SEP]`` and padding). The first piece of a word gets
    the word's label; the word's later pieces and the special tokens get -100, which the loss skips, so
    every word counts once whatever number of pieces WordPiece cut it into."""
    labels, previous = [], None
    for word in word_ids:
        if word is None or word == previous:
            labels.append(IGNORE)
        else:
            if not 0 <= word < len(word_labels):
                raise ValueError(f"word_ids refers to word {word}, but only {len(word_labels)} word labels were given: "
                                 f"give one label per word of the tokenized sentence.")
            labels.append(word_labels[word])
        previous = word
    return labels


def check_tagged_split(split, tag_names: list[str], name: str = "train") -> datasets.Dataset:
    """Return ``split`` with its ``tags`` as tag ids, or fail clearly: columns ``tokens`` and ``tags``, one
    tag per word, every tag in ``tag_names`` (tag names are converted to ids)."""
    if not isinstance(split, datasets.Dataset):
        raise TypeError(f"The {name} split must be a datasets.Dataset with columns 'tokens' and 'tags', "
                        f"got {type(split).__name__}.")
    missing = {"tokens", "tags"} - set(split.column_names)
    if missing:
        raise ValueError(f"A token-labelling split needs the columns 'tokens' (the words of each sentence) and 'tags' "
                         f"(one tag per word); the {name} split has {split.column_names}. "
                         f"Missing: {', '.join(sorted(missing))}.")
    if len(split) == 0:
        raise ValueError(f"The {name} split is empty: there is nothing to train or evaluate on.")
    converted = []
    for i, (words, tags) in enumerate(zip(split["tokens"], split["tags"])):
        if len(words) != len(tags):
            raise ValueError(f"Row {i} of the {name} split has {len(words)} words but {len(tags)} tags: give exactly one "
                             f"tag per word (words: {' '.join(map(str, words[:12]))}).")
        ids = []
        for tag in tags:
            if isinstance(tag, str) and tag in tag_names:
                ids.append(tag_names.index(tag))
            elif isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < len(tag_names):
                ids.append(tag)
            else:
                raise ValueError(f"Row {i} of the {name} split has the tag {tag!r}, which is not in the tag set "
                                 f"{tag_names} (or an id 0..{len(tag_names) - 1}). Fix the tag, or add it to the "
                                 f"tag set and give the model one output per tag.")
        converted.append(ids)
    if all(isinstance(t, int) for tags in split["tags"] for t in tags):
        return split
    features = split.features.copy()
    features["tags"] = datasets.Sequence(datasets.ClassLabel(names=list(tag_names)))
    return split.remove_columns("tags").add_column("tags", converted, feature=features["tags"])


class TokenHead(nn.Module):
    """ω for token labelling: the same linear layer applied at every position, one score per tag."""

    def __init__(self, hidden_size: int, num_tags: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_tags)

    def forward(self, token_vectors: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(token_vectors))


class TokenTagger(nn.Module):
    """f(x; θ, ω) for token labelling: the encoder θ (``self.encoder``) and a :class:`TokenHead` ω
    (``self.head``). Returns scores of shape (batch, tokens, tags)."""

    def __init__(self, encoder: BertModel, tag_names: list[str]):
        super().__init__()
        if len(tag_names) < 2:
            raise ValueError(f"A tagger needs at least 2 tags, got {tag_names!r}.")
        self.encoder = encoder
        self.head = TokenHead(encoder.config.hidden_size, len(tag_names), encoder.config.hidden_dropout_prob)
        self.tag_names = list(tag_names)

    @property
    def num_labels(self) -> int:
        return self.head.out.out_features

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.head(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state)

    def save_pretrained(self, directory: str | Path, tokenizer=None) -> Path:
        """Save as a standard ``BertForTokenClassification`` with the tag names, which
        ``pipeline("token-classification")`` loads."""
        exported = BertForTokenClassification(labeled_config(self.encoder.config, self.tag_names,
                                                             "BertForTokenClassification"))
        exported.bert.load_state_dict({k: v for k, v in self.encoder.state_dict().items() if not k.startswith("pooler.")})
        exported.classifier.load_state_dict(self.head.out.state_dict())
        return save_exported(exported, directory, tokenizer)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "TokenTagger":
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"No saved tagger in {directory}: expected a config.json there. "
                                    f"Save one with TokenTagger.save_pretrained(directory) first.")
        loaded = BertForTokenClassification.from_pretrained(directory)
        tags = [loaded.config.id2label[i] for i in range(loaded.config.num_labels)]
        encoder = BertModel(loaded.config, add_pooling_layer=False)
        encoder.load_state_dict(loaded.bert.state_dict())
        model = cls(encoder, tags)
        model.head.out.load_state_dict(loaded.classifier.state_dict())
        return model.eval()


def build_tagger(mlm_model, tag_names: list[str], strategy: str = "full", seed: int = cfg.SEED) -> TokenTagger:
    """A :class:`TokenTagger`: θ from the pre-trained ``mlm_model`` (``'full'``) or random (``'scratch'``),
    ω random."""
    if strategy not in ("full", "scratch"):
        raise ValueError(f"strategy must be 'full' (start from the pre-trained θ) or 'scratch', got {strategy!r}.")
    torch.manual_seed(seed)
    source = mlm_model if isinstance(mlm_model, BertModel) else mlm_model.bert
    encoder = (BertModel(source.config, add_pooling_layer=False) if strategy == "scratch"
               else encoder_from_mlm(copy.deepcopy(mlm_model)))
    return TokenTagger(encoder, tag_names)


def _encode_words(tokenizer, split: datasets.Dataset) -> tuple[list[list[int]], list[list[int | None]]]:
    enc = tokenizer(list(split["tokens"]), is_split_into_words=True, truncation=True, max_length=128)
    return enc["input_ids"], [enc.word_ids(i) for i in range(len(split))]


@torch.no_grad()
def predict_word_tags(model: TokenTagger, tokenizer, words: list[list[str]], batch_size: int = 256) -> list[list[int]]:
    """The tag id the model gives each word: the highest score at the word's first piece. A word cut off
    by the 128-token limit gets tag 0 ('O'), so every word has a prediction."""
    model.eval()
    device = next(model.parameters()).device
    predictions = []
    for start in range(0, len(words), batch_size):
        rows = [list(w) for w in words[start:start + batch_size]]
        enc = tokenizer(rows, is_split_into_words=True, truncation=True, max_length=128, padding=True,
                        return_tensors="pt")
        best = model(enc["input_ids"].to(device), enc["attention_mask"].to(device)).argmax(-1).cpu()
        for i, row in enumerate(rows):
            tags = [0] * len(row)
            for position, word in enumerate(align_labels(enc.word_ids(i), list(range(len(row))))):
                if word != IGNORE:
                    tags[word] = int(best[i, position])
            predictions.append(tags)
    return predictions


def word_scores(gold: list[list[int]], predicted: list[list[int]], tag_names: list[str], outside: str = "O") -> dict:
    """Per-word precision, recall and F1 over the tags other than ``outside``, pooled over those tags
    (micro average), and per tag; plus the share of words tagged right. Every tagged thing here is one word,
    so this is the span-level F1 of named-entity recognition as well."""
    flat_gold = [t for row in gold for t in row]
    flat_pred = [t for row in predicted for t in row]
    if len(flat_gold) != len(flat_pred) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted must give one tag per word for the same sentences.")
    kept = [i for i, name in enumerate(tag_names) if name != outside]

    def prf(tp, n_pred, n_gold):
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_gold if n_gold else 0.0
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}

    per_tag, totals = {}, [0, 0, 0]
    for tag in kept:
        tp = sum(g == p == tag for g, p in zip(flat_gold, flat_pred))
        n_pred, n_gold = flat_pred.count(tag), flat_gold.count(tag)
        per_tag[tag_names[tag]] = {**prf(tp, n_pred, n_gold), "support": n_gold}
        totals = [totals[0] + tp, totals[1] + n_pred, totals[2] + n_gold]
    accuracy = sum(g == p for g, p in zip(flat_gold, flat_pred)) / max(1, len(flat_gold))
    return {**prf(*totals), "per_tag": per_tag, "word_accuracy": accuracy}


def evaluate_tagger(model: TokenTagger, tokenizer, split: datasets.Dataset) -> dict:
    """:func:`word_scores` of the model's tags for the words of ``split``."""
    split = check_tagged_split(split, model.tag_names, "evaluation")
    return word_scores(list(split["tags"]), predict_word_tags(model, tokenizer, list(split["tokens"])), model.tag_names)


def _fit(model: nn.Module, count: int, loss_of, *, epochs: int, steps: int | None, batch_size: int, lr: float,
         seed: int, device: torch.device, progress: bool, desc: str, after_epoch=None) -> list[float]:
    """The training loop the tagger and the span model share with :func:`utils.finetuning.train_classifier`:
    AdamW and its schedule over the trainable parameters, ``count`` examples in a fresh random order each
    epoch, ``loss_of(rows)`` the loss of one batch. The budget is ``epochs`` passes, or exactly ``steps``
    optimizer steps when ``steps`` is given (the last pass cut short). Returns the loss of every step."""
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise ValueError(f"steps must be a whole number of optimizer steps, at least 1; got {steps!r}.")
    steps_per_epoch = math.ceil(count / batch_size)
    if steps is not None:
        epochs = math.ceil(steps / steps_per_epoch)
    total = steps if steps is not None else epochs * steps_per_epoch
    optimizer, schedule = optimizer_and_schedule([p for p in model.parameters() if p.requires_grad], lr,
                                                 steps_per_epoch, epochs, device.type in ("cpu", "cuda"), total)
    generator = torch.Generator().manual_seed(seed)
    losses, taken = [], 0
    bar = cfg.progress_bar(total=total, enabled=progress, desc=desc)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(count, generator=generator).tolist()
        for start in range(0, count, batch_size):
            if taken == total:
                break
            loss = loss_of(order[start:start + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            taken += 1
            bar.update(1)
        if after_epoch is not None:
            after_epoch(bar)
    bar.close()
    model.eval()
    return losses


def train_tagger(model: TokenTagger, tokenizer, train: datasets.Dataset, validation: datasets.Dataset | None = None,
                 *, epochs: int = 3, batch_size: int = 32, lr: float = 3e-4, seed: int = cfg.SEED,
                 device: torch.device | None = None, progress: bool = True, steps: int | None = None) -> dict:
    """Minimise the cross-entropy of every word's tag (at its first piece) over θ and ω, with the schedule of
    :func:`utils.finetuning.train_classifier`, for ``epochs`` passes or exactly ``steps`` optimizer steps.
    Returns the history: per-step ``train_loss``, per-epoch ``val_f1``."""
    check_vocabulary(tokenizer, model)
    train = check_tagged_split(train, model.tag_names, "train")
    if validation is not None:
        validation = check_tagged_split(validation, model.tag_names, "validation")
    device = device or cfg.get_device()
    model.to(device)
    token_ids, word_ids = _encode_words(tokenizer, train)
    labels = [align_labels(w, tags) for w, tags in zip(word_ids, train["tags"])]
    side = getattr(tokenizer, "padding_side", "right")
    history = {"train_loss": [], "val_f1": []}

    def loss_of(rows):
        ids, mask = pad_batch([torch.tensor(token_ids[i]) for i in rows], tokenizer.pad_token_id, side)
        gold, _ = pad_batch([torch.tensor(labels[i]) for i in rows], IGNORE, side)
        scores = model(ids.to(device), mask.to(device))
        return nn.functional.cross_entropy(scores.flatten(0, 1), gold.to(device).flatten(), ignore_index=IGNORE)

    def after_epoch(bar):
        if validation is not None:
            history["val_f1"].append(evaluate_tagger(model, tokenizer, validation)["f1"])
            bar.set_postfix(val_f1=f"{history['val_f1'][-1]:.3f}")

    history["train_loss"] = _fit(model, len(train), loss_of, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr,
                                 seed=seed, device=device, progress=progress, desc="fine-tuning the tagger",
                                 after_epoch=after_epoch)
    return history


# ---------------------------------------------------------------------------------------------------
# A span of the passage as the answer (extractive question answering)
# ---------------------------------------------------------------------------------------------------

def check_question_split(split, name: str = "train") -> datasets.Dataset:
    """Fail clearly unless ``split`` is an extractive question-answering task in SQuAD's layout: columns
    ``question``, ``context`` and ``answers`` (``text`` and ``answer_start`` lists, every answer a span of
    its context)."""
    if not isinstance(split, datasets.Dataset):
        raise TypeError(f"The {name} split must be a datasets.Dataset with columns 'question', 'context' and "
                        f"'answers', got {type(split).__name__}.")
    missing = {"question", "context", "answers"} - set(split.column_names)
    if missing:
        raise ValueError(f"A question-answering split needs the columns 'question', 'context' (the passage) and "
                         f"'answers' ({{'text': [...], 'answer_start': [...]}}, SQuAD's layout); the {name} split has "
                         f"{split.column_names}. Missing: {', '.join(sorted(missing))}.")
    if len(split) == 0:
        raise ValueError(f"The {name} split is empty: there is nothing to train or evaluate on.")
    for i, (context, answers) in enumerate(zip(split["context"], split["answers"])):
        if not answers["text"]:
            raise ValueError(f"Row {i} of the {name} split has no gold answer: every question here needs at least "
                             f"one answer, a span of its context.")
        for text, start in zip(answers["text"], answers["answer_start"]):
            if context[start:start + len(text)] != text:
                raise ValueError(f"Row {i} of the {name} split: the answer {text!r} is not at character {start} of "
                                 f"its context ({context[start:start + len(text)]!r} is). answer_start must be "
                                 f"where the answer begins in the context, counted in characters from 0.")
    return split


def encode_questions(tokenizer, questions: list[str], contexts: list[str], max_length: int = 128, **options):
    """``[CLS] question [SEP] passage [SEP]``, segment ids 0 then 1, with each token's character offsets in
    its own text (``offset_mapping``). A passage too long for ``max_length`` is cut, never the question."""
    return tokenizer(list(questions), list(contexts), truncation="only_second", max_length=max_length,
                     return_offsets_mapping=True, **options)


def passage_mask(encoding, i: int = 0) -> list[bool]:
    """True at the tokens of row ``i`` that belong to the passage (segment 1, special tokens excluded): the
    only places an answer may start or end."""
    return [s == 1 for s in encoding.sequence_ids(i)]


def answer_token_span(encoding, i: int, char_start: int, char_end: int) -> tuple[int, int] | None:
    """The first and the last token of row ``i`` that cover the characters ``char_start:char_end`` of the
    passage; None when truncation cut the answer off."""
    inside = [k for k, (seq, (a, b)) in enumerate(zip(encoding.sequence_ids(i), encoding["offset_mapping"][i]))
              if seq == 1 and a < char_end and b > char_start]
    return (inside[0], inside[-1]) if inside else None


def best_span(start_scores, end_scores, allowed, max_answer_tokens: int):
    """The span (start, end) with the highest start score + end score among the valid ones: start ≤ end,
    both where ``allowed`` is True (the passage), at most ``max_answer_tokens`` tokens long. None when no
    span is valid (no allowed position). Ties go to the earliest start, then the earliest end.

    Adding the two scores is the BERT paper's rule (Devlin et al., 2019, section 4.2); ranking by the product
    of the two Softmax probabilities, as transformers' decoding does, gives the same order."""
    if max_answer_tokens < 1:
        raise ValueError(f"max_answer_tokens must be at least 1, got {max_answer_tokens!r}.")
    start = torch.as_tensor(start_scores, dtype=torch.float64).flatten()
    end = torch.as_tensor(end_scores, dtype=torch.float64).flatten()
    allowed = torch.as_tensor(allowed, dtype=torch.bool).flatten()
    if not len(start) == len(end) == len(allowed):
        raise ValueError(f"start_scores, end_scores and allowed must have one entry per token; got lengths "
                         f"{len(start)}, {len(end)} and {len(allowed)}.")
    n = len(start)
    first, last = torch.arange(n)[:, None], torch.arange(n)[None, :]
    valid = (first <= last) & (last - first < max_answer_tokens) & allowed[:, None] & allowed[None, :]
    if not valid.any():
        return None
    scores = torch.where(valid, start[:, None] + end[None, :], torch.tensor(float("-inf"), dtype=torch.float64))
    best = int(scores.flatten().argmax())
    return best // n, best % n


class SpanExtractor(nn.Module):
    """f(x; θ, ω) for extractive question answering: the encoder θ (``self.encoder``) reads the question and
    the passage as a pair; ω (``self.head``) is the tagger's :class:`TokenHead` with two outputs, a start score
    and an end score at every position. Returns ``(start_scores, end_scores)``, each (batch, tokens)."""

    def __init__(self, encoder: BertModel):
        super().__init__()
        self.encoder = encoder
        self.head = TokenHead(encoder.config.hidden_size, 2, encoder.config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        segments = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        scores = self.head(self.encoder(input_ids=input_ids, attention_mask=attention_mask, **segments).last_hidden_state)
        return scores[..., 0], scores[..., 1]

    def save_pretrained(self, directory: str | Path, tokenizer=None) -> Path:
        """Save as a standard ``BertForQuestionAnswering`` (its ``qa_outputs`` layer is ω), which
        ``AutoModelForQuestionAnswering`` loads and transformers 4's ``pipeline("question-answering")`` runs."""
        exported = BertForQuestionAnswering(labeled_config(self.encoder.config, ["start", "end"],
                                                           "BertForQuestionAnswering"))
        exported.bert.load_state_dict({k: v for k, v in self.encoder.state_dict().items() if not k.startswith("pooler.")})
        exported.qa_outputs.load_state_dict(self.head.out.state_dict())
        return save_exported(exported, directory, tokenizer)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "SpanExtractor":
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"No saved span model in {directory}: expected a config.json there. "
                                    f"Save one with SpanExtractor.save_pretrained(directory) first.")
        loaded = BertForQuestionAnswering.from_pretrained(directory)
        encoder = BertModel(loaded.config, add_pooling_layer=False)
        encoder.load_state_dict(loaded.bert.state_dict())
        model = cls(encoder)
        model.head.out.load_state_dict(loaded.qa_outputs.state_dict())
        return model.eval()


def build_span_model(mlm_model, strategy: str = "full", seed: int = cfg.SEED) -> SpanExtractor:
    """A :class:`SpanExtractor`: θ from the pre-trained ``mlm_model`` (``'full'``) or random (``'scratch'``),
    ω random."""
    if strategy not in ("full", "scratch"):
        raise ValueError(f"strategy must be 'full' (start from the pre-trained θ) or 'scratch', got {strategy!r}.")
    torch.manual_seed(seed)
    source = mlm_model if isinstance(mlm_model, BertModel) else mlm_model.bert
    encoder = (BertModel(source.config, add_pooling_layer=False) if strategy == "scratch"
               else encoder_from_mlm(copy.deepcopy(mlm_model)))
    return SpanExtractor(encoder)


def _span_targets(tokenizer, split: datasets.Dataset):
    """Token ids, segment ids, passage masks and the gold (start, end) tokens of the first answer of each row."""
    enc = encode_questions(tokenizer, split["question"], split["context"])
    starts, ends = [], []
    for i, answers in enumerate(split["answers"]):
        text, start = answers["text"][0], answers["answer_start"][0]
        span = answer_token_span(enc, i, start, start + len(text))
        if span is None:
            raise ValueError(f"Row {i}'s answer {text!r} lies beyond the 128-token limit once the question is in: "
                             f"shorten its passage or drop it.")
        starts.append(span[0])
        ends.append(span[1])
    masks = [passage_mask(enc, i) for i in range(len(split))]
    return enc["input_ids"], enc["token_type_ids"], masks, starts, ends


def train_span_model(model: SpanExtractor, tokenizer, train: datasets.Dataset, *, epochs: int = 3,
                     steps: int | None = None, batch_size: int = 32, lr: float = 3e-4, seed: int = cfg.SEED,
                     device: torch.device | None = None, progress: bool = True) -> dict:
    """Maximise the log probability of the gold start and of the gold end token over θ and ω, each a Softmax
    over the passage's tokens (the BERT paper's objective for SQuAD), for ``epochs`` passes or exactly
    ``steps`` optimizer steps. Returns the history: per-step ``train_loss``."""
    check_vocabulary(tokenizer, model)
    train = check_question_split(train, "train")
    device = device or cfg.get_device()
    model.to(device)
    token_ids, type_ids, masks, starts, ends = _span_targets(tokenizer, train)
    side = getattr(tokenizer, "padding_side", "right")

    def loss_of(rows):
        ids, attention = pad_batch([torch.tensor(token_ids[i]) for i in rows], tokenizer.pad_token_id, side)
        types, _ = pad_batch([torch.tensor(type_ids[i]) for i in rows], 0, side)
        passage, _ = pad_batch([torch.tensor(masks[i]) for i in rows], False, side)
        start_scores, end_scores = model(ids.to(device), attention.to(device), types.to(device))
        outside = ~passage.to(device)
        gold_start = torch.tensor([starts[i] for i in rows], device=device)
        gold_end = torch.tensor([ends[i] for i in rows], device=device)
        return (nn.functional.cross_entropy(start_scores.masked_fill(outside, float("-inf")), gold_start)
                + nn.functional.cross_entropy(end_scores.masked_fill(outside, float("-inf")), gold_end)) / 2

    losses = _fit(model, len(train), loss_of, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  device=device, progress=progress, desc="fine-tuning the span model")
    return {"train_loss": losses}


def word_chars(encoding, i: int = 0) -> list[tuple[int, int] | None]:
    """For each token of row ``i``: the characters of the passage's word it belongs to (None outside the
    passage). An answer from token s to token e is the passage's text from ``word_chars[s][0]`` to
    ``word_chars[e][1]``: a span that begins or ends inside a word is widened to whole words, as transformers'
    question-answering pipeline does."""
    spans = []
    for k, sequence in enumerate(encoding.sequence_ids(i)):
        word = encoding.token_to_word(i, k) if sequence == 1 else None
        spans.append(None if word is None else tuple(encoding.word_to_chars(i, word, sequence_index=1)))
    return spans


@torch.no_grad()
def predict_answers(model: SpanExtractor, tokenizer, questions: list[str], contexts: list[str], *,
                    max_answer_tokens: int = 8, batch_size: int = 256) -> list[dict]:
    """The model's answer to each question about its passage: ``{"answer", "start", "end", "score"}``, where
    ``start:end`` are the answer's characters in the passage and ``score`` is start score + end score; the
    best valid span (:func:`best_span`) widened to whole words. An empty answer when no span is valid."""
    model.eval()
    device = next(model.parameters()).device
    questions, contexts = list(questions), list(contexts)
    if len(questions) != len(contexts):
        raise ValueError(f"Give one passage per question: {len(questions)} questions, {len(contexts)} passages.")
    answers = []
    for begin in range(0, len(questions), batch_size):
        enc = encode_questions(tokenizer, questions[begin:begin + batch_size], contexts[begin:begin + batch_size],
                               padding=True, return_tensors="pt")
        start_scores, end_scores = model(enc["input_ids"].to(device), enc["attention_mask"].to(device),
                                         enc["token_type_ids"].to(device))
        for i in range(len(enc["input_ids"])):
            context = contexts[begin + i]
            span = best_span(start_scores[i].cpu(), end_scores[i].cpu(), passage_mask(enc, i), max_answer_tokens)
            if span is None:
                answers.append({"answer": "", "start": 0, "end": 0, "score": float("-inf")})
                continue
            words = word_chars(enc, i)
            a, b = words[span[0]][0], words[span[1]][1]
            answers.append({"answer": context[a:b], "start": a, "end": b,
                            "score": float(start_scores[i, span[0]] + end_scores[i, span[1]])})
    return answers


# The scores of SQuAD (Rajpurkar et al., 2016), as its evaluation script computes them.

def normalize_answer(text: str) -> str:
    """SQuAD's normalisation before comparing answers: lower case, no punctuation, no articles (a, an, the),
    single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold_answers: list[str]) -> float:
    """1.0 when the normalised prediction equals one of the normalised gold answers, else 0.0."""
    _check_golds(gold_answers)
    return float(any(normalize_answer(prediction) == normalize_answer(gold) for gold in gold_answers))


def token_f1(prediction: str, gold_answers: list[str]) -> float:
    """F1 of the prediction's normalised words against a gold answer's, as bags of words (a word counts as
    often as it occurs in both); the best over the gold answers. Two empty answers agree (1.0); an empty one
    against a non-empty one scores 0.0 (SQuAD 2.0's rule)."""
    _check_golds(gold_answers)
    best = 0.0
    predicted = normalize_answer(prediction).split()
    for gold in gold_answers:
        wanted = normalize_answer(gold).split()
        if not predicted or not wanted:
            best = max(best, float(predicted == wanted))
            continue
        common = sum((Counter(predicted) & Counter(wanted)).values())
        if common:
            precision, recall = common / len(predicted), common / len(wanted)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _check_golds(gold_answers) -> None:
    if isinstance(gold_answers, str) or not gold_answers:
        raise ValueError(f"gold_answers must be a non-empty list of answer strings (SQuAD keeps several per "
                         f"question), got {gold_answers!r}.")


def squad_scores(predictions: list[str], gold_answers: list[list[str]]) -> dict:
    """Exact match and F1 averaged over the questions (fractions of 1; SQuAD prints them times 100)."""
    if len(predictions) != len(gold_answers) or not predictions:
        raise ValueError(f"Give one prediction per question: {len(predictions)} predictions, {len(gold_answers)} "
                         f"lists of gold answers.")
    return {"exact_match": sum(map(exact_match, predictions, gold_answers)) / len(predictions),
            "f1": sum(map(token_f1, predictions, gold_answers)) / len(predictions)}


def evaluate_span_model(model: SpanExtractor, tokenizer, split: datasets.Dataset, *, max_answer_tokens: int = 8) -> dict:
    """:func:`squad_scores` of the model's answers on ``split``, with the answers themselves (``predictions``)."""
    split = check_question_split(split, "evaluation")
    predicted = [a["answer"] for a in predict_answers(model, tokenizer, split["question"], split["context"],
                                                      max_answer_tokens=max_answer_tokens)]
    return {**squad_scores(predicted, [a["text"] for a in split["answers"]]), "predictions": predicted}


# The span form's comparison: the pre-trained θ against an encoder from scratch, on the same questions and steps.
SPAN_QUESTIONS = {"train_size": 2000, "validation_size": 300, "test_size": 500}
SPAN_STEPS = 125                     # optimizer steps of 32 questions: two passes over the 2,000
SPAN_GRID = (3e-4, 1e-3, 3e-3, 1e-2)  # the learning rates searched on validation for each row
SPAN_ROWS = {"pre-trained θ": "full", "from scratch": "scratch"}
SPAN_MODEL_NAME = "tiny-bert-span-answers"


def span_questions(seed: int = cfg.SEED) -> datasets.DatasetDict:
    """The questions of lesson 05's span comparison: "what was the praise ?" / "what was the complaint ?" about
    a review of two parts, answered by the opinion's words (:func:`utils.data.make_review_questions`)."""
    from .data import make_review_questions

    return make_review_questions(seed=seed, kinds=("praise or complaint",), **SPAN_QUESTIONS)


def run_span(mlm_model, tokenizer, questions: datasets.DatasetDict, strategy: str, lr: float, seed: int, *,
             steps: int | None = None, splits: tuple[str, ...] = ("validation", "test")) -> dict:
    """Build a span model (``strategy`` 'full': the pre-trained θ; 'scratch': a random one), train it for
    ``steps`` steps of 32 at ``lr`` and score it on ``splits``: ``{split: {"exact_match", "f1", "predictions"}}``
    and the trained ``model``. ``steps`` defaults to :data:`SPAN_STEPS`."""
    steps = SPAN_STEPS if steps is None else steps
    model = build_span_model(mlm_model, strategy, seed=seed)
    train_span_model(model, tokenizer, questions["train"], steps=steps, lr=lr, seed=seed, progress=False)
    return {"model": model, **{split: evaluate_span_model(model, tokenizer, questions[split]) for split in splits}}


def choose_span_learning_rates(mlm_model, tokenizer, questions: datasets.DatasetDict, *, seed: int = cfg.SEED,
                               steps: int | None = None, grid=None, rows=None) -> dict:
    """For each row of :data:`SPAN_ROWS` (or those named in ``rows``), the validation F1 at every learning rate
    of ``grid`` with one seed, and the rate chosen (the highest F1; a tie goes to the higher exact match, then
    the lower rate). ``steps`` and ``grid`` default to :data:`SPAN_STEPS` and :data:`SPAN_GRID`."""
    grid = SPAN_GRID if grid is None else grid
    found = {}
    for name, strategy in SPAN_ROWS.items():
        if rows is not None and name not in rows:
            continue
        scores = {lr: run_span(mlm_model, tokenizer, questions, strategy, lr, seed, steps=steps,
                               splits=("validation",))["validation"] for lr in grid}
        chosen = max(grid, key=lambda lr: (round(scores[lr]["f1"], 4), round(scores[lr]["exact_match"], 4), -lr))
        found[name] = {"grid": {lr: round(scores[lr]["f1"], 4) for lr in grid}, "chosen": chosen}
    return found


class QuestionAnsweringPipeline(Pipeline):
    """Extractive question answering for a ``BertForQuestionAnswering`` folder, as transformers 4's
    ``pipeline("question-answering")`` did it (transformers 5 removed that task): ``pipe(question=...,
    context=...)`` gives ``{"score", "start", "end", "answer"}``, ``start:end`` the answer's characters in the
    passage. Its decoding is the library's own ``select_starts_ends``: Softmax probabilities of the start and
    of the end over the passage (``[CLS]`` included, then set aside), a span's score the product of the two,
    start ≤ end and at most ``max_answer_len`` tokens (default 15). Then, as in transformers 4, the best
    ``2 * top_k + 10`` spans are widened to whole words, spans that read the same (ignoring case) are pooled by
    adding up their scores, and the ``top_k`` best answers are kept. With ``handle_impossible_answer=True``
    the ``[CLS]`` position's score competes as the empty answer. Importing ``utils.task_forms`` registers it
    as the task ``"extractive-question-answering"``."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def _sanitize_parameters(self, max_answer_len=None, handle_impossible_answer=None, top_k=None, **kwargs):
        post = {}
        for name, value in (("max_answer_len", max_answer_len), ("top_k", top_k)):
            if value is not None:
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"{name} must be a whole number, at least 1; got {value!r}.")
                post[name] = value
        if handle_impossible_answer is not None:
            post["handle_impossible_answer"] = bool(handle_impossible_answer)
        return {}, {}, post

    def __call__(self, inputs=None, *, question=None, context=None, **kwargs):
        if question is not None or context is not None:
            if inputs is not None:
                raise ValueError("Give either question=... and context=..., or a dict (or list of dicts) with the "
                                 "keys 'question' and 'context', not both.")
            if isinstance(question, str):
                inputs = {"question": question, "context": context}
            else:
                inputs = [{"question": q, "context": c} for q, c in zip(question, context, strict=True)]
        return super().__call__(inputs, **kwargs)

    def preprocess(self, example):
        if not isinstance(example, dict) or not {"question", "context"} <= set(example):
            raise ValueError(f"Each input needs a 'question' and a 'context' (the passage to answer from), got "
                             f"{example!r}.")
        enc = encode_questions(self.tokenizer, [example["question"]], [example["context"]],
                               max_length=self.tokenizer.model_max_length, return_tensors="pt")
        # 1 where the answer cannot be: the question and the special tokens; [CLS] is kept for "no answer".
        p_mask = [0 if k == 0 or s == 1 else 1 for k, s in enumerate(enc.sequence_ids(0))]
        inputs = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        return {"inputs": inputs, "p_mask": p_mask, "word_chars": word_chars(enc), "context": example["context"]}

    def _forward(self, model_inputs):
        out = self.model(**model_inputs["inputs"])
        return {**model_inputs, "start": out.start_logits, "end": out.end_logits}

    def postprocess(self, outputs, max_answer_len: int = 15, handle_impossible_answer: bool = False, top_k: int = 1):
        from transformers.pipelines.document_question_answering import select_starts_ends

        starts, ends, scores, null_score = select_starts_ends(
            outputs["start"].float().numpy(), outputs["end"].float().numpy(), outputs["p_mask"],
            outputs["inputs"]["attention_mask"].numpy(), min_null_score=1000000, top_k=2 * top_k + 10,
            handle_impossible_answer=handle_impossible_answer, max_answer_len=max_answer_len)
        answers = []
        for s, e, score in zip(starts, ends, scores):
            a, b = outputs["word_chars"][int(s)][0], outputs["word_chars"][int(e)][1]
            same = next((x for x in answers if x["answer"].lower() == outputs["context"][a:b].lower()), None)
            if same is not None:   # the same words found again: transformers 4 adds the scores up
                same["score"] += float(score)
            else:
                answers.append({"score": float(score), "start": a, "end": b, "answer": outputs["context"][a:b]})
        if handle_impossible_answer:
            answers.append({"score": float(null_score), "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers


QUESTION_ANSWERING_TASK = "extractive-question-answering"
if QUESTION_ANSWERING_TASK not in PIPELINE_REGISTRY.get_supported_tasks():
    PIPELINE_REGISTRY.register_pipeline(QUESTION_ANSWERING_TASK, pipeline_class=QuestionAnsweringPipeline,
                                        pt_model=AutoModelForQuestionAnswering, type="text")


# ---------------------------------------------------------------------------------------------------
# Building the lesson's two saved models without Jupyter
# ---------------------------------------------------------------------------------------------------

def artifact_dir(name: str) -> Path:
    return cfg.artifacts_dir() / name


def main(argv: list[str] | None = None) -> None:
    from .data import make_review_pairs, make_review_tags
    from .pretraining import load_or_pretrain

    parser = argparse.ArgumentParser(description="Fine-tune the pre-trained tiny BERT on review pairs, on word tags "
                                                 "and on questions answered by a span, and save them to "
                                                 f"artifacts/{PAIR_CLASSIFIER_NAME}/, artifacts/{TOKEN_TAGGER_NAME}/ "
                                                 f"and artifacts/{SPAN_MODEL_NAME}/.")
    parser.parse_args(argv)
    mlm_model, tokenizer, _ = load_or_pretrain()
    pairs = make_review_pairs(seed=cfg.SEED)
    pair_model = build_classifier(mlm_model, "full", pairs["train"].features["label"].names)
    train_pair_classifier(pair_model, tokenizer, pairs["train"], epochs=3, lr=3e-4, progress=False)
    out = pair_model.save_pretrained(artifact_dir(PAIR_CLASSIFIER_NAME), tokenizer)
    accuracy = evaluate(pair_model, tokenizer, pairs["test"])["accuracy"]
    print(f"saved {out}  test accuracy on held-out words: {accuracy:.3f}")
    tags = make_review_tags(seed=cfg.SEED)
    tagger = build_tagger(mlm_model, tags["train"].features["tags"].feature.names)
    train_tagger(tagger, tokenizer, tags["train"], epochs=3, progress=False)
    out = tagger.save_pretrained(artifact_dir(TOKEN_TAGGER_NAME), tokenizer)
    print(f"saved {out}  word F1 on held-out words: {evaluate_tagger(tagger, tokenizer, tags['test'])['f1']:.3f}")
    from .comparison import chosen_learning_rates

    questions = span_questions()
    lr = chosen_learning_rates("05 questions")["pre-trained θ"]
    run = run_span(mlm_model, tokenizer, questions, "full", lr, cfg.SEED, splits=("test",))
    out = run["model"].save_pretrained(artifact_dir(SPAN_MODEL_NAME), tokenizer)
    print(f"saved {out}  exact match on held-out words: {run['test']['exact_match']:.3f}")


if __name__ == "__main__":
    main()
