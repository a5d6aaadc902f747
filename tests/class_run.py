"""A class-sized grading run, timed: ``python tests/class_run.py [--students 60] [--jobs N] [--keep DIR]``.

Builds a class of lesson-02 submissions in a temporary folder, a third of each kind: the solution
notebook, the untouched exercise notebook, and broken ones (each a different way: a wrong answer, a
cell that raises, a deleted answer cell, an answer imported from the course's package, a kernel that
dies, a cell that kills its parent process), then grades them all with ``python -m grading`` at its
default ``--jobs`` and prints the wall time and the seconds per submission. It checks the rows too:
every submission has one, solutions get full marks, untouched exercises zero, wrong answers less than
full marks, and the right answers next to a failing or killing cell full marks with a note naming the cell.

Not part of the test suite (it takes minutes); the README's "For instructors" quotes its output.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import generate  # noqa: E402

SOLUTION = ROOT / "solutions" / "02_sequence_encoders_solutions.ipynb"


def _cell(nb, name: str) -> int:
    pattern = re.compile(rf"^(def {name}\(|{name} = )", re.M)
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and pattern.search(c.source))


def broken(kind: str) -> nbformat.NotebookNode:
    nb = nbformat.read(SOLUTION, as_version=4)
    if kind == "wrong_answer":
        nb.cells[_cell(nb, "mean_pool")].source = (
            "def mean_pool(token_vectors, attention_mask):\n    return token_vectors.mean(1)  # padding included\n")
    elif kind == "cell_raises":
        nb.cells.insert(_cell(nb, "attention_pattern"), nbformat.v4.new_code_cell("raise ValueError('oops')"))
    elif kind == "deleted_cell":
        del nb.cells[_cell(nb, "attention_pattern")]
    elif kind == "borrowed":
        nb.cells[_cell(nb, "mean_pool")].source = "from utils.models import mean_pool\n"
    elif kind == "kernel_dies":
        nb.cells.insert(_cell(nb, "attention_pattern"), nbformat.v4.new_code_cell("import os\nos._exit(3)"))
    elif kind == "kills_parent":
        nb.cells.insert(_cell(nb, "attention_pattern"),
                        nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"))
    return nb


BROKEN_KINDS = ["wrong_answer", "cell_raises", "deleted_cell", "borrowed", "kernel_dies", "kills_parent"]
# Answers wrong or missing: fewer points than the maximum.
WRONG_KINDS = {"wrong_answer", "deleted_cell", "borrowed"}
# The solution's answers plus one cell that fails or kills its kernel or its parent: the grader runs the
# other cells (again without the killing cell), so the answers earn their points and the row names the cell.
DISRUPTIVE_KINDS = {"cell_raises", "kernel_dies", "kills_parent"}


def build_class(folder: Path, students: int) -> dict[str, str]:
    """Write ``students`` submissions into ``folder``; returns {path: kind}."""
    exercise = nbformat.reads(generate.exercise_for(SOLUTION)[1], as_version=4)
    solution = nbformat.read(SOLUTION, as_version=4)
    kinds = {}
    for number in range(students):
        kind = ("solution", "untouched", "broken")[number % 3]
        if kind == "solution":
            nb = solution
        elif kind == "untouched":
            nb = exercise
        else:
            kind = BROKEN_KINDS[(number // 3) % len(BROKEN_KINDS)]
            nb = broken(kind)
        path = folder / f"student{number:02d}_02_sequence_encoders.ipynb"
        nbformat.write(nb, path)
        kinds[str(path)] = kind
    return kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=None, help="passed on to the grader (default: its own)")
    parser.add_argument("--keep", type=Path, default=None, help="build the class here and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="class-run-"))
    folder.mkdir(parents=True, exist_ok=True)
    kinds = build_class(folder, args.students)
    out = folder / "grades.csv"
    command = [sys.executable, "-m", "grading", *kinds, "--out", str(out), "--feedback", str(folder / "feedback")]
    if args.jobs:
        command += ["--jobs", str(args.jobs)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.monotonic()
    process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    rows = list(csv.DictReader(out.open(encoding="utf-8"))) if out.exists() else []
    problems = []
    if process.returncode != 0:
        problems.append(f"the grader exited with {process.returncode}: {process.stderr[-500:]}")
    if sorted(r["submission"] for r in rows) != sorted(kinds):
        problems.append(f"{len(rows)} rows for {len(kinds)} submissions")
    for row in rows:
        kind = kinds.get(row["submission"])
        if kind == "solution" and row["total"] != row["max"]:
            problems.append(f"a solution got {row['total']}/{row['max']}: {row['error']}")
        if kind == "untouched" and row["total"] != "0":
            problems.append(f"an untouched exercise got {row['total']}")
        if kind in WRONG_KINDS and row["total"] == row["max"]:
            problems.append(f"a submission with a wrong answer ({kind}) got full marks")
        if kind in DISRUPTIVE_KINDS and (row["total"] != row["max"] or "cell " not in row["error"]):
            problems.append(f"a right submission with a disruptive cell ({kind}) got {row['total']}/{row['max']} "
                            f"and the note {row['error']!r}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = args.jobs or cores
    print(f"{len(kinds)} lesson-02 submissions ({sum(k == 'solution' for k in kinds.values())} solutions, "
          f"{sum(k == 'untouched' for k in kinds.values())} untouched, "
          f"{sum(k in BROKEN_KINDS for k in kinds.values())} broken), --jobs {jobs}, "
          f"on a {cores}-core {platform.machine()} CPU")
    print(f"wall time {wall:.0f} s, {wall / len(kinds):.1f} s per submission")
    for problem in problems:
        print("PROBLEM:", problem)
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
