"""Checks for lesson 01's exercises (exercises/01_pretraining_mlm_exercises.ipynb): the masking rule,
why some chosen tokens stay unchanged, masked-token accuracy and perplexity.

The checks build their own small inputs (a toy tokenizer, random logits), so they need no checkpoint
and run in a second.
"""

from __future__ import annotations

import functools
import math
import sys

from .core import Incorrect, as_number, case, exercise

IGNORE_INDEX = -100
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@functools.lru_cache(maxsize=None)
def toy_tokenizer(specials_first: bool = True):
    """A WordPiece tokenizer over 60 made-up words. With ``specials_first=False`` the special tokens
    sit at unusual ids, so an answer that hard-codes ids (``103`` for ``[MASK]``...) is caught."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertTokenizerFast

    words = [f"w{i}" for i in range(60)]
    if specials_first:
        ordered = list(SPECIAL_TOKENS) + words
    else:
        ordered = words[:7] + ["[PAD]"] + words[7:13] + ["[CLS]"] + words[13:20] + ["[SEP]"] + words[20:41] \
            + ["[MASK]"] + words[41:] + ["[UNK]"]
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(ordered)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]")


def _word_ids(tokenizer) -> list[int]:
    special = set(tokenizer.all_special_ids)
    return [i for i in range(len(tokenizer)) if i not in special]


def _batch(tokenizer, rows: int, min_words: int, max_words: int, seed: int):
    """``[CLS] words [SEP] [PAD]...`` rows of random lengths: (input_ids, real_word_mask, special_mask)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    words = torch.tensor(_word_ids(tokenizer))
    lengths = torch.randint(min_words, max_words + 1, (rows,), generator=g)
    width = int(lengths.max()) + 2
    ids = torch.full((rows, width), tokenizer.pad_token_id, dtype=torch.long)
    for r, n in enumerate(lengths.tolist()):
        ids[r, 0] = tokenizer.cls_token_id
        ids[r, 1:n + 1] = words[torch.randint(len(words), (n,), generator=g)]
        ids[r, n + 1] = tokenizer.sep_token_id
    special = (ids == tokenizer.pad_token_id) | (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id)
    return ids, ~special, special


def _call_mask(apply_mask, input_ids, tokenizer, seed):
    import torch

    original = input_ids.clone()
    result = apply_mask(input_ids, tokenizer, generator=torch.Generator().manual_seed(seed))
    if not torch.equal(input_ids, original):
        raise Incorrect("apply_mask changed the input_ids it was given. Work on a copy (input_ids.clone()): "
                        "the caller still needs the original ids.")
    if not isinstance(result, tuple) or len(result) != 2:
        raise Incorrect(f"apply_mask should return a pair (masked_ids, labels); it returned "
                        f"{type(result).__name__}.")
    masked, labels = result
    for name, value in (("masked_ids", masked), ("labels", labels)):
        if not isinstance(value, torch.Tensor):
            raise Incorrect(f"{name} should be a torch.Tensor, got {type(value).__name__}.")
        if value.shape != input_ids.shape:
            raise Incorrect(f"{name} has shape {tuple(value.shape)}; it should have the shape of input_ids, "
                            f"{tuple(input_ids.shape)}.")
        if value.dtype.is_floating_point or value.dtype == torch.bool:
            raise Incorrect(f"{name} should hold token ids (integers), but its dtype is {value.dtype}.")
    return masked.long(), labels.long()


def _check_consistency(input_ids, masked, labels, special, tokenizer, where: str) -> None:
    chosen = labels != IGNORE_INDEX
    if bool(special.any()) and bool(chosen[special].all()) and bool((labels[special] == input_ids[special]).all()):
        raise Incorrect(f"On {where}, every position has a label, [CLS], [SEP] and [PAD] included: the positions that "
                        f"were not chosen must get the label -100 (labels[~chosen] = -100), so that the loss counts "
                        f"only the chosen tokens.")
    if bool((chosen & (labels != input_ids)).any()):
        raise Incorrect(f"On {where}, some labels differ from the original token: at a chosen position the label "
                        f"must be the original id (the model learns to predict it).")
    if bool((~chosen & (masked != input_ids)).any()):
        raise Incorrect(f"On {where}, tokens whose label is -100 were changed. Only chosen tokens may be replaced; "
                        f"every other position keeps its id and gets the label -100.")
    if bool((chosen & special).any()):
        raise Incorrect(f"On {where}, [CLS], [SEP] or [PAD] tokens were chosen. Special tokens and padding are never "
                        f"chosen: leave them out before choosing (tokenizer.get_special_tokens_mask helps).")
    if bool(((masked < 0) | (masked >= len(tokenizer))).any()):
        raise Incorrect(f"On {where}, some ids are outside the vocabulary (0..{len(tokenizer) - 1}): draw random "
                        f"replacements with torch.randint(len(tokenizer), ...).")
    if not bool(((labels == IGNORE_INDEX) | (labels >= 0)).all()):
        raise Incorrect(f"On {where}, labels must be -100 (not chosen) or an original token id.")


def _check_random_spread(masked, original, tokenizer, where: str) -> None:
    """The random replacements are drawn from the whole vocabulary, one per position, not one token (such as
    [UNK]) or one id drawn once for the whole batch."""
    import torch

    replaced = masked[(masked != original) & (masked != tokenizer.mask_token_id)]
    if len(replaced) < 50:
        return
    values, counts = torch.unique(replaced, return_counts=True)
    top = int(counts.argmax())
    share = int(counts[top]) / len(replaced)
    # Uniform over the vocabulary, no token would take more than a few % of about 300 replacements.
    if share > 0.2 or len(values) < len(tokenizer) // 3:
        token = tokenizer.convert_ids_to_tokens(int(values[top]))
        what = "the [UNK] token, which is not a random token" if token == tokenizer.unk_token else f"{token!r}"
        raise Incorrect(f"On {where}, {share:.0%} of the tokens replaced by a random token became {what} ("
                        f"{len(values)} different id{'' if len(values) == 1 else 's'} in all). Draw a new random id for every position, from the "
                        f"whole vocabulary: torch.randint(len(tokenizer), input_ids.shape, generator=generator).")


@exercise("01.masking", points=3, answer="apply_mask", hints=[
    "Choose each real token with probability 0.15: compare torch.rand(input_ids.shape, generator=generator) "
    "with 0.15, then remove special tokens and padding from the choice.",
    "Draw a second uniform number per position for the 80/10/10 split: below 0.8 -> [MASK], from 0.8 to 0.9 -> "
    "a random id, from 0.9 up -> unchanged. Using one number for both decisions keeps the three groups disjoint.",
    "labels = input_ids.clone(); labels[~chosen] = -100. Replace tokens in masked = input_ids.clone(), never in "
    "input_ids itself, and pass generator=generator to every torch.rand / torch.randint call.",
])
def check_masking(apply_mask):
    import torch

    for specials_first in (True, False):
        tokenizer = toy_tokenizer(specials_first)
        ids, real, special = _batch(tokenizer, rows=1000, min_words=1, max_words=38, seed=11)
        with case("a batch of 1,000 padded sentences"):
            masked, labels = _call_mask(apply_mask, ids, tokenizer, seed=0)
        where = "a batch of padded sentences" + ("" if specials_first else " (special tokens at unusual ids)")
        _check_consistency(ids, masked, labels, special, tokenizer, where)
        chosen = labels != IGNORE_INDEX
        share = int(chosen.sum()) / int(real.sum())
        if share > 0.9:
            raise Incorrect(f"On {where}, {share:.0%} of the real tokens have a label: only the chosen 15 % do; every "
                            f"position that was not chosen gets the label -100.")
        if abs(share - 0.15) > 0.02:
            raise Incorrect(f"On {where}, {share:.1%} of the real tokens were chosen; each real token should be "
                            f"chosen with probability 15 %.")
        n = int(chosen.sum())
        to_mask = int((masked[chosen] == tokenizer.mask_token_id).sum()) / n
        unchanged = int((masked[chosen] == ids[chosen]).sum()) / n
        randomised = 1 - to_mask - unchanged
        if unchanged < 0.03 and randomised > 0.05:
            if share < 0.145:  # about 0.9 x 15 %: the unchanged ones were chosen, then lost their label
                raise Incorrect(f"On {where}, the chosen tokens left unchanged lost their label: they are still "
                                f"chosen, so they keep the original id as their label (the model must predict them "
                                f"too). Give -100 only to the tokens that were not chosen.")
            raise Incorrect(f"On {where}, no chosen token was left unchanged: 10 % of the chosen tokens keep their "
                            f"own id (and their label), 10 % become a random token, 80 % [MASK].")
        for name, value, target, margin in (("[MASK]", to_mask, 0.8, 0.04), ("unchanged", unchanged, 0.1, 0.03),
                                            ("a random token", randomised, 0.1, 0.03)):
            if abs(value - target) > margin:
                raise Incorrect(f"Of the chosen tokens, {value:.1%} became {name}; expected about {target:.0%} "
                                f"(80 % [MASK], 10 % random, 10 % unchanged).")
        _check_random_spread(masked[chosen], ids[chosen], tokenizer, where)

    tokenizer = toy_tokenizer(True)
    one_word, real, special = _batch(tokenizer, rows=3000, min_words=1, max_words=1, seed=12)
    with case("one-word sentences ([CLS] word [SEP])"):
        masked, labels = _call_mask(apply_mask, one_word, tokenizer, seed=1)
    _check_consistency(one_word, masked, labels, special, tokenizer, "one-word sentences")
    share = int((labels != IGNORE_INDEX).sum()) / len(one_word)
    if abs(share - 0.15) > 0.025:
        raise Incorrect(f"On one-word sentences ([CLS] word [SEP]), {share:.1%} of the words were chosen. Each real "
                        f"token is chosen with probability 15 %, whatever the length of its sentence.")

    nothing = torch.tensor([[tokenizer.cls_token_id, tokenizer.sep_token_id] + [tokenizer.pad_token_id] * 3] * 4)
    with case("a batch with no real tokens (only [CLS], [SEP] and padding)"):
        masked, labels = _call_mask(apply_mask, nothing, tokenizer, seed=2)
    if not bool((labels == IGNORE_INDEX).all()) or not torch.equal(masked, nothing):
        raise Incorrect("On a batch holding only [CLS], [SEP] and [PAD], nothing may be chosen: all labels -100 and "
                        "the ids unchanged.")

    ids, _, _ = _batch(tokenizer, rows=50, min_words=3, max_words=20, seed=13)
    first, second = _call_mask(apply_mask, ids, tokenizer, seed=5), _call_mask(apply_mask, ids, tokenizer, seed=5)
    if not all(torch.equal(a, b) for a, b in zip(first, second)):
        raise Incorrect("Two calls with generators seeded the same gave different results. Draw every random "
                        "number from the generator: torch.rand(shape, generator=generator), "
                        "torch.randint(..., generator=generator).")
    other = _call_mask(apply_mask, ids, tokenizer, seed=6)
    if torch.equal(first[1], other[1]):
        raise Incorrect("Generators with different seeds chose the same tokens: the choice must be random.")
    with case("generator=None"):
        apply_mask(ids, tokenizer)


from .questions import single_choice  # noqa: E402 (the questions' helper, next to the questions)

single_choice("01.unchanged", points=1, answer="answer_01_unchanged", options="abcd",
    key="faebf248860247df",
    hints=[
        "Think about what the encoder reads after pre-training, when it is fine-tuned or used: is there any "
        "[MASK] in that text?",
        "Lesson 01, section 3, says what goes wrong if the model could rely on seeing [MASK].",
    ],
    feedback={
        "1f987be0ded376f1": "the loss at a chosen position is as large as the model's uncertainty about the "
                            "hidden token, whatever stands in its place; the 80/10/10 split is about what the "
                            "encoder reads later, not about the size of the loss.",
        "2f63b42013de8f05": "a step costs the same whatever replaces the chosen tokens: the sequence is as "
                            "long, and the loss is computed at the same chosen positions.",
        "79756ca5345eda72": "masking replaces token ids after the tokenizer has run, and a piece that starts "
                            "with ## is chosen and replaced like any other token.",
    })


def _reference_accuracy(logits, labels) -> float:
    chosen = labels != IGNORE_INDEX
    total = int(chosen.sum())
    return int((logits.argmax(-1)[chosen] == labels[chosen]).sum()) / total if total else 0.0


@exercise("01.masked_accuracy", points=2, answer="masked_accuracy", hints=[
    "The prediction at each position is logits.argmax(-1); it is only scored where labels != -100.",
    "Count correct predictions at the chosen positions and divide by the number of chosen positions, not by "
    "the number of all positions. When no position is chosen, return 0.0 instead of dividing by zero.",
])
def check_masked_accuracy(masked_accuracy):
    import torch

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 12, 40, generator=g)
    truth = torch.randint(40, (6, 12), generator=g)
    labels = torch.where(torch.rand(6, 12, generator=g) < 0.3, truth, torch.full_like(truth, IGNORE_INDEX))
    # Make the model right at about half the chosen positions and at every other one, so that counting
    # the positions whose label is -100 gives a clearly different number.
    argmax = logits.argmax(-1)
    right = torch.rand(6, 12, generator=g) < 0.5
    labels = torch.where((labels != IGNORE_INDEX) & right, argmax, labels)
    cases = [("a batch of random scores", logits, labels)]

    one = torch.zeros(1, 1, 5)
    one[0, 0, 3] = 1.0
    cases.append(("a single masked token predicted right", one, torch.tensor([[3]])))
    cases.append(("a single masked token predicted wrong", one, torch.tensor([[1]])))
    for where, lg, lb in cases:
        with case(where):
            got = as_number(masked_accuracy(lg.clone(), lb.clone()), "masked_accuracy", where)
        expected = _reference_accuracy(lg, lb)
        if abs(got - expected) > 1e-6:
            everywhere = float((lg.argmax(-1) == lb).float().mean())
            if abs(got - everywhere) < 1e-6:
                raise Incorrect(f"On {where} you returned {got:.3f}, the accuracy over every position. Only the "
                                f"chosen positions (labels != -100) count; there it is {expected:.3f}.")
            raise Incorrect(f"On {where} masked_accuracy returned {got:.3f}, but the share of chosen positions "
                            f"(labels != -100) predicted right is {expected:.3f}.")
    where = "a batch where no position is chosen (every label -100)"
    with case(where):
        got = masked_accuracy(torch.randn(2, 4, 5, generator=g), torch.full((2, 4), IGNORE_INDEX))
    if as_number(got, "masked_accuracy", where + "; there is nothing to score, so return 0.0") != 0.0:
        raise Incorrect(f"When no position is chosen (every label -100) there is nothing to score: return 0.0, "
                        f"not {got}.")


@exercise("01.perplexity", points=1, answer="perplexity", hints=[
    "Perplexity is e to the power of the average cross-entropy (in nats): math.exp(mean loss).",
    "Average the losses first, then exponentiate; the mean of exp(loss) is a different number.",
])
def check_perplexity(perplexity):
    vocabulary = 1024
    cases = [("[ln(1024)], the loss of a uniform guess over 1,024 words", [math.log(vocabulary)], vocabulary),
             ("[0.0], a model that is always sure and right", [0.0], 1.0),
             ("[1.0, 2.0, 3.0]", [1.0, 2.0, 3.0], math.exp(2.0))]
    if "torch" in sys.modules:  # a notebook that never imported torch has no tensors to pass
        cases.append(("a tensor of losses", sys.modules["torch"].tensor([2.5, 1.5]), math.exp(2.0)))
    for where, losses, expected in cases:
        with case(where):
            got = as_number(perplexity(losses), "perplexity", f"losses {where}")
        if abs(got - expected) > 1e-4 * max(1.0, expected):
            mean_of_exp = float(sum(math.exp(float(x)) for x in losses) / len(losses))
            if abs(got - mean_of_exp) < 1e-4 * mean_of_exp:
                raise Incorrect(f"For losses {where} you returned {got:.3f}, the mean of exp(loss). Average the "
                                f"losses first, then exponentiate: {expected:.3f}.")
            raise Incorrect(f"For losses {where}, perplexity returned {got:.4g}; expected {expected:.4g}.")


# ---------------------------------------------------------------------------------------------------
# Concept questions: the key of each is a salted hash of its answer (utils/grading/questions.py)
# ---------------------------------------------------------------------------------------------------

single_choice("01.two_datasets", points=1, answer="answer_01_two_datasets", options="abcd",
    key="69e83d76b86f9d5b",
    hints=[
        "Which data set holds the targets that masked language modelling needs, and which holds the targets a "
        "classifier needs?",
        "Which stage needs a label for every example, and which one can learn from text that has none?",
    ],
    feedback={
        "43833fcdf7cddf72": "unlabeled text supplies its own targets, the hidden tokens; what pre-training "
                            "learns from it (which words are used alike) is what lets a classifier handle words"
                            " its labeled emails never contained, as lesson 03 shows for the held-out words.",
        "e6be25223457dbc4": "the encoder returns vectors, not categories: a prediction network has to be "
                            "trained on labeled emails to turn a vector into one of the three categories, and "
                            "lesson 02 shows the classes separate only after fine-tuning.",
        "f5793c231eaea97e": "fine-tuning maximises the probability of each example's correct category, so it "
                            "needs labels, which the unlabeled text does not have; and 3,000 emails are far too"
                            " little text to learn the language from.",
    })
