"""utils.learning_rates: the command that chooses a comparison's learning rates on validation once, and the
committed record the lessons read."""

from __future__ import annotations

import json

import pytest

from utils import comparison as cmp
from utils import finetuning
from utils import learning_rates as lr_command


def test_every_committed_choice_is_the_best_of_its_grid_on_validation():
    records = json.loads(cmp.RESULTS_FILE.read_text())
    assert records, "results/learning_rates.json holds the lessons' choices"
    for key, record in records.items():
        assert key in lr_command.CHOICES, f"{key!r} is recorded but no command makes it"
        assert record["command"].startswith(f"python -m utils.learning_rates --choose {key!r}")
        for name, row in record["rows"].items():
            best = max(row["grid"].values())
            chosen = [acc for rate, acc in row["grid"].items() if float(rate) == row["chosen"]]
            assert chosen == [best], f"{key} | {name}: the chosen rate is the grid's best on validation"
            if "test" in row:
                assert len(row["test"]) == len(record["seeds"])


def test_a_choice_not_made_yet_names_the_command_that_makes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(cmp, "RESULTS_FILE", tmp_path / "learning_rates.json")
    with pytest.raises(FileNotFoundError, match=r"python -m utils\.learning_rates --choose '08 reviews, tiny'"):
        cmp.chosen_learning_rates("08 reviews, tiny")


def test_an_unknown_comparison_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        lr_command.main(["--choose", "09 nothing"])
    assert "unknown comparison '09 nothing'" in capsys.readouterr().err


def test_the_command_records_the_grid_the_choice_and_with_spread_the_test_of_every_seed(
        mlm_model, tokenizer, small_reviews, tmp_path, monkeypatch):
    encoder = finetuning.encoder_from_mlm(mlm_model)
    row = cmp.Row("full", "full", "mean", (1e-4, 1e-3))
    budget = cmp.Budget(steps=4, batch_size=8)
    choice = lr_command.Choice("99 test", "99", lambda: ([(row, encoder, tokenizer)], small_reviews, budget))
    monkeypatch.setattr(lr_command, "CHOICES", {"99 test": choice})
    monkeypatch.setattr(cmp, "RESULTS_FILE", tmp_path / "learning_rates.json")
    lr_command.main(["--choose", "99", "--spread"])
    record = json.loads(cmp.RESULTS_FILE.read_text())["99 test"]
    assert record["command"] == "python -m utils.learning_rates --choose '99 test' --spread"
    assert set(record["rows"]["full"]["grid"]) == {"1e-4", "1e-3"}
    assert cmp.chosen_learning_rates("99 test")["full"] in (1e-4, 1e-3)
    assert len(cmp.recorded_runs("99 test", "full")["test"]) == len(record["seeds"]) == 3


def test_the_span_comparison_records_validation_f1_per_rate_and_the_test_f1_of_every_seed(
        mlm_model, tokenizer, tmp_path, monkeypatch):
    from utils import pretraining, task_forms

    monkeypatch.setattr(pretraining, "load_or_pretrain", lambda: (mlm_model, tokenizer, {}))
    monkeypatch.setattr(task_forms, "SPAN_QUESTIONS", {"train_size": 16, "validation_size": 8, "test_size": 8})
    monkeypatch.setattr(task_forms, "SPAN_STEPS", 2)
    monkeypatch.setattr(task_forms, "SPAN_GRID", (1e-4, 1e-3))
    monkeypatch.setattr(cmp, "RESULTS_FILE", tmp_path / "learning_rates.json")
    lr_command.main(["--choose", "05 questions", "--spread"])
    record = json.loads(cmp.RESULTS_FILE.read_text())["05 questions"]
    assert record["measure"] == "validation F1" and record["lesson"] == "05"
    assert set(record["rows"]) == set(task_forms.SPAN_ROWS)
    for row in record["rows"].values():
        assert set(row["grid"]) == {"1e-4", "1e-3"} and row["grid"][cmp.format_lr(row["chosen"])] == max(row["grid"].values())
        assert len(row["test"]) == 3 and all(0 <= f1 <= 1 for f1 in row["test"])
    shown = cmp.show_choice("05 questions")
    assert "validation F1 at 1e-3" in shown.columns and any(c.startswith("test F1, seeds") for c in shown.columns)
