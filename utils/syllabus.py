"""The list of lessons, written once: what the README's table, lesson 00, the book, Colab's set-up cells
and the tests read.

A lesson is an entry of ``LESSONS``, in the order the course runs them; its number is its place in the
list, so inserting a lesson is one line here (plus renaming the files of the lessons after it, whose
numbers move up). Each lesson has, under its ``NN_topic`` name:

* ``notebooks/NN_topic.ipynb``, the lesson;
* with exercises: ``solutions/NN_topic_solutions.ipynb`` (the source), ``exercises/NN_topic_exercises.ipynb``
  (generated from it by ``make exercises``) and ``grading/lessonNN.py``, its checks.

``python -m utils.syllabus`` rewrites the syllabus table of README.md from this list; ``--check`` only says
whether it is out of date (a test runs it). This module imports nothing outside the standard library at
load time: the Colab set-up cell reads it before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where the course lives: its repository on GitHub and the branch Colab opens the notebooks from
# (utils/colab.py builds every notebook's badge and set-up cell from these).
REPOSITORY = "bert-workbook/bert-workbook"
BRANCH = "main"


@dataclass(frozen=True)
class Lesson:
    topic: str            # the file name after the number: notebooks/NN_<topic>.ipynb
    title: str            # the notebook's heading, after "Lesson NN: "
    question: str         # the question the lesson answers, as lesson 00 and the README ask it
    summary: str          # one line on what it does (the book's table of contents)
    minilm: bool = False  # its notebook loads MiniLM, so on Colab its set-up cell installs MiniLM's wheel
    exercises: bool = True
    # About how many seconds its notebook runs in `make test` (one thread); only the order in which the
    # test run hands out files depends on it (slowest first). 0: short enough not to matter.
    test_seconds: int = 0
    number: str = ""      # "00", "01", ...: its place in LESSONS, filled in below

    @property
    def name(self) -> str:
        return f"{self.number}_{self.topic}"

    @property
    def file(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.file}"

    @property
    def exercise_notebook(self) -> str | None:
        return f"exercises/{self.name}_exercises.ipynb" if self.exercises else None

    @property
    def solution_notebook(self) -> str | None:
        return f"solutions/{self.name}_solutions.ipynb" if self.exercises else None

    @property
    def checks_module(self) -> str | None:
        return f"grading/lesson{self.number}.py" if self.exercises else None


_IN_ORDER = [
    Lesson("start_here", "Start here",
           "What is this course, and is my machine ready for it?",
           "the paradigm in one figure, the question each lesson answers, a check of your set-up, how "
           "exercises are checked",
           exercises=False),
    Lesson("pretraining_mlm", "Pre-training an encoder by masked language modelling",
           "How does an encoder learn about language from text nobody labeled?",
           "a corpus, a WordPiece tokenizer, the 15 % / 80-10-10 masking rule, a tiny BERT pre-trained on "
           "the CPU, fill-mask before and after"),
    Lesson("sequence_encoders", "Sequence encoders: what goes in, what comes out",
           "What does an encoder turn a sentence into, and why is that not yet a classifier?",
           "one vector per token, one per sentence ([CLS] or mean pooling), bidirectional against causal "
           "attention, a linear probe"),
    Lesson("fine_tuning", "Fine-tuning a pre-trained encoder",
           "How do we turn a pre-trained encoder into a classifier, and what does pre-training buy?",
           "discard the pre-training head, add a prediction network, fine-tune; none, frozen, full, from "
           "scratch and baselines side by side",
           test_seconds=100),
    Lesson("notation", "The notation f(x; θ, ω), in code",
           "Which parameters are θ and which are ω, and what does fine-tuning change?",
           "θ and ω counted, θ̂ and ω̂ after fine-tuning, layer by layer, applied, saved and reloaded; one θ "
           "for two tasks, fine-tuned or frozen and shared",
           test_seconds=80),
    Lesson("task_forms", "The form of the task: sentence, pair, tag and span",
           "What does the form of a task change: the input, the output, or the prediction network?",
           "BERT's pair input with [SEP] and segments, pairs encoded jointly and apart, a tag per word, a span "
           "of a passage as the answer to a question, four heads on one θ",
           minilm=True, test_seconds=110),
    Lesson("diagnosing_failures", "Diagnosing training failures",
           "A training run went wrong without an error: what broke, and how do we fix it?",
           "checks before a long run, and a gallery of broken runs, each with its symptom, diagnosis and fix",
           test_seconds=140),
    Lesson("prompting_and_label_mapping", "Prompting and the label-mapping contract",
           "Can a pre-trained model do a task without any parameter being trained?",
           "a template with a [MASK] blank and label words, calibration, a causal model as a second "
           "backend, one label contract",
           test_seconds=90),
    Lesson("real_models", "Real pre-trained models",
           "Does the same recipe work on a real pre-trained encoder?",
           "MiniLM offline, checked by SHA-256, frozen and fine-tuned next to the tiny BERT; "
           "bert-base-uncased on SST-2 with the full profile",
           minilm=True, test_seconds=220),
    Lesson("real_text", "Real text",
           "Does the paradigm hold on text that people wrote and labeled?",
           "movie-review sentences and airline messages: baselines, scratch, frozen, fine-tuned and "
           "zero-shot at the same number of labels",
           minilm=True, test_seconds=180),
    Lesson("from_bert_to_llms", "From BERT to large language models",
           "How does the paradigm carry over to the large language models people use?",
           "tasks given in words, instruction tuning on the answer only, what pre-training supplies, new "
           "wordings, a DPO preference step, what this scale cannot show",
           test_seconds=150),
]



def numbered(lessons: list[Lesson]) -> tuple[Lesson, ...]:
    """``lessons`` with their numbers: each lesson's place in the list, from 00."""
    return tuple(replace(lesson, number=f"{i:02d}") for i, lesson in enumerate(lessons))


LESSONS = numbered(_IN_ORDER)
# The review of the whole course: exercises only, graded as lesson 99 (grading/lesson99.py).
REVIEW_EXERCISES = "exercises/99_review_exercises.ipynb"
REVIEW_SOLUTIONS = "solutions/99_review_solutions.ipynb"

README = ROOT / "README.md"
TABLE_START = "<!-- The syllabus: written by `python -m utils.syllabus` from utils/syllabus.py; edit the list there. -->"
TABLE_END = "<!-- End of the syllabus. -->"


def lesson(number: str) -> Lesson:
    """The lesson with this number (``"03"``)."""
    for entry in LESSONS:
        if entry.number == number:
            return entry
    raise KeyError(f"no lesson {number!r} in the syllabus: the lessons are "
                   f"{', '.join(entry.number for entry in LESSONS)} (utils/syllabus.py)")


def minilm_lessons() -> frozenset[str]:
    """The numbers of the lessons whose notebooks load MiniLM (utils.colab installs its wheel for them)."""
    return frozenset(entry.number for entry in LESSONS if entry.minilm)


def github_url() -> str:
    return f"https://github.com/{REPOSITORY}"


def colab_url(path: "str | Path") -> str:
    """The address that opens a notebook on Colab; ``path`` is its path in the repository
    (``notebooks/03_fine_tuning.ipynb``), or an absolute path inside this checkout."""
    path = Path(path)
    if path.is_absolute():
        path = path.resolve().relative_to(ROOT)
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path.as_posix()}"


def badge(path: "str | Path") -> str:
    """The Markdown Open-in-Colab badge line for the notebook at repository path ``path``."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)})"


def slowest_first() -> list[str]:
    """The lessons' notebooks (``notebooks/NN_topic.ipynb``) that take long in ``make test``, slowest first."""
    timed = sorted((entry for entry in LESSONS if entry.test_seconds), key=lambda entry: -entry.test_seconds)
    return [entry.notebook for entry in timed]


def readme_table() -> str:
    """The README's syllabus: one line per lesson with its question and Open-in-Colab badge."""
    lines = [TABLE_START, "| # | lesson | the question it answers | |", "| --- | --- | --- | --- |"]
    for entry in LESSONS:
        lines.append(f"| {entry.number} | [{entry.title}]({entry.notebook}) | {entry.question} | "
                     f"{badge(entry.notebook)} |")
    lines.append(TABLE_END)
    return "\n".join(lines)


def with_readme_table(text: str) -> str:
    """``text`` (the README) with its syllabus table replaced by :func:`readme_table`."""
    found = re.search(re.escape(TABLE_START) + r".*?" + re.escape(TABLE_END), text, flags=re.DOTALL)
    if found is None:
        raise ValueError(f"README.md has no syllabus table to rewrite: put the two lines\n{TABLE_START}\n"
                         f"{TABLE_END}\nwhere it goes, then run `python -m utils.syllabus` again.")
    return text[:found.start()] + readme_table() + text[found.end():]


def main(argv: list[str] | None = None, readme: Path = README) -> int:
    parser = argparse.ArgumentParser(description="Rewrite the syllabus table of README.md from the list of "
                                                 "lessons in utils/syllabus.py.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit with 1 if the README's table is out of date")
    args = parser.parse_args(argv)
    text = readme.read_text(encoding="utf-8")
    try:
        new = with_readme_table(text)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    if new == text:
        return 0
    if args.check:
        print("the README's syllabus table is out of date: run `python -m utils.syllabus`", file=sys.stderr)
        return 1
    readme.write_text(new, encoding="utf-8")
    print(f"updated: the syllabus table of {readme.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
