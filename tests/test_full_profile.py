"""The full profile on Accelerate (utils.full_profile, lesson 08), run on the CPU with stand-ins.

bert-base-uncased is stood in for by the session's tiny BERT saved with a pooler (as bert-base-uncased
is), GLUE SST-2 by a few sentences in its format (the files of tests/test_encoders.py). The code is the
code a GPU runs: Accelerate runs on the CPU.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
from transformers import BertForSequenceClassification, pipeline

from test_encoders import _write_sst2
from utils import config, encoders, full_profile

ROOT = Path(__file__).resolve().parent.parent
FAST = {"learning_rates": (1e-3,), "batch_size": 16, "progress": False}  # a tiny model learns at a large rate


@pytest.fixture(scope="module")
def standin_dir(pretrained_dir, tmp_path_factory) -> Path:
    """The tiny checkpoint saved as a BertModel with a pooler: a small bert-base-uncased."""
    encoder, tokenizer, _ = encoders.load_encoder(str(pretrained_dir), pooler=True)
    torch.manual_seed(0)
    torch.nn.init.normal_(encoder.pooler.dense.weight, std=0.02)
    directory = tmp_path_factory.mktemp("standin") / "bert-standin"
    encoder.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def standin(standin_dir):
    return encoders.load_encoder(str(standin_dir), pooler=True)


@pytest.fixture(scope="module")
def sst2(tmp_path_factory):
    """40 training sentences (32 to train, 8 to validate) and 10 to test, in SST-2's format."""
    return encoders.load_sst2(_write_sst2(tmp_path_factory.mktemp("sst2"), ".tsv"), validation_size=8)


@pytest.fixture(scope="module")
def one_epoch(standin, sst2, tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "one-epoch"
    results = full_profile.fine_tune_full(standin, sst2, output, epochs=1, **FAST)
    return output, results


# ---------------------------------------------------------------------------------------------------
# The model: θ with the pre-trained pooler, ω new, laid out as BertForSequenceClassification
# ---------------------------------------------------------------------------------------------------

def test_theta_is_the_encoder_with_its_pretrained_pooler_and_omega_is_the_new_head(standin, standin_dir):
    saved = encoders.load_encoder(str(standin_dir), pooler=True).encoder.pooler.dense.weight
    model = full_profile.build_classifier(standin.encoder, ["negative", "positive"])
    assert torch.equal(model.encoder.pooler.dense.weight, saved), "the pre-trained pooler is kept, in θ"
    assert model.encoder is not standin.encoder
    assert [name for name, _ in model.head.named_parameters()] == ["out.weight", "out.bias"]
    assert float(model.head.out.bias.detach().abs().sum()) == 0.0, "ω starts fresh"


def test_the_classifier_computes_what_bert_for_sequence_classification_computes(standin, tmp_path):
    model = full_profile.build_classifier(standin.encoder, ["negative", "positive"]).eval()
    saved = model.save_pretrained(tmp_path / "clf", standin.tokenizer)
    library = BertForSequenceClassification.from_pretrained(saved).eval()
    batch = standin.tokenizer(["a joy to watch", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(batch["input_ids"], batch["attention_mask"]), library(**batch).logits, atol=1e-6)
    again = full_profile.PooledClassifier.from_pretrained(saved)
    assert again.label_names == ["negative", "positive"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_an_encoder_without_a_pooler_is_refused_with_how_to_load_one(mlm_model):
    with pytest.raises(ValueError, match=r"pooler=True"):
        full_profile.PooledClassifier(mlm_model.bert, ["negative", "positive"])


# ---------------------------------------------------------------------------------------------------
# Training on Accelerate: an epoch, a checkpoint per epoch, resuming, the saved classifier
# ---------------------------------------------------------------------------------------------------

def test_one_epoch_trains_and_writes_its_checkpoint(one_epoch, standin):
    output, results = one_epoch
    run = results["runs"]["0.001"]
    history = run["history"]
    assert results["device"] == "cpu" and results["mixed_precision"] == "no" and results["num_processes"] == 1
    assert len(history["train_loss"]) == 2, "32 sentences in batches of 16: two optimizer steps"
    assert all(0 < loss < 5 for loss in history["train_loss"])
    assert len(history["val_acc"]) == 1 and sum(history["val_pred_counts"][0]) == 8
    checkpoint = output / "runs" / "lr-0.001" / "epoch-1"
    assert json.loads((checkpoint / "progress.json").read_text())["epoch"] == 1
    assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "optimizer.bin").is_file()
    trained = full_profile.PooledClassifier.from_pretrained(output)
    assert not torch.equal(trained.encoder.pooler.dense.weight, standin.encoder.pooler.dense.weight), \
        "the pooler is fine-tuned with the rest of θ"
    assert json.loads((output / full_profile.RESULTS_FILE).read_text())["best_lr"] == 0.001


def test_the_saved_classifier_loads_in_pipeline_with_the_real_label_names(one_epoch, sst2):
    output, _ = one_epoch
    classify = pipeline("text-classification", model=str(output), device="cpu")
    texts = list(sst2["test"]["text"])
    predictions = [p["label"] for p in classify(texts)]
    assert set(predictions) <= {"negative", "positive"}
    model = full_profile.PooledClassifier.from_pretrained(output)
    batch = classify.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        in_memory = model(batch["input_ids"], batch["attention_mask"]).argmax(-1).tolist()
    assert predictions == [model.label_names[i] for i in in_memory]


def test_a_lost_session_resumes_from_the_last_checkpoint_and_ends_where_an_unbroken_run_does(
        standin, sst2, tmp_path, capsys):
    unbroken = full_profile.fine_tune_full(standin, sst2, tmp_path / "unbroken", epochs=2, keep_checkpoints=2, **FAST)
    assert [p.name for p in full_profile.complete_checkpoints(tmp_path / "unbroken/runs/lr-0.001")] == ["epoch-1", "epoch-2"]
    # The session ended after epoch 1 was saved, while epoch 2's checkpoint was being written.
    run = tmp_path / "broken" / "runs" / "lr-0.001"
    shutil.copytree(tmp_path / "unbroken/runs/lr-0.001/epoch-1", run / "epoch-1")
    shutil.copytree(tmp_path / "unbroken/runs/lr-0.001/epoch-2", run / "epoch-2", ignore=shutil.ignore_patterns("progress.json"))
    capsys.readouterr()
    resumed = full_profile.fine_tune_full(standin, sst2, tmp_path / "broken", epochs=2, **FAST)
    assert "resumed from epoch-1 (epoch 1 of 2 done)" in capsys.readouterr().out
    a, b = unbroken["runs"]["0.001"]["history"], resumed["runs"]["0.001"]["history"]
    assert len(b["train_loss"]) == 4, "epoch 1 from the checkpoint, epoch 2 trained again"
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
    assert b["val_acc"] == a["val_acc"]
    first = full_profile.PooledClassifier.from_pretrained(tmp_path / "unbroken")
    second = full_profile.PooledClassifier.from_pretrained(tmp_path / "broken")
    for (name, x), y in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.allclose(x, y, atol=1e-6), name
    assert [p.name for p in full_profile.complete_checkpoints(run)] == ["epoch-2"], "only the last is kept"


def test_a_finished_run_is_not_trained_again(one_epoch, standin, sst2, capsys):
    output, before = one_epoch
    again = full_profile.fine_tune_full(standin, sst2, output, epochs=1, **FAST)
    assert "resumed from epoch-1 (epoch 1 of 1 done)" in capsys.readouterr().out
    assert again["runs"]["0.001"]["history"] == before["runs"]["0.001"]["history"]
    assert again["test_accuracy"] == before["test_accuracy"]


def test_the_learning_rate_is_picked_on_validation_and_reported_on_test(standin, sst2, tmp_path):
    results = full_profile.fine_tune_full(standin, sst2, tmp_path, epochs=1, learning_rates=(1e-3, 1e-7),
                                          batch_size=32, progress=False)
    runs = results["runs"]
    assert set(runs) == {"0.001", "1e-07"}
    best = max(runs, key=lambda lr: runs[lr]["validation_accuracy"])
    assert results["validation_accuracy"] == runs[best]["validation_accuracy"]
    assert results["test_accuracy"] == runs[f"{results['best_lr']:g}"]["test_accuracy"]
    assert len(runs["0.001"]["history"]["train_loss"]) == 1, "a batch of 32: one step per epoch"


def test_a_batch_too_big_for_a_device_is_accumulated(standin, sst2, tmp_path):
    results = full_profile.fine_tune_full(standin, sst2, tmp_path, epochs=1, learning_rates=(1e-3,), batch_size=16,
                                          per_device_batch_size=4, progress=False)
    assert len(results["runs"]["0.001"]["history"]["train_loss"]) == 2, "4 x 4 accumulated: still one step per 16"


# ---------------------------------------------------------------------------------------------------
# Bad input says what is wrong and how to fix it
# ---------------------------------------------------------------------------------------------------

def test_an_unknown_or_missing_device_is_a_clear_error(standin, sst2, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'tpu' is not a device.*cpu, cuda, mps"):
        full_profile.fine_tune_full(standin, sst2, tmp_path, device="tpu", **FAST)
    if not torch.cuda.is_available():
        monkeypatch.setenv("WORKBOOK_DEVICE", "cuda")
        with pytest.raises(ValueError, match="WORKBOOK_DEVICE='cuda', but this machine has no cuda device"):
            full_profile.fine_tune_full(standin, sst2, tmp_path, **FAST)
    with pytest.raises(ValueError, match="fp16 mixed precision needs a GPU"):
        full_profile.fine_tune_full(standin, sst2, tmp_path, device="cpu", mixed_precision="fp16", **FAST)


def test_resuming_without_a_checkpoint_or_starting_over_one_is_refused(one_epoch, standin, sst2, tmp_path):
    with pytest.raises(FileNotFoundError, match="Nothing to resume.*does not exist"):
        full_profile.fine_tune_full(standin, sst2, tmp_path / "typo", resume=True, **FAST)
    output, _ = one_epoch
    with pytest.raises(FileExistsError, match="already holds checkpoints.*lr-0.001"):
        full_profile.fine_tune_full(standin, sst2, output, resume=False, **FAST)


def test_a_checkpoint_of_other_settings_is_not_resumed(one_epoch, standin, sst2):
    output, _ = one_epoch
    with pytest.raises(ValueError, match="other settings.*epochs: 1 there, 2 now"):
        full_profile.fine_tune_full(standin, sst2, output, epochs=2, **FAST)


def test_a_checkpoint_of_other_pretrained_weights_under_the_same_name_is_not_resumed(one_epoch, standin, sst2):
    output, _ = one_epoch
    other = encoders.LoadedEncoder(copy.deepcopy(standin.encoder), standin.tokenizer, standin.name)
    with torch.no_grad():
        other.encoder.get_input_embeddings().weight[0] += 1
    with pytest.raises(ValueError, match="other settings.*encoder_fingerprint"):
        full_profile.fine_tune_full(other, sst2, output, epochs=1, **FAST)


def test_wrong_labels_are_refused_before_training(standin, sst2, tmp_path):
    bad = datasets.DatasetDict(dict(sst2))
    bad["train"] = sst2["train"].cast_column("label", datasets.Value("int64")).map(lambda r, i: {"label": 5 if i == 0 else r["label"]}, with_indices=True)
    bad["train"] = bad["train"].cast_column("label", datasets.Value("int64"))
    with pytest.raises(ValueError, match="not a datasets.ClassLabel"):
        full_profile.fine_tune_full(standin, bad, tmp_path, **FAST)
    bad["train"] = bad["train"].cast_column("label", datasets.ClassLabel(names=["a", "b", "c", "d", "e", "f"]))
    with pytest.raises(ValueError, match="label names.*differ"):
        full_profile.fine_tune_full(standin, bad, tmp_path, **FAST)
    no_test = datasets.DatasetDict({"train": sst2["train"], "validation": sst2["validation"]})
    with pytest.raises(ValueError, match="'train', 'validation' and 'test'"):
        full_profile.fine_tune_full(standin, no_test, tmp_path, **FAST)
    assert not (tmp_path / "runs").exists(), "nothing was trained"


# ---------------------------------------------------------------------------------------------------
# WORKBOOK_DEVICE overrides the automatic choice
# ---------------------------------------------------------------------------------------------------

def test_workbook_device_overrides_the_automatic_choice(monkeypatch):
    monkeypatch.delenv("WORKBOOK_DEVICE", raising=False)
    assert config.device_setting() is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU the course would otherwise pick
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert config.get_device().type == "cuda"
    monkeypatch.setenv("WORKBOOK_DEVICE", " CPU ")
    assert config.device_setting() == "cpu" and config.get_device() == torch.device("cpu")


@pytest.mark.parametrize("value, message", [
    ("gpu", r"WORKBOOK_DEVICE='gpu' is not a device the course knows\. Set it to one of: cpu, cuda, mps"),
    ("cuda", r"WORKBOOK_DEVICE='cuda', but this machine has no cuda device .*available here: cpu"),
    ("mps", r"WORKBOOK_DEVICE='mps', but this machine has no mps device"),
])
def test_an_unknown_or_absent_workbook_device_says_what_there_is(monkeypatch, value, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(config, "device_available", lambda kind: kind == "cpu")
    monkeypatch.setenv("WORKBOOK_DEVICE", value)
    with pytest.raises(ValueError, match=message):
        config.get_device()


# ---------------------------------------------------------------------------------------------------
# Several GPUs: say how to use them
# ---------------------------------------------------------------------------------------------------

def test_several_gpus_in_one_process_are_told_how_to_use_them_all(monkeypatch, capsys):
    assert config.several_gpus_note() is None or torch.cuda.device_count() > 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(config, "_told_about_gpus", False)
    note = config.several_gpus_note()
    assert "4 GPUs" in note and "only the first" in note
    assert "accelerate launch --multi_gpu --num_processes 4 -m utils.full_profile" in note
    assert "notebook_launcher" in note
    assert config.get_device().type == "cuda" and config.get_device().type == "cuda"
    assert capsys.readouterr().out.count("4 GPUs found") == 1, "said once, not at every call"


# ---------------------------------------------------------------------------------------------------
# The command line, in-process and under `accelerate launch`
# ---------------------------------------------------------------------------------------------------

def _cli_args(standin_dir, sst2_files, output):
    return ["--model", str(standin_dir), "--task", "sst2", "--data-files",
            *(f"{split}={path}" for split, path in sst2_files.items()), "--validation-size", "8", "--output", str(output),
            "--lr", "1e-3", "--epochs", "1", "--batch-size", "16", "--no-progress"]


def test_the_command_line_trains_and_saves_a_classifier(standin_dir, tmp_path, capsys):
    files = _write_sst2(tmp_path, ".jsonl", train_size=40)
    results = full_profile.main(_cli_args(standin_dir, files, tmp_path / "out"))
    out = capsys.readouterr().out
    assert "best learning rate 0.001" in out and "goal on one GPU: 0.92" in out
    assert results["model"] == str(standin_dir) and (tmp_path / "out" / "config.json").is_file()


def test_the_command_line_turns_bad_input_into_one_line(standin_dir, tmp_path, capsys):
    files = _write_sst2(tmp_path, ".jsonl")
    with pytest.raises(SystemExit) as code:
        full_profile.main(_cli_args(standin_dir, files, tmp_path / "out") + ["--resume"])
    assert code.value.code == 2
    assert "error: Nothing to resume" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        full_profile.main(["--data-files", "train.tsv"])
    assert "SPLIT=PATH" in capsys.readouterr().err


@pytest.mark.slow  # two fresh Python processes import torch and transformers: 20 s or more on 2 cores
def test_accelerate_launch_runs_the_command_line_on_the_cpu(standin_dir, tmp_path):
    files = _write_sst2(tmp_path, ".tsv")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launcher = Path(sys.executable).with_name("accelerate")
    done = subprocess.run([str(launcher), "launch", "--num_processes", "1", "--cpu", "--mixed_precision", "no",
                           "--num_machines", "1", "--dynamo_backend", "no", "-m", "utils.full_profile",
                           *_cli_args(standin_dir, files, tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 process(es) on cpu" in done.stdout and "best learning rate 0.001" in done.stdout
    assert (tmp_path / "out" / "runs" / "lr-0.001" / "epoch-1" / "progress.json").is_file()
