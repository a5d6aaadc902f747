"""Checks for lesson 10's exercises (exercises/10_from_bert_to_llms_exercises.ipynb): the labels of instruction
tuning, with the loss on the answer only; the DPO loss; and four questions on what each stage of a large language
model's training supplies.

The checks build their inputs by hand (token ids and log-probabilities), so they need no checkpoint, no tokenizer
and under a second.
"""

from __future__ import annotations

import math

from .core import Incorrect, call_unchanged, case, exercise, label_list, what_came_back
from .questions import single_choice

IGNORE = -100

# ---------------------------------------------------------------------------------------------------
# 10.answer_labels
# ---------------------------------------------------------------------------------------------------


def _label_cases():
    # (where, prompt pieces, answer ids, length of the padded row)
    yield "a prompt of one piece", [[2, 15, 16, 17]], [40, 3], 6
    yield "a prompt of several pieces ([CLS], instruction, review, cue)", [[2], [15, 16, 17], [21, 22], [30, 31]], \
        [40, 3], 10
    yield "a row padded to a longer batch", [[2], [15, 16], [30]], [41, 42, 3], 10
    yield "an empty answer", [[2], [15, 16], [30]], [], 5
    yield "an empty piece in the prompt (a review with no text)", [[2], [15, 16], [], [30]], [40, 3], 7
    yield "an answer id equal to a prompt id", [[2], [40, 16], [30]], [40, 3], 6


def _reference_labels(pieces, answer, length):
    prompt = sum((list(p) for p in pieces), [])
    assert len(prompt) + len(answer) <= length, "a case that fits its row"
    labels = [IGNORE] * len(prompt) + list(answer)
    return labels + [IGNORE] * (length - len(labels))


def _explain_labels(got, expected, pieces, answer, length):
    prompt = sum((list(p) for p in pieces), [])
    n, m = len(prompt), len(answer)
    if len(got) != length:
        return (f"{len(got)} labels came back for a row of {length} positions: give one label per position of the "
                f"padded row, the padding's included.")
    if got[:n] == prompt and got[n:n + m] == list(answer):
        return ("the prompt's positions carry their own ids, so the loss would train the model to write the "
                "instruction and the review too; every prompt position gets -100.")
    if m and got[n - 1:n - 1 + m] == list(answer):
        return ("the answer's ids sit one position early: do not shift them, the model shifts them itself (the output "
                "at position t is scored on the label at position t+1), so each label sits at its own token's position.")
    if m and got[n + 1:n + 1 + m] == list(answer):
        return "the answer's ids sit one position late: the answer starts right after the prompt's last token."
    if got[n:n + m] == list(answer) and got[:n] == [IGNORE] * n:
        pad = [x for x in got[n + m:] if x != IGNORE]
        return (f"the padding after the answer holds {pad[0]!r}; padding is not a token to learn, so it gets -100 too."
                if pad else "the padding after the answer should be -100.")
    if len(pieces) > 1 and m:
        short = len(pieces[-1])
        if got[short:short + m] == list(answer) or got[len(pieces[0]):len(pieces[0]) + m] == list(answer):
            return ("the answer starts after one piece of the prompt only; the prompt is all its pieces together, "
                    "so the answer starts after the sum of their lengths.")
    if not m:
        return "with an empty answer there is nothing to learn in this row: every position gets -100."
    return (f"expected {expected}: -100 at the {n} positions of the prompt (all its pieces), then the {m} answer ids, "
            f"then -100 up to {length} positions.")


@exercise("10.answer_labels", points=3, answer="answer_labels", hints=[
    "The prompt is all its pieces one after the other: its length is the sum of the pieces' lengths.",
    "Labels, position by position: -100 for every token of the prompt, the answer's own ids at the answer's "
    "positions (not shifted: the model shifts them itself), then -100 for the padding up to length.",
    "Return a list of plain ints as long as length. If the prompt and the answer together are longer than length, "
    "raise a ValueError that says so.",
])
def check_answer_labels(answer_labels):
    for where, pieces, answer, length in _label_cases():
        expected = _reference_labels(pieces, answer, length)
        got = call_unchanged(answer_labels, "answer_labels", where,
                             {"prompt_pieces": [list(p) for p in pieces], "answer_ids": list(answer), "length": length})
        got = label_list(got, "answer_labels", where, what="Labels are token ids or -100, whole numbers.")
        if got != expected:
            raise Incorrect(f"On {where} (prompt pieces {pieces}, answer {answer}, length {length}): "
                            + _explain_labels(got, expected, pieces, answer, length))
    where = "an example longer than the row (a prompt of 5 tokens and an answer of 2 in 6 positions)"
    try:
        with case(where):
            got = answer_labels([[2, 15, 16], [30, 31]], [40, 3], 6)
    except ValueError:
        return
    except Exception as error:  # noqa: BLE001 (any other exception is the wrong kind)
        raise Incorrect(f"On {where}, answer_labels raised {type(error).__name__}; raise a ValueError that says the "
                        f"example does not fit in length positions.") from None
    raise Incorrect(f"On {where}, answer_labels returned {what_came_back(got)}; an example that does not fit would "
                    f"lose its answer without a word, so raise a ValueError that says so.")


# ---------------------------------------------------------------------------------------------------
# 10.dpo_loss
# ---------------------------------------------------------------------------------------------------

def _dpo_cases():
    # (where, policy chosen, policy rejected, reference chosen, reference rejected, beta)
    yield "the worked example of the notebook", [-1.2], [-0.9], [-1.5], [-0.7], 0.1
    yield "three pairs", [-0.5, -2.0, -3.1], [-2.5, -1.0, -3.0], [-1.0, -1.5, -2.9], [-2.0, -1.2, -3.3], 0.1
    yield "the same three pairs with beta = 0.5", [-0.5, -2.0, -3.1], [-2.5, -1.0, -3.0], [-1.0, -1.5, -2.9], \
        [-2.0, -1.2, -3.3], 0.5
    yield "a policy that equals its reference", [-1.0, -4.0], [-2.0, -0.5], [-1.0, -4.0], [-2.0, -0.5], 0.1
    yield "a pair the policy ranks far worse than its reference (beta times the margin is -400)", \
        [-36.2, -1.0], [-0.2, -1.0], [-0.1, -1.0], [-4.1, -1.0], 10.0


def _reference_dpo(pc, pr, rc, rr, beta):
    total = 0.0
    for a, b, c, d in zip(pc, pr, rc, rr):
        z = beta * ((a - c) - (b - d))
        total += max(-z, 0.0) + math.log1p(math.exp(-abs(z)))  # -log sigmoid(z), computed stably
    return total / len(pc)


def _dpo_variants(pc, pr, rc, rr, beta):
    import torch

    def mean_loss(z):
        return float(-torch.nn.functional.logsigmoid(torch.tensor(z, dtype=torch.float64)).mean())

    n = range(len(pc))
    return {
        "no reference": mean_loss([beta * (pc[i] - pr[i]) for i in n]),
        "chosen and rejected swapped": mean_loss([beta * ((pr[i] - rr[i]) - (pc[i] - rc[i])) for i in n]),
        "no beta": mean_loss([(pc[i] - rc[i]) - (pr[i] - rr[i]) for i in n]),
        "sum": mean_loss([beta * ((pc[i] - rc[i]) - (pr[i] - rr[i])) for i in n]) * len(pc),
        "sign": -mean_loss([beta * ((pc[i] - rc[i]) - (pr[i] - rr[i])) for i in n]),
    }


@exercise("10.dpo_loss", points=2, answer="dpo_loss", hints=[
    "For each pair, how much more the policy likes each answer than the reference does: policy_chosen - "
    "reference_chosen for the preferred one, policy_rejected - reference_rejected for the other.",
    "The margin is the first difference minus the second, times beta; the loss of a pair is -log sigmoid(margin), "
    "and the loss of the batch is the mean over its pairs.",
    "Work with tensors and torch.nn.functional.logsigmoid: torch.log(torch.sigmoid(z)) gives -inf once sigmoid(z) "
    "rounds to 0 (z near -100 in float32). Return a tensor with one number in it.",
])
def check_dpo_loss(dpo_loss):
    import torch

    for where, pc, pr, rc, rr, beta in _dpo_cases():
        tensors = {name: torch.tensor(v) for name, v in
                   (("policy_chosen", pc), ("policy_rejected", pr), ("reference_chosen", rc), ("reference_rejected", rr))}
        got = call_unchanged(dpo_loss, "dpo_loss", where, tensors, {"beta": beta})
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise Incorrect(f"On {where}, dpo_loss should return a tensor holding one number (the mean loss), got "
                            f"{what_came_back(got)}.")
        value = float(got)
        expected = _reference_dpo(pc, pr, rc, rr, beta)
        if math.isfinite(value) and abs(value - expected) <= 1e-4 * max(1.0, abs(expected)):
            continue
        if not math.isfinite(value):
            raise Incorrect(f"On {where}, dpo_loss gave {value}, where the loss is {expected:.4f}: log(sigmoid(z)) "
                            f"rounds to log(0) for a very negative z; torch.nn.functional.logsigmoid(z) computes it "
                            f"without rounding.")
        for name, wrong in _dpo_variants(pc, pr, rc, rr, beta).items():
            if abs(value - wrong) <= 1e-4 * max(1.0, abs(wrong)):
                why = {
                    "no reference": "the reference model's log-probabilities are missing: DPO scores how much more "
                                    "the policy likes each answer than the reference does.",
                    "chosen and rejected swapped": "the preferred and the rejected answer are swapped: the loss "
                                                   "should fall as the policy moves towards the preferred answer.",
                    "no beta": "beta is missing: it multiplies the margin before the sigmoid.",
                    "sum": "the losses of the pairs are summed; the batch's loss is their mean.",
                    "sign": "the sign is wrong: the loss is -log sigmoid(margin), a positive number.",
                }[name]
                raise Incorrect(f"On {where}, dpo_loss gave {value:.4f} where the loss is {expected:.4f}: {why}")
        raise Incorrect(f"On {where}, dpo_loss gave {value:.4f}; the loss is {expected:.4f}, the mean over the pairs of "
                        f"-log sigmoid(beta * ((policy_chosen - reference_chosen) - (policy_rejected - "
                        f"reference_rejected))).")


# ---------------------------------------------------------------------------------------------------
# The questions
# ---------------------------------------------------------------------------------------------------

single_choice("10.knowledge", points=1, answer="answer_10_knowledge", options="abcd", key="0ed66ad0587f816a",
    hints=[
        "Which of the model's training data ever held a held-out word: the instruction examples, or the text it was "
        "pre-trained on?",
        "Lesson 10's comparison: the two rows were tuned on the same examples for the same steps, each at the rate the "
        "same grid chose for it; what sets them apart is where they started.",
    ],
    feedback={
        "7e91962b0bede5f5": "the model tuned from random weights learned the same rule from the same examples, and "
                            "it answered the reviews with held-out words no better than chance: a rule learned on the "
                            "seen words reaches a new word only through what the model already knew of it.",
        "2e6897c235ee87c8": "the answer-only loss gives every prompt position -100, so the model is scored on the "
                            "answer alone; and no instruction example holds a held-out word, whatever the loss.",
        "216841b4ee19ad00": "the model tuned from random weights read the same wording and still answered the "
                            "held-out words no better than chance: the wording names the answers, it does not say "
                            "what a word it never met means.",
    })

single_choice("10.tuning_changes", points=1, answer="answer_10_tuning_changes", options="abcd",
    key="61f711f7fef481f6",
    hints=[
        "Count the parameters of the model before and after instruction tuning, and look at what it writes after "
        "'answer :' in each.",
        "Lesson 10 tunes a copy of the pre-trained causal model with AdamW on all its parameters, with the loss on "
        "the answer's tokens.",
    ],
    feedback={
        "b68d730cad5fdc90": "no layer is added: the answer is written by the same output layer that predicts every "
                            "next token, and every weight of the model is trained; that is what sets it apart from "
                            "a classifier's new ω.",
        "fd39b0568b5ed73c": "lesson 10's AdamW updates every parameter of the model, the layers that read the review "
                            "included, not only the answer words' embeddings.",
        "ec33ca2bc6226956": "the same prompts, 'answer :' included, got no answer from the pre-trained model before "
                            "tuning; tuning changed its weights, and only then did it write the answers.",
    })

single_choice("10.alignment", points=1, answer="answer_10_alignment", options="abcd", key="62ca0f32dfb2b16d",
    hints=[
        "InstructGPT's three steps (Ouyang et al. 2022): which one comes first, and which model does the last one "
        "start from?",
        "Look at the columns of lesson 10's preference pairs, and at what the DPO loss compares.",
    ],
    feedback={
        "747d8158083c27aa": "preference tuning compares a model's answers to prompts, so it needs a model that "
                            "already answers: it comes after instruction tuning, and its data are pairs of answers, "
                            "not marked sentences of a corpus.",
        "9f45e4330d84eea3": "one right answer per prompt is instruction tuning's data; preference data hold two "
                            "answers per prompt and which one a person preferred, and the loss compares the two.",
        "bad6378911de4ea0": "without a human judgment there is nothing to prefer: RLHF's reward model is trained "
                            "on people's comparisons, and DPO's loss reads them directly; both start from the "
                            "instruction-tuned model.",
    })

single_choice("10.prompt_alone", points=1, answer="answer_10_prompt_alone", options="abcd", key="f314fe7574eac310",
    hints=[
        "What did lesson 10's pre-trained model write after the instructions, before any tuning, though each "
        "instruction named its answers?",
        "Lesson 10's last section: what did GPT-3 and FLAN show about prompts alone, and at what size?",
    ],
    feedback={
        "4abfaae24bfa0e00": "naming the topics does not make a model choose well: made to choose among the answer "
                            "words after such an instruction, lesson 10's pre-trained model was at chance.",
        "8736eb4d65199ad6": "the number of labels alone does not settle it: a large model prompted with a "
                            "description or a few examples can do well enough (GPT-3, FLAN) with labels at hand, and "
                            "lesson 07's small prompt was no worse than fine-tuning on 8 labels; only measuring both on "
                            "validation tells.",
        "cb4d2ae44465632c": "FLAN's instruction tuning helped unseen tasks only at its largest sizes and hurt them at "
                            "8B parameters and fewer; lesson 10's small tuned model did not even carry its own tasks "
                            "reliably to a new wording.",
    })
