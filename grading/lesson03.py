"""Checks for lesson 03's exercises (exercises/03_fine_tuning_exercises.ipynb): building the classifier
from a masked language model, freezing the encoder, one training iteration, and the order of the
steps of the paradigm.

The checks build small random models of the course's architecture (a second each), so they need no
checkpoint; the structure they test is the same whatever the weights.
"""

from __future__ import annotations

from .core import Incorrect, as_number, call_unchanged, case, exercise, what_came_back

TWO_LABELS = ("negative", "positive")
THREE_LABELS = ("Billing Inquiry", "Technical Issue", "Feedback")
VOCABULARY = 50


def small_mlm(seed: int = 0):
    """A small randomly initialised ``BertForMaskedLM`` (the course's architecture, smaller sizes)."""
    import torch

    from utils import models

    config = models.tiny_bert_config(VOCABULARY, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=2)
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        return models.build_mlm_model(config, seed=seed)


def small_classifier(num_labels: int, seed: int = 0):
    """f(x; θ, ω) with a small random encoder θ and a random head ω."""
    import torch
    from transformers import BertModel

    from utils import models

    mlm = small_mlm(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = BertModel(mlm.config, add_pooling_layer=False)
        names = THREE_LABELS if num_labels == 3 else TWO_LABELS
        return models.EncoderClassifier(encoder, num_labels, list(names[:num_labels]))


def _inputs(rows: int, width: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCABULARY, (rows, width), generator=g)
    mask = torch.ones_like(ids)
    if rows > 1:
        ids[-1, width // 2:] = 0  # the last row is shorter: padding
        mask[-1, width // 2:] = 0
    return ids, mask


@exercise("03.classifier", points=2, answer="classifier_from_mlm", hints=[
    "The encoder θ is mlm_model.bert; the pre-training head is mlm_model.cls. Keep the first, drop the second.",
    "Make a new BertModel(mlm_model.config, add_pooling_layer=False) and load_state_dict(mlm_model.bert.state_dict()) "
    "into it, so that fine-tuning the classifier leaves the pre-trained model as it was.",
    "Then models.EncoderClassifier(encoder, len(label_names), label_names) adds the prediction network ω.",
])
def check_classifier(classifier_from_mlm):
    import torch

    for seed, names in enumerate((TWO_LABELS, THREE_LABELS)):
        mlm = small_mlm(seed)
        before = {k: v.clone() for k, v in mlm.state_dict().items()}
        where = f"a model with {len(names)} labels"
        # The pre-trained model must come out as it went in: no part deleted (del mlm_model.cls), no flag changed.
        model = call_unchanged(classifier_from_mlm, "classifier_from_mlm", where,
                               {"mlm_model": mlm, "label_names": list(names)})
        if not isinstance(model, torch.nn.Module):
            raise Incorrect(f"classifier_from_mlm should return a torch.nn.Module, got {what_came_back(model)}.")
        encoder, head = getattr(model, "encoder", None), getattr(model, "head", None)
        if not isinstance(encoder, torch.nn.Module) or not isinstance(head, torch.nn.Module):
            raise Incorrect("The classifier needs an .encoder (θ) and a .head (ω): build it with "
                            "models.EncoderClassifier(encoder, len(label_names), label_names).")
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and module.out_features == VOCABULARY:
                raise Incorrect(f"The classifier still holds an output layer over the vocabulary ({name}): the "
                                f"pre-training head must be discarded; keep only mlm_model.bert.")
        encoder_state = encoder.state_dict()
        extra = sorted(set(encoder_state) - set(mlm.bert.state_dict()))
        if extra:
            raise Incorrect(f"The encoder has parameters that θ does not have ({', '.join(extra[:2])}"
                            f"{', ...' if len(extra) > 2 else ''}), so they start random and load_state_dict(..., "
                            f"strict=False) hid it: build the encoder as BertModel(mlm_model.config, "
                            f"add_pooling_layer=False), then load θ with the default strict=True.")
        for key, value in mlm.bert.state_dict().items():
            if key not in encoder_state or encoder_state[key].shape != value.shape \
                    or not torch.equal(encoder_state[key], value):
                raise Incorrect(f"The encoder's {key} is not the pre-trained one: the classifier must start from θ "
                                f"copied from mlm_model.bert (load_state_dict).")
        ids, mask = _inputs(3, 7, seed)
        with case(f"{where}, on a batch of 3 token sequences"):
            logits = model(ids, mask)
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (3, len(names)):
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise Incorrect(f"For 3 inputs and {len(names)} labels the classifier should give 3 x {len(names)} "
                            f"scores (one per class); it gave {shape}.")
        if list(getattr(model, "label_names", [])) != list(names):
            raise Incorrect("Pass label_names on to the classifier (its label_names should be the ones given), so "
                            "that the saved model answers with the real label names.")
        with torch.no_grad():
            for parameter in encoder.parameters():
                parameter.add_(1.0)
        if any(not torch.equal(value, before[key]) for key, value in mlm.state_dict().items()):
            raise Incorrect("Changing the classifier's encoder changed the pre-trained model too: they share their "
                            "weights. Copy θ into a new BertModel (load_state_dict) instead of reusing mlm_model.bert.")


@exercise("03.freeze", points=2, answer="freeze_encoder", helpers=["utils.models.count_parameters"], hints=[
    "Every parameter has a requires_grad flag; the optimizer only changes those where it is True.",
    "Loop over model.encoder.parameters() and call p.requires_grad_(False); do the same with True for "
    "model.head.parameters(), so that exactly ω is trainable whatever the model's state before.",
    "Return sum(p.numel() for p in model.parameters() if p.requires_grad), computed after the loop.",
])
def check_freeze(freeze_encoder):
    for num_labels in (2, 3):
        model = small_classifier(num_labels, seed=num_labels)
        where = f"a fresh classifier with {num_labels} labels"
        _check_frozen(freeze_encoder, model, where)
    model = small_classifier(2, seed=5)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    _check_frozen(freeze_encoder, model, "a classifier whose parameters were all frozen before")
    model = small_classifier(3, seed=6)
    freeze_encoder(model)
    _check_frozen(freeze_encoder, model, "a classifier frozen twice")


def _check_frozen(freeze_encoder, model, where: str) -> None:
    flags = [p.requires_grad for p in model.parameters()]
    with case(where):
        got = freeze_encoder(model)
    if any(p.requires_grad for p in model.encoder.parameters()):
        if flags == [p.requires_grad for p in model.parameters()] and any(flags):
            raise Incorrect(f"On {where}, freeze_encoder left every parameter of the model it was given as "
                            f"trainable as before. Freezing is requires_grad_(False) on the parameters of that "
                            f"model's encoder, in place: model.eval() or torch.no_grad() do not freeze anything, "
                            f"and freezing a copy leaves the model given as it was.")
        raise Incorrect(f"On {where}, some encoder parameters are still trainable: set requires_grad to False on "
                        f"every parameter of model.encoder.")
    if not all(p.requires_grad for p in model.head.parameters()):
        raise Incorrect(f"On {where}, some parameters of the head ω are not trainable: the head is what a frozen "
                        f"encoder leaves to train, so set requires_grad to True on model.head's parameters.")
    expected = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if as_number(got, "freeze_encoder", where, whole=True) != expected:
        raise Incorrect(f"On {where}, freeze_encoder returned {got!r}; the number of trainable parameters after "
                        f"freezing is {expected} (count them, do not copy a number).")


def _sgd_update(model, lr: float, ids, mask, labels, stale: dict):
    """The parameter changes of the usual variants of one SGD step (correct and the common mistakes)."""
    import torch

    def gradients(loss_of) -> dict:
        model.zero_grad()
        loss_of().backward()
        return {name: p.grad.detach().clone() for name, p in model.named_parameters()}

    functional = torch.nn.functional
    one_hot = functional.one_hot(labels, model(ids, mask).shape[-1]).to(torch.float32)
    new = gradients(lambda: functional.cross_entropy(model(ids, mask), labels))
    loss = functional.cross_entropy(model(ids, mask), labels)
    other = {
        "softmax_first": gradients(lambda: functional.cross_entropy(model(ids, mask).softmax(-1), labels)),
        "nll_raw": gradients(lambda: functional.nll_loss(model(ids, mask), labels)),
        "no_mask": gradients(lambda: functional.cross_entropy(model(ids, torch.ones_like(mask)), labels)),
        "mse": gradients(lambda: functional.mse_loss(model(ids, mask), one_hot)),
        "mse_probs": gradients(lambda: functional.mse_loss(model(ids, mask).softmax(-1), one_hot)),
    }
    variants = {
        "correct": {n: -lr * g for n, g in new.items()},
        "twice": {n: -2 * lr * g for n, g in new.items()},
        **{name: {n: -lr * g for n, g in grads.items()} for name, grads in other.items()},
        "accumulated": {n: -lr * (g + stale[n]) for n, g in new.items()},
        "stale": {n: -lr * stale[n] for n in new},
        "unchanged": {n: torch.zeros_like(g) for n, g in new.items()},
        "ascent": {n: lr * g for n, g in new.items()},
        "sum": {n: -lr * len(labels) * g for n, g in new.items()},
    }
    model.zero_grad()
    return loss.item(), variants


@exercise("03.train_step", points=3, answer="training_step", hints=[
    "One iteration has five parts: the model's scores for the batch, the loss, clearing the old gradients, "
    "computing the new ones, and updating the parameters. Which call does each, and in which order?",
    "The order is: scores = model(input_ids, attention_mask); loss; optimizer.zero_grad(); loss.backward(); "
    "optimizer.step(). The attention mask matters: the last example of a batch may be padded.",
    "The loss is minus the mean log probability of the correct labels, "
    "torch.nn.functional.cross_entropy(scores, labels), on the scores as they come (no softmax first). "
    "Return loss.item(): a Python number, the loss of this batch before the update.",
])
def check_train_step(training_step):
    import copy

    import torch

    lr = 0.1
    for rows, num_labels in ((4, 2), (1, 3)):
        where = f"a batch of {rows} example{'s' if rows > 1 else ''} with {num_labels} labels"
        model = small_classifier(num_labels, seed=rows)
        ids, mask = _inputs(rows, 6, seed=rows)
        labels = torch.arange(rows) % num_labels
        g = torch.Generator().manual_seed(rows)
        stale = {n: torch.randn(p.shape, generator=g) for n, p in model.named_parameters()}
        expected_loss, variants = _sgd_update(copy.deepcopy(model), lr, ids, mask, labels, stale)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        for n, p in model.named_parameters():  # gradients left over from an earlier step
            p.grad = stale[n].clone()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        got = call_unchanged(training_step, "training_step", where,
                             {"model": model, "optimizer": optimizer, "input_ids": ids, "attention_mask": mask,
                              "labels": labels}, ignore=("model",))
        change = {n: p.detach() - before[n] for n, p in model.named_parameters()}

        def matches(variant: str) -> bool:
            return all(torch.allclose(change[n], d, rtol=1e-3, atol=1e-6) for n, d in variants[variant].items())

        if not matches("correct"):
            messages = {
                "softmax_first": "the loss was computed on probabilities: cross_entropy applies log-softmax itself, so "
                                 "give it the scores (logits) as they come, not their softmax.",
                "nll_raw": "the loss was nll_loss on the raw scores. nll_loss expects log probabilities: take "
                           "log_softmax first, or give the scores to cross_entropy, which does both.",
                "no_mask": "the padding was read as text: pass the attention mask to the model, "
                           "model(input_ids, attention_mask), so that padded positions are left out.",
                "mse": "the loss was the squared error between the scores and one-hot labels. A classifier is trained "
                       "with cross-entropy: minus the mean log probability of the correct labels.",
                "mse_probs": "the loss was the squared error between the probabilities and one-hot labels. A "
                             "classifier is trained with cross-entropy: minus the mean log probability of the "
                             "correct labels.",
                "twice": "the parameters moved twice as far as one step: call optimizer.step() once per batch.",
                "unchanged": "the parameters did not change: call optimizer.step() after loss.backward() (and do not "
                             "zero the gradients between the two).",
                "accumulated": "the update used the gradients left over from an earlier step as well as this batch's: "
                               "call optimizer.zero_grad() before loss.backward().",
                "stale": "the update used old gradients only: optimizer.step() must come after loss.backward().",
                "ascent": "the parameters moved uphill: the loss to minimise is MINUS the log probability of the "
                          "correct labels.",
                "sum": "the step was as large as the batch: average the loss over the examples (mean), do not sum it.",
            }
            found = next((m for v, m in messages.items() if matches(v)), None) or (
                "the parameters did not change as one step on this batch should, with the optimizer given: "
                "forward, mean cross-entropy, zero_grad, backward, step.")
            raise Incorrect(f"On {where}, {found}")
        got = as_number(got, "training_step", where, python=True)
        if abs(got - expected_loss) > 1e-4 * max(1.0, expected_loss):
            raise Incorrect(f"On {where} training_step returned {got:.4f}, but the mean cross-entropy of the batch "
                            f"before the update is {expected_loss:.4f}. Return loss.item() of the loss you minimised.")
    _check_uses_the_optimizer(training_step)


def _check_uses_the_optimizer(training_step) -> None:
    """One step with an AdamW optimizer (weight decay, its own learning rate): an answer that makes its own
    optimizer, or updates the parameters by hand, moves them differently."""
    import copy

    import torch

    where = "a batch of 3 examples with 3 labels and an AdamW optimizer (lr 0.003, weight decay 0.01)"
    model = small_classifier(3, seed=7)
    ids, mask = _inputs(3, 5, seed=7)
    labels = torch.tensor([2, 0, 1])
    reference = copy.deepcopy(model)
    reference_optimizer = torch.optim.AdamW(reference.parameters(), lr=3e-3, weight_decay=0.01)
    reference_optimizer.zero_grad()
    torch.nn.functional.cross_entropy(reference(ids, mask), labels).backward()
    reference_optimizer.step()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    call_unchanged(training_step, "training_step", where,
                   {"model": model, "optimizer": optimizer, "input_ids": ids, "attention_mask": mask, "labels": labels},
                   ignore=("model",))
    moved_as_it_should = all(torch.allclose(p, q, rtol=1e-4, atol=1e-6)
                             for p, q in zip(model.parameters(), reference.parameters()))
    if not moved_as_it_should:
        raise Incorrect(f"On {where}, the parameters did not move as one step of the optimizer you were given: call "
                        f"step() on the optimizer passed to training_step; do not make your own, nor change the "
                        f"parameters by hand.")


# ---------------------------------------------------------------------------------------------------
# Concept questions: the key of each is a salted hash of its answer (grading/questions.py)
# ---------------------------------------------------------------------------------------------------

from .questions import ordering, single_choice  # noqa: E402 (the questions' helper, next to the questions)

ordering("03.order", points=1, answer="answer_03_order", options="ABCDE",
    key="f58cefaf7a2201c9",
    hints=[
        "Which step needs no labels at all? It comes first.",
        "You cannot attach ω before there is room for it, and nothing can be used before it is trained.",
    ],
    feedback={
        "1d46043dd0fb9113": "training end to end needs the new prediction network in place, and it is what "
                            "turns θ and ω into θ-hat and ω-hat: what must exist before it, and what can only "
                            "come after?",
        "7a8756c89a9032d9": "a layer can be removed only after it has been trained and is no longer needed: "
                            "which step trained it, and what takes its place?",
        "a26849b3cfd26871": "the new prediction network goes where the vocabulary Softmax was: what must be "
                            "removed first, and what cannot start until ω is there?",
        "d0ebca9b931b595a": "this step needs no labels at all: what does every other step need from it?",
        "d35b9d3f014643e7": "the hats mean 'after fine-tuning': which step produces θ-hat and ω-hat?",
    })


ordering("03.flow", points=1, answer="answer_03_flow", options="ABCDEF",
    key="517f4f82bc0cdc2e",
    hints=[
        "Start from the raw text: which step's output is the input of the next?",
        "How many vectors are there after the encoder, and how many does the prediction network read?",
    ],
    feedback={
        "13cddf46e45f6758": "to take the [CLS] vector or a mean, there must first be one vector per token: "
                            "which step makes them?",
        "20a7cb0eb68f26d1": "the prediction network reads one vector per email, whatever the email's length: "
                            "what has to happen to the encoder's output first?",
        "3ddaf73beae3f7b5": "everything the model computes starts from token ids: where do they come from?",
        "6c1eef49538095ab": "the Softmax needs one score per category as its input: which step produces the "
                            "scores?",
        "6cc4687cff0fec64": "the encoder reads token ids and returns one vector per token: what must exist "
                            "before it runs, and what needs its output?",
        "7289f4f86c995d10": "the label is read off at the very end: from which numbers?",
    })


single_choice("03.as_is", points=1, answer="answer_03_as_is", options="abcd",
    key="17f6af2427c39ae3",
    hints=[
        "What was the model trained to output, and what does the task need it to output?",
        "Where in the model is there one score per category, and which examples taught it the categories?",
    ],
    feedback={
        "24c5808097e96361": "size does not change what the model was trained to do: it still outputs a next "
                            "word, not one of the three categories, and none of its parameters was fit to these"
                            " labels.",
        "3131261897d8333c": "more emails would help it predict the words of emails, yet its output would still "
                            "be a next word: without a head for the three categories and labeled examples, "
                            "nothing maps an email to Billing Inquiry.",
        "263a9956863d569c": "the mask decides which words each vector sees, not what the model outputs: it "
                            "would still score words, not categories, and weights trained under one mask give "
                            "other vectors under another (lesson 02).",
    })


single_choice("03.small_labeled_set", points=1, answer="answer_03_small_labeled_set", options="abcd",
    key="a23eebb7f8c42211",
    hints=[
        "In lesson 03's table, which strategies held up on the test split, whose sentiment words the labeled "
        "data never contained?",
        "With the same labeled reviews, did the frozen heads or full fine-tuning read more unseen words right "
        "in lesson 03? And how many labels did the curve of section 6 need?",
    ],
    feedback={
        "efc695a4eca41fb8": "lesson 03 trained exactly this: on words its labeled data never contained, the "
                            "model trained from scratch was no better than chance, because their random "
                            "embeddings mean nothing; 2,000 reviews are too few to learn the language from.",
        "c7b11b5f7de2d0dc": "few labels are not a reason to freeze θ: with the same labeled reviews, full "
                            "fine-tuning beat both frozen heads on unseen words in every run of lesson 03, and "
                            "its curve was far above chance from 100 labels.",
        "67f068b1f7f6ed60": "a bag of words gives no weight to a word it never saw labeled, and cannot read "
                            "negation or contrast; in lesson 03 it scored far below the fine-tuned pre-trained "
                            "encoder on the held-out words.",
    })
