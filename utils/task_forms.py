"""The form of the task decides the input, the output and the prediction network ω (lesson 04).

The pre-trained encoder θ stays the same; what changes from task to task is how the input is laid out
and what ω computes from the encoder's token vectors:

================  ==================================  ==========================================
task form         input                               ω
================  ==================================  ==========================================
one sentence      ``[CLS] x [SEP]``                   ``[CLS]`` vector → one score per class
sentence pair     ``[CLS] a [SEP] b [SEP]``, segments  ``[CLS]`` vector → one score per class
                  0 then 1 (``token_type_ids``)
token labelling   ``[CLS] x [SEP]``                   every token's vector → one score per tag
================  ==================================  ==========================================

Sentence pairs train with ``utils.finetuning`` (a split with a ``text_pair`` column is encoded as pairs);
:func:`train_pair_classifier` checks the columns first. :class:`BiEncoderPairClassifier` encodes the two
sentences apart, for comparison. Token labelling has its own model (:class:`TokenTagger`), label
alignment to WordPiece pieces (:func:`align_labels`), training loop and per-word scores.

Build the lesson's two saved models from a shell with ``python -m utils.task_forms``.
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

import datasets
import torch
from torch import nn
from transformers import BertForTokenClassification, BertModel

from . import config as cfg
from .finetuning import (_pad, build_classifier, encoder_from_mlm, evaluate, optimizer_and_schedule,
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
    ``[CLS] b [SEP]`` into two mean-pooled vectors u and v, and ω classifies (u, v, |u − v|, u ⊙ v), the
    features of Sentence-BERT (Reimers & Gurevych, 2019). No token of one sentence ever attends to the
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
        ids, mask = _pad(pieces, self.pad_token_id, "right")
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


def train_tagger(model: TokenTagger, tokenizer, train: datasets.Dataset, validation: datasets.Dataset | None = None,
                 *, epochs: int = 3, batch_size: int = 32, lr: float = 3e-4, seed: int = cfg.SEED,
                 device: torch.device | None = None, progress: bool = True) -> dict:
    """Minimise the cross-entropy of every word's tag (at its first piece) over θ and ω, with the schedule of
    :func:`utils.finetuning.train_classifier`. Returns the history: per-step ``train_loss``, per-epoch
    ``val_f1``."""
    check_vocabulary(tokenizer, model)
    train = check_tagged_split(train, model.tag_names, "train")
    if validation is not None:
        validation = check_tagged_split(validation, model.tag_names, "validation")
    device = device or cfg.get_device()
    model.to(device)
    token_ids, word_ids = _encode_words(tokenizer, train)
    labels = [align_labels(w, tags) for w, tags in zip(word_ids, train["tags"])]
    steps_per_epoch = math.ceil(len(train) / batch_size)
    optimizer, schedule = optimizer_and_schedule([p for p in model.parameters() if p.requires_grad], lr,
                                                 steps_per_epoch, epochs, device.type in ("cpu", "cuda"))
    generator = torch.Generator().manual_seed(seed)
    side = getattr(tokenizer, "padding_side", "right")
    history = {"train_loss": [], "val_f1": []}
    bar = cfg.progress_bar(total=epochs * steps_per_epoch, enabled=progress, desc="fine-tuning the tagger")
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator).tolist()
        for start in range(0, len(train), batch_size):
            rows = order[start:start + batch_size]
            ids, mask = _pad([torch.tensor(token_ids[i]) for i in rows], tokenizer.pad_token_id, side)
            gold, _ = _pad([torch.tensor(labels[i]) for i in rows], IGNORE, side)
            scores = model(ids.to(device), mask.to(device))
            loss = nn.functional.cross_entropy(scores.flatten(0, 1), gold.to(device).flatten(), ignore_index=IGNORE)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            history["train_loss"].append(loss.item())
            bar.update(1)
        if validation is not None:
            history["val_f1"].append(evaluate_tagger(model, tokenizer, validation)["f1"])
            bar.set_postfix(val_f1=f"{history['val_f1'][-1]:.3f}")
    bar.close()
    model.eval()
    return history


# ---------------------------------------------------------------------------------------------------
# Building the lesson's two saved models without Jupyter
# ---------------------------------------------------------------------------------------------------

def artifact_dir(name: str) -> Path:
    return cfg.artifacts_dir() / name


def main(argv: list[str] | None = None) -> None:
    from .data import make_review_pairs, make_review_tags
    from .pretraining import load_or_pretrain

    parser = argparse.ArgumentParser(description="Fine-tune the pre-trained tiny BERT on review pairs and on word "
                                                 f"tags, and save them to artifacts/{PAIR_CLASSIFIER_NAME}/ and "
                                                 f"artifacts/{TOKEN_TAGGER_NAME}/.")
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


if __name__ == "__main__":
    main()
