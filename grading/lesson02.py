"""Checks for lesson 02's exercises (exercises/02_sequence_encoders_exercises.ipynb): mean pooling that
leaves padding out, which tokens may attend to which (padding, bidirectional and causal), why an encoder
alone is not a classifier, and what a linear probe that fails on held-out words says.

The checks build their own small tensors, so they need no model and no checkpoint and run in a moment.
"""

from __future__ import annotations

from .core import Incorrect, call_unchanged, case, exercise, what_came_back

# Padding positions get vectors this large, so that a pooled vector that lets any of them in is far off.
PADDING_VALUE = 1e4


def _padded_batch(lengths: list[int], hidden: int, seed: int, mask_dtype):
    """Random token vectors for sentences of the given lengths, padded to the longest; padding
    positions hold huge values. Returns (token_vectors, attention_mask)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    vectors = torch.randn(len(lengths), width, hidden, generator=g)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        vectors[row, n:] = PADDING_VALUE * (1 + torch.rand(width - n, hidden, generator=g))
    return vectors, mask.to(mask_dtype)


def _pool_cases():
    import torch

    yield "a batch of 4 sentences of 5, 3, 1 and 6 tokens (padded to 6)", *_padded_batch([5, 3, 1, 6], 8, 0, torch.long)
    yield "the same kind of batch with a boolean attention mask", *_padded_batch([2, 7, 4], 5, 1, torch.bool)
    yield "a batch without padding (every mask entry 1)", *_padded_batch([4, 4, 4], 8, 2, torch.long)
    yield "a batch of one sentence of one token", *_padded_batch([1], 8, 3, torch.long)
    yield "a batch of one sentence of 3 tokens padded to 6", *_one_padded()
    vectors, mask = _padded_batch([5, 2, 4], 6, 5, torch.long)
    yield ("a batch padded on the left (attention mask [[1,1,1,1,1], [0,0,0,1,1], [0,1,1,1,1]])",
           vectors.flip(1).contiguous(), mask.flip(1).contiguous())


def _one_padded():
    """One sentence of 3 tokens padded to 6 (a batch of one whose row is shorter than the batch)."""
    import torch

    vectors, mask = _padded_batch([3, 6], 6, 4, torch.long)
    return vectors[:1].clone(), mask[:1].clone()


def _diagnose_pool(got, vectors, mask, expected, where: str) -> str:
    """A message naming the usual mistake that ``got`` matches, or a general one."""
    import torch

    m = mask.to(vectors.dtype).unsqueeze(-1)
    summed = (vectors * m).sum(1)
    variants = {
        "averaged every position, padding included: multiply by the attention mask (or select the real "
        "tokens) before averaging": vectors.mean(1),
        "divided by the full length of the row; divide each row by its own number of real tokens, "
        "attention_mask.sum(dim=1)": summed / vectors.shape[1],
        "returned the sum of the real token vectors; divide it by the number of real tokens": summed,
        "returned the vector at position 0 (the [CLS] vector); average over the real tokens instead": vectors[:, 0],
        "divided by the number of real tokens in the whole batch; divide each row by its own count "
        "(sum the mask over dim=1, keeping one count per row)": summed / m.sum(),
    }
    for message, value in variants.items():
        if value.shape == got.shape and torch.allclose(got, value, rtol=1e-4, atol=1e-3):
            return f"On {where} you {message}."
    off = ((got - expected).abs() > 1e-4 + 1e-4 * expected.abs()).any(-1)  # the test allclose makes
    bad = int(off.nonzero()[0])
    n = int(mask[bad].to(torch.long).sum())
    return (f"On {where}, row {bad} is not the average of its {n} real token vector{'s' if n != 1 else ''} "
            f"(the positions where attention_mask is 1).")


@exercise("02.mean_pool", points=3, answer="mean_pool", hints=[
    "Turn the mask into a column of weights: attention_mask.unsqueeze(-1) has shape batch x tokens x 1, and "
    "multiplying by it zeroes every padding vector.",
    "Sum the weighted vectors over the tokens (dim=1) and divide each row by its own number of real tokens, "
    "attention_mask.sum(dim=1) (keep it as a column so that it divides all hidden_size numbers of the row).",
    "Convert the mask to the vectors' dtype first (.to(token_vectors.dtype)): a boolean or integer mask "
    "works for selecting, but the division needs floating-point numbers.",
])
def check_mean_pool(mean_pool):
    import torch

    from utils import models

    for where, vectors, mask in _pool_cases():
        got = call_unchanged(mean_pool, "mean_pool", where, {"token_vectors": vectors, "attention_mask": mask})
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"On {where}, mean_pool should return a torch.Tensor, got {what_came_back(got)}.")
        batch, hidden = vectors.shape[0], vectors.shape[2]
        if tuple(got.shape) != (batch, hidden):
            raise Incorrect(f"On {where} (token_vectors of shape {tuple(vectors.shape)}), mean_pool returned shape "
                            f"{tuple(got.shape)}; it should be batch x hidden size, {(batch, hidden)}: one vector "
                            f"per sentence, averaged over the tokens (dim=1), and still one row for a batch of one.")
        if not got.dtype.is_floating_point:
            raise Incorrect(f"On {where}, mean_pool returned a tensor of dtype {got.dtype}; an average is made of "
                            f"floating-point numbers.")
        if got.dtype in (torch.float16, torch.bfloat16):
            raise Incorrect(f"On {where}, mean_pool returned {got.dtype} numbers, which keep only about three "
                            f"significant digits; keep the precision of token_vectors ({vectors.dtype}), or more "
                            f"(float64 is fine).")
        got = got.detach().to(torch.float32)
        if not bool(torch.isfinite(got).all()):
            raise Incorrect(f"On {where}, mean_pool returned inf or nan values; every sentence here has at least one "
                            f"real token, so its average is a finite vector.")
        expected = models.mean_pool(vectors, mask)
        if not torch.allclose(got, expected, rtol=1e-4, atol=1e-4):
            raise Incorrect(_diagnose_pool(got, vectors, mask, expected, where))


def _reference_pattern(mask, causal: bool):
    import torch

    allowed = mask.bool()[:, None, :].expand(-1, mask.shape[1], -1)
    if causal:
        n = mask.shape[1]
        allowed = allowed & torch.ones(n, n, dtype=torch.bool).tril()
    return allowed


def _as_pattern(got, mask, where: str):
    """The student's pattern as a bool tensor, or Incorrect saying what came back instead."""
    import torch

    if not isinstance(got, torch.Tensor):
        how = " (torch.from_numpy(...) turns an array into one)" if type(got).__module__.startswith("numpy") else ""
        raise Incorrect(f"On {where}, attention_pattern should return a torch.Tensor{how}, got {what_came_back(got)}.")
    batch, n = mask.shape
    if tuple(got.shape) != (batch, n, n):
        raise Incorrect(f"On {where} (attention_mask of shape {(batch, n)}), attention_pattern returned shape "
                        f"{tuple(got.shape)}; it should be batch x tokens x tokens, {(batch, n, n)}: for every "
                        f"sentence, one row per token saying which tokens it may attend to.")
    got = got.detach()
    if got.dtype != torch.bool:
        if got.dtype.is_floating_point and bool(((got == 0) | (torch.isinf(got) & (got < 0))).all()):
            raise Incorrect(f"On {where}, attention_pattern returned an additive mask (0 where attention is allowed, "
                            f"-inf where it is not, as a model adds to its attention scores). This exercise asks "
                            f"for the pattern itself: a boolean tensor, True where token i may attend to token j.")
        raise Incorrect(f"On {where}, attention_pattern returned a tensor of dtype {got.dtype}; return a boolean one "
                        f"(.bool()), True where token i may attend to token j. A pattern selects positions: indexing "
                        f"with 1/0 integers would pick positions 1 and 0 instead.")
    return got


def _diagnose_pattern(got, mask, causal: bool, where: str) -> str:
    import torch

    real_rows = mask.bool()[:, :, None].expand_as(got)
    expected = _reference_pattern(mask, causal)

    def same(value) -> bool:
        return bool((got[real_rows] == value[real_rows]).all())

    n = mask.shape[1]
    lower = torch.ones(n, n, dtype=torch.bool).tril()
    keys = mask.bool()[:, None, :]
    if causal:
        if same(keys.expand_as(got)):
            return (f"On {where} with causal=True, tokens may attend to later tokens. Under a causal mask token i "
                    f"attends only to tokens 0..i (torch.tril).")
        if same(keys & lower.T):
            return (f"On {where} with causal=True, the pattern is the wrong way round: entry [b, i, j] says whether "
                    f"token i may attend to token j, and under a causal mask that needs j <= i (the lower "
                    f"triangle), so token 0 sees only itself.")
        if same(keys & torch.ones(n, n, dtype=torch.bool).tril(-1)):
            return (f"On {where} with causal=True, tokens may not attend to themselves. Token i attends to "
                    f"tokens 0..i, itself included (the diagonal is allowed).")
        if same(lower.expand_as(got)) and not bool(mask.bool().all()):
            return (f"On {where} with causal=True, real tokens may attend to padding. Combine the causal rule "
                    f"with the attention mask: the column of a padding token (mask 0) is False in every row.")
    else:
        if same(torch.ones_like(got)):
            return (f"On {where}, real tokens may attend to padding. No token may attend to a position whose "
                    f"attention mask is 0: the column j of a padding token is False in every row i.")
        if same(lower.expand_as(got) & keys):
            return (f"On {where} with causal=False, tokens may not attend to later tokens. In an encoder "
                    f"(bidirectional attention) every token attends to every real token, before and after it.")
    wrong = (got != expected) & real_rows
    b, i, j = (int(x) for x in wrong.nonzero()[0])
    say = "may not" if bool(got[b, i, j]) else "may"
    return (f"On {where} with causal={causal}, token {i} of sentence {b} {say} attend to token {j} "
            f"(attention mask {mask[b].to(torch.long).tolist()}), but your pattern says the opposite.")


@exercise("02.attention_pattern", points=2, answer="attention_pattern", hints=[
    "Start from the columns: token j may be attended to when attention_mask[b, j] is 1. "
    "attention_mask[:, None, :] repeats that row for every token i (shape batch x 1 x tokens broadcasts).",
    "For causal=True, combine (with &) that with a tokens x tokens matrix that is True where j <= i: "
    "torch.ones(n, n, dtype=torch.bool).tril(). Row i is the token that attends, column j the one it attends to.",
    "Return a batch x tokens x tokens boolean tensor: .bool() on the mask, and .expand(...) or & with a full "
    "matrix gives the last dimension its size when causal=False.",
])
def check_attention_pattern(attention_pattern):
    import torch

    cases = []
    for n in range(1, 7):
        cases.append((f"one sentence of {n} real token{'s' if n > 1 else ''}", torch.ones(1, n, dtype=torch.long)))
    padded = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    cases.append(("a padded batch (attention mask [[1,1,1,1,1], [1,1,1,0,0], [1,0,0,0,0]])", padded))
    cases.append(("the same padded batch with a boolean mask", padded.bool()))
    cases.append(("a batch of one padded sentence (mask [[1, 1, 0, 0]])", torch.tensor([[1, 1, 0, 0]])))
    # Padded on the left (as some tokenizers pad for generation): a causal pattern that ignores the mask
    # lets real tokens attend to the padding before them, which right padding never shows.
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1]])
    cases.append(("a batch padded on the left (attention mask [[0,0,1,1,1], [1,1,1,1,1], [0,1,1,1,1]])", left))
    for where, mask in cases:
        for causal in (False, True):
            got = call_unchanged(attention_pattern, "attention_pattern", f"{where}, causal={causal}",
                                 {"attention_mask": mask}, {"causal": causal})
            got = _as_pattern(got, mask, f"{where} with causal={causal}")
            real_rows = mask.bool()[:, :, None].expand_as(got)
            expected = _reference_pattern(mask, causal)
            if not bool((got[real_rows] == expected[real_rows]).all()):
                raise Incorrect(_diagnose_pattern(got, mask, causal, where))
    mask = torch.tensor([[1, 1, 1, 0]])
    with case("a call without causal (the default, causal=False)"):
        try:
            got = attention_pattern(mask.clone())
        except TypeError as error:
            if "causal" not in str(error):
                raise
            raise Incorrect("attention_pattern(attention_mask) without causal should work: keep the default of the "
                            "def line, causal=False.") from None
    got = _as_pattern(got, mask, "a call without causal")
    if not bool(got[0, :3].equal(_reference_pattern(mask, False)[0, :3])):
        raise Incorrect("Called without causal, attention_pattern should give the encoder's pattern "
                        "(causal=False is the default): every real token attends to every real token.")


# ---------------------------------------------------------------------------------------------------
# Concept questions: the key of each is a salted hash of its answer (grading/questions.py)
# ---------------------------------------------------------------------------------------------------

from .questions import single_choice  # noqa: E402 (the questions' helper, next to the questions)

single_choice("02.not_classifier", points=1, answer="answer_02_not_classifier", options="abcd",
    key="177846991801560f",
    hints=[
        "Look at what the encoder returns (section 2 of the lesson): its shape, and whether anything in it is "
        "about the classes of your task.",
        "Where did the Softmax over the vocabulary go after pre-training, and what took its place in lesson 03?",
    ],
    feedback={
        "2ce683d64545fa3d": "the Softmax over the vocabulary belonged to the pre-training head, which is "
                            "discarded; the encoder itself returns vectors, batch x tokens x hidden size "
                            "(lesson 02, section 2).",
        "4c41878df4dced3b": "the direction of attention decides which tokens each vector may see, not whether "
                            "it holds a decision: a causal model's vectors are no more a label than an "
                            "encoder's, and it too needs a head trained on labels.",
        "f9f91751243c1efe": "untrained as a summary is not constant: the [CLS] vector depends on every token of"
                            " the sentence, and lesson 02 shows it move when one word changes. What it lacks is"
                            " a mapping from the vector to the classes.",
    })


single_choice("02.probe", points=1, answer="answer_02_probe", options="abcd",
    key="d4eae8dd6ac98eb5",
    hints=[
        "The probe is trained on frozen vectors: it measures what the encoder already tells apart, not what a "
        "prediction network could learn on top.",
        "If the encoder places a held-out word no nearer to its own group than to the other, which part of the "
        "recipe would have to change for that to be different?",
    ],
    feedback={
        "06bbff46223d6d26": "a deeper network on the same frozen vectors can only use what is in them: if a "
                            "held-out product sits no nearer its own group than the other, no head can place "
                            "it.",
        "58a0b52fffd74ef2": "more sentences with the same seen products teach the probe about those products "
                            "only; the new products are still placed by the encoder alone, which never grouped "
                            "them.",
        "3a6f88c52fe8f8b0": "the same mean-pooled vectors carry polarity over to unseen adjectives, so pooling "
                            "does not hide the word; and masked language modelling never trained the [CLS] "
                            "vector to sum up a sentence.",
    })


single_choice("02.objective", points=1, answer="answer_02_objective", options="abcd",
    key="87170efebc0124a6",
    hints=[
        "In section 4 of lesson 02, when one word near the end of a sentence changed, which vectors moved under"
        " each mask?",
        "Under a causal mask, what does the vector of the first word of an email know about the rest of it?",
    ],
    feedback={
        "951d28d9d0513ee4": "more targets per sentence do not make up for what a causal mask hides: each "
                            "token's vector sees only the words before it, so the early vectors know nothing of"
                            " the rest of the email (lesson 02, section 4).",
        "057811ebf8c76618": "lesson 02 ran the same weights under a causal mask and the vectors changed: the "
                            "objective, and the mask it trains with, decide what each vector can see of the "
                            "sentence.",
        "56426d8b197ed037": "the right objective, for a reason that does not hold: masked language modelling "
                            "puts its loss on the hidden tokens only and never trains the [CLS] vector to sum "
                            "up the sentence (lesson 02, section 3).",
    })
