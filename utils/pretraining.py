"""Self-supervised pre-training by masked language modelling (lesson 01).

``mask_tokens`` is the masking rule written out by hand; lesson 01 and the tests show it agrees with
``transformers.DataCollatorForLanguageModeling``. ``pretrain`` is the training loop, and
``load_or_pretrain`` caches its result in ``artifacts/tiny-bert-mlm/`` in Hugging Face format, so that
``transformers.pipeline("fill-mask", model="artifacts/tiny-bert-mlm")`` loads it. ``masked_token_scores``
scores the guesses at each kind of chosen position apart ([MASK], random, unchanged), and
``adjective_kinship`` measures, during pre-training, how far the model has grouped the polarity words.

Build the checkpoint from a shell with ``python -m utils.pretraining``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertForMaskedLM, get_wsd_schedule

from . import config as cfg
from .data import label_words, make_corpus
from .models import build_mlm_model, check_vocabulary, count_parameters, tiny_bert_config
from .tokenization import train_tokenizer

CHECKPOINT_NAME = "tiny-bert-mlm"
SETTINGS_FILE = "workbook_settings.json"
HISTORY_FILE = "pretraining_history.json"
IGNORE_INDEX = -100  # label value the cross-entropy loss skips
# The version of the training recipe (batching, loss, optimizer, schedule), saved with a checkpoint's settings:
# a checkpoint made by an older recipe is trained again rather than loaded.
RECIPE = 2
# Every this many optimizer steps (and before the first), load_or_pretrain records how far pre-training has
# grouped the polarity adjectives (adjective_kinship); lesson 01 plots it. Reading it changes no weight.
PROBE_EVERY = 50
# The frames of adjective_kinship's blank: a held-out adjective, "and", then the blank to fill.
KINSHIP_FRAMES = ("the plot was {} and [MASK] .", "the acting was {} and [MASK] .",
                  "the service was {} and [MASK] .", "the design was {} and [MASK] .")
# The kinds of chosen position, told apart by what the model reads there (masked_token_scores).
KINDS = ("[MASK]", "random", "unchanged")


def mask_tokens(input_ids: torch.Tensor, tokenizer, mlm_probability: float = 0.15,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking rule. Returns ``(masked_input_ids, labels)``.

    Each non-special token is chosen with probability ``mlm_probability``. Of the chosen tokens, 80 %
    are replaced by ``[MASK]``, 10 % by a random token and 10 % are left unchanged; the model must
    predict the original token at every chosen position. ``labels`` holds the original id there and
    -100 (ignored by the loss) everywhere else.
    """
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mlm_probability must be between 0 and 1, got {mlm_probability}.")
    labels = input_ids.clone()
    special = torch.tensor(
        [tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True) for row in input_ids.tolist()],
        dtype=torch.bool)
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~special
    labels[~chosen] = IGNORE_INDEX

    masked = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (roll < 0.8)
    to_random = chosen & (roll >= 0.8) & (roll < 0.9)  # the last 10 % stay as they are
    masked[to_mask] = tokenizer.mask_token_id
    random_ids = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
    masked[to_random] = random_ids[to_random]
    return masked, labels


def batch_order(lengths: list[int], batch_size: int, generator: torch.Generator, group_by_length: bool = False,
                group: int = 50) -> list[list[int]]:
    """One epoch's batches, as lists of example indices, in a random order drawn from ``generator``.

    With ``group_by_length`` the shuffled examples are cut into groups of ``group`` batches and sorted by
    length within each group, so a batch holds examples of similar length and little of it is padding;
    the batches are then shuffled. Every example is still seen once per epoch. It is the idea of the
    ``group_by_length`` option of transformers' Trainer."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if not group_by_length:
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    size = batch_size * group
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start:start + size], key=lambda i: lengths[i])
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def padded_batches(encoded: list[list[int]], batch_size: int, pad_id: int, generator: torch.Generator,
                   group_by_length: bool = False):
    """Endless shuffled batches of token ids, padded to the longest sequence in the batch. With
    ``group_by_length`` each batch holds sentences of similar length (:func:`batch_order`), so
    little of it is padding. Only full batches are used (lessons 01 and 07)."""
    lengths = [len(row) for row in encoded]
    while True:
        for batch in batch_order(lengths, batch_size, generator, group_by_length):
            if len(batch) < batch_size:
                continue
            rows = [encoded[i] for i in batch]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, :len(r)] = torch.tensor(r)
            yield ids, (ids != pad_id).long()


def masked_lm_step_loss(model: BertForMaskedLM, inputs: torch.Tensor, attention: torch.Tensor,
                        labels: torch.Tensor) -> torch.Tensor:
    """The masked-token cross-entropy of one batch, as ``model(..., labels=labels).loss`` computes it, but
    with the output layer applied only at the masked positions: the loss ignores every other position,
    so scoring the whole vocabulary there is wasted work."""
    hidden = model.bert(input_ids=inputs, attention_mask=attention).last_hidden_state
    chosen = labels != IGNORE_INDEX
    return torch.nn.functional.cross_entropy(model.cls(hidden[chosen]), labels[chosen])


def learning_rate_schedule(optimizer: torch.optim.Optimizer, steps: int):
    """Warm up over the first 5 % of the steps, hold the learning rate for the next 75 %, then bring it down
    to zero over the last 20 % along a half cosine (a warmup-stable-decay schedule, transformers'
    ``get_wsd_schedule``). Lesson 01 shows, from a record kept during pre-training (``adjective_kinship``),
    that the model learns which adjectives go together late in the run, and suddenly: the learning rate
    stays at its peak through the middle of the run."""
    return get_wsd_schedule(optimizer, num_warmup_steps=max(1, steps // 20), num_decay_steps=max(1, steps // 5),
                            num_training_steps=steps)


def take_step(model: torch.nn.Module, loss: torch.Tensor, optimizer: torch.optim.Optimizer, schedule=None) -> None:
    """One step of the course's training loops: the gradients of ``loss``, clipped to norm 1.0, applied by
    ``optimizer``; then the learning-rate ``schedule`` moves on, where there is one."""
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if schedule is not None:
        schedule.step()


def pretrain(model: BertForMaskedLM, tokenizer, texts: list[str], *, steps: int, batch_size: int = 64,
             lr: float = 1e-3, seed: int = cfg.SEED, device: torch.device | None = None,
             progress: bool = True, probe: Callable[[BertForMaskedLM], dict] | None = None,
             probe_every: int = PROBE_EVERY) -> dict:
    """Masked language modelling for ``steps`` optimizer steps. Returns the history: per-step
    ``train_loss``, plus ``steps``, ``seconds`` and ``tokens_seen``. With ``probe`` (a function of the model
    that returns a dict of numbers and draws no random number), ``history["probes"]`` holds its result
    before the first step, every ``probe_every`` steps and after the last, each with its ``step``; the
    training itself is the same, weight for weight, and ``seconds`` leaves the probes out."""
    if not texts:
        raise ValueError("The corpus is empty: pre-training needs unlabeled sentences (see utils.data.make_corpus).")
    check_vocabulary(tokenizer, model)
    device = torch.device(device or cfg.get_device())
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    encoded = tokenizer(list(texts), truncation=True, max_length=model.config.max_position_embeddings)["input_ids"]
    batches = padded_batches(encoded, min(batch_size, len(encoded)), tokenizer.pad_token_id, generator,
                             group_by_length=True)
    # Fused AdamW updates every parameter in one pass; where torch has no fused kernel for the device
    # it uses its default implementation. The same updates, to within rounding.
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01,
                                  fused=True if device.type in ("cpu", "cuda") else None)
    schedule = learning_rate_schedule(optimizer, steps)
    history = {"train_loss": [], "steps": steps, "tokens_seen": 0}
    if probe is not None:
        history["probes"] = []
    probing = 0.0

    def record(step: int) -> None:
        nonlocal probing
        started = time.perf_counter()
        history["probes"].append({"step": step, **probe(model)})
        model.train()
        probing += time.perf_counter() - started

    start = time.perf_counter()
    if probe is not None:
        record(0)
    bar = cfg.progress_bar(range(steps), enabled=progress, desc="pre-training")
    for step in bar:
        ids, attention = next(batches)
        inputs, labels = mask_tokens(ids, tokenizer, generator=generator)
        loss = masked_lm_step_loss(model, inputs.to(device), attention.to(device), labels.to(device))
        take_step(model, loss, optimizer, schedule)
        history["train_loss"].append(loss.item())
        history["tokens_seen"] += int(attention.sum())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if probe is not None and ((step + 1) % probe_every == 0 or step + 1 == steps):
            record(step + 1)
    history["seconds"] = time.perf_counter() - start - probing
    model.eval()
    return history


@torch.no_grad()
def masked_token_scores(model: BertForMaskedLM, tokenizer, texts: list[str], seed: int = 0,
                        batch_size: int = 256) -> dict[str, dict]:
    """The model's guesses at the chosen positions of ``texts``, masked by the training rule (with its own
    ``seed``), scored apart for each kind of position (lesson 01): ``"[MASK]"`` (the model reads [MASK]),
    ``"random"`` (it reads another token) and ``"unchanged"`` (it reads the answer itself), and ``"all"``
    of them together, as the training loss counts them. Each is ``{"accuracy", "loss", "perplexity",
    "tokens"}``; a kind is told by what the model reads, so a random draw of the original token counts as
    unchanged. Only the [MASK] positions measure what masked language modelling is for: guessing a hidden
    word from its context."""
    if not texts:
        raise ValueError("No texts to evaluate on: pass at least one sentence.")
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    sums = {kind: {"correct": 0, "loss": 0.0, "tokens": 0} for kind in (*KINDS, "all")}
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start:start + batch_size]), padding=True, return_tensors="pt")
        inputs, labels = mask_tokens(enc["input_ids"], tokenizer, generator=generator)
        logits = model(input_ids=inputs.to(device), attention_mask=enc["attention_mask"].to(device)).logits.cpu()
        chosen = labels != IGNORE_INDEX
        read, answer = inputs[chosen], labels[chosen]
        losses = torch.nn.functional.cross_entropy(logits[chosen].float(), answer, reduction="none")
        right = logits[chosen].argmax(-1) == answer
        is_mask = read == tokenizer.mask_token_id
        kinds = {"[MASK]": is_mask, "unchanged": ~is_mask & (read == answer), "random": ~is_mask & (read != answer),
                 "all": torch.ones_like(is_mask)}
        for kind, where in kinds.items():
            sums[kind]["correct"] += int(right[where].sum())
            sums[kind]["loss"] += float(losses[where].sum())
            sums[kind]["tokens"] += int(where.sum())
    scores = {}
    for kind, s in sums.items():
        n = s["tokens"]
        loss = s["loss"] / n if n else float("nan")
        scores[kind] = {"accuracy": s["correct"] / n if n else float("nan"), "loss": loss,
                        "perplexity": math.exp(loss) if n else float("nan"), "tokens": n}
    return scores


def masked_token_accuracy(model: BertForMaskedLM, tokenizer, texts: list[str], seed: int = 0,
                          batch_size: int = 256, by_kind: bool = False) -> float | dict[str, float]:
    """Share of the chosen positions where the model's top prediction is the original token. It counts the
    positions left unchanged, where the answer is in the input; ``by_kind=True`` gives the share for each
    kind of position apart (``masked_token_scores``), with ``"[MASK]"`` the one that measures guessing."""
    if not texts:
        raise ValueError("No texts to evaluate on: pass at least one sentence.")
    scores = masked_token_scores(model, tokenizer, texts, seed=seed, batch_size=batch_size)
    if by_kind:
        return {kind: s["accuracy"] for kind, s in scores.items()}
    return scores["all"]["accuracy"] if scores["all"]["tokens"] else 0.0


def masked_lm_loss(model: BertForMaskedLM, tokenizer, texts: list[str], seed: int = 0,
                   batch_size: int = 256) -> dict:
    """The masked-token cross-entropy of ``model`` on ``texts``, masked by the same rule as in training
    (with its own seed), averaged over every chosen position, the unchanged ones included, as the training
    loss is: ``{"loss", "perplexity", "masked_tokens"}``. On sentences the model never trained on, it tells
    how well pre-training generalises (lesson 01); ``masked_token_scores`` gives it for each kind of position."""
    scores = masked_token_scores(model, tokenizer, texts, seed=seed, batch_size=batch_size)["all"]
    loss = scores["loss"] if scores["tokens"] else 0.0
    return {"loss": loss, "perplexity": math.exp(loss), "masked_tokens": scores["tokens"]}


@torch.no_grad()
def adjective_kinship(model: BertForMaskedLM, tokenizer) -> dict:
    """How far the model has grouped the polarity adjectives, read without any label (lesson 01 records it
    during pre-training). Both numbers are shares of the held-out polarity words (those the labeled
    training data of lesson 03 never shows):

    * ``neighbour_agreement``: whose nearest seen polarity word, by cosine similarity of the input
      embeddings, has their polarity (lesson 01, section 8);
    * ``blank_agreement``: for which, in a blank right after them ("the plot was superb and [MASK] ."), the
      model gives the seen words of their polarity more probability than those of the other polarity (the
      question lesson 07's prompt asks), averaged over ``KINSHIP_FRAMES``.

    Only words that are one token of the vocabulary count; ``None`` when a polarity has none. No random
    number is drawn, so recording it during training changes nothing."""
    vocabulary = tokenizer.get_vocab()
    seen = {label: [vocabulary[w] for w in words if w in vocabulary]
            for label, words in label_words("polarity", "seen").items()}
    held = [(w, label) for label, words in label_words("polarity", "held_out").items()
            for w in words if w in vocabulary]
    labels = list(seen)
    if not all(seen.values()) or {label for _, label in held} != set(labels):
        return {"neighbour_agreement": None, "blank_agreement": None}
    was_training = model.training
    model.eval()
    embeddings = torch.nn.functional.normalize(model.get_input_embeddings().weight.detach().float(), dim=-1)
    seen_ids = [i for label in labels for i in seen[label]]
    seen_labels = [label for label in labels for _ in seen[label]]
    nearest = (embeddings[[vocabulary[w] for w, _ in held]] @ embeddings[seen_ids].T).argmax(-1)
    neighbour = sum(seen_labels[int(j)] == label for j, (_, label) in zip(nearest, held)) / len(held)

    sentences = [frame.format(w) for w, _ in held for frame in KINSHIP_FRAMES]
    device = next(model.parameters()).device
    enc = tokenizer(sentences, padding=True, return_tensors="pt").to(device)
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    probabilities = logits[enc["input_ids"] == tokenizer.mask_token_id].float().softmax(-1).cpu()
    mass = {label: probabilities[:, seen[label]].sum(-1) for label in labels}
    truth = [label for _, label in held for _ in KINSHIP_FRAMES]
    blank = sum(bool(mass[label][row] > max(mass[other][row] for other in labels if other != label))
                for row, label in enumerate(truth)) / len(truth)
    model.train(was_training)
    return {"neighbour_agreement": neighbour, "blank_agreement": blank}


def checkpoint_dir() -> Path:
    return cfg.artifacts_dir() / CHECKPOINT_NAME


def _settings(profile: cfg.Profile, seed: int) -> dict:
    keys = ("corpus_sentences", "vocab_size", "pretrain_steps", "pretrain_batch_size", "pretrain_lr")
    return {"seed": seed, "recipe": RECIPE, **{k: getattr(profile, k) for k in keys}}


def load_pretrained(directory: str | Path | None = None) -> tuple[BertForMaskedLM, object, dict]:
    """Load a pre-trained checkpoint: ``(model, tokenizer, history)``."""
    directory = Path(directory) if directory is not None else checkpoint_dir()
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"No pre-trained checkpoint in {directory}. Build it with "
                                f"`python -m utils.pretraining` (or run lesson 01), then try again.")
    model = BertForMaskedLM.from_pretrained(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    check_vocabulary(tokenizer, model)
    history_path = directory / HISTORY_FILE
    history = json.loads(history_path.read_text()) if history_path.is_file() else {}
    return model.eval(), tokenizer, history


def load_or_pretrain(profile: str | None = None, *, seed: int | None = None, directory: str | Path | None = None,
                     progress: bool = True, probes: bool = False) -> tuple[BertForMaskedLM, object, dict]:
    """The pre-trained tiny BERT for a profile: loaded from its checkpoint when one was saved with the
    same settings, otherwise trained (tokenizer and model) and saved. Returns ``(model, tokenizer, history)``.
    ``seed`` defaults to :func:`utils.config.pretraining_seed`. Training records ``adjective_kinship`` in
    ``history["probes"]``; lesson 01 shows it and passes ``probes=True``, so that a checkpoint saved before
    the probes were recorded is trained again (to the same weights) rather than loaded without them."""
    seed = cfg.pretraining_seed() if seed is None else seed
    prof = cfg.get_profile(profile)
    directory = Path(directory) if directory is not None else checkpoint_dir()
    wanted = _settings(prof, seed)
    settings_path = directory / SETTINGS_FILE
    with one_at_a_time(directory):
        if settings_path.is_file() and json.loads(settings_path.read_text()) == wanted:
            model, tokenizer, history = load_pretrained(directory)
            if not probes or history.get("probes"):
                return model, tokenizer, history

        corpus = make_corpus(prof.corpus_sentences, seed=seed)["text"]
        tokenizer = train_tokenizer(corpus, vocab_size=prof.vocab_size)
        model = build_mlm_model(tiny_bert_config(len(tokenizer)), seed=seed)
        history = pretrain(model, tokenizer, corpus, steps=prof.pretrain_steps, batch_size=prof.pretrain_batch_size,
                           lr=prof.pretrain_lr, seed=seed, progress=progress,
                           probe=lambda m: adjective_kinship(m, tokenizer))
        return save_checkpoint(directory, model, tokenizer, history, wanted)


@contextlib.contextmanager
def one_at_a_time(directory: Path):
    """Hold an exclusive lock on ``directory``'s lock file (beside it) while a cached checkpoint is checked and,
    if need be, trained: when several processes ask for it at once (notebooks run side by side), one trains
    and the others wait for its checkpoint. Shared with ``utils.causal_lm``. Where the system has no
    ``fcntl`` (Windows), nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_checkpoint(directory: Path, model, tokenizer, history: dict, settings: dict):
    """Add the summary numbers to ``history`` and save model, tokenizer, history and the settings that made
    them (the settings last: they mark the checkpoint complete). Shared with ``utils.causal_lm``."""
    history["final_loss"] = sum(history["train_loss"][-20:]) / len(history["train_loss"][-20:])
    history["perplexity"] = math.exp(history["final_loss"])
    history["parameters"] = count_parameters(model)
    directory.mkdir(parents=True, exist_ok=True)
    model.to("cpu").save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / HISTORY_FILE).write_text(json.dumps(history))
    (directory / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
    return model, tokenizer, history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Pre-train the tiny BERT by masked language modelling "
                                                 "and save it to artifacts/tiny-bert-mlm/.")
    parser.add_argument("--profile", default=None, help="laptop (default) or full; or set WORKBOOK_PROFILE")
    parser.add_argument("--seed", type=int, default=None, help="default: WORKBOOK_PRETRAIN_SEED, else 123")
    args = parser.parse_args(argv)
    try:
        # With the record lesson 01 shows, so that the lesson loads this checkpoint rather than training it again.
        model, tokenizer, history = load_or_pretrain(args.profile, seed=args.seed, probes=True)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"checkpoint: {checkpoint_dir()}  parameters: {count_parameters(model):,}  "
          f"final loss: {history['final_loss']:.3f}  ({history['seconds']:.0f} s of training)")


if __name__ == "__main__":
    main()
