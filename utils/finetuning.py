"""Fine-tuning: the pre-trained encoder plus a new prediction network, trained on labeled data (lesson 03).

Strategies (what is trained, starting from what):

==========  ===================================  ========================  ==================
strategy    encoder θ starts from                trained                   head reads (default)
==========  ===================================  ========================  ==================
``none``    the pre-trained weights              nothing (random head ω)   ``[CLS]``
``frozen``  the pre-trained weights              the head ω only           the mean of tokens
``full``    the pre-trained weights              θ and ω, end to end       ``[CLS]``
``scratch`` random weights (no pre-training)     θ and ω, end to end       ``[CLS]``
==========  ===================================  ========================  ==================

Every training loop returns a history in the format ``utils.diagnose`` reads: per-step
``train_loss``; per-epoch ``train_acc``, ``val_loss``, ``val_acc`` and ``val_pred_counts`` (validation
predictions per class); and ``num_classes``.

Build the lesson's saved classifier from a shell with ``python -m utils.finetuning``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import math
from collections.abc import Mapping
from pathlib import Path

import datasets
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from transformers import BertModel

from . import config as cfg
from .models import EncoderClassifier, check_vocabulary
from .pretraining import batch_order  # lessons 06 and 09 call it finetuning.batch_order

STRATEGIES = ("none", "frozen", "full", "scratch")
LEARNING_RATES = {"frozen": 1e-2, "full": 3e-4, "scratch": 1e-3}
# How the head reads the encoder's token vectors when ``pooling`` is not given. A frozen encoder keeps
# what masked language modelling made of it, and that objective never trains the [CLS] vector to sum up
# the sentence; the average of the token vectors carries the words' meaning (lesson 03 compares the two).
# When the encoder is trained, it learns to put the summary into [CLS], the layout BERT's own classifier
# (and ``transformers.pipeline``) expects.
DEFAULT_POOLING = {"none": "cls", "frozen": "mean", "full": "cls", "scratch": "cls"}
CLASSIFIER_NAME = "reviews-classifier"


# ---------------------------------------------------------------------------------------------------
# Checking labeled data before training on it
# ---------------------------------------------------------------------------------------------------

def label_names_of(split: datasets.Dataset) -> list[str] | None:
    feature = split.features.get("label")
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def check_labeled_split(split, num_labels: int, name: str = "train", label2id: Mapping[str, int] | None = None):
    """Return ``split`` with integer labels in ``0..num_labels-1``, or raise a clear error.

    String labels are converted with ``label2id`` when it is given; without it, or when it misses a
    label, the error says which labels and how to fix it.
    """
    if not isinstance(split, datasets.Dataset):
        raise TypeError(f"The {name} split must be a datasets.Dataset with columns 'text' and 'label', "
                        f"got {type(split).__name__}. Build one with datasets.Dataset.from_dict(...).")
    missing = {"text", "label"} - set(split.column_names)
    if missing:
        raise ValueError(f"The {name} split has columns {split.column_names}; it needs 'text' and 'label' "
                         f"(missing: {', '.join(sorted(missing))}). Rename with dataset.rename_column(old, new).")
    if len(split) == 0:
        raise ValueError(f"The {name} split is empty: there is nothing to train or evaluate on. "
                         f"Check the filtering or the split sizes that produced it.")
    labels = split["label"]
    strings = sorted({lab for lab in labels if isinstance(lab, str)})
    if strings:
        if label2id is None:
            raise ValueError(f"The {name} split's labels are strings (e.g. {strings[0]!r}) where class ids "
                             f"0..{num_labels - 1} are expected. Pass label2id={{name: id}} or encode them with "
                             f"dataset.class_encode_column('label').")
        unknown = [s for s in strings if s not in label2id]
        if unknown:
            raise ValueError(f"label2id has no id for the label(s) {unknown} found in the {name} split; it covers "
                             f"{sorted(label2id)}. Add them to the mapping or remove those examples.")
        features = split.features.copy()
        features["label"] = datasets.Value("int64")
        split = split.map(lambda row: {"label": label2id[row["label"]]}, features=features)
        labels = split["label"]
    not_whole = sorted({lab for lab in labels if not isinstance(lab, int) or isinstance(lab, bool)}, key=str)
    if not_whole:
        raise ValueError(f"The {name} split has label(s) {not_whole[:5]} that are not whole-number class ids; "
                         f"labels must be integers 0..{num_labels - 1}. Cast them with "
                         f"dataset.cast_column('label', datasets.Value('int64')).")
    bad = sorted({lab for lab in labels if not 0 <= lab < num_labels})
    if bad:
        raise ValueError(f"The {name} split has label(s) {bad[:5]} outside 0..{num_labels - 1} for a model with "
                         f"num_labels={num_labels}. Either the labels are wrong or the model needs more classes.")
    return split


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}. Choose one of: {', '.join(STRATEGIES)}.")


# ---------------------------------------------------------------------------------------------------
# Building the model for a strategy
# ---------------------------------------------------------------------------------------------------

def encoder_from_mlm(mlm_model) -> BertModel:
    """The encoder θ of a pre-trained masked language model, without its Softmax output layer.

    A ``BertModel`` (already an encoder, such as the real ones of lesson 08) is copied, less its pooler."""
    source = mlm_model if isinstance(mlm_model, BertModel) else mlm_model.bert
    encoder = BertModel(source.config, add_pooling_layer=False)
    encoder.load_state_dict({k: v for k, v in source.state_dict().items() if not k.startswith("pooler.")})
    return encoder


def default_pooling(strategy: str) -> str:
    """The pooling a strategy uses unless told otherwise: ``'mean'`` for ``frozen``, ``'cls'`` for the rest."""
    _check_strategy(strategy)
    return DEFAULT_POOLING[strategy]


def build_classifier(mlm_model, strategy: str, label_names: list[str], pooling: str | None = None,
                     seed: int = cfg.SEED) -> EncoderClassifier:
    """f(x; θ, ω) for a strategy: θ copied from ``mlm_model`` (or random for ``scratch``), ω random.
    ``mlm_model`` is a pre-trained masked language model or a ``BertModel`` encoder. ``pooling`` is
    ``'cls'`` or ``'mean'``; left out, it is the strategy's default (:func:`default_pooling`)."""
    _check_strategy(strategy)
    pooling = default_pooling(strategy) if pooling is None else pooling
    torch.manual_seed(seed)
    if strategy == "scratch":
        encoder = BertModel(mlm_model.config, add_pooling_layer=False)
    else:
        encoder = encoder_from_mlm(copy.deepcopy(mlm_model))
    model = EncoderClassifier(encoder, len(label_names), label_names, pooling=pooling)
    if strategy == "frozen":
        for p in model.encoder.parameters():
            p.requires_grad_(False)
    return model


# ---------------------------------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------------------------------

def _batch(tokenizer, texts, device, text_pairs=None):
    """The texts (with their second sentences, for a pair task) as tensors: ids, attention mask and, for
    pairs only, the segment ids (``token_type_ids``)."""
    pairs = () if text_pairs is None else (list(text_pairs),)
    enc = tokenizer(list(texts), *pairs, padding=True, truncation=True, max_length=128, return_tensors="pt")
    tensors = (enc["input_ids"].to(device), enc["attention_mask"].to(device))
    return tensors if text_pairs is None else (*tensors, enc["token_type_ids"].to(device))


def _tokenize(tokenizer, split: datasets.Dataset) -> tuple[list[list[int]], list[list[int]] | None]:
    """Every example's token ids, and for a pair task (a ``text_pair`` column) its segment ids; None else."""
    if "text_pair" not in split.column_names:
        return tokenizer(list(split["text"]), truncation=True, max_length=128)["input_ids"], None
    enc = tokenizer(list(split["text"]), list(split["text_pair"]), truncation=True, max_length=128)
    return enc["input_ids"], enc["token_type_ids"]


def pad_batch(sequences: list[torch.Tensor], value, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences of different lengths in one batch, padded with ``value`` on ``side`` ('right' or 'left')
    to the longest, and the attention mask that marks their real positions (lessons 03 and 04)."""
    batch = pad_sequence(sequences, batch_first=True, padding_value=value, padding_side=side)
    real = [torch.ones(len(s), dtype=torch.long, device=batch.device) for s in sequences]
    return batch, pad_sequence(real, batch_first=True, padding_value=0, padding_side=side)


def _pad_ids(token_ids: list[list[int]], tokenizer, device):
    """Token ids tokenized once, padded to the longest of the batch: the same tensors as :func:`_batch`
    gives for their texts, without tokenizing them again at every step."""
    ids, mask = pad_batch([torch.tensor(ids, dtype=torch.long) for ids in token_ids], tokenizer.pad_token_id,
                          getattr(tokenizer, "padding_side", "right"))
    return ids.to(device), mask.to(device)


def _pad_types(type_ids: list[list[int]], tokenizer, device) -> torch.Tensor:
    """Segment ids (``token_type_ids``) padded like :func:`_pad_ids` pads the token ids, with 0."""
    return pad_batch([torch.tensor(t, dtype=torch.long) for t in type_ids], 0,
                     getattr(tokenizer, "padding_side", "right"))[0].to(device)


@torch.no_grad()
def evaluate(model: EncoderClassifier, tokenizer, split: datasets.Dataset, batch_size: int = 256) -> dict:
    """Accuracy, mean cross-entropy loss and predictions per class of ``model`` on ``split`` (predictions in
    the split's order). Examples are batched by length, so that little of a batch is padding."""
    split = check_labeled_split(split, model.num_labels, "evaluation")
    model.eval()
    device = next(model.parameters()).device
    side = getattr(tokenizer, "padding_side", "right")
    token_ids, type_ids = _tokenize(tokenizer, split)
    labels = torch.tensor(split["label"], dtype=torch.long)
    frozen = isinstance(model, EncoderClassifier) and encoder_is_fixed(model)
    # A frozen θ: its token vectors once, kept for the next run (as in training).
    fixed = _fixed_token_vectors(model.encoder, token_ids, tokenizer, device, type_ids=type_ids) if frozen else None
    order = sorted(range(len(split)), key=lambda i: len(token_ids[i]))
    loss_sum, predictions = 0.0, [0] * len(split)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        if frozen:
            logits = model.head(*pad_batch([fixed[i] for i in rows], 0.0, side))
        elif type_ids is None:
            logits = model(*_pad_ids([token_ids[i] for i in rows], tokenizer, device))
        else:
            logits = model(*_pad_ids([token_ids[i] for i in rows], tokenizer, device),
                           _pad_types([type_ids[i] for i in rows], tokenizer, device))
        target = labels[rows].to(device)
        loss_sum += nn.functional.cross_entropy(logits, target, reduction="sum").item()
        for i, p in zip(rows, logits.argmax(-1).tolist()):
            predictions[i] = p
    correct = sum(int(p == y) for p, y in zip(predictions, split["label"]))
    counts = [predictions.count(c) for c in range(model.num_labels)]
    return {"accuracy": correct / len(split), "loss": loss_sum / len(split), "pred_counts": counts,
            "predictions": predictions}


def encoder_is_fixed(model: EncoderClassifier) -> bool:
    """True when no parameter of θ is trained. :func:`train_classifier` then keeps the encoder in
    evaluation mode (no dropout), so each example's token vectors are the same at every step: the
    frozen strategy, θ fixed and ω trained by the same loop as in full fine-tuning."""
    return not any(p.requires_grad for p in model.encoder.parameters())


def _fingerprint(encoder) -> str:
    """A digest of the encoder's weights: two encoders with the same digest compute the same vectors."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in encoder.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# Token vectors of fixed encoders, by the encoder's digest, then by the example's token (and segment) ids.
# A comparison trains and scores a frozen θ many times (a grid of learning rates, several seeds) on the
# same texts; the encoder's pass over them, the expensive part for a real encoder, is then done once.
_STORED: dict[str, dict[tuple, torch.Tensor]] = {}
_STORED_ENCODERS = 2


@torch.no_grad()
def _fixed_token_vectors(encoder, token_ids: list[list[int]], tokenizer, device, batch_size: int = 256,
                         type_ids: list[list[int]] | None = None):
    """Each example's token vectors from a fixed encoder in evaluation mode (no dropout), computed once (in
    batches of similar length) and kept for the next run with the same encoder weights."""
    encoder.eval()
    stored = _STORED.setdefault(_fingerprint(encoder), {})
    while len(_STORED) > _STORED_ENCODERS:
        del _STORED[next(iter(_STORED))]
    keys = [(tuple(ids), tuple(type_ids[i]) if type_ids is not None else None) for i, ids in enumerate(token_ids)]
    missing = sorted({i for i, key in enumerate(keys) if key not in stored}, key=lambda i: len(token_ids[i]))
    for start in range(0, len(missing), batch_size):
        rows = missing[start:start + batch_size]
        ids, mask = _pad_ids([token_ids[i] for i in rows], tokenizer, device)
        segments = {} if type_ids is None else {"token_type_ids": _pad_types([type_ids[i] for i in rows], tokenizer, device)}
        hidden = encoder(input_ids=ids, attention_mask=mask, **segments).last_hidden_state
        for row, i in enumerate(rows):
            stored[keys[i]] = hidden[row, mask[row].bool()].clone()
    return [stored[key].to(device) for key in keys]


def optimizer_and_schedule(parameters, lr: float, steps_per_epoch: int, epochs: int, fused: bool,
                           total_steps: int | None = None):
    """AdamW (weight decay 0.01) and the fine-tuning schedule: the learning rate rises linearly over the first
    half epoch, then falls linearly to 0 at the last step (``total_steps``, by default ``epochs`` epochs)."""
    total = total_steps if total_steps is not None else epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01, fused=fused or None)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, steps_per_epoch // 2)) * max(0.0, 1 - step / total))
    return optimizer, schedule


def train_classifier(model: EncoderClassifier, tokenizer, train: datasets.Dataset,
                     validation: datasets.Dataset | None = None, *, epochs: int = 6, batch_size: int = 32,
                     lr: float = 1e-3, seed: int = cfg.SEED, device: torch.device | None = None,
                     progress: bool = True, group_by_length: bool = False, fused: bool | None = None,
                     steps: int | None = None) -> dict:
    """Maximise the log probability of the correct labels (minimise cross-entropy) over the trainable
    parameters of ``model``. Returns the history.

    The budget is ``epochs`` passes over ``train``, or exactly ``steps`` optimizer steps when ``steps`` is
    given (as many passes as that takes, the last one cut short; comparisons give every strategy the same
    number of steps). When no parameter of the encoder θ is trainable (the frozen strategy), the encoder
    stays in evaluation mode, without dropout, and only ω learns. ``group_by_length`` puts examples of
    similar length in one batch (:func:`batch_order`): the same training, with less padding to compute.
    ``fused`` has AdamW update every parameter in one pass (torch's fused implementation; by default
    wherever torch has one, on a CPU or a CUDA GPU): the numbers agree with torch's default loop to about
    1e-7, not bit for bit. ``fused=False`` runs that loop.
    """
    check_vocabulary(tokenizer, model)
    train = check_labeled_split(train, model.num_labels, "train")
    if validation is not None:
        validation = check_labeled_split(validation, model.num_labels, "validation")
    trainable = [p for p in model.parameters() if p.requires_grad]
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "val_pred_counts": [],
               "num_classes": model.num_labels}
    if not trainable:
        raise ValueError("No parameter of the model is trainable (every requires_grad is False), so training "
                         "would change nothing. Unfreeze the head (or the encoder) first.")
    if steps is not None:
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps must be a whole number of optimizer steps, at least 1; got {steps!r}.")
    device = device or cfg.get_device()
    model.to(device)
    if fused is None:
        fused = device.type in ("cpu", "cuda")
    steps_per_epoch = math.ceil(len(train) / batch_size)
    if steps is not None:
        epochs = math.ceil(steps / steps_per_epoch)
    total_steps = steps if steps is not None else epochs * steps_per_epoch
    optimizer, schedule = optimizer_and_schedule(trainable, lr, steps_per_epoch, epochs, fused, total_steps)
    generator = torch.Generator().manual_seed(seed)
    # Tokenized once, not at every step: the texts do not change between epochs.
    token_ids, type_ids = _tokenize(tokenizer, train)
    all_labels = torch.tensor(train["label"], dtype=torch.long)
    lengths = [len(ids) for ids in token_ids] if group_by_length else [0] * len(train)
    # A frozen encoder in evaluation mode gives an example the same token vectors at every step: compute them
    # once, and train the head on them. The same training, up to rounding (about 1e-6), in a fraction of the time.
    frozen = encoder_is_fixed(model)
    fixed = _fixed_token_vectors(model.encoder, token_ids, tokenizer, device, type_ids=type_ids) if frozen else None
    side = getattr(tokenizer, "padding_side", "right")
    bar = cfg.progress_bar(total=total_steps, enabled=progress, desc="fine-tuning")
    taken = 0
    for _ in range(epochs):
        model.train()
        if frozen:
            model.encoder.eval()   # θ is fixed: no dropout either, the encoder as it will be used
        correct, seen = 0, 0
        for batch in batch_order(lengths, batch_size, generator, group_by_length):
            if taken == total_steps:
                break
            labels = all_labels[batch].to(device)
            if frozen:  # the head alone, on the encoder's stored token vectors
                logits = model.head(*pad_batch([fixed[i] for i in batch], 0.0, side))
            elif type_ids is None:
                logits = model(*_pad_ids([token_ids[i] for i in batch], tokenizer, device))
            else:  # a pair task: the segment ids too
                logits = model(*_pad_ids([token_ids[i] for i in batch], tokenizer, device),
                               _pad_types([type_ids[i] for i in batch], tokenizer, device))
            loss = nn.functional.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            history["train_loss"].append(loss.item())
            correct += int((logits.argmax(-1) == labels).sum())
            seen += len(batch)
            taken += 1
            bar.update(1)
        history["train_acc"].append(correct / seen)
        if validation is not None:
            result = evaluate(model, tokenizer, validation)
            history["val_loss"].append(result["loss"])
            history["val_acc"].append(result["accuracy"])
            history["val_pred_counts"].append(result["pred_counts"])
            bar.set_postfix(val_acc=f"{result['accuracy']:.3f}")
    bar.close()
    model.eval()
    return history


def fine_tune(mlm_model, tokenizer, task: datasets.DatasetDict, strategy: str = "full", *,
              pooling: str | None = None, epochs: int | None = None, lr: float | None = None,
              batch_size: int | None = None, train_size: int | None = None, seed: int = cfg.SEED,
              progress: bool = True, group_by_length: bool = False,
              fused: bool | None = None, steps: int | None = None) -> tuple[EncoderClassifier, dict]:
    """Build f(x; θ, ω) for ``strategy`` and train it on ``task['train']`` (the first ``train_size``
    examples if given), validating on ``task['validation']``. Returns ``(model, history)``.
    The budget is ``epochs`` passes, or exactly ``steps`` optimizer steps when ``steps`` is given.
    ``mlm_model`` is the pre-trained masked language model, or any ``BertModel`` encoder (lesson 08).
    ``pooling`` ('cls' or 'mean') defaults to the strategy's own (:func:`default_pooling`)."""
    _check_strategy(strategy)
    if not isinstance(task, datasets.DatasetDict) or "train" not in task:
        raise ValueError("task must be a datasets.DatasetDict with at least a 'train' split "
                         "(see utils.data.make_reviews).")
    label_names = label_names_of(task["train"])
    if label_names is None:
        raise ValueError("The task's 'label' column is not a datasets.ClassLabel, so the label names are unknown. "
                         "Cast it with task.cast_column('label', datasets.ClassLabel(names=[...])).")
    profile = cfg.get_profile()
    train = task["train"]
    if train_size is not None:
        if not 1 <= train_size <= len(train):
            raise ValueError(f"train_size={train_size} but the train split has {len(train)} examples.")
        train = train.select(range(train_size))
    model = build_classifier(mlm_model, strategy, label_names, pooling=pooling, seed=seed)
    validation = task["validation"] if "validation" in task else None
    if strategy == "none":
        history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "val_pred_counts": [],
                   "num_classes": model.num_labels}
        if validation is not None:
            result = evaluate(model, tokenizer, validation)
            history.update(val_loss=[result["loss"]], val_acc=[result["accuracy"]],
                           val_pred_counts=[result["pred_counts"]])
        return model, history
    history = train_classifier(model, tokenizer, train, validation,
                               epochs=epochs or profile.finetune_epochs,
                               batch_size=batch_size or profile.finetune_batch_size,
                               lr=lr or LEARNING_RATES[strategy], seed=seed, progress=progress,
                               group_by_length=group_by_length, fused=fused, steps=steps)
    return model, history


def classifier_dir(name: str = CLASSIFIER_NAME) -> Path:
    return cfg.artifacts_dir() / name


def main(argv: list[str] | None = None) -> None:
    from .data import make_reviews
    from .pretraining import load_or_pretrain

    parser = argparse.ArgumentParser(description="Fine-tune the pre-trained tiny BERT on review polarity and "
                                                 "save it to artifacts/reviews-classifier/.")
    parser.add_argument("--strategy", default="full", choices=[s for s in STRATEGIES if s != "none"])
    parser.add_argument("--profile", default=None, help="laptop (default) or full; or set WORKBOOK_PROFILE")
    args = parser.parse_args(argv)
    try:
        mlm_model, tokenizer, _ = load_or_pretrain(args.profile)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    task = make_reviews(seed=cfg.SEED)
    # pipeline() loads BertForSequenceClassification, whose head reads [CLS]: saved models pool that way.
    model, _ = fine_tune(mlm_model, tokenizer, task, args.strategy, pooling="cls")
    test = evaluate(model, tokenizer, task["test"])
    out = model.save_pretrained(classifier_dir(), tokenizer)
    print(f"saved {out}  test accuracy (unseen label words): {test['accuracy']:.3f}")


if __name__ == "__main__":
    main()
