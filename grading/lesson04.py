"""Checks for lesson 04's exercises (exercises/04_notation_exercises.ipynb): splitting a classifier's
parameters into θ and ω, the relative change ‖after − before‖ / ‖before‖, inference with θ̂ and ω̂ that
answers with label names, which statements about f(x; θ, ω) are true, the paradigm's steps in order in the
notation, and which reasons to freeze the encoder are good ones. The form of the task is lesson 05's
(grading/lesson05.py).

The checks build small random classifiers of the course's architecture and a toy tokenizer (a second
at most), so they need no checkpoint: which tensors are θ and which ω does not depend on the weights.
"""

from __future__ import annotations

from .core import Incorrect, as_number, call_unchanged, case, exercise, what_came_back
from .lesson01 import toy_tokenizer

TWO_LABELS = ("negative", "positive")
# Not in alphabetical order, so that an answer that sorts the names is caught.
THREE_LABELS = ("Technical Issue", "Billing Inquiry", "Feedback")


def small_classifier(label_names, *, hidden: int = 32, pooling: str = "cls", dropout: float = 0.0, seed: int = 0,
                     vocabulary: int = 50):
    """f(x; θ, ω) with a small random encoder θ and a random head ω, leaving the caller's random state alone."""
    import torch
    from transformers import BertModel

    from utils import models

    config = models.tiny_bert_config(vocabulary, hidden_size=hidden, intermediate_size=2 * hidden,
                                     num_hidden_layers=2, num_attention_heads=2, hidden_dropout_prob=dropout,
                                     attention_probs_dropout_prob=dropout)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = BertModel(config, add_pooling_layer=False)
        return models.EncoderClassifier(encoder, len(label_names), list(label_names), pooling=pooling)


# ---------------------------------------------------------------------------------------------------
# 04.split
# ---------------------------------------------------------------------------------------------------

def _split_models():
    yield "a classifier with 2 labels", small_classifier(TWO_LABELS, seed=1)
    yield "a classifier with 3 labels and hidden size 16", small_classifier(THREE_LABELS, hidden=16, seed=2)
    yield "a classifier with mean pooling", small_classifier(TWO_LABELS, pooling="mean", seed=3)
    frozen = small_classifier(THREE_LABELS, seed=4)
    for parameter in frozen.encoder.parameters():
        parameter.requires_grad_(False)
    yield "a classifier whose encoder is frozen (requires_grad False on θ)", frozen


def _check_group(group, expected: dict, symbol: str, module: str, where: str) -> None:
    import torch

    keys = list(group)
    if not all(isinstance(k, str) for k in keys):
        raise Incorrect(f"On {where}, the keys of {symbol} should be parameter names (strings), as "
                        f"model.named_parameters() gives them.")
    if keys and set(keys) == {k.split(".", 1)[1] for k in expected}:
        raise Incorrect(f"On {where}, the names in {symbol} lack the '{module}.' in front: use the names "
                        f"model.named_parameters() gives (such as '{next(iter(expected))}'), so that θ and ω together "
                        f"name every parameter of the model once.")
    missing = [k for k in expected if k not in group]
    extra = [k for k in keys if k not in expected]
    if extra:
        other = "ω (model.head)" if symbol == "θ" else "θ (model.encoder)"
        belongs = " It belongs to " + other + "." if extra[0].startswith(("encoder.", "head.")) else ""
        raise Incorrect(f"On {where}, {symbol} holds {extra[0]!r}, which is not a parameter of model.{module}."
                        f"{belongs} {symbol} is exactly the parameters of model.{module}.")
    if missing:
        hint = (" Trainable or not, a parameter of the encoder is part of θ: do not filter on requires_grad."
                if symbol == "θ" and not expected[missing[0]].requires_grad else "")
        raise Incorrect(f"On {where}, {symbol} lacks {len(missing)} of the {len(expected)} parameters of "
                        f"model.{module}, for instance {missing[0]!r}.{hint}")
    for name, parameter in expected.items():
        value = group[name]
        if value is not parameter:
            what = ("a copy" if isinstance(value, torch.Tensor) and value.shape == parameter.shape
                    else type(value).__name__)
            raise Incorrect(f"On {where}, {symbol}[{name!r}] is {what}, not the model's own parameter: map each name "
                            f"to the parameter itself (no .clone(), .detach() or .data), so that θ and ω show what "
                            f"training does to the model.")


@exercise("04.split", points=2, answer="split_parameters", hints=[
    "model.named_parameters() gives (name, parameter) pairs for the whole model; every name starts with the "
    "part of the model the parameter lives in.",
    "θ is every parameter whose name starts with 'encoder.', ω every one whose name starts with 'head.'. Build "
    "two dicts from one loop over model.named_parameters().",
    "Keep the parameters themselves as the values (no copies), and do not look at requires_grad: a frozen "
    "encoder's parameters are still θ.",
])
def check_split(split_parameters):
    from collections.abc import Mapping

    for where, model in _split_models():
        # Splitting only looks at the model: no parameter renamed, replaced, frozen or unfrozen.
        result = call_unchanged(split_parameters, "split_parameters", where, {"model": model})
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Incorrect(f"split_parameters should return a pair (theta, omega); it returned "
                            f"{what_came_back(result)}.")
        theta, omega = result
        for symbol, group in (("θ", theta), ("ω", omega)):
            if not isinstance(group, Mapping):
                raise Incorrect(f"On {where}, {symbol} should be a dict from parameter names to parameters, got "
                                f"{what_came_back(group)}. dict(...) of (name, parameter) pairs makes one.")
        encoder = {f"encoder.{n}": p for n, p in model.encoder.named_parameters()}
        head = {f"head.{n}": p for n, p in model.head.named_parameters()}
        if set(theta) == set(head) and set(omega) == set(encoder):
            raise Incorrect(f"On {where}, θ and ω are swapped: θ is the encoder's parameters, ω the prediction "
                            f"network's (the head).")
        _check_group(theta, encoder, "θ", "encoder", where)
        _check_group(omega, head, "ω", "head", where)


# ---------------------------------------------------------------------------------------------------
# 04.relative_change
# ---------------------------------------------------------------------------------------------------

def _reference_change(before: dict, after: dict) -> float:
    change = sum(float((after[k].detach().double() - v.detach().double()).pow(2).sum()) for k, v in before.items())
    size = sum(float(v.detach().double().pow(2).sum()) for v in before.values())
    return (change / size) ** 0.5


def _change_cases():
    import torch

    g = torch.Generator().manual_seed(0)
    weights = {"dense.weight": torch.randn(6, 4, generator=g), "dense.bias": torch.randn(6, generator=g),
               "out.weight": torch.randn(3, 6, generator=g), "out.bias": torch.randn(3, generator=g)}
    yield "two equal sets of tensors (nothing changed)", weights, {k: v.clone() for k, v in weights.items()}
    yield "every tensor scaled by 1.1", weights, {k: 1.1 * v for k, v in weights.items()}
    # Only the small bias changes, by a lot: an average of per-tensor ratios would weigh it like a matrix.
    bias_only = {k: v.clone() for k, v in weights.items()}
    bias_only["out.bias"] = bias_only["out.bias"] + 5.0
    yield "a change in one small tensor only (out.bias + 5)", weights, bias_only
    # Same sizes, different values: the norms do not change, the tensors do.
    swapped = {"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}
    yield ("tensors whose entries were swapped around (the same norms, different values)", swapped,
           {"a": torch.tensor([4.0, 3.0]), "b": torch.tensor([[0.0, 1.0], [1.0, 0.0]])})
    # The same names in another order: tensors are matched by name, not by position.
    projections = {name: torch.randn(4, 4, generator=g) for name in ("query.weight", "key.weight", "value.weight")}
    moved = {k: v + 0.1 * torch.randn(v.shape, generator=g) for k, v in projections.items()}
    yield "after given with its names in another order", projections, dict(reversed(list(moved.items())))
    model = small_classifier(TWO_LABELS, hidden=16, seed=5)
    before = dict(model.head.named_parameters())
    after = {k: (v + 0.01 * torch.randn(v.shape, generator=g)).requires_grad_() for k, v in before.items()}
    yield "the parameters of a real head ω (tensors that require gradients)", before, after


@exercise("04.relative_change", points=2, answer="relative_change", hints=[
    "Add up (after[name] - before[name]) ** 2 over every entry of every tensor, matching the tensors by name; "
    "add up before[name] ** 2 the same way. The answer is the square root of their ratio.",
    "Take the norm of the difference, not the difference of the norms: swapping two entries changes a tensor "
    "without changing its norm.",
    "Return one Python number: float(...) of the result. Tensors that require gradients need .detach() (or "
    "torch.no_grad()) before .item() or float().",
])
def check_relative_change(relative_change):
    import math

    import torch

    for where, before, after in _change_cases():
        given_before = {k: v.detach().clone() for k, v in before.items()}
        given_after = {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in after.items()}
        got = call_unchanged(relative_change, "relative_change", where, {"before": given_before, "after": given_after})
        got = as_number(got, "relative_change", where, python=True)
        expected = _reference_change(before, after)
        if abs(got - expected) <= 1e-4 * max(1.0, expected):
            continue
        keys = list(before)
        per_tensor = [float((after[k] - before[k]).detach().norm() / before[k].norm()) for k in keys]
        by_position = [float((a - b).detach().pow(2).sum()) for a, b in zip(after.values(), before.values())
                       if a.shape == b.shape]
        size = sum(float(v.pow(2).sum()) for v in before.values())
        norms = (math.sqrt(sum(float(v.detach().pow(2).sum()) for v in after.values())) - math.sqrt(size)) \
            / math.sqrt(size)
        if abs(got - sum(per_tensor) / len(per_tensor)) < 1e-4 * max(1.0, got):
            message = ("averaged the relative change of each tensor. Add up the squared changes of all tensors "
                       "first, then divide by the squared size of all tensors together: a 3-number bias must not "
                       "count as much as a whole matrix")
        elif abs(got - abs(norms)) < 1e-4 * max(1.0, got):
            message = ("compared the sizes of the two sets of tensors. Take the size of the difference, "
                       "‖after − before‖, not the difference of the sizes: values can change while the norm stays")
        elif abs(got - expected ** 2) < 1e-4 * max(1.0, got):
            message = "returned the ratio of the squared norms; take its square root"
        elif abs(got - expected * math.sqrt(size / sum(float(v.detach().pow(2).sum()) for v in after.values()))) \
                < 1e-4 * max(1.0, got):
            message = ("divided by the size of after; the change is measured against where the parameters started, "
                       "‖before‖")
        elif len(by_position) == len(keys) and abs(got - math.sqrt(sum(by_position) / size)) < 1e-4 * max(1.0, got):
            message = ("paired the tensors by their position in the dicts. Pair them by name: after[name] with "
                       "before[name]")
        else:
            message = (f"relative_change returned {got:.4g}; ‖after − before‖ / ‖before‖ over all tensors is "
                       f"{expected:.4g}")
        raise Incorrect(f"On {where}, {message}.")


# ---------------------------------------------------------------------------------------------------
# 04.predict
# ---------------------------------------------------------------------------------------------------

def _texts(tokenizer, count: int, min_words: int, max_words: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    words = [t for t in tokenizer.get_vocab() if not t.startswith("[")]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(min_words, max_words))) for _ in range(count)]


def _expected_labels(model, tokenizer, texts: list[str]) -> list[str]:
    import torch

    was_training = model.training
    model.eval()
    with torch.no_grad():
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        logits = model(enc["input_ids"], enc["attention_mask"])
    model.train(was_training)
    return [model.label_names[i] for i in logits.argmax(-1).tolist()]


def _predict_model(label_names, seed: int, tokenizer, texts: list[str]):
    """A random classifier with dropout, its head's bias set so that its predictions spread over the
    classes on ``texts`` (a random head alone tends to give every text the same label)."""
    import torch

    model = small_classifier(label_names, dropout=0.3, seed=seed, vocabulary=len(tokenizer))
    model.eval()
    with torch.no_grad():
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        logits = model(enc["input_ids"], enc["attention_mask"])
        model.head.out.bias -= logits.mean(0)
    return model


def _predict_cases():
    tokenizer = toy_tokenizer(True)
    many = _texts(tokenizer, 40, 1, 12, seed=1)
    yield "40 texts of 1 to 12 words with 3 labels", _predict_model(THREE_LABELS, 1, tokenizer, many), tokenizer, many
    pairs = _texts(tokenizer, 24, 2, 9, seed=2)
    yield "24 texts with 2 labels", _predict_model(TWO_LABELS, 2, tokenizer, pairs), tokenizer, pairs
    one = _texts(tokenizer, 1, 5, 5, seed=3)
    yield "a single text", _predict_model(THREE_LABELS, 3, tokenizer, many), tokenizer, one


@exercise("04.predict", points=3, answer="predict", hints=[
    "Tokenize the whole list at once with padding=True and return_tensors='pt', and pass both input_ids and "
    "attention_mask to the model, so that padding does not change the scores.",
    "Before scoring, model.eval() switches dropout off (a trained model is used without it), and "
    "torch.no_grad() saves the memory of gradients nobody needs.",
    "The predicted class is scores.argmax(-1); model.label_names[i] is the name of class i. Return a list of "
    "names, one per text, in the order of the texts.",
])
def check_predict(predict):
    import copy

    import torch

    for where, model, tokenizer, texts in _predict_cases():
        expected = _expected_labels(model, tokenizer, texts)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        model.train()  # as a model may be left after training: predict must switch dropout off itself
        given = copy.deepcopy(tokenizer)  # an answer that changes the tokenizer changes only its own copy
        got = call_unchanged(predict, "predict", where, {"model": model, "tokenizer": given, "texts": list(texts)},
                             ignore=("model",))
        if any(not torch.equal(v, state[k]) for k, v in model.state_dict().items()):
            raise Incorrect(f"On {where}, predict changed the model's parameters. Inference only reads θ-hat and "
                            f"ω-hat: no optimizer step, no in-place changes.")
        if isinstance(got, (tuple, torch.Tensor)) or not isinstance(got, list):
            raise Incorrect(f"predict should return a list of label names, one per text; it returned "
                            f"{what_came_back(got)}.")
        if len(got) != len(texts):
            raise Incorrect(f"On {where}, predict returned {len(got)} labels for {len(texts)} texts: one per text.")
        if not all(isinstance(x, str) for x in got):  # numpy.str_ (numpy.array(names)[i]) is a name too
            odd = next(x for x in got if not isinstance(x, str))
            numbers = ", not the class numbers" if isinstance(odd, int) or getattr(odd, "dtype", None) is not None else ""
            raise Incorrect(f"On {where}, predict returned {odd!r} ({type(odd).__name__}) among the labels. Return "
                            f"the label names themselves, model.label_names[i] (strings){numbers}.")
        got = [str.__str__(x) for x in got]  # the plain text of each name, whatever str subclass carried it
        unknown = [x for x in got if x not in model.label_names]
        if unknown:
            raise Incorrect(f"On {where}, {unknown[0]!r} is not one of the model's labels {model.label_names}.")
        if got == expected:
            continue
        if got == [sorted(model.label_names)[model.label_names.index(x)] for x in expected]:
            raise Incorrect(f"On {where}, the names are in the wrong order: class i is model.label_names[i], in "
                            f"the order the model was built with (do not sort them).")
        # A mistake is named only where its predictions tell it apart: padded on the left, most rows read a [PAD]
        # vector at position 0, and without the mask the padding is read too, so on some CPUs either can give one
        # class to every text, which is also what an answer that ignores the scores returns.
        left = _padded_on_the_left(model, tokenizer, texts)
        if given.padding_side == "left" or (got == left and len(set(left)) > 1):
            raise Incorrect(f"On {where}, the texts were padded on the left: the classifier reads the [CLS] vector at "
                            f"position 0, so every row must start with [CLS]. Keep the tokenizer's right padding.")
        unpadded = _without_mask(model, tokenizer, texts)
        if got == unpadded and len(set(unpadded)) > 1:
            raise Incorrect(f"On {where}, padding changed the predictions: pass the attention mask to the model "
                            f"along with input_ids (model(input_ids, attention_mask)).")
        if len(set(got)) == 1 and len(set(expected)) > 1:
            raise Incorrect(f"On {where}, predict gave every text the same label {got[0]!r}, but the class with the "
                            f"highest score differs from text to text ({len(set(expected))} classes among the "
                            f"{len(texts)} texts). Take the argmax of each text's own row of scores; if you do, "
                            f"check that you pass the attention mask and keep the tokenizer's right padding.")
        with case(f"{where}, called a second time"):
            repeat = predict(model.train(), copy.deepcopy(tokenizer), list(texts))
        if repeat != got:
            raise Incorrect(f"On {where}, two calls on the same texts gave different labels: dropout is still on. "
                            f"Call model.eval() before scoring.")
        wrong = sum(a != b for a, b in zip(got, expected))
        raise Incorrect(f"On {where}, {wrong} of the {len(texts)} labels are not the class with the highest score. "
                        f"Predict with argmax over the scores, and pass the attention mask.")
    tokenizer = toy_tokenizer(True)
    texts = _texts(tokenizer, 12, 1, 10, seed=4)
    model = _predict_model(TWO_LABELS, 4, tokenizer, texts)
    with case("a second call with the same model"):
        first = predict(model, copy.deepcopy(tokenizer), list(texts))
        second = predict(model, copy.deepcopy(tokenizer), list(texts))
    if first != second:
        raise Incorrect("Two calls of predict on the same model and texts gave different labels: call model.eval() "
                        "so that dropout is off.")


def _padded_on_the_left(model, tokenizer, texts: list[str]) -> list[str]:
    import copy

    import torch

    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    model.eval()
    with torch.no_grad():
        enc = left(texts, padding=True, return_tensors="pt")
        logits = model(enc["input_ids"], enc["attention_mask"])
    return [model.label_names[i] for i in logits.argmax(-1).tolist()]


def _without_mask(model, tokenizer, texts: list[str]) -> list[str]:
    import torch

    model.eval()
    with torch.no_grad():
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        logits = model(enc["input_ids"])
    return [model.label_names[i] for i in logits.argmax(-1).tolist()]


# ---------------------------------------------------------------------------------------------------
# Concept questions: the key of each is a salted hash of its answer (grading/questions.py)
# ---------------------------------------------------------------------------------------------------

from .questions import ordering, several_choices  # noqa: E402 (the questions' helper, next to the questions)

several_choices("04.statements", points=1, answer="answer_04_statements", options="ABCDEF",
    key="85942b5b5ead50b4",
    hints=[
        "Lesson 04 tests each of these with an assert: look for the one about the frozen strategy, the one "
        "about the head's last layer and the one about saving and reloading.",
        "What is the validation accuracy of f(x; θ, ω) with a random ω? How far did each layer of θ move in "
        "full fine-tuning? Do two tasks fine-tuned in full share their encoder?",
    ],
    feedback={
        "073f6a6ca86555e6": "what does saving write, and what did lesson 04 compare after loading it again?",
        "50f82508c4f487e3": "does full fine-tuning on two different tasks move θ the same way? Section 6 counts"
                            " the copies of the encoder that serving both needs.",
        "90fadfa9194cfdbb": "what was the accuracy of the complete model in section 2 of lesson 04, with θ "
                            "pre-trained and ω still random?",
        "98c124344381a00e": "what may the optimiser change in the frozen strategy? Lesson 04, section 4, "
                            "compares θ-hat with θ for it.",
        "ec43a94d15188da1": "lesson 04, section 4, measured the relative change of every layer of θ in full "
                            "fine-tuning: close to 1, or small?",
        "f3900ce569d517e0": "what fixes the number of outputs of ω's last layer, and does the encoder change "
                            "with it (section 6)?",
    })


ordering("04.paradigm", points=1, answer="answer_04_paradigm", options="ABCDEF",
    key="4ac8856c07b1ba15",
    hints=[
        "Which step gives θ its values, and which one puts the hats on θ and ω?",
        "Which steps need labeled documents, and which of those can only run once the model is fine-tuned?",
    ],
    feedback={
        "1a9393c0cf99e66b": "the new ω goes where the vocabulary Softmax was, and fine-tuning trains it: what "
                            "must happen just before it, and what just after?",
        "2cdd1356c1750125": "deploying uses θ-hat and ω-hat: which steps must have produced them, and checked "
                            "them, first?",
        "5737dca21f3c155b": "f(x; θ-hat, ω-hat) can be measured only once it exists, and it should be measured "
                            "before anyone relies on it.",
        "7e4beabf061dd13a": "fine-tuning trains θ and ω together, so both must exist before it starts; and it "
                            "is the step that puts the hats on them.",
        "7f4b62dbaf72d446": "a layer can be discarded only once it has been trained and is no longer needed: "
                            "which step trained it?",
        "e8d09801048d2d72": "this step needs no labels and gives θ its values: what does every other step build"
                            " on?",
    })


several_choices("04.why_freeze", points=2, answer="answer_04_why_freeze", options="ABCDEF",
    key="04920453fbfb17cc", noun="reason",
    hints=[
        "Freezing trades something away for what it saves: what does it save, and what does it keep?",
        "Lesson 04, section 6, serves two tasks both ways: which way was more accurate, and which was cheaper? "
        "And in lesson 03, did fewer labels make the frozen encoder the better choice?",
    ],
    feedback={
        "1d9e370895cd9fbc": "in lesson 03, with the same labels, which read more unseen words right, full "
                            "fine-tuning or a frozen head? And how many labeled reviews did full fine-tuning "
                            "need to be far above chance?",
        "548204313638678f": "what must the optimiser compute for θ when θ does not change, and how often must "
                            "the encoder run on the same text?",
        "b599fc6b065adf3d": "lesson 04, section 6: how many copies of the encoder does serving two tasks need "
                            "with each strategy?",
        "c962fb35ae8cd5f3": "lesson 04, section 4, probed θ-hat, fine-tuned in full on reviews, for "
                            "support-email topics: did it still know what θ knew?",
        "690a1e0ca4e32b16": "lesson 04, section 6, put the frozen heads next to full fine-tuning: which was "
                            "more accurate, and on which task by far?",
        "9a1d6a03821edb4a": "lesson 02, section 5, shows the [CLS] vectors of the test reviews before and after"
                            " fine-tuning: when were the classes further apart?",
    })
