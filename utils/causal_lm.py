"""A tiny GPT-2-style causal language model, pre-trained on the course corpus (lesson 07).

It shares the corpus and the tokenizer of the masked language model of lesson 01, and differs from it
in what it is trained to do: predict each token from the tokens *before* it (a causal attention mask,
next-token prediction), instead of a hidden token from both sides. Lesson 07 uses it as a second
prompt-completion backend (``utils.prompting.CausalPromptBackend``).

``load_or_pretrain_causal`` caches it in ``artifacts/tiny-gpt-clm/`` like ``load_or_pretrain`` does
the masked language model: it trains only when no checkpoint with the same settings (and the same
tokenizer) is there. Build it from a shell with ``python -m utils.causal_lm``. Several processes may ask
for it at once (notebooks run side by side): one trains, the others wait for its checkpoint instead of
training the same model beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch
from torch import nn
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, get_linear_schedule_with_warmup

from . import config as cfg
from .data import make_corpus
from .models import check_vocabulary, count_parameters
from .pretraining import (HISTORY_FILE, IGNORE_INDEX, SETTINGS_FILE, load_or_pretrain, one_at_a_time, padded_batches,
                          save_checkpoint, take_step)

CHECKPOINT_NAME = "tiny-gpt-clm"
# Small enough to pre-train in well under a minute on a 2-core CPU, which is all lesson 07 needs.
CAUSAL_STEPS = 250
CAUSAL_BATCH_SIZE = 32
CAUSAL_LR = 3e-3


def tiny_gpt_config(tokenizer, **overrides) -> GPT2Config:
    """A GPT-2 the size of the course's tiny BERT: 2 layers, hidden size 128, 2 attention heads.
    ``[CLS]`` starts every sequence and ``[SEP]`` ends it, as the shared tokenizer writes them."""
    settings = dict(vocab_size=len(tokenizer), n_positions=128, n_embd=128, n_layer=2, n_head=2, n_inner=512,
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tokenizer.cls_token_id,
                    eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id)
    settings.update(overrides)
    return GPT2Config(**settings)


def with_causal_loss(model: GPT2LMHeadModel) -> GPT2LMHeadModel:
    """``model`` with its loss named: transformers picks a model's loss from its class name, which for
    GPT2LMHeadModel names none, so ``model(labels=...)`` warned that it fell back to the causal loss. This is
    that same loss, named, without the warning."""
    model.loss_type = "ForCausalLM"
    return model


def next_token_loss(model: GPT2LMHeadModel, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting each token from the ones before it (padding is not predicted)."""
    logits = model(input_ids=ids, attention_mask=attention).logits
    # The output at position t is scored on the token at position t+1.
    targets = ids[:, 1:].masked_fill(attention[:, 1:] == 0, IGNORE_INDEX)
    return nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                       ignore_index=IGNORE_INDEX)


def pretrain_causal(model: GPT2LMHeadModel, tokenizer, texts: list[str], *, steps: int = CAUSAL_STEPS,
                    batch_size: int = CAUSAL_BATCH_SIZE, lr: float = CAUSAL_LR, seed: int = cfg.SEED,
                    device: torch.device | None = None, progress: bool = True) -> dict:
    """Next-token prediction for ``steps`` optimizer steps. Returns the history: per-step ``train_loss``,
    plus ``steps`` and ``seconds``."""
    if not texts:
        raise ValueError("The corpus is empty: pre-training needs unlabeled sentences (see utils.data.make_corpus).")
    check_vocabulary(tokenizer, model)
    device = device or cfg.get_device()
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    encoded = tokenizer(list(texts), truncation=True, max_length=model.config.n_positions)["input_ids"]
    batches = padded_batches(encoded, min(batch_size, len(encoded)), tokenizer.pad_token_id, generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=max(1, steps // 20),
                                               num_training_steps=steps)
    history = {"train_loss": [], "steps": steps}
    start = time.perf_counter()
    bar = cfg.progress_bar(range(steps), enabled=progress, desc="causal pre-training")
    for step in bar:
        ids, attention = next(batches)
        loss = next_token_loss(model, ids.to(device), attention.to(device))
        take_step(model, loss, optimizer, schedule)
        history["train_loss"].append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    history["seconds"] = time.perf_counter() - start
    model.eval()
    return history


def checkpoint_dir() -> Path:
    return cfg.artifacts_dir() / CHECKPOINT_NAME


def _tokenizer_fingerprint(tokenizer) -> str:
    """Changes whenever the vocabulary does: the causal model must be retrained with a new tokenizer."""
    return hashlib.sha256(json.dumps(sorted(tokenizer.get_vocab().items())).encode()).hexdigest()[:16]


def load_or_pretrain_causal(profile: str | None = None, *, seed: int | None = None, steps: int = CAUSAL_STEPS,
                            directory: str | Path | None = None, mlm_directory: str | Path | None = None,
                            progress: bool = True) -> tuple[GPT2LMHeadModel, object, dict]:
    """The tiny causal language model: loaded from its checkpoint when one was saved with the same
    settings and the same tokenizer, otherwise pre-trained on the corpus and saved. The tokenizer is the
    one of the masked language model (``load_or_pretrain``). Returns ``(model, tokenizer, history)``.
    ``seed`` defaults to :func:`utils.config.pretraining_seed`, as the masked language model's does."""
    seed = cfg.pretraining_seed() if seed is None else seed
    prof = cfg.get_profile(profile)
    _, tokenizer, _ = load_or_pretrain(prof, seed=seed, directory=mlm_directory, progress=progress)
    directory = Path(directory) if directory is not None else checkpoint_dir()
    wanted = {"seed": seed, "corpus_sentences": prof.corpus_sentences, "steps": steps,
              "batch_size": CAUSAL_BATCH_SIZE, "lr": CAUSAL_LR, "tokenizer": _tokenizer_fingerprint(tokenizer)}
    settings_path = directory / SETTINGS_FILE
    with one_at_a_time(directory):
        if settings_path.is_file() and json.loads(settings_path.read_text()) == wanted:
            model = with_causal_loss(GPT2LMHeadModel.from_pretrained(directory)).eval()
            history_path = directory / HISTORY_FILE
            return model, AutoTokenizer.from_pretrained(directory), json.loads(history_path.read_text())

        corpus = make_corpus(prof.corpus_sentences, seed=seed)["text"]
        torch.manual_seed(seed)
        model = with_causal_loss(GPT2LMHeadModel(tiny_gpt_config(tokenizer)))
        history = pretrain_causal(model, tokenizer, corpus, steps=steps, seed=seed, progress=progress)
        return save_checkpoint(directory, model, tokenizer, history, wanted)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Pre-train the tiny causal language model on the corpus and "
                                                 "save it to artifacts/tiny-gpt-clm/.")
    parser.add_argument("--profile", default=None, help="laptop (default) or full; or set WORKBOOK_PROFILE")
    parser.add_argument("--seed", type=int, default=None, help="default: WORKBOOK_PRETRAIN_SEED, else 123")
    args = parser.parse_args(argv)
    try:
        model, _, history = load_or_pretrain_causal(args.profile, seed=args.seed)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"checkpoint: {checkpoint_dir()}  parameters: {count_parameters(model):,}  "
          f"final loss: {history['final_loss']:.3f}  ({history['seconds']:.0f} s of training)")


if __name__ == "__main__":
    main()
