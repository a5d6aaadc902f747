"""Checks for lesson 08's exercises (exercises/08_real_text_exercises.ipynb): mean pooling over a padded
batch, macro-F1 by hand (checked against scikit-learn), and choosing a strategy for a budget of labels and
compute.

The checks build their own tensors and label lists, so they need no model, no data and no network.
"""

from __future__ import annotations

from .core import Incorrect, as_number, case, exercise

# ---------------------------------------------------------------------------------------------------
# 08.mean_pool
# ---------------------------------------------------------------------------------------------------


def _batches():
    """(where, token vectors, attention mask): padding at the end, as a tokenizer pads, of several lengths."""
    import torch

    generator = torch.Generator().manual_seed(8)
    mixed = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    yield "a batch of 3 sentences of 5, 2 and 7 tokens, padded to 7", torch.randn(3, 7, 6, generator=generator), mixed
    yield ("a batch whose padding vectors are large (a real encoder's are not zero)",
           torch.randn(2, 4, 5, generator=generator) * torch.tensor([1.0, 1.0, 1.0, 50.0]).view(1, 4, 1),
           torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]]))
    yield "one sentence without padding", torch.randn(1, 3, 4, generator=generator), torch.ones(1, 3, dtype=torch.long)


@exercise("08.mean_pool", points=3, answer="mean_pool", hints=[
    "token_vectors has the shape (batch, tokens, hidden) and attention_mask (batch, tokens), 1 for a real "
    "token and 0 for padding. The result has the shape (batch, hidden).",
    "Multiply the vectors by the mask (mask.unsqueeze(-1), as a float) so that padding adds nothing, sum over "
    "the tokens (dim=1), and divide by the number of real tokens of each sentence, mask.sum(dim=1, keepdim=True).",
])
def check_mean_pool(mean_pool):
    import torch

    for where, vectors, mask in _batches():
        before = vectors.clone()
        with case(where):
            got = mean_pool(vectors, mask)
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"On {where}, mean_pool returned {type(got).__name__}; return a torch.Tensor of shape "
                            f"(batch, hidden).")
        if not torch.equal(vectors, before):
            raise Incorrect(f"On {where}, mean_pool changed the token vectors it was given; compute a new tensor.")
        batch, tokens, hidden = vectors.shape
        if tuple(got.shape) != (batch, hidden):
            raise Incorrect(f"On {where}, mean_pool returned the shape {tuple(got.shape)}; one vector per sentence "
                            f"is ({batch}, {hidden}): average over the tokens (dim=1), not over the hidden size.")
        weights = mask.unsqueeze(-1).float()
        expected = (vectors * weights).sum(1) / weights.sum(1)
        if torch.allclose(got, expected, atol=1e-5):
            continue
        if torch.allclose(got, vectors.mean(1), atol=1e-5):
            raise Incorrect(f"On {where}, mean_pool averaged over every position, padding included; padding is no "
                            f"part of the sentence: leave out the positions where attention_mask is 0.")
        if torch.allclose(got, vectors[:, 0], atol=1e-5):
            raise Incorrect(f"On {where}, mean_pool returned the first ([CLS]) vector; average the vectors of all "
                            f"the real tokens instead.")
        if torch.allclose(got, (vectors * weights).sum(1), atol=1e-5):
            raise Incorrect(f"On {where}, mean_pool summed the real tokens' vectors; divide by how many there are "
                            f"in each sentence, so long and short sentences are on the same scale.")
        if torch.allclose(got, (vectors * weights).sum(1) / tokens, atol=1e-5):
            raise Incorrect(f"On {where}, mean_pool divided by the padded length ({tokens}) for every sentence; "
                            f"divide each by its own number of real tokens, attention_mask.sum(dim=1).")
        raise Incorrect(f"On {where}, mean_pool's result differs from the mean of the real tokens' vectors "
                        f"(largest difference {float((got - expected).abs().max()):.3g}).")


# ---------------------------------------------------------------------------------------------------
# 08.macro_f1
# ---------------------------------------------------------------------------------------------------

def _label_cases():
    """(where, true labels, predicted labels, number of classes)."""
    import random

    rng = random.Random(8)
    true = [rng.choice([0, 0, 0, 0, 1, 1, 2]) for _ in range(60)]
    pred = [y if rng.random() < 0.7 else rng.randrange(3) for y in true]
    yield "60 messages in 3 imbalanced classes", true, pred, 3
    yield "always predicting the majority class 'negative' (0)", true, [0] * len(true), 3
    yield "a class that is never predicted", [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 0], 3
    yield "every prediction right", [2, 0, 1, 0], [2, 0, 1, 0], 3
    yield "two classes", [0, 1, 1, 1, 0, 1], [0, 1, 0, 1, 1, 1], 2


@exercise("08.macro_f1", points=3, answer="macro_f1", hints=[
    "For each class c: precision = (predicted c and truly c) / (predicted c), recall = (predicted c and truly "
    "c) / (truly c), F1 = 2 * precision * recall / (precision + recall).",
    "Macro-F1 is the plain average of the classes' F1 scores, each class counting the same however many "
    "examples it has. A class never predicted (or never present) has F1 0: when a denominator is 0, use 0.",
])
def check_macro_f1(macro_f1):
    from sklearn.metrics import accuracy_score, f1_score

    for where, true, pred, classes in _label_cases():
        labels = list(range(classes))
        expected = f1_score(true, pred, average="macro", labels=labels, zero_division=0)
        with case(where):
            try:
                got = macro_f1(list(true), list(pred), classes)
            except ZeroDivisionError:
                raise Incorrect(f"On {where}, macro_f1 divided by zero: a class that is never predicted has "
                                f"precision 0/0. Count its F1 as 0, as scikit-learn does with zero_division=0.") from None
        got = as_number(got, "macro_f1", where)
        if abs(got - expected) < 1e-9:
            continue
        if abs(got - 100 * expected) < 1e-6:
            raise Incorrect(f"On {where}, macro_f1 returned {got:.4g}, a percentage; return a number between 0 and 1.")
        if abs(got - accuracy_score(true, pred)) < 1e-9:
            raise Incorrect(f"On {where}, macro_f1 returned the accuracy ({got:.3f}); compute each class's F1 from its "
                            f"precision and recall and average those.")
        if abs(got - f1_score(true, pred, average="weighted", labels=labels, zero_division=0)) < 1e-9:
            raise Incorrect(f"On {where}, macro_f1 weighted each class by its number of examples ({got:.3f}); macro "
                            f"means every class counts the same: a plain average.")
        present = sorted(set(pred))
        if len(present) < classes and abs(got - f1_score(true, pred, average="macro", labels=present,
                                                         zero_division=0)) < 1e-9:
            raise Incorrect(f"On {where}, macro_f1 averaged only the classes that were predicted ({got:.3f}); a class "
                            f"the classifier never predicts has F1 0 and still counts in the average.")
        raise Incorrect(f"On {where}, macro_f1 returned {got:.4f}; scikit-learn's f1_score(average='macro') gives "
                        f"{expected:.4f}.")


# ---------------------------------------------------------------------------------------------------
# 08.strategy
# ---------------------------------------------------------------------------------------------------

@exercise("08.strategy", points=1, answer="answer_08_strategy", hints=[
    "Section 8 of the lesson: which strategy is ahead with a few hundred labels, and what does it cost?",
    "Two constraints: only 300 labels, and a laptop CPU with minutes to spare. Which strategy trains in seconds "
    "once the sentence vectors are computed, and which needs a minute or more per run?",
])
def check_strategy(answer):
    if not isinstance(answer, str) or answer.strip().lower() not in ("a", "b", "c", "d"):
        raise Incorrect(f"Answer with one letter as a string, such as \"a\"; got {answer!r}.")
    if answer.strip().lower() != "c":
        raise Incorrect("Not that one. Compare, in the lesson's curve and table, what each strategy gives with a few "
                        "hundred labels and what one run of it costs on a CPU.")
