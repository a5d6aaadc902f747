"""A BERT sequence classifier that reads the mean of the token vectors instead of the [CLS] vector.

``transformers`` has no BERT class for this: ``BertForSequenceClassification`` always reads [CLS]. Sentence
encoders such as MiniLM (all-MiniLM-L6-v2) were trained to summarise a sentence by the mean of its token
vectors, so a classifier fine-tuned from them does better reading the mean (lesson 09). This file is the
class such a classifier is saved with: ``EncoderClassifier.save_pretrained`` copies it into the saved
folder and names it in ``config.json`` (``auto_map``), the way ``transformers`` shares custom models, so

    pipeline("text-classification", model=folder, trust_remote_code=True)

loads it. ``trust_remote_code=True`` runs the Python file in the folder: give it only to folders whose code
you have read or written yourself.

The file imports nothing but torch and transformers, because it must work on its own wherever the folder
is copied.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPooledBertConfig(BertConfig):
    """BERT's configuration under a name of its own, so that a folder saved with this class is never taken
    for a standard BERT: without ``trust_remote_code=True`` loading it fails with a message that says so,
    instead of quietly reading [CLS] with an untrained pooler."""

    model_type = "mean_pooled_bert"


class MeanPooledBertForSequenceClassification(BertPreTrainedModel):
    """The encoder θ (``bert``), then the prediction network ω: the mean of the real tokens' vectors
    (padding left out), a hidden layer with tanh (``pre_classifier``) and one score per class
    (``classifier``), with dropout before each layer as in BERT's own head."""

    config_class = MeanPooledBertConfig

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.pre_classifier = nn.Linear(config.hidden_size, config.hidden_size)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        token_vectors = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(token_vectors.dtype)
        pooled = (token_vectors * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        hidden = torch.tanh(self.pre_classifier(self.dropout(pooled)))
        logits = self.classifier(self.dropout(hidden))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)
