"""Tasks given in words, instruction tuning and a preference-tuning step for the tiny causal model (lesson 10).

Lesson 07 prompts the course's tiny GPT-2-style model (``utils.causal_lm``) with a cloze template. This
module gives it tasks the way large language models are given them: an *instruction* in words, the input,
and an answer the model writes::

    is this review positive or negative ? review : the plot was superb . answer : positive [SEP]

* ``make_instructions`` builds such examples for several tasks (a review's sentiment, the part of the
  product it talks about, whether two reviews agree), each task asked in several wordings. Its ``train``
  and ``validation`` splits use only the *seen* sentiment words of ``utils.data``; ``test`` only the
  held-out ones, which the model met in the unlabeled corpus alone.
* ``answer_only_labels`` is the loss mask of instruction tuning: the model is scored on the answer's
  tokens only; every position of the prompt gets -100, as the unchosen positions of lesson 01's masked
  language modelling do. ``instruction_tune`` is the training loop.
* ``generate_answers`` writes the model's answers (greedy, stopping at ``[SEP]``), and
  ``answer_accuracy`` compares them with the expected ones word for word.
* ``dpo_loss`` is the objective of direct preference optimisation (Rafailov et al. 2023), ``preference_pairs``
  builds pairs of a preferred and a rejected answer from the course's data, ``preference_tune`` trains on
  them against a frozen reference model, and ``win_rate`` measures how often a model's answer is the
  preferred one on prompts it was not tuned on.
* ``save_for_pipeline`` saves a tuned model where ``transformers.pipeline("text-generation")`` loads it.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean

import datasets
import torch
from transformers import GPT2LMHeadModel, get_linear_schedule_with_warmup

from . import config as cfg
from .causal_lm import CHECKPOINT_NAME, load_or_pretrain_causal, pretrain_causal, tiny_gpt_config, with_causal_loss
from .data import ASPECTS, INTENSIFIERS, PRODUCTS, label_words, make_corpus
from .pretraining import IGNORE_INDEX, take_step

# ---------------------------------------------------------------------------------------------------
# The tasks, each asked in several wordings
# ---------------------------------------------------------------------------------------------------

INSTRUCT_MODEL_NAME = "tiny-gpt-instruct"
ANSWER_CUE = "answer :"
# For each task: the wordings of its instruction used in tuning, and one kept back, never tuned on.
WORDINGS = {
    "sentiment": ["is this review good or bad ?", "what is the sentiment of the review ?",
                  "does the reviewer like it ? say good or bad ."],
    "aspect": ["which part does the review talk about ?", "what part of the product is reviewed ?",
               "name the part the review is about ."],
    "agreement": ["do the two reviews agree ?", "are both reviews of the same opinion ?",
                  "do these reviewers feel the same way ? say yes or no ."],
}
UNSEEN_WORDINGS = {
    "sentiment": "tell me how the reviewer felt : good or bad ?",
    "aspect": "tell me which part the reviewer means .",
    "agreement": "tell me if the two reviewers share one opinion .",
}
SENTIMENT_ANSWERS = {"negative": "bad", "positive": "good"}
OPTIONS = {"sentiment": ["bad", "good"], "aspect": list(ASPECTS), "agreement": ["no", "yes"]}
TASKS = tuple(WORDINGS)


def _plain_review(rng: random.Random, words: dict[str, list[str]], polarity: str) -> tuple[str, str]:
    """One short review with one opinion word of ``polarity`` and one part of the product; returns
    ``(text, part)``."""
    product, aspect, very = rng.choice(PRODUCTS), rng.choice(ASPECTS), rng.choice(INTENSIFIERS)
    word = rng.choice(words[polarity])
    text = rng.choice([
        f"the {aspect} of this {product} was {very}{word} .",
        f"i found the {aspect} {very}{word} .",
        f"honestly , the {aspect} felt {very}{word} .",
        f"the {product} has {'an' if (very + word)[0] in 'aeiou' else 'a'} {very}{word} {aspect} .",
        f"the {aspect} was {very}{word} .",
    ])
    return text, aspect


def of_task(examples: datasets.Dataset, task: str) -> datasets.Dataset:
    """The rows of ``examples`` that ask ``task``, in their order."""
    return examples.select([i for i, t in enumerate(examples["task"]) if t == task])


def instruction_prompt(instruction: str, review: str, second_review: str | None = None) -> str:
    """The prompt of one example: the instruction, the input, and the cue after which the answer comes."""
    if second_review is None:
        return f"{instruction} review : {review} {ANSWER_CUE}"
    return f"{instruction} first review : {review} second review : {second_review} {ANSWER_CUE}"


def _example(rng: random.Random, task: str, part: str, wording: str) -> dict:
    words = label_words("polarity", part)
    polarity = rng.choice(["negative", "positive"])
    review, aspect = _plain_review(rng, words, polarity)
    if task == "sentiment":
        return {"task": task, "prompt": instruction_prompt(wording, review), "answer": SENTIMENT_ANSWERS[polarity]}
    if task == "aspect":
        return {"task": task, "prompt": instruction_prompt(wording, review), "answer": aspect}
    if task == "agreement":
        agree = rng.random() < 0.5
        other = polarity if agree else {"negative": "positive", "positive": "negative"}[polarity]
        second, _ = _plain_review(rng, words, other)
        return {"task": task, "prompt": instruction_prompt(wording, review, second), "answer": "yes" if agree else "no"}
    raise ValueError(f"Unknown task {task!r}. Choose one of: {', '.join(TASKS)}.")


def make_instructions(*, seed: int = 0, tasks: Sequence[str] = TASKS, train_size: int = 3000,
                      validation_size: int = 300, test_size: int = 600, unseen_wording: bool = False
                      ) -> datasets.DatasetDict:
    """Instruction examples: columns ``task``, ``prompt`` and ``answer``. ``train`` and ``validation`` use the
    seen sentiment words, ``test`` only the held-out ones; the tasks take turns. With ``unseen_wording``
    every split asks each task in its kept-back wording (``UNSEEN_WORDINGS``) instead of the tuning ones."""
    for task in tasks:
        if task not in WORDINGS:
            raise ValueError(f"Unknown task {task!r}. Choose one of: {', '.join(TASKS)}.")
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    for split, size in sizes.items():
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"{split}_size must be a positive whole number, got {size!r}.")
    splits = {}
    for offset, (split, size) in enumerate(sizes.items()):
        rng = random.Random(f"instructions-{seed}-{offset}-{unseen_wording}")
        part = "held_out" if split == "test" else "seen"
        rows = []
        for i in range(size):
            task = tasks[i % len(tasks)]
            wording = UNSEEN_WORDINGS[task] if unseen_wording else rng.choice(WORDINGS[task])
            rows.append(_example(rng, task, part, wording))
        splits[split] = datasets.Dataset.from_list(rows)
    return datasets.DatasetDict(splits)


# ---------------------------------------------------------------------------------------------------
# The loss on the answer only
# ---------------------------------------------------------------------------------------------------

def encode_example(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids of one example, ``[CLS] prompt answer [SEP]``, and its labels: -100 at the prompt's
    positions (``[CLS]`` included), the answer's ids and ``[SEP]`` after it, so the model learns to say the
    answer and then stop."""
    prompt_ids = [tokenizer.cls_token_id] + tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    return prompt_ids + answer_ids, answer_only_labels(prompt_ids, answer_ids)


def answer_only_labels(prompt_ids: Sequence[int], answer_ids: Sequence[int], pad_to: int | None = None) -> list[int]:
    """The labels of ``prompt_ids + answer_ids``: -100 (skipped by the loss) at every prompt position, the
    answer's ids at its own; padded with -100 up to ``pad_to`` positions when given."""
    labels = [IGNORE_INDEX] * len(prompt_ids) + list(answer_ids)
    if pad_to is not None:
        if pad_to < len(labels):
            raise ValueError(f"pad_to={pad_to} is shorter than the example ({len(labels)} tokens).")
        labels += [IGNORE_INDEX] * (pad_to - len(labels))
    return labels


def _batch(rows: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row_ids, row_labels) in enumerate(rows):
        ids[i, :len(row_ids)] = torch.tensor(row_ids)
        labels[i, :len(row_labels)] = torch.tensor(row_labels)
        attention[i, :len(row_ids)] = 1
    return ids, attention, labels


def answer_loss(model: GPT2LMHeadModel, ids: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the labeled positions, each predicted from the tokens before it (what
    ``model(input_ids, labels=labels).loss`` computes)."""
    logits = model(input_ids=ids, attention_mask=attention).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                             ignore_index=IGNORE_INDEX)


# Lesson 07's causal model is pre-trained for 250 steps, enough for its prompts. Instruction tuning reached the
# held-out words from it on the course's pre-training, but not on another (seed 7: 0.59 on held-out sentiment,
# against 1.0 after 1,000 steps of pre-training), so lesson 10 pre-trains the same model four times as long.
PRETRAIN_STEPS = 1000
INSTRUCT_STEPS = 450
INSTRUCT_BATCH_SIZE = 32
INSTRUCT_GRID = (3e-4, 1e-3, 3e-3)
# The rows of lesson 10's comparison: the same instruction examples, steps and grid for each; they differ in
# where the model starts. "another pre-training" is the same recipe run again on another draw of the
# corpus from another initialisation (ANOTHER_PRETRAINING_SEED), with the course's tokenizer.
ROWS = ("pre-trained", "another pre-training", "from scratch")
ANOTHER_PRETRAINING_SEED = 7


def instruction_tune(model: GPT2LMHeadModel, tokenizer, examples: datasets.Dataset, *, lr: float,
                     steps: int = INSTRUCT_STEPS, batch_size: int = INSTRUCT_BATCH_SIZE, seed: int = cfg.SEED,
                     progress: bool = True) -> dict:
    """Instruction tuning: ``steps`` AdamW steps on the answer tokens of ``examples`` (columns ``prompt`` and
    ``answer``). Changes ``model`` in place; returns the history (per-step ``train_loss``, ``seconds``)."""
    if len(examples) == 0:
        raise ValueError("There are no instruction examples to tune on (see make_instructions).")
    encoded = [encode_example(tokenizer, p, a) for p, a in zip(examples["prompt"], examples["answer"])]
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    history = {"train_loss": []}
    start = time.perf_counter()
    order: list[int] = []
    for _ in cfg.progress_bar(range(steps), enabled=progress, desc="instruction tuning"):
        if len(order) < batch_size:
            order += torch.randperm(len(encoded), generator=generator).tolist()
        batch, order = order[:batch_size], order[batch_size:]
        ids, attention, labels = _batch([encoded[i] for i in batch], tokenizer.pad_token_id)
        loss = answer_loss(model, ids, attention, labels)
        take_step(model, loss, optimizer, schedule)
        history["train_loss"].append(loss.item())
    history["seconds"] = time.perf_counter() - start
    model.eval()
    return history


def load_pretrained(*, seed: int | None = None, progress: bool = True):
    """Lesson 10's pre-trained causal model: lesson 07's recipe run for ``PRETRAIN_STEPS`` steps, cached in
    ``artifacts/tiny-gpt-clm-1000-steps/``. Returns ``(model, tokenizer, history)``."""
    directory = cfg.artifacts_dir() / f"{CHECKPOINT_NAME}-{PRETRAIN_STEPS}-steps"
    return load_or_pretrain_causal(seed=seed, steps=PRETRAIN_STEPS, directory=directory, progress=progress)


def starting_model(row: str, tokenizer, pretrained: GPT2LMHeadModel | None = None, *,
                   progress: bool = False) -> GPT2LMHeadModel:
    """A fresh copy of the model row ``row`` starts from: the pre-trained causal model (``pretrained``, copied;
    :func:`load_pretrained`), the same recipe pre-trained again with ``ANOTHER_PRETRAINING_SEED``, or a randomly
    initialised model of the same shape (seeded with ``ANOTHER_PRETRAINING_SEED`` too, so every run of a row
    starts alike)."""
    if row == "pre-trained":
        if pretrained is None:
            raise ValueError("The 'pre-trained' row starts from the course's causal model: pass it as pretrained=.")
        return copy.deepcopy(pretrained)
    if row not in ROWS:
        raise ValueError(f"Unknown row {row!r}. Choose one of: {', '.join(ROWS)}.")
    torch.manual_seed(ANOTHER_PRETRAINING_SEED)
    model = with_causal_loss(GPT2LMHeadModel(tiny_gpt_config(tokenizer)))
    if row == "another pre-training":
        corpus = make_corpus(cfg.get_profile().corpus_sentences, seed=ANOTHER_PRETRAINING_SEED)["text"]
        pretrain_causal(model, tokenizer, corpus, steps=PRETRAIN_STEPS, seed=ANOTHER_PRETRAINING_SEED, progress=progress)
    return model.eval()


def accuracy_by_task(model: GPT2LMHeadModel, tokenizer, examples: datasets.Dataset) -> dict[str, float]:
    """The share of right answers (word for word) of each task in ``examples``."""
    answers = generate_answers(model, tokenizer, examples["prompt"])
    out = {}
    for task in dict.fromkeys(examples["task"]):
        rows = [i for i, t in enumerate(examples["task"]) if t == task]
        out[task] = sum(answers[i] == examples["answer"][i] for i in rows) / len(rows)
    return out


def run_row(start: GPT2LMHeadModel, tokenizer, examples: datasets.DatasetDict, *, lr: float, seed: int,
            steps: int = INSTRUCT_STEPS, splits: Sequence[str] = ("validation", "test"),
            progress: bool = False) -> tuple[GPT2LMHeadModel, dict]:
    """Instruction-tune a copy of ``start`` on ``examples['train']`` and score it on ``splits``: returns
    ``(model, {split: {task: accuracy}, 'history': ...})``."""
    model = copy.deepcopy(start)
    history = instruction_tune(model, tokenizer, examples["train"], lr=lr, steps=steps, seed=seed, progress=progress)
    result = {split: accuracy_by_task(model, tokenizer, examples[split]) for split in splits}
    return model, {**result, "history": history}


def choose_learning_rates(pretrained: GPT2LMHeadModel, tokenizer, examples: datasets.DatasetDict, *,
                          seeds: Sequence[int] = (cfg.SEED,), spread: bool = False,
                          rows: Sequence[str] = ROWS, grid: Sequence[float] = INSTRUCT_GRID) -> dict:
    """For each row: the mean validation accuracy over the tasks at each rate of ``grid`` (first seed), the
    rate with the best, and with ``spread`` every seed's validation and test accuracies at that rate; the
    test split is read only then. The record ``python -m utils.learning_rates --choose '10 instructions'`` writes."""
    found = {}
    for row in rows:
        start = starting_model(row, tokenizer, pretrained)
        scores = {lr: fmean(run_row(start, tokenizer, examples, lr=lr, seed=seeds[0], splits=("validation",))[1]
                           ["validation"].values()) for lr in grid}
        chosen = max(scores, key=scores.get)
        found[row] = {"grid": {lr: round(v, 4) for lr, v in scores.items()}, "chosen": chosen}
        if spread:
            runs = [run_row(start, tokenizer, examples, lr=chosen, seed=seed)[1] for seed in seeds]
            found[row]["validation"] = [round(fmean(r["validation"].values()), 4) for r in runs]
            found[row]["test"] = [round(r["test"]["sentiment"], 4) for r in runs]
            found[row]["test_by_task"] = [{t: round(a, 4) for t, a in r["test"].items()} for r in runs]
    return found


# ---------------------------------------------------------------------------------------------------
# Asking: the answers the model writes
# ---------------------------------------------------------------------------------------------------

@torch.no_grad()
def generate_answers(model: GPT2LMHeadModel, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 8,
                     batch_size: int = 256) -> list[str]:
    """The model's greedy answer to each prompt: the tokens it writes after the prompt, up to ``[SEP]`` or
    ``max_new_tokens``, joined back into words. Prompts are padded on the left, with positions counted from
    each prompt's first token, so a batch gives each prompt the answer it gets alone."""
    model.eval()
    answers = []
    for start in range(0, len(prompts), batch_size):
        rows = [[tokenizer.cls_token_id] + tokenizer(p, add_special_tokens=False)["input_ids"]
                for p in prompts[start:start + batch_size]]
        width = max(len(r) for r in rows)
        room = model.config.n_positions - max_new_tokens
        if width > room:
            raise ValueError(f"A prompt has {width} tokens; the model reads at most {model.config.n_positions}, so with "
                             f"max_new_tokens={max_new_tokens} a prompt may have {room}. Shorten it.")
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.tensor(r)
            attention[i, width - len(r):] = 1
        written = [[] for _ in rows]
        done = torch.zeros(len(rows), dtype=torch.bool)
        for _ in range(max_new_tokens):
            positions = (attention.cumsum(1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits[:, -1]
            nxt = logits.argmax(-1)
            for i, token in enumerate(nxt.tolist()):
                if not done[i]:
                    if token == tokenizer.sep_token_id:
                        done[i] = True
                    else:
                        written[i].append(token)
            if done.all():
                break
            ids = torch.cat([ids, nxt[:, None]], 1)
            attention = torch.cat([attention, torch.ones_like(nxt)[:, None]], 1)
        answers += [tokenizer.decode(w, skip_special_tokens=True).strip() for w in written]
    return answers


def answer_accuracy(model: GPT2LMHeadModel, tokenizer, examples: datasets.Dataset) -> float:
    """The share of ``examples`` whose written answer is the expected answer, word for word."""
    answers = generate_answers(model, tokenizer, examples["prompt"])
    return sum(a == b for a, b in zip(answers, examples["answer"])) / len(answers)


@torch.no_grad()
def option_scores(model: GPT2LMHeadModel, tokenizer, prompts: Sequence[str], options: Sequence[str]) -> torch.Tensor:
    """Log-probability of each option (followed by ``[SEP]``) after each prompt: a tensor (prompts, options)."""
    model.eval()
    return torch.stack([torch.cat([answer_log_probs(model, tokenizer, prompts[i:i + 256], [option] * len(prompts[i:i + 256]))
                                   for i in range(0, len(prompts), 256)]) for option in options], dim=1)


# ---------------------------------------------------------------------------------------------------
# Preference tuning: direct preference optimisation (DPO)
# ---------------------------------------------------------------------------------------------------

# Wordings of the sentiment question used only in the preference pairs: neither instruction tuning nor the
# evaluation (which asks in UNSEEN_WORDINGS) uses them.
PREFERENCE_WORDINGS = ["was the reviewer happy ? good or bad ?", "how did the reviewer find it , good or bad ?",
                       "give the review's verdict : good or bad .", "what did the reviewer think ? good or bad ?",
                       "is the opinion in this review good or bad ?", "sum up the review in one word , good or bad ."]


def preference_pairs(*, seed: int = 0, size: int = 400, part: str = "seen",
                     wordings: Sequence[str] = tuple(PREFERENCE_WORDINGS)) -> datasets.Dataset:
    """Pairs of answers to one prompt, one preferred (``chosen``) and one not (``rejected``): columns ``prompt``,
    ``chosen``, ``rejected``. Each prompt asks for a review's sentiment in one of ``wordings``; the preferred
    answer is the right sentiment word, the rejected one an answer a person would not want: the wrong
    sentiment, or an answer of another task ("yes", "no", the part of the product), the kinds of answer the
    instruction-tuned model gives to a wording it was not tuned on. ``part`` picks the opinion words."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive whole number, got {size!r}.")
    if not wordings:
        raise ValueError("Give at least one wording of the sentiment question.")
    rng = random.Random(f"preferences-{seed}-{part}")
    words = label_words("polarity", part)
    rows = []
    for _ in range(size):
        polarity = rng.choice(["negative", "positive"])
        review, aspect = _plain_review(rng, words, polarity)
        other = {"negative": "positive", "positive": "negative"}[polarity]
        rows.append({"prompt": instruction_prompt(rng.choice(list(wordings)), review),
                     "chosen": SENTIMENT_ANSWERS[polarity],
                     "rejected": rng.choice([SENTIMENT_ANSWERS[other], "yes", "no", aspect])})
    return datasets.Dataset.from_list(rows)


def answer_log_probs(model: GPT2LMHeadModel, tokenizer, prompts: Sequence[str], answers: Sequence[str]) -> torch.Tensor:
    """log p(answer [SEP] | prompt) for each pair, summed over the answer's tokens; with gradients."""
    ids, attention, labels = _batch([encode_example(tokenizer, p, a) for p, a in zip(prompts, answers)],
                                    tokenizer.pad_token_id)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1]
    target = labels[:, 1:]
    logp = logits.log_softmax(-1).gather(-1, target.clamp(min=0)[..., None])[..., 0]
    return (logp * (target != IGNORE_INDEX)).sum(1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """The DPO loss of Rafailov et al. (2023), averaged over pairs:

        -log sigmoid( beta * [ (log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x)) ] )

    with y_w the preferred answer and y_l the rejected one; each argument holds one log-probability per
    pair. The reference model's log-probabilities anchor the policy: only how far it moves away from the
    reference counts, and ``beta`` sets how dearly moving away is paid for."""
    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return -torch.nn.functional.logsigmoid(beta * margin).mean()


DPO_STEPS = 60
DPO_BATCH_SIZE = 32
DPO_LR = 3e-4
DPO_BETA = 0.5


def preference_tune(model: GPT2LMHeadModel, tokenizer, pairs: datasets.Dataset, *, beta: float = DPO_BETA,
                    lr: float = DPO_LR, steps: int = DPO_STEPS, batch_size: int = DPO_BATCH_SIZE,
                    seed: int = cfg.SEED, progress: bool = True) -> tuple[GPT2LMHeadModel, dict]:
    """DPO on ``pairs`` (columns ``prompt``, ``chosen``, ``rejected``). The reference is a frozen copy of
    ``model`` as it is now (the instruction-tuned model); ``model`` is trained. Returns ``(reference,
    history)``, the history holding the per-step ``loss`` and ``seconds``."""
    if len(pairs) == 0:
        raise ValueError("There are no preference pairs to tune on (see preference_pairs).")
    reference = copy.deepcopy(model).eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    history = {"loss": []}
    start = time.perf_counter()
    order: list[int] = []
    model.train()
    for _ in cfg.progress_bar(range(steps), enabled=progress, desc="preference tuning"):
        if len(order) < batch_size:
            order += torch.randperm(len(pairs), generator=generator).tolist()
        batch, order = pairs[order[:batch_size]], order[batch_size:]
        with torch.no_grad():
            ref_w = answer_log_probs(reference, tokenizer, batch["prompt"], batch["chosen"])
            ref_l = answer_log_probs(reference, tokenizer, batch["prompt"], batch["rejected"])
        loss = dpo_loss(answer_log_probs(model, tokenizer, batch["prompt"], batch["chosen"]),
                        answer_log_probs(model, tokenizer, batch["prompt"], batch["rejected"]), ref_w, ref_l, beta)
        take_step(model, loss, optimizer)
        history["loss"].append(loss.item())
    history["seconds"] = time.perf_counter() - start
    model.eval()
    return reference, history


def win_rate(model: GPT2LMHeadModel, tokenizer, pairs: datasets.Dataset) -> float:
    """The share of ``pairs`` whose prompt the model answers with the preferred answer, word for word."""
    answers = generate_answers(model, tokenizer, pairs["prompt"])
    return sum(a == b for a, b in zip(answers, pairs["chosen"])) / len(pairs)


# ---------------------------------------------------------------------------------------------------
# Wordings, combinations and examples in the prompt
# ---------------------------------------------------------------------------------------------------

def choice_accuracy(model: GPT2LMHeadModel, tokenizer, examples: datasets.Dataset) -> float:
    """The share of ``examples`` whose expected answer the model scores above the task's other answers
    (``OPTIONS``): what it would answer if it had to choose among them."""
    right = 0
    for task in dict.fromkeys(examples["task"]):
        rows = [i for i, t in enumerate(examples["task"]) if t == task]
        scores = option_scores(model, tokenizer, [examples["prompt"][i] for i in rows], OPTIONS[task])
        picked = [OPTIONS[task][j] for j in scores.argmax(1).tolist()]
        right += sum(p == examples["answer"][i] for p, i in zip(picked, rows))
    return right / len(examples)


def wording_table(model: GPT2LMHeadModel, tokenizer, *, size: int = 60, part: str = "seen",
                  seed: int = cfg.SEED) -> list[dict]:
    """For each task and each of its wordings (the tuning ones and the kept-back one), ``size`` examples with
    ``part``'s opinion words: the share whose written answer is right, the share written in one of the task's
    answer words, and the share whose expected answer scores above the task's other answers."""
    rows = []
    for task in TASKS:
        for wording in WORDINGS[task] + [UNSEEN_WORDINGS[task]]:
            rng = random.Random(f"wordings-{seed}-{task}-{wording}")
            examples = datasets.Dataset.from_list([_example(rng, task, part, wording) for _ in range(size)])
            answers = generate_answers(model, tokenizer, examples["prompt"])
            rows.append({"task": task, "wording": wording, "tuned on it": wording in WORDINGS[task],
                         "written answer right": sum(a == b for a, b in zip(answers, examples["answer"])) / size,
                         "written in the task's answer words": sum(a in OPTIONS[task] for a in answers) / size,
                         "right when choosing among them": choice_accuracy(model, tokenizer, examples)})
    return rows


COMBINATION_WORDING = "is the first review good or bad ?"


def combination_examples(*, size: int = 200, part: str = "held_out", seed: int = cfg.SEED) -> datasets.Dataset:
    """A task combination never tuned on: the sentiment task asked about the first of two reviews (the input of
    the agreement task). The two reviews always disagree, so the answer is the first review's sentiment and
    not the second's."""
    rng = random.Random(f"combination-{seed}-{part}")
    words = label_words("polarity", part)
    rows = []
    for _ in range(size):
        polarity = rng.choice(["negative", "positive"])
        other = {"negative": "positive", "positive": "negative"}[polarity]
        first, second = _plain_review(rng, words, polarity)[0], _plain_review(rng, words, other)[0]
        rows.append({"task": "sentiment", "prompt": instruction_prompt(COMBINATION_WORDING, first, second),
                     "answer": SENTIMENT_ANSWERS[polarity]})
    return datasets.Dataset.from_list(rows)


def few_shot_examples(*, shots: int = 2, size: int = 200, part: str = "held_out",
                      seed: int = cfg.SEED) -> datasets.Dataset:
    """The sentiment task in-context: ``shots`` solved examples (seen words, half of each answer) written in
    the prompt before the review to answer (``part``'s words), as GPT-3 was prompted (Brown et al. 2020)."""
    rng = random.Random(f"few-shot-{seed}-{shots}-{part}")
    seen, words = label_words("polarity", "seen"), label_words("polarity", part)
    wording = WORDINGS["sentiment"][0]
    rows = []
    for _ in range(size):
        polarities = ["negative", "positive"] * (shots // 2) + ["positive"] * (shots % 2)
        rng.shuffle(polarities)
        solved = [instruction_prompt(wording, _plain_review(rng, seen, p)[0]) + f" {SENTIMENT_ANSWERS[p]} ."
                  for p in polarities]
        polarity = rng.choice(["negative", "positive"])
        prompt = " ".join(solved + [instruction_prompt(wording, _plain_review(rng, words, polarity)[0])])
        rows.append({"task": "sentiment", "prompt": prompt, "answer": SENTIMENT_ANSWERS[polarity]})
    return datasets.Dataset.from_list(rows)


def save_for_pipeline(model: GPT2LMHeadModel, tokenizer, directory: str | Path | None = None) -> Path:
    """Save ``model`` and ``tokenizer`` where ``pipeline("text-generation", model=directory)`` loads them and,
    called with ``add_special_tokens=False``, answers as :func:`generate_answers` does: the pipeline writes
    ``[CLS]`` before the prompt (the config's ``prefix``; every training sequence starts with it), decodes
    greedily and stops at ``[SEP]``. Without ``add_special_tokens=False`` the BERT tokenizer would also end the
    prompt with ``[SEP]``, which ends the answer before it starts."""
    directory = Path(directory) if directory is not None else cfg.artifacts_dir() / INSTRUCT_MODEL_NAME
    directory.mkdir(parents=True, exist_ok=True)
    model.config.prefix = tokenizer.cls_token + " "
    model.generation_config.update(do_sample=False, max_new_tokens=8, eos_token_id=tokenizer.sep_token_id,
                                   pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
