"""utils.comparison: every row gets the same data and steps, its learning rate is chosen on validation, and the
test split is read once per run."""

from __future__ import annotations

import numpy as np
import pytest

from utils import comparison as cmp
from utils import finetuning


def _spy_evaluate(monkeypatch):
    """Record which split every evaluation reads, and every training run's budget."""
    reads, runs = [], []
    real_evaluate, real_fine_tune = finetuning.evaluate, cmp.fine_tune

    def evaluate(model, tokenizer, split, **kw):
        reads.append(split.info.description or len(split))
        return real_evaluate(model, tokenizer, split, **kw)

    def fine_tune(*args, **kw):
        runs.append({k: kw.get(k) for k in ("lr", "steps", "batch_size", "seed")} | {"train": len(args[2]["train"])})
        return real_fine_tune(*args, **kw)

    monkeypatch.setattr(cmp, "evaluate", evaluate)
    monkeypatch.setattr(cmp, "fine_tune", fine_tune)
    return reads, runs


def _labeled(task):
    for name in task:
        task[name].info.description = name
    return task


def test_every_trained_row_gets_the_same_examples_and_steps_and_the_test_split_once_per_run(
        mlm_model, tokenizer, small_reviews, monkeypatch):
    task = _labeled(small_reviews)
    reads, runs = _spy_evaluate(monkeypatch)
    budget = cmp.Budget(steps=3, batch_size=8, train_size=32)
    rows = [cmp.Row("frozen", "frozen", "mean", (1e-2, 3e-2)), cmp.Row("full", "full", None, (1e-4, 1e-3))]
    result = cmp.compare(rows, mlm_model, tokenizer, task, budget, seeds=(5, 6))
    assert {(r["steps"], r["batch_size"], r["train"]) for r in runs} == {(3, 8, 32)}
    # Per row: the grid with the first seed (2 runs), then the second seed at the chosen rate (1 run).
    assert len(runs) == 2 * 3
    assert reads.count("test") == 2 * 2, "the test split is read once per seed and row, never in the grid"
    for row in rows:
        got = result[row.name]
        assert got.lr in row.learning_rates and len(got.test) == 2 and len(got.validation) == 2
        assert got.grid[got.lr] == max(got.grid.values()), "the chosen rate is the best on validation"


def test_the_learning_rate_is_chosen_without_looking_at_the_test_split(mlm_model, tokenizer, small_reviews,
                                                                        monkeypatch):
    task = _labeled(small_reviews)
    reads, _ = _spy_evaluate(monkeypatch)
    row = cmp.Row("full", "full", None, (1e-5, 1e-3))
    cmp.run_row(row, mlm_model, tokenizer, task, cmp.Budget(steps=2, batch_size=8, train_size=16), seeds=(1,))
    first_test = reads.index("test")
    assert reads[:first_test] == ["validation", "validation"], "both grid points scored on validation first"


def test_a_learning_rate_chosen_beforehand_skips_the_grid(mlm_model, tokenizer, small_reviews, monkeypatch):
    _, runs = _spy_evaluate(monkeypatch)
    rows = [cmp.Row("full", "full", None, (1e-4, 1e-3))]
    result = cmp.compare(rows, mlm_model, tokenizer, small_reviews, cmp.Budget(steps=2, batch_size=8, train_size=16),
                         seeds=(1, 2), learning_rates={"full": 1e-3})
    assert [r["lr"] for r in runs] == [1e-3, 1e-3] and result["full"].lr == 1e-3


def test_the_table_shows_budget_learning_rate_and_spread(mlm_model, tokenizer, small_reviews):
    rows = [cmp.Row("none", "none"), cmp.Row("frozen", "frozen", "mean", (1e-2,))]
    result = cmp.compare(rows, mlm_model, tokenizer, small_reviews, cmp.Budget(steps=2, batch_size=8, train_size=16),
                         seeds=(1, 2))
    result.add_baseline("majority class", trained_by="counts", labeled=16, validation=0.5, test=0.4)
    table = result.table(positive_share=True)
    assert list(table.index) == ["none", "frozen", "majority class"]
    assert table.loc["frozen", "budget"] == "2 steps of 8" and table.loc["none", "budget"] == "nothing trained"
    assert table.loc["frozen", "learning rate (grid)"] == "1e-2 (1e-2)"
    assert table.loc["frozen", "test (lowest)"] <= table.loc["frozen", "test (mean)"] <= table.loc["frozen", "test (highest)"]
    assert table.loc["frozen", "seeds"] == 2 and table.loc["majority class", "seeds"] == 1


def test_a_linear_probe_chooses_its_regularisation_on_validation(mlm_model, tokenizer, small_reviews):
    features = {s: cmp.sentence_vectors(mlm_model, tokenizer, small_reviews[s]["text"]) for s in small_reviews}
    labels = {s: small_reviews[s]["label"] for s in small_reviews}
    result = cmp.Comparison(small_reviews)
    row = cmp.logistic_regression_row(result, "linear probe", features, labels, trained_by="to convergence")
    assert row.trained_by.startswith("to convergence, C=") and 0 <= row.test[0] <= 1
    assert features["train"].shape == (len(small_reviews["train"]), mlm_model.config.hidden_size)


def test_sentence_vectors_do_not_depend_on_the_batch(mlm_model, tokenizer):
    texts = ["a superb film .", "the battery of this phone was terrible , avoid at all costs ."]
    together = cmp.sentence_vectors(mlm_model, tokenizer, texts)
    alone = np.concatenate([cmp.sentence_vectors(mlm_model, tokenizer, [t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("make, message", [
    (lambda: cmp.Row("full", "full"), "no learning rates"),
    (lambda: cmp.Row("none", "none", learning_rates=(1e-3,)), "trains nothing"),
    (lambda: cmp.Row("x", "finetune", learning_rates=(1e-3,)), "unknown strategy"),
    (lambda: cmp.Row("x", "full", learning_rates=(3,)), "between 0 and 1"),
    (lambda: cmp.Budget(steps=0), "at least 1"),
])
def test_a_row_or_budget_that_cannot_be_run_fairly_is_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_task_without_validation_is_refused_with_the_reason(mlm_model, tokenizer, small_reviews):
    import datasets

    no_validation = datasets.DatasetDict({"train": small_reviews["train"], "test": small_reviews["test"]})
    with pytest.raises(ValueError, match="chosen on validation"):
        cmp.compare([cmp.Row("full", "full", None, (1e-3,))], mlm_model, tokenizer, no_validation,
                    cmp.Budget(steps=1, batch_size=8))
