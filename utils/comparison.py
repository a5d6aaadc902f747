"""One protocol for every comparison of adaptation strategies (lessons 03, 04, 08 and 09).

A comparison is fair when no row gets more than another. Every row trained by the course's loop
(``finetuning.fine_tune``) gets:

* the same labeled examples (the first ``Budget.train_size`` of ``task["train"]``) and the same budget,
  exactly ``Budget.steps`` optimizer steps in batches of ``Budget.batch_size``;
* its own learning rate, chosen from the row's grid (``Row.learning_rates``) by validation accuracy with
  the first seed (ties go to the lower validation loss); the test split plays no part in the choice;
* at that learning rate, one run per seed (the seed sets ω's random start, the order of the batches and,
  for ``scratch``, θ's random start);
* one reading of the test split per run, after training, at the chosen learning rate only.

"frozen" means θ fixed, the encoder in evaluation mode, and ω trained by the same loop as "full". Rows
that the loop does not train (the majority class, a bag of words, a linear probe fitted to convergence
on stored sentence vectors) come in as baselines, with what they were given written in the table.

``Comparison.table()`` is a ``pandas.DataFrame`` that Jupyter renders as a table;
``utils.plots.plot_comparison`` draws each row's spread over seeds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import datasets
import numpy as np

from . import config as cfg
from .finetuning import STRATEGIES, evaluate, fine_tune


@dataclass(frozen=True)
class Row:
    """One strategy of a comparison: its name in the table, the ``finetuning`` strategy that trains it, the
    pooling its head reads (None: the strategy's default) and the learning rates tried on validation."""

    name: str
    strategy: str
    pooling: str | None = None
    learning_rates: tuple[float, ...] = ()

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Row {self.name!r}: unknown strategy {self.strategy!r}; choose one of "
                             f"{', '.join(STRATEGIES)}.")
        trains = self.strategy != "none"
        if trains and not self.learning_rates:
            raise ValueError(f"Row {self.name!r} trains ({self.strategy}) but has no learning rates to choose "
                             f"from: give learning_rates=(...), one or more, chosen on the validation split.")
        if not trains and self.learning_rates:
            raise ValueError(f"Row {self.name!r} trains nothing (strategy 'none'): leave learning_rates empty.")
        if any(not isinstance(lr, (int, float)) or not 0 < lr < 1 for lr in self.learning_rates):
            raise ValueError(f"Row {self.name!r}: learning rates must be numbers between 0 and 1, got "
                             f"{self.learning_rates!r}.")


@dataclass(frozen=True)
class Budget:
    """What every trained row gets: ``steps`` optimizer steps in batches of ``batch_size``, on the first
    ``train_size`` labeled examples (None: all of ``task["train"]``)."""

    steps: int
    batch_size: int = 32
    train_size: int | None = None
    group_by_length: bool = False   # batches of examples of similar length: the same training, less padding

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Budget.{name} must be a whole number of at least 1, got {value!r}.")
        if self.train_size is not None and (not isinstance(self.train_size, int) or self.train_size < 1):
            raise ValueError(f"Budget.train_size must be a whole number of labeled examples, got {self.train_size!r}.")

    def passes(self, train_size: int) -> float:
        """How many times the budget goes over ``train_size`` examples."""
        return self.steps * self.batch_size / train_size


@dataclass
class RowResult:
    """What one row of a comparison measured."""

    name: str
    strategy: str
    trained_by: str                                   # what the table says about its budget
    labeled: int
    steps: int | None = None
    batch_size: int | None = None
    grid: dict[float, float] = field(default_factory=dict)   # learning rate -> validation accuracy, first seed
    lr: float | None = None
    seeds: list[int] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    test_predictions: list[list[int]] = field(default_factory=list)
    models: list = field(default_factory=list)


def format_lr(lr: float) -> str:
    """A learning rate as the tables print it: 3e-4, 1e-3."""
    return f"{lr:.0e}".replace("e-0", "e-")


class Comparison:
    """The rows of one comparison, in the order they were added."""

    def __init__(self, task: datasets.DatasetDict, budget: Budget | None = None):
        self.task = task
        self.budget = budget
        self.rows: dict[str, RowResult] = {}

    def __getitem__(self, name: str) -> RowResult:
        if name not in self.rows:
            raise KeyError(f"No row {name!r} in this comparison; its rows are {list(self.rows)}.")
        return self.rows[name]

    def test(self, name: str) -> list[float]:
        """The test accuracy of each run of row ``name``."""
        return self[name].test

    def mean(self, name: str, split: str = "test") -> float:
        values = self[name].test if split == "test" else self[name].validation
        return float(np.mean(values))

    def table(self, *, positive_share: bool = False):
        """The comparison as a ``pandas.DataFrame``: per row, its budget and learning rate, the mean
        validation and test accuracy, and the lowest and highest test accuracy over its seeds."""
        import pandas as pd

        records = []
        for r in self.rows.values():
            grid = ", ".join(format_lr(lr) for lr in r.grid) if r.grid else ""
            record = {
                "strategy": r.name,
                "labeled examples": r.labeled,
                "budget": r.trained_by,
                "learning rate (grid)": f"{format_lr(r.lr)} ({grid})" if r.lr is not None else "",
                "seeds": len(r.test),
                "validation": round(float(np.mean(r.validation)), 3) if r.validation else float("nan"),
                "test (mean)": round(float(np.mean(r.test)), 3),
                "test (lowest)": round(min(r.test), 3),
                "test (highest)": round(max(r.test), 3),
            }
            if positive_share and r.test_predictions:
                shares = [float(np.mean(p)) for p in r.test_predictions]
                record["share called positive"] = f"{min(shares):.2f}-{max(shares):.2f}"
            records.append(record)
        return pd.DataFrame.from_records(records).set_index("strategy")

    def add_baseline(self, name: str, *, trained_by: str, labeled: int, validation: Sequence[float] | float | None,
                     test: Sequence[float] | float, test_predictions: Sequence[Sequence[int]] | None = None,
                     grid: dict[float, float] | None = None, lr: float | None = None) -> RowResult:
        """A row that the course's loop does not train: its accuracies (one per run, or one number) and
        what it was given (``trained_by``, shown in the table)."""
        if name in self.rows:
            raise ValueError(f"The comparison already has a row {name!r}.")
        as_list = lambda v: [] if v is None else ([float(v)] if isinstance(v, (int, float)) else [float(x) for x in v])
        result = RowResult(name, "baseline", trained_by, labeled, validation=as_list(validation), test=as_list(test),
                           grid=dict(grid or {}), lr=lr,
                           test_predictions=[list(p) for p in test_predictions] if test_predictions else [])
        if not result.test:
            raise ValueError(f"Baseline {name!r} has no test accuracy.")
        self.rows[name] = result
        return result


def _train_split(task: datasets.DatasetDict, budget: Budget) -> datasets.DatasetDict:
    for split in ("train", "validation", "test"):
        if split not in task:
            raise ValueError(f"A comparison needs the splits train, validation and test; the task has {list(task)}. "
                             f"The learning rate is chosen on validation, and test is read once per run.")
    train = task["train"]
    if budget.train_size is not None:
        if budget.train_size > len(train):
            raise ValueError(f"Budget.train_size={budget.train_size} but the train split has {len(train)} examples.")
        train = train.select(range(budget.train_size))
    return datasets.DatasetDict({"train": train})


def run_row(row: Row, encoder, tokenizer, task: datasets.DatasetDict, budget: Budget, seeds: Sequence[int], *,
            learning_rate: float | None = None, keep_models: bool = False,
            evaluate_fn: Callable | None = None) -> RowResult:
    """Train and score one row by the protocol. With ``learning_rate`` given (chosen earlier on validation,
    for example by a committed command), the grid is not searched again."""
    if not seeds:
        raise ValueError("Give at least one seed.")
    evaluate_fn = evaluate_fn or (lambda model, split: evaluate(model, tokenizer, split))
    train_only = _train_split(task, budget)
    labeled = len(train_only["train"])
    trained_by = ("nothing trained" if row.strategy == "none"
                  else f"{budget.steps} steps of {budget.batch_size}")
    result = RowResult(row.name, row.strategy, trained_by, labeled,
                       steps=None if row.strategy == "none" else budget.steps,
                       batch_size=None if row.strategy == "none" else budget.batch_size, seeds=list(seeds))

    def train(seed: int, lr: float | None):
        if row.strategy == "none":
            model, _ = fine_tune(encoder, tokenizer, train_only, "none", pooling=row.pooling, seed=seed, progress=False)
        else:
            model, _ = fine_tune(encoder, tokenizer, train_only, row.strategy, pooling=row.pooling, seed=seed, lr=lr,
                                 batch_size=budget.batch_size, steps=budget.steps, progress=False,
                                 group_by_length=budget.group_by_length)
        return model

    first = {}
    if row.strategy != "none":
        if learning_rate is None:
            scored = {}
            for lr in row.learning_rates:
                model = train(seeds[0], lr)
                val = evaluate_fn(model, task["validation"])
                scored[lr] = (val["accuracy"], -val["loss"])
                result.grid[lr] = val["accuracy"]
                first[lr] = (model, val)
            learning_rate = best_learning_rate(scored)
        else:
            result.grid = {lr: float("nan") for lr in row.learning_rates} if row.learning_rates else {}
        result.lr = learning_rate
    for seed in seeds:
        if seed == seeds[0] and learning_rate in first:
            model, val = first[learning_rate]
        else:
            model = train(seed, learning_rate)
            val = evaluate_fn(model, task["validation"])
        test = evaluate_fn(model, task["test"])
        result.validation.append(val["accuracy"])
        result.test.append(test["accuracy"])
        result.test_predictions.append(list(test["predictions"]))
        if keep_models:
            result.models.append(model)
    return result


def best_learning_rate(scored: dict[float, tuple[float, float]]) -> float:
    """The learning rate with the best validation accuracy; ties go to the lower validation loss
    (``scored`` maps a learning rate to (accuracy, minus loss))."""
    return max(scored, key=scored.get)


def compare(rows: Sequence[Row], encoder, tokenizer, task: datasets.DatasetDict, budget: Budget,
            seeds: Sequence[int] = (cfg.SEED, 0, 1), *, learning_rates: dict[str, float] | None = None,
            keep_models: bool = False, comparison: Comparison | None = None) -> Comparison:
    """Run every row by the protocol (see the module's docstring) and return the comparison.
    ``learning_rates`` maps a row's name to a learning rate chosen beforehand on validation."""
    names = [row.name for row in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"Two rows have the same name: {names}.")
    unknown = set(learning_rates or {}) - set(names)
    if unknown:
        raise ValueError(f"learning_rates names rows that are not in the comparison: {sorted(unknown)}.")
    comparison = comparison or Comparison(task, budget)
    for row in rows:
        if row.name in comparison.rows:
            raise ValueError(f"The comparison already has a row {row.name!r}.")
        comparison.rows[row.name] = run_row(row, encoder, tokenizer, task, budget, seeds,
                                            learning_rate=(learning_rates or {}).get(row.name),
                                            keep_models=keep_models)
    return comparison


def steps_for(passes: float, train_size: int, batch_size: int = 32) -> int:
    """The number of optimizer steps that ``passes`` passes over ``train_size`` examples take."""
    return max(1, math.ceil(passes * train_size / batch_size))


# ---------------------------------------------------------------------------------------------------
# Rows the loop does not train
# ---------------------------------------------------------------------------------------------------

PROBE_C = (0.01, 0.1, 1.0, 10.0)   # inverse regularisation strengths tried on validation


def sentence_vectors(encoder, tokenizer, texts: Sequence[str], pooling: str = "mean", batch_size: int = 256) -> np.ndarray:
    """One vector per text from a fixed encoder θ in evaluation mode: the mean of its real tokens' vectors
    (``pooling='mean'``) or the ``[CLS]`` vector. ``encoder`` is a ``BertModel`` or a masked language model."""
    import torch

    from .finetuning import encoder_from_mlm
    from .models import mean_pool

    if pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}.")
    if not hasattr(encoder, "embeddings"):
        encoder = encoder_from_mlm(encoder)
    encoder.eval()
    texts = list(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))   # similar lengths together: less padding
    out = [None] * len(texts)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=128, return_tensors="pt")
            states = encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            pooled = mean_pool(states, enc["attention_mask"]) if pooling == "mean" else states[:, 0]
            for k, i in enumerate(rows):
                out[i] = pooled[k].numpy()
    return np.stack(out)


def logistic_regression_row(comparison: Comparison, name: str, features: dict[str, np.ndarray], labels: dict,
                            *, trained_by: str, c_grid: Sequence[float] = PROBE_C) -> RowResult:
    """A multinomial logistic regression fitted to convergence on fixed features (a bag of words, or the
    stored sentence vectors of a frozen encoder: a linear probe), its regularisation chosen on validation
    from ``c_grid``, then the test split read once."""
    from sklearn.linear_model import LogisticRegression

    scored, fitted = {}, {}
    for c in c_grid:
        model = LogisticRegression(C=c, max_iter=3000).fit(features["train"], labels["train"])
        scored[c] = model.score(features["validation"], labels["validation"])
        fitted[c] = model
    best = max(scored, key=lambda c: (scored[c], -c))   # ties: the stronger regularisation
    predictions = fitted[best].predict(features["test"])
    test = float(np.mean(predictions == np.asarray(labels["test"])))
    row = comparison.add_baseline(name, trained_by=f"{trained_by}, C={best:g} of {{{', '.join(f'{c:g}' for c in c_grid)}}}",
                                  labeled=len(labels["train"]), validation=scored[best], test=test,
                                  test_predictions=[predictions.tolist()])
    row.models = [fitted[best]]
    return row


# ---------------------------------------------------------------------------------------------------
# Learning rates chosen once, by a command whose output is committed
# ---------------------------------------------------------------------------------------------------
# A real encoder is too slow to search a grid of learning rates inside a lesson. For those comparisons
# `python -m utils.learning_rates --choose KEY` (utils/learning_rates.py) runs each row's grid on the
# validation split and writes the choice to RESULTS_FILE; the lesson prints it (show_choice) and trains
# each row at its chosen rate (chosen_learning_rates).

RESULTS_FILE = cfg.ROOT / "results" / "learning_rates.json"


# Lesson 08: both encoders, both synthetic tasks, 256 labeled examples and 32 steps of 32 for every row.
LESSON_08_SIZES = {"train_size": 256, "validation_size": 200, "test_size": 200}
LESSON_08_BUDGET = Budget(steps=32, batch_size=32)
LESSON_08_ROWS = {
    "tiny": (Row("frozen, mean", "frozen", "mean", (3e-3, 1e-2, 3e-2, 1e-1)),
             Row("frozen, [CLS]", "frozen", "cls", (3e-3, 1e-2, 3e-2, 1e-1)),
             Row("full", "full", "mean", (1e-3, 3e-3, 1e-2))),
    "minilm": (Row("frozen, mean", "frozen", "mean", (3e-3, 1e-2, 3e-2, 1e-1)),
               Row("frozen, [CLS]", "frozen", "cls", (3e-3, 1e-2, 3e-2, 1e-1)),
               Row("full", "full", "mean", (1e-4, 3e-4, 1e-3))),
}


def recorded_choices() -> dict:
    """Everything results/learning_rates.json holds: ``{key: record}`` (empty when the file is missing)."""
    import json

    return json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.is_file() else {}


def _record(key: str) -> dict:
    records = recorded_choices()
    if key not in records:
        raise FileNotFoundError(f"No learning rates chosen for {key!r} in {os.path.relpath(RESULTS_FILE, cfg.ROOT)}: "
                                f"run `python -m utils.learning_rates --choose {key!r}` from the repository's top folder.")
    return records[key]


def chosen_learning_rates(key: str) -> dict[str, float]:
    """The learning rate ``python -m utils.learning_rates --choose KEY`` chose on validation for each row."""
    return {name: row["chosen"] for name, row in _record(key)["rows"].items()}


def recorded_runs(key: str, row: str) -> dict:
    """What the command recorded for one row: ``chosen`` (the learning rate), ``grid`` and, with --spread, ``test``
    (the test accuracy of each seed at the chosen rate, in the order of ``seeds``)."""
    record = _record(key)
    if row not in record["rows"]:
        raise KeyError(f"{key!r} has no row {row!r}; its rows are {list(record['rows'])}.")
    return {**record["rows"][row], "seeds": record["seeds"]}


def show_choice(key: str):
    """The grid the command searched for ``key``: validation accuracy (or the record's ``measure``) per row and
    learning rate, the choice, and (where it was run with --spread) the test score of every seed at the chosen
    rate."""
    import pandas as pd

    record = _record(key)
    table = {}
    for name, row in record["rows"].items():
        line = {f"{record.get('measure', 'validation')} at {lr}": acc for lr, acc in row["grid"].items()}
        line["chosen"] = format_lr(row["chosen"])
        score = "F1" if "F1" in record.get("measure", "") else "accuracy"
        seeds = ", ".join(map(str, record["seeds"]))
        if isinstance(row.get("validation"), list):   # a span record's --spread: each seed's validation score too
            line[f"validation {score}, seeds {seeds}"] = ", ".join(f"{a:.3f}" for a in row["validation"])
        if "test" in row:
            line[("test F1" if score == "F1" else "test") + f", seeds {seeds}"] = ", ".join(f"{a:.3f}" for a in row["test"])
        table[name] = line
    print(f"{key}: {record['budget']}; chosen with seed {record['seeds'][0]} by `{record['command']}` "
          f"({record['machine']}, {record['date']})")
    return pd.DataFrame(table).T.fillna("")
