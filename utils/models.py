"""The tiny BERT and the encoder-plus-head classifier f(x; θ, ω).

Used by lesson 01 (the encoder plus its Softmax output layer for masked language modelling) and
lesson 03 (the encoder with a task-specific prediction network).

In the classifier, θ is ``model.encoder``'s parameters and ω is ``model.head``'s: that is the one place
the notation is mapped to code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel

POOLINGS = ("cls", "mean")


def tiny_bert_config(vocab_size: int, **overrides) -> BertConfig:
    """The course's tiny BERT: 2 layers, hidden size 128, 2 attention heads (about 1M parameters with a
    1,024-entry vocabulary)."""
    settings = dict(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=512, max_position_embeddings=128, type_vocab_size=2,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0)
    settings.update(overrides)
    return BertConfig(**settings)


def build_mlm_model(config: BertConfig, seed: int = 0) -> BertForMaskedLM:
    """The encoder plus its Softmax output layer over the vocabulary, with random weights."""
    torch.manual_seed(seed)
    return BertForMaskedLM(config)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def mean_pool(token_vectors: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of the vectors of the real tokens; padding (mask 0) does not count."""
    mask = attention_mask.unsqueeze(-1).to(token_vectors.dtype)
    return (token_vectors * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class ClassificationHead(nn.Module):
    """The task-specific prediction network ω: pool the token vectors into one vector, then a hidden
    layer with tanh and a linear layer to one score per class. Softmax of the scores is Pr(y | x)."""

    def __init__(self, hidden_size: int, num_labels: int, pooling: str = "cls", dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"Unknown pooling {pooling!r}. Choose one of: {', '.join(POOLINGS)}.")
        if not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels must be a whole number of at least 2, got {num_labels!r}.")
        self.pooling = pooling
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, token_vectors: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            pooled = token_vectors[:, 0]
        else:
            pooled = mean_pool(token_vectors, attention_mask)
        return self.out(self.dropout(torch.tanh(self.dense(self.dropout(pooled)))))



def labeled_config(encoder_config, label_names: list[str], architecture: str, config_class=BertConfig) -> BertConfig:
    """``encoder_config`` with one output per label, the real label names (``id2label`` / ``label2id``) and
    the class that loads it (``architecture``, e.g. ``"BertForTokenClassification"``), as a ``config_class``."""
    settings = encoder_config.to_dict()
    settings.pop("model_type", None)
    config = config_class.from_dict(settings)
    config.num_labels = len(label_names)
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: i for i, name in enumerate(label_names)}
    config.architectures = [architecture]
    return config


def export_sequence_classifier(encoder_config, label_names: list[str]) -> BertForSequenceClassification:
    """An empty ``BertForSequenceClassification`` with ``encoder_config``'s architecture and the real label
    names (``id2label`` / ``label2id``): the layout ``transformers.pipeline`` loads. The caller copies the
    weights in."""
    return BertForSequenceClassification(labeled_config(encoder_config, label_names, "BertForSequenceClassification"))


def save_exported(exported, directory: str | Path, tokenizer=None) -> Path:
    """Save an exported classifier (and its tokenizer, when given) to ``directory``; returns the folder."""
    directory = Path(directory)
    exported.save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return directory


class EncoderClassifier(nn.Module):
    """f(x; θ, ω): an encoder (θ) followed by a prediction network (ω). Returns one score per class."""

    def __init__(self, encoder: BertModel, num_labels: int, label_names: list[str] | None = None,
                 pooling: str = "cls"):
        super().__init__()
        label_names = list(label_names) if label_names is not None else [f"LABEL_{i}" for i in range(num_labels)]
        if len(label_names) != num_labels:
            raise ValueError(f"{len(label_names)} label names given for num_labels={num_labels}: "
                             f"give exactly one name per class.")
        self.encoder = encoder
        self.head = ClassificationHead(encoder.config.hidden_size, num_labels, pooling,
                                       encoder.config.hidden_dropout_prob)
        self.label_names = label_names

    @property
    def num_labels(self) -> int:
        return self.head.out.out_features

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``token_type_ids`` are the segment ids of a sentence pair (0 for the first, 1 for the second);
        left out, every token is in segment 0, as for one sentence."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        segments = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        token_vectors = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **segments).last_hidden_state
        return self.head(token_vectors, attention_mask)

    def save_pretrained(self, directory: str | Path, tokenizer=None) -> Path:
        """Save with the real label names so that ``transformers.pipeline`` and
        ``AutoModelForSequenceClassification`` load it.

        pooling ``'cls'``: a standard ``BertForSequenceClassification`` (its pooler is the head's hidden layer).
        pooling ``'mean'``: ``MeanPooledBertForSequenceClassification`` (``utils/mean_pooled_bert.py``), whose
        code is saved beside the weights; load it with ``trust_remote_code=True``."""
        encoder_state = {k: v for k, v in self.encoder.state_dict().items() if not k.startswith("pooler.")}
        if self.head.pooling == "mean":
            from .mean_pooled_bert import MeanPooledBertConfig, MeanPooledBertForSequenceClassification as Exported

            # Saving copies the file that defines these classes into the folder and names them in config.json.
            MeanPooledBertConfig.register_for_auto_class("AutoConfig")
            Exported.register_for_auto_class("AutoModelForSequenceClassification")
            exported = Exported(labeled_config(self.encoder.config, self.label_names, Exported.__name__,
                                               MeanPooledBertConfig))
            exported.bert.load_state_dict(encoder_state)
            exported.pre_classifier.load_state_dict(self.head.dense.state_dict())
            exported.classifier.load_state_dict(self.head.out.state_dict())
            return save_exported(exported, directory, tokenizer)
        exported = export_sequence_classifier(self.encoder.config, self.label_names)
        # The exported encoder differs only by its pooler, which takes the head's hidden layer below.
        result = exported.bert.load_state_dict(encoder_state, strict=False)
        assert not result.unexpected_keys and all(k.startswith("pooler.") for k in result.missing_keys), result
        exported.bert.pooler.dense.load_state_dict(self.head.dense.state_dict())
        exported.classifier.load_state_dict(self.head.out.state_dict())
        return save_exported(exported, directory, tokenizer)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "EncoderClassifier":
        """Load a classifier saved by :meth:`save_pretrained`, with the pooling it was saved with."""
        from .mean_pooled_bert import MeanPooledBertForSequenceClassification

        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"No saved classifier in {directory}: expected a config.json there. "
                                    f"Save one with EncoderClassifier.save_pretrained(directory) first.")
        architectures = json.loads((directory / "config.json").read_text()).get("architectures") or []
        if MeanPooledBertForSequenceClassification.__name__ in architectures:
            loaded = MeanPooledBertForSequenceClassification.from_pretrained(directory)
            pooling, dense = "mean", loaded.pre_classifier
        else:
            loaded = BertForSequenceClassification.from_pretrained(directory)
            pooling, dense = "cls", loaded.bert.pooler.dense
        config = loaded.config
        labels = [config.id2label[i] for i in range(config.num_labels)]
        encoder = BertModel(labeled_config(config, labels, "BertModel"), add_pooling_layer=False)
        encoder.load_state_dict({k: v for k, v in loaded.bert.state_dict().items() if not k.startswith("pooler.")})
        model = cls(encoder, config.num_labels, labels, pooling=pooling)
        model.head.dense.load_state_dict(dense.state_dict())
        model.head.out.load_state_dict(loaded.classifier.state_dict())
        return model.eval()


def check_vocabulary(tokenizer, model: nn.Module) -> None:
    """Fail clearly if the tokenizer can produce ids the model has no embedding for, or the other way."""
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is None and hasattr(model, "encoder"):
        embeddings = model.encoder.get_input_embeddings()
    rows = embeddings.num_embeddings
    if len(tokenizer) != rows:
        raise ValueError(f"The tokenizer has {len(tokenizer)} tokens but the model has embeddings for {rows}: "
                         f"they were not trained together. Load the tokenizer saved with the model "
                         f"(AutoTokenizer.from_pretrained on the same folder).")
