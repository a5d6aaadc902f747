"""The learning rates of the lessons' comparisons that are too slow to search inside a lesson, chosen once
by a command whose output is committed (lessons 05, 08, 09 and 10):

    python -m utils.learning_rates --choose KEY [--spread]

For each row of the comparison KEY it runs the row's grid on the validation split, with the first seed and
the lesson's budget (``utils.comparison.run_row``), and writes the validation accuracies and the choice to
``results/learning_rates.json``; the lesson prints them (``comparison.show_choice``) and trains each row at
its chosen rate (``comparison.chosen_learning_rates``). With ``--spread`` it also runs the chosen rate with
every seed and records the test accuracies, for a row the lesson can afford to run with one seed only
(``comparison.recorded_runs``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import datasets

from . import comparison, data, encoders, real_data
from . import config as cfg
from .comparison import LESSON_08_BUDGET, LESSON_08_ROWS, LESSON_08_SIZES


@dataclass(frozen=True)
class Choice:
    """One comparison whose learning rates are chosen by the command: its key, the lesson that reads it, and
    ``build``, which returns ``(entries, task, budget)`` with ``entries`` a list of (row, encoder, tokenizer)."""

    key: str
    lesson: str
    build: Callable[[], tuple[list, datasets.DatasetDict, comparison.Budget]] | None = None
    # Instead of ``build``, for a comparison that is not of classifiers: ``choose(spread, seeds)`` returns the
    # record's rows, budget and measure itself.
    choose: Callable[[bool, Sequence[int]], dict] | None = None


def _lesson08(task_name: str, encoder_name: str) -> Callable:
    def build():
        loaded = encoders.load_encoder(encoder_name)
        maker = data.make_reviews if task_name == "reviews" else data.make_support_emails
        task = maker(seed=cfg.SEED, **LESSON_08_SIZES)
        rows = LESSON_08_ROWS[encoder_name]
        return [(row, loaded.encoder, loaded.tokenizer) for row in rows], task, LESSON_08_BUDGET
    return build


def _lesson09(dataset: str) -> Callable:
    def build():
        minilm = encoders.load_encoder("minilm")
        task = real_data.load_movie_reviews() if dataset == "movie reviews" else real_data.load_customer_messages()
        entries = [(real_data.FULL_ROW, minilm.encoder, minilm.tokenizer)]
        if dataset == "movie reviews":
            entries.append((real_data.SCRATCH_ROW, real_data.small_encoder(minilm.tokenizer), minilm.tokenizer))
        return entries, real_data.comparison_task(task), real_data.FINETUNE_BUDGET
    return build


def _lesson05_questions(steps: int | None = None, rows: Sequence[str] | None = None) -> Callable:
    def choose(spread: bool, seeds: Sequence[int]) -> dict:
        from . import pretraining, task_forms

        mlm_model, tokenizer, _ = pretraining.load_or_pretrain()
        questions = task_forms.span_questions()
        found = task_forms.choose_span_learning_rates(mlm_model, tokenizer, questions, seed=seeds[0], steps=steps,
                                                      rows=rows)
        for name, row in found.items():
            row["grid"] = {comparison.format_lr(lr): f1 for lr, f1 in row["grid"].items()}
            if spread:
                runs = [task_forms.run_span(mlm_model, tokenizer, questions, task_forms.SPAN_ROWS[name], row["chosen"],
                                            seed, steps=steps, splits=("validation", "test")) for seed in seeds]
                row["test"] = [round(run["test"]["f1"], 4) for run in runs]
                row["validation"] = [round(run["validation"]["f1"], 4) for run in runs]
        return {"rows": found, "measure": "validation F1",
                "budget": f"{steps or task_forms.SPAN_STEPS} steps of 32 on {len(questions['train'])} questions"}
    return choose


def _lesson10_instructions(spread: bool, seeds: Sequence[int]) -> dict:
    from . import instructions

    gpt, tokenizer, _ = instructions.load_pretrained(progress=False)
    examples = instructions.make_instructions(seed=cfg.SEED)
    found = instructions.choose_learning_rates(gpt, tokenizer, examples, seeds=seeds, spread=spread)
    for row in found.values():
        row["grid"] = {comparison.format_lr(lr): v for lr, v in row["grid"].items()}
    return {"rows": found, "measure": "validation accuracy (mean of the tasks)",
            "test": "sentiment of reviews with held-out words",
            "budget": f"{instructions.INSTRUCT_STEPS} steps of {instructions.INSTRUCT_BATCH_SIZE} on "
                      f"{len(examples['train'])} instruction examples"}


CHOICES = {c.key: c for c in [
    Choice("05 questions", "05", choose=_lesson05_questions()),
    Choice("05 questions, 375 steps", "05", choose=_lesson05_questions(steps=375, rows=["from scratch"])),
    Choice("08 reviews, tiny", "08", _lesson08("reviews", "tiny")),
    Choice("08 support, tiny", "08", _lesson08("support", "tiny")),
    Choice("08 reviews, minilm", "08", _lesson08("reviews", "minilm")),
    Choice("08 support, minilm", "08", _lesson08("support", "minilm")),
    Choice("09 movie reviews", "09", _lesson09("movie reviews")),
    Choice("09 customer messages", "09", _lesson09("customer messages")),
    Choice("10 instructions", "10", choose=_lesson10_instructions),
]}


def choose(key: str, *, spread: bool = False, seeds: Sequence[int] = (cfg.SEED, 0, 1)) -> dict:
    """Search every row's grid for ``key`` on the validation split and return the record the command writes."""
    import datetime
    import platform

    choice = CHOICES[key]
    if choice.choose is not None:
        found = choice.choose(spread, list(seeds))
        for name, row in found["rows"].items():
            print(f"{key} | {name}: " + ", ".join(f"{lr} {v}" for lr, v in row["grid"].items())
                  + f" -> {comparison.format_lr(row['chosen'])}" + (f"; test {row['test']}" if spread else ""), flush=True)
        return {"lesson": choice.lesson, **found, "seeds": list(seeds) if spread else [seeds[0]],
                "command": f"python -m utils.learning_rates --choose {key!r}" + (" --spread" if spread else ""),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                "date": datetime.date.today().isoformat()}
    entries, task, budget = choice.build()
    rows = {}
    for row, encoder, tokenizer in entries:
        result = comparison.run_row(row, encoder, tokenizer, task, budget, list(seeds) if spread else [seeds[0]])
        grid = {comparison.format_lr(lr): round(acc, 4) for lr, acc in result.grid.items()}
        rows[row.name] = {"grid": grid, "chosen": result.lr}
        if spread:
            rows[row.name]["test"] = [round(a, 4) for a in result.test]
        print(f"{key} | {row.name}: " + ", ".join(f"{lr} {acc}" for lr, acc in grid.items())
              + f" -> {comparison.format_lr(result.lr)}" + (f"; test {rows[row.name]['test']}" if spread else ""),
              flush=True)
    return {"lesson": choice.lesson, "rows": rows, "seeds": list(seeds) if spread else [seeds[0]],
            "budget": f"{budget.steps} steps of {budget.batch_size} on "
                      f"{budget.train_size or len(task['train'])} labeled examples",
            "command": f"python -m utils.learning_rates --choose {key!r}" + (" --spread" if spread else ""),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "date": datetime.date.today().isoformat()}


def main(argv: Sequence[str] | None = None) -> None:
    import argparse
    import json

    written = os.path.relpath(comparison.RESULTS_FILE, cfg.ROOT)
    parser = argparse.ArgumentParser(description="Choose the learning rates of the lessons' comparisons on the "
                                                 f"validation split and write them to {written}.")
    parser.add_argument("--choose", nargs="+", metavar="KEY", required=True,
                        help=f"which comparisons (or 'all', or a lesson number): {', '.join(CHOICES)}")
    parser.add_argument("--spread", action="store_true",
                        help="also run the chosen rate with every seed and record its test accuracies")
    args = parser.parse_args(argv)
    keys = []
    for wanted in args.choose:
        found = [k for k in CHOICES if wanted in ("all", k, CHOICES[k].lesson)]
        if not found:
            parser.error(f"unknown comparison {wanted!r}; choose from {', '.join(CHOICES)}, a lesson number or 'all'")
        keys += [k for k in found if k not in keys]
    for key in keys:
        record = choose(key, spread=args.spread)
        records = comparison.recorded_choices()   # read again: another key may have been written meanwhile
        records[key] = record
        comparison.RESULTS_FILE.parent.mkdir(exist_ok=True)
        comparison.RESULTS_FILE.write_text(json.dumps(dict(sorted(records.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
