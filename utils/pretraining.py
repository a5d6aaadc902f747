"""Self-supervised pre-training by masked language modelling (lesson 01).

``mask_tokens`` is the masking rule written out by hand; lesson 01 and the tests show it agrees with
``transformers.DataCollatorForLanguageModeling``. ``pretrain`` is the training loop, and
``load_or_pretrain`` caches its result in ``artifacts/tiny-bert-mlm/`` in Hugging Face format, so that
``transformers.pipeline("fill-mask", model="artifacts/tiny-bert-mlm")`` loads it.

Build the checkpoint from a shell with ``python -m utils.pretraining``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertForMaskedLM, get_wsd_schedule

from . import config as cfg
from .data import make_corpus
from .models import build_mlm_model, check_vocabulary, count_parameters, tiny_bert_config
from .tokenization import train_tokenizer

CHECKPOINT_NAME = "tiny-bert-mlm"
SETTINGS_FILE = "workbook_settings.json"
HISTORY_FILE = "pretraining_history.json"
IGNORE_INDEX = -100  # label value the cross-entropy loss skips
# The version of the training recipe (batching, loss, optimizer, schedule), saved with a checkpoint's settings:
# a checkpoint made by an older recipe is trained again rather than loaded.
RECIPE = 2


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
    little of it is padding. Only full batches are used (lessons 01 and 06)."""
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


# The name utils/causal_lm.py and tests/test_pretraining.py still use.
_batches = padded_batches


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
    ``get_wsd_schedule``). Masked language modelling learns which adjectives go together late, in a jump,
    and a learning rate that stays high until then gets it there in fewer steps than one that falls from
    the start (lesson 01)."""
    return get_wsd_schedule(optimizer, num_warmup_steps=max(1, steps // 20), num_decay_steps=max(1, steps // 5),
                            num_training_steps=steps)


def pretrain(model: BertForMaskedLM, tokenizer, texts: list[str], *, steps: int, batch_size: int = 64,
             lr: float = 1e-3, seed: int = cfg.SEED, device: torch.device | None = None,
             progress: bool = True) -> dict:
    """Masked language modelling for ``steps`` optimizer steps. Returns the history: per-step
    ``train_loss``, plus ``steps``, ``seconds`` and ``tokens_seen``."""
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
    start = time.perf_counter()
    bar = cfg.progress_bar(range(steps), enabled=progress, desc="pre-training")
    for step in bar:
        ids, attention = next(batches)
        inputs, labels = mask_tokens(ids, tokenizer, generator=generator)
        loss = masked_lm_step_loss(model, inputs.to(device), attention.to(device), labels.to(device))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        history["train_loss"].append(loss.item())
        history["tokens_seen"] += int(attention.sum())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    history["seconds"] = time.perf_counter() - start
    model.eval()
    return history


@torch.no_grad()
def masked_token_accuracy(model: BertForMaskedLM, tokenizer, texts: list[str], seed: int = 0,
                          batch_size: int = 256) -> float:
    """Share of masked positions where the model's top prediction is the original token."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    correct = total = 0
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start:start + batch_size]), padding=True, return_tensors="pt")
        inputs, labels = mask_tokens(enc["input_ids"], tokenizer, generator=generator)
        logits = model(input_ids=inputs.to(device), attention_mask=enc["attention_mask"].to(device)).logits
        chosen = labels != IGNORE_INDEX
        correct += int((logits.argmax(-1).cpu()[chosen] == labels[chosen]).sum())
        total += int(chosen.sum())
    return correct / max(total, 1)


@torch.no_grad()
def masked_lm_loss(model: BertForMaskedLM, tokenizer, texts: list[str], seed: int = 0,
                   batch_size: int = 256) -> dict:
    """The masked-token cross-entropy of ``model`` on ``texts``, masked by the same rule as in training
    (with its own seed), averaged over every masked position: ``{"loss", "perplexity", "masked_tokens"}``.
    On sentences the model never trained on, it tells how well pre-training generalises (lesson 01)."""
    if not texts:
        raise ValueError("No texts to evaluate on: pass at least one sentence.")
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    loss_sum, total = 0.0, 0
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start:start + batch_size]), padding=True, return_tensors="pt")
        inputs, labels = mask_tokens(enc["input_ids"], tokenizer, generator=generator)
        logits = model(input_ids=inputs.to(device), attention_mask=enc["attention_mask"].to(device)).logits
        loss_sum += torch.nn.functional.cross_entropy(logits.flatten(0, 1).cpu(), labels.flatten(),
                                                      ignore_index=IGNORE_INDEX, reduction="sum").item()
        total += int((labels != IGNORE_INDEX).sum())
    loss = loss_sum / max(total, 1)
    return {"loss": loss, "perplexity": math.exp(loss), "masked_tokens": total}


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
                     progress: bool = True) -> tuple[BertForMaskedLM, object, dict]:
    """The pre-trained tiny BERT for a profile: loaded from its checkpoint when one was saved with the
    same settings, otherwise trained (tokenizer and model) and saved. Returns ``(model, tokenizer, history)``.
    ``seed`` defaults to :func:`utils.config.pretraining_seed`."""
    seed = cfg.pretraining_seed() if seed is None else seed
    prof = cfg.get_profile(profile)
    directory = Path(directory) if directory is not None else checkpoint_dir()
    wanted = _settings(prof, seed)
    settings_path = directory / SETTINGS_FILE
    with one_at_a_time(directory):
        if settings_path.is_file() and json.loads(settings_path.read_text()) == wanted:
            return load_pretrained(directory)

        corpus = make_corpus(prof.corpus_sentences, seed=seed)["text"]
        tokenizer = train_tokenizer(corpus, vocab_size=prof.vocab_size)
        model = build_mlm_model(tiny_bert_config(len(tokenizer)), seed=seed)
        history = pretrain(model, tokenizer, corpus, steps=prof.pretrain_steps, batch_size=prof.pretrain_batch_size,
                           lr=prof.pretrain_lr, seed=seed, progress=progress)
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
        model, tokenizer, history = load_or_pretrain(args.profile, seed=args.seed)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"checkpoint: {checkpoint_dir()}  parameters: {count_parameters(model):,}  "
          f"final loss: {history['final_loss']:.3f}  ({history['seconds']:.0f} s of training)")


if __name__ == "__main__":
    main()
