"""Checks for lesson 01's exercises (exercises/01_pretraining_mlm_exercises.ipynb): the masking rule,
why some chosen tokens stay unchanged, masked-token accuracy and perplexity.

The checks build their own small inputs (a toy tokenizer, random logits), so they need no checkpoint
and run in a second.
"""

from __future__ import annotations

import functools
import math
import sys

from .core import Incorrect, as_number, call_unchanged, case, exercise

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


def _call_mask(apply_mask, input_ids, tokenizer, seed, where: str):
    import copy

    import torch

    # A copy of the tokenizer, so that an answer that changes it (padding side, special tokens) changes
    # nothing for the next case or the next check.
    result = call_unchanged(apply_mask, "apply_mask", where, {"input_ids": input_ids, "tokenizer": copy.deepcopy(tokenizer)},
                            {"generator": torch.Generator().manual_seed(seed)})
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        size = f" of {len(result)}" if isinstance(result, (tuple, list)) else ""
        raise Incorrect(f"apply_mask should return a pair (masked_ids, labels); it returned {_a(type(result).__name__)}"
                        f"{size}.")
    masked, labels = result
    for name, value in (("masked_ids", masked), ("labels", labels)):
        if not isinstance(value, torch.Tensor):
            raise Incorrect(f"{name} should be a torch.Tensor, got {type(value).__name__}.")
        if value.shape != input_ids.shape:
            raise Incorrect(f"{name} has shape {tuple(value.shape)}; it should have the shape of input_ids, "
                            f"{tuple(input_ids.shape)}.")
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            raise Incorrect(f"{name} should hold token ids (integers), but its dtype is {value.dtype}.")
    if bool((masked == IGNORE_INDEX).any()) and not bool((labels == IGNORE_INDEX).any()):
        raise Incorrect("The pair came back in the wrong order: the first tensor holds -100s, so it is the labels. "
                        "Return (masked_ids, labels), in that order.")
    return masked.long(), labels.long()


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _check_consistency(input_ids, masked, labels, special, tokenizer, where: str) -> None:
    import torch

    chosen = labels != IGNORE_INDEX
    kept = labels == input_ids
    if not bool(kept.all()) and int(chosen.sum()) > 0.9 * labels.numel():
        values, counts = torch.unique(labels[~kept], return_counts=True)
        if len(values) and int(counts.max()) > 0.9 * int((~kept).sum()):
            other = int(values[counts.argmax()])
            raise Incorrect(f"On {where}, the positions that were not chosen got the label {other}. They must get -100, "
                            f"the value the loss skips (labels[~chosen] = -100); {other} is a token id like any other, "
                            f"so the model would be trained to predict it.")
    changed = chosen & (masked != input_ids)
    if int(changed.sum()) >= 20:
        values, counts = torch.unique(masked[changed], return_counts=True)
        top = int(values[counts.argmax()])
        if top != tokenizer.mask_token_id and int(counts.max()) > 0.5 * int(changed.sum()) \
                and int((masked[chosen] == tokenizer.mask_token_id).sum()) < 0.05 * int(chosen.sum()):
            raise Incorrect(f"On {where}, most chosen tokens became id {top}, but this tokenizer's [MASK] is id "
                            f"{tokenizer.mask_token_id}. Use tokenizer.mask_token_id, never a number: ids depend on the "
                            f"tokenizer.")
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
    import copy

    import torch

    for specials_first in (True, False):
        tokenizer = toy_tokenizer(specials_first)
        ids, real, special = _batch(tokenizer, rows=1000, min_words=1, max_words=38, seed=11)
        where = "a batch of padded sentences" + ("" if specials_first else " (special tokens at unusual ids)")
        masked, labels = _call_mask(apply_mask, ids, tokenizer, 0, where)
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
    masked, labels = _call_mask(apply_mask, one_word, tokenizer, 1, "one-word sentences ([CLS] word [SEP])")
    _check_consistency(one_word, masked, labels, special, tokenizer, "one-word sentences")
    share = int((labels != IGNORE_INDEX).sum()) / len(one_word)
    if abs(share - 0.15) > 0.025:
        raise Incorrect(f"On one-word sentences ([CLS] word [SEP]), {share:.1%} of the words were chosen. Each real "
                        f"token is chosen with probability 15 %, whatever the length of its sentence.")

    nothing = torch.tensor([[tokenizer.cls_token_id, tokenizer.sep_token_id] + [tokenizer.pad_token_id] * 3] * 4)
    masked, labels = _call_mask(apply_mask, nothing, tokenizer, 2,
                                "a batch with no real tokens (only [CLS], [SEP] and padding)")
    if not bool((labels == IGNORE_INDEX).all()) or not torch.equal(masked, nothing):
        raise Incorrect("On a batch holding only [CLS], [SEP] and [PAD], nothing may be chosen: all labels -100 and "
                        "the ids unchanged.")

    ids, _, _ = _batch(tokenizer, rows=50, min_words=3, max_words=20, seed=13)
    where = "a batch of 50 sentences"
    first, second = _call_mask(apply_mask, ids, tokenizer, 5, where), _call_mask(apply_mask, ids, tokenizer, 5, where)
    if not all(torch.equal(a, b) for a, b in zip(first, second)):
        raise Incorrect("Two calls with generators seeded the same gave different results. Draw every random "
                        "number from the generator: torch.rand(shape, generator=generator), "
                        "torch.randint(..., generator=generator).")
    other = _call_mask(apply_mask, ids, tokenizer, 6, where)
    if torch.equal(first[1], other[1]):
        raise Incorrect("Generators with different seeds chose the same tokens: the choice must be random.")
    with case("generator=None"):
        apply_mask(ids.clone(), copy.deepcopy(tokenizer))


from .questions import single_choice  # noqa: E402 (the questions' helper, next to the questions)

single_choice("01.unchanged", points=1, answer="answer_01_unchanged", options="abcd",
    key="b7d592b4a8e83b53",
    hints=[
        "Think about what the encoder reads after pre-training, when it is fine-tuned or used: is there any "
        "[MASK] in that text?",
        "Lesson 01, section 3, says what goes wrong if the model could rely on seeing [MASK].",
    ],
    feedback={
        "1f987be0ded376f1": "the model still has to guess every chosen token, whatever stands in its place, and"
                            " 85 % of the tokens are never chosen, so the context is there either way. The "
                            "split is about what the encoder reads once pre-training is over, when no [MASK] "
                            "appears.",
        "62a638217bf1cd53": "the loss is computed only where a token was chosen: every other position has the "
                            "label -100, which the loss skips. The unchanged 10 % are chosen tokens, scored "
                            "like the others, not extra positions.",
        "2f63b42013de8f05": "the output layer scores the vocabulary at every chosen position (label not -100), "
                            "whatever replaced the token: an unchanged or random token costs as much as a "
                            "[MASK], and is learned from too.",
    })


def _reference_accuracy(logits, labels) -> float:
    chosen = labels != IGNORE_INDEX
    total = int(chosen.sum())
    return int((logits.argmax(-1)[chosen] == labels[chosen]).sum()) / total if total else 0.0


@exercise("01.masked_accuracy", points=2, answer="masked_accuracy", hints=[
    "The prediction at each position is logits.argmax(-1); it is only scored where labels != -100.",
    "Count correct predictions at the chosen positions and divide by the number of chosen positions, not by "
    "the number of all positions. When no position is chosen, return 0.0 instead of dividing by zero.",
    "Return a Python float: .item() turns a one-number tensor into one.",
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
        got = call_unchanged(masked_accuracy, "masked_accuracy", where, {"logits": lg, "labels": lb})
        got = as_number(got, "masked_accuracy", where, python=True)
        expected = _reference_accuracy(lg, lb)
        if abs(got - expected) > 1e-6:
            everywhere = float((lg.argmax(-1) == lb).float().mean())
            chosen = int((lb != IGNORE_INDEX).sum())
            if abs(got - everywhere) < 1e-6:
                raise Incorrect(f"On {where} you returned {got:.3f}, the accuracy over every position. Only the "
                                f"chosen positions (labels != -100) count; there it is {expected:.3f}.")
            if abs(got - 100 * expected) < 1e-4:
                raise Incorrect(f"On {where} masked_accuracy returned {got:.3f}, a percentage; return the share, a "
                                f"number between 0 and 1 ({expected:.3f} here).")
            if abs(got - expected * chosen) < 1e-6 and chosen > 1:
                raise Incorrect(f"On {where} masked_accuracy returned {got:g}, the number of right guesses; divide it "
                                f"by the number of chosen positions ({chosen}) to get the share.")
            raise Incorrect(f"On {where} masked_accuracy returned {got:.3f}, but the share of chosen positions "
                            f"(labels != -100) predicted right is {expected:.3f}.")
    where = "a batch where no position is chosen (every label -100)"
    got = call_unchanged(masked_accuracy, "masked_accuracy", where,
                         {"logits": torch.randn(2, 4, 5, generator=g), "labels": torch.full((2, 4), IGNORE_INDEX)})
    if isinstance(got, float) and math.isnan(got) or getattr(got, "isnan", None) and bool(got.isnan().all()):
        raise Incorrect("When no position is chosen (every label -100), masked_accuracy returned nan (0 divided by "
                        "0): there is nothing to score, so return 0.0.")
    if as_number(got, "masked_accuracy", where, python=True) != 0.0:
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
             ("[1.0, 2.0, 3.0]", [1.0, 2.0, 3.0], math.exp(2.0)),
             # Not symmetric around its mean, so that the median or the middle batch is not the mean.
             ("[4.5, 0.5, 1.0]", [4.5, 0.5, 1.0], math.exp(2.0))]
    if "torch" in sys.modules:  # a notebook that never imported torch has no tensors to pass
        cases.append(("a tensor of losses", sys.modules["torch"].tensor([2.5, 1.5]), math.exp(2.0)))
    for where, losses, expected in cases:
        got = call_unchanged(perplexity, "perplexity", f"losses {where}", {"batch_losses": losses})
        got = as_number(got, "perplexity", f"losses {where}")
        if abs(got - expected) > 1e-4 * max(1.0, expected):
            mean_of_exp = float(sum(math.exp(float(x)) for x in losses) / len(losses))
            if abs(got - mean_of_exp) < 1e-4 * mean_of_exp:
                raise Incorrect(f"For losses {where} you returned {got:.3f}, the mean of exp(loss). Average the "
                                f"losses first, then exponentiate: {expected:.3f}.")
            raise Incorrect(f"For losses {where}, perplexity returned {got:.4g}; expected {expected:.4g}.")


# ---------------------------------------------------------------------------------------------------
# Concept questions: the key of each is a salted hash of its answer (grading/questions.py)
# ---------------------------------------------------------------------------------------------------

single_choice("01.two_datasets", points=1, answer="answer_01_two_datasets", options="abcd",
    key="aa4a90b54729bbb4",
    hints=[
        "Which data set holds the targets that masked language modelling needs, and which holds the targets a "
        "classifier needs?",
        "Which stage needs a label for every example, and which one can learn from text that has none?",
    ],
    feedback={
        "9ad256de13e28e0f": "masked language modelling needs no labels, while fine-tuning needs one per "
                            "example: the unlabeled emails have no categories to fine-tune on, and 3,000 emails"
                            " are far too little text to learn the language from.",
        "f5793c231eaea97e": "unlabeled text teaches which words are used alike. In lesson 03 the model trained "
                            "from scratch on labels alone was at chance on words its labeled data never "
                            "contained, while the pre-trained one read them.",
        "43833fcdf7cddf72": "masked language modelling trains the token vectors to predict hidden words, never "
                            "the [CLS] vector to name a category; a prediction network trained on labeled "
                            "emails has to map a vector to the three categories.",
    })
