"""Profiles, device choice, seeding and paths: the settings every lesson shares.

The profile is chosen with the environment variable ``WORKBOOK_PROFILE``:

* ``laptop`` (the default): the tiny BERT, pre-trained on the synthetic corpus; each lesson runs in
  about two minutes on a 2-core CPU.
* ``full``: the same recipe with a larger corpus and longer pre-training, for a machine with a GPU; and
  in lesson 08, bert-base-uncased fine-tuned on GLUE SST-2 (needs the internet; offline it falls back to
  the laptop path with a one-line message).

The device is a CUDA GPU when there is one, and the CPU otherwise, unless ``WORKBOOK_DEVICE`` (``cpu``,
``cuda`` or ``mps``) names one. Apple's MPS is chosen by itself only for the ``full`` profile: with the
laptop profile a Mac stays on the CPU unless ``WORKBOOK_DEVICE=mps`` asks for it, because the lessons'
assertions have been checked on CPUs and never on MPS. Lesson 00 shows the choice.

Torch's threads: ``WORKBOOK_THREADS`` (a whole number, such as 1 or 2), read when this module is first
imported, sets ``torch.set_num_threads`` in every process that imports the course (a notebook's kernel,
``python -m utils.causal_lm``); unset, torch keeps its own choice. One and two threads pre-train different
checkpoints, so a lesson and the pre-training it loads should run with the same setting
(``python tests/lessons_on_seed.py --threads 1`` sets it for both).

Checkpoints go to ``artifacts/`` at the top of the repository, or to ``WORKBOOK_ARTIFACTS`` if set.
The tiny models are pre-trained with the seed ``SEED``, or ``WORKBOOK_PRETRAIN_SEED`` if set
(``python tests/lessons_on_seed.py`` re-runs the lessons on another pre-training).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
SEED = 123

# numpy's and scipy's BLAS (OpenBLAS) get one thread; torch keeps its own. The course's matrices are small,
# and on a 2-core CPU two BLAS threads spin against torch's: scikit-learn's logistic regression on lesson
# 04's 2,000 sentence vectors took 4.0 s with two and 0.4 s with one, and found the same model.
threadpool_limits(1, user_api="blas")


def threads_setting() -> int | None:
    """The number of torch threads ``WORKBOOK_THREADS`` asks for; None when it is not set."""
    raw = os.environ.get("WORKBOOK_THREADS", "").strip()
    if not raw:
        return None
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"WORKBOOK_THREADS={raw!r} is not a number of threads: set it to a whole number of at least "
                         f"1 (for example 1 or 2), or unset it to let torch choose.")
    return threads


# At import, so that it reaches torch in every kernel before a lesson computes anything.
if threads_setting() is not None:
    torch.set_num_threads(threads_setting())


@dataclass(frozen=True)
class Profile:
    """How big each step of the course is."""

    name: str
    corpus_sentences: int      # unlabeled sentences for pre-training
    vocab_size: int            # WordPiece vocabulary the tokenizer is trained to
    pretrain_steps: int        # optimizer steps of masked language modelling
    pretrain_batch_size: int
    pretrain_lr: float
    finetune_epochs: int
    finetune_batch_size: int
    real_encoder: str = "minilm"   # lesson 08's real encoder (utils.encoders.load_encoder)
    benchmark: str = "synthetic"   # lesson 08's real benchmark: 'synthetic' (none) or 'sst2'


PROFILES = {
    "laptop": Profile("laptop", corpus_sentences=20_000, vocab_size=1024, pretrain_steps=1500,
                      pretrain_batch_size=64, pretrain_lr=1e-3, finetune_epochs=3,
                      finetune_batch_size=32),
    "full": Profile("full", corpus_sentences=100_000, vocab_size=2048, pretrain_steps=5000,
                    pretrain_batch_size=128, pretrain_lr=1e-3, finetune_epochs=8,
                    finetune_batch_size=32, real_encoder="bert-base-uncased", benchmark="sst2"),
}


def get_profile(name: "str | Profile | None" = None) -> Profile:
    """The profile called ``name``, or the one ``WORKBOOK_PROFILE`` names (default ``laptop``).
    A ``Profile`` object is returned as it is."""
    if isinstance(name, Profile):
        return name
    name = name or os.environ.get("WORKBOOK_PROFILE", "laptop")
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}. Choose one of: {', '.join(PROFILES)} "
                         f"(set it with the environment variable WORKBOOK_PROFILE).")
    return PROFILES[name]


def artifacts_dir() -> Path:
    """Where checkpoints are saved and looked for (created if missing)."""
    path = Path(os.environ.get("WORKBOOK_ARTIFACTS", ROOT / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


DEVICES = ("cpu", "cuda", "mps")


def device_available(kind: str) -> bool:
    """Whether torch can use a device of this kind (``cpu``, ``cuda`` or ``mps``) here."""
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return kind == "cpu"


def device_setting(value: str | None = None) -> str | None:
    """The device ``value`` names, or else the one ``WORKBOOK_DEVICE`` names (``cpu``, ``cuda`` or ``mps``),
    checked; None when neither is set.

    An unknown name, or a device this machine does not have, is an error that says what is there."""
    origin = "device" if value else "WORKBOOK_DEVICE"
    raw = value or os.environ.get("WORKBOOK_DEVICE", "")
    wanted = raw.strip().lower()
    if not wanted:
        return None
    if wanted not in DEVICES:
        raise ValueError(f"{origin}={raw!r} is not a device the course knows. Set it to one of: "
                         f"{', '.join(DEVICES)}, or unset it to let the course choose.")
    if not device_available(wanted):
        there = [kind for kind in DEVICES if device_available(kind)]
        raise ValueError(f"{origin}={wanted!r}, but this machine has no {wanted} device that torch can use "
                         f"(torch {torch.__version__}; available here: {', '.join(there)}). Set it to one of "
                         f"those, or unset it to let the course choose.")
    return wanted


def several_gpus_note() -> str | None:
    """What to do when this machine has several GPUs but the code runs in one process (it uses only the first):
    None when there are fewer than two."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        return None
    return (f"{count} GPUs found; this process uses only the first. To train on all of them, run the full "
            f"profile's script with `accelerate launch --multi_gpu --num_processes {count} -m utils.full_profile ...`, "
            f"or from a notebook with accelerate.notebook_launcher(utils.full_profile.main, "
            f"args=(argv,), num_processes={count}).")


_told_about_gpus = False


def automatic_device(profile: "str | Profile | None" = None) -> str:
    """The device the course picks when ``WORKBOOK_DEVICE`` is not set: ``cuda`` when torch sees a CUDA GPU;
    else ``mps`` on a Mac with Apple's GPU, but only for the ``full`` profile; else ``cpu``.

    The laptop profile keeps a Mac on the CPU: every lesson's assertions have been checked on CPUs and none
    on MPS. ``WORKBOOK_DEVICE=mps`` opts in."""
    if torch.cuda.is_available():
        return "cuda"
    if get_profile(profile).name == "full" and device_available("mps"):
        return "mps"
    return "cpu"


def get_device(profile: "str | Profile | None" = None) -> torch.device:
    """The device ``WORKBOOK_DEVICE`` names if it is set; otherwise :func:`automatic_device` for ``profile``
    (default: the one ``WORKBOOK_PROFILE`` names): CUDA, else the CPU (with the laptop profile, also on a
    Mac). With several GPUs it says once how to use them all (see :func:`several_gpus_note`). Used by
    every lesson; lesson 00 shows the choice."""
    global _told_about_gpus
    kind = device_setting() or automatic_device(profile)
    note = several_gpus_note() if kind == "cuda" else None
    if note and not _told_about_gpus:
        print(note)
        _told_about_gpus = True
    return torch.device(kind)


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A ``tqdm.auto`` progress bar, switched off when ``enabled`` is false or the environment sets
    ``TQDM_DISABLE=1`` (as ``make execute`` does: a bar stored in a notebook reads badly on GitHub)."""
    from tqdm.auto import tqdm

    if not enabled or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes"):
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


def pretraining_seed() -> int:
    """The seed the tiny models are pre-trained with: ``SEED``, or the whole number in the environment
    variable ``WORKBOOK_PRETRAIN_SEED``."""
    raw = os.environ.get("WORKBOOK_PRETRAIN_SEED", "").strip()
    if not raw:
        return SEED
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"WORKBOOK_PRETRAIN_SEED={raw!r} is not a whole number: set it to one (for example 0), "
                         f"or unset it to pre-train with the course's seed {SEED}.") from None


def set_seed(seed: int = SEED) -> None:
    """Seed Python, NumPy and torch so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
