"""Reading a training history and naming the failure it shows; checking a model's set-up before
training (lesson 06).

``diagnose(history, validation_labels=...)`` reads the history that ``utils.finetuning.train_classifier``
and ``fine_tune`` return (and, optionally, the validation split's labels):

=====================  ==============================================================================
key                    what it holds
=====================  ==============================================================================
``train_loss``         one float per optimizer step: the training cross-entropy (must not be empty)
``train_acc``          one float in [0, 1] per epoch: accuracy on the training examples of that epoch
``val_loss``           one float per epoch: mean cross-entropy on the validation split (may be empty)
``val_acc``            one float in [0, 1] per epoch: validation accuracy (as long as ``val_loss``)
``num_classes``        the number of classes C (a whole number, at least 2)
``val_pred_counts``    optional: per epoch, how many validation examples were predicted as each class
=====================  ==============================================================================

and returns a list of :class:`Finding`, each with a ``code``, a one-line ``message`` with the numbers
that show it, and a one-line ``fix``:

==================  ==================================================================================
code                what the history shows
==================  ==================================================================================
``diverged``        the training loss became inf/nan, or rose far above where it started
``not_learning``    the training loss never got clearly below ln C, the loss of a uniform guess over C
                    classes
``below_chance``    validation accuracy clearly below 1/C: the model is consistently wrong, which
                    points to labels mapped differently in training and evaluation
``majority_class``  almost every validation prediction is the same class
``overfitting``     training accuracy far above validation accuracy while the validation loss rises;
                    early stopping is advised only when an earlier epoch did clearly better than a
                    guess, always answering the validation split's majority class
``healthy``         none of the above (returned alone)
==================  ==================================================================================

Some failures never show in a history: weights that were not loaded, a frozen encoder, a tokenizer
from another model. ``check_setup(model, ...)`` looks for those before training:

========================  ============================================================================
code                      what the model shows
========================  ============================================================================
``weights_not_loaded``    encoder weight matrices that are not the checkpoint's (random weights, not θ)
``nothing_trainable``     no parameter has ``requires_grad=True``
``encoder_frozen``        full fine-tuning was intended (``expect_trainable="all"``), but encoder
                          parameters are frozen
``encoder_not_frozen``    a frozen encoder was intended (``expect_trainable="head"``), but it is trainable
``head_frozen``           the prediction network ω has frozen parameters
``head_size_mismatch``    the output layer does not have one score per class (e.g. the pre-training head
                          over the vocabulary was kept)
``vocabulary_mismatch``   the tokenizer does not match the model's embeddings or the checkpoint's
                          vocabulary
``setup_ok``              none of the above (returned alone)
========================  ============================================================================
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .models import check_vocabulary

# ---------------------------------------------------------------------------------------------------
# Thresholds. They are deliberately coarse: each failure they name moves its number far past them,
# while a run that trains normally stays well clear (lesson 06 shows both sides on real runs).
# ---------------------------------------------------------------------------------------------------

# A loss above this multiple of max(first-step loss, ln C), averaged over DIVERGED_WINDOW steps, is
# not noise: a stable run's loss stays below where it started, and a too-high learning rate throws it
# to several times ln C. (Single small batches can spike to twice ln C in a healthy run, hence the mean.)
DIVERGED_FACTOR = 2.0
DIVERGED_WINDOW = 5
# "Clearly below ln C" means more than this fraction below it. A run that learns gets there within an
# epoch; one that does not (learning rate far too small, nothing that matters trainable, labels
# shuffled against their texts) stays around ln C, or above it when the new head started out
# overconfident.
NOT_LEARNING_MARGIN = 0.10
# The end of training is the mean loss over the last quarter of the steps (at most this many), so a
# single noisy batch does not decide the verdict.
END_WINDOW = 50
# Training accuracy this far above validation accuracy is more than the usual gap between data the
# model was fit to and data it was not.
OVERFIT_GAP = 0.20
# ...and the validation loss must also be climbing: the last epoch's is this fraction above the best
# earlier epoch's (the model grows confidently wrong on new data).
VAL_LOSS_RISE = 0.10
# A share of validation predictions in one class this high means the classifier ignores the input:
# with any usable validation split, a model that reads the text predicts more than one class.
MAJORITY_SHARE = 0.90
# Accuracy below this fraction of chance (1/C) cannot be a model that merely learned nothing: it is
# systematically wrong. When the validation size is known, the gap must also exceed
# BELOW_CHANCE_SIGMAS standard deviations of a chance-level score, so a tiny split cannot trigger it.
BELOW_CHANCE_FACTOR = 0.6
BELOW_CHANCE_SIGMAS = 3.0
# Early stopping keeps the epoch with the best validation accuracy; it is worth advising only when that
# accuracy is clearly above a guess: always answering the validation split's majority class (chance, 1/C,
# when its labels are not given). "Clearly" is this many standard deviations of the guess's accuracy on
# the split, because the best of several epochs is picked, and a lucky epoch is picked with it. The
# validation loss cannot judge this: confident mistakes can lift it above ln C, the loss of a uniform guess,
# while the accuracy is above the guess's (lesson 06's tiny training set: a loss above ln C, an accuracy
# no worse than the guess's).
ABOVE_GUESS_SIGMAS = 3.0
# check_setup: a weight matrix is "from the checkpoint" when its relative distance to the
# checkpoint's is below this. A just-loaded matrix is at 0; fine-tuning moves the tiny model's
# matrices by about 0.02-0.2; a freshly initialised matrix is 0.4 or more away from a pre-trained one.
# Call check_setup before training: a long fine-tuning run can move matrices further than this.
WEIGHTS_FAR = 0.3

CODES = {
    "diverged": "the training loss became inf/nan or rose far above its start",
    "not_learning": "the training loss never got clearly below ln C (a uniform guess)",
    "below_chance": "validation accuracy clearly below chance: labels mapped differently",
    "majority_class": "almost all validation predictions are one class",
    "overfitting": "training accuracy far above validation, validation loss rising",
    "healthy": "no failure found in the history",
    "weights_not_loaded": "the encoder's weights are not the checkpoint's",
    "nothing_trainable": "no parameter is trainable",
    "encoder_frozen": "the encoder is frozen although full fine-tuning was intended",
    "encoder_not_frozen": "the encoder is trainable although it was meant to be frozen",
    "head_frozen": "the prediction network has frozen parameters",
    "head_size_mismatch": "the output layer does not have one score per class",
    "vocabulary_mismatch": "the tokenizer does not match the model's vocabulary",
    "setup_ok": "no set-up problem found",
}


@dataclass(frozen=True)
class Finding:
    """One diagnosis: a ``code`` (see ``CODES``), what the evidence shows, and what to do about it."""

    code: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}\n    fix: {self.fix}"


def format_findings(findings) -> str:
    """The findings as text, one block per finding, for printing in a notebook."""
    return "\n".join(str(f) for f in findings)


# ---------------------------------------------------------------------------------------------------
# Reading a history
# ---------------------------------------------------------------------------------------------------

_EXPECTED = {
    "train_loss": "a list with one float per optimizer step",
    "train_acc": "a list with one accuracy in [0, 1] per epoch",
    "val_loss": "a list with one float per epoch (empty if there was no validation split)",
    "val_acc": "a list with one accuracy in [0, 1] per epoch (empty if there was no validation split)",
    "num_classes": "the number of classes, a whole number of at least 2",
    "val_pred_counts": "a list with, per epoch, one count of validation predictions per class",
}


def _numbers(history: Mapping, key: str, *, unit_interval: bool = False) -> list[float]:
    values = history[key]
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__") or not hasattr(values, "__iter__"):
        raise ValueError(f"history[{key!r}] is a {type(values).__name__}; expected {_EXPECTED[key]}.")
    out = []
    for i, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            raise ValueError(f"history[{key!r}][{i}] is a torch.Tensor; expected {_EXPECTED[key]}. "
                             f"Store plain numbers: append loss.item(), not loss.")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"history[{key!r}][{i}] is {value!r} ({type(value).__name__}); expected {_EXPECTED[key]}.")
        value = float(value)
        if unit_interval and not 0.0 <= value <= 1.0:
            raise ValueError(f"history[{key!r}][{i}] is {value}; expected {_EXPECTED[key]} "
                             f"(a share, not a percentage).")
        out.append(value)
    return out


def _read_history(history) -> dict:
    """The history's values as plain Python numbers, or a ValueError naming the key that is wrong."""
    if not isinstance(history, Mapping):
        raise ValueError(f"history is a {type(history).__name__}; expected the dict that "
                         f"utils.finetuning.train_classifier returns, with keys {', '.join(list(_EXPECTED)[:5])}.")
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "num_classes"):
        if key not in history:
            raise ValueError(f"history has no {key!r}: expected {_EXPECTED[key]}.")
    num_classes = history["num_classes"]
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"history['num_classes'] is {num_classes!r}; expected {_EXPECTED['num_classes']}.")
    h = {"num_classes": int(num_classes),
         "train_loss": _numbers(history, "train_loss"),
         "train_acc": _numbers(history, "train_acc", unit_interval=True),
         "val_loss": _numbers(history, "val_loss"),
         "val_acc": _numbers(history, "val_acc", unit_interval=True)}
    if not h["train_loss"]:
        raise ValueError("history['train_loss'] is empty: there was no training to diagnose (strategy 'none' "
                         f"trains nothing); expected {_EXPECTED['train_loss']}.")
    if len(h["val_loss"]) != len(h["val_acc"]):
        raise ValueError(f"history['val_loss'] has {len(h['val_loss'])} entries and history['val_acc'] "
                         f"{len(h['val_acc'])}; expected one of each per validated epoch.")
    counts = history.get("val_pred_counts") or []
    if isinstance(counts, (str, bytes, Mapping)) or not hasattr(counts, "__iter__"):
        raise ValueError(f"history['val_pred_counts'] is a {type(counts).__name__}; expected {_EXPECTED['val_pred_counts']}.")
    counts = list(counts)
    if counts and len(counts) != len(h["val_acc"]):
        raise ValueError(f"history['val_pred_counts'] has {len(counts)} entries for {len(h['val_acc'])} validated "
                         f"epochs; expected {_EXPECTED['val_pred_counts']}.")
    for i, row in enumerate(counts):
        if (isinstance(row, (str, bytes)) or not hasattr(row, "__len__") or len(row) != h["num_classes"]
                or any(isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 0 for c in row)):
            raise ValueError(f"history['val_pred_counts'][{i}] is {row!r}; expected {h['num_classes']} "
                             f"non-negative whole numbers (one count per class).")
    h["val_pred_counts"] = [[int(c) for c in row] for row in counts]
    return h


def _end_window(losses: list[float]) -> int:
    return max(1, min(len(losses) // 4, END_WINDOW))


def _end_loss(losses: list[float]) -> float:
    window = _end_window(losses)
    return sum(losses[-window:]) / window


def _guess(h: dict, validation_labels) -> tuple[float, str, int | None]:
    """The accuracy of a guess on the validation split, what it is, and the split's size (None if unknown):
    always answering the split's majority class when its labels are given, chance (1/C) otherwise."""
    C = h["num_classes"]
    validated = sum(h["val_pred_counts"][-1]) if h["val_pred_counts"] else None
    if validation_labels is None:
        return 1.0 / C, f"chance, 1/{C}, scores {1.0 / C:.3f} on a balanced split", validated
    if isinstance(validation_labels, (str, bytes, Mapping)) or not hasattr(validation_labels, "__iter__"):
        raise ValueError(f"validation_labels is a {type(validation_labels).__name__}; expected the validation "
                         f"split's labels, one whole number in 0..{C - 1} per example (e.g. validation['label']).")
    labels = list(validation_labels)
    if not labels or any(isinstance(y, bool) or not isinstance(y, numbers.Integral) or not 0 <= y < C for y in labels):
        shown = f"{labels[:5]!r}{'...' if len(labels) > 5 else ''}"
        raise ValueError(f"validation_labels must be the validation split's labels, one whole number in 0..{C - 1} "
                         f"per example (e.g. validation['label']); got {shown}.")
    if validated is not None and validated != len(labels):
        raise ValueError(f"validation_labels has {len(labels)} labels but the history validated {validated} examples: "
                         f"pass the labels of the split the run was validated on.")
    majority = max(range(C), key=labels.count)
    share = labels.count(majority) / len(labels)
    return share, f"always answering the majority class, class {majority}, scores {share:.3f}", len(labels)


def _overfitting_fix(val_acc: list[float], guess: float, guess_name: str, n: int | None) -> str:
    """Early stopping keeps the epoch with the best validation accuracy; it helps only if that epoch did
    clearly better than a guess (ABOVE_GUESS_SIGMAS standard deviations on n examples) and came before
    the last epoch."""
    best = max(range(len(val_acc)), key=val_acc.__getitem__)
    bar = guess + (ABOVE_GUESS_SIGMAS * math.sqrt(guess * (1 - guess) / n) if n else 0.0)
    against = f"{guess_name}" + (f"; clearly better is above {bar:.3f} on {n} examples" if n else "")
    if val_acc[best] <= bar:
        return (f"Use more labeled examples. Stopping early would not help: no epoch did clearly better than a "
                f"guess (best validation accuracy {val_acc[best]:.3f}, epoch {best + 1}; {against}), so no epoch "
                "generalised. Weight decay or dropout slow the memorising but cannot replace data.")
    if best == len(val_acc) - 1:
        return (f"Use more labeled examples. Stopping early would not raise the validation accuracy: it is "
                f"highest at the last epoch ({val_acc[best]:.3f}; {against}). Weight decay or dropout slow the "
                "memorising but cannot replace data.")
    return (f"Use more labeled examples, or stop at epoch {best + 1} (validation accuracy {val_acc[best]:.3f}, the "
            f"best, and {val_acc[-1]:.3f} at the last epoch; {against}); weight decay or dropout also help.")


def diagnose(history, *, validation_labels=None) -> list[Finding]:
    """Name what went wrong in a training run from its history (lesson 06). See the module docstring
    for the history format and the codes; ``[Finding('healthy', ...)]`` when nothing is found.
    ``validation_labels`` (the validation split's labels) lets the advice on early stopping compare each
    epoch with always answering the split's majority class; without them it compares with chance, 1/C."""
    h = _read_history(history)
    guess, guess_name, n_validated = _guess(h, validation_labels)
    C = h["num_classes"]
    ln_c, chance = math.log(C), 1.0 / C
    losses = h["train_loss"]
    findings: list[Finding] = []

    diverged = False
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is not None:
        diverged = True
        findings.append(Finding(
            "diverged", f"the training loss became {losses[bad]} at step {bad + 1} of {len(losses)} "
                        f"(step 1, one batch: {losses[0]:.3g}).",
            "Lower the learning rate (try 10x smaller), clip the gradient norm, and check the inputs for inf/nan."))
    else:
        ceiling = DIVERGED_FACTOR * max(losses[0], ln_c)
        w = min(DIVERGED_WINDOW, len(losses))
        means = [sum(losses[i:i + w]) / w for i in range(len(losses) - w + 1)]
        peak = max(range(len(means)), key=means.__getitem__)
        if means[peak] > ceiling:
            diverged = True
            findings.append(Finding(
                "diverged", f"the training loss rose to {means[peak]:.2f} (mean of steps {peak + 1}-{peak + w} of "
                            f"{len(losses)}), more than {DIVERGED_FACTOR:g}x its start (step 1, one batch: "
                            f"{losses[0]:.2f}) and ln C = {ln_c:.2f}; it ended at {_end_loss(losses):.2f}.",
                "Lower the learning rate (try 10x smaller) or warm it up over more steps."))

    end = _end_loss(losses)
    if bad is None and end > (1 - NOT_LEARNING_MARGIN) * ln_c:
        accuracy = f"; training accuracy {h['train_acc'][-1]:.2f}" if h["train_acc"] else ""
        findings.append(Finding(
            "not_learning", f"the training loss ended at {end:.3f} (mean of the last {_end_window(losses)} steps; "
                            f"step 1, one batch: {losses[0]:.3f}), not "
                            f"{NOT_LEARNING_MARGIN:.0%} below ln C = {ln_c:.3f}, the loss of a uniform guess over "
                            f"{C} classes{accuracy}.",
            "Overfit one small batch first; if even that fails, check that the right parameters are trainable "
            "and that labels belong to their texts; if it works, raise the learning rate (try 10x)."
            if not diverged else "Lower the learning rate (try 10x smaller): the updates were too large to settle."))

    below = False
    if h["val_acc"]:
        acc = h["val_acc"][-1]
        n = sum(h["val_pred_counts"][-1]) if h["val_pred_counts"] else None
        sigma = math.sqrt(chance * (1 - chance) / n) if n else 0.0
        if acc < BELOW_CHANCE_FACTOR * chance and chance - acc > BELOW_CHANCE_SIGMAS * sigma:
            below = True
            findings.append(Finding(
                "below_chance", f"validation accuracy {acc:.3f} is far below chance (1/{C} = {chance:.3f}): "
                                f"the model is consistently wrong, as if the labels meant something else in "
                                f"evaluation than in training.",
                "Use one label-to-id mapping for every split (take it from the model's label names) and print a "
                "few decoded examples with their labels from each split."))

    majority = False
    if h["val_pred_counts"] and sum(h["val_pred_counts"][-1]) > 0:
        counts = h["val_pred_counts"][-1]
        top = max(range(C), key=counts.__getitem__)
        share = counts[top] / sum(counts)
        if share >= MAJORITY_SHARE:
            majority = True
            findings.append(Finding(
                "majority_class", f"{share:.0%} of the validation predictions ({counts[top]} of {sum(counts)}) "
                                  f"are class {top}; validation accuracy {h['val_acc'][-1]:.3f}.",
                "Balance the training classes (oversample the rare ones or weight the loss); if the learning "
                "rate is high, lower it."))

    # A model that predicts one class for everything is not memorising examples: its train/validation
    # gap comes from an unbalanced training set, and the fix is balancing, not more data.
    if not below and not majority and h["train_acc"] and len(h["val_acc"]) >= 2:
        gap = h["train_acc"][-1] - h["val_acc"][-1]
        best = min(range(len(h["val_loss"]) - 1), key=h["val_loss"].__getitem__)
        last = h["val_loss"][-1]
        if gap >= OVERFIT_GAP and last > (1 + VAL_LOSS_RISE) * h["val_loss"][best]:
            findings.append(Finding(
                "overfitting", f"training accuracy {h['train_acc'][-1]:.2f} vs validation {h['val_acc'][-1]:.2f} "
                               f"(gap {gap:.2f}), and the validation loss rose from {h['val_loss'][best]:.3f} "
                               f"(epoch {best + 1}) to {last:.3f} (epoch {len(h['val_loss'])}).",
                _overfitting_fix(h["val_acc"], guess, guess_name, n_validated)))

    if not findings:
        if h["val_acc"]:
            summary = f"validation accuracy {h['val_acc'][-1]:.3f} (chance {chance:.3f})"
        else:
            summary = "no validation data, so only the training loss was checked"
        findings.append(Finding(
            "healthy", f"no failure found: the training loss fell from {losses[0]:.3f} (step 1, one batch) to "
                       f"{end:.3f} (mean of the last {_end_window(losses)} steps); {summary}.",
            "Nothing in the curves; a history cannot show set-up mistakes, so run check_setup too, and test on "
            "data unlike the training set."))
    return findings


# ---------------------------------------------------------------------------------------------------
# Checking the set-up before training
# ---------------------------------------------------------------------------------------------------

def _parts(model: nn.Module) -> tuple[nn.Module, nn.Module | None]:
    """The encoder θ of ``model`` and, when it has one, its task head."""
    from transformers import PreTrainedModel

    if isinstance(model, PreTrainedModel):
        encoder = model.base_model
        return encoder, None if encoder is model else model
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"check_setup needs a model with an encoder: an EncoderClassifier (model.encoder) or a "
                        f"transformers model; got {type(model).__name__}.")
    return encoder, model


def _output_size(model: nn.Module) -> tuple[int, str]:
    """How many scores the model outputs per example (or per token), and what that layer is."""
    head = getattr(model, "head", None)
    if isinstance(getattr(head, "out", None), nn.Linear):
        return head.out.out_features, "head.out"
    get_output = getattr(model, "get_output_embeddings", None)
    output = get_output() if callable(get_output) else None
    if isinstance(output, nn.Linear):
        return output.out_features, "the pre-training output layer: one score per vocabulary word, at every position"
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Linear):
        return classifier.out_features, "classifier"
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f"{type(model).__name__} has no linear output layer to check against num_labels.")
    return linears[-1].out_features, "its last linear layer"


def _checkpoint_encoder_state(checkpoint) -> dict[str, torch.Tensor]:
    """The encoder tensors of a checkpoint: a folder (or .safetensors file) or a model object."""
    if isinstance(checkpoint, nn.Module):
        encoder, _ = _parts(checkpoint)
        return {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    if not isinstance(checkpoint, (str, Path)):
        raise TypeError(f"checkpoint must be a folder, a .safetensors file or a model; got {type(checkpoint).__name__}.")
    path = Path(checkpoint)
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.is_file() or weights.suffix != ".safetensors":
        raise FileNotFoundError(f"No model.safetensors in {path}: point checkpoint at a folder saved with "
                                f"save_pretrained (e.g. artifacts/tiny-bert-mlm) or pass the pre-trained model itself.")
    from safetensors.torch import load_file

    state = load_file(str(weights))
    prefixed = {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}
    return prefixed or state


def _checkpoint_vocabulary(checkpoint) -> dict[str, int] | None:
    if not isinstance(checkpoint, (str, Path)) or not Path(checkpoint).is_dir():
        return None
    folder = Path(checkpoint)
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.txt")):
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder)).get_vocab()


def _weights_finding(encoder: nn.Module, checkpoint) -> Finding | None:
    reference = _checkpoint_encoder_state(checkpoint)
    missing, mismatched, far, distances = [], [], [], []
    for name, param in encoder.named_parameters():
        if param.dim() < 2 or name.startswith("pooler."):
            continue  # biases and LayerNorm scales are small and move easily; the pooler is new anyway
        if name not in reference:
            missing.append(name)
            continue
        saved = reference[name].to(torch.float32)
        if tuple(saved.shape) != tuple(param.shape):
            mismatched.append(f"{name} {tuple(param.shape)} vs {tuple(saved.shape)}")
            continue
        distance = float((param.detach().cpu().to(torch.float32) - saved).norm() / saved.norm().clamp(min=1e-12))
        distances.append(distance)
        if distance > WEIGHTS_FAR:
            far.append((name, distance))
    checked = len(distances) + len(missing) + len(mismatched)
    fix = ("Copy the encoder from the pre-trained model with a strict load, e.g. "
           "encoder.load_state_dict(mlm_model.bert.state_dict()), or use finetuning.build_classifier.")
    if mismatched:
        return Finding("weights_not_loaded", f"{len(mismatched)} of {checked} encoder weight matrices have another "
                                             f"shape than the checkpoint's (e.g. {mismatched[0]}): a different architecture.",
                       "Build the encoder from the checkpoint's own config (BertModel(mlm_model.config)) and load it strictly.")
    if missing:
        return Finding("weights_not_loaded", f"the checkpoint has no tensor for {len(missing)} of {checked} encoder "
                                             f"weight matrices (e.g. {missing[0]}).", fix)
    if far:
        worst = max(d for _, d in far)
        return Finding("weights_not_loaded", f"{len(far)} of {checked} encoder weight matrices are not the "
                                             f"checkpoint's (relative distance {min(d for _, d in far):.2f} to "
                                             f"{worst:.2f}, e.g. {far[0][0]}): the encoder starts from random "
                                             f"weights, not from θ.", fix)
    return None


def check_setup(model: nn.Module, tokenizer=None, *, num_labels: int | None = None, checkpoint=None,
                expect_trainable: str | None = "all") -> list[Finding]:
    """Look for the silent set-up mistakes a training history cannot show (lesson 06). Call it before
    training.

    ``checkpoint`` (a folder saved by ``utils.pretraining``, or the pre-trained model object) enables the
    check that the encoder's weights were loaded and, for a folder, that the tokenizer's vocabulary is the
    checkpoint's. ``num_labels`` enables the head-size check. ``expect_trainable`` is ``"all"`` (full
    fine-tuning), ``"head"`` (a frozen encoder) or ``None`` (do not check what is trainable). Returns
    ``[Finding('setup_ok', ...)]`` when nothing is found.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (an EncoderClassifier or a transformers model), "
                        f"got {type(model).__name__}.")
    if expect_trainable not in ("all", "head", None):
        raise ValueError(f"expect_trainable must be 'all' (full fine-tuning), 'head' (frozen encoder) or None, "
                         f"got {expect_trainable!r}.")
    if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2):
        raise ValueError(f"num_labels must be a whole number of at least 2, got {num_labels!r}.")
    encoder, head = _parts(model)
    findings: list[Finding] = []

    if checkpoint is not None:
        finding = _weights_finding(encoder, checkpoint)
        if finding:
            findings.append(finding)

    params = list(model.parameters())
    encoder_ids = {id(p) for p in encoder.parameters()}
    encoder_params = [p for p in params if id(p) in encoder_ids]
    head_params = [p for p in params if id(p) not in encoder_ids]
    count = lambda ps: sum(p.numel() for p in ps)  # noqa: E731
    if params and not any(p.requires_grad for p in params):
        findings.append(Finding(
            "nothing_trainable", f"none of the model's {count(params):,} parameters has requires_grad=True, so "
                                 f"training would change nothing.",
            "Unfreeze what should train: model.requires_grad_(True) for full fine-tuning, "
            "model.head.requires_grad_(True) for a frozen encoder."))
    elif expect_trainable is not None:
        frozen_encoder = [p for p in encoder_params if not p.requires_grad]
        if expect_trainable == "all" and frozen_encoder:
            findings.append(Finding(
                "encoder_frozen", f"{count(frozen_encoder):,} of the encoder's {count(encoder_params):,} parameters "
                                  f"are frozen (requires_grad=False), but full fine-tuning was intended: only "
                                  f"{count([p for p in params if p.requires_grad]):,} parameters will train.",
                "Unfreeze the encoder with model.encoder.requires_grad_(True), then build the optimizer (it only "
                "updates the parameters it was given)."))
        if expect_trainable == "head" and any(p.requires_grad for p in encoder_params):
            trainable = [p for p in encoder_params if p.requires_grad]
            findings.append(Finding(
                "encoder_not_frozen", f"{count(trainable):,} of the encoder's {count(encoder_params):,} parameters "
                                      f"are trainable, but a frozen encoder was intended.",
                "Freeze it with model.encoder.requires_grad_(False) before building the optimizer."))
        frozen_head = [p for p in head_params if not p.requires_grad]
        if frozen_head:
            findings.append(Finding(
                "head_frozen", f"{count(frozen_head):,} of the prediction network's {count(head_params):,} "
                               f"parameters are frozen: the new head ω would stay random.",
                "Unfreeze it with model.head.requires_grad_(True)."))

    if num_labels is not None:
        size, layer = _output_size(model)
        if size != num_labels:
            findings.append(Finding(
                "head_size_mismatch", f"the model outputs {size} scores ({layer}) but the task has "
                                      f"num_labels={num_labels} classes.",
                f"Discard the pre-training head and attach a prediction network with {num_labels} outputs "
                f"(finetuning.build_classifier with the task's label names)."))

    if tokenizer is not None:
        try:
            check_vocabulary(tokenizer, model)
        except ValueError as error:
            # check_vocabulary's first clause states the two sizes; its advice is the fix below.
            findings.append(Finding("vocabulary_mismatch", str(error).split(":")[0] + ": their ids do not match.",
                                    "Use the tokenizer saved with the pre-trained model "
                                    "(AutoTokenizer.from_pretrained on the checkpoint's folder)."))
        else:
            saved = _checkpoint_vocabulary(checkpoint) if checkpoint is not None else None
            if saved is not None:
                ours = tokenizer.get_vocab()
                moved = sorted(t for t, i in saved.items() if ours.get(t) != i)
                if moved:
                    # A short whole word that both vocabularies know makes the clearest example.
                    words = [t for t in moved if t in ours and t.isalpha() and len(t) >= 3]
                    example = min(words, key=lambda t: (len(t), t)) if words else moved[0]
                    where = f"{ours[example]} in this tokenizer" if example in ours else "missing from this tokenizer"
                    findings.append(Finding(
                        "vocabulary_mismatch", f"the tokenizer has the right size ({len(ours)}) but {len(moved)} of "
                                               f"the checkpoint's {len(saved)} tokens have another id or are missing "
                                               f"(e.g. {example!r} is {saved[example]} in the checkpoint's vocabulary, "
                                               f"{where}): every id would point at another word's embedding.",
                        "Use the tokenizer saved with the pre-trained model "
                        "(AutoTokenizer.from_pretrained on the checkpoint's folder)."))

    if not findings:
        findings.append(Finding("setup_ok", "no set-up problem found"
                                + (" (encoder weights match the checkpoint)" if checkpoint is not None else "") + ".",
                                "Nothing to fix before training."))
    return findings
